//! Proof checks and header formats with fixed keys (tests/fixtures/dbsc).
#![allow(clippy::unwrap_used)]

use super::*;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

const P256_A: &[u8] = include_bytes!("../../../tests/fixtures/dbsc/p256-a.der");
const P256_A_JWK: &str = include_str!("../../../tests/fixtures/dbsc/p256-a.jwk.json");
const P256_B: &[u8] = include_bytes!("../../../tests/fixtures/dbsc/p256-b.der");
const RSA_A: &[u8] = include_bytes!("../../../tests/fixtures/dbsc/rsa-a.der");
const RSA_A_JWK: &str = include_str!("../../../tests/fixtures/dbsc/rsa-a.jwk.json");
const RSA_SHORT: &[u8] = include_bytes!("../../../tests/fixtures/dbsc/rsa-short.der");
const RSA_SHORT_JWK: &str = include_str!("../../../tests/fixtures/dbsc/rsa-short.jwk.json");

fn sign(alg: Algorithm, der: &[u8], jwk: Option<&str>, claims: serde_json::Value) -> String {
    let mut h = Header::new(alg);
    h.typ = Some("dbsc+jwt".into());
    h.jwk = jwk.map(|j| serde_json::from_str::<Jwk>(j).unwrap());
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_der(der),
        _ => EncodingKey::from_rsa_der(der),
    };
    jsonwebtoken::encode(&h, &claims, &key).unwrap()
}

fn raw(header: serde_json::Value, claims: serde_json::Value, sig: &[u8]) -> String {
    let part = |v: &serde_json::Value| B64.encode(v.to_string());
    format!("{}.{}.{}", part(&header), part(&claims), B64.encode(sig))
}

fn jti(c: &str) -> serde_json::Value {
    json!({ "jti": c })
}

#[test]
fn a_registration_proof_yields_its_key_and_challenge() {
    for (alg, der, jwk) in [
        (Algorithm::ES256, P256_A, P256_A_JWK),
        (Algorithm::RS256, RSA_A, RSA_A_JWK),
    ] {
        let reg = verify_registration(&sign(alg, der, Some(jwk), jti("c1"))).unwrap();
        assert_eq!(reg.challenge, "c1");
        let stored = DeviceKey::from_json(&reg.key.to_json()).expect("stored form reads back");
        let refresh = sign(alg, der, None, jti("c2"));
        assert_eq!(verify_refresh(&refresh, &stored).unwrap(), "c2");
    }
}

#[test]
fn a_proof_from_another_key_is_refused() {
    let key = verify_registration(&sign(Algorithm::ES256, P256_A, Some(P256_A_JWK), jti("c")))
        .unwrap()
        .key;
    let other = sign(Algorithm::ES256, P256_B, None, jti("c"));
    assert_eq!(
        verify_refresh(&other, &key).unwrap_err(),
        ProofError::Signature
    );
    // A registration proof whose header names one key but is signed by another.
    let lying = sign(Algorithm::ES256, P256_B, Some(P256_A_JWK), jti("c"));
    assert_eq!(
        verify_registration(&lying).unwrap_err(),
        ProofError::Signature
    );
}

#[test]
fn the_key_travels_only_at_registration() {
    let key = verify_registration(&sign(Algorithm::ES256, P256_A, Some(P256_A_JWK), jti("c")))
        .unwrap()
        .key;
    let with_jwk = sign(Algorithm::ES256, P256_A, Some(P256_A_JWK), jti("c"));
    assert_eq!(
        verify_refresh(&with_jwk, &key).unwrap_err(),
        ProofError::KeyOnRefresh
    );
    let without = sign(Algorithm::ES256, P256_A, None, jti("c"));
    assert_eq!(verify_registration(&without).unwrap_err(), ProofError::Key);
    // RS256 header on an EC key.
    let rsa = sign(Algorithm::RS256, RSA_A, None, jti("c"));
    assert_eq!(verify_refresh(&rsa, &key).unwrap_err(), ProofError::Alg);
}

#[test]
fn none_and_hmac_are_refused() {
    let none = raw(
        json!({"alg": "none", "typ": "dbsc+jwt", "jwk": serde_json::from_str::<serde_json::Value>(P256_A_JWK).unwrap()}),
        jti("c"),
        b"",
    );
    assert_eq!(
        verify_registration(&none).unwrap_err(),
        ProofError::Malformed
    );
    // HS256 keyed with an `oct` JWK the attacker chose: never accepted.
    let oct = json!({"kty": "oct", "k": B64.encode(b"attacker chosen secret")});
    let hs = raw(
        json!({"alg": "HS256", "typ": "dbsc+jwt", "jwk": oct}),
        jti("c"),
        b"x",
    );
    assert_eq!(verify_registration(&hs).unwrap_err(), ProofError::Alg);
    let es_with_oct = raw(
        json!({"alg": "ES256", "typ": "dbsc+jwt", "jwk": oct}),
        jti("c"),
        b"x",
    );
    assert_eq!(
        verify_registration(&es_with_oct).unwrap_err(),
        ProofError::Key
    );
}

#[test]
fn typ_curve_size_and_crit_are_checked() {
    let mut h = Header::new(Algorithm::ES256);
    h.jwk = Some(serde_json::from_str(P256_A_JWK).unwrap());
    let key = EncodingKey::from_ec_der(P256_A);
    let untyped = jsonwebtoken::encode(&h, &jti("c"), &key).unwrap();
    assert_eq!(verify_registration(&untyped).unwrap_err(), ProofError::Typ);
    h.typ = Some("JWT".into());
    let jwt = jsonwebtoken::encode(&h, &jti("c"), &key).unwrap();
    assert_eq!(verify_registration(&jwt).unwrap_err(), ProofError::Typ);
    h.typ = Some("dbsc+jwt".into());
    h.crit = Some(vec!["exp".into()]);
    let crit = jsonwebtoken::encode(&h, &jti("c"), &key).unwrap();
    assert_eq!(
        verify_registration(&crit).unwrap_err(),
        ProofError::Critical
    );
    let short = sign(Algorithm::RS256, RSA_SHORT, Some(RSA_SHORT_JWK), jti("c"));
    assert_eq!(verify_registration(&short).unwrap_err(), ProofError::Key);
    let mut p384: serde_json::Value = serde_json::from_str(P256_A_JWK).unwrap();
    p384["crv"] = json!("P-384");
    let wrong_curve = sign(Algorithm::ES256, P256_A, Some(&p384.to_string()), jti("c"));
    assert_eq!(
        verify_registration(&wrong_curve).unwrap_err(),
        ProofError::Key
    );
}

#[test]
fn the_payload_is_exactly_one_jti() {
    let reg =
        |claims| verify_registration(&sign(Algorithm::ES256, P256_A, Some(P256_A_JWK), claims));
    assert_eq!(reg(json!({})).unwrap_err(), ProofError::Claims);
    assert_eq!(
        reg(json!({"jti": "c", "aud": "x"})).unwrap_err(),
        ProofError::Claims
    );
    assert_eq!(reg(json!({"jti": 5})).unwrap_err(), ProofError::Claims);
    assert_eq!(reg(json!({"jti": ""})).unwrap_err(), ProofError::Claims);
    assert_eq!(
        reg(json!({"jti": "x".repeat(200)})).unwrap_err(),
        ProofError::Claims
    );
}

#[test]
fn garbage_is_malformed_not_a_panic() {
    for bad in [
        "",
        "a",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "....",
        "eyJhbGciOiJFUzI1NiJ9.e30.",
        &"a".repeat(20_000),
    ] {
        assert!(verify_registration(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn headers_are_structured_fields() {
    let c = Challenge("abc_DEF-123".into());
    assert_eq!(
        registration_header("/dbsc/register", &c).unwrap(),
        r#"(ES256 RS256);path="/dbsc/register";challenge="abc_DEF-123""#
    );
    let sid = SessionId::parse("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap();
    assert_eq!(
        challenge_header(&c, &sid).unwrap(),
        r#""abc_DEF-123";id="0f8fad5b-d9cb-469f-a165-70867728950e""#
    );
    assert_eq!(
        parse_session_id(r#""0f8fad5b-d9cb-469f-a165-70867728950e""#),
        Some(sid.clone())
    );
    assert_eq!(
        parse_session_id("0f8fad5b-d9cb-469f-a165-70867728950e"),
        Some(sid.clone()),
        "bare, as Chromium sends it"
    );
    for bad in [
        "",
        "\"x\"",
        "0f8fad5b-d9cb-469f-a165-70867728950e;x",
        "0F8FAD5B-D9CB-469F-A165-70867728950E",
        "\"0F8FAD5B-D9CB-469F-A165-70867728950E\"",
        "1",
    ] {
        assert_eq!(parse_session_id(bad), None, "{bad:?}");
    }
    let skipped = parse_skipped(
        r#"unreachable;session_identifier="0f8fad5b-d9cb-469f-a165-70867728950e", quota_exceeded"#,
    );
    assert_eq!(
        skipped,
        vec![
            Skipped {
                reason: "unreachable".into(),
                session: Some(sid)
            },
            Skipped {
                reason: "quota_exceeded".into(),
                session: None
            },
        ]
    );
    assert!(parse_skipped("unreachable;session_identifier=").is_empty());
}

#[test]
fn challenges_are_random_and_redacted() {
    let (a, b) = (Challenge::generate(), Challenge::generate());
    assert_ne!(a, b);
    assert_eq!(a.as_str().len(), 43);
    assert!(!format!("{a:?}").contains(a.as_str()));
}
