//! A bounded memo of access tokens whose signature and claims were already verified.
//!
//! Verifying an HS256 JWT (two JSON parses, base64, an HMAC with its key schedule) costs more
//! than all of actix's own work on a request; browsers send the same access cookie on every
//! request for its whole lifetime. Only tokens that passed full verification are stored, and a
//! hit requires the exact bytes, so a forged token can never hit; expiry is re-checked against
//! the stored `exp` on every use. Each entry also remembers the revocation generation in which
//! its session was last found not revoked, so the caller re-checks revocation only after one.
//!
//! Each worker thread keeps its own memo (see [`super::thread_memo`]): a token is verified once
//! per worker, and the lookup takes no lock.

use super::thread_memo::{new_owner, ThreadMemo};
use super::SessionUser;
use std::cell::RefCell;

/// How many trailing bytes of a token index the memo.
const KEY_LEN: usize = 16;

/// The index of a token: its last bytes, which are its signature. A genuine token's signature
/// is an HMAC output, so these bytes spread entries evenly, and sixteen of them take foldhash's
/// short path (thirty-two took its long one); a lookup still compares the whole token.
type Key = [u8; KEY_LEN];

fn key(bytes: &[u8]) -> Key {
    let tail = &bytes[bytes.len().saturating_sub(KEY_LEN)..];
    let mut k = [0; KEY_LEN];
    k[..tail.len()].copy_from_slice(tail);
    k
}

thread_local! {
    static MEMO: RefCell<ThreadMemo<Key, Entry>> = RefCell::new(ThreadMemo::new());
}

/// A verified token, its user, and the revocation generation it was last cleared in.
struct Entry {
    token: Box<str>,
    user: SessionUser,
    cleared_in: u64,
}

/// Verified tokens and the user each one names.
pub struct VerifiedTokens {
    owner: u64,
    capacity: usize,
}

impl VerifiedTokens {
    /// An empty memo holding at most `capacity` tokens per thread.
    pub fn new(capacity: usize) -> Self {
        Self {
            owner: new_owner(),
            capacity,
        }
    }

    /// The user of a token verified before on this thread, if it is stored, with the
    /// revocation generation in which its session was last found not revoked.
    pub fn get(&self, token: &[u8]) -> Option<(SessionUser, u64)> {
        MEMO.with(|m| {
            let m = m.borrow();
            let e = m.get(self.owner, &key(token))?;
            (e.token.as_bytes() == token).then(|| (e.user.clone(), e.cleared_in))
        })
    }

    /// Records that the token's session was found not revoked in `generation`.
    pub fn cleared(&self, token: &[u8], generation: u64) {
        MEMO.with(|m| {
            if let Some(e) = m.borrow_mut().get_mut(self.owner, &key(token)) {
                if e.token.as_bytes() == token {
                    e.cleared_in = generation;
                }
            }
        });
    }

    /// Stores a token that has just passed full verification, its session found not revoked
    /// in `generation`. No attacker can grow the memo: only genuine tokens enter.
    pub fn insert(&self, token: &str, user: &SessionUser, generation: u64) {
        let entry = Entry {
            token: token.into(),
            user: user.clone(),
            cleared_in: generation,
        };
        MEMO.with(|m| {
            m.borrow_mut()
                .insert(self.owner, self.capacity, key(token.as_bytes()), entry)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Email, Role, SessionId, UserId};

    fn user() -> SessionUser {
        SessionUser {
            user_id: UserId::generate(),
            session_id: SessionId::generate(),
            email: Email::parse("memo@example.com").unwrap(),
            role: Role::User,
            access_expires_at: 0,
        }
    }

    #[test]
    fn only_the_exact_token_hits() {
        let memo = VerifiedTokens::new(8);
        let u = user();
        let token = format!("header.payload.{}", "s".repeat(43));
        memo.insert(&token, &u, 7);
        assert_eq!(
            memo.get(token.as_bytes()).map(|(x, g)| (x.session_id, g)),
            Some((u.session_id, 7))
        );
        memo.cleared(token.as_bytes(), 8);
        assert_eq!(memo.get(token.as_bytes()).map(|(_, g)| g), Some(8));
        // Same signature bytes, different payload: a forgery reusing a genuine signature.
        let forged = format!("header.forged.{}", "s".repeat(43));
        assert!(memo.get(forged.as_bytes()).is_none());
        assert!(memo.get(b"short").is_none());
    }

    #[test]
    fn a_full_memo_starts_over() {
        let memo = VerifiedTokens::new(2);
        let tokens: Vec<String> = (0..3).map(|i| format!("h.p.{i:0>40}")).collect();
        for t in &tokens {
            memo.insert(t, &user(), 0);
        }
        assert!(memo.get(tokens[0].as_bytes()).is_none());
        assert!(memo.get(tokens[2].as_bytes()).is_some());
    }
}
