//! Revocation reaching live access tokens: at once on the instance that revokes, and within
//! `LATCHKEY_REVOCATION_SYNC` on every other instance, without a database query per request.

use crate::admin::ADMIN;
use crate::common::*;
use crate::devices::{access_only, login_as, sid_of, CHROME_UA};
use reqwest::StatusCode;
use std::time::{Duration, Instant};

/// `GET /api/me` with a bearer token: never refreshes, so only the revocation check can refuse it.
async fn me(app: &TestApp, token: &str) -> (StatusCode, String) {
    let auth = format!("Bearer {token}");
    let res = Browser::new(&app.base)
        .send(
            reqwest::Method::GET,
            "/api/me",
            &[("authorization", &auth)],
            None,
        )
        .await;
    (res.status(), res.text().await.unwrap())
}

on_both! {
    async fn every_revocation_path_refuses_the_live_access_token_at_once_on_this_instance(store) {
        // A sync interval far longer than the test: only the immediate insert can explain it.
        let app = TestApp::spawn_with(store, |e| {
            e.insert("LATCHKEY_REVOCATION_SYNC".into(), "5m".into());
        })
        .await;
        let admin = app.signed_in(ADMIN).await;
        let ann = app.signed_in("ann@example.com").await;
        let (ann_id, _) = app.ids_of("ann@example.com");
        let user_page = format!("/admin/users/{ann_id}");
        let refused = |b: Browser| async move {
            let res = b.get("/account").await;
            location(&res) == "/login?reason=revoked&next=/account"
        };

        // The user ends another of their sessions.
        let victim = login_as(&app, "ann@example.com", CHROME_UA).await;
        let live = access_only(&victim);
        assert_eq!(live.get("/account").await.status(), StatusCode::OK);
        ann.post_signed_in("/account/sessions", &format!("/account/sessions/{}/revoke", sid_of(&victim)), &[]).await;
        assert!(refused(live).await, "user: end one");

        // The user ends all other sessions.
        let victim = login_as(&app, "ann@example.com", CHROME_UA).await;
        let live = access_only(&victim);
        ann.post_signed_in("/account/sessions", "/account/sessions/revoke-others", &[]).await;
        assert!(refused(live).await, "user: end others");

        // An admin ends one session.
        let victim = login_as(&app, "ann@example.com", CHROME_UA).await;
        let live = access_only(&victim);
        admin.post_signed_in(&user_page, &format!("/admin/sessions/{}/revoke", sid_of(&victim)), &[]).await;
        assert!(refused(live).await, "admin: end one");

        // An admin ends all of them (the user's own current one too).
        let live = access_only(&ann);
        admin.post_signed_in(&user_page, &format!("{user_page}/revoke-all"), &[]).await;
        assert!(refused(live).await, "admin: end all");

        // An admin disables the account.
        let victim = login_as(&app, "ann@example.com", CHROME_UA).await;
        let live = access_only(&victim);
        admin.post_signed_in(&user_page, &format!("{user_page}/disable"), &[]).await;
        assert!(refused(live).await, "admin: disable");
    }
}

on_both! {
    async fn a_revocation_reaches_a_sibling_instance_within_the_sync_bound(store) {
        let app = TestApp::on(store).await;
        let other = app
            .sibling(|e| {
                e.insert("LATCHKEY_REVOCATION_SYNC".into(), "1s".into());
            })
            .await;
        let admin = app.signed_in(ADMIN).await;
        let bob = app.signed_in("bob@example.com").await;
        let token = bob.cookie("__Host-access").unwrap();
        assert_eq!(me(&other, &token).await.0, StatusCode::OK, "the sibling accepts the token");

        let (bob_id, _) = app.ids_of("bob@example.com");
        let res = admin
            .post_signed_in("/admin", &format!("/admin/users/{bob_id}/revoke-all"), &[])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let revoked_at = Instant::now();
        assert_eq!(me(&app, &token).await.0, StatusCode::UNAUTHORIZED, "at once here");

        // The sibling learns it from its sync, within LATCHKEY_REVOCATION_SYNC (1 s here); the
        // deadline adds slack for a loaded test machine.
        let deadline = revoked_at + Duration::from_secs(1) + Duration::from_millis(1500);
        let (status, body) = loop {
            let (status, body) = me(&other, &token).await;
            if status != StatusCode::OK || Instant::now() > deadline {
                break (status, body);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert!(body.contains("SESSION_REVOKED"), "{body}");
    }
}

on_both! {
    async fn a_revoked_token_is_refused_on_a_sibling_without_a_database_query_per_request(store) {
        let app = TestApp::on(store).await;
        let other = app
            .sibling(|e| {
                e.insert("LATCHKEY_REVOCATION_SYNC".into(), "5m".into());
            })
            .await;
        let bob = app.signed_in("bob@example.com").await;
        let token = bob.cookie("__Host-access").unwrap();
        bob.post_signed_in("/account", "/logout", &[]).await;
        // A sibling started after the revocation loads it at start-up, then serves from memory.
        let late = app
            .sibling(|e| {
                e.insert("LATCHKEY_REVOCATION_SYNC".into(), "5m".into());
            })
            .await;
        let before = late.db.checkouts();
        for _ in 0..20 {
            assert_eq!(me(&late, &token).await.0, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(late.db.checkouts(), before, "refusals cost no database query");
        // The sibling that was already running syncs only every 2.5 minutes here: until then it
        // still accepts the token, which is exactly the bound LATCHKEY_REVOCATION_SYNC sets.
        assert_eq!(me(&other, &token).await.0, StatusCode::OK);
        other.app_state.auth.revocations.sync_now(&other.db).await.unwrap();
        assert_eq!(me(&other, &token).await.0, StatusCode::UNAUTHORIZED);
    }
}
