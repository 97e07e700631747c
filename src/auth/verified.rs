//! A bounded memo of access tokens whose signature and claims were already verified.
//!
//! Verifying an HS256 JWT (two JSON parses, base64, an HMAC with its key schedule) costs more
//! than all of actix's own work on a request; browsers send the same access cookie on every
//! request for its whole lifetime. Only tokens that passed full verification are stored, keyed
//! by their exact bytes, so a forged token can never hit; expiry is re-checked against the
//! stored `exp` on every use, and revocation is checked by the caller every time.

use super::SessionUser;
use std::collections::HashMap;
use std::sync::RwLock;

/// Verified tokens and the user each one names.
pub struct VerifiedTokens {
    map: RwLock<HashMap<Box<str>, SessionUser>>,
    capacity: usize,
}

impl VerifiedTokens {
    /// An empty memo holding at most `capacity` tokens.
    pub fn new(capacity: usize) -> Self {
        Self {
            map: RwLock::new(HashMap::new()),
            capacity,
        }
    }

    /// The user of a token verified before, if it is stored.
    pub fn get(&self, token: &str) -> Option<SessionUser> {
        self.map.read().ok()?.get(token).cloned()
    }

    /// Stores a token that has just passed full verification. When full, the memo starts over:
    /// the cost is one re-verification per live token, and no attacker can grow it (only
    /// genuine tokens enter).
    pub fn insert(&self, token: &str, user: &SessionUser) {
        if let Ok(mut m) = self.map.write() {
            if m.len() >= self.capacity {
                m.clear();
            }
            m.insert(token.into(), user.clone());
        }
    }
}
