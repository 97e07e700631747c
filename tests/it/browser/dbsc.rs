//! Device-bound sessions in Debian's Chromium (CONTRACT §9), set up as STACK.md found it to
//! work: HTTPS the browser trusts, a persistent profile, the DBSC features with software keys.

use super::{Kit, Window};
use crate::common::{TestApp, PASSWORD};
use std::time::{Duration, Instant};

const ACCESS_TTL_SECS: u64 = 8;

/// Waits (generously: CI shares two cores) until `done` holds.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(90);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn rotations(app: &TestApp, sid: &str) -> i64 {
    app.count(&format!(
        "SELECT COUNT(*) AS n FROM refresh_tokens WHERE session_id = '{sid}'"
    ))
}

fn proof_failures(app: &TestApp) -> usize {
    app.audit("dbsc_proof_failed").len()
}

async fn assert_signed_in(w: &Window, email: &str) {
    w.open("/account").await;
    let path = w.path().await;
    assert_eq!(path, "/account", "still signed in");
    assert!(w.text().await.contains(email));
}

#[tokio::test]
async fn chromium_binds_its_session_and_a_copied_cookie_jar_stops_at_the_first_refresh() {
    let Some(kit) = Kit::start_dbsc("dbsc_in_chromium", |env| {
        env.insert("LATCHKEY_ACCESS_TTL".into(), format!("{ACCESS_TTL_SECS}s"));
        env.insert("LATCHKEY_REFRESH_AHEAD".into(), "2s".into());
    })
    .await
    else {
        return;
    };
    let app = &kit.app;
    let email = "ada@example.com";
    let w = kit.browser().await;
    w.register(email, PASSWORD).await;
    w.wait_for_path("/account").await;

    // Chromium registers in the background, answering the challenge of the sign-up response.
    until("Chromium to bind the session", || {
        app.count("SELECT COUNT(*) AS n FROM sessions WHERE dbsc_key IS NOT NULL") == 1
    })
    .await;
    let sid = app.text("SELECT id AS s FROM sessions WHERE dbsc_key IS NOT NULL");
    assert_eq!(app.audit("session_bound").len(), 1);

    // Several access lifetimes of ordinary browsing: Chromium renews the bound cookie with a
    // proof before it lapses, so no page request ever reaches the guard without a valid one
    // (each such request would be refused and audited as dbsc_proof_failed).
    let first = rotations(app, &sid);
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(ACCESS_TTL_SECS * 4) {
        assert_signed_in(&w, email).await;
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    until("at least three proven refreshes", || {
        rotations(app, &sid) >= first + 3
    })
    .await;
    assert_signed_in(&w, email).await;
    assert_eq!(proof_failures(app), 0, "no request lacked a valid cookie");

    // The same cookies in a second, fresh profile: good until the access cookie lapses, and
    // then nothing, since that browser holds no key and the refresh cookie alone is refused.
    let jar = w.c.get_all_cookies().await.expect("cookies");
    let thief = kit.browser().await;
    thief.open("/healthz").await;
    for c in jar.iter().filter(|c| c.name().starts_with("__Host-")) {
        thief.plant_cookie(c.name(), c.value()).await;
    }
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        thief.open("/account").await;
        let path = thief.path().await;
        if path.starts_with("/login") {
            assert!(path.starts_with("/login?reason=device"), "{path}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the copied jar still works at {path}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(proof_failures(app) >= 1, "the attempt is audited");
    assert_eq!(
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM sessions WHERE id = '{sid}' AND revoked_at IS NULL"
        )),
        1,
        "the owner's session is untouched"
    );
    // The owner's browser carries on across another lifetime.
    tokio::time::sleep(Duration::from_secs(ACCESS_TTL_SECS)).await;
    assert_signed_in(&w, email).await;
    thief.close().await;
    w.close().await;
}
