//! Several instances on one database (as behind a load balancer without sticky sessions): they
//! agree on revocations within `LATCHKEY_REVOCATION_SYNC`, on reuse, and on rotation races.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const EMAIL: &str = "ann@example.com";
/// The revocation bound both instances run with.
const SYNC: Duration = Duration::from_secs(2);
/// Room for the probe's own round trip on a loaded test machine.
const SLACK: Duration = Duration::from_millis(500);

fn sync(env: &mut std::collections::BTreeMap<String, String>) {
    env.insert("LATCHKEY_REVOCATION_SYNC".into(), "2s".into());
}

/// The same cookies, talking to another instance.
fn at(b: &Browser, app: &TestApp) -> Browser {
    let mut c = b.clone_cookies();
    c.base = app.base.clone();
    c
}

/// Polls `/account` on `instance` with a copy of `cookies` (access cookie only, so the answer
/// comes from the access token and never from a refresh) until it is refused as revoked.
async fn refused_as_revoked_within(cookies: &Browser, instance: &TestApp, bound: Duration) {
    let deadline = Instant::now() + bound;
    loop {
        let probe = at(cookies, instance);
        probe.remove_cookie("__Host-refresh");
        let res = probe.get("/account").await;
        if res.status() == StatusCode::SEE_OTHER {
            assert_eq!(location(&res), "/login?reason=revoked&next=/account");
            return;
        }
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "served until the revocation arrives"
        );
        assert!(
            Instant::now() < deadline,
            "instance B still serves the revoked session after {bound:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn refresh(b: &Browser, token: &str) -> (StatusCode, Value) {
    let res = b
        .send(
            Method::POST,
            "/api/auth/refresh",
            &[],
            Some(Body::Json(json!({ "refresh_token": token }))),
        )
        .await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn token_pair(app: &TestApp) -> Value {
    let res = Browser::new(&app.base)
        .send(
            Method::POST,
            "/api/auth/token",
            &[],
            Some(Body::Json(json!({"email": EMAIL, "password": PASSWORD}))),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

on_both! {
    async fn signing_out_on_one_instance_ends_the_session_on_the_other_within_the_sync_bound(store) {
        let a = TestApp::spawn_with(store, sync).await;
        let b = a.sibling(sync).await;
        let browser = a.signed_in(EMAIL).await;
        assert_eq!(at(&browser, &b).get("/account").await.status(), StatusCode::OK);
        let cookies = browser.clone_cookies();

        let res = browser.post_signed_in("/account", "/logout", &[]).await;
        assert_eq!(location(&res), "/login?reason=signed_out");
        refused_as_revoked_within(&cookies, &b, SYNC + SLACK).await;
    }
}

on_both! {
    async fn a_password_change_on_one_instance_ends_other_sessions_on_the_other(store) {
        let a = TestApp::spawn_with(store, sync).await;
        let b = a.sibling(sync).await;
        let here = a.signed_in(EMAIL).await;
        let elsewhere = b.browser();
        elsewhere.login(EMAIL, PASSWORD).await;
        assert_eq!(elsewhere.get("/account").await.status(), StatusCode::OK);

        let res = here
            .post_signed_in(
                "/account",
                "/account/password",
                &[
                    ("current_password", PASSWORD),
                    ("new_password", "a brand new password"),
                ],
            )
            .await;
        assert!(res.status().is_redirection() || res.status().is_success());
        refused_as_revoked_within(&elsewhere, &b, SYNC + SLACK).await;
        assert_eq!(here.get("/account").await.status(), StatusCode::OK, "this session lives on");
    }
}

on_both! {
    async fn a_token_rotated_on_one_instance_and_replayed_on_the_other_after_the_grace_window_is_reuse(store) {
        let a = TestApp::on(store).await;
        let b = a.sibling(|_| {}).await;
        a.signed_in(EMAIL).await;
        let pair = token_pair(&a).await;
        let old = pair["refresh_token"].as_str().unwrap().to_string();
        let (status, rotated) = refresh(&Browser::new(&a.base), &old).await;
        assert_eq!(status, StatusCode::OK);
        let successor = rotated["refresh_token"].as_str().unwrap().to_string();

        a.exec("UPDATE refresh_tokens SET used_at = used_at - 60 WHERE used_at IS NOT NULL");
        let on_b = Browser::new(&b.base);
        let (status, body) = refresh(&on_b, &old).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("REFRESH_REUSED")));
        assert_eq!(a.audit("refresh_reuse_detected").len(), 1);
        assert_eq!(
            a.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_reason = 'reused'"),
            1
        );
        // The family is gone on both instances.
        let (status, _) = refresh(&Browser::new(&a.base), &successor).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
}

on_both! {
    async fn parallel_refreshes_split_across_two_instances_yield_one_successor(store) {
        let a = TestApp::on(store).await;
        let b = a.sibling(|_| {}).await;
        a.signed_in(EMAIL).await;
        let pair = token_pair(&a).await;
        let token = pair["refresh_token"].as_str().unwrap().to_string();
        let mut tasks = Vec::new();
        for i in 0..40 {
            let client = Browser::new(if i % 2 == 0 { &a.base } else { &b.base });
            let token = token.clone();
            tasks.push(tokio::spawn(async move { refresh(&client, &token).await }));
        }
        let mut successors = BTreeSet::new();
        for t in tasks {
            let (status, body) = t.await.unwrap();
            assert_eq!(status, StatusCode::OK, "{body}");
            successors.insert(body["refresh_token"].as_str().unwrap().to_string());
        }
        assert_eq!(successors.len(), 1, "every racer on either instance holds the same successor");
        // Two sign-ins (the page and the API) and exactly one successor.
        assert_eq!(a.count("SELECT COUNT(*) AS n FROM refresh_tokens"), 3);
        assert_eq!(
            a.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE used_at IS NULL"),
            2
        );
        assert_eq!(
            a.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NOT NULL"),
            0
        );
        assert!(a.audit("refresh_reuse_detected").is_empty());
        let (status, _) = refresh(&Browser::new(&b.base), successors.first().unwrap()).await;
        assert_eq!(status, StatusCode::OK, "the shared successor is the live token");
    }
}

on_both! {
    async fn fifty_parallel_page_requests_on_one_expired_pair_get_one_successor_and_no_revocation(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        app.age_access(&b, EMAIL, 3600);
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let tab = b.clone_cookies();
            tasks.push(tokio::spawn(async move {
                let res = tab.get("/account").await;
                (res.status(), tab.cookie("__Host-refresh"))
            }));
        }
        let mut successors = BTreeSet::new();
        for t in tasks {
            let (status, refresh) = t.await.unwrap();
            assert_eq!(status, StatusCode::OK);
            successors.insert(refresh.unwrap());
        }
        assert_eq!(successors.len(), 1);
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE used_at IS NULL"),
            1
        );
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM refresh_tokens"),
            2,
            "exactly one successor was minted"
        );
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NOT NULL"),
            0
        );
        assert!(app.audit("refresh_reuse_detected").is_empty());
    }
}

on_both! {
    async fn a_revocation_dated_far_in_the_past_still_reaches_the_other_instance(store) {
        // The sibling syncs on the order the database gives revocations, not on their dates:
        // a revoking instance whose clock is an hour behind, or a commit that landed late, is
        // still heard.
        let a = TestApp::spawn_with(store, sync).await;
        let b = a.sibling(sync).await;
        let browser = a.signed_in(EMAIL).await;
        assert_eq!(at(&browser, &b).get("/account").await.status(), StatusCode::OK);
        // Let the sibling sync a few times first, so its idea of "since" has moved on.
        tokio::time::sleep(SYNC * 2).await;
        let (_, sid) = a.ids_of(EMAIL);
        let long_ago = latchkey::db::now() - 3600;
        a.exec(&format!(
            "UPDATE sessions SET revoked_at = {long_ago}, revoked_reason = 'revoked' WHERE id = '{sid}'"
        ));
        refused_as_revoked_within(&browser, &b, SYNC + SLACK).await;
    }
}

/// Holds PostgreSQL's `activity` table locked against writes from another connection until
/// told to let go, so the instances' activity flushes hang as under a long write storm.
fn hold_activity_lock(url: &str) -> (std::sync::mpsc::Sender<()>, std::thread::JoinHandle<()>) {
    use diesel::connection::SimpleConnection;
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let url = url.to_string();
    let holder = std::thread::spawn(move || {
        let mut c = <diesel::PgConnection as diesel::Connection>::establish(&url).unwrap();
        c.batch_execute("BEGIN; LOCK TABLE activity IN EXCLUSIVE MODE")
            .unwrap();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(20));
        c.batch_execute("COMMIT").unwrap();
    });
    locked_rx.recv().unwrap();
    (release_tx, holder)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_during_a_write_storm_reaches_the_other_instance_within_the_sync_bound() {
    if postgres_url().is_none() {
        return;
    }
    // On PostgreSQL a write can wait on a row or table lock for up to the statement timeout
    // (10 s) while other tables stay writable. Here every activity write waits, and the
    // sibling has activity to write, while a session is ended on the first instance.
    let a = TestApp::spawn_with(Store::Postgres, sync).await;
    let b = a.sibling(sync).await;
    let browser = a.signed_in(EMAIL).await;
    assert_eq!(
        at(&browser, &b).get("/account").await.status(),
        StatusCode::OK
    );
    let cookies = browser.clone_cookies();
    let (release, holder) = hold_activity_lock(&a.database_url);
    // Sign-ins on the sibling leave activity counts for it to write, which now hang.
    let storm = futures_util::future::join_all((0..8).map(|_| async {
        Browser::new(&b.base)
            .send(
                Method::POST,
                "/api/auth/token",
                &[],
                Some(Body::Json(json!({"email": EMAIL, "password": PASSWORD}))),
            )
            .await
            .status()
    }))
    .await;
    assert!(storm.iter().all(|s| *s == StatusCode::OK), "{storm:?}");
    // Give the sibling's background work time to run into the lock.
    tokio::time::sleep(SYNC).await;
    let res = browser.post_signed_in("/account", "/logout", &[]).await;
    assert_eq!(location(&res), "/login?reason=signed_out");
    refused_as_revoked_within(&cookies, &b, SYNC + SLACK).await;
    release.send(()).unwrap();
    holder.join().unwrap();
}
