//! The two endpoints asked directly, as a proxy would: the hot path, the answers' shapes, and
//! every way a proxy's description can be wrong (each a clear answer that changes nothing).

use crate::common::*;
use reqwest::{Method, StatusCode};

const EMAIL: &str = "ann@example.com";
const ASK: &str = "/authz/auth-request";
const FWD: &str = "/authz/forward-auth";

fn trusting(env: &mut std::collections::BTreeMap<String, String>) {
    env.insert("LATCHKEY_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
}

const NGINX: &[(&str, &str)] = &[
    ("x-original-url", "https://app.example.test/page?a=1"),
    ("x-original-method", "GET"),
];

const CADDY_NAV: &[(&str, &str)] = &[
    ("x-forwarded-method", "GET"),
    ("x-forwarded-proto", "https"),
    ("x-forwarded-host", "app.example.test"),
    ("x-forwarded-uri", "/page?a=1"),
    ("sec-fetch-mode", "navigate"),
];

/// An endpoint, the headers describing the request, and what the answer must say.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);

/// Used refresh tokens and sessions: what a refresh would change.
fn state(app: &TestApp) -> (i64, i64) {
    (
        app.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE used_at IS NOT NULL"),
        app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL"),
    )
}

on_both! {
    async fn a_valid_access_cookie_is_answered_with_the_identity_and_no_database_query(store) {
        let app = TestApp::spawn_with(store, |e| {
            trusting(e);
            e.insert("LATCHKEY_REVOCATION_SYNC".into(), "5m".into());
        })
        .await;
        let b = app.signed_in(EMAIL).await;
        let before = app.db.checkouts();
        for _ in 0..10 {
            let res = b.send(Method::GET, ASK, NGINX, None).await;
            assert_eq!(res.status(), StatusCode::OK);
            assert!(set_cookies(&res).is_empty());
            let h = res.headers();
            assert_eq!(h["remote-user"], EMAIL);
            assert_eq!(h["remote-email"], EMAIL);
            assert_eq!(h["remote-groups"], "admin");
            assert_eq!(h["cache-control"], "no-store");
            assert!(h.contains_key("remote-user-id") && h.contains_key("remote-session-id"));
            // The "yes" goes to the proxy alone: no page headers for a body nobody renders.
            assert!(!h.contains_key("content-security-policy"), "{h:?}");
        }
        assert_eq!(app.db.checkouts(), before, "the hot path took a database connection");
        // A refusal can reach a browser (Caddy returns it as it is): it keeps them.
        let res = app.browser().send(Method::GET, FWD, CADDY_NAV, None).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(res.headers().contains_key("content-security-policy"));
        assert_eq!(res.headers()["x-frame-options"], "DENY");
    }
}

on_both! {
    async fn an_expired_access_cookie_is_refreshed_and_both_cookies_are_repeated(store) {
        let app = TestApp::spawn_with(store, trusting).await;
        let b = app.signed_in(EMAIL).await;
        app.age_access(&b, EMAIL, 3600);
        let res = b.send(Method::GET, ASK, NGINX, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let access = set_cookie(&res, "__Host-access").unwrap();
        let refresh = set_cookie(&res, "__Host-refresh").unwrap();
        assert_eq!(res.headers()["latchkey-set-cookie-access"], access.as_str());
        assert_eq!(res.headers()["latchkey-set-cookie-refresh"], refresh.as_str());
    }
}

on_both! {
    async fn without_a_session_the_answers_name_the_sign_in_url(store) {
        let app = TestApp::spawn_with(store, |e| {
            trusting(e);
            e.insert("LATCHKEY_BASE_PATH".into(), "/auth".into());
        })
        .await;
        let b = app.browser();
        let res = b.send(Method::GET, "/auth/authz/auth-request", NGINX, None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            location(&res),
            "/auth/login?next=https%3A//app.example.test/page%3Fa%3D1",
            "no reason when there simply is no session"
        );
        let res = b.send(Method::GET, "/auth/authz/forward-auth", CADDY_NAV, None).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), "/auth/login?next=https%3A//app.example.test/page%3Fa%3D1");
        let mut fetch = CADDY_NAV.to_vec();
        fetch.retain(|(k, _)| *k != "sec-fetch-mode");
        fetch.push(("sec-fetch-mode", "cors"));
        let res = b.send(Method::GET, "/auth/authz/forward-auth", &fetch, None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(res.headers().get("location").is_none());
        // A dead session: the reason, and the cookies cleared.
        let signed = app.browser();
        let token = signed.form_token("/auth/register", "/auth/register").await;
        signed
            .post_form(
                "/auth/register",
                &[("email", EMAIL), ("password", PASSWORD), ("csrf_token", &token)],
            )
            .await;
        app.exec("UPDATE sessions SET expires_at = 1");
        app.age_access(&signed, EMAIL, 3600);
        let res = signed.send(Method::GET, "/auth/authz/auth-request", NGINX, None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(location(&res).starts_with("/auth/login?reason=expired&next="), "{}", location(&res));
        assert!(set_cookie(&res, "__Host-refresh").unwrap().contains("Max-Age=0"));
    }
}

on_both! {
    async fn role_admin_refuses_other_users_with_403(store) {
        let app = TestApp::spawn_with(store, trusting).await;
        let boss = app.signed_in("boss@example.com").await;
        let ann = app.signed_in(EMAIL).await;
        let url = format!("{ASK}?role=admin");
        assert_eq!(ann.send(Method::GET, &url, NGINX, None).await.status(), StatusCode::FORBIDDEN);
        assert_eq!(boss.send(Method::GET, &url, NGINX, None).await.status(), StatusCode::OK);
        for bad in ["role=root", "role=admin&role=admin", "role=", "role=%FF"] {
            let res = boss.send(Method::GET, &format!("{ASK}?{bad}"), NGINX, None).await;
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
            assert!(res.text().await.unwrap().contains("role=admin"), "{bad}");
        }
        // Anything else in the query is not a requirement: ignored, as before.
        let res = ann.send(Method::GET, &format!("{ASK}?v=2"), NGINX, None).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

on_both! {
    async fn bad_descriptions_get_a_clear_400_and_change_nothing(store) {
        let app = TestApp::spawn_with(store, trusting).await;
        let b = app.signed_in(EMAIL).await;
        let long = format!("https://app.example.test/{}", "a".repeat(5000));
        let cases: Vec<Case> = vec![
            (ASK, vec![("x-original-method", "GET")], "X-Original-URL"),
            (ASK, vec![("x-original-url", "/relative"), ("x-original-method", "GET")], "X-Original-URL"),
            (ASK, vec![("x-original-url", "https://app.example.test@evil.test/"), ("x-original-method", "GET")], "X-Original-URL"),
            (ASK, vec![("x-original-url", &long), ("x-original-method", "GET")], "longer than"),
            (ASK, vec![("x-original-url", "https://app.example.test/")], "X-Original-Method"),
            (
                ASK,
                vec![
                    ("x-original-url", "https://app.example.test/"),
                    ("x-original-url", "https://evil.test/"),
                    ("x-original-method", "GET"),
                ],
                "more than once",
            ),
            (FWD, vec![("x-forwarded-method", "GET"), ("x-forwarded-proto", "https"), ("x-forwarded-host", "app.example.test")], "X-Forwarded-Uri"),
            (FWD, vec![("x-forwarded-method", "GET"), ("x-forwarded-proto", "https"), ("x-forwarded-host", "a b"), ("x-forwarded-uri", "/")], "X-Forwarded-Host"),
        ];
        for (path, headers, says) in cases {
            app.age_access(&b, EMAIL, 3600);
            let before = state(&app);
            let mut req = b.http.get(format!("{}{path}", app.base));
            let jar = format!(
                "__Host-access={}; __Host-refresh={}",
                b.cookie("__Host-access").unwrap(),
                b.cookie("__Host-refresh").unwrap()
            );
            req = req.header("cookie", jar);
            for (k, v) in &headers {
                req = req.header(*k, *v);
            }
            let res = req.send().await.unwrap();
            assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{headers:?}");
            assert!(res.headers().get("set-cookie").is_none());
            let text = res.text().await.unwrap();
            assert!(text.contains(says), "{says}: {text}");
            assert_eq!(state(&app), before, "nothing changed for {headers:?}");
        }
    }
}

on_both! {
    async fn an_untrusted_peer_is_refused_before_anything_changes(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        app.age_access(&b, EMAIL, 3600);
        let before = state(&app);
        for path in [ASK, FWD] {
            let res = b.send(Method::GET, path, NGINX, None).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
            assert!(set_cookies(&res).is_empty());
            assert!(res.text().await.unwrap().contains("LATCHKEY_TRUSTED_PROXIES"));
        }
        assert_eq!(state(&app), before);
    }
}

on_both! {
    async fn forward_auth_answers_any_method_whatever_its_origin(store) {
        let app = TestApp::spawn_with(store, trusting).await;
        let b = app.signed_in(EMAIL).await;
        let mut headers = CADDY_NAV.to_vec();
        headers[0] = ("x-forwarded-method", "POST");
        headers.push(("origin", "https://app.example.test"));
        headers.push(("sec-fetch-site", "same-site"));
        let res = b.send(Method::POST, FWD, &headers, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["remote-user"], EMAIL);
    }
}

on_both! {
    async fn on_its_own_host_latchkey_shares_the_session_across_the_cookie_domain(store) {
        let app = TestApp::spawn_with(store, |e| {
            trusting(e);
            e.insert("LATCHKEY_PUBLIC_URL".into(), "https://auth.example.test".into());
            e.insert("LATCHKEY_COOKIE_DOMAIN".into(), "example.test".into());
        })
        .await;
        let b = app.browser();
        let res = b.send(Method::GET, ASK, NGINX, None).await;
        assert_eq!(
            location(&res),
            "https://auth.example.test/login?next=https%3A//app.example.test/page%3Fa%3D1"
        );
        let host: &[(&str, &str)] = &[("host", "auth.example.test"), ("origin", "https://auth.example.test")];
        let token = {
            let html = b.send(Method::GET, "/register", host, None).await.text().await.unwrap();
            csrf_in(&html).unwrap()
        };
        let form = |pairs: &[(&str, &str)]| {
            Some(Body::Form(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()))
        };
        let res = b
            .send(Method::POST, "/register", host, form(&[("email", EMAIL), ("password", PASSWORD), ("csrf_token", &token)]))
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let access = set_cookie(&res, "__Secure-access").unwrap();
        assert!(access.contains("Domain=example.test") && access.contains("Secure"), "{access}");
        assert!(set_cookie(&res, "__Secure-refresh").unwrap().contains("Domain=example.test"));
        // The session answers for the app's host.
        let res = b.send(Method::GET, ASK, NGINX, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        // Sign-in returns to a host under the cookie domain, never to another site.
        let token = {
            let html = b.send(Method::GET, "/login", host, None).await.text().await.unwrap();
            csrf_in_form(&html, "/login").unwrap()
        };
        for (next, lands) in [
            ("https://app.example.test/page?a=1", "https://app.example.test/page?a=1"),
            ("https://wiki.example.test/", "https://wiki.example.test/"),
            ("https://evil.test/", "/account"),
            ("https://example.test.evil.test/", "/account"),
            ("https:%2F%2Fevil.test", "/account"),
            ("http://app.example.test/", "/account"),
        ] {
            let res = b
                .send(
                    Method::POST,
                    "/login",
                    host,
                    form(&[("email", EMAIL), ("password", PASSWORD), ("csrf_token", &token), ("next", next)]),
                )
                .await;
            assert_eq!(location(&res), lands, "{next}");
        }
    }
}
