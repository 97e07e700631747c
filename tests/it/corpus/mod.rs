//! The hostile-input corpus: forged and malformed access tokens (every class of SECURITY.md
//! §1), refresh cookies, odd headers and cookies, and broken forms and JSON bodies. Each case
//! must get its exact status (and JSON `code`), never a 5xx, and never a session.

mod requests;
mod tokens;

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

on_both! {
    async fn every_hostile_input_gets_its_exact_answer_never_a_5xx_and_never_a_session(store) {
        let app = TestApp::spawn_with(store, |e| {
            e.insert("LATCHKEY_LOGIN_THROTTLE".into(), "false".into());
        })
        .await;
        let f = fixture(&app).await;
        let sessions = app.count("SELECT COUNT(*) AS n FROM sessions");
        let mut cases = tokens::access_token_cases(&f);
        cases.extend(requests::refresh_cases(&f));
        cases.extend(requests::header_and_body_cases(&f));
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
