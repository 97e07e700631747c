//! Sign-in throttling per account (from one address, and from all) and per address: 429 with
//! `Retry-After` on pages and the API, waits that double and are capped, an attacker who slows
//! only itself, and an owner who is never locked out for good. Unknown e-mail, wrong password
//! and disabled account look the same, and all cost one bcrypt verify.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const EMAIL: &str = "ann@example.com";

/// Failures recorded as if they had just happened (the same rows a failed sign-in writes).
fn fail_recently(app: &TestApp, email: &str, ip: &str, n: usize) {
    let now = latchkey::db::now();
    for _ in 0..n {
        app.exec(&format!(
            "INSERT INTO login_failures (at, email, ip) VALUES ({now}, '{email}', '{ip}')"
        ));
    }
}

fn retry_after(res: &reqwest::Response) -> u64 {
    res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

async fn api_login(
    b: &Browser,
    email: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let body = json!({"email": email, "password": password});
    b.send(
        Method::POST,
        "/api/auth/token",
        extra,
        Some(Body::Json(body)),
    )
    .await
}

on_both! {
    async fn failed_sign_ins_back_off_and_an_attacker_slows_only_itself(store) {
        // Peers are a trusted proxy, so `X-Forwarded-For` picks each actor's address; requests
        // without it come from 127.0.0.1, the attacker's address here.
        let app = TestApp::spawn_with(store, |e| {
            e.insert("LATCHKEY_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
        })
        .await;
        app.signed_in(EMAIL).await;
        let attacker = app.browser();
        for _ in 0..5 {
            assert_eq!(attacker.login(EMAIL, "wrong password").await.status(), StatusCode::UNAUTHORIZED);
        }

        // 8 failures from this address on this account: an 8 s wait, on the page and in the
        // API, even for the right password.
        fail_recently(&app, EMAIL, "127.0.0.1", 3);
        let page = attacker.login(EMAIL, PASSWORD).await;
        assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
        let first = retry_after(&page);
        assert!((4..=8).contains(&first), "retry after {first}");
        assert!(set_cookie(&page, "__Host-access").is_none());
        assert!(page.text().await.unwrap().contains("Too many failed sign-ins"));
        let api = api_login(&attacker, EMAIL, PASSWORD, &[]).await;
        assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!((4..=8).contains(&retry_after(&api)));
        assert_eq!(api.json::<Value>().await.unwrap()["code"], "RATE_LIMITED");

        // Each further failure doubles the wait, up to five minutes.
        fail_recently(&app, EMAIL, "127.0.0.1", 2);
        let second = retry_after(&api_login(&attacker, EMAIL, PASSWORD, &[]).await);
        assert!(second > first && (28..=32).contains(&second), "retry after {second}");
        fail_recently(&app, EMAIL, "127.0.0.1", 5);
        let capped = retry_after(&api_login(&attacker, EMAIL, PASSWORD, &[]).await);
        assert!((280..=300).contains(&capped), "capped at 300 s, got {capped}");

        // Meanwhile the owner, at another address, is not made to wait at all.
        let owner = [("x-forwarded-for", "198.51.100.7")];
        let res = api_login(&app.browser(), EMAIL, PASSWORD, &owner).await;
        assert_eq!(res.status(), StatusCode::OK, "one attacker cannot lock the owner out");
        assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM login_failures WHERE email = '{EMAIL}'")), 0, "success clears the count");
    }
}

on_both! {
    async fn guessing_spread_over_many_addresses_slows_the_account_but_never_for_good(store) {
        let app = TestApp::spawn_with(store, |e| {
            e.insert("LATCHKEY_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
        })
        .await;
        app.signed_in(EMAIL).await;
        for i in 0..53 {
            fail_recently(&app, EMAIL, &format!("203.0.113.{i}"), 1);
        }
        let owner = [("x-forwarded-for", "198.51.100.7")];
        let res = api_login(&app.browser(), EMAIL, PASSWORD, &owner).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "53 failures from 53 addresses");
        assert!((4..=8).contains(&retry_after(&res)));
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL"),
            1,
            "throttled attempts start no session"
        );
        // Five minutes later (still inside the 15-minute window) the owner signs in, and the
        // count is cleared: the next typo is a plain 401, not a wait.
        app.exec("UPDATE login_failures SET at = at - 301");
        let b = app.browser();
        assert_eq!(b.login(EMAIL, PASSWORD).await.status(), StatusCode::SEE_OTHER, "never locked out for good");
        assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM login_failures WHERE email = '{EMAIL}'")), 0);
        assert_eq!(b.clone_cookies().login(EMAIL, "typo").await.status(), StatusCode::UNAUTHORIZED);
    }
}

on_both! {
    async fn one_address_failing_across_many_accounts_is_throttled_and_cannot_hide_behind_x_forwarded_for(store) {
        let app = TestApp::on(store).await;
        app.signed_in(EMAIL).await;
        for i in 0..23 {
            fail_recently(&app, &format!("victim{i}@example.com"), "127.0.0.1", 1);
        }
        let c = Browser::new(&app.base);
        let res = api_login(&c, EMAIL, PASSWORD, &[]).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS, "23 failures from one address");
        assert!((4..=8).contains(&retry_after(&res)));
        let spoofed = api_login(&c, "fresh@example.com", "whatever1", &[("x-forwarded-for", "203.0.113.9")]).await;
        assert_eq!(spoofed.status(), StatusCode::TOO_MANY_REQUESTS, "an untrusted peer's X-Forwarded-For is ignored");
        let page = c.login(EMAIL, PASSWORD).await;
        assert_eq!(page.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(page.headers().contains_key("retry-after"));
        app.exec("UPDATE login_failures SET at = at - 301");
        assert_eq!(api_login(&c, EMAIL, PASSWORD, &[]).await.status(), StatusCode::OK);
    }
}

/// The login page without the parts that differ by design (its CSRF token, the typed e-mail).
fn normalised(html: &str, email: &str) -> String {
    let token = csrf_in(html).unwrap_or_default();
    html.replace(&token, "TOKEN").replace(email, "EMAIL")
}

on_both! {
    async fn unknown_email_wrong_password_and_disabled_account_answer_identically(store) {
        let app = TestApp::spawn_with(store, |e| {
            e.insert("LATCHKEY_LOGIN_THROTTLE".into(), "false".into());
        })
        .await;
        app.signed_in("admin@example.com").await;
        app.signed_in(EMAIL).await;
        app.signed_in("off@example.com").await;
        app.exec("UPDATE users SET disabled = TRUE WHERE email = 'off@example.com'");
        let hasher = &app.app_state.auth.hasher;

        let cases = [
            ("nobody@example.com", "some password", 1),
            (EMAIL, "wrong password", 0),
            ("off@example.com", PASSWORD, 0),
        ];
        let mut pages = Vec::new();
        let mut apis = Vec::new();
        for (email, password, dummy) in cases {
            let before = hasher.dummy_verifications();
            let page = app.browser().login(email, password).await;
            let status = page.status();
            let cookies = set_cookies(&page).into_iter().filter(|c| !c.starts_with("__Host-csrf")).count();
            pages.push((status, cookies, normalised(&page.text().await.unwrap(), email)));
            let api = api_login(&Browser::new(&app.base), email, password, &[]).await;
            let challenge = api.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_string());
            apis.push((api.status(), challenge, api.text().await.unwrap()));
            assert_eq!(
                hasher.dummy_verifications() - before,
                2 * dummy,
                "{email}: unknown e-mails cost a real bcrypt verify against the dummy hash"
            );
        }
        assert_eq!(pages[0].0, StatusCode::UNAUTHORIZED);
        assert_eq!(pages[0].1, 0, "no session cookie");
        assert!(pages.iter().all(|p| *p == pages[0]), "pages differ: {pages:#?}");
        assert_eq!(apis[0].0, StatusCode::UNAUTHORIZED);
        assert!(apis[0].2.contains("INVALID_CREDENTIALS"));
        assert!(apis.iter().all(|a| *a == apis[0]), "API answers differ: {apis:#?}");
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL"), 3);
    }
}

on_both! {
    async fn behind_a_trusted_proxy_each_forwarded_client_is_throttled_on_its_own(store) {
        let app = TestApp::spawn_with(store, |e| {
            e.insert("LATCHKEY_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
        })
        .await;
        app.signed_in(EMAIL).await;
        for i in 0..23 {
            fail_recently(&app, &format!("victim{i}@example.com"), "203.0.113.7", 1);
        }
        let c = Browser::new(&app.base);
        let noisy = api_login(&c, EMAIL, PASSWORD, &[("x-forwarded-for", "203.0.113.7")]).await;
        assert_eq!(noisy.status(), StatusCode::TOO_MANY_REQUESTS);
        let other = api_login(&c, EMAIL, PASSWORD, &[("x-forwarded-for", "203.0.113.7, 198.51.100.2")]).await;
        assert_eq!(other.status(), StatusCode::OK, "the right-most untrusted address is the client");
        let prepended = api_login(&c, EMAIL, PASSWORD, &[("x-forwarded-for", "198.51.100.9, 203.0.113.7")]).await;
        assert_eq!(prepended.status(), StatusCode::TOO_MANY_REQUESTS, "a client cannot hide by prepending addresses");
    }
}
