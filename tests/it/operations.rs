//! Operations: Prometheus `/metrics` (what it counts, where it is served, switched off), a
//! graceful stop that lets in-flight requests finish, and log levels operators can act on.

use crate::common::*;
use crate::process::latchkey;
use reqwest::StatusCode;
use std::time::{Duration, Instant};

const EMAIL: &str = "ann@example.com";

/// The value of one sample (`name{labels}`) in a Prometheus text page.
fn sample(page: &str, series: &str) -> Option<f64> {
    page.lines().filter(|l| !l.starts_with('#')).find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .trim()
            .parse()
            .ok()
    })
}

async fn scrape(base: &str) -> (StatusCode, String) {
    let res = Browser::new(base).get("/metrics").await;
    let status = res.status();
    if status == StatusCode::OK {
        let ct = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    }
    (status, res.text().await.unwrap())
}

on_both! {
    async fn metrics_count_sign_ins_refreshes_reuse_revocations_and_live_sessions(store) {
        let app = TestApp::spawn_with(store, |env| {
            env.insert("LATCHKEY_METRICS_REFRESH".into(), "1s".into());
        })
        .await;
        let victim = app.signed_in(EMAIL).await;
        let thief = victim.clone_cookies();
        app.age_access(&victim, EMAIL, 3600);
        assert_eq!(victim.get("/account").await.status(), StatusCode::OK);
        app.exec("UPDATE refresh_tokens SET used_at = used_at - 60 WHERE used_at IS NOT NULL");
        app.age_access(&thief, EMAIL, 3600);
        assert_eq!(location(&thief.get("/account").await), "/login?reason=reused&next=/account");

        let phone = app.browser();
        phone.login(EMAIL, "not the password").await;
        // The first sign-in after the reuse explains it first (CONTRACT §10).
        assert!(location(&phone.login(EMAIL, PASSWORD).await).starts_with("/account/security?explain="));
        let laptop = app.browser();
        laptop.login(EMAIL, PASSWORD).await;
        assert_eq!(
            location(&laptop.post_signed_in("/account", "/logout", &[]).await),
            "/login?reason=signed_out"
        );

        let (status, page) = scrape(&app.base).await;
        assert_eq!(status, StatusCode::OK);
        let at = |s: &str| sample(&page, s).unwrap_or_else(|| panic!("{s} missing in\n{page}"));
        assert_eq!(at("latchkey_logins_total{outcome=\"success\"}"), 2.0);
        assert_eq!(at("latchkey_logins_total{outcome=\"failure\"}"), 1.0);
        assert_eq!(at("latchkey_refreshes_total{outcome=\"rotated\"}"), 1.0);
        assert_eq!(at("latchkey_refreshes_total{outcome=\"reused\"}"), 1.0);
        assert_eq!(at("latchkey_reuse_detections_total"), 1.0);
        assert_eq!(at("latchkey_revocations_total"), 2.0, "the reused family and the sign-out");
        assert_eq!(at("latchkey_db_pool_max"), 8.0);
        assert!(at("latchkey_db_pool_connections") >= 1.0);
        assert!(at("latchkey_db_pool_idle") <= at("latchkey_db_pool_connections"));
        assert_eq!(at("latchkey_db_unavailable_total"), 0.0);

        // Counted in the background; only the phone's session is live.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let (_, page) = scrape(&app.base).await;
            if sample(&page, "latchkey_active_sessions") == Some(1.0) {
                break;
            }
            assert!(Instant::now() < deadline, "active sessions never reached 1:\n{page}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

on_both! {
    async fn metrics_can_be_switched_off(store) {
        let app = TestApp::spawn_with(store, |env| {
            env.insert("LATCHKEY_METRICS".into(), "off".into());
        })
        .await;
        let (status, page) = scrape(&app.base).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!page.contains("latchkey_"));
    }
}

on_both! {
    async fn metrics_bound_elsewhere_are_served_only_there(store) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let app = TestApp::spawn_with(store, move |env| {
            env.insert("LATCHKEY_METRICS".into(), format!("127.0.0.1:{port}"));
        })
        .await;
        let (status, page) = scrape(&app.base).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "not on the public listener");
        assert!(!page.contains("latchkey_"));
        let (status, page) = scrape(&format!("http://127.0.0.1:{port}")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(sample(&page, "latchkey_logins_total{outcome=\"success\"}").is_some());
        let res = Browser::new(&format!("http://127.0.0.1:{port}")).get("/login").await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "and nothing else is served there");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_in_flight_sign_in_finish_and_the_process_exits_cleanly() {
    stopping_drains_an_in_flight_sign_in("TERM").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigint_stops_as_gracefully_as_sigterm() {
    stopping_drains_an_in_flight_sign_in("INT").await;
}

async fn stopping_drains_an_in_flight_sign_in(signal: &str) {
    // bcrypt at cost 12 makes a sign-in take a noticeable while: the request to drain.
    let mut p = latchkey(&[("LATCHKEY_BCRYPT_COST", "12"), ("RUST_LOG", "info")]);
    let line = p
        .wait_for_line("listening on", Duration::from_secs(30))
        .unwrap_or_else(|| panic!("never listened: {:?}", p.stderr));
    let port: u16 = line
        .split("listening on 127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|digits| digits.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    let base = format!("http://127.0.0.1:{port}");
    assert_eq!(
        Browser::new(&base).register(EMAIL, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );

    let b = Browser::new(&base);
    let token = b.form_token("/login", "/login").await;
    let signing_in = tokio::spawn(async move {
        let res = b
            .post_form(
                "/login",
                &[
                    ("email", EMAIL),
                    ("password", PASSWORD),
                    ("csrf_token", &token),
                    ("next", ""),
                ],
            )
            .await;
        (res.status(), location(&res), b.cookie("__Host-refresh"))
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        !signing_in.is_finished(),
        "the sign-in must still be in flight when the signal arrives for this test to mean anything"
    );
    p.signal(signal);

    let (status, to, refresh) = signing_in.await.unwrap();
    assert_eq!(
        (status, to.as_str()),
        (StatusCode::SEE_OTHER, "/account"),
        "the sign-in completed"
    );
    assert!(refresh.is_some(), "with its session cookies");
    let (status, stderr) = tokio::task::spawn_blocking(move || {
        let status = p.exit_within(Duration::from_secs(20));
        (status, p.stderr.clone())
    })
    .await
    .unwrap();
    let status =
        status.unwrap_or_else(|| panic!("still running 20 s after SIG{signal}: {stderr:?}"));
    assert!(status.success(), "exit {status}: {stderr:?}");
    assert!(
        stderr
            .iter()
            .any(|l| l.contains(&format!("SIG{signal} received"))),
        "{stderr:?}"
    );
}

#[test]
fn a_clients_malformed_request_is_a_warning_in_the_log_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("log.db").display());
    let server = crate::binary::BinApp::start(
        dir.path(),
        &[("DATABASE_URL", url.as_str()), ("RUST_LOG", "info")],
    );
    let (answer, _, _) = raw_exchange(
        &server.base,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\0b\r\n\r\n",
        &[],
        Duration::ZERO,
    );
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log.lock().unwrap().contains("stream error") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = server.stop();
    let line = log
        .lines()
        .find(|l| l.contains("stream error"))
        .unwrap_or_else(|| panic!("actix did not log the bad request:\n{log}"));
    assert!(line.contains(" WARN "), "{line}");
    assert!(!log.contains(" ERROR "), "{log}");
}
