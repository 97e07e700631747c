//! What a person can see of their account's security: audit details in words on the admin
//! pages, the user's own security history, reuse explained after signing in again, and
//! "confirm it's you" before the actions a thief would take first.

use crate::admin::ADMIN;
use crate::common::*;
use crate::devices::CHROME_UA;
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
