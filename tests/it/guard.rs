//! The session guard: transparent and proactive refresh, the grace race, reuse detection,
//! idle and absolute expiry, the redirect with reason and next, and database failures.

use crate::common::*;
use reqwest::StatusCode;

const EMAIL: &str = "ann@example.com";

on_both! {
    async fn a_valid_access_cookie_costs_no_database_query(store) {
        let app = TestApp::spawn_with(store, |e| {
            e.insert("LATCHKEY_REVOCATION_SYNC".into(), "5m".into());
        })
        .await;
        let b = app.signed_in(EMAIL).await;
        assert_eq!(b.get("/account").await.status(), StatusCode::OK);
        let before = app.db.checkouts();
        for _ in 0..20 {
            let res = b.get("/account").await;
            assert_eq!(res.status(), StatusCode::OK);
            assert!(set_cookies(&res).is_empty(), "nothing to rotate");
        }
        assert_eq!(
            app.db.checkouts(),
            before,
            "the hot path took a database connection"
        );
    }
}

on_both! {
    async fn an_expired_access_token_is_refreshed_transparently_and_rotated(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        let old_refresh = b.cookie("__Host-refresh").unwrap();
        app.age_access(&b, EMAIL, 3600);
        let res = b.get("/account").await;
        assert_eq!(res.status(), StatusCode::OK, "the page renders");
        let new_refresh = set_cookie(&res, "__Host-refresh").expect("rotated refresh cookie");
        assert!(set_cookie(&res, "__Host-access").is_some());
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert!(!new_refresh.contains(&old_refresh));
        assert!(res.text().await.unwrap().contains(EMAIL));
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE used_at IS NOT NULL"),
            1
        );
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE used_at IS NULL"),
            1
        );
    }
}

on_both! {
    async fn a_missing_access_cookie_is_refreshed_from_the_refresh_cookie(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        b.remove_cookie("__Host-access");
        let res = b.get("/account").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(set_cookie(&res, "__Host-access").is_some());
    }
}

on_both! {
    async fn an_access_token_about_to_expire_is_refreshed_proactively(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        app.age_access(&b, EMAIL, 900 - 30);
        let res = b.get("/account").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            set_cookie(&res, "__Host-refresh").is_some(),
            "refreshed ahead of expiry"
        );
        app.age_access(&b, EMAIL, 900 - 300);
        let res = b.get("/account").await;
        assert!(set_cookies(&res).is_empty(), "not yet due");
    }
}

on_both! {
    async fn a_forged_access_token_never_triggers_a_refresh(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        let token = b.cookie("__Host-access").unwrap();
        let (head, sig) = token.rsplit_once('.').unwrap();
        let flipped = if sig.starts_with('A') { "B" } else { "A" };
        b.set_cookie("__Host-access", &format!("{head}.{flipped}{}", &sig[1..]));
        let res = b.get("/account").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE used_at IS NOT NULL"),
            0
        );
    }
}

on_both! {
    async fn without_a_session_a_page_redirects_to_sign_in_with_reason_and_next(store) {
        let app = TestApp::on(store).await;
        let res = app.browser().get("/account?tab=security").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            location(&res),
            "/login?reason=expired&next=/account%3Ftab%3Dsecurity"
        );
        let page = app
            .browser()
            .get(&location(&res))
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("Your session has expired. Please sign in again."));
        assert!(page.contains("name=\"next\" value=\"/account?tab=security\""));
    }
}

on_both! {
    async fn twenty_parallel_requests_racing_on_one_expired_pair_all_succeed_with_one_successor(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        app.age_access(&b, EMAIL, 3600);
        let mut tasks = Vec::new();
        for _ in 0..24 {
            let tab = b.clone_cookies();
            tasks.push(tokio::spawn(async move {
                let res = tab.get("/account").await;
                (res.status(), tab.cookie("__Host-refresh"))
            }));
        }
        let mut successors = std::collections::BTreeSet::new();
        for t in tasks {
            let (status, refresh) = t.await.unwrap();
            assert_eq!(status, StatusCode::OK);
            successors.insert(refresh.unwrap());
        }
        assert_eq!(successors.len(), 1, "every racer holds the same successor");
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE used_at IS NULL"),
            1
        );
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NOT NULL"),
            0
        );
        assert!(app.audit("refresh_reuse_detected").is_empty());
        // The successor they all hold is the live one.
        let tab = b.clone_cookies();
        tab.set_cookie("__Host-refresh", successors.iter().next().unwrap());
        app.age_access(&tab, EMAIL, 3600);
        assert_eq!(tab.get("/account").await.status(), StatusCode::OK);
    }
}

on_both! {
    async fn reuse_after_the_grace_window_revokes_the_family_for_every_holder(store) {
        let app = TestApp::on(store).await;
        let victim = app.signed_in(EMAIL).await;
        let mut thief = victim.clone_cookies();
        thief.user_agent = "curl/8.0 (thief)".into();
        app.age_access(&victim, EMAIL, 3600);
        assert_eq!(
            victim.get("/account").await.status(),
            StatusCode::OK,
            "the victim rotates"
        );
        app.exec("UPDATE refresh_tokens SET used_at = used_at - 60 WHERE used_at IS NOT NULL");

        app.age_access(&thief, EMAIL, 3600);
        let res = thief.get("/account").await;
        assert_eq!(location(&res), "/login?reason=reused&next=/account");
        assert!(set_cookie(&res, "__Host-refresh")
            .unwrap()
            .contains("Max-Age=0"));
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_reason = 'reused'"),
            1
        );
        let events = app.audit("refresh_reuse_detected");
        assert_eq!(events.len(), 1);
        let detail: serde_json::Value = serde_json::from_str(&events[0].detail).unwrap();
        assert!(detail["first_use"]["user_agent"]
            .as_str()
            .unwrap()
            .contains("Firefox"));
        assert_eq!(detail["second_use"]["user_agent"], "curl/8.0 (thief)");

        // The victim's access token is still unexpired, yet the next click ends on the same page.
        let res = victim.get("/account").await;
        assert_eq!(location(&res), "/login?reason=reused&next=/account");
        let page = victim.get(&location(&res)).await.text().await.unwrap();
        assert!(page.contains("For your safety we ended your session"));
    }
}

on_both! {
    async fn idle_and_absolute_lifetimes_end_the_session(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        app.exec("UPDATE sessions SET last_used_at = last_used_at - 8 * 86400");
        app.age_access(&b, EMAIL, 3600);
        let res = b.get("/account").await;
        assert_eq!(location(&res), "/login?reason=expired&next=/account");
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE used_at IS NULL"),
            1,
            "nothing used up"
        );

        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        app.exec("UPDATE sessions SET expires_at = created_at - 1");
        app.age_access(&b, EMAIL, 3600);
        assert_eq!(
            location(&b.get("/account").await),
            "/login?reason=expired&next=/account"
        );
    }
}

on_both! {
    async fn a_session_ended_elsewhere_sends_the_user_to_sign_in_with_reason_revoked(store) {
        let app = TestApp::on(store).await;
        let a = app.signed_in(EMAIL).await;
        let b = app.browser();
        b.login(EMAIL, PASSWORD).await;
        a.post_signed_in(
            "/account",
            "/account/password",
            &[
                ("current_password", PASSWORD),
                ("new_password", "a brand new password"),
            ],
        )
        .await;
        let res = b.get("/account").await;
        assert_eq!(location(&res), "/login?reason=revoked&next=/account");
        let page = b.get(&location(&res)).await.text().await.unwrap();
        assert!(page.contains("Your session was ended"));
    }
}

on_both! {
    async fn a_database_failure_during_refresh_is_a_503_that_keeps_the_cookies_and_the_token(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        app.age_access(&b, EMAIL, 3600);
        let before = b.cookie("__Host-refresh").unwrap();
        app.exec("ALTER TABLE refresh_tokens RENAME TO refresh_tokens_away");
        let res = b.get("/account").await;
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(set_cookies(&res).is_empty(), "cookies untouched");
        assert!(res.text().await.unwrap().contains("try again"));
        app.exec("ALTER TABLE refresh_tokens_away RENAME TO refresh_tokens");
        assert_eq!(b.cookie("__Host-refresh").unwrap(), before);
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE used_at IS NOT NULL"),
            0,
            "not used up"
        );
        let res = b.get("/account").await;
        assert_eq!(
            res.status(),
            StatusCode::OK,
            "the same cookies work once the database is back"
        );
    }
}

on_both! {
    async fn two_cookies_with_the_access_name_are_refused(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        let access = b.cookie("__Host-access").unwrap();
        let res = b
            .send(
                reqwest::Method::GET,
                "/api/me",
                &[("cookie", &format!("__Host-access={access}"))],
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "INVALID_TOKEN");
    }
}

on_both! {
    async fn a_post_without_a_session_redirects_to_sign_in_without_next(store) {
        let app = TestApp::on(store).await;
        let res = app
            .browser()
            .post_form("/account/password", &[("csrf_token", "x")])
            .await;
        assert_eq!(location(&res), "/login?reason=expired");
    }
}
