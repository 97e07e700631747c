//! DBSC proofs: the JWT a browser signs with its device key (`typ` `dbsc+jwt`, `alg` ES256 or
//! RS256, payload `{"jti": "<challenge>"}`). At registration the public key travels in the
//! header's `jwk`; on a refresh it must not, and the stored key is used instead.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// The longest proof read: a registration proof with a 4096-bit RSA key is about 1.3 KB.
const MAX_PROOF_LEN: usize = 8 * 1024;
/// RSA keys shorter than this are refused (NIST SP 800-131A).
const MIN_RSA_BYTES: usize = 256;
/// A challenge we issue is 43 characters; anything much longer cannot be ours.
const MAX_JTI_LEN: usize = 128;

/// Why a proof was refused (each one fails the same way for the client).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// Not a compact JWS, too long, or an unreadable header.
    #[error("malformed proof")]
    Malformed,
    /// `typ` is not `dbsc+jwt`.
    #[error("wrong typ")]
    Typ,
    /// `alg` is neither ES256 nor RS256, or not the bound key's.
    #[error("algorithm not allowed")]
    Alg,
    /// The registration proof carries no usable `jwk` (missing, wrong type or curve, short RSA).
    #[error("unusable key")]
    Key,
    /// A refresh proof carries a `jwk`: the key is fixed at registration.
    #[error("key on a refresh")]
    KeyOnRefresh,
    /// A `crit` header names extensions we do not implement (RFC 7515 §4.1.11).
    #[error("critical header")]
    Critical,
    /// The signature does not verify with the key.
    #[error("bad signature")]
    Signature,
    /// The payload is not exactly `{"jti": "..."}`.
    #[error("unexpected claims")]
    Claims,
}

impl ProofError {
    /// The stored spelling, for the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Typ => "wrong_typ",
            Self::Alg => "alg_not_allowed",
            Self::Key => "unusable_key",
            Self::KeyOnRefresh => "key_on_refresh",
            Self::Critical => "critical_header",
            Self::Signature => "bad_signature",
            Self::Claims => "unexpected_claims",
        }
    }
}

/// A device's public key, as bound to a session.
#[derive(Clone, Debug)]
pub struct DeviceKey {
    alg: Algorithm,
    jwk: Jwk,
}

impl DeviceKey {
    /// A public key usable with `alg`: an EC P-256 key for ES256, an RSA key of at least 2048
    /// bits for RS256. (jsonwebtoken would also build an HMAC key from an `oct` JWK.)
    fn new(alg: Algorithm, jwk: Jwk) -> Result<Self, ProofError> {
        let fits = match (&jwk.algorithm, alg) {
            (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => {
                p.curve == EllipticCurve::P256
            }
            (AlgorithmParameters::RSA(p), Algorithm::RS256) => {
                use base64::Engine;
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(&p.n)
                    .is_ok_and(|n| n.iter().skip_while(|b| **b == 0).count() >= MIN_RSA_BYTES)
            }
            _ => false,
        };
        if !fits || DecodingKey::from_jwk(&jwk).is_err() {
            return Err(ProofError::Key);
        }
        Ok(Self { alg, jwk })
    }

    /// The stored form: `{"alg": ..., "jwk": {...}}`.
    pub fn to_json(&self) -> String {
        serde_json::json!({ "alg": self.alg, "jwk": self.jwk }).to_string()
    }

    /// Reads the stored form back (`None` if it is not one: then nothing verifies).
    pub fn from_json(s: &str) -> Option<Self> {
        #[derive(Deserialize)]
        struct Stored {
            alg: Algorithm,
            jwk: Jwk,
        }
        let stored: Stored = serde_json::from_str(s).ok()?;
        Self::new(stored.alg, stored.jwk).ok()
    }

    /// `ES256` or `RS256`.
    pub fn alg(&self) -> &'static str {
        match self.alg {
            Algorithm::RS256 => "RS256",
            _ => "ES256",
        }
    }
}

/// The payload: exactly one claim.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Claims {
    jti: String,
}

/// What a registration proof establishes: the key, and the challenge it signed.
#[derive(Debug)]
pub struct Registration {
    /// The key to bind.
    pub key: DeviceKey,
    /// The `jti`: a challenge to spend.
    pub challenge: String,
}

/// Checks a registration proof: signed by the key in its own header.
pub fn verify_registration(token: &str) -> Result<Registration, ProofError> {
    let header = header(token)?;
    let jwk = header.jwk.ok_or(ProofError::Key)?;
    let key = DeviceKey::new(header.alg, jwk)?;
    let challenge = verify_with(token, &key)?;
    Ok(Registration { key, challenge })
}

/// Checks a refresh proof against the bound key; returns the challenge it signed.
pub fn verify_refresh(token: &str, key: &DeviceKey) -> Result<String, ProofError> {
    let header = header(token)?;
    if header.jwk.is_some() {
        return Err(ProofError::KeyOnRefresh);
    }
    if header.alg != key.alg {
        return Err(ProofError::Alg);
    }
    verify_with(token, key)
}

fn header(token: &str) -> Result<jsonwebtoken::Header, ProofError> {
    if token.len() > MAX_PROOF_LEN || token.bytes().filter(|b| *b == b'.').count() != 2 {
        return Err(ProofError::Malformed);
    }
    // `alg: none` and unknown algorithms fail here: jsonwebtoken's enum has no such member.
    let header = jsonwebtoken::decode_header(token).map_err(|_| ProofError::Malformed)?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case("dbsc+jwt"))
    {
        return Err(ProofError::Typ);
    }
    if !matches!(header.alg, Algorithm::ES256 | Algorithm::RS256) {
        return Err(ProofError::Alg);
    }
    if header.crit.is_some() {
        return Err(ProofError::Critical);
    }
    Ok(header)
}

fn verify_with(token: &str, key: &DeviceKey) -> Result<String, ProofError> {
    let decoding = DecodingKey::from_jwk(&key.jwk).map_err(|_| ProofError::Key)?;
    let mut v = Validation::new(key.alg);
    v.required_spec_claims.clear();
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &decoding, &v).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::InvalidSignature => ProofError::Signature,
            ErrorKind::InvalidAlgorithm => ProofError::Alg,
            _ => ProofError::Malformed,
        }
    })?;
    let claims: Claims = serde_json::from_value(data.claims).map_err(|_| ProofError::Claims)?;
    if claims.jti.is_empty() || claims.jti.len() > MAX_JTI_LEN {
        return Err(ProofError::Claims);
    }
    Ok(claims.jti)
}
