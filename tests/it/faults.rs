//! Faults: the process killed mid-storm and restarted, and SQLite held busy by another writer.
//! Neither may sign anyone out, mint a second live token, or use a token up in a rollback.

use crate::binary::BinApp;
use crate::common::*;
use diesel::connection::SimpleConnection;
use diesel::{Connection, RunQueryDsl, SqliteConnection};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const CLIENTS: usize = 8;

/// A single number from the SQLite file, read without the server.
fn count_in(db_url: &str, sql: &str) -> i64 {
    #[derive(diesel::QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    let mut c = SqliteConnection::establish(db_url).unwrap();
    diesel::sql_query(sql).get_result::<N>(&mut c).unwrap().n
}

/// Live sessions, and how many of them do not have exactly one unused refresh token.
fn invariant(db_url: &str) -> (i64, i64) {
    let live = count_in(
        db_url,
        "SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL",
    );
    let bad = count_in(
        db_url,
        "SELECT COUNT(*) AS n FROM sessions s WHERE s.revoked_at IS NULL AND \
         (SELECT COUNT(*) FROM refresh_tokens t WHERE t.session_id = s.id AND t.used_at IS NULL) <> 1",
    );
    (live, bad)
}

/// One client's refresh token: cookie clients refresh through the guard (`GET /api/me` with
/// only the refresh cookie), API clients through `POST /api/auth/refresh`.
struct Client {
    cookie: bool,
    token: String,
}

/// One refresh; `Ok(None)` when the connection failed (the answer was lost).
async fn refresh(http: &reqwest::Client, base: &str, c: &Client) -> Result<Option<String>, String> {
    let res = if c.cookie {
        http.get(format!("{base}/api/me"))
            .header("cookie", format!("__Host-refresh={}", c.token))
            .send()
            .await
    } else {
        http.post(format!("{base}/api/auth/refresh"))
            .json(&json!({"refresh_token": c.token}))
            .send()
            .await
    };
    let res = match res {
        Ok(r) => r,
        Err(_) => return Ok(None),
    };
    let status = res.status();
    let new = if c.cookie {
        set_cookie(&res, "__Host-refresh")
            .map(|sc| sc.split(';').next().unwrap()["__Host-refresh=".len()..].to_string())
    } else {
        None
    };
    let body = match res.text().await {
        Ok(b) => b,
        Err(_) => return Ok(None),
    };
    if status != StatusCode::OK {
        return Err(format!("{status}: {body}"));
    }
    let new = match new {
        Some(t) => t,
        None => {
            let v: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
            v["refresh_token"].as_str().unwrap_or_default().to_string()
        }
    };
    Ok(Some(new))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_during_a_refresh_storm_signs_nobody_out_and_leaves_one_live_token_per_session() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("storm.db").display());
    let secret = latchkey::config::generate_secret();
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("LATCHKEY_JWT_SECRET", secret.as_str()),
        ("LATCHKEY_REFRESH_GRACE", "120s"),
        ("LATCHKEY_LOGIN_THROTTLE", "false"),
        ("RUST_LOG", "warn,latchkey::http::server=info"),
    ];
    let server = BinApp::start(dir.path(), &env);
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let b = Browser::new(&server.base);
        let email = format!("user{i}@example.com");
        assert_eq!(
            b.register(&email, PASSWORD).await.status(),
            StatusCode::SEE_OTHER
        );
        let token = if i % 2 == 0 {
            b.cookie("__Host-refresh").unwrap()
        } else {
            let res = b
                .send(
                    Method::POST,
                    "/api/auth/token",
                    &[],
                    Some(Body::Json(json!({"email": email, "password": PASSWORD}))),
                )
                .await;
            res.json::<Value>().await.unwrap()["refresh_token"]
                .as_str()
                .unwrap()
                .to_string()
        };
        clients.push(Client {
            cookie: i % 2 == 0,
            token,
        });
    }

    // The storm: every client refreshes in a loop, keeping what each 200 handed it, until the
    // server disappears under it.
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for mut c in clients {
        let (base, stop) = (server.base.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut rounds = 0u32;
            while !stop.load(Ordering::Relaxed) {
                match refresh(&http, &base, &c).await {
                    Ok(Some(t)) => {
                        c.token = t;
                        rounds += 1;
                    }
                    Ok(None) => break,
                    Err(e) => panic!("a refresh during the storm failed: {e}"),
                }
            }
            (c, rounds)
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    stop.store(true, Ordering::Relaxed);
    let mut clients = Vec::new();
    let mut rounds_seen = Vec::new();
    for t in tasks {
        let (c, rounds) = t.await.unwrap();
        assert!(
            rounds > 0,
            "every client refreshed at least once before the crash"
        );
        clients.push(c);
        rounds_seen.push(rounds);
    }

    let total: u32 = rounds_seen.iter().sum();
    let lost = clients
        .iter()
        .filter(|c| {
            let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(c.token.as_bytes()));
            let sql = format!("SELECT COUNT(*) AS n FROM refresh_tokens WHERE token_hash = '{hash}' AND used_at IS NOT NULL");
            count_in(&url, &sql) == 1
        })
        .count();
    eprintln!("storm: {total} refreshes before the kill; {lost} client(s) lost an answer after its commit");
    let (live, bad) = invariant(&url);
    assert_eq!(
        live,
        (CLIENTS + CLIENTS / 2) as i64,
        "no session was ended by the crash"
    );
    assert_eq!(
        bad, 0,
        "a live session without exactly one unused refresh token"
    );

    // Restarted on the same database: every client's last kept token still works (a token whose
    // answer was lost is inside the grace window and is handed the same successor).
    let server = BinApp::start(dir.path(), &env);
    let http = reqwest::Client::new();
    for c in &mut clients {
        for _ in 0..2 {
            let next = refresh(&http, &server.base, c).await;
            c.token = next.expect("still signed in").expect("an answer");
        }
    }
    let (live_after, bad_after) = invariant(&url);
    assert_eq!(live_after, live);
    assert_eq!(bad_after, 0);
    let reuse = count_in(
        &url,
        "SELECT COUNT(*) AS n FROM audit_events WHERE kind = 'refresh_reuse_detected'",
    );
    assert_eq!(reuse, 0, "no honest client was taken for a thief");
    drop(server);
}

/// Holds SQLite's write lock from another connection for `secs` seconds (longer than the
/// server's 5 s busy timeout); returns once the lock is taken.
fn hold_write_lock(url: &str, secs: u64) -> std::thread::JoinHandle<()> {
    let url = url.to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let mut c = SqliteConnection::establish(&url).unwrap();
        c.batch_execute("BEGIN IMMEDIATE").unwrap();
        tx.send(()).unwrap();
        std::thread::sleep(Duration::from_secs(secs));
        c.batch_execute("ROLLBACK").unwrap();
    });
    rx.recv().unwrap();
    h
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

    let lock = hold_write_lock(&app.database_url, 9);
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
    lock.join().unwrap();

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
