//! The JSON API: every error code, the RFC 6750 headers, rotation and reuse over JSON.

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const EMAIL: &str = "ann@example.com";

async fn token_pair(b: &Browser) -> Value {
    let res = b
        .send(
            Method::POST,
            "/api/auth/token",
            &[],
            Some(Body::Json(json!({"email": EMAIL, "password": PASSWORD}))),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json().await.unwrap()
}

async fn call(
    b: &Browser,
    method: Method,
    path: &str,
    bearer: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("authorization", a)])
        .unwrap_or_default();
    let res = b.send(method, path, &headers, body.map(Body::Json)).await;
    let (status, h) = (res.status(), res.headers().clone());
    let text = res.text().await.unwrap();
    (
        status,
        h,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

fn api() -> Browser {
    // An API client: no cookies are kept.
    Browser::new("")
}

on_both! {
    async fn token_me_and_the_pair_shape(store) {
        let app = TestApp::on(store).await;
        app.signed_in(EMAIL).await;
        let c = Browser::new(&app.base);
        let pair = token_pair(&c).await;
        assert_eq!(pair["token_type"], "Bearer");
        assert!((890..=900).contains(&pair["expires_in"].as_i64().unwrap()));
        assert_eq!(pair["refresh_token"].as_str().unwrap().len(), 43);
        let (status, _, me) = call(
            &c,
            Method::GET,
            "/api/me",
            pair["access_token"].as_str(),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(me["email"], EMAIL);
        assert_eq!(me["role"], "admin");
        let (uid, sid) = app.ids_of(EMAIL);
        assert_eq!(me["id"], uid);
        assert_eq!(me["session_id"].as_str().unwrap().len(), sid.len());
        let _ = api();
    }
}

on_both! {
    async fn every_token_error_has_its_own_code_and_bearer_challenge(store) {
        let app = TestApp::on(store).await;
        app.signed_in(EMAIL).await;
        let c = Browser::new(&app.base);

        let (status, h, body) = call(&c, Method::GET, "/api/me", None, None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("NO_TOKEN"))
        );
        assert_eq!(h["www-authenticate"], "Bearer realm=\"latchkey\"");

        let (uid, sid) = app.ids_of(EMAIL);
        let expired = app.sign_access(&uid, &sid, true, EMAIL, latchkey::db::now() - 3600);
        let (status, h, body) = call(&c, Method::GET, "/api/me", Some(&expired), None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("TOKEN_EXPIRED"))
        );
        assert!(h["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("error=\"invalid_token\""));
        let at = time::OffsetDateTime::parse(
            body["expired_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap();
        assert_eq!(at.unix_timestamp(), latchkey::db::now() - 3600 + 900);

        let (status, h, body) = call(&c, Method::GET, "/api/me", Some("not.a.token"), None).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("INVALID_TOKEN"))
        );
        assert!(h["www-authenticate"]
            .to_str()
            .unwrap()
            .contains("invalid_token"));
        assert!(body["error"].as_str().unwrap().ends_with('.'));

        let (status, _, body) = call(
            &c,
            Method::POST,
            "/api/auth/token",
            None,
            Some(json!({"email": EMAIL, "password": "wrong!"})),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("INVALID_CREDENTIALS"))
        );
        let (_, _, unknown) = call(
            &c,
            Method::POST,
            "/api/auth/token",
            None,
            Some(json!({"email": "x@y.io", "password": "wrong!"})),
        )
        .await;
        assert_eq!(
            unknown, body,
            "unknown e-mail and wrong password answer alike"
        );
    }
}

on_both! {
    async fn refresh_rotates_honours_the_grace_window_and_detects_reuse(store) {
        let app = TestApp::on(store).await;
        app.signed_in(EMAIL).await;
        let c = Browser::new(&app.base);
        let first = token_pair(&c).await;
        let r0 = first["refresh_token"].as_str().unwrap().to_string();

        let (status, _, second) = call(
            &c,
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": r0})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let r1 = second["refresh_token"].as_str().unwrap().to_string();
        assert_ne!(r0, r1);

        let (status, _, retry) = call(
            &c,
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": r0})),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "a retry inside the grace window succeeds"
        );
        assert_eq!(
            retry["refresh_token"], r1,
            "and is handed the same successor"
        );

        app.exec("UPDATE refresh_tokens SET used_at = used_at - 60 WHERE used_at IS NOT NULL");
        let (status, h, body) = call(
            &c,
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": r0})),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("REFRESH_REUSED"))
        );
        assert!(h.contains_key("www-authenticate"));
        let (_, _, body) = call(
            &c,
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": r1})),
        )
        .await;
        assert_eq!(
            body["code"], "REFRESH_REUSED",
            "the whole family is revoked"
        );
        let (_, _, body) = call(
            &c,
            Method::GET,
            "/api/me",
            second["access_token"].as_str(),
            None,
        )
        .await;
        assert_eq!(
            body["code"], "SESSION_REVOKED",
            "live access tokens of the family are refused"
        );
    }
}

on_both! {
    async fn unknown_malformed_and_expired_refresh_tokens_are_session_expired(store) {
        let app = TestApp::on(store).await;
        app.signed_in(EMAIL).await;
        let c = Browser::new(&app.base);
        for junk in [
            json!("x"),
            json!(latchkey::auth::RefreshToken::generate().expose()),
            json!("' OR 1=1 --"),
        ] {
            let (status, _, body) = call(
                &c,
                Method::POST,
                "/api/auth/refresh",
                None,
                Some(json!({"refresh_token": junk})),
            )
            .await;
            assert_eq!(
                (status, body["code"].as_str()),
                (StatusCode::UNAUTHORIZED, Some("SESSION_EXPIRED")),
                "{junk}"
            );
        }
        let pair = token_pair(&c).await;
        app.exec("UPDATE sessions SET last_used_at = last_used_at - 8 * 86400");
        let (_, _, body) = call(
            &c,
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": pair["refresh_token"]})),
        )
        .await;
        assert_eq!(body["code"], "SESSION_EXPIRED");
    }
}

on_both! {
    async fn bearer_logout_revokes_the_session(store) {
        let app = TestApp::on(store).await;
        app.signed_in(EMAIL).await;
        let c = Browser::new(&app.base);
        let pair = token_pair(&c).await;
        let at = pair["access_token"].as_str();
        let (status, _, _) = call(&c, Method::POST, "/api/auth/logout", at, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, _, body) = call(&c, Method::GET, "/api/me", at, None).await;
        assert_eq!(body["code"], "SESSION_REVOKED");
        let (_, _, body) = call(
            &c,
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": pair["refresh_token"]})),
        )
        .await;
        assert_eq!(body["code"], "SESSION_REVOKED");
    }
}

on_both! {
    async fn malformed_bodies_are_bad_requests_in_json(store) {
        let app = TestApp::on(store).await;
        let c = Browser::new(&app.base);
        for (ct, body) in [
            ("application/json", b"{not json".to_vec()),
            ("application/json", br#"{"email": 1}"#.to_vec()),
            (
                "text/plain",
                br#"{"email":"a@b.io","password":"x"}"#.to_vec(),
            ),
            ("application/json", vec![b'"'; 100_000]),
        ] {
            let res = c
                .send(
                    Method::POST,
                    "/api/auth/token",
                    &[],
                    Some(Body::Raw(ct, body)),
                )
                .await;
            // The contract pairs BAD_REQUEST with 400, whatever actix called the problem
            // (413 for a big body, 415 for a wrong content type).
            assert_eq!(res.status(), StatusCode::BAD_REQUEST);
            let v: Value = res.json().await.unwrap();
            assert_eq!(v["code"], "BAD_REQUEST");
        }
    }
}

on_both! {
    async fn cookie_clients_of_the_api_are_refreshed_and_need_csrf_to_change_state(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        app.age_access(&b, EMAIL, 3600);
        let res = b.get("/api/me").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert!(
            set_cookie(&res, "__Host-refresh").is_some(),
            "silent refresh for cookie clients"
        );
        let res = b.send(Method::POST, "/api/auth/logout", &[], None).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(res.json::<Value>().await.unwrap()["code"], "CSRF_FAILED");
        let (uid, sid) = app.ids_of(EMAIL);
        let _ = uid;
        let token = app.app_state.auth.csrf.for_session(&sid);
        let res = b
            .send(
                Method::POST,
                "/api/auth/logout",
                &[("x-csrf-token", token.as_str())],
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
    }
}

on_both! {
    async fn bearer_clients_never_get_a_silent_refresh(store) {
        let app = TestApp::on(store).await;
        let b = app.signed_in(EMAIL).await;
        let (uid, sid) = app.ids_of(EMAIL);
        let expired = app.sign_access(&uid, &sid, true, EMAIL, latchkey::db::now() - 3600);
        let res = b
            .send(
                Method::GET,
                "/api/me",
                &[("authorization", &format!("Bearer {expired}"))],
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert!(set_cookies(&res).is_empty());
        assert_eq!(res.json::<Value>().await.unwrap()["code"], "TOKEN_EXPIRED");
    }
}

on_both! {
    async fn two_authorization_headers_are_refused(store) {
        let app = TestApp::on(store).await;
        app.signed_in(EMAIL).await;
        let c = Browser::new(&app.base);
        let pair = token_pair(&c).await;
        let h = format!("Bearer {}", pair["access_token"].as_str().unwrap());
        let res = c
            .send(
                Method::GET,
                "/api/me",
                &[("authorization", &h), ("authorization", &h)],
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(res.json::<Value>().await.unwrap()["code"], "INVALID_TOKEN");
    }
}

on_both! {
    async fn a_database_failure_is_service_unavailable_in_json(store) {
        let app = TestApp::on(store).await;
        app.signed_in(EMAIL).await;
        let c = Browser::new(&app.base);
        let pair = token_pair(&c).await;
        app.exec("ALTER TABLE refresh_tokens RENAME TO refresh_tokens_away");
        let (status, h, body) = call(
            &c,
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": pair["refresh_token"]})),
        )
        .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("SERVICE_UNAVAILABLE"))
        );
        assert!(h.contains_key("retry-after"));
        app.exec("ALTER TABLE refresh_tokens_away RENAME TO refresh_tokens");
        let (status, _, _) = call(
            &c,
            Method::POST,
            "/api/auth/refresh",
            None,
            Some(json!({"refresh_token": pair["refresh_token"]})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "the token was not used up");
    }
}

on_both! {
    async fn repeated_failed_sign_ins_are_rate_limited_with_retry_after(store) {
        let app = TestApp::on(store).await;
        app.signed_in(EMAIL).await;
        let c = Browser::new(&app.base);
        let mut last = (
            StatusCode::OK,
            reqwest::header::HeaderMap::new(),
            Value::Null,
        );
        for _ in 0..7 {
            last = call(
                &c,
                Method::POST,
                "/api/auth/token",
                None,
                Some(json!({"email": EMAIL, "password": "wrong!"})),
            )
            .await;
        }
        assert_eq!(last.0, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(last.2["code"], "RATE_LIMITED");
        assert!(
            last.1["retry-after"]
                .to_str()
                .unwrap()
                .parse::<u64>()
                .unwrap()
                >= 1
        );
    }
}

on_both! {
    async fn an_access_token_seen_before_still_expires_on_time(store) {
        let app = TestApp::on(store).await;
        app.signed_in(EMAIL).await;
        let c = Browser::new(&app.base);
        let (uid, sid) = app.ids_of(EMAIL);
        // A token with a few seconds left (counting the 30 s leeway) is accepted, and so
        // remembered as verified. A machine too busy to ask within that window gets a longer one.
        let mut left = 2;
        let (token, expires) = loop {
            let expires = latchkey::db::now() + left;
            let token = app.sign_access(&uid, &sid, true, EMAIL, expires - 900 - 30);
            let (status, _, _) = call(&c, Method::GET, "/api/me", Some(&token), None).await;
            if status == StatusCode::OK {
                break (token, expires);
            }
            assert!(left < 64, "a token with {left} s left was refused: {status}");
            left *= 2;
        };
        // Once its time is up, the remembered token is refused like any other.
        while latchkey::db::now() <= expires {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let (status, _, body) = call(&c, Method::GET, "/api/me", Some(&token), None).await;
        assert_eq!((status, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("TOKEN_EXPIRED")));
    }
}
