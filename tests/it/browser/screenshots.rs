//! Screenshots of the pages people see, at a desktop and a phone width, saved under
//! `docs/screenshots/` for the README. To show another page, add it to `SIGNED_IN_PAGES`.

use super::Kit;
use crate::common::PASSWORD;
use std::path::PathBuf;

/// Why the sign-in page is shown, one screenshot each.
const REASONS: &[&str] = &["expired", "revoked", "reused", "signed_out"];

/// Pages of a signed-in administrator: (file name, path). A page this build does not serve yet
/// (it renders the error page) is noted and skipped.
const SIGNED_IN_PAGES: &[(&str, &str)] = &[
    ("account", "/account"),
    ("devices", "/account/sessions"),
    ("admin", "/admin"),
    ("security", "/account/security"),
    ("confirm", "/confirm?next=/account/sessions/revoke-others"),
];

/// Records a reuse detection on ada's account as the server would (a laptop's token replayed
/// from a phone elsewhere a few minutes later); returns its audit id.
fn reuse_event(kit: &Kit) -> i64 {
    let (uid, sid) = kit.app.ids_of("ada@example.com");
    let now = latchkey::db::now();
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
    let phone = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36";
    let detail = serde_json::json!({
        "first_use": { "at": now - 260, "ip": "192.0.2.10", "user_agent": firefox },
        "second_use": { "at": now - 60, "ip": "198.51.100.4", "user_agent": phone },
        "seconds_after_rotation": 200,
    });
    kit.app.exec(&format!(
        "INSERT INTO audit_events (at, kind, user_id, session_id, actor_id, ip, user_agent, detail) \
         VALUES ({}, 'refresh_reuse_detected', '{uid}', '{sid}', NULL, '198.51.100.4', '{phone}', '{detail}')",
        now - 60
    ));
    kit.app
        .audit("refresh_reuse_detected")
        .first()
        .expect("recorded")
        .id
}

fn folder() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots")
}

#[tokio::test]
async fn screenshots_of_every_page_at_desktop_and_phone_widths() {
    let Some(kit) = Kit::start("screenshots", |_| {}).await else {
        return;
    };
    let dir = folder();
    let screens = [
        (kit.browser().await, "desktop"),
        (kit.phone().await, "phone"),
    ];
    let mut saved = Vec::new();

    for reason in REASONS {
        for (w, screen) in &screens {
            w.open(&format!("/login?reason={reason}")).await;
            assert!(
                w.text_of(".notice").await.is_some_and(|t| !t.is_empty()),
                "the sign-in page explains {reason}"
            );
            // A blinking caret in the autofocused field would make every run's PNG differ.
            w.c.execute("document.activeElement.blur()", vec![])
                .await
                .expect("blur");
            let name = format!("signin-{reason}-{screen}");
            w.screenshot(&dir, &name).await;
            saved.push(name);
        }
    }

    let [(desktop, _), (phone, _)] = &screens;
    desktop.register("ada@example.com", PASSWORD).await;
    // One mistyped password first, so the dashboard's sign-in activity has a failure to show.
    phone.open("/login").await;
    phone.sign_in("ada@example.com", "not the password").await;
    let error = phone
        .c
        .wait()
        .for_element(fantoccini::Locator::Css("#form-error"))
        .await;
    assert!(error
        .expect("an error")
        .text()
        .await
        .is_ok_and(|t| t.contains("Incorrect e-mail or password.")));
    phone.sign_in("ada@example.com", PASSWORD).await;
    phone.wait_for_path("/account").await;
    // The confirm page asks for the password only once the sign-in's confirmation is old.
    kit.app.exec("UPDATE sessions SET confirmed_at = NULL");
    for (name, path) in SIGNED_IN_PAGES {
        for (w, screen) in &screens {
            w.open(path).await;
            if w.text_of(".error-card").await.is_some() {
                eprintln!("note: no screenshot of {path}: this build does not serve it yet");
                continue;
            }
            // No blinking caret in an autofocused field (the confirm page's password).
            w.c.execute("document.activeElement.blur()", vec![])
                .await
                .expect("blur");
            let file = format!("{name}-{screen}");
            w.screenshot(&dir, &file).await;
            saved.push(file);
        }
    }
    // The page after signing in again following a reuse sign-out.
    let reuse = reuse_event(&kit);
    for (w, screen) in &screens {
        w.open(&format!("/account/security?explain={reuse}&next=/account"))
            .await;
        assert!(w
            .text()
            .await
            .contains("You were signed out for your safety"));
        let file = format!("reuse-explained-{screen}");
        w.screenshot(&dir, &file).await;
        saved.push(file);
    }
    for (w, _) in screens {
        w.close().await;
    }

    for name in &saved {
        let png = std::fs::read(dir.join(format!("{name}.png"))).expect("saved");
        assert!(png.starts_with(b"\x89PNG"), "{name} is a PNG");
    }
    assert!(saved.len() >= REASONS.len() * 2 + 2, "saved {saved:?}");
}
