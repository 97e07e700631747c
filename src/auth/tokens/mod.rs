//! Access tokens: HS256 JWTs with a `kid`, verified with every check pinned explicitly
//! (the crate's `Validation` defaults are unsafe for us: see SECURITY.md).

use crate::domain::{Role, SessionId, UserId};
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const ISSUER: &str = "latchkey";
const AUDIENCE: &str = "latchkey";
/// RFC 9068's media type for access tokens; nothing else we sign carries it.
const TYP: &str = "at+jwt";

/// The claims of an access token.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct AccessClaims {
    /// User id.
    pub sub: String,
    /// Session id.
    pub sid: String,
    /// `user` or `admin`.
    pub role: Role,
    /// The account's e-mail, so signed-in pages need no database query to say who you are.
    pub email: String,
    /// Always `latchkey`.
    pub iss: String,
    /// Always `latchkey`.
    pub aud: String,
    /// Issued at, epoch seconds.
    pub iat: i64,
    /// Expires at, epoch seconds.
    pub exp: i64,
}

impl AccessClaims {
    /// The user id (validated as a UUID during verification).
    pub fn user_id(&self) -> UserId {
        UserId::from_db(self.sub.clone())
    }

    /// The session id (validated as a UUID during verification).
    pub fn session_id(&self) -> SessionId {
        SessionId::from_db(self.sid.clone())
    }
}

/// Why an access token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessError {
    /// Genuine (signature checked) but past `exp` + leeway.
    Expired {
        /// Its `exp`.
        expired_at: i64,
    },
    /// Anything else.
    Invalid,
}

struct VerifyKey {
    kid: String,
    key: DecodingKey,
}

/// The signing key, the keys that still verify, and the pinned validation rules.
pub struct TokenKeys {
    kid: String,
    encoding: EncodingKey,
    verify: Vec<VerifyKey>,
    validation: Validation,
    leeway: i64,
    ttl: i64,
}

/// A key id that names a key without revealing it: the first 8 bytes of SHA-256(key), hex.
fn key_id(secret: &[u8]) -> String {
    hex::encode(&Sha256::digest(secret)[..8])
}

impl TokenKeys {
    /// Builds keys from the current and previous secrets.
    pub fn new(current: &[u8], previous: &[Vec<u8>], ttl_secs: i64, leeway_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.leeway = leeway_secs;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.reject_tokens_expiring_in_less_than = 0;
        let verify = std::iter::once(current)
            .chain(previous.iter().map(Vec::as_slice))
            .map(|s| VerifyKey {
                kid: key_id(s),
                key: DecodingKey::from_secret(s),
            })
            .collect();
        Self {
            kid: key_id(current),
            encoding: EncodingKey::from_secret(current),
            verify,
            validation,
            leeway: leeway_secs as i64,
            ttl: ttl_secs,
        }
    }

    /// Signs an access token for a session; returns it with its `exp`.
    pub fn sign(
        &self,
        user: &UserId,
        session: &SessionId,
        role: Role,
        email: &str,
        now: i64,
    ) -> (String, i64) {
        let exp = now + self.ttl;
        let claims = AccessClaims {
            sub: user.to_string(),
            sid: session.to_string(),
            role,
            email: email.to_string(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            iat: now,
            exp,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        header.typ = Some(TYP.into());
        // Signing with an HMAC key of the right family cannot fail; an empty token would only
        // ever fail verification, never grant access.
        let token = encode(&header, &claims, &self.encoding).unwrap_or_default();
        (token, exp)
    }

    /// Verifies a token: header (alg, typ, kid, no key-fetching fields), signature, then claims.
    pub fn verify(&self, token: &str, now: i64) -> Result<AccessClaims, AccessError> {
        if token.len() > 4096 {
            return Err(AccessError::Invalid);
        }
        let header = decode_header(token).map_err(|_| AccessError::Invalid)?;
        if header.alg != Algorithm::HS256
            || header.typ.as_deref() != Some(TYP)
            || header.jku.is_some()
            || header.jwk.is_some()
            || header.x5u.is_some()
        {
            return Err(AccessError::Invalid);
        }
        let kid = header.kid.as_deref().ok_or(AccessError::Invalid)?;
        let key = &self
            .verify
            .iter()
            .find(|k| k.kid == kid)
            .ok_or(AccessError::Invalid)?
            .key;
        let claims = match decode::<AccessClaims>(token, key, &self.validation) {
            Ok(data) => data.claims,
            Err(e) if *e.kind() == jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                // The signature was checked before the claims, so this token is genuine.
                let mut lax = self.validation.clone();
                lax.validate_exp = false;
                let data =
                    decode::<AccessClaims>(token, key, &lax).map_err(|_| AccessError::Invalid)?;
                return Err(AccessError::Expired {
                    expired_at: data.claims.exp,
                });
            }
            Err(_) => return Err(AccessError::Invalid),
        };
        if claims.iat > now + self.leeway
            || claims.exp <= claims.iat
            || UserId::parse(&claims.sub).is_none()
            || SessionId::parse(&claims.sid).is_none()
        {
            return Err(AccessError::Invalid);
        }
        Ok(claims)
    }

    /// The clock-skew tolerance, seconds.
    pub fn leeway(&self) -> i64 {
        self.leeway
    }

    /// Signs and verifies one token, so a broken crypto backend stops start-up instead of
    /// panicking on the first request.
    pub fn self_test(&self) -> Result<(), String> {
        let now = crate::db::now();
        let (t, _) = self.sign(
            &UserId::generate(),
            &SessionId::generate(),
            Role::User,
            "self@test.invalid",
            now,
        );
        self.verify(&t, now)
            .map(drop)
            .map_err(|e| format!("JWT self-test failed: {e:?}"))
    }
}

#[cfg(test)]
mod tests;
