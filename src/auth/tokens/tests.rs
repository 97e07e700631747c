//! Forged and malformed access tokens: every class of SECURITY.md §1 must be refused.

use super::*;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::{json, Value};

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef-test-key";
const OTHER: &[u8] = b"fedcba9876543210fedcba9876543210-other-key";

fn keys() -> TokenKeys {
    TokenKeys::new(KEY, &[], 900, 30)
}

fn now() -> i64 {
    crate::db::now()
}

fn good_claims(now: i64) -> Value {
    json!({
        "sub": UserId::generate().to_string(), "sid": SessionId::generate().to_string(),
        "role": "user", "email": "a@b.io", "iss": "latchkey", "aud": "latchkey",
        "iat": now, "exp": now + 900,
    })
}

fn forge(header: Value, claims: &Value, key: &[u8]) -> String {
    let h: Header = serde_json::from_value(header).expect("header");
    encode(&h, claims, &EncodingKey::from_secret(key)).expect("encode")
}

fn hs256_header(kid: &str) -> Value {
    json!({"alg": "HS256", "typ": "at+jwt", "kid": kid})
}

#[test]
fn a_signed_token_verifies() {
    let k = keys();
    let n = now();
    let (t, exp) = k.sign(
        &UserId::generate(),
        &SessionId::generate(),
        Role::Admin,
        "a@b.io",
        n,
    );
    let c = k.verify(&t, n).expect("valid");
    assert_eq!(c.role, Role::Admin);
    assert_eq!(c.exp, exp);
    assert!(k.self_test().is_ok());
}

#[test]
fn expiry_is_reported_with_its_time_only_for_genuine_tokens() {
    let k = keys();
    let n = now();
    let mut c = good_claims(n - 2000);
    c["exp"] = json!(n - 100);
    let genuine = forge(hs256_header(&key_id(KEY)), &c, KEY);
    assert_eq!(
        k.verify(&genuine, n),
        Err(AccessError::Expired {
            expired_at: n - 100
        })
    );
    let forged = forge(hs256_header(&key_id(KEY)), &c, OTHER);
    assert_eq!(k.verify(&forged, n), Err(AccessError::Invalid));
}

#[test]
fn expiry_within_the_leeway_is_still_accepted() {
    let k = keys();
    let n = now();
    let mut c = good_claims(n - 900);
    c["exp"] = json!(n - 10);
    assert!(k
        .verify(&forge(hs256_header(&key_id(KEY)), &c, KEY), n)
        .is_ok());
}

#[test]
fn alg_none_is_refused() {
    let n = now();
    let h = B64.encode(br#"{"alg":"none","typ":"at+jwt","kid":"x"}"#);
    let p = B64.encode(good_claims(n).to_string());
    for t in [format!("{h}.{p}."), format!("{h}.{p}")] {
        assert_eq!(keys().verify(&t, n), Err(AccessError::Invalid));
    }
}

#[test]
fn other_algorithms_are_refused() {
    let n = now();
    let c = good_claims(n);
    for alg in ["HS384", "HS512"] {
        let t = forge(
            json!({"alg": alg, "typ": "at+jwt", "kid": key_id(KEY)}),
            &c,
            KEY,
        );
        assert_eq!(keys().verify(&t, n), Err(AccessError::Invalid), "{alg}");
    }
}

#[test]
fn wrong_key_unknown_kid_and_missing_kid_are_refused() {
    let n = now();
    let c = good_claims(n);
    let k = keys();
    assert_eq!(
        k.verify(&forge(hs256_header(&key_id(KEY)), &c, OTHER), n),
        Err(AccessError::Invalid)
    );
    assert_eq!(
        k.verify(&forge(hs256_header(&key_id(OTHER)), &c, OTHER), n),
        Err(AccessError::Invalid)
    );
    let no_kid = forge(json!({"alg": "HS256", "typ": "at+jwt"}), &c, KEY);
    assert_eq!(k.verify(&no_kid, n), Err(AccessError::Invalid));
}

#[test]
fn previous_keys_verify_by_kid() {
    let n = now();
    let old = TokenKeys::new(OTHER, &[], 900, 30);
    let (t, _) = old.sign(
        &UserId::generate(),
        &SessionId::generate(),
        Role::User,
        "a@b.io",
        n,
    );
    assert_eq!(keys().verify(&t, n), Err(AccessError::Invalid));
    let rotated = TokenKeys::new(KEY, &[OTHER.to_vec()], 900, 30);
    assert!(rotated.verify(&t, n).is_ok());
}

#[test]
fn wrong_issuer_audience_or_type_is_refused() {
    let n = now();
    let k = keys();
    for (field, value) in [
        ("iss", json!("evil")),
        ("aud", json!("other")),
        ("aud", json!(["latchkey", "x"])),
    ] {
        let mut c = good_claims(n);
        c[field] = value;
        assert_eq!(
            k.verify(&forge(hs256_header(&key_id(KEY)), &c, KEY), n),
            Err(AccessError::Invalid),
            "{field}"
        );
    }
    let jwt_typ = forge(
        json!({"alg": "HS256", "typ": "JWT", "kid": key_id(KEY)}),
        &good_claims(n),
        KEY,
    );
    assert_eq!(k.verify(&jwt_typ, n), Err(AccessError::Invalid));
}

#[test]
fn future_nbf_and_iat_beyond_the_leeway_are_refused() {
    let n = now();
    let k = keys();
    let mut c = good_claims(n);
    c["nbf"] = json!(n + 120);
    assert_eq!(
        k.verify(&forge(hs256_header(&key_id(KEY)), &c, KEY), n),
        Err(AccessError::Invalid)
    );
    let mut c = good_claims(n);
    c["iat"] = json!(n + 120);
    c["exp"] = json!(n + 1000);
    assert_eq!(
        k.verify(&forge(hs256_header(&key_id(KEY)), &c, KEY), n),
        Err(AccessError::Invalid)
    );
    let mut c = good_claims(n);
    c["iat"] = json!(n + 10);
    assert!(
        k.verify(&forge(hs256_header(&key_id(KEY)), &c, KEY), n)
            .is_ok(),
        "within leeway"
    );
}

#[test]
fn missing_or_mistyped_claims_are_refused() {
    let n = now();
    let k = keys();
    for missing in ["sub", "sid", "role", "iss", "aud", "iat", "exp"] {
        let mut c = good_claims(n);
        c.as_object_mut().expect("object").remove(missing);
        assert_eq!(
            k.verify(&forge(hs256_header(&key_id(KEY)), &c, KEY), n),
            Err(AccessError::Invalid),
            "{missing}"
        );
    }
    for (field, value) in [
        ("exp", json!((n + 900).to_string())),
        ("role", json!("root")),
        ("sub", json!("not-a-uuid")),
        ("sid", json!(42)),
    ] {
        let mut c = good_claims(n);
        c[field] = value;
        assert_eq!(
            k.verify(&forge(hs256_header(&key_id(KEY)), &c, KEY), n),
            Err(AccessError::Invalid),
            "{field}"
        );
    }
}

#[test]
fn key_fetching_headers_and_garbage_are_refused() {
    let n = now();
    let k = keys();
    let jku = forge(
        json!({"alg": "HS256", "typ": "at+jwt", "kid": key_id(KEY), "jku": "https://evil.example/keys"}),
        &good_claims(n),
        KEY,
    );
    assert_eq!(k.verify(&jku, n), Err(AccessError::Invalid));
    for junk in [
        "",
        ".",
        "..",
        "a.b.c",
        "eyJ.eyJ.sig",
        &"A".repeat(10_000),
        "\u{0}\u{1}",
    ] {
        assert_eq!(k.verify(junk, n), Err(AccessError::Invalid));
    }
}

#[test]
fn a_tampered_payload_is_refused() {
    let n = now();
    let k = keys();
    let (t, _) = k.sign(
        &UserId::generate(),
        &SessionId::generate(),
        Role::User,
        "a@b.io",
        n,
    );
    let parts: Vec<&str> = t.split('.').collect();
    let mut claims: Value =
        serde_json::from_slice(&B64.decode(parts[1]).expect("b64")).expect("json");
    claims["role"] = json!("admin");
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(claims.to_string()),
        parts[2]
    );
    assert_eq!(k.verify(&tampered, n), Err(AccessError::Invalid));
}
