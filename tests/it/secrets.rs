//! Secrets stay secret: a whole session lifecycle against the real binary at `RUST_LOG=trace`,
//! and not one token, cookie value, CSRF token or password in what it printed.

use crate::binary::BinApp;
use crate::common::*;
use diesel::{Connection, RunQueryDsl, SqliteConnection};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Every cookie value the browser holds now.
fn jar_values(b: &Browser, into: &mut BTreeSet<String>) {
    into.extend(b.jar.lock().unwrap().values().cloned());
}

async fn json_call(
    b: &Browser,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let h: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    let method = if body.is_some() || path.ends_with("logout") {
        Method::POST
    } else {
        Method::GET
    };
    let res = b.send(method, path, &h, body.map(Body::Json)).await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_session_lifecycle_at_trace_level_logs_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("secrets.db").display());
    let key = latchkey::config::generate_secret();
    let server = BinApp::start(
        dir.path(),
        &[
            ("DATABASE_URL", url.as_str()),
            ("LATCHKEY_JWT_SECRET", key.as_str()),
            ("RUST_LOG", "trace"),
        ],
    );
    let (email, password, new_password) = (
        "ann@example.com",
        "first Password 123",
        "second Password 456",
    );
    let mut secrets: BTreeSet<String> = [key.clone(), password.into(), new_password.into()].into();

    // Sign up and sign in with pages; every form's CSRF token is a secret too.
    let b = Browser::new(&server.base);
    let t = b.form_token("/register", "/register").await;
    secrets.insert(t.clone());
    jar_values(&b, &mut secrets);
    let res = b
        .post_form(
            "/register",
            &[("email", email), ("password", password), ("csrf_token", &t)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    jar_values(&b, &mut secrets);
    let b2 = Browser::new(&server.base);
    let t = b2.form_token("/login", "/login").await;
    secrets.insert(t);
    assert_eq!(
        b2.login(email, password).await.status(),
        StatusCode::SEE_OTHER
    );
    jar_values(&b2, &mut secrets);

    // A transparent refresh.
    b.remove_cookie("__Host-access");
    assert_eq!(b.get("/account").await.status(), StatusCode::OK);
    jar_values(&b, &mut secrets);

    // An API token pair, a Bearer call, an API refresh, and a refresh token posted as a bare
    // JSON string (serde's error message would quote it).
    let api = Browser::new(&server.base);
    let (s, pair) = json_call(
        &api,
        "/api/auth/token",
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (access, refresh) = (
        pair["access_token"].as_str().unwrap().to_string(),
        pair["refresh_token"].as_str().unwrap().to_string(),
    );
    secrets.extend([access.clone(), refresh.clone()]);
    assert_eq!(
        json_call(&api, "/api/me", Some(&access), None).await.0,
        StatusCode::OK
    );
    let (s, pair2) = json_call(
        &api,
        "/api/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    secrets.extend([
        pair2["access_token"].as_str().unwrap().to_string(),
        pair2["refresh_token"].as_str().unwrap().to_string(),
    ]);
    let (s, _) = json_call(
        &api,
        "/api/auth/refresh",
        None,
        Some(json!(pair2["refresh_token"])),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = json_call(
        &api,
        "/api/auth/token",
        None,
        Some(json!({"email": email, "password": ["wrong", password]})),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = json_call(
        &api,
        "/api/auth/token",
        None,
        Some(json!({"email": email, "password": "a wrong password!"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    secrets.insert("a wrong password!".into());

    // Reuse detection: the first refresh token again, after the grace window (aged in the DB).
    {
        let mut c = SqliteConnection::establish(&url).unwrap();
        diesel::sql_query(
            "UPDATE refresh_tokens SET used_at = used_at - 3600 WHERE used_at IS NOT NULL",
        )
        .execute(&mut c)
        .unwrap();
    }
    let (s, body) = json_call(
        &api,
        "/api/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh})),
    )
    .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("REFRESH_REUSED"))
    );

    // Change the password (ends the other sessions), then sign out.
    let t = b.form_token("/account", "/account/password").await;
    secrets.insert(t.clone());
    let res = b
        .post_form(
            "/account/password",
            &[
                ("current_password", password),
                ("new_password", new_password),
                ("csrf_token", &t),
            ],
        )
        .await;
    assert!(
        res.status().is_redirection() || res.status().is_success(),
        "{}",
        res.status()
    );
    jar_values(&b, &mut secrets);
    let t = b.form_token("/account", "/logout").await;
    secrets.insert(t.clone());
    assert_eq!(
        b.post_form("/logout", &[("csrf_token", &t)]).await.status(),
        StatusCode::SEE_OTHER
    );

    let log = server.stop();
    assert!(log.contains("TRACE"), "trace logging was really on");
    assert!(
        log.contains("reuse detected"),
        "the lifecycle was logged:\n{log}"
    );
    assert!(log.contains("signed out"));
    secrets.retain(|s| s.len() >= 8);
    assert!(
        secrets.len() >= 15,
        "the test collected the secrets it means to look for"
    );
    for s in &secrets {
        assert!(
            !log.contains(s.as_str()),
            "a secret appears in the log: {s}"
        );
        // A JWT's signature alone is as good as the token to whoever can splice it.
        if let Some(sig) = s.rsplit('.').next().filter(|sig| sig.len() >= 40) {
            assert!(!log.contains(sig), "a token signature appears in the log");
        }
    }
}
