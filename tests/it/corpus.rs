//! The hostile-input corpus: forged and malformed access tokens (every class of SECURITY.md
//! §1), refresh cookies, odd headers and cookies, and broken forms and JSON bodies. Each case
//! must get its exact status (and JSON `code`), never a 5xx, and never a session.

use crate::common::*;
use crate::forge;
use crate::hostile::raw;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const EMAIL: &str = "ann@example.com";
const KIB: usize = 1024;

type Obj = serde_json::Map<String, Value>;

struct Case {
    name: String,
    method: Method,
    path: &'static str,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Option<(&'static str, Vec<u8>)>,
    status: u16,
    code: Option<&'static str>,
}

fn get(
    name: &str,
    path: &'static str,
    headers: Vec<(&'static str, Vec<u8>)>,
    status: u16,
    code: Option<&'static str>,
) -> Case {
    Case {
        name: name.into(),
        method: Method::GET,
        path,
        headers,
        body: None,
        status,
        code,
    }
}

fn bearer(name: &str, token: &str) -> Case {
    let h = format!("Bearer {token}").into_bytes();
    get(
        name,
        "/api/me",
        vec![("authorization", h)],
        401,
        Some("INVALID_TOKEN"),
    )
}

fn refresh_cookie(name: &str, value: &[u8], code: &'static str) -> Case {
    let mut c = b"__Host-refresh=".to_vec();
    c.extend(value);
    get(name, "/api/me", vec![("cookie", c)], 401, Some(code))
}

fn post(
    name: &str,
    path: &'static str,
    headers: Vec<(&'static str, Vec<u8>)>,
    ct: &'static str,
    body: Vec<u8>,
    status: u16,
    code: Option<&'static str>,
) -> Case {
    Case {
        name: name.into(),
        method: Method::POST,
        path,
        headers,
        body: Some((ct, body)),
        status,
        code,
    }
}

fn json_post(name: &str, path: &'static str, body: Value, status: u16, code: &'static str) -> Case {
    post(
        name,
        path,
        vec![],
        "application/json",
        body.to_string().into_bytes(),
        status,
        Some(code),
    )
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", utf8_percent_encode(v, NON_ALPHANUMERIC)))
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

/// Everything the cases are built from: a signed-in Ann, Bob's rotated-out refresh token, an
/// anonymous CSRF cookie and its token.
struct Fixture {
    secret: String,
    claims: Value,
    access: String,
    refresh: String,
    bob_old_refresh: String,
    csrf_cookie: Vec<u8>,
    csrf_token: String,
    session_csrf: String,
}

async fn fixture(app: &TestApp) -> Fixture {
    let b = app.signed_in(EMAIL).await;
    let (uid, sid) = app.ids_of(EMAIL);
    let bob = app.signed_in("bob@example.com").await;
    let bob_old_refresh = bob.cookie("__Host-refresh").unwrap();
    bob.remove_cookie("__Host-access");
    assert_eq!(bob.get("/account").await.status(), StatusCode::OK);
    app.exec("UPDATE refresh_tokens SET used_at = used_at - 3600 WHERE used_at IS NOT NULL");
    let anon = app.browser();
    let csrf_token = anon.form_token("/login", "/login").await;
    Fixture {
        secret: app.secret.clone(),
        claims: forge::claims(&uid, &sid, EMAIL, 0),
        access: b.cookie("__Host-access").unwrap(),
        refresh: b.cookie("__Host-refresh").unwrap(),
        bob_old_refresh,
        csrf_cookie: format!("__Host-csrf={}", anon.cookie("__Host-csrf").unwrap()).into_bytes(),
        csrf_token,
        session_csrf: b.form_token("/account", "/logout").await,
    }
}

fn access_token_cases(f: &Fixture) -> Vec<Case> {
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

fn refresh_cases(f: &Fixture) -> Vec<Case> {
    let valid = f.refresh.as_bytes();
    let mut dup = valid.to_vec();
    dup.extend(b"; __Host-refresh=");
    dup.extend(valid);
    let mut bad_utf8 = valid[..40].to_vec();
    bad_utf8.extend(b"\xff\xfe\xfd");
    vec![
        refresh_cookie("an empty refresh cookie", b"", "SESSION_EXPIRED"),
        refresh_cookie(
            "a 16 KiB refresh cookie",
            "A".repeat(16 * KIB).as_bytes(),
            "SESSION_EXPIRED",
        ),
        refresh_cookie(
            "SQL in the refresh cookie",
            b"' OR 1=1 --",
            "SESSION_EXPIRED",
        ),
        refresh_cookie(
            "SQL padded to the token's length",
            b"'%20OR%201=1--aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "SESSION_EXPIRED",
        ),
        refresh_cookie(
            "a well-formed unknown token",
            b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "SESSION_EXPIRED",
        ),
        refresh_cookie(
            "invalid UTF-8 in the refresh cookie",
            &bad_utf8,
            "SESSION_EXPIRED",
        ),
        refresh_cookie("the same refresh cookie twice", &dup, "INVALID_TOKEN"),
        refresh_cookie(
            "another user's rotated-out token",
            f.bob_old_refresh.as_bytes(),
            "REFRESH_REUSED",
        ),
        get(
            "a refresh cookie under a look-alike name",
            "/api/me",
            vec![(
                "cookie",
                format!("%5F_Host-refresh={}", f.refresh).into_bytes(),
            )],
            401,
            Some("NO_TOKEN"),
        ),
        json_post(
            "an empty JSON refresh token",
            "/api/auth/refresh",
            json!({"refresh_token": ""}),
            401,
            "SESSION_EXPIRED",
        ),
        json_post(
            "a JSON refresh token with a NUL",
            "/api/auth/refresh",
            json!({"refresh_token": format!("{}\u{0}", f.refresh)}),
            401,
            "SESSION_EXPIRED",
        ),
        json_post(
            "a number for the refresh token",
            "/api/auth/refresh",
            json!({"refresh_token": 12345}),
            400,
            "BAD_REQUEST",
        ),
        json_post(
            "no refresh token field",
            "/api/auth/refresh",
            json!({}),
            400,
            "BAD_REQUEST",
        ),
        json_post(
            "the refresh token as a bare JSON string",
            "/api/auth/refresh",
            json!(f.refresh),
            400,
            "BAD_REQUEST",
        ),
        json_post(
            "a 1 MiB refresh token",
            "/api/auth/refresh",
            json!({"refresh_token": "a".repeat(1024 * KIB)}),
            413,
            "BAD_REQUEST",
        ),
    ]
}

fn header_and_body_cases(f: &Fixture) -> Vec<Case> {
    let with_csrf = |extra: &[(&str, &str)]| {
        let mut pairs = vec![("csrf_token", f.csrf_token.as_str())];
        pairs.extend_from_slice(extra);
        form(&pairs)
    };
    let csrf = || vec![("cookie", f.csrf_cookie.clone())];
    let long = "p".repeat(10 * KIB);
    let html = "application/x-www-form-urlencoded";
    let many: String = (0..200).map(|i| format!("c{i}=v{i}; ")).collect();
    vec![
        get(
            "a 16 KiB Cookie header of junk",
            "/api/me",
            vec![(
                "cookie",
                format!("junk={}", "j".repeat(16 * KIB)).into_bytes(),
            )],
            401,
            Some("NO_TOKEN"),
        ),
        get(
            "200 cookies",
            "/api/me",
            vec![("cookie", many.into_bytes())],
            401,
            Some("NO_TOKEN"),
        ),
        get(
            "a Cookie header of invalid UTF-8 only",
            "/api/me",
            vec![("cookie", b"\xff\xfe=\xfd\xfc".to_vec())],
            401,
            Some("NO_TOKEN"),
        ),
        get(
            "an access cookie of invalid UTF-8",
            "/api/me",
            vec![("cookie", b"__Host-access=\xff\xfe.\xfd.\xfc".to_vec())],
            401,
            Some("INVALID_TOKEN"),
        ),
        get(
            "a 40 KiB header block",
            "/api/me",
            (0..5).map(|_| ("x-junk", vec![b'x'; 8 * KIB])).collect(),
            401,
            Some("NO_TOKEN"),
        ),
        post(
            "sign-in without a CSRF token",
            "/login",
            csrf(),
            html,
            form(&[("email", EMAIL), ("password", PASSWORD)]),
            403,
            None,
        ),
        post(
            "sign-in without the CSRF cookie",
            "/login",
            vec![],
            html,
            with_csrf(&[("email", EMAIL), ("password", PASSWORD)]),
            403,
            None,
        ),
        post(
            "sign-in with a session CSRF token",
            "/login",
            csrf(),
            html,
            form(&[
                ("email", EMAIL),
                ("password", PASSWORD),
                ("csrf_token", &f.session_csrf),
            ]),
            403,
            None,
        ),
        post(
            "sign-in without a password",
            "/login",
            csrf(),
            html,
            with_csrf(&[("email", EMAIL)]),
            401,
            None,
        ),
        post(
            "sign-in with a 10 KiB password",
            "/login",
            csrf(),
            html,
            with_csrf(&[("email", EMAIL), ("password", &long)]),
            401,
            None,
        ),
        post(
            "sign-in with a NUL in the e-mail",
            "/login",
            csrf(),
            html,
            with_csrf(&[("email", "ann@example.com\0"), ("password", PASSWORD)]),
            401,
            None,
        ),
        post(
            "sign-in with control characters in the e-mail",
            "/login",
            csrf(),
            html,
            with_csrf(&[
                ("email", "\u{1b}[31mann@example.com\r\n"),
                ("password", PASSWORD),
            ]),
            401,
            None,
        ),
        post(
            "sign-in with a 1 MiB form",
            "/login",
            csrf(),
            html,
            with_csrf(&[("email", &"e".repeat(1024 * KIB))]),
            400,
            None,
        ),
        post(
            "sign-in with JSON instead of a form",
            "/login",
            csrf(),
            "application/json",
            json!({"email": EMAIL}).to_string().into_bytes(),
            400,
            None,
        ),
        post(
            "sign-up with a NUL in the password",
            "/register",
            csrf(),
            html,
            with_csrf(&[
                ("email", "eve@example.com"),
                ("password", "password\0with nul"),
            ]),
            400,
            None,
        ),
        post(
            "sign-up with a 10 KiB password",
            "/register",
            csrf(),
            html,
            with_csrf(&[("email", "eve@example.com"), ("password", &long)]),
            400,
            None,
        ),
        post(
            "sign-up without an e-mail",
            "/register",
            csrf(),
            html,
            with_csrf(&[("password", PASSWORD)]),
            400,
            None,
        ),
        post(
            "sign-up with an e-mail of 300 characters",
            "/register",
            csrf(),
            html,
            with_csrf(&[
                ("email", &format!("{}@example.com", "a".repeat(300))),
                ("password", PASSWORD),
            ]),
            400,
            None,
        ),
        json_post(
            "API sign-in with a password of the wrong type",
            "/api/auth/token",
            json!({"email": EMAIL, "password": ["x"]}),
            400,
            "BAD_REQUEST",
        ),
        json_post(
            "API sign-in with an e-mail of the wrong type",
            "/api/auth/token",
            json!({"email": 7, "password": PASSWORD}),
            400,
            "BAD_REQUEST",
        ),
        json_post(
            "API sign-in without a password",
            "/api/auth/token",
            json!({"email": EMAIL}),
            400,
            "BAD_REQUEST",
        ),
        json_post(
            "API sign-in with a NUL in the e-mail",
            "/api/auth/token",
            json!({"email": "ann@example.com\u{0}", "password": PASSWORD}),
            401,
            "INVALID_CREDENTIALS",
        ),
        json_post(
            "API sign-in with a 10 KiB password",
            "/api/auth/token",
            json!({"email": EMAIL, "password": long}),
            401,
            "INVALID_CREDENTIALS",
        ),
        json_post(
            "API sign-in with a 1 MiB e-mail",
            "/api/auth/token",
            json!({"email": "e".repeat(1024 * KIB), "password": "x"}),
            413,
            "BAD_REQUEST",
        ),
        json_post(
            "API sign-in with null fields",
            "/api/auth/token",
            json!({"email": null, "password": null}),
            400,
            "BAD_REQUEST",
        ),
        post(
            "API sign-in with broken JSON",
            "/api/auth/token",
            vec![],
            "application/json",
            b"{\"email\": ".to_vec(),
            400,
            Some("BAD_REQUEST"),
        ),
        post(
            "API sign-in with invalid UTF-8 JSON",
            "/api/auth/token",
            vec![],
            "application/json",
            b"{\"email\": \"\xff\", \"password\": \"x\"}".to_vec(),
            400,
            Some("BAD_REQUEST"),
        ),
        post(
            "API sign-in as text/plain",
            "/api/auth/token",
            vec![],
            "text/plain",
            json!({"email": EMAIL, "password": PASSWORD})
                .to_string()
                .into_bytes(),
            400,
            Some("BAD_REQUEST"),
        ),
    ]
}

on_both! {
    async fn every_hostile_input_gets_its_exact_answer_never_a_5xx_and_never_a_session(store) {
        let app = TestApp::spawn_with(store, |e| {
            e.insert("LATCHKEY_LOGIN_THROTTLE".into(), "false".into());
        })
        .await;
        let f = fixture(&app).await;
        let sessions = app.count("SELECT COUNT(*) AS n FROM sessions");
        let mut cases = access_token_cases(&f);
        cases.extend(refresh_cases(&f));
        cases.extend(header_and_body_cases(&f));
        assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
        let mut wrong = Vec::new();
        for c in &cases {
            let a = raw(&app.base, c.method.clone(), c.path, &c.headers, c.body.clone()).await;
            assert!(!a.status.is_server_error(), "{}: {}", c.name, a.status);
            assert!(!a.mints_session(), "{}: minted a session", c.name);
            if c.method == Method::GET {
                assert!(!a.body.contains(EMAIL), "{}: answered as Ann", c.name);
            }
            if a.status.as_u16() != c.status || (c.code.is_some() && a.code().as_deref() != c.code) {
                wrong.push(format!("{}: got {} {:?}, want {} {:?}", c.name, a.status, a.code(), c.status, c.code));
            }
        }
        assert!(wrong.is_empty(), "{} of {} cases answered wrongly:\n{}", wrong.len(), cases.len(), wrong.join("\n"));
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions"), sessions, "no case started a session");
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), 2, "no case created an account");
        let ok = raw(&app.base, Method::GET, "/api/me", &[("authorization", format!("Bearer {}", f.access).into_bytes())], None).await;
        assert_eq!(ok.status, StatusCode::OK, "Ann is still signed in after all that");
    }
}
