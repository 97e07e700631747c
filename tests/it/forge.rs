//! Tokens made by hand, as an attacker (or a previous key) would make them: any header, any
//! claims, any key. Only the tests use these; the server must refuse every forgery.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::{Digest, Sha256, Sha384, Sha512};

/// The `kid` the server derives for a key: the first 8 bytes of SHA-256(key), hex.
pub fn kid(secret: &str) -> String {
    hex::encode(&Sha256::digest(secret.as_bytes())[..8])
}

/// A header as the server writes it, for `secret`.
pub fn header(secret: &str) -> Value {
    json!({"alg": "HS256", "typ": "at+jwt", "kid": kid(secret)})
}

/// Claims as the server writes them, issued `age` seconds ago.
pub fn claims(user: &str, session: &str, email: &str, age: i64) -> Value {
    let now = latchkey::db::now() - age;
    json!({
        "sub": user, "sid": session, "role": "user", "email": email,
        "iss": "latchkey", "aud": "latchkey", "iat": now, "exp": now + 900,
    })
}

/// `header.payload.signature`, signed with HMAC under `alg` ("HS256", "HS384", "HS512");
/// any other `alg` in the header is signed with HS256 (an algorithm-confusion attempt).
pub fn sign(header: &Value, claims: &Value, secret: &str) -> String {
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let key = secret.as_bytes();
    let sig = match header["alg"].as_str() {
        Some("HS384") => {
            let mut m = <Hmac<Sha384> as Mac>::new_from_slice(key).unwrap();
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        Some("HS512") => {
            let mut m = <Hmac<Sha512> as Mac>::new_from_slice(key).unwrap();
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
        _ => {
            let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap();
            m.update(input.as_bytes());
            m.finalize().into_bytes().to_vec()
        }
    };
    format!("{input}.{}", B64.encode(sig))
}

/// A genuine-looking token for `secret` with `edit` applied to the header and claims first.
pub fn forged(
    secret: &str,
    base: &Value,
    edit: impl FnOnce(&mut serde_json::Map<String, Value>, &mut serde_json::Map<String, Value>),
) -> String {
    let mut h = header(secret).as_object().unwrap().clone();
    let mut c = base.as_object().unwrap().clone();
    edit(&mut h, &mut c);
    sign(&Value::Object(h), &Value::Object(c), secret)
}

/// The JWT header of a token, decoded.
pub fn header_of(token: &str) -> Value {
    let h = token.split('.').next().unwrap();
    serde_json::from_slice(&B64.decode(h).unwrap()).unwrap()
}
