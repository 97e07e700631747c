//! What a person can see of their account's security: audit details in words on the admin
//! pages, the user's own security history, reuse explained after signing in again, and
//! "confirm it's you" before the actions a thief would take first.

use crate::admin::ADMIN;
use crate::common::*;
use crate::devices::{login_as, CHROME_UA};
use reqwest::StatusCode;

pub const BOB: &str = "bob@example.com";

/// Makes `victim`'s session be detected as reused: a copy of its cookies is replayed after the
/// real browser has rotated them (and the grace window is over). Returns the thief.
pub async fn cause_reuse(app: &TestApp, victim: &Browser, email: &str) -> Browser {
    let mut thief = victim.clone_cookies();
    thief.user_agent = CHROME_UA.into();
    app.age_access(victim, email, 3600);
    assert_eq!(victim.get("/account").await.status(), StatusCode::OK);
    app.exec("UPDATE refresh_tokens SET used_at = used_at - 60 WHERE used_at IS NOT NULL");
    app.age_access(&thief, email, 3600);
    let res = thief.get("/account").await;
    assert_eq!(location(&res), "/login?reason=reused&next=/account");
    thief
}

/// No raw JSON, field names or Unix times on a page.
fn no_raw_details(page: &str) {
    for raw in [
        "{&quot;",
        "{\"",
        "first_use",
        "sessions_ended",
        "user_agent",
        "replaced_session",
    ] {
        assert!(!page.contains(raw), "the page shows {raw}: {page}");
    }
    let year = latchkey::db::now().to_string();
    assert!(!page.contains(&year[..5]), "the page shows a Unix time");
}

on_both! {
    async fn audit_details_read_as_words_on_the_dashboard_the_audit_log_and_the_users_page(store) {
        let app = TestApp::on(store).await;
        let admin = app.signed_in(ADMIN).await;
        let bob = app.signed_in(BOB).await;
        assert_eq!(app.browser().login(BOB, "wrong password").await.status(), StatusCode::UNAUTHORIZED);
        cause_reuse(&app, &bob, BOB).await;
        let bob_id = app.text(&format!("SELECT id AS s FROM users WHERE email = '{BOB}'"));
        let reuse = "First used by Firefox on Linux from 127.0.0.1 at ";
        let again = "; used again 1 min after rotation by Chrome on Windows 10 from 127.0.0.1. The session was ended.";
        for page in ["/admin".to_string(), "/admin/audit".into(), format!("/admin/users/{bob_id}")] {
            let html = admin.get(&page).await.text().await.unwrap();
            assert!(html.contains(reuse) && html.contains(again), "{page}: {html}");
            assert!(html.contains("Wrong password, from Firefox on Linux from 127.0.0.1."), "{page}");
            no_raw_details(&html);
        }
        let log = admin.get("/admin/audit").await.text().await.unwrap();
        assert!(log.contains("Registered from Firefox on Linux from 127.0.0.1; as the first account it is the administrator."));
        assert!(log.contains("On Firefox on Linux from 127.0.0.1."), "sign-ins name the device");
        // Who ended a session, and why, in words.
        let user_page = format!("/admin/users/{bob_id}");
        let res = admin.post_signed_in(&user_page, &format!("{user_page}/revoke-all"), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let html = admin.get(&user_page).await.text().await.unwrap();
        assert!(html.contains("An administrator ended "), "{html}");
        no_raw_details(&html);
    }
}

/// Makes every session's password confirmation older than the default step-up lifetime.
pub fn age_confirmations(app: &TestApp) {
    app.exec("UPDATE sessions SET confirmed_at = confirmed_at - 601");
}

fn live_sessions(app: &TestApp) -> i64 {
    app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL")
}

/// The rows of a history page's table, in order.
fn history_rows(page: &str) -> Vec<String> {
    let Some(start) = page.find("<tbody>") else {
        return Vec::new();
    };
    let body = &page[start..start + page[start..].find("</tbody>").unwrap()];
    body.split("<tr>").skip(1).map(str::to_string).collect()
}

on_both! {
    async fn the_security_history_shows_the_accounts_own_events_in_words_newest_first(store) {
        let app = TestApp::on(store).await;
        let admin = app.signed_in(ADMIN).await;
        let ann = app.signed_in("ann@example.com").await;
        let bob = app.signed_in(BOB).await;
        assert_eq!(app.browser().login("ann@example.com", "wrong password").await.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(app.browser().login(BOB, "wrong password").await.status(), StatusCode::UNAUTHORIZED);
        let chrome = login_as(&app, "ann@example.com", CHROME_UA).await;
        let (ann_id, _) = app.ids_of("ann@example.com");
        let sid = crate::devices::sid_of(&chrome);
        let user_page = format!("/admin/users/{ann_id}");
        let res = admin.post_signed_in(&user_page, &format!("/admin/sessions/{sid}/revoke"), &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        login_as(&app, "ann@example.com", CHROME_UA).await;
        let res = ann
            .post_signed_in("/account", "/account/password", &[("current_password", PASSWORD), ("new_password", "a whole new passphrase")])
            .await;
        assert_eq!(location(&res), "/account?notice=password_changed");

        // Linked from the account and devices pages.
        for page in ["/account", "/account/sessions"] {
            let html = ann.get(page).await.text().await.unwrap();
            assert!(html.contains("href=\"/account/security\""), "{page}");
        }
        let res = ann.get("/account/security").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let page = res.text().await.unwrap();
        no_raw_details(&page);
        let rows = history_rows(&page);
        let expected = [
            ("Password changed", "Changed on Firefox on Linux from 127.0.0.1; 1 other session was signed out."),
            ("Signed in", "On Chrome on Windows 10 from 127.0.0.1."),
            ("Session ended", "Ended by an administrator."),
            ("Signed in", "On Chrome on Windows 10 from 127.0.0.1."),
            ("Sign-in failed", "Wrong password, from Firefox on Linux from 127.0.0.1."),
            ("Signed in", "On Firefox on Linux from 127.0.0.1."),
            ("Account created", "Registered from Firefox on Linux from 127.0.0.1."),
        ];
        assert_eq!(rows.len(), expected.len(), "{page}");
        for (row, (title, detail)) in rows.iter().zip(expected) {
            assert!(row.contains(title) && row.contains(detail), "{title}: {row}");
        }
        assert!(!page.contains(BOB), "another account's events are not shown");
        drop(bob);

        // 90 days: an older event is no longer listed.
        app.exec(&format!(
            "UPDATE audit_events SET at = at - 91 * 86400 WHERE user_id = '{ann_id}' AND kind = 'user_registered'"
        ));
        let page = ann.get("/account/security").await.text().await.unwrap();
        assert_eq!(history_rows(&page).len(), expected.len() - 1);
        assert!(!page.contains("Account created"));

        // Signed out: sent to sign in; a bad cursor is simply the first page.
        let res = app.browser().get("/account/security").await;
        assert_eq!(location(&res), "/login?reason=expired&next=/account/security");
        for bad in ["x", "1.x", "%00", "99999999999999999999.1"] {
            let res = ann.get(&format!("/account/security?before={bad}&explain={bad}")).await;
            assert_eq!(res.status(), StatusCode::OK, "{bad}");
        }
    }
}

on_both! {
    async fn the_security_history_pages_through_every_event_exactly_once(store) {
        let app = TestApp::on(store).await;
        let ann = app.signed_in("ann@example.com").await;
        let (ann_id, _) = app.ids_of("ann@example.com");
        let now = latchkey::db::now();
        // 60 sign-ins, many sharing one second (ties on the time are paged by id).
        for i in 0..60 {
            app.exec(&format!(
                "INSERT INTO audit_events (at, kind, user_id, session_id, actor_id, ip, user_agent, detail) \
                 VALUES ({}, 'login_succeeded', '{ann_id}', NULL, '{ann_id}', '10.0.{}.{}', '', '{{}}')",
                now - 100 + i / 7, i / 7, i
            ));
        }
        let mut seen = Vec::new();
        let mut url = Some("/account/security".to_string());
        let mut pages = 0;
        while let Some(u) = url {
            let page = ann.get(&u).await.text().await.unwrap();
            pages += 1;
            assert!(pages < 10, "pagination does not end");
            for row in history_rows(&page) {
                if let Some(i) = row.find("from 10.0.") {
                    seen.push(row[i..i + row[i..].find('.').unwrap() + 8].to_string());
                }
            }
            url = page.find("rel=\"next\"").map(|i| {
                let head = &page[..i];
                let start = head.rfind("href=\"").unwrap() + 6;
                head[start..start + head[start..].find('"').unwrap()].replace("&amp;", "&")
            });
        }
        assert_eq!(pages, 3, "25 a page: 61 events and the sign-up");
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), 60, "every event once: {seen:?}");
        assert_eq!(seen.len(), 60);
    }
}

on_both! {
    async fn signing_in_again_after_a_reuse_sign_out_explains_it_once(store) {
        let app = TestApp::on(store).await;
        let bob = app.signed_in(BOB).await;
        let ann = app.signed_in("ann@example.com").await;
        cause_reuse(&app, &bob, BOB).await;
        let res = bob.get("/account/sessions").await;
        assert_eq!(location(&res), "/login?reason=reused&next=/account/sessions");
        let res = bob.login_next(BOB, PASSWORD, "/account/sessions").await;
        let reuse_id = app.audit("refresh_reuse_detected")[0].id;
        let to = location(&res);
        assert_eq!(to, format!("/account/security?explain={reuse_id}&next=/account/sessions"));
        let page = bob.get(&to).await.text().await.unwrap();
        assert!(page.contains("You were signed out for your safety"), "{page}");
        assert!(page.contains("used twice"));
        assert!(page.contains("First used by Firefox on Linux from 127.0.0.1 at "));
        assert!(page.contains("used again 1 min after rotation by Chrome on Windows 10 from 127.0.0.1"));
        assert!(page.contains("href=\"/account/sessions\">check where you're signed in</a>"));
        assert!(page.contains("href=\"/account#change-password\""));
        assert!(page.contains("href=\"/account/sessions\">Continue"), "back to where they were going");
        no_raw_details(&page);

        // Once: the next sign-in goes straight on.
        let res = app.browser().login(BOB, PASSWORD).await;
        assert_eq!(location(&res), "/account");
        // Another account's reuse is never shown, whatever the URL says.
        let page = ann.get(&format!("/account/security?explain={reuse_id}")).await.text().await.unwrap();
        assert!(!page.contains("signed out for your safety"));
        // Nobody else is told either.
        let res = app.browser().login("ann@example.com", PASSWORD).await;
        assert_eq!(location(&res), "/account");
    }
}

/// The CSRF token of a page's form posting to `action`.
async fn token_for(b: &Browser, page: &str, action: &str) -> String {
    let token = b.form_token(page, action).await;
    assert!(!token.is_empty(), "{page} has a form posting to {action}");
    token
}

on_both! {
    async fn ending_other_sessions_needs_the_password_again_and_the_action_is_offered_back(store) {
        let app = TestApp::on(store).await;
        let ann = app.signed_in("ann@example.com").await;
        let other = login_as(&app, "ann@example.com", CHROME_UA).await;
        age_confirmations(&app);
        let action = "/account/sessions/revoke-others";
        let token = token_for(&ann, "/account/sessions", action).await;
        let res = ann.post_form(action, &[("csrf_token", &token)]).await;
        assert_eq!(location(&res), "/confirm?next=/account/sessions/revoke-others");
        assert_eq!(live_sessions(&app), 2, "nothing was ended");

        // A script asking for JSON is told why, in the contract's code.
        let res = ann
            .send(reqwest::Method::POST, action, &[("accept", "application/json")],
                Some(Body::Form(vec![("csrf_token".into(), token.clone())])))
            .await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "STEP_UP_REQUIRED");
        assert_eq!(live_sessions(&app), 2);

        let confirm = location(&ann.post_form(action, &[("csrf_token", &token)]).await);
        let page = ann.get(&confirm).await.text().await.unwrap();
        assert!(page.contains("Confirm it's you"));
        assert!(page.contains("To sign out all your other sessions, enter your password again."));
        let ctoken = csrf_in_form(&page, "/confirm").unwrap();

        // A wrong password: said so, audited, counted by the sign-in throttle.
        let next = "/account/sessions/revoke-others";
        let res = ann.post_form("/confirm", &[("password", "not it"), ("csrf_token", &ctoken), ("next", next)]).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("That password is not correct."));
        let failed = app.audit("login_failed");
        assert_eq!(failed.len(), 1);
        assert!(failed[0].detail.contains("\"during\":\"confirm\""), "{}", failed[0].detail);
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM login_failures WHERE email = 'ann@example.com'"), 1);
        assert_eq!(ann.post_form(action, &[("csrf_token", &token)]).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(live_sessions(&app), 2);

        // The right one: recorded, and the very action offered again with a fresh token.
        let res = ann.post_form("/confirm", &[("password", PASSWORD), ("csrf_token", &ctoken), ("next", next)]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = res.text().await.unwrap();
        assert!(page.contains("Nothing has been done yet"));
        assert!(page.contains("Sign out all other sessions"));
        let fresh = csrf_in_form(&page, action).expect("the action is offered again");
        assert_eq!(live_sessions(&app), 2, "confirming alone ends nothing");
        assert_eq!(app.audit("step_up_confirmed").len(), 1);
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM login_failures"), 0, "a right password clears the count");
        let res = ann.post_form(action, &[("csrf_token", &fresh)]).await;
        assert_eq!(location(&res), "/account/sessions?notice=others_revoked&n=1");
        assert_eq!(location(&other.get("/account").await), "/login?reason=revoked&next=/account");
        let history = ann.get("/account/security").await.text().await.unwrap();
        assert!(history.contains("Password confirmed on Firefox on Linux from 127.0.0.1."));
        assert!(history.contains("Wrong password when confirming it"));

        // A page needing confirmation comes straight back once confirmed.
        let res = ann.get("/confirm?next=/account/sessions").await;
        assert_eq!(location(&res), "/account/sessions");
        let res = ann.get("/confirm?next=//evil.example/").await;
        assert_eq!(location(&res), "/account", "never off the site");
    }
}

on_both! {
    async fn a_refresh_is_no_confirmation_but_a_confirmation_survives_rotation_and_instances(store) {
        let app = TestApp::spawn_with(store, |e| {
            e.insert("LATCHKEY_STEP_UP_TTL".into(), "5m".into());
        }).await;
        let ann = app.signed_in("ann@example.com").await;
        let other = login_as(&app, "ann@example.com", CHROME_UA).await;
        app.exec("UPDATE sessions SET confirmed_at = confirmed_at - 301");
        let action = "/account/sessions/revoke-others";
        // A transparent refresh does not confirm anything.
        app.age_access(&ann, "ann@example.com", 3600);
        let token = token_for(&ann, "/account/sessions", action).await;
        let res = ann.post_form(action, &[("csrf_token", &token)]).await;
        assert!(location(&res).starts_with("/confirm?"), "{}", location(&res));

        // Confirmed here, the session rotates, and a second instance honours it.
        let res = ann.post_form("/confirm", &[("password", PASSWORD), ("csrf_token", &token), ("next", "/account/sessions")]).await;
        assert_eq!(location(&res), "/account/sessions");
        app.age_access(&ann, "ann@example.com", 3600);
        assert_eq!(ann.get("/account").await.status(), StatusCode::OK, "rotated");
        let sibling = app.sibling(|e| {
            e.insert("LATCHKEY_STEP_UP_TTL".into(), "5m".into());
        }).await;
        let there = Browser::new(&sibling.base);
        for name in ["__Host-access", "__Host-refresh"] {
            there.set_cookie(name, &ann.cookie(name).unwrap());
        }
        let res = there.post_form(action, &[("csrf_token", &token)]).await;
        assert_eq!(location(&res), "/account/sessions?notice=others_revoked&n=1");
        assert_eq!(live_sessions(&app), 1, "the other session is ended");
        drop(other);
    }
}

on_both! {
    async fn every_admin_action_needs_a_recent_confirmation_and_is_offered_back_after_it(store) {
        let app = TestApp::on(store).await;
        let admin = app.signed_in(ADMIN).await;
        let bob = app.signed_in(BOB).await;
        let (bob_id, bob_sid) = app.ids_of(BOB);
        age_confirmations(&app);
        let user_page = format!("/admin/users/{bob_id}");
        let actions = [
            (format!("/admin/sessions/{bob_sid}/revoke"), "End the session".to_string()),
            (format!("{user_page}/revoke-all"), format!("To end every session of {BOB}")),
            (format!("{user_page}/disable"), format!("To disable the account {BOB}")),
            (format!("{user_page}/enable"), format!("To enable the account {BOB}")),
        ];
        let token = token_for(&admin, &user_page, &format!("{user_page}/revoke-all")).await;
        for (action, words) in &actions {
            let res = admin.post_form(action, &[("csrf_token", &token)]).await;
            assert_eq!(location(&res), format!("/confirm?next={action}"), "{action}");
            let page = admin.get(&location(&res)).await.text().await.unwrap();
            assert!(page.contains(words.as_str()) || page.contains("end this session"), "{action}: {page}");
        }
        assert_eq!(live_sessions(&app), 2);
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE disabled = TRUE"), 0);
        assert_eq!(bob.get("/account").await.status(), StatusCode::OK);

        let disable = format!("{user_page}/disable");
        let res = admin.post_form("/confirm", &[("password", PASSWORD), ("csrf_token", &token), ("next", &disable)]).await;
        assert_eq!(res.status(), StatusCode::OK);
        let page = res.text().await.unwrap();
        assert!(page.contains("Disable account"));
        let fresh = csrf_in_form(&page, &disable).expect("the action is offered again");
        let res = admin.post_form(&disable, &[("csrf_token", &fresh)]).await;
        assert_eq!(location(&res), format!("{user_page}?notice=user_disabled&n=1"));
        assert_eq!(location(&bob.get("/account").await), "/login?reason=revoked&next=/account");
    }
}

on_both! {
    async fn wrong_confirmations_are_throttled_like_sign_ins(store) {
        let app = TestApp::on(store).await;
        let ann = app.signed_in("ann@example.com").await;
        let now = latchkey::db::now();
        for _ in 0..8 {
            app.exec(&format!(
                "INSERT INTO login_failures (at, email, ip) VALUES ({now}, 'ann@example.com', '127.0.0.1')"
            ));
        }
        let token = token_for(&ann, "/confirm?next=/account/sessions/revoke-others", "/confirm").await;
        let res = ann.post_form("/confirm", &[("password", PASSWORD), ("csrf_token", &token), ("next", "/")]).await;
        assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(res.headers().contains_key("retry-after"));
        assert!(res.text().await.unwrap().contains("Too many wrong passwords"));
        assert!(app.audit("step_up_confirmed").is_empty());
        // The form needs its CSRF token like any other.
        let res = ann.post_form("/confirm", &[("password", PASSWORD), ("next", "/")]).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
    }
}

/// Every `href` and `action` of a page that names a path starts with the base path.
fn all_under(base: &str, html: &str) {
    let mut seen = 0;
    for attr in ["href=\"", "action=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            let value = &rest[..rest.find('"').unwrap()];
            if value.starts_with('/') {
                seen += 1;
                assert!(value.starts_with(base), "{value} is not under {base}");
            }
        }
    }
    assert!(seen > 0, "{html}");
}

on_both! {
    async fn the_new_pages_and_the_confirmation_round_trip_live_under_the_base_path(store) {
        let app = TestApp::spawn_with(store, |env| {
            env.insert("LATCHKEY_BASE_PATH".into(), "/auth".into());
        })
        .await;
        let ann = app.browser();
        let token = ann.form_token("/auth/register", "/auth/register").await;
        ann.post_form("/auth/register", &[("email", "ann@example.com"), ("password", PASSWORD), ("csrf_token", &token)]).await;
        let other = app.browser();
        let token = other.form_token("/auth/login", "/auth/login").await;
        other.post_form("/auth/login", &[("email", "ann@example.com"), ("password", PASSWORD), ("csrf_token", &token)]).await;
        age_confirmations(&app);

        let res = ann.get("/auth/account/security").await;
        assert_eq!(res.status(), StatusCode::OK);
        all_under("/auth/", &res.text().await.unwrap());
        let action = "/auth/account/sessions/revoke-others";
        let token = token_for(&ann, "/auth/account/sessions", action).await;
        let res = ann.post_form(action, &[("csrf_token", &token)]).await;
        assert_eq!(location(&res), "/auth/confirm?next=/auth/account/sessions/revoke-others");
        let page = ann.get(&location(&res)).await.text().await.unwrap();
        all_under("/auth/", &page);
        assert!(page.contains("To sign out all your other sessions"), "{page}");
        let res = ann
            .post_form("/auth/confirm", &[("password", PASSWORD), ("csrf_token", &token), ("next", action)])
            .await;
        let page = res.text().await.unwrap();
        all_under("/auth/", &page);
        let fresh = csrf_in_form(&page, action).expect("the action is offered again under the base path");
        let res = ann.post_form(action, &[("csrf_token", &fresh)]).await;
        assert_eq!(location(&res), "/auth/account/sessions?notice=others_revoked&n=1");
        assert_eq!(live_sessions(&app), 1);
    }
}
