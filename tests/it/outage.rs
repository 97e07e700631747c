//! PostgreSQL outages, made with a proxy between the app and the shared server (which keeps
//! running for everyone else): 503 everywhere, nobody signed out, cookies untouched, recovery
//! on its own, and a pool that waits seconds rather than r2d2's 30.

use crate::common::*;
use crate::proxy::{Mode, Proxy};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const EMAIL: &str = "ann@example.com";
/// Far below r2d2's default 30 s wait, far above `LATCHKEY_DB_TIMEOUT=1s` plus the request.
const PROMPT: Duration = Duration::from_secs(10);

/// A server on PostgreSQL behind a proxy that the test controls.
async fn behind_proxy() -> Option<(TestApp, Proxy)> {
    postgres_url()?;
    let proxy = Proxy::to(postgres_address());
    let app = TestApp::on_postgres_through(proxy.port, |env| {
        env.insert("LATCHKEY_DB_TIMEOUT".into(), "1s".into());
    })
    .await;
    Some((app, proxy))
}

async fn timed(req: impl std::future::Future<Output = reqwest::Response>) -> reqwest::Response {
    let started = Instant::now();
    let res = req.await;
    assert!(
        started.elapsed() < PROMPT,
        "answered after {:?}",
        started.elapsed()
    );
    res
}

async fn refresh(b: &Browser, token: &str) -> reqwest::Response {
    b.send(
        Method::POST,
        "/api/auth/refresh",
        &[],
        Some(Body::Json(json!({ "refresh_token": token }))),
    )
    .await
}

async fn wait_until_ready(app: &TestApp) {
    let deadline = Instant::now() + PROMPT;
    while app.browser().get("/readyz").await.status() != StatusCode::OK {
        assert!(
            Instant::now() < deadline,
            "not ready again after the database returned"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn while_postgres_is_unreachable_everything_answers_503_and_nobody_is_signed_out() {
    let Some((app, proxy)) = behind_proxy().await else {
        return;
    };
    let b = app.signed_in(EMAIL).await;
    let api_pair: Value = Browser::new(&app.base)
        .send(
            Method::POST,
            "/api/auth/token",
            &[],
            Some(Body::Json(json!({"email": EMAIL, "password": PASSWORD}))),
        )
        .await
        .json()
        .await
        .unwrap();
    let api_refresh = api_pair["refresh_token"].as_str().unwrap().to_string();
    app.age_access(&b, EMAIL, 3600);
    let jar_before = b.jar.lock().unwrap().clone();
    assert_eq!(app.browser().get("/readyz").await.status(), StatusCode::OK);

    proxy.cut(Mode::Refuse);

    let res = timed(app.browser().get("/readyz")).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);

    let res = timed(b.get("/account")).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(set_cookies(&res).is_empty(), "cookies untouched");
    let page = res.text().await.unwrap();
    assert!(page.contains("<html"), "a page, not a bare error");
    assert!(page.contains("try again"), "the page says to retry");

    let res = timed(b.get("/api/me")).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(set_cookies(&res).is_empty());
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE");

    let res = timed(refresh(&Browser::new(&app.base), &api_refresh)).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "SERVICE_UNAVAILABLE");

    assert_eq!(
        *b.jar.lock().unwrap(),
        jar_before,
        "the browser kept every cookie"
    );

    proxy.restore();
    wait_until_ready(&app).await;

    let res = b.get("/account").await;
    assert_eq!(res.status(), StatusCode::OK, "the same cookies work again");
    assert!(
        set_cookie(&res, "__Host-refresh").is_some(),
        "and rotate as usual"
    );
    let res = refresh(&Browser::new(&app.base), &api_refresh).await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the API client's token was not used up"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NOT NULL"),
        0,
        "nobody was signed out"
    );
}

#[tokio::test]
async fn a_database_that_accepts_but_never_answers_costs_seconds_not_thirty() {
    let Some((app, proxy)) = behind_proxy().await else {
        return;
    };
    let b = app.signed_in(EMAIL).await;
    app.age_access(&b, EMAIL, 3600);

    proxy.cut(Mode::Hang);
    let res = timed(app.browser().get("/readyz")).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let res = timed(b.get("/account")).await;
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(set_cookies(&res).is_empty());

    proxy.restore();
    wait_until_ready(&app).await;
    assert_eq!(b.get("/account").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn signed_in_pages_that_need_no_database_keep_working_during_an_outage() {
    let Some((app, proxy)) = behind_proxy().await else {
        return;
    };
    let b = app.signed_in(EMAIL).await;
    proxy.cut(Mode::Refuse);
    // A fresh access token is checked without the database: the user notices nothing.
    let res = timed(b.get("/")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.text().await.unwrap().contains(EMAIL));
    proxy.restore();
}

#[tokio::test]
async fn a_database_restart_between_requests_goes_unnoticed() {
    let Some((app, proxy)) = behind_proxy().await else {
        return;
    };
    let b = app.signed_in(EMAIL).await;
    // Fill the pool with connections that the restart will kill.
    let warm: Vec<_> = (0..8)
        .map(|_| {
            let probe = app.browser();
            tokio::spawn(async move { probe.get("/readyz").await.status() })
        })
        .collect();
    for t in warm {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }

    proxy.cut(Mode::Refuse);
    proxy.restore();

    // Dead pooled connections are found on check-out and replaced, not handed to requests.
    for _ in 0..3 {
        assert_eq!(app.browser().get("/readyz").await.status(), StatusCode::OK);
    }
    app.age_access(&b, EMAIL, 3600);
    assert_eq!(b.get("/account").await.status(), StatusCode::OK);
}
