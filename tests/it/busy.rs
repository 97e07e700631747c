//! SQLite under contention: a writer holding the lock past the busy timeout gets the refresh a
//! 503 (never a 401, nothing used up), and sign-ups and sign-ins racing a refresh storm never
//! see a busy database at all.

use crate::common::*;
use crate::faults::{refresh, Client};
use diesel::connection::SimpleConnection;
use diesel::{Connection, SqliteConnection};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// SQLite's write lock, held from another connection until [`WriteLock::release`]: for as
/// long as the test needs, however slowly its requests arrive, never for a fixed time.
struct WriteLock {
    release: std::sync::mpsc::Sender<()>,
    holder: std::thread::JoinHandle<()>,
}

impl WriteLock {
    /// Takes the lock; returns once it is held.
    fn take(url: &str) -> Self {
        let url = url.to_string();
        let (taken, is_taken) = std::sync::mpsc::channel();
        let (release, released) = std::sync::mpsc::channel::<()>();
        let holder = std::thread::spawn(move || {
            let mut c = SqliteConnection::establish(&url).unwrap();
            c.batch_execute("BEGIN IMMEDIATE").unwrap();
            taken.send(()).unwrap();
            let _ = released.recv();
            c.batch_execute("ROLLBACK").unwrap();
        });
        is_taken.recv().unwrap();
        Self { release, holder }
    }

    /// Lets go of the lock and waits until it is gone.
    fn release(self) {
        let _ = self.release.send(());
        self.holder.join().unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_sqlite_is_retried_then_answered_503_and_nothing_is_used_up() {
    let app = TestApp::on(Store::Sqlite).await;
    let b = app.signed_in("ann@example.com").await;
    let pair: Value = b
        .send(
            Method::POST,
            "/api/auth/token",
            &[],
            Some(Body::Json(
                json!({"email": "ann@example.com", "password": PASSWORD}),
            )),
        )
        .await
        .json()
        .await
        .unwrap();
    b.remove_cookie("__Host-access");
    let cookies_before = b.jar.lock().unwrap().clone();
    let used_before =
        app.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE used_at IS NOT NULL");

    // Held until both answers are in: each request gives up after the server's 5 s busy
    // timeout while the lock is still held, however long the requests took to arrive.
    let lock = WriteLock::take(&app.database_url);
    let api = Browser::new(&app.base);
    let (page, json) = tokio::join!(
        b.get("/account"),
        api.send(
            Method::POST,
            "/api/auth/refresh",
            &[],
            Some(Body::Json(json!({"refresh_token": pair["refresh_token"]}))),
        )
    );
    assert_eq!(
        page.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "a page: 503, not a sign-in redirect"
    );
    assert!(set_cookies(&page).is_empty(), "the cookies are left alone");
    assert_eq!(
        json.status(),
        StatusCode::SERVICE_UNAVAILABLE,
        "the API: 503, never 401"
    );
    assert!(json.headers().contains_key("retry-after"));
    assert_eq!(
        json.json::<Value>().await.unwrap()["code"],
        "SERVICE_UNAVAILABLE"
    );
    lock.release();

    assert_eq!(*b.jar.lock().unwrap(), cookies_before);
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE used_at IS NOT NULL"),
        used_before,
        "no refresh token was used up by the transactions that gave up"
    );
    let res = b.get("/account").await;
    assert_eq!(
        res.status(),
        StatusCode::OK,
        "the same cookies work once the lock is gone"
    );
    assert!(set_cookie(&res, "__Host-refresh").is_some());
    let res = api
        .send(
            Method::POST,
            "/api/auth/refresh",
            &[],
            Some(Body::Json(json!({"refresh_token": pair["refresh_token"]}))),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK, "the same refresh token works");
    assert!(app.audit("refresh_reuse_detected").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_ups_and_sign_ins_during_a_refresh_storm_on_sqlite_never_see_a_busy_database() {
    let app = TestApp::spawn_with(Store::Sqlite, |e| {
        e.insert("LATCHKEY_LOGIN_THROTTLE".into(), "false".into());
    })
    .await;
    let browsers: Vec<Browser> = (0..12).map(|_| app.browser()).collect();
    for b in &browsers {
        b.form_token("/register", "/register").await;
    }
    let signups = browsers.iter().enumerate().map(|(i, b)| async move {
        b.register(&format!("u{i}@example.com"), PASSWORD)
            .await
            .status()
    });
    let statuses = futures_util::future::join_all(signups).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::SEE_OTHER),
        "{statuses:?}"
    );
    // Each browser signs in again while presenting its family (a read, then writes), all at
    // once, while other clients keep rotating refresh tokens (writes) underneath.
    let stop = Arc::new(AtomicBool::new(false));
    let mut storm = Vec::new();
    for i in 0..4 {
        let (base, stop) = (app.base.clone(), stop.clone());
        let body = json!({"email": format!("u{i}@example.com"), "password": PASSWORD});
        let pair: Value = reqwest::Client::new()
            .post(format!("{base}/api/auth/token"))
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut c = Client {
            cookie: false,
            token: pair["refresh_token"].as_str().unwrap().into(),
        };
        storm.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            while !stop.load(Ordering::Relaxed) {
                c.token = refresh(&http, &base, &c).await.unwrap().unwrap();
            }
        }));
    }
    let late: Vec<Browser> = (0..6).map(|_| app.browser()).collect();
    for b in &late {
        b.form_token("/register", "/register").await;
    }
    let signins = browsers.iter().enumerate().map(|(i, b)| async move {
        b.login(&format!("u{i}@example.com"), PASSWORD)
            .await
            .status()
    });
    let signups = late.iter().enumerate().map(|(i, b)| async move {
        b.register(&format!("late{i}@example.com"), PASSWORD)
            .await
            .status()
    });
    let (mut statuses, more) = tokio::join!(
        futures_util::future::join_all(signins),
        futures_util::future::join_all(signups)
    );
    statuses.extend(more);
    stop.store(true, Ordering::Relaxed);
    for t in storm {
        t.await.expect("no refresh failed during the sign-ins");
    }
    assert!(
        statuses.iter().all(|s| *s == StatusCode::SEE_OTHER),
        "{statuses:?}"
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL"),
        12 + 4 + 6
    );
    assert_eq!(
        app.count("SELECT COUNT(*) AS n FROM users WHERE role = 'admin'"),
        1
    );
}
