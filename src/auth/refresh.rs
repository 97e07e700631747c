//! Refresh tokens: 256 random bits, stored only as SHA-256, and a successor derived from the
//! predecessor with a server key, so every racer inside the grace window is handed the *same*
//! successor without its plaintext ever being stored.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// An opaque refresh token; its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// A fresh token starting a new family.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Self(B64.encode(bytes))
    }

    /// Accepts only the shape we issue (43 base64url characters); anything else cannot be
    /// ours and is refused without a database query.
    pub fn parse(raw: &str) -> Option<Self> {
        (raw.len() == 43
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .then(|| Self(raw.to_string()))
    }

    /// The stored form: hex SHA-256.
    pub fn hash(&self) -> String {
        hex::encode(Sha256::digest(self.0.as_bytes()))
    }

    /// The token that replaces this one: HMAC-SHA-256 under the successor key.
    pub fn successor(&self, key: &[u8; 32]) -> Self {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
        mac.update(self.0.as_bytes());
        Self(B64.encode(mac.finalize().into_bytes()))
    }

    /// The token itself, for the cookie or JSON body only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_well_formed_and_redacted() {
        let a = RefreshToken::generate();
        assert_ne!(a, RefreshToken::generate());
        assert_eq!(RefreshToken::parse(a.expose()), Some(a.clone()));
        assert_eq!(a.hash().len(), 64);
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn successors_are_deterministic_per_key_and_parse() {
        let t = RefreshToken::generate();
        let (k1, k2) = ([1u8; 32], [2u8; 32]);
        assert_eq!(t.successor(&k1), t.successor(&k1));
        assert_ne!(t.successor(&k1), t.successor(&k2));
        assert!(RefreshToken::parse(t.successor(&k1).expose()).is_some());
    }

    #[test]
    fn foreign_shapes_are_refused() {
        for bad in [
            "",
            "x",
            &"a".repeat(44),
            &"a".repeat(42),
            "' OR 1=1 --aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            &"é".repeat(43),
        ] {
            assert!(RefreshToken::parse(bad).is_none(), "{bad}");
        }
    }
}
