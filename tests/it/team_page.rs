//! The example of a team's own page (`examples/team_page`, README "Building your own pages on
//! Latchkey") through the real server: what the guard gives a page built on Latchkey.

use crate::common::*;
use crate::team_pages::routes;
use reqwest::StatusCode;

const EMAIL: &str = "ann@example.com";

#[tokio::test]
async fn a_team_page_is_served_to_a_signed_in_user_inside_latchkeys_frame() {
    let app = TestApp::with_routes(routes, |_| {}).await;
    let b = app.signed_in(EMAIL).await;
    let res = b.get("/team").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert!(res.headers().contains_key("content-security-policy"));
    let page = res.text().await.unwrap();
    assert!(page.contains("<title>Team · Latchkey</title>"), "{page}");
    assert!(page.contains("Hello, ann@example.com."), "{page}");
    assert!(
        page.contains("action=\"/logout\""),
        "the frame's sign-out form"
    );
    // Latchkey's own pages are still there.
    assert_eq!(b.get("/account").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn signed_out_the_team_page_sends_to_sign_in_and_back() {
    let app = TestApp::with_routes(routes, |_| {}).await;
    app.signed_in(EMAIL).await;
    let b = app.browser();
    let res = b.get("/team").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), "/login?reason=expired&next=/team");
    let login = b.get(&location(&res)).await.text().await.unwrap();
    assert!(login.contains("Your session has expired. Please sign in again."));
    assert_eq!(
        location(&b.login_next(EMAIL, PASSWORD, "/team").await),
        "/team"
    );
    assert_eq!(b.get("/team").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_transparently_on_the_team_page() {
    let app = TestApp::with_routes(routes, |_| {}).await;
    let b = app.signed_in(EMAIL).await;
    let old_refresh = b.cookie("__Host-refresh").unwrap();
    app.age_access(&b, EMAIL, 3600);
    let res = b.get("/team").await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        set_cookie(&res, "__Host-access").is_some(),
        "a new access cookie"
    );
    assert!(
        set_cookie(&res, "__Host-refresh").is_some(),
        "a rotated refresh cookie"
    );
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Hello, ann@example.com."));
    assert_ne!(b.cookie("__Host-refresh").unwrap(), old_refresh);
}

#[tokio::test]
async fn the_team_form_needs_this_sessions_csrf_token() {
    let app = TestApp::with_routes(routes, |_| {}).await;
    let b = app.signed_in(EMAIL).await;
    let res = b
        .post_signed_in("/team", "/team", &[("message", "<b>ship it</b>")])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let page = res.text().await.unwrap();
    assert!(
        page.contains("You said: &#60;b&#62;ship it&#60;/b&#62;"),
        "escaped: {page}"
    );

    for token in [None, Some("forged")] {
        let mut fields = vec![("message", "no token")];
        fields.extend(token.map(|t| ("csrf_token", t)));
        let res = b.post_form("/team", &fields).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{token:?}");
    }
    let other = app.signed_in("bob@example.com").await;
    let bobs = other.form_token("/team", "/team").await;
    let res = b
        .post_form("/team", &[("message", "x"), ("csrf_token", &bobs)])
        .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "another session's token"
    );
}

#[tokio::test]
async fn under_a_base_path_the_team_page_and_its_links_carry_it() {
    let app = TestApp::with_routes(routes, |env| {
        env.insert("LATCHKEY_BASE_PATH".into(), "/auth".into());
    })
    .await;
    let b = app.browser();
    assert_eq!(b.get("/team").await.status(), StatusCode::NOT_FOUND);
    let res = b.get("/auth/team").await;
    assert_eq!(location(&res), "/auth/login?reason=expired&next=/auth/team");

    let token = b.form_token("/auth/register", "/auth/register").await;
    let res = b
        .post_form(
            "/auth/register",
            &[
                ("email", EMAIL),
                ("password", PASSWORD),
                ("csrf_token", &token),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let page = b.get("/auth/team").await.text().await.unwrap();
    assert!(page.contains("action=\"/auth/team\""), "{page}");
    assert!(page.contains("action=\"/auth/logout\""), "{page}");
    let token = csrf_in_form(&page, "/auth/team").unwrap();
    let res = b
        .post_form("/auth/team", &[("message", "hi"), ("csrf_token", &token)])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}
