//! Corpus cases: forged and malformed access tokens, one per class of SECURITY.md §1.

use super::*;

pub fn access_token_cases(f: &Fixture) -> Vec<Case> {
    let k = f.secret.as_str();
    let c = &f.claims;
    let edit = |e: &dyn Fn(&mut Obj, &mut Obj)| forge::forged(k, c, |h, c| e(h, c));
    let genuine = forge::sign(&forge::header(k), c, k);
    assert!(genuine.len() > 100);
    let (hp, sig) = genuine.rsplit_once('.').unwrap();
    let other = forge::sign(&forge::header(k), &forge::claims("x", "y", "z", 5), k);
    let stranger = latchkey::config::generate_secret();
    let mut expired_claims = c.clone();
    expired_claims["iat"] = json!(latchkey::db::now() - 2000);
    expired_claims["exp"] = json!(latchkey::db::now() - 1100);
    let mut cases = vec![
        bearer(
            "alg none, no signature",
            &format!(
                "{}.",
                edit(&|h, _| {
                    h.insert("alg".into(), json!("none"));
                })
                .rsplit_once('.')
                .unwrap()
                .0
            ),
        ),
        bearer(
            "alg none, genuine signature kept",
            &edit(&|h, _| {
                h.insert("alg".into(), json!("none"));
            }),
        ),
        bearer(
            "alg HS384",
            &edit(&|h, _| {
                h.insert("alg".into(), json!("HS384"));
            }),
        ),
        bearer(
            "alg HS512",
            &edit(&|h, _| {
                h.insert("alg".into(), json!("HS512"));
            }),
        ),
        bearer(
            "alg RS256 with an HMAC signature (confusion)",
            &edit(&|h, _| {
                h.insert("alg".into(), json!("RS256"));
            }),
        ),
        bearer(
            "alg ES256",
            &edit(&|h, _| {
                h.insert("alg".into(), json!("ES256"));
            }),
        ),
        bearer(
            "a stranger's key under our kid",
            &forge::sign(&forge::header(k), c, &stranger),
        ),
        bearer(
            "a stranger's key and kid",
            &forge::sign(&forge::header(&stranger), c, &stranger),
        ),
        bearer(
            "no kid",
            &edit(&|h, _| {
                h.remove("kid");
            }),
        ),
        bearer(
            "kid path traversal",
            &edit(&|h, _| {
                h.insert("kid".into(), json!("../../../../dev/null"));
            }),
        ),
        bearer(
            "kid SQL injection",
            &edit(&|h, _| {
                h.insert("kid".into(), json!("' OR '1'='1"));
            }),
        ),
        bearer(
            "jku header",
            &edit(&|h, _| {
                h.insert("jku".into(), json!("http://127.0.0.1:9/jwks.json"));
            }),
        ),
        bearer(
            "x5u header",
            &edit(&|h, _| {
                h.insert("x5u".into(), json!("http://127.0.0.1:9/cert.pem"));
            }),
        ),
        bearer(
            "embedded jwk",
            &edit(&|h, _| {
                h.insert("jwk".into(), json!({"kty": "oct", "k": "AAAA"}));
            }),
        ),
        bearer(
            "no typ",
            &edit(&|h, _| {
                h.remove("typ");
            }),
        ),
        bearer(
            "typ JWT (another kind of token)",
            &edit(&|h, _| {
                h.insert("typ".into(), json!("JWT"));
            }),
        ),
        bearer(
            "no exp",
            &edit(&|_, c| {
                c.remove("exp");
            }),
        ),
        bearer(
            "exp as a string (CVE-2026-25537)",
            &edit(&|_, c| {
                c.insert("exp".into(), json!("99999999999"));
            }),
        ),
        bearer(
            "nbf as a string",
            &edit(&|_, c| {
                c.insert("nbf".into(), json!("0"));
                c.insert("exp".into(), json!("99999999999"));
            }),
        ),
        bearer(
            "nbf in the future",
            &edit(&|_, c| {
                c.insert("nbf".into(), json!(latchkey::db::now() + 3600));
            }),
        ),
        bearer(
            "iat in the future",
            &edit(&|_, c| {
                c.insert("iat".into(), json!(latchkey::db::now() + 3600));
                c.insert("exp".into(), json!(latchkey::db::now() + 4000));
            }),
        ),
        bearer(
            "exp before iat",
            &edit(&|_, c| {
                let iat = c["iat"].clone();
                c.insert("exp".into(), iat);
            }),
        ),
        bearer(
            "no iss",
            &edit(&|_, c| {
                c.remove("iss");
            }),
        ),
        bearer(
            "wrong iss",
            &edit(&|_, c| {
                c.insert("iss".into(), json!("evil"));
            }),
        ),
        bearer(
            "no aud",
            &edit(&|_, c| {
                c.remove("aud");
            }),
        ),
        bearer(
            "wrong aud",
            &edit(&|_, c| {
                c.insert("aud".into(), json!(["evil", "other"]));
            }),
        ),
        bearer(
            "no sub",
            &edit(&|_, c| {
                c.remove("sub");
            }),
        ),
        bearer(
            "sub not a user id",
            &edit(&|_, c| {
                c.insert("sub".into(), json!("admin"));
            }),
        ),
        bearer(
            "no sid",
            &edit(&|_, c| {
                c.remove("sid");
            }),
        ),
        bearer(
            "role outside the enum",
            &edit(&|_, c| {
                c.insert("role".into(), json!("root"));
            }),
        ),
        bearer(
            "payload tampered, signature kept",
            &format!(
                "{}.{}.{sig}",
                hp.split('.').next().unwrap(),
                other.split('.').nth(1).unwrap()
            ),
        ),
        bearer("signature stripped", &format!("{hp}.")),
        bearer("signature truncated", &genuine[..genuine.len() - 3]),
        bearer("an extra segment", &format!("{genuine}.x")),
        bearer(
            "longer than 4 KiB",
            &format!("{hp}{}.{sig}", "A".repeat(5 * KIB)),
        ),
        bearer("not a JWT", "not.a.jwt"),
        bearer("empty token", ""),
        bearer("a CSRF token used as an access token", &f.session_csrf),
        bearer("a refresh token used as an access token", &f.refresh),
        get(
            "Basic instead of Bearer",
            "/api/me",
            vec![("authorization", b"Basic YW5uOnB3".to_vec())],
            401,
            Some("INVALID_TOKEN"),
        ),
        get(
            "Bearer with invalid UTF-8",
            "/api/me",
            vec![("authorization", b"Bearer \xff\xfe\xfd".to_vec())],
            401,
            Some("INVALID_TOKEN"),
        ),
        get(
            "a 16 KiB Authorization header",
            "/api/me",
            vec![(
                "authorization",
                format!("Bearer {}", "a".repeat(16 * KIB)).into_bytes(),
            )],
            401,
            Some("INVALID_TOKEN"),
        ),
        bearer(
            "a genuine but expired token",
            &forge::sign(&forge::header(k), &expired_claims, k),
        ),
    ];
    cases.last_mut().unwrap().code = Some("TOKEN_EXPIRED");
    // A forged access cookie next to a valid refresh cookie must not trigger a refresh.
    let forged_cookie = format!(
        "__Host-access={}; __Host-refresh={}",
        forge::sign(&forge::header(k), c, &stranger),
        f.refresh
    );
    cases.push(get(
        "a forged access cookie never triggers a refresh",
        "/account",
        vec![("cookie", forged_cookie.into_bytes())],
        303,
        None,
    ));
    cases
}
