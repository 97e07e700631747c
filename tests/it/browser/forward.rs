//! The forward-auth journey in Chromium, through nginx started with `deploy/nginx`: sent to
//! sign in from the app, back to the page asked for, kept signed in across several access
//! lifetimes with both cookies rotated, and a script's `fetch()` answered 401 once signed out.

use super::{Kit, ACCESS_TTL_SECS};
use crate::common::PASSWORD;
use crate::forward::{installed, Kind, Proxy, Upstream};
use std::time::Duration;

#[tokio::test]
async fn through_nginx_a_user_signs_in_comes_back_and_stays_signed_in() {
    if !installed(Kind::Nginx) {
        return;
    }
    let Some(kit) = Kit::start("forward_auth_nginx", |env| {
        env.insert("LATCHKEY_BASE_PATH".into(), "/auth".into());
        env.insert("LATCHKEY_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
        // Plain HTTP: an absolute `next` on http:// is allowed only without `Secure` cookies.
        env.insert("LATCHKEY_COOKIE_SECURE".into(), "false".into());
    })
    .await
    else {
        return;
    };
    let upstream = Upstream::start().await;
    let proxy = Proxy::start(Kind::Nginx, kit.app.port, upstream.port).await;
    let w = kit.browser_at(&proxy.base()).await;

    w.open("/auth/register").await;
    w.fill("#email", "ada@example.com").await;
    w.fill("#password", PASSWORD).await;
    w.click("form[action='/auth/register'] button[type=submit]")
        .await;
    w.wait_for_path("/auth/account").await;
    w.click("form[action='/auth/logout'] button").await;
    w.wait_for_path("/auth/login?reason=signed_out").await;

    w.open("/app/reports?year=2026").await;
    w.wait_for_path("/auth/login?next=").await;
    w.fill("#email", "ada@example.com").await;
    w.fill("#password", PASSWORD).await;
    w.click("form[action='/auth/login'] button[type=submit]")
        .await;
    w.wait_for_path("/app/reports?year=2026").await;
    assert!(w
        .text()
        .await
        .contains("\"remote-user\":\"ada@example.com\""));

    for round in 0..3 {
        let before = (w.cookie("access").await, w.cookie("refresh").await);
        assert!(before.0.is_some() && before.1.is_some());
        tokio::time::sleep(Duration::from_millis(ACCESS_TTL_SECS * 1000 + 1500)).await;
        w.open(&format!("/app/round/{round}")).await;
        w.wait_for_path(&format!("/app/round/{round}")).await;
        assert!(w.text().await.contains("ada@example.com"), "round {round}");
        let after = (w.cookie("access").await, w.cookie("refresh").await);
        assert_ne!(after.0, before.0, "the browser holds the new access cookie");
        assert_ne!(
            after.1, before.1,
            "the browser holds the new refresh cookie"
        );
    }

    w.c.delete_all_cookies().await.expect("delete cookies");
    let status = w
        .c
        .execute(
            "return fetch('/app/data', {headers: {'accept': 'application/json'}}).then(r => r.status)",
            vec![],
        )
        .await
        .expect("fetch runs");
    assert_eq!(status, serde_json::json!(401));
    w.close().await;
}
