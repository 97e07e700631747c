//! Operations: Prometheus `/metrics` (what it counts, where it is served, switched off), a
//! graceful stop that lets in-flight requests finish, and log levels operators can act on.

use crate::common::*;
use crate::process::latchkey;
use reqwest::StatusCode;
use std::io::{Read, Write};
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
    async fn metrics_time_requests_by_route_group_and_status_class_rotations_and_bcrypt(store) {
        let app = TestApp::on(store).await;
        let ann = app.signed_in(EMAIL).await; // a bcrypt hash (sign-up); the first account is an admin
        app.age_access(&ann, EMAIL, 3600);
        assert_eq!(ann.get("/account").await.status(), StatusCode::OK, "a page and a rotation");
        assert_eq!(ann.get("/admin").await.status(), StatusCode::OK);
        assert_eq!(app.browser().get("/admin").await.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.browser().get("/api/me").await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.browser().get("/static/style.css").await.status(), StatusCode::OK);
        assert_eq!(app.browser().get("/healthz").await.status(), StatusCode::OK);
        let phone = app.browser();
        assert_eq!(location(&phone.login(EMAIL, PASSWORD).await), "/account", "a bcrypt verify");

        let (_, page) = scrape(&app.base).await;
        let at = |s: &str| sample(&page, s).unwrap_or_else(|| panic!("{s} missing in\n{page}"));
        let requests = |group: &str, status: &str| {
            let labels = format!("{{group=\"{group}\",status=\"{status}\"}}");
            let count = at(&format!("latchkey_http_request_duration_seconds_count{labels}"));
            let all = at(&format!(
                "latchkey_http_request_duration_seconds_bucket{{group=\"{group}\",status=\"{status}\",le=\"+Inf\"}}"
            ));
            assert_eq!(count, all, "{labels}: every request falls in the last bucket");
            assert!(at(&format!("latchkey_http_request_duration_seconds_sum{labels}")) > 0.0 || count == 0.0);
            count
        };
        assert!(requests("pages", "2xx") >= 3.0, "sign-up form, sign-in form, /account");
        assert!(requests("pages", "3xx") >= 2.0, "sign-up and sign-in redirect");
        assert_eq!(requests("admin", "2xx"), 1.0);
        assert_eq!(requests("admin", "3xx"), 1.0, "the signed-out visitor sent to sign in");
        assert_eq!(requests("api", "4xx"), 1.0);
        assert_eq!(requests("static", "2xx"), 1.0);
        assert_eq!(requests("probes", "2xx"), 1.0, "/healthz (this scrape is counted after it)");
        assert_eq!(requests("probes", "5xx"), 0.0);
        assert_eq!(at("latchkey_refresh_rotation_duration_seconds_count"), 1.0);
        assert_eq!(at("latchkey_bcrypt_duration_seconds_count{op=\"hash\"}"), 1.0);
        assert_eq!(at("latchkey_bcrypt_duration_seconds_count{op=\"verify\"}"), 1.0);
        assert!(at("latchkey_bcrypt_duration_seconds_sum{op=\"verify\"}") > 0.0);
        // The names that were there before the histograms still are.
        assert_eq!(at("latchkey_logins_total{outcome=\"success\"}"), 1.0);
        assert_eq!(at("latchkey_refreshes_total{outcome=\"rotated\"}"), 1.0);
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
    let mut p = latchkey(&[("RUST_LOG", "info")]);
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
    let csrf = b.cookie("__Host-csrf").expect("the sign-in form's cookie");

    // The sign-in is held in flight by its own body, not by how long anything takes: a served
    // probe proves the server took the connection, with the sign-in's head and half its body
    // right behind it; the signal comes, and only once the server says it is stopping does the
    // rest of the body follow.
    let body = format!(
        "email={}&password={}&csrf_token={token}&next=",
        EMAIL.replace('@', "%40"),
        PASSWORD.replace(' ', "+")
    );
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let head = format!(
        "POST /login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Cookie: __Host-csrf={csrf}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    // One write, the probe pipelined before the sign-in: once the probe's answer is back the
    // server is reading this connection with the sign-in already in its buffer, so the
    // connection is never idle (a keep-alive pause could be closed on a starved worker).
    let mut out = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec();
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(first);
    conn.write_all(&out).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    while !String::from_utf8_lossy(&seen).contains("\r\n\r\nok") {
        let n = conn.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the server hung up: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    p.signal(signal);
    let stopping = format!("SIG{signal} received");
    assert!(
        p.wait_for_line(&stopping, Duration::from_secs(30))
            .is_some(),
        "no {stopping:?} in {:?}",
        p.stderr
    );
    if let Err(e) = conn.write_all(rest) {
        // Not expected: the server hung up on a request it was still reading. Show its log.
        let _ = p.exit_within(Duration::from_secs(20));
        panic!(
            "the rest of the body could not be sent ({e}); the server said {:?}",
            p.stderr
        );
    }
    let mut answer = Vec::new();
    let _ = conn.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 303"),
        "the sign-in completed: {answer}"
    );
    assert!(
        answer.to_lowercase().contains("location: /account"),
        "{answer}"
    );
    assert!(
        answer.contains("__Host-refresh="),
        "with its session cookies: {answer}"
    );

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

/// Starts the binary at `RUST_LOG=filter`, sends `raw` on one connection, and returns the
/// answer and the log once actix has logged the malformed request `raw` must end with.
fn log_of_a_malformed_exchange(filter: &str, raw: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("log.db").display());
    let server = crate::binary::BinApp::start(
        dir.path(),
        &[("DATABASE_URL", url.as_str()), ("RUST_LOG", filter)],
    );
    let (answer, _, _) = raw_exchange(&server.base, raw, &[], Duration::ZERO);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !server.log.lock().unwrap().contains("stream error") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    (answer, server.stop())
}

const MALFORMED: &str = "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Bad: a\0b\r\n\r\n";

#[test]
fn a_clients_malformed_request_is_a_warning_in_the_log_not_an_error() {
    let (answer, log) = log_of_a_malformed_exchange("info", MALFORMED);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let line = log
        .lines()
        .find(|l| l.contains("stream error"))
        .unwrap_or_else(|| panic!("actix did not log the bad request:\n{log}"));
    assert!(line.contains(" WARN "), "{line}");
    assert!(!log.contains(" ERROR "), "{log}");
}

/// The access log follows `RUST_LOG`: one line per request at `info` (or with the Logger's own
/// target at `info`), and none below it. The second request on the connection is malformed,
/// so actix logs a warning after the first request's line at every level tried here: once the
/// warning is in the log, the first line is there too if it ever will be.
#[test]
fn the_access_log_is_written_exactly_when_rust_log_lets_it() {
    for (filter, expected) in [
        ("info", true),
        // Latchkey's own lines stay at `info`: the harness waits for "listening on".
        (
            "warn,latchkey=info,actix_web::middleware::logger=info",
            true,
        ),
        ("warn,latchkey=info", false),
    ] {
        let raw = format!("GET /healthz?probe=1 HTTP/1.1\r\nHost: x\r\n\r\n{MALFORMED}");
        let (answer, log) = log_of_a_malformed_exchange(filter, &raw);
        assert!(answer.starts_with("HTTP/1.1 200"), "{filter}: {answer}");
        assert!(log.contains("stream error"), "{filter}: {log}");
        assert_eq!(
            log.contains("] 127.0.0.1 \"GET /healthz?probe=1 HTTP/1.1\" 200 2 "),
            expected,
            "{filter}: {log}"
        );
    }
}
