//! Faults: the real binary SIGKILLed in the middle of a refresh storm and restarted on the same
//! database. Nobody is signed out, and every live session keeps exactly one unused token.

use crate::binary::BinApp;
use crate::common::*;
use diesel::{Connection, RunQueryDsl, SqliteConnection};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
pub struct Client {
    pub cookie: bool,
    pub token: String,
}

/// One refresh; `Ok(None)` when the connection failed (the answer was lost).
pub async fn refresh(
    http: &reqwest::Client,
    base: &str,
    c: &Client,
) -> Result<Option<String>, String> {
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
    let under_way = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for mut c in clients {
        let (base, stop, under_way) = (server.base.clone(), stop.clone(), under_way.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut rounds = 0u32;
            while !stop.load(Ordering::Relaxed) {
                match refresh(&http, &base, &c).await {
                    Ok(Some(t)) => {
                        c.token = t;
                        rounds += 1;
                        if rounds == 1 {
                            under_way.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(None) => break,
                    Err(e) => panic!("a refresh during the storm failed: {e}"),
                }
            }
            (c, rounds)
        }));
    }
    // The crash comes once every client is refreshing (not after a fixed time, which a busy
    // machine could spend before the first refresh is through); they all still are.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    // (A client that failed has finished: its panic is reported below.)
    while under_way.load(Ordering::Relaxed) < CLIENTS && !tasks.iter().any(|t| t.is_finished()) {
        assert!(
            std::time::Instant::now() < deadline,
            "the storm never got going"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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
