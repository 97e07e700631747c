//! CSRF tokens: an HMAC over the session id (signed in, so the token survives rotation) or over
//! the `csrf` cookie's random secret (signed out), under a key used for nothing else.

use super::thread_memo::{new_owner, ThreadMemo};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::cell::RefCell;
use std::sync::Arc;
use subtle::ConstantTimeEq;

thread_local! {
    /// Session tokens already computed on this thread: every signed-in page shows one in its
    /// sign-out form.
    static MEMO: RefCell<ThreadMemo<Box<str>, SessionCsrf>> = RefCell::new(ThreadMemo::new());
}

/// A signed-in session's CSRF token. Shared, not copied: every signed-in page shows it. Its
/// text is always unpadded base64url (`A-Z a-z 0-9 - _`), which pages may embed unescaped.
/// The default is the empty token, for pages that show no session form.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SessionCsrf(Arc<str>);

impl SessionCsrf {
    /// The token's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Redacted: a token must never reach a log line through a `{:?}`.
impl std::fmt::Debug for SessionCsrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionCsrf(..)")
    }
}

impl std::fmt::Display for SessionCsrf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Issues and checks CSRF tokens. Keys are held as HMAC states with the key already absorbed:
/// every page renders a token, and the key schedule would double its cost.
#[derive(Clone)]
pub struct CsrfKey {
    keys: Vec<Hmac<Sha256>>,
    /// Which thread memo entries are this key's (clones share them: same keys, same tokens).
    owner: u64,
}

/// How many session tokens to remember before starting over.
const MEMO_CAPACITY: usize = 8192;

impl CsrfKey {
    /// From the current and previous signing secrets (previous ones keep open forms working
    /// across a key rotation).
    pub fn new(current: &[u8], previous: &[Vec<u8>]) -> Self {
        let keys = std::iter::once(current)
            .chain(previous.iter().map(Vec::as_slice))
            .map(|s| {
                <Hmac<Sha256> as Mac>::new_from_slice(&super::derive_key(s, "csrf"))
                    .expect("HMAC takes any key length")
            })
            .collect();
        Self {
            keys,
            owner: new_owner(),
        }
    }

    fn mac(key: &Hmac<Sha256>, kind: &str, binding: &str) -> String {
        let mut mac = key.clone();
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(binding.as_bytes());
        B64.encode(mac.finalize().into_bytes())
    }

    /// The token for forms of a signed-in session.
    pub fn for_session(&self, session_id: &str) -> SessionCsrf {
        if let Some(t) = MEMO.with(|m| m.borrow().get(self.owner, session_id).cloned()) {
            return t;
        }
        let token = SessionCsrf(Self::mac(&self.keys[0], "session", session_id).into());
        MEMO.with(|m| {
            m.borrow_mut()
                .insert(self.owner, MEMO_CAPACITY, session_id.into(), token.clone())
        });
        token
    }

    /// The token for signed-out forms, bound to the `csrf` cookie's secret.
    pub fn for_anonymous(&self, cookie_secret: &str) -> String {
        Self::mac(&self.keys[0], "anonymous", cookie_secret)
    }

    /// Checks a session-bound token in constant time.
    pub fn check_session(&self, session_id: &str, token: &str) -> bool {
        self.check("session", session_id, token)
    }

    /// Checks a cookie-bound token in constant time.
    pub fn check_anonymous(&self, cookie_secret: &str, token: &str) -> bool {
        !cookie_secret.is_empty() && self.check("anonymous", cookie_secret, token)
    }

    fn check(&self, kind: &str, binding: &str, token: &str) -> bool {
        self.keys.iter().any(|k| {
            Self::mac(k, kind, binding)
                .as_bytes()
                .ct_eq(token.as_bytes())
                .into()
        })
    }

    /// A fresh secret for the `csrf` cookie.
    pub fn new_cookie_secret() -> String {
        let mut b = [0u8; 32];
        rand::fill(&mut b);
        B64.encode(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_and_kinds_do_not_mix() {
        let k = CsrfKey::new(b"0123456789abcdef0123456789abcdef!", &[]);
        let t = k.for_session("s1");
        let t = t.as_str();
        assert!(
            t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "pages embed it unescaped: {t}"
        );
        assert!(k.check_session("s1", t));
        assert!(!k.check_session("s2", t));
        assert!(
            !k.check_anonymous("s1", t),
            "a session token is not an anonymous token"
        );
        assert!(!k.check_session("s1", ""));
        let a = k.for_anonymous("cookie");
        assert!(k.check_anonymous("cookie", &a));
        assert!(!k.check_anonymous("", &k.for_anonymous("")));
    }

    #[test]
    fn previous_keys_still_verify() {
        let old = CsrfKey::new(b"old-old-old-old-old-old-old-old-old", &[]);
        let new = CsrfKey::new(
            b"new-new-new-new-new-new-new-new-new",
            &[b"old-old-old-old-old-old-old-old-old".to_vec()],
        );
        assert!(new.check_session("s", old.for_session("s").as_str()));
    }
}
