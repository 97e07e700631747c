//! Accounts and pages: sign-up, sign-in, sign-out, password change, CSRF, cookie flags.

use crate::common::*;
use reqwest::StatusCode;

fn assert_session_cookie_flags(c: &str) {
    for flag in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
        assert!(c.contains(flag), "{c} lacks {flag}");
    }
    assert!(
        !c.to_ascii_lowercase().contains("domain="),
        "{c} must not name a Domain"
    );
}

fn max_age(c: &str) -> i64 {
    c.split("; ")
        .find_map(|p| p.strip_prefix("Max-Age="))
        .unwrap()
        .parse()
        .unwrap()
}

on_both! {
    async fn the_first_account_becomes_admin_and_the_page_says_so(store) {
        let app = TestApp::on(store).await;
        let b = app.browser();
        let (html, _) = b.page_token("/register").await;
        assert!(html.contains("first account created becomes the <strong>administrator</strong>"));

        let res = b.register("Ann@Example.com", PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), "/account?notice=welcome_admin");
        let access = set_cookie(&res, "__Host-access").expect("access cookie");
        let refresh = set_cookie(&res, "__Host-refresh").expect("refresh cookie");
        assert_session_cookie_flags(&access);
        assert_session_cookie_flags(&refresh);
        assert!(max_age(&refresh) <= 7 * 86_400 && max_age(&refresh) > 0);
        assert_eq!(
            app.count(
                "SELECT COUNT(*) AS n FROM users WHERE role = 'admin' AND email = 'ann@example.com'"
            ),
            1
        );
        assert_eq!(app.audit("user_registered").len(), 1);

        let page = b.get("/account?notice=welcome_admin").await;
        assert_eq!(page.status(), StatusCode::OK);
        assert_eq!(page.headers()["cache-control"], "no-store");
        let html = page.text().await.unwrap();
        assert!(html.contains("ann@example.com") && html.contains("Administrator"));

        let other = app.browser();
        let (html, _) = other.page_token("/register").await;
        assert!(!html.contains("becomes the <strong>administrator</strong>"));
        let res = other.register("bob@example.com", PASSWORD).await;
        assert_eq!(location(&res), "/account?notice=welcome");
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM users WHERE role = 'user'"),
            1
        );
    }
}

on_both! {
    async fn bad_sign_up_input_gets_a_clear_message_and_changes_nothing(store) {
        let app = TestApp::on(store).await;
        let b = app.browser();
        let res = b.register("ann@example.com", "short").await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("at least 8 characters"));
        let res = b.register("not-an-email", PASSWORD).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("name@example.com"));
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), 0);

        app.signed_in("ann@example.com").await;
        let res = app.browser().register("ANN@example.com", PASSWORD).await;
        assert_eq!(res.status(), StatusCode::CONFLICT);
        assert!(res.text().await.unwrap().contains("already exists"));
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), 1);
    }
}

on_both! {
    async fn closed_registration_refuses_sign_up(store) {
        let app = TestApp::spawn_with(store, |e| {
            e.insert("LATCHKEY_REGISTRATION".into(), "closed".into());
        })
        .await;
        let b = app.browser();
        let (html, token) = b.page_token("/register").await;
        assert!(html.contains("Sign-up is closed"));
        let token = if token.is_empty() {
            b.page_token("/login").await.1
        } else {
            token
        };
        let res = b
            .post_form(
                "/register",
                &[
                    ("email", "a@b.io"),
                    ("password", PASSWORD),
                    ("csrf_token", &token),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), 0);
    }
}

on_both! {
    async fn sign_in_failures_look_the_same_for_unknown_and_wrong_and_are_audited(store) {
        let app = TestApp::on(store).await;
        app.signed_in("ann@example.com").await;
        let wrong = app
            .browser()
            .login("ann@example.com", "wrong password")
            .await;
        let unknown = app
            .browser()
            .login("nobody@example.com", "wrong password")
            .await;
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
        assert!(set_cookie(&wrong, "__Host-access").is_none());
        let (w, u) = (wrong.text().await.unwrap(), unknown.text().await.unwrap());
        assert!(
            w.contains("Incorrect e-mail or password.") && u.contains("Incorrect e-mail or password.")
        );
        assert_eq!(app.audit("login_failed").len(), 2);
    }
}

on_both! {
    async fn sign_in_returns_to_a_safe_next_only(store) {
        let app = TestApp::on(store).await;
        app.signed_in("ann@example.com").await;
        let res = app
            .browser()
            .login_next("ann@example.com", PASSWORD, "/account?x=1")
            .await;
        assert_eq!(location(&res), "/account?x=1");
        for evil in ["//evil.example", "https://evil.example/", "/\\evil.example"] {
            let res = app
                .browser()
                .login_next("ann@example.com", PASSWORD, evil)
                .await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER);
            assert_eq!(location(&res), "/account", "{evil}");
        }
        assert_eq!(app.audit("login_succeeded").len(), 5);
    }
}

on_both! {
    async fn forms_without_a_valid_csrf_token_or_from_another_origin_are_refused(store) {
        let app = TestApp::on(store).await;
        let b = app.browser();
        b.page_token("/login").await;
        let res = b
            .post_form("/register", &[("email", "a@b.io"), ("password", PASSWORD)])
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let res = b
            .post_form(
                "/register",
                &[
                    ("email", "a@b.io"),
                    ("password", PASSWORD),
                    ("csrf_token", "forged"),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let (_, token) = b.page_token("/register").await;
        let foreign = b
            .send(
                reqwest::Method::POST,
                "/register",
                &[("origin", "https://evil.example")],
                Some(Body::Form(vec![
                    ("email".into(), "a@b.io".into()),
                    ("password".into(), PASSWORD.into()),
                    ("csrf_token".into(), token.clone()),
                ])),
            )
            .await;
        assert_eq!(foreign.status(), StatusCode::FORBIDDEN);
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), 0);

        let user = app.signed_in("ann@example.com").await;
        let res = user.post_form("/logout", &[("csrf_token", &token)]).await;
        assert_eq!(
            res.status(),
            StatusCode::FORBIDDEN,
            "a signed-out token is not a session token"
        );
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL"),
            1
        );
    }
}

on_both! {
    async fn signing_out_revokes_the_session_and_clears_cookies(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in("ann@example.com").await;
        let stolen = b.clone_cookies();
        let res = b.post_signed_in("/account", "/logout", &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), "/login?reason=signed_out");
        assert_eq!(res.headers()["clear-site-data"], "\"cookies\"");
        for name in ["__Host-access", "__Host-refresh"] {
            let c = set_cookie(&res, name).expect("cleared");
            assert!(
                c.contains("Max-Age=0") && c.contains("Secure") && c.contains("Path=/"),
                "{c}"
            );
        }
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_reason = 'signed_out'"),
            1
        );
        assert_eq!(app.audit("logout").len(), 1);

        let page = b
            .get("/login?reason=signed_out")
            .await
            .text()
            .await
            .unwrap();
        assert!(page.contains("You have been signed out."));
        // The old, unexpired access token is refused at once (revocation reaches live tokens).
        let res = stolen.get("/account").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(location(&res).starts_with("/login?reason="));
    }
}

on_both! {
    async fn changing_the_password_ends_every_other_session(store) {
        let app = TestApp::on(store).await;
        let here = app.signed_in("ann@example.com").await;
        let elsewhere = app.browser();
        assert_eq!(
            elsewhere.login("ann@example.com", PASSWORD).await.status(),
            StatusCode::SEE_OTHER
        );

        let res = here
            .post_signed_in(
                "/account",
                "/account/password",
                &[
                    ("current_password", "nope nope"),
                    ("new_password", "another long password"),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res
            .text()
            .await
            .unwrap()
            .contains("current password is not correct"));

        let res = here
            .post_signed_in(
                "/account",
                "/account/password",
                &[
                    ("current_password", PASSWORD),
                    ("new_password", "another long password"),
                ],
            )
            .await;
        assert_eq!(location(&res), "/account?notice=password_changed");
        assert_eq!(
            here.get("/account").await.status(),
            StatusCode::OK,
            "this session survives"
        );
        let res = elsewhere.get("/account").await;
        assert_eq!(location(&res), "/login?reason=revoked&next=/account");
        assert_eq!(app.audit("password_changed").len(), 1);

        assert_eq!(
            app.browser()
                .login("ann@example.com", PASSWORD)
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.browser()
                .login("ann@example.com", "another long password")
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
    }
}

on_both! {
    async fn passwords_are_not_truncated_at_72_bytes(store) {
        let app = TestApp::on(store).await;
        let long = format!("{}X", "a".repeat(72));
        assert_eq!(
            app.browser()
                .register("ann@example.com", &long)
                .await
                .status(),
            StatusCode::SEE_OTHER
        );
        assert_eq!(
            app.browser()
                .login("ann@example.com", &"a".repeat(72))
                .await
                .status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            app.browser().login("ann@example.com", &long).await.status(),
            StatusCode::SEE_OTHER
        );
    }
}

on_both! {
    async fn signing_in_ends_the_family_the_browser_presented(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in("ann@example.com").await;
        let res = b.login("ann@example.com", PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions"), 2);
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL"),
            1
        );
    }
}

on_both! {
    async fn a_wrong_method_is_405_with_allow_and_every_page_answers_head(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in("ann@example.com").await;
        // Typed into the address bar: signing out takes a POST, so nothing is signed out.
        let res = b.get("/logout").await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()["allow"], "POST");
        assert!(res.text().await.unwrap().contains("That method is not allowed here."));
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL"),
            1
        );
        let res = b.send(reqwest::Method::DELETE, "/account", &[], None).await;
        assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(res.headers()["allow"], "GET, HEAD");

        let full = b.get("/account").await;
        assert_eq!(full.status(), StatusCode::OK);
        let length = full.text().await.unwrap().len();
        let head = b.send(reqwest::Method::HEAD, "/account", &[], None).await;
        assert_eq!(head.status(), StatusCode::OK);
        assert_eq!(head.headers()["content-length"], length.to_string().as_str());
        assert!(head.bytes().await.unwrap().is_empty());

        let api = app.browser().get("/api/auth/token").await;
        assert_eq!(api.status(), StatusCode::METHOD_NOT_ALLOWED);
        let body: serde_json::Value = api.json().await.unwrap();
        assert_eq!(body["code"], "METHOD_NOT_ALLOWED");
    }
}

on_both! {
    async fn every_page_sends_a_csp_without_inline_script_and_forbids_framing(store) {
        let app = TestApp::on(store).await;
        for path in ["/", "/login", "/register", "/nope"] {
            let res = app.browser().get(path).await;
            let csp = res.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .to_string();
            assert!(
                csp.contains("default-src 'none'")
                    && !csp.contains("unsafe-inline")
                    && csp.contains("frame-ancestors 'none'")
            );
            assert_eq!(res.headers()["x-content-type-options"], "nosniff");
            assert_eq!(res.headers()["x-frame-options"], "DENY");
            assert!(res.headers().contains_key("referrer-policy"));
        }
        assert_eq!(
            app.browser().get("/nope").await.status(),
            StatusCode::NOT_FOUND
        );
        let css = app.browser().get("/static/style.css").await;
        assert_eq!(css.status(), StatusCode::OK);
    }
}

on_both! {
    async fn insecure_cookie_mode_drops_the_prefix_and_the_secure_flag(store) {
        let app = TestApp::spawn_with(store, |e| {
            e.insert("LATCHKEY_COOKIE_SECURE".into(), "false".into());
        })
        .await;
        let b = app.browser();
        let res = b.register("ann@example.com", PASSWORD).await;
        let access = set_cookie(&res, "access").expect("plain access cookie");
        assert!(!access.contains("Secure") && access.contains("HttpOnly"));
        assert!(set_cookie(&res, "__Host-access").is_none());
        assert_eq!(b.get("/account").await.status(), StatusCode::OK);
    }
}

on_both! {
    async fn health_and_readiness(store) {
        let app = TestApp::on(store).await;
        let res = app.browser().get("/healthz").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.text().await.unwrap(), "ok");
        assert_eq!(app.browser().get("/readyz").await.status(), StatusCode::OK);
    }
}

on_both! {
    async fn wrong_current_passwords_count_towards_the_sign_in_throttle_and_are_audited(store) {
        let app = TestApp::on(store).await;
        let ann = app.signed_in("ann@example.com").await;
        let token = ann.form_token("/account", "/account/password").await;
        let mut statuses = Vec::new();
        let mut waits = Vec::new();
        for _ in 0..30 {
            let res = ann
                .post_form(
                    "/account/password",
                    &[
                        ("current_password", "a guess at it"),
                        ("new_password", "another long password"),
                        ("csrf_token", &token),
                    ],
                )
                .await;
            statuses.push(res.status());
            if res.status() == StatusCode::TOO_MANY_REQUESTS {
                waits.push(res.headers()["retry-after"].to_str().unwrap().to_string());
                assert!(res.text().await.unwrap().contains("Too many failed"));
            }
        }
        let checked = statuses.iter().filter(|s| **s == StatusCode::BAD_REQUEST).count();
        assert_eq!(checked, 5, "five free guesses, then waits: {statuses:?}");
        assert_eq!(waits.len(), 25, "{statuses:?}");
        let failed = app.audit("login_failed");
        assert_eq!(failed.len(), 5, "each wrong current password is audited");
        assert!(failed.iter().all(|e| e.detail.contains("change_password")), "{failed:?}");
        // The same throttle as signing in: this address now waits there too, right password or not.
        let res = app.browser().login("ann@example.com", PASSWORD).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        // And the password did not change.
        app.exec("DELETE FROM login_failures");
        assert_eq!(app.browser().login("ann@example.com", PASSWORD).await.status(), StatusCode::SEE_OTHER);
    }
}

/// One sign-up's transaction as `register` runs it: the account inserted, then promoted if no
/// admin exists yet. Returns whether it became the admin.
fn first_sign_up_transaction(
    conn: &mut latchkey::db::DbConnection,
    id: &str,
    hold: std::time::Duration,
    ready: Option<std::sync::mpsc::Sender<()>>,
) -> bool {
    use diesel::Connection;
    use latchkey::db::users;
    let now = latchkey::db::now();
    conn.transaction::<_, latchkey::db::DbError, _>(|c| {
        let email = format!("{id}@example.com");
        users::insert(
            c,
            &users::NewUser {
                id,
                email: &email,
                password_hash: "x",
                role: "user",
                disabled: false,
                created_at: now,
                updated_at: now,
            },
        )?;
        let promoted = users::promote_if_no_admin(c, id, now)?;
        if let Some(ready) = ready {
            ready.send(()).unwrap();
        }
        // Still uncommitted while the other sign-up runs.
        std::thread::sleep(hold);
        Ok(promoted)
    })
    .unwrap()
}

on_both! {
    async fn two_first_sign_ups_in_flight_at_once_make_exactly_one_admin(store) {
        // The race made deterministic: the second sign-up runs its check while the first one's
        // transaction, which saw no admin, is still open.
        let app = TestApp::on(store).await;
        let (db1, db2) = (app.db.clone(), app.db.clone());
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let first = std::thread::spawn(move || {
            let mut c = db1.get().unwrap();
            first_sign_up_transaction(&mut c, "first", std::time::Duration::from_millis(700), Some(ready_tx))
        });
        ready_rx.recv().unwrap();
        let second = std::thread::spawn(move || {
            let mut c = db2.get().unwrap();
            first_sign_up_transaction(&mut c, "second", std::time::Duration::ZERO, None)
        });
        let (first, second) = (first.join().unwrap(), second.join().unwrap());
        assert!(first, "the first in becomes the admin");
        assert!(!second, "the second waits for it and sees its admin");
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE role = 'admin'"), 1);
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), 2);
    }
}
