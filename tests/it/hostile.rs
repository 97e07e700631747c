//! Request hygiene: auth cookies matched by exact name (duplicates refused, look-alikes
//! ignored), one `Authorization` header, the `next` rule, the `Origin` / `Sec-Fetch-Site`
//! checks, and sign-in always starting a new family while ending any family presented.

use crate::common::*;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::Duration;

const EMAIL: &str = "ann@example.com";

/// An answer read in full.
pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    /// The JSON `code`, if any.
    pub fn code(&self) -> Option<String> {
        serde_json::from_str::<Value>(&self.body)
            .ok()
            .and_then(|v| v["code"].as_str().map(String::from))
    }

    /// Whether the answer mints a session (a non-empty access cookie).
    pub fn mints_session(&self) -> bool {
        self.headers.get_all("set-cookie").iter().any(|v| {
            let v = v.to_str().unwrap_or("");
            (v.starts_with("__Host-access=") && !v.starts_with("__Host-access=;"))
                || (v.starts_with("__Host-refresh=") && !v.starts_with("__Host-refresh=;"))
        })
    }
}

/// Sends exactly the given header bytes (no jar, no Origin), so tests can send what a browser
/// would never send.
pub async fn raw(
    base: &str,
    method: Method,
    path: &str,
    headers: &[(&str, Vec<u8>)],
    body: Option<(&str, Vec<u8>)>,
) -> Answer {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_bytes(v).unwrap(),
        );
    }
    let mut req = client.request(method, format!("{base}{path}")).headers(map);
    if let Some((ct, bytes)) = body {
        req = req.header("content-type", ct).body(bytes);
    }
    match req.send().await {
        Ok(res) => Answer {
            status: res.status(),
            headers: res.headers().clone(),
            body: res.text().await.unwrap_or_default(),
        },
        // The server closed the connection on an oversized request: not a 5xx, not signed in.
        Err(e) => Answer {
            status: StatusCode::from_u16(499).unwrap(),
            headers: HeaderMap::new(),
            body: e.to_string(),
        },
    }
}

async fn me_with_cookie(app: &TestApp, cookie: Vec<u8>) -> Answer {
    raw(
        &app.base,
        Method::GET,
        "/api/me",
        &[("cookie", cookie)],
        None,
    )
    .await
}

on_both! {
    async fn auth_cookies_are_matched_by_exact_name_and_duplicates_are_refused(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        let (access, refresh) = (b.cookie("__Host-access").unwrap(), b.cookie("__Host-refresh").unwrap());
        let ok = me_with_cookie(&app, format!("__Host-access={access}").into_bytes()).await;
        assert_eq!(ok.status, StatusCode::OK, "the control case");

        for (what, header) in [
            ("two access cookies", format!("__Host-access={access}; __Host-access={access}").into_bytes()),
            ("two refresh cookies", format!("__Host-refresh={refresh}; __Host-refresh={refresh}").into_bytes()),
            ("a valid access cookie and a second refresh", format!("__Host-access={access}; __Host-refresh=x; __Host-refresh={refresh}").into_bytes()),
            ("an access cookie that is not UTF-8", b"__Host-access=eyJ\xff\xfe.eyJ.sig".to_vec()),
        ] {
            let a = me_with_cookie(&app, header).await;
            assert_eq!((a.status, a.code().as_deref()), (StatusCode::UNAUTHORIZED, Some("INVALID_TOKEN")), "{what}");
            assert!(!a.mints_session(), "{what}");
        }
        let page = raw(&app.base, Method::GET, "/account", &[("cookie", format!("__Host-access={access}; __Host-access={access}").into_bytes())], None).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "a page with two access cookies is not served");

        let mut nbsp_after = b"__Host-access\xa0=".to_vec();
        nbsp_after.extend(access.as_bytes());
        let mut nbsp_before = b"\xc2\xa0__Host-access=".to_vec();
        nbsp_before.extend(access.as_bytes());
        for (what, header) in [
            ("percent-encoded name", format!("%5F_Host-access={access}").into_bytes()),
            ("fully encoded name", format!("%5F%5FHost-access={access}; %5F%5FHost-refresh={refresh}").into_bytes()),
            ("lower-case prefix", format!("__host-access={access}").into_bytes()),
            ("unprefixed name", format!("access={access}; refresh={refresh}").into_bytes()),
            ("space before =", format!("__Host-access ={access}").into_bytes()),
            ("no-break space after the name", nbsp_after),
            ("UTF-8 no-break space before the name", nbsp_before),
        ] {
            let a = me_with_cookie(&app, header).await;
            assert_eq!((a.status, a.code().as_deref()), (StatusCode::UNAUTHORIZED, Some("NO_TOKEN")), "{what} is ignored");
        }

        // Look-alikes are ignored, not counted as duplicates; junk elsewhere hides nothing.
        let decoy = me_with_cookie(&app, format!("%5F_Host-access=junk; __Host-access={access}").into_bytes()).await;
        assert_eq!(decoy.status, StatusCode::OK);
        let mut junk = b"theme=\xff\xfe; ".to_vec();
        junk.extend(format!("__Host-access={access}").as_bytes());
        assert_eq!(me_with_cookie(&app, junk).await.status, StatusCode::OK);
    }
}

on_both! {
    async fn only_one_authorization_header_and_it_never_falls_back_to_cookies(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        let access = b.cookie("__Host-access").unwrap();
        let bearer = format!("Bearer {access}").into_bytes();
        let cookie = format!("__Host-access={access}").into_bytes();
        for (what, headers) in [
            ("twice the same", vec![("authorization", bearer.clone()), ("authorization", bearer.clone())]),
            ("a valid one and junk", vec![("authorization", bearer.clone()), ("authorization", b"Bearer junk".to_vec())]),
            ("junk Bearer with a valid cookie", vec![("authorization", b"Bearer junk".to_vec()), ("cookie", cookie.clone())]),
            ("a Basic header with a valid cookie", vec![("authorization", b"Basic YTpi".to_vec()), ("cookie", cookie.clone())]),
        ] {
            let a = raw(&app.base, Method::GET, "/api/me", &headers, None).await;
            assert_eq!((a.status, a.code().as_deref()), (StatusCode::UNAUTHORIZED, Some("INVALID_TOKEN")), "{what}");
            assert!(a.headers["www-authenticate"].to_str().unwrap().contains("invalid_token"));
        }
    }
}

on_both! {
    async fn next_accepts_only_local_paths(store) {
        let app = TestApp::on(store).await;
        app.signed_in(EMAIL).await;
        for (next, to) in [
            ("/account?tab=1", "/account?tab=1"),
            ("/a/b#frag", "/a/b#frag"),
            ("//evil.example", "/account"),
            ("/\\evil.example", "/account"),
            ("\\\\evil.example", "/account"),
            ("https://evil.example/", "/account"),
            ("javascript:alert(1)", "/account"),
            ("evil.example", "/account"),
            (" /account", "/account"),
            ("/\t/evil.example", "/account"),
            ("/\r\nSet-Cookie: x=y", "/account"),
            ("/%0d%0aSet-Cookie:x", "/%0d%0aSet-Cookie:x"),
        ] {
            let res = app.browser().login_next(EMAIL, PASSWORD, next).await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{next:?}");
            assert_eq!(location(&res), to, "{next:?}");
            assert!(set_cookie(&res, "x").is_none());
        }
        let page = app.browser().get("/login?next=%2F%2Fevil.example").await.text().await.unwrap();
        assert!(!page.contains("evil.example"), "the form never carries a foreign next");
        let res = app.browser().get("/account?x=%2F%2Fevil").await;
        assert!(location(&res).starts_with("/login?reason=expired&next=/account"), "{}", location(&res));
    }
}

on_both! {
    async fn cross_site_same_site_null_and_foreign_origins_are_refused(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        let host = app.base.trim_start_matches("http://").to_string();
        let token = b.form_token("/account", "/logout").await;
        for (what, headers) in [
            ("Sec-Fetch-Site: cross-site", vec![("sec-fetch-site", "cross-site")]),
            ("Sec-Fetch-Site: same-site", vec![("sec-fetch-site", "same-site")]),
            ("Sec-Fetch-Site: same-site with our Origin", vec![("sec-fetch-site", "same-site"), ("origin", app.base.as_str())]),
            ("Origin: null", vec![("origin", "null")]),
            ("a foreign Origin", vec![("origin", "http://evil.example")]),
            ("our host on another port", vec![("origin", "http://127.0.0.1:1")]),
            ("our Origin but another Host", vec![("origin", app.base.as_str()), ("host", "evil.example")]),
            ("an Origin that only starts like ours", vec![("origin", &*format!("{}.evil.example", app.base).leak())]),
        ] {
            let pairs = vec![("csrf_token".to_string(), token.clone())];
            let res = b.send(Method::POST, "/logout", &headers, Some(Body::Form(pairs))).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN, "{what}");
            let api = b
                .send(Method::POST, "/api/auth/token", &headers, Some(Body::Json(json!({"email": EMAIL, "password": PASSWORD}))))
                .await;
            assert_eq!(api.status(), StatusCode::FORBIDDEN, "{what} (API sign-in)");
            assert_eq!(api.json::<Value>().await.unwrap()["code"], "CSRF_FAILED");
        }
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL"), 1, "nothing changed");
        let same = b
            .send(Method::POST, "/logout", &[("origin", &app.base), ("sec-fetch-site", "same-origin"), ("host", &host)], Some(Body::Form(vec![("csrf_token".into(), token)])))
            .await;
        assert_eq!(same.status(), StatusCode::SEE_OTHER, "the same request from our own page works");
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL"), 0);
    }
}

on_both! {
    async fn sign_in_always_starts_a_new_family_and_ends_every_family_presented(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        let bob = app.signed_in("bob@example.com").await;
        let (_, first) = app.ids_of(EMAIL);
        let (_, bobs) = app.ids_of("bob@example.com");
        let old_refresh = b.cookie("__Host-refresh").unwrap();
        // A browser that carries Bob's refresh cookie signs in as Ann: Bob's family (presented
        // by this request) ends too, and Ann gets a new family, never the presented one.
        b.set_cookie("__Host-refresh", &bob.cookie("__Host-refresh").unwrap());
        let res = b.login(EMAIL, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let newer = |known: &[&str]| {
            app.text(&format!(
                "SELECT s.id AS s FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE u.email = '{EMAIL}' AND s.revoked_at IS NULL AND s.id NOT IN ('{}')",
                known.join("', '")
            ))
        };
        let second = newer(&[&first]);
        assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM sessions WHERE id = '{bobs}' AND revoked_at IS NOT NULL")), 1, "the presented family ended");
        assert_ne!(b.cookie("__Host-refresh").unwrap(), old_refresh);
        let res = bob.get("/account").await;
        assert_eq!(location(&res), "/login?reason=revoked&next=/account");
        // Signing in again from a browser holding a fixed (planted) family never adopts it.
        let planted = Browser::new(&app.base);
        planted.set_cookie("__Host-refresh", &b.cookie("__Host-refresh").unwrap());
        assert_eq!(planted.login(EMAIL, PASSWORD).await.status(), StatusCode::SEE_OTHER);
        let third = newer(&[&first, &second]);
        assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM sessions WHERE id = '{second}' AND revoked_at IS NOT NULL")), 1);
        assert_eq!(app.count(&format!("SELECT COUNT(*) AS n FROM sessions WHERE id = '{third}' AND revoked_at IS NULL")), 1);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_slower_than_the_body_timeout_is_refused_and_its_connection_closed() {
    let app = TestApp::spawn_with(Store::Sqlite, |env| {
        env.insert("LATCHKEY_BODY_TIMEOUT".into(), "2s".into());
    })
    .await;
    let body = br#"{"email":"nobody@example.com","password":"whatever it is"}"#;
    let head = format!(
        "POST /api/auth/token HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (first, rest) = body.split_at(10);

    // Slow but inside the deadline: served as usual.
    let (base, h) = (app.base.clone(), head.clone());
    let (answer, _, _) = tokio::task::spawn_blocking(move || {
        raw_exchange(&base, &h, &[first, rest], Duration::from_millis(100))
    })
    .await
    .unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("INVALID_CREDENTIALS"), "{answer}");

    // Ten bytes of the body, then nothing: refused once the deadline is up, and hung up on,
    // rather than held open for as long as the client likes.
    let base = app.base.clone();
    let (answer, took, closed) =
        tokio::task::spawn_blocking(move || raw_exchange(&base, &head, &[first], Duration::ZERO))
            .await
            .unwrap();
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("\"code\":\"BAD_REQUEST\""), "{answer}");
    // Closed by the server: a connection held open would have run into the client's own 10 s
    // read timeout instead. No upper bound on the time: a busy machine may answer late.
    assert!(closed, "the server closed the connection");
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(60),
        "{took:?}"
    );
}
