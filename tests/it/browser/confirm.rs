//! "Confirm it's you" in a real browser: a copied cookie is not enough to end the owner's other
//! sessions or to act as an admin, and the owner, after the password, finds the very action
//! offered again.

use super::{Kit, Window};
use crate::common::PASSWORD;

const ACCESS: &str = "__Host-access";
const REFRESH: &str = "__Host-refresh";

fn live_sessions(kit: &Kit, email: &str) -> i64 {
    kit.app.count(&format!(
        "SELECT COUNT(*) AS n FROM sessions s JOIN users u ON u.id = s.user_id \
         WHERE u.email = '{email}' AND s.revoked_at IS NULL"
    ))
}

/// Submits the confirm page's password form.
async fn confirm_with(w: &Window, password: &str) {
    w.fill("#password", password).await;
    w.click("form[action='/confirm'] button[type=submit]").await;
}

#[tokio::test]
async fn a_stolen_cookie_without_the_password_cannot_end_other_sessions_or_act_as_admin() {
    // Access tokens that outlive the test: the thief and the owner share one session without
    // either of them refreshing it (which would make the other's cookie a reuse).
    let Some(kit) = Kit::start("step_up", |env| {
        env.insert("LATCHKEY_ACCESS_TTL".into(), "15m".into());
    })
    .await
    else {
        return;
    };
    let owner = kit.browser().await;
    owner.register("root@example.com", PASSWORD).await;
    let laptop = kit.browser().await;
    laptop.open("/login").await;
    laptop.sign_in("root@example.com", PASSWORD).await;
    laptop.wait_for_path("/account").await;
    let mia = kit.browser().await;
    mia.register("mia@example.com", PASSWORD).await;
    let (mia_id, _) = kit.app.ids_of("mia@example.com");
    // The sign-ins' confirmations are long past.
    kit.app
        .exec("UPDATE sessions SET confirmed_at = confirmed_at - 3600");

    // The thief holds a copy of the owner's cookies, but not the password.
    let thief = kit.browser().await;
    thief.open("/healthz").await;
    for name in [ACCESS, REFRESH] {
        let value = owner.cookie(name).await.expect("the owner's cookie");
        thief.plant_cookie(name, &value).await;
    }
    thief.open("/account/sessions").await;
    thief
        .click("form[action='/account/sessions/revoke-others'] button")
        .await;
    thief.wait_for_path("/confirm?next=").await;
    assert!(thief.text().await.contains("Confirm it's you"));
    confirm_with(&thief, "a guess").await;
    thief.wait_for_path("/confirm").await;
    assert!(thief.text().await.contains("That password is not correct."));
    assert_eq!(live_sessions(&kit, "root@example.com"), 2, "nothing ended");

    thief.open(&format!("/admin/users/{mia_id}")).await;
    thief
        .click(&format!(
            "form[action='/admin/users/{mia_id}/disable'] button"
        ))
        .await;
    let at = thief.wait_for_path("/confirm?next=").await;
    assert!(at.contains("disable"), "{at}");
    assert!(thief
        .text()
        .await
        .contains("To disable the account mia@example.com, enter your password again."));
    assert_eq!(
        kit.app
            .count("SELECT COUNT(*) AS n FROM users WHERE disabled = TRUE"),
        0
    );
    assert_eq!(
        live_sessions(&kit, "mia@example.com"),
        1,
        "mia is still signed in"
    );
    assert_eq!(
        kit.app.audit("login_failed").len(),
        1,
        "the guess is audited"
    );
    thief.close().await;

    // The owner, with the password, does what they chose: nothing is lost on the way.
    owner.open("/account/sessions").await;
    owner
        .click("form[action='/account/sessions/revoke-others'] button")
        .await;
    owner.wait_for_path("/confirm?next=").await;
    confirm_with(&owner, PASSWORD).await;
    owner.wait_for_path("/confirm").await;
    assert!(owner.text().await.contains("Nothing has been done yet"));
    owner
        .click("form[action='/account/sessions/revoke-others'] button")
        .await;
    owner
        .wait_for_path("/account/sessions?notice=others_revoked")
        .await;
    assert!(owner.text().await.contains("1 other session was ended."));
    assert_eq!(live_sessions(&kit, "root@example.com"), 1);
    laptop.click_link("Account").await;
    assert!(laptop
        .wait_for_path("/login")
        .await
        .contains("reason=revoked"));

    // Confirmed a moment ago: an admin action goes straight through.
    owner.open(&format!("/admin/users/{mia_id}")).await;
    owner
        .click(&format!(
            "form[action='/admin/users/{mia_id}/disable'] button"
        ))
        .await;
    owner
        .wait_for_path(&format!("/admin/users/{mia_id}?notice=user_disabled"))
        .await;
    assert_eq!(live_sessions(&kit, "mia@example.com"), 0);
    assert_eq!(kit.app.audit("step_up_confirmed").len(), 1);
    for w in [owner, laptop, mia] {
        w.close().await;
    }
}
