//! The admin pages and actions: who may use them, what they show, pagination and search, and
//! the actions with their audit entries.

use crate::common::*;
use crate::devices::{login_as, sid_of, CHROME_UA};
use reqwest::StatusCode;

pub const ADMIN: &str = "admin@example.com";
const PAGES: [&str; 4] = ["/admin", "/admin/users", "/admin/sessions", "/admin/audit"];

/// An app whose first account (the admin) is signed in.
async fn with_admin(store: Store) -> (TestApp, Browser) {
    let app = TestApp::on(store).await;
    let admin = app.signed_in(ADMIN).await;
    (app, admin)
}

/// Every `href` of a page's `rel="next"` link, HTML-unescaped.
fn next_link(page: &str) -> Option<String> {
    let i = page.find("rel=\"next\"")?;
    let head = &page[..i];
    let start = head.rfind("href=\"")? + 6;
    let end = start + head[start..].find('"')?;
    Some(head[start..end].replace("&amp;", "&").replace("&#38;", "&"))
}

/// Follows `rel="next"` links from `first`, returning every page.
async fn walk(b: &Browser, first: &str) -> Vec<String> {
    let mut pages = Vec::new();
    let mut url = Some(first.to_string());
    while let Some(u) = url {
        let res = b.get(&u).await;
        assert_eq!(res.status(), StatusCode::OK, "{u}");
        let page = res.text().await.unwrap();
        url = next_link(&page);
        pages.push(page);
        assert!(pages.len() < 50, "pagination does not end");
    }
    pages
}

fn insert_user(app: &TestApp, email: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    app.exec(&format!(
        "INSERT INTO users (id, email, password_hash, role, disabled, created_at, updated_at) \
         VALUES ('{id}', '{email}', 'x', 'user', FALSE, 1, 1)"
    ));
    id
}

on_both! {
    async fn a_non_admin_is_refused_every_admin_page_and_action(store) {
        let (app, admin) = with_admin(store).await;
        let bob = app.signed_in("bob@example.com").await;
        let (admin_id, admin_sid) = app.ids_of(ADMIN);
        for p in PAGES.iter().copied().chain([format!("/admin/users/{admin_id}").as_str()]) {
            let res = bob.get(p).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{p}");
            assert!(res.text().await.unwrap().contains("You do not have permission"));
        }
        let token = bob.form_token("/account", "/logout").await;
        for action in [
            format!("/admin/sessions/{admin_sid}/revoke"),
            format!("/admin/users/{admin_id}/revoke-all"),
            format!("/admin/users/{admin_id}/disable"),
        ] {
            let res = bob.post_form(&action, &[("csrf_token", &token)]).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{action}");
        }
        assert_eq!(admin.get("/admin").await.status(), StatusCode::OK);
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NOT NULL"), 0);
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE disabled = TRUE"), 0);
        // Signed out: sent to sign in.
        let res = app.browser().get("/admin/users").await;
        assert_eq!(location(&res), "/login?reason=expired&next=/admin/users");
    }
}

on_both! {
    async fn a_demoted_admin_holding_a_live_admin_token_is_refused(store) {
        let (app, admin) = with_admin(store).await;
        assert_eq!(admin.get("/admin").await.status(), StatusCode::OK);
        app.exec("UPDATE users SET role = 'user'");
        assert_eq!(admin.get("/admin").await.status(), StatusCode::FORBIDDEN);
        assert_eq!(admin.get("/admin/audit").await.status(), StatusCode::FORBIDDEN);
        app.exec("UPDATE users SET role = 'admin', disabled = TRUE");
        assert_eq!(admin.get("/admin/users").await.status(), StatusCode::FORBIDDEN);
    }
}

on_both! {
    async fn the_dashboard_shows_counts_security_events_and_an_svg_chart_without_script(store) {
        let (app, admin) = with_admin(store).await;
        let bob = app.signed_in("bob@example.com").await;
        app.signed_in("cat@example.com").await;
        app.age_access(&bob, "bob@example.com", 3600);
        assert_eq!(bob.get("/account").await.status(), StatusCode::OK, "bob refreshes");
        assert_eq!(app.browser().login("bob@example.com", "wrong password").await.status(), StatusCode::UNAUTHORIZED);

        let res = admin.get("/admin").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()["cache-control"], "no-store");
        let mut page = res.text().await.unwrap();
        // The live-session figure is counted in the background (the view starts a recount
        // when it finds the last one stale): wait for the count to include the sign-ins above.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !page.contains("Active sessions</p><p class=\"stat-value\">3</p>") {
            assert!(std::time::Instant::now() < deadline, "the live-session count never reached 3");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            page = admin.get("/admin").await.text().await.unwrap();
        }
        assert!(page.contains("<svg class=\"chart\""), "{page}");
        assert!(!page.to_lowercase().contains("<script"));
        let stat = |label: &str| {
            let i = page.find(&format!(">{label}</p>")).unwrap_or_else(|| panic!("{label}"));
            let rest = &page[i..];
            let v = rest.find("stat-value\">").unwrap() + 12;
            rest[v..v + rest[v..].find('<').unwrap()].to_string()
        };
        assert_eq!(stat("Accounts"), "3");
        assert_eq!(stat("Active sessions"), "3");
        assert_eq!(stat("Sign-ins"), "3");
        assert_eq!(stat("Token reuse detected"), "0");
        assert!(page.contains(": 3 sign-ins"), "today's bar");
        assert!(page.contains(": 1 refreshes"), "the refresh is counted");
        assert!(page.contains("Sign-in failed"), "latest security events");
        assert!(page.contains("bob@example.com"));

        // A reuse detection is counted too.
        let thief = bob.clone_cookies();
        app.age_access(&bob, "bob@example.com", 3600);
        assert_eq!(bob.get("/account").await.status(), StatusCode::OK);
        app.exec("UPDATE refresh_tokens SET used_at = used_at - 60 WHERE used_at IS NOT NULL");
        app.age_access(&thief, "bob@example.com", 3600);
        assert_eq!(location(&thief.get("/account").await), "/login?reason=reused&next=/account");
        let page = admin.get("/admin").await.text().await.unwrap();
        assert!(page.contains(": 1 reuse detections"), "{page}");
        assert!(page.contains("stat-alert"), "reuse in the last 24 hours is highlighted");

        let hourly = admin.get("/admin?chart=hours").await.text().await.unwrap();
        assert!(hourly.contains("per hour, last 48 hours"));
        assert!(hourly.contains(": 3 sign-ins"));
        assert_eq!(app.count("SELECT CAST(SUM(n) AS BIGINT) AS n FROM activity WHERE kind = 'sign_in'"), 3);
    }
}

on_both! {
    async fn users_are_searched_by_email_and_paged_without_gaps_or_repeats(store) {
        let (app, admin) = with_admin(store).await;
        for i in 0..110 {
            insert_user(&app, &format!("user_{i:03}@example.com"));
        }
        insert_user(&app, "userx1@example.com");
        let pages = walk(&admin, "/admin/users").await;
        assert_eq!(pages.len(), 3, "50 + 50 + 12");
        let mut seen = Vec::new();
        for p in &pages {
            for part in p.split("<td data-label=\"E-mail\"><a href=\"/admin/users/").skip(1) {
                let email = &part[part.find('>').unwrap() + 1..part.find("</a>").unwrap()];
                seen.push(email.to_string());
            }
        }
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(seen, sorted, "in order, no repeats");
        assert_eq!(seen.len(), 112);
        assert!(pages[1].contains("← First page"));

        // `_` is a literal underscore, not a wildcard; `%` matches nothing.
        let found = walk(&admin, "/admin/users?q=R_1").await.concat();
        assert_eq!(found.matches("<td data-label=\"E-mail\"><a href=\"/admin/users/").count(), 10, "user_100 to user_109");
        assert!(!found.contains("userx1@"));
        let none = admin.get("/admin/users?q=%25").await.text().await.unwrap();
        assert!(none.contains("No user's e-mail contains"));
        for junk in ["q=%00", "after=%00", "after=zzzz", "q=%27%3B--"] {
            assert_eq!(admin.get(&format!("/admin/users?{junk}")).await.status(), StatusCode::OK, "{junk}");
        }
        // A search no address can match (a control character, or longer than any address)
        // finds nobody; it is not dropped to list everyone under the typed search.
        for q in ["%01", "us%00er", &"u".repeat(255)] {
            let page = admin.get(&format!("/admin/users?q={q}")).await.text().await.unwrap();
            assert!(page.contains("No user's e-mail contains"), "{q}");
            assert!(!page.contains("user_000@"), "{q}");
        }
    }
}

fn insert_session(
    app: &TestApp,
    user: &str,
    last_used: i64,
    revoked: bool,
    expires: i64,
) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    let revoked_at = if revoked {
        "1".to_string()
    } else {
        "NULL".to_string()
    };
    app.exec(&format!(
        "INSERT INTO sessions (id, user_id, created_at, last_used_at, expires_at, revoked_at, \
         created_ip, created_user_agent, last_ip, last_user_agent) \
         VALUES ('{id}', '{user}', {last_used}, {last_used}, {expires}, {revoked_at}, \
         '192.0.2.1', '{CHROME_UA}', '192.0.2.1', '{CHROME_UA}')"
    ));
    id
}

/// Session ids named by the revoke forms of a page.
fn session_ids(page: &str) -> Vec<String> {
    page.split("action=\"/admin/sessions/")
        .skip(1)
        .map(|p| p[..36].to_string())
        .collect()
}

on_both! {
    async fn the_session_list_shows_only_live_sessions_filters_by_user_and_pages_exactly(store) {
        let (app, admin) = with_admin(store).await;
        let bob = insert_user(&app, "bob@example.com");
        let now = latchkey::db::now();
        let mut live = Vec::new();
        for i in 0..70 {
            // Pairs share a last-active time, so the id must break ties across page edges.
            live.push(insert_session(&app, &bob, now - 100 - (i / 2), false, now + 86_400));
        }
        insert_session(&app, &bob, now - 10, true, now + 86_400);
        insert_session(&app, &bob, now - 10, false, now - 1);
        insert_session(&app, &bob, now - 8 * 86_400, false, now + 86_400);

        let pages = walk(&admin, "/admin/sessions?user=bob%40example.com").await;
        assert_eq!(pages.len(), 2);
        let seen: Vec<String> = pages.iter().flat_map(|p| session_ids(p)).collect();
        let mut unique = seen.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), seen.len(), "no repeats");
        let mut want = live.clone();
        want.sort();
        assert_eq!(unique, want, "exactly the live sessions");
        assert!(!pages.concat().contains(&format!(">{ADMIN}</a></td>")), "filtered to bob");

        let all = walk(&admin, "/admin/sessions").await;
        assert_eq!(all.iter().map(|p| session_ids(p).len()).sum::<usize>(), 71, "bob's and the admin's");
        let page = admin.get(&format!("/admin/sessions?user={bob}")).await.text().await.unwrap();
        assert!(page.contains("Chrome on Windows"));
        let page = admin.get("/admin/sessions?user=nobody%40example.com").await.text().await.unwrap();
        assert!(page.contains("No account matches"));
        for junk in ["after=zzz", "after=1.2", "after=", "user=%27%3B--"] {
            let res = admin.get(&format!("/admin/sessions?{junk}")).await;
            assert_eq!(res.status(), StatusCode::OK, "{junk}");
        }
    }
}

on_both! {
    async fn the_audit_log_filters_by_user_and_kind_and_pages_exactly(store) {
        let (app, admin) = with_admin(store).await;
        let bob = app.signed_in("bob@example.com").await;
        drop(bob);
        for _ in 0..3 {
            app.browser().login("bob@example.com", "wrong password").await;
        }
        let (bob_id, _) = app.ids_of("bob@example.com");
        for i in 0..60 {
            let (kind, who) = if i % 3 == 0 { ("logout", bob_id.as_str()) } else { ("login_failed", bob_id.as_str()) };
            app.exec(&format!(
                "INSERT INTO audit_events (at, kind, user_id, session_id, actor_id, ip, user_agent, detail) \
                 VALUES ({}, '{kind}', '{who}', NULL, '{who}', '192.0.2.{i}', 'ua', '{{}}')",
                latchkey::db::now()
            ));
        }
        let want = app.count(&format!(
            "SELECT COUNT(*) AS n FROM audit_events WHERE user_id = '{bob_id}' AND kind = 'login_failed'"
        ));
        assert_eq!(want, 43);
        let pages = walk(&admin, "/admin/audit?user=bob%40example.com&kind=login_failed").await;
        assert_eq!(pages.len(), 1);
        let rows = pages.concat().matches("Sign-in failed</span>").count();
        assert_eq!(rows as i64, want);

        let pages = walk(&admin, &format!("/admin/audit?user={bob_id}")).await;
        let total = app.count(&format!("SELECT COUNT(*) AS n FROM audit_events WHERE user_id = '{bob_id}'"));
        assert_eq!(pages.len(), 2);
        let shown: usize = pages.iter().map(|p| p.matches("<tr>").count() - 1).sum();
        assert_eq!(shown as i64, total, "every event once across pages");

        let logouts = admin.get("/admin/audit?kind=logout").await.text().await.unwrap();
        assert!(logouts.contains("<option value=\"logout\" selected>"));
        assert!(!logouts.contains("Sign-in failed</span>"));
        for junk in ["before=abc", "kind=nope", "before=-1", "user=%00"] {
            assert_eq!(admin.get(&format!("/admin/audit?{junk}")).await.status(), StatusCode::OK, "{junk}");
        }
    }
}

on_both! {
    async fn admin_actions_end_sessions_disable_and_enable_and_are_audited_with_the_admin(store) {
        let (app, admin) = with_admin(store).await;
        let (admin_id, _) = app.ids_of(ADMIN);
        let bob1 = app.signed_in("bob@example.com").await;
        let bob2 = login_as(&app, "bob@example.com", CHROME_UA).await;
        let (bob_id, _) = app.ids_of("bob@example.com");
        let user_page = format!("/admin/users/{bob_id}");
        let page = admin.get(&user_page).await.text().await.unwrap();
        assert!(page.contains("Active sessions (2)"));
        assert!(page.contains("Chrome on Windows") && page.contains("Firefox on Linux"));

        // End one session.
        let sid = sid_of(&bob2);
        let res = admin
            .post_signed_in(&user_page, &format!("/admin/sessions/{sid}/revoke"), &[])
            .await;
        assert_eq!(location(&res), format!("{user_page}?notice=session_revoked"));
        let page = admin.get(&location(&res)).await.text().await.unwrap();
        assert!(page.contains("The session was ended."));
        assert!(page.contains("Active sessions (1)"));
        assert_eq!(location(&bob2.get("/account").await), "/login?reason=revoked&next=/account");
        assert_eq!(bob1.get("/account").await.status(), StatusCode::OK);
        let e = &app.audit("session_revoked")[0];
        assert_eq!(
            (e.user_id.as_deref(), e.session_id.as_deref(), e.actor_id.as_deref()),
            (Some(bob_id.as_str()), Some(sid.as_str()), Some(admin_id.as_str()))
        );
        // Again: already ended, said so, not audited twice.
        let res = admin
            .post_signed_in(&user_page, &format!("/admin/sessions/{sid}/revoke"), &[])
            .await;
        assert_eq!(location(&res), format!("{user_page}?notice=session_already_ended"));
        assert_eq!(app.audit("session_revoked").len(), 1);

        // End all.
        let bob3 = login_as(&app, "bob@example.com", CHROME_UA).await;
        let res = admin
            .post_signed_in(&user_page, &format!("{user_page}/revoke-all"), &[])
            .await;
        assert_eq!(location(&res), format!("{user_page}?notice=sessions_revoked_all&n=2"));
        assert!(admin.get(&location(&res)).await.text().await.unwrap().contains("2 sessions were ended."));
        for b in [&bob1, &bob3] {
            assert_eq!(location(&b.get("/account").await), "/login?reason=revoked&next=/account");
        }
        let e = &app.audit("sessions_revoked_all")[0];
        assert_eq!(e.actor_id.as_deref(), Some(admin_id.as_str()));
        assert_eq!(e.user_id.as_deref(), Some(bob_id.as_str()));

        // Disable: ends the new session, and bob can no longer sign in.
        let bob4 = login_as(&app, "bob@example.com", CHROME_UA).await;
        let res = admin
            .post_signed_in(&user_page, &format!("{user_page}/disable"), &[])
            .await;
        assert_eq!(location(&res), format!("{user_page}?notice=user_disabled&n=1"));
        let page = admin.get(&location(&res)).await.text().await.unwrap();
        assert!(page.contains("The account was disabled"));
        assert!(page.contains("Enable account"));
        assert_eq!(location(&bob4.get("/account").await), "/login?reason=revoked&next=/account");
        assert_eq!(app.browser().login("bob@example.com", PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
        let e = &app.audit("user_disabled")[0];
        assert_eq!(e.actor_id.as_deref(), Some(admin_id.as_str()));
        assert!(e.detail.contains("\"sessions_ended\":1"));

        // Enable: bob signs in again.
        let res = admin
            .post_signed_in(&user_page, &format!("{user_page}/enable"), &[])
            .await;
        assert_eq!(location(&res), format!("{user_page}?notice=user_enabled"));
        assert!(admin.get(&location(&res)).await.text().await.unwrap().contains("can sign in again"));
        assert_eq!(app.browser().login("bob@example.com", PASSWORD).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(app.audit("user_enabled")[0].actor_id.as_deref(), Some(admin_id.as_str()));

        // The user's page and the audit log show the actions with the acting admin.
        let log = admin.get(&format!("/admin/audit?user={bob_id}")).await.text().await.unwrap();
        for label in ["Account disabled", "Account enabled", "Sessions ended", "Session ended"] {
            assert!(log.contains(label), "{label}");
        }
        assert!(log.contains(&format!("<a href=\"/admin/users/{admin_id}\">{ADMIN}</a>")));

        // An admin cannot disable themselves.
        let res = admin
            .post_signed_in("/admin", &format!("/admin/users/{admin_id}/disable"), &[])
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        assert!(res.text().await.unwrap().contains("cannot disable your own account"));
        assert_eq!(admin.get("/admin").await.status(), StatusCode::OK);
    }
}

on_both! {
    async fn bad_ids_in_admin_paths_are_not_found_pages(store) {
        let (app, admin) = with_admin(store).await;
        let random = uuid::Uuid::new_v4().to_string();
        for p in ["/admin/users/nope", &format!("/admin/users/{random}"), "/admin/users/%27%20OR%201%3D1", &format!("/admin/users/{}", random.to_uppercase())] {
            let res = admin.get(p).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{p}");
            assert!(res.text().await.unwrap().contains("Page not found"));
        }
        for action in [
            "/admin/sessions/nope/revoke".to_string(),
            format!("/admin/sessions/{random}/revoke"),
            format!("/admin/users/{random}/revoke-all"),
            format!("/admin/users/{random}/disable"),
            format!("/admin/users/{random}/enable"),
            "/admin/users/x/disable".to_string(),
        ] {
            let res = admin.post_signed_in("/admin", &action, &[]).await;
            assert_eq!(res.status(), StatusCode::NOT_FOUND, "{action}");
        }
        assert!(app.audit("user_disabled").is_empty());
    }
}

on_both! {
    async fn admin_actions_need_a_valid_csrf_token(store) {
        let (app, admin) = with_admin(store).await;
        let bob = app.signed_in("bob@example.com").await;
        let (bob_id, bob_sid) = app.ids_of("bob@example.com");
        for action in [
            format!("/admin/sessions/{bob_sid}/revoke"),
            format!("/admin/users/{bob_id}/revoke-all"),
            format!("/admin/users/{bob_id}/disable"),
        ] {
            let res = admin.post_form(&action, &[("csrf_token", "forged")]).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{action}");
        }
        assert_eq!(bob.get("/account").await.status(), StatusCode::OK);
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE disabled = TRUE"), 0);
    }
}

on_both! {
    async fn the_dashboard_shows_the_last_live_session_count_with_its_age_and_never_counts_on_a_view(store) {
        // No periodic recount during the test: only dashboard views may start one.
        let app = TestApp::spawn_with(store, |env| {
            env.insert("LATCHKEY_METRICS_REFRESH".into(), "1h".into());
        })
        .await;
        let admin = app.signed_in(ADMIN).await;
        // As if the last count had been made two minutes ago.
        app.app_state.auth.live_count.remember(latchkey::auth::Counted {
            value: 12_345,
            at: latchkey::db::now() - 120,
        });
        let page = admin.get("/admin").await.text().await.unwrap();
        assert!(page.contains(">12,345</p>"), "the view shows the last count, not one of its own");
        assert!(page.contains("counted 2 minutes ago"), "and says how old it is");
        // That view found the count stale and started one recount; a later view shows it.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let page = admin.get("/admin").await.text().await.unwrap();
            if page.contains("Active sessions</p><p class=\"stat-value\">1</p>") {
                assert!(page.contains("counted just now") || page.contains(" s ago"), "{page}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no recount replaced the old count");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        // A fresh count is served as it is, however the table changes meanwhile (once no
        // recount started by a view above can land after it).
        let live = &app.app_state.auth.live_count;
        while live.recounting() {
            assert!(std::time::Instant::now() < deadline, "the recount never finished");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        app.app_state.auth.live_count.remember(latchkey::auth::Counted {
            value: 777,
            at: latchkey::db::now(),
        });
        app.signed_in("bob@example.com").await;
        let page = admin.get("/admin").await.text().await.unwrap();
        assert!(page.contains(">777</p>"), "{page}");
    }
}
