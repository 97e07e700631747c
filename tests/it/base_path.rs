//! `LATCHKEY_BASE_PATH`: every route, page, form, redirect, API, static file and probe lives
//! under the prefix, and every URL a page names carries it; cookies keep `Path=/`.

use crate::common::*;
use reqwest::StatusCode;

/// Every `href`, `action` and `src` in a page that names a path.
fn paths_in(html: &str) -> Vec<String> {
    let mut out = Vec::new();
    for attr in ["href=\"", "action=\"", "src=\""] {
        for (i, _) in html.match_indices(attr) {
            let rest = &html[i + attr.len()..];
            let value = &rest[..rest.find('"').unwrap()];
            if value.starts_with('/') {
                out.push(value.to_string());
            }
        }
    }
    out
}

fn all_under_base(html: &str) {
    let paths = paths_in(html);
    assert!(!paths.is_empty(), "{html}");
    for p in paths {
        assert!(p.starts_with("/auth/"), "{p} is not under the base path");
    }
}

on_both! {
    async fn every_route_and_link_lives_under_the_base_path(store) {
        let app = TestApp::spawn_with(store, |env| {
            env.insert("LATCHKEY_BASE_PATH".into(), "/auth".into());
        })
        .await;
        let b = app.browser();
        for probe in ["/auth/healthz", "/auth/readyz", "/auth/static/style.css", "/auth/metrics"] {
            assert_eq!(b.get(probe).await.status(), StatusCode::OK, "{probe}");
        }
        for outside in ["/healthz", "/login", "/static/style.css", "/api/me", "/authz"] {
            assert_eq!(b.get(outside).await.status(), StatusCode::NOT_FOUND, "{outside}");
        }
        let html = b.get("/auth/register").await.text().await.unwrap();
        all_under_base(&html);
        let token = csrf_in(&html).unwrap();
        let res = b
            .post_form(
                "/auth/register",
                &[("email", "ann@example.com"), ("password", PASSWORD), ("csrf_token", &token)],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), "/auth/account?notice=welcome_admin");
        let access = set_cookie(&res, "__Host-access").unwrap();
        assert!(access.contains("Path=/;") || access.ends_with("Path=/"), "{access}");
        for page in ["/auth/account", "/auth/account/sessions", "/auth/admin", "/auth/admin/users", "/auth/"] {
            let res = b.get(page).await;
            assert_eq!(res.status(), StatusCode::OK, "{page}");
            all_under_base(&res.text().await.unwrap());
        }
        let me = b.get("/auth/api/me").await;
        assert_eq!(me.status(), StatusCode::OK);

        // Signed out: the guard sends the browser to the prefixed sign-in page, `next` included.
        let stranger = app.browser();
        let res = stranger.get("/auth/account/sessions").await;
        assert_eq!(location(&res), "/auth/login?reason=expired&next=/auth/account/sessions");
        let res = stranger.get("/auth/api/me").await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "NO_TOKEN");
        let html = stranger.get("/auth/nowhere").await.text().await.unwrap();
        all_under_base(&html);

        // Sign-in returns to `next`, or to the prefixed account page.
        let token = stranger.form_token("/auth/login", "/auth/login").await;
        let res = stranger
            .post_form(
                "/auth/login",
                &[
                    ("email", "ann@example.com"),
                    ("password", PASSWORD),
                    ("csrf_token", &token),
                    ("next", "/auth/account/sessions"),
                ],
            )
            .await;
        assert_eq!(location(&res), "/auth/account/sessions");
        let token = b.form_token("/auth/account", "/auth/logout").await;
        let res = b.post_form("/auth/logout", &[("csrf_token", &token)]).await;
        assert_eq!(location(&res), "/auth/login?reason=signed_out");
        let token = b.form_token("/auth/login", "/auth/login").await;
        let res = b
            .post_form(
                "/auth/login",
                &[("email", "ann@example.com"), ("password", PASSWORD), ("csrf_token", &token)],
            )
            .await;
        assert_eq!(location(&res), "/auth/account");
    }
}
