//! The own-host layout through nginx (`deploy/nginx/own-host.conf`): Latchkey on
//! auth.example.test guards app.example.test, the session shared through the cookie domain.

use super::*;
use reqwest::{Method, StatusCode};

const EMAIL: &str = "ann@example.com";

/// A client that resolves both names to the proxy and keeps one cookie jar for the domain.
fn browser(base: &str, port: u16) -> Browser {
    let proxy = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    Browser {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .resolve("auth.example.test", proxy)
            .resolve("app.example.test", proxy)
            .build()
            .unwrap(),
        ..Browser::new(base)
    }
}

#[tokio::test]
async fn an_app_on_another_host_shares_the_session_and_sign_in_comes_back_to_it() {
    if !installed(Kind::Nginx) {
        return;
    }
    let port = free_port();
    let auth = format!("http://auth.example.test:{port}");
    let app_origin = format!("http://app.example.test:{port}");
    let public = auth.clone();
    let latchkey = TestApp::spawn_with(Store::Sqlite, move |env| {
        env.insert("LATCHKEY_PUBLIC_URL".into(), public.clone());
        env.insert("LATCHKEY_COOKIE_DOMAIN".into(), "example.test".into());
        env.insert("LATCHKEY_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
        env.insert("LATCHKEY_COOKIE_SECURE".into(), "false".into());
    })
    .await;
    let upstream = Upstream::start().await;
    let _proxy = Proxy::start_file(
        Kind::Nginx,
        "nginx/own-host.conf",
        port,
        latchkey.port,
        upstream.port,
    )
    .await;

    let on_app = browser(&app_origin, port);
    let res = on_app
        .send(Method::GET, "/reports?y=1", super::NAVIGATE, None)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let original = format!("{app_origin}/reports?y=1");
    assert_eq!(
        location(&res),
        format!(
            "{auth}/login?next={}",
            latchkey::http::next::encode(&original)
        )
    );
    assert!(upstream.received("/").is_empty());

    // Signing up on Latchkey's host sets cookies for the whole domain.
    let on_auth = browser(&auth, port);
    let token = on_auth.form_token("/register", "/register").await;
    let res = on_auth
        .post_form(
            "/register",
            &[
                ("email", EMAIL),
                ("password", PASSWORD),
                ("csrf_token", &token),
            ],
        )
        .await;
    let access = set_cookie(&res, "access").unwrap();
    assert!(access.contains("Domain=example.test"), "{access}");
    // Sign in again with next: back to the app's page.
    let token = on_auth.form_token("/login", "/login").await;
    let res = on_auth
        .post_form(
            "/login",
            &[
                ("email", EMAIL),
                ("password", PASSWORD),
                ("csrf_token", &token),
                ("next", &original),
            ],
        )
        .await;
    assert_eq!(location(&res), original);

    // The app's host sees the same session (the jar holds the domain's cookies).
    let shared = browser(&app_origin, port);
    *shared.jar.lock().unwrap() = on_auth.jar.lock().unwrap().clone();
    let res = shared
        .send(Method::GET, "/reports?y=1", super::NAVIGATE, None)
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let v: serde_json::Value = res.json().await.unwrap();
    assert_eq!(v["headers"]["remote-user"], EMAIL);
}
