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
        assert!((4..=9).contains(&first), "retry after {first}");
        assert!(set_cookie(&page, "__Host-access").is_none());
        assert!(page.text().await.unwrap().contains("Too many failed sign-ins"));
        let api = api_login(&attacker, EMAIL, PASSWORD, &[]).await;
        assert_eq!(api.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!((4..=9).contains(&retry_after(&api)));
        assert_eq!(api.json::<Value>().await.unwrap()["code"], "RATE_LIMITED");

        // Each further failure doubles the wait, up to five minutes.
        fail_recently(&app, EMAIL, "127.0.0.1", 2);
        let second = retry_after(&api_login(&attacker, EMAIL, PASSWORD, &[]).await);
        assert!(second > first && (28..=33).contains(&second), "retry after {second}");
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
        assert!((4..=9).contains(&retry_after(&res)));
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
        assert!((4..=9).contains(&retry_after(&res)));
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

on_both! {
    async fn a_junk_or_ported_forwarded_entry_neither_hides_the_client_nor_shares_the_proxys_allowance(store) {
        let app = TestApp::spawn_with(store, |e| {
            e.insert("LATCHKEY_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
        })
        .await;
        app.signed_in(EMAIL).await;
        // The proxy's own address has used up its allowance: whoever falls back to it waits.
        for i in 0..23 {
            fail_recently(&app, &format!("victim{i}@example.com"), "127.0.0.1", 1);
        }
        let c = Browser::new(&app.base);
        let cases = [
            ("unknown, 203.0.113.77", "203.0.113.77"),
            ("203.0.113.79:4711", "203.0.113.79"),
            ("[2001:db8::79]:4711", "2001:db8::79"),
            ("junk", "unknown"),
        ];
        for (header, recorded) in cases {
            let res = api_login(&c, EMAIL, PASSWORD, &[("x-forwarded-for", header)]).await;
            assert_eq!(res.status(), StatusCode::OK, "{header}: not throttled as the proxy");
            assert_eq!(app.audit("login_succeeded")[0].ip, recorded, "{header}: the session's address");
            let wrong = api_login(&c, EMAIL, "wrong password", &[("x-forwarded-for", header)]).await;
            assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED, "{header}");
            assert_eq!(app.audit("login_failed")[0].ip, recorded, "{header}: the audit names the client");
        }
    }
}

/// Statuses of many answers, counted.
fn tally(statuses: &[StatusCode]) -> std::collections::BTreeMap<u16, usize> {
    let mut t = std::collections::BTreeMap::new();
    for s in statuses {
        *t.entry(s.as_u16()).or_insert(0) += 1;
    }
    t
}

/// How many more attempts than the five free ones may rightly reach bcrypt during a burst that
/// took `elapsed`: none within 2 s, since the first wait (1 s, counted from the second after the
/// fifth failure) cannot have passed; then at most one per further second (the waits double).
fn allowed_extra(elapsed: std::time::Duration) -> usize {
    if elapsed < std::time::Duration::from_secs(2) {
        0
    } else {
        elapsed.as_secs() as usize
    }
}

on_both! {
    async fn forty_parallel_wrong_passwords_for_one_account_reach_bcrypt_only_five_times(store) {
        let app = TestApp::on(store).await;
        app.signed_in(EMAIL).await;
        let c = Browser::new(&app.base);
        let started = std::time::Instant::now();
        let answers = futures_util::future::join_all(
            (0..40).map(|_| api_login(&c, EMAIL, "wrong password", &[])),
        )
        .await;
        let elapsed = started.elapsed();
        let statuses: Vec<StatusCode> = answers.iter().map(|r| r.status()).collect();
        let t = tally(&statuses);
        let checked = t.get(&401).copied().unwrap_or(0);
        assert!(checked >= 5, "the free attempts are answered: {t:?}");
        assert!(checked <= 5 + allowed_extra(elapsed), "only the free attempts reach bcrypt: {t:?} in {elapsed:?}");
        assert_eq!(checked + t.get(&429).copied().unwrap_or(0), 40, "the rest wait: {t:?}");
        for r in answers.iter().filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS) {
            assert!(retry_after(r) >= 1, "429 says when to come back");
        }
        assert_eq!(app.audit("login_failed").len(), checked, "each checked failure is audited");
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM login_failures"), checked as i64);
    }
}

on_both! {
    async fn forty_parallel_wrong_passwords_on_the_sign_in_form_reach_bcrypt_only_five_times(store) {
        let app = TestApp::on(store).await;
        app.signed_in(EMAIL).await;
        let browsers: Vec<Browser> = (0..40).map(|_| app.browser()).collect();
        let mut tokens = Vec::new();
        for b in &browsers {
            tokens.push(b.form_token("/login", "/login").await);
        }
        let started = std::time::Instant::now();
        let answers = futures_util::future::join_all(browsers.iter().zip(&tokens).map(|(b, t)| {
            let pairs = [("email", EMAIL), ("password", "wrong password"), ("csrf_token", t), ("next", "")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            b.send(Method::POST, "/login", &[], Some(Body::Form(pairs)))
        }))
        .await;
        let elapsed = started.elapsed();
        let statuses: Vec<StatusCode> = answers.iter().map(|r| r.status()).collect();
        let t = tally(&statuses);
        let checked = t.get(&401).copied().unwrap_or(0);
        assert!((5..=5 + allowed_extra(elapsed)).contains(&checked), "{t:?} in {elapsed:?}");
        assert_eq!(checked + t.get(&429).copied().unwrap_or(0), 40, "{t:?}");
        for r in answers.iter().filter(|r| r.status() == StatusCode::TOO_MANY_REQUESTS) {
            assert!(retry_after(r) >= 1);
        }
    }
}

on_both! {
    async fn forty_parallel_sign_ups_from_one_address_hash_only_ten_passwords(store) {
        let app = TestApp::spawn_with(store, |e| {
            e.insert("LATCHKEY_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
        })
        .await;
        let browsers: Vec<Browser> = (0..40).map(|_| app.browser()).collect();
        let mut tokens = Vec::new();
        for b in &browsers {
            tokens.push(b.form_token("/register", "/register").await);
        }
        let flood = [("x-forwarded-for", "203.0.113.50")];
        let started = std::time::Instant::now();
        let answers = futures_util::future::join_all(browsers.iter().zip(&tokens).enumerate().map(|(i, (b, t))| {
            let email = format!("flood{i}@example.com");
            let pairs = vec![
                ("email".to_string(), email),
                ("password".to_string(), PASSWORD.to_string()),
                ("csrf_token".to_string(), t.clone()),
            ];
            b.send(Method::POST, "/register", &flood, Some(Body::Form(pairs)))
        }))
        .await;
        let elapsed = started.elapsed();
        let statuses: Vec<StatusCode> = answers.iter().map(|r| r.status()).collect();
        let t = tally(&statuses);
        let made = t.get(&303).copied().unwrap_or(0);
        assert!((10..=10 + allowed_extra(elapsed)).contains(&made), "{t:?} in {elapsed:?}");
        assert_eq!(made + t.get(&429).copied().unwrap_or(0), 40, "{t:?}");
        let waiting = answers.into_iter().find(|r| r.status() == StatusCode::TOO_MANY_REQUESTS).unwrap();
        assert!(retry_after(&waiting) >= 1);
        assert!(waiting.text().await.unwrap().contains("Too many sign-ups"));
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), made as i64);
        // Another address signs up at once.
        let other = app.browser();
        let token = other.form_token("/register", "/register").await;
        let pairs = vec![
            ("email".to_string(), "someone@example.com".to_string()),
            ("password".to_string(), PASSWORD.to_string()),
            ("csrf_token".to_string(), token),
        ];
        let res = other.send(Method::POST, "/register", &[("x-forwarded-for", "198.51.100.3")], Some(Body::Form(pairs))).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
    }
}

on_both! {
    async fn parallel_first_sign_ups_make_exactly_one_admin(store) {
        for round in 0..3 {
            let app = TestApp::spawn_with(store, |e| {
                e.insert("LATCHKEY_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
            })
            .await;
            let browsers: Vec<Browser> = (0..16).map(|_| app.browser()).collect();
            let mut tokens = Vec::new();
            for b in &browsers {
                tokens.push(b.form_token("/register", "/register").await);
            }
            let answers = futures_util::future::join_all(browsers.iter().zip(&tokens).enumerate().map(|(i, (b, t))| {
                let pairs = vec![
                    ("email".to_string(), format!("first{i}@example.com")),
                    ("password".to_string(), PASSWORD.to_string()),
                    ("csrf_token".to_string(), t.clone()),
                ];
                let from = format!("203.0.113.{}", i + 1);
                async move {
                    b.send(Method::POST, "/register", &[("x-forwarded-for", from.as_str())], Some(Body::Form(pairs))).await
                }
            }))
            .await;
            assert!(answers.iter().all(|r| r.status() == StatusCode::SEE_OTHER), "round {round}");
            let welcomed = answers.iter().filter(|r| location(r) == "/account?notice=welcome_admin").count();
            assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE role = 'admin'"), 1, "round {round}");
            assert_eq!(welcomed, 1, "round {round}: exactly one is told it is the administrator");
        }
    }
}
