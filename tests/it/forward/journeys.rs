//! Each point of issue 16's item 6, through nginx and through Caddy.

use super::*;
use reqwest::{Method, StatusCode};
use std::time::Instant;

/// Defines a test once per proxy (on SQLite; the guard underneath is the same on both stores).
macro_rules! through_both {
    ($(#[$meta:meta])* async fn $name:ident($kind:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn nginx() {
                let $kind = Kind::Nginx;
                if !installed($kind) {
                    return;
                }
                $body
            }

            #[tokio::test]
            async fn caddy() {
                let $kind = Kind::Caddy;
                if !installed($kind) {
                    return;
                }
                $body
            }
        }
    };
}

async fn nav(b: &Browser, path: &str) -> reqwest::Response {
    b.send(Method::GET, path, NAVIGATE, None).await
}

/// The headers the upstream app echoed.
async fn echoed(res: reqwest::Response) -> BTreeMap<String, String> {
    let v: serde_json::Value = res.json().await.unwrap();
    serde_json::from_value(v["headers"].clone()).unwrap()
}

fn next_of(location: &str) -> String {
    let q = location.split_once('?').unwrap().1;
    let raw = q
        .split('&')
        .find_map(|p| p.strip_prefix("next="))
        .unwrap_or("");
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .unwrap()
        .into_owned()
}

through_both! {
    async fn sign_in_through_the_proxy_returns_to_the_original_url(kind) {
        let s = Stack::start(kind, Store::Sqlite).await;
        s.signed_in("boss@example.com").await;
        let b = s.browser();
        let res = nav(&b, "/app/page?x=1&y=%2F").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let signin = location(&res);
        assert!(signin.starts_with("/auth/login?next="), "{signin}");
        let original = format!("{}/app/page?x=1&y=%2F", s.proxy.base());
        assert_eq!(next_of(&signin), original);
        // A script's call gets a status it can handle, not the sign-in page.
        let res = b.send(Method::GET, "/app/data", FETCH, None).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(s.upstream.received("/app/").is_empty(), "nothing reached the app");

        let html = b.get(&signin).await.text().await.unwrap();
        let token = csrf_in(&html).unwrap();
        assert!(html.contains("action=\"/auth/login\""));
        s.app.exec("SELECT 1");
        let ann = s.browser();
        ann.jar.lock().unwrap().extend(b.jar.lock().unwrap().clone());
        // Ann signs up elsewhere first, then signs in on this browser.
        s.signed_in("ann@example.com").await;
        let res = ann
            .post_form(
                "/auth/login",
                &[
                    ("email", "ann@example.com"),
                    ("password", PASSWORD),
                    ("csrf_token", &token),
                    ("next", &original),
                ],
            )
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), original);
        let res = nav(&ann, "/app/page?x=1&y=%2F").await;
        assert_eq!(res.status(), StatusCode::OK);
        let h = echoed(res).await;
        let (uid, _) = s.app.ids_of("ann@example.com");
        assert_eq!(h.get("remote-user").map(String::as_str), Some("ann@example.com"));
        assert_eq!(h.get("remote-email").map(String::as_str), Some("ann@example.com"));
        assert_eq!(h.get("remote-groups").map(String::as_str), Some("user"));
        assert_eq!(h.get("remote-user-id"), Some(&uid));
        let sid = h.get("remote-session-id").unwrap();
        assert_eq!(
            s.app.count(&format!(
                "SELECT COUNT(*) AS n FROM sessions WHERE id = '{sid}' AND user_id = '{uid}' AND revoked_at IS NULL"
            )),
            1
        );
        // A next to another site falls back to the account page.
        let res = ann
            .post_form(
                "/auth/login",
                &[
                    ("email", "ann@example.com"),
                    ("password", PASSWORD),
                    ("csrf_token", &ann.form_token("/auth/login", "/auth/login").await),
                    ("next", "http://evil.example/app"),
                ],
            )
            .await;
        assert_eq!(location(&res), "/auth/account");
    }
}

through_both! {
    async fn staying_signed_in_across_access_expiry_rotates_both_cookies(kind) {
        let s = Stack::start(kind, Store::Sqlite).await;
        let b = s.signed_in("ann@example.com").await;
        for round in 0..4 {
            let before = b.cookie("refresh").unwrap();
            s.age_access(&b, "ann@example.com", 3600);
            let res = nav(&b, &format!("/app/round/{round}")).await;
            assert_eq!(res.status(), StatusCode::OK, "round {round}");
            let cookies = set_cookies(&res);
            assert_eq!(cookies.len(), 2, "both cookies reach the browser: {cookies:?}");
            assert!(cookies.iter().any(|c| c.starts_with("access=")));
            assert!(cookies.iter().any(|c| c.starts_with("refresh=")));
            assert_ne!(b.cookie("refresh").unwrap(), before, "round {round}");
            let h = echoed(res).await;
            assert_eq!(h.get("remote-user").map(String::as_str), Some("ann@example.com"));
            // With a fresh access cookie nothing is set.
            let res = nav(&b, "/app/again").await;
            assert_eq!(res.status(), StatusCode::OK);
            assert!(set_cookies(&res).is_empty());
        }
        assert_eq!(s.app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL"), 1);
    }
}

through_both! {
    async fn a_parallel_burst_across_expiry_signs_nobody_out(kind) {
        let s = Stack::start(kind, Store::Sqlite).await;
        let b = s.signed_in("ann@example.com").await;
        s.age_access(&b, "ann@example.com", 3600);
        let mut tasks = Vec::new();
        for i in 0..12 {
            let tab = b.clone_cookies();
            tasks.push(tokio::spawn(async move {
                tab.send(Method::GET, &format!("/app/burst/{i}"), FETCH, None).await.status()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), StatusCode::OK);
        }
        // The tab that keeps the original cookies still gets in afterwards (grace window), and
        // so does one holding the successor.
        assert_eq!(nav(&b, "/app/after").await.status(), StatusCode::OK);
        assert_eq!(nav(&b, "/app/after").await.status(), StatusCode::OK);
        assert!(s.app.audit("refresh_reuse_detected").is_empty());
    }
}

through_both! {
    async fn replayed_refresh_cookies_end_on_reason_reused(kind) {
        let s = Stack::start_with(kind, Store::Sqlite, |env| {
            env.insert("LATCHKEY_REFRESH_GRACE".into(), "0s".into());
        })
        .await;
        let b = s.signed_in("ann@example.com").await;
        let thief = b.clone_cookies();
        s.age_access(&b, "ann@example.com", 3600);
        assert_eq!(nav(&b, "/app/one").await.status(), StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        s.age_access(&thief, "ann@example.com", 3600);
        let res = nav(&thief, "/app/stolen").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert!(location(&res).contains("reason=reused"), "{}", location(&res));
        assert_eq!(s.app.audit("refresh_reuse_detected").len(), 1);
        assert!(s.upstream.received("/app/stolen").is_empty());
    }
}

through_both! {
    async fn role_admin_gives_non_admins_403(kind) {
        let s = Stack::start(kind, Store::Sqlite).await;
        let boss = s.signed_in("boss@example.com").await;
        let ann = s.signed_in("ann@example.com").await;
        assert_eq!(nav(&ann, "/admin-area/x").await.status(), StatusCode::FORBIDDEN);
        assert!(s.upstream.received("/admin-area/").is_empty());
        let res = nav(&boss, "/admin-area/x").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(echoed(res).await.get("remote-groups").map(String::as_str), Some("admin"));
    }
}

through_both! {
    async fn a_forged_remote_user_never_reaches_the_upstream(kind) {
        let s = Stack::start(kind, Store::Sqlite).await;
        s.signed_in("boss@example.com").await;
        let ann = s.signed_in("ann@example.com").await;
        let forged: &[(&str, &str)] = &[
            ("remote-user", "boss@example.com"),
            ("remote-groups", "admin"),
            ("remote-name", "Boss"),
            ("accept", "text/html"),
        ];
        let res = ann.send(Method::GET, "/app/me", forged, None).await;
        assert_eq!(res.status(), StatusCode::OK);
        let h = echoed(res).await;
        assert_eq!(h.get("remote-user").map(String::as_str), Some("ann@example.com"));
        assert_eq!(h.get("remote-groups").map(String::as_str), Some("user"));
        assert!(!h.contains_key("remote-name"));
        let stranger = s.browser();
        let res = stranger.send(Method::GET, "/app/me", forged, None).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        for seen in s.upstream.received("/") {
            assert_ne!(seen.headers.get("remote-user").map(String::as_str), Some("boss@example.com"));
        }
    }
}

through_both! {
    async fn a_post_with_an_expired_session_gets_401_and_changes_nothing(kind) {
        let s = Stack::start(kind, Store::Sqlite).await;
        let b = s.signed_in("ann@example.com").await;
        s.app.exec("UPDATE sessions SET expires_at = 1");
        s.age_access(&b, "ann@example.com", 3600);
        let res = b
            .send(
                Method::POST,
                "/app/form",
                &[("accept", "text/html")],
                Some(Body::Form(vec![("x".into(), "1".into())])),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let cleared = set_cookies(&res);
        assert!(
            cleared.iter().any(|c| c.starts_with("refresh=;") && c.contains("Max-Age=0")),
            "the dead cookies are cleared through the proxy: {cleared:?}"
        );
        assert!(s.upstream.received("/app/form").is_empty(), "the POST never reached the app");
    }
}

through_both! {
    async fn a_websocket_upgrade_needs_a_session(kind) {
        let s = Stack::start(kind, Store::Sqlite).await;
        let b = s.signed_in("ann@example.com").await;
        let cookie = format!(
            "access={}; refresh={}",
            b.cookie("access").unwrap(),
            b.cookie("refresh").unwrap()
        );
        let upgrade = |cookie: Option<&str>| {
            let mut head = format!(
                "GET /app/ws HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n",
                s.proxy.port
            );
            if let Some(c) = cookie {
                head.push_str(&format!("Cookie: {c}\r\n"));
            }
            head.push_str("\r\n");
            head
        };
        let first_line = |head: String| {
            let port = s.proxy.port;
            async move {
                tokio::task::spawn_blocking(move || {
                    use std::io::{Read, Write};
                    let mut sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
                    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    sock.write_all(head.as_bytes()).unwrap();
                    let mut buf = [0u8; 64];
                    let n = sock.read(&mut buf).unwrap_or(0);
                    String::from_utf8_lossy(&buf[..n]).lines().next().unwrap_or("").to_string()
                })
                .await
                .unwrap()
            }
        };
        let line = first_line(upgrade(Some(&cookie))).await;
        assert!(line.starts_with("HTTP/1.1 101"), "{line}");
        let line = first_line(upgrade(None)).await;
        assert!(line.starts_with("HTTP/1.1 401"), "{line}");
        assert_eq!(s.upstream.received("/app/ws").len(), 1);
    }
}

through_both! {
    async fn an_admins_revocation_reaches_the_upstreams_user(kind) {
        let s = Stack::start(kind, Store::Sqlite).await;
        let boss = s.signed_in("boss@example.com").await;
        let ann = s.signed_in("ann@example.com").await;
        assert_eq!(nav(&ann, "/app/x").await.status(), StatusCode::OK);
        let (uid, _) = s.app.ids_of("ann@example.com");
        let page = format!("/auth/admin/users/{uid}");
        let action = format!("/auth/admin/users/{uid}/revoke-all");
        let res = boss.post_signed_in(&page, &action, &[]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        // LATCHKEY_REVOCATION_SYNC is 1 s in tests; wait on the condition, generously.
        let started = Instant::now();
        let refused = loop {
            let res = nav(&ann, "/app/x").await;
            if res.status() != StatusCode::OK {
                break res;
            }
            assert!(started.elapsed() < Duration::from_secs(30), "still signed in");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        assert_eq!(refused.status(), StatusCode::SEE_OTHER);
        assert!(location(&refused).contains("reason=revoked"), "{}", location(&refused));
    }
}
