//! The devices page: listing the user's sessions, ending one, ending all others.

use crate::common::*;
use base64::Engine;
use reqwest::StatusCode;

pub const CHROME_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

/// The session id inside a browser's access cookie.
pub fn sid_of(b: &Browser) -> String {
    let token = b.cookie("__Host-access").expect("signed in");
    let payload = token.split('.').nth(1).unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    let claims: serde_json::Value = serde_json::from_slice(&json).unwrap();
    claims["sid"].as_str().unwrap().to_string()
}

/// A copy of a browser holding only its access token: it can never refresh, so only the
/// revocation check stands between it and the page.
pub fn access_only(b: &Browser) -> Browser {
    let c = b.clone_cookies();
    c.remove_cookie("__Host-refresh");
    c
}

/// Signs `email` in from a new browser with the given user agent.
pub async fn login_as(app: &TestApp, email: &str, ua: &str) -> Browser {
    let mut b = app.browser();
    b.user_agent = ua.into();
    assert_eq!(
        b.login(email, PASSWORD).await.status(),
        StatusCode::SEE_OTHER
    );
    b
}

fn revoke_action(sid: &str) -> String {
    format!("/account/sessions/{sid}/revoke")
}

on_both! {
    async fn the_devices_page_lists_each_live_session_and_marks_this_one(store) {
        let app = TestApp::on(store).await;
        let here = app.signed_in("ann@example.com").await;
        let chrome = login_as(&app, "ann@example.com", CHROME_UA).await;
        let bob = app.signed_in("bob@example.com").await;
        let res = here.get("/account/sessions").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let page = res.text().await.unwrap();
        assert!(page.contains("Firefox on Linux"), "{page}");
        assert!(page.contains("Chrome on Windows"));
        assert!(page.contains("127.0.0.1"));
        assert!(page.contains("just now"));
        assert!(page.contains(" UTC"));
        assert_eq!(page.matches("This device").count(), 1);
        assert!(page.contains(&revoke_action(&sid_of(&here))));
        assert!(page.contains(&revoke_action(&sid_of(&chrome))));
        assert!(!page.contains(&revoke_action(&sid_of(&bob))), "another user's session is not listed");
        assert!(page.contains("Sign out all other sessions"));

        // A signed-out visitor is sent to sign in.
        let res = app.browser().get("/account/sessions").await;
        assert_eq!(location(&res), "/login?reason=expired&next=/account/sessions");
    }
}

on_both! {
    async fn the_client_address_honours_trusted_proxies(store) {
        let app = TestApp::spawn_with(store, |e| {
            e.insert("LATCHKEY_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
        })
        .await;
        let b = app.browser();
        let token = b.form_token("/register", "/register").await;
        let form = vec![
            ("email".to_string(), "ann@example.com".to_string()),
            ("password".to_string(), PASSWORD.to_string()),
            ("csrf_token".to_string(), token),
        ];
        let res = b
            .send(
                reqwest::Method::POST,
                "/register",
                &[("x-forwarded-for", "203.0.113.9")],
                Some(Body::Form(form)),
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let page = b.get("/account/sessions").await.text().await.unwrap();
        assert!(page.contains("203.0.113.9"), "{page}");
    }
}

on_both! {
    async fn ending_another_session_signs_that_device_out_and_is_audited(store) {
        let app = TestApp::on(store).await;
        let here = app.signed_in("ann@example.com").await;
        let there = login_as(&app, "ann@example.com", CHROME_UA).await;
        let sid = sid_of(&there);
        let res = here
            .post_signed_in("/account/sessions", &revoke_action(&sid), &[])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), "/account/sessions?notice=session_revoked");
        let page = here.get(&location(&res)).await.text().await.unwrap();
        assert!(page.contains("The session was ended."));
        assert!(!page.contains(&revoke_action(&sid)));

        let res = there.get("/account").await;
        assert_eq!(location(&res), "/login?reason=revoked&next=/account");
        assert_eq!(here.get("/account").await.status(), StatusCode::OK);
        let events = app.audit("session_revoked");
        assert_eq!(events.len(), 1);
        let (uid, _) = app.ids_of("ann@example.com");
        assert_eq!(events[0].session_id.as_deref(), Some(sid.as_str()));
        assert_eq!(events[0].actor_id.as_deref(), Some(uid.as_str()));
        assert_eq!(events[0].user_id.as_deref(), Some(uid.as_str()));
    }
}

on_both! {
    async fn someone_elses_session_or_a_bad_id_is_not_found_and_left_alone(store) {
        let app = TestApp::on(store).await;
        let ann = app.signed_in("ann@example.com").await;
        let bob = app.signed_in("bob@example.com").await;
        let bobs = sid_of(&bob);
        for id in [bobs.as_str(), "not-a-uuid", &uuid::Uuid::new_v4().to_string(), "%27%20OR%201%3D1"] {
            let res = ann
                .post_signed_in("/account/sessions", &revoke_action(id), &[])
                .await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{id}");
            assert!(res.text().await.unwrap().contains("Page not found"));
        }
        assert_eq!(
            app.count(&format!("SELECT COUNT(*) AS n FROM sessions WHERE id = '{bobs}' AND revoked_at IS NULL")),
            1
        );
        assert_eq!(bob.get("/account").await.status(), StatusCode::OK);
        assert!(app.audit("session_revoked").is_empty());
    }
}

on_both! {
    async fn ending_this_session_from_the_list_signs_out_like_logout(store) {
        let app = TestApp::on(store).await;
        let here = app.signed_in("ann@example.com").await;
        let stolen = access_only(&here);
        let sid = sid_of(&here);
        let res = here
            .post_signed_in("/account/sessions", &revoke_action(&sid), &[])
            .await;
        assert_eq!(location(&res), "/login?reason=signed_out");
        assert_eq!(res.headers()["clear-site-data"], "\"cookies\"");
        for name in ["__Host-access", "__Host-refresh"] {
            assert!(set_cookie(&res, name).unwrap().contains("Max-Age=0"), "{name}");
        }
        assert_eq!(
            location(&stolen.get("/account").await),
            "/login?reason=revoked&next=/account",
            "the copied access token is refused at once"
        );
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL"), 0);
    }
}

on_both! {
    async fn signing_out_all_other_sessions_keeps_this_one(store) {
        let app = TestApp::on(store).await;
        let here = app.signed_in("ann@example.com").await;
        let a = login_as(&app, "ann@example.com", CHROME_UA).await;
        let b = login_as(&app, "ann@example.com", "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1").await;
        let bob = app.signed_in("bob@example.com").await;
        let res = here
            .post_signed_in("/account/sessions", "/account/sessions/revoke-others", &[])
            .await;
        assert_eq!(location(&res), "/account/sessions?notice=others_revoked&n=2");
        let page = here.get(&location(&res)).await.text().await.unwrap();
        assert!(page.contains("2 other sessions were ended."));
        assert!(page.contains("This is your only active session."));
        for other in [&a, &b] {
            assert_eq!(location(&other.get("/account").await), "/login?reason=revoked&next=/account");
        }
        assert_eq!(here.get("/account").await.status(), StatusCode::OK);
        assert_eq!(bob.get("/account").await.status(), StatusCode::OK, "other users are untouched");
        let events = app.audit("sessions_revoked_all");
        assert_eq!(events.len(), 1);
        let (uid, _) = app.ids_of("ann@example.com");
        assert_eq!(events[0].actor_id.as_deref(), Some(uid.as_str()));
        assert!(events[0].detail.contains("\"sessions_ended\":2"), "{}", events[0].detail);
    }
}

on_both! {
    async fn ending_sessions_needs_a_valid_csrf_token(store) {
        let app = TestApp::on(store).await;
        let here = app.signed_in("ann@example.com").await;
        let there = login_as(&app, "ann@example.com", CHROME_UA).await;
        let res = here
            .post_form(&revoke_action(&sid_of(&there)), &[("csrf_token", "forged")])
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = here.post_form("/account/sessions/revoke-others", &[]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(there.get("/account").await.status(), StatusCode::OK);
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NOT NULL"), 0);
    }
}
