//! What a request body must be before anything happens. Every form route wants one valid
//! `csrf_token`: missing, empty, repeated, wrong, or a body that is no form at all are the same
//! 403. Every API route that reads a body wants a JSON object: an array, a string, a number or
//! `null` is a 400 `BAD_REQUEST` (serde would otherwise read an array as the fields in order).

use crate::common::*;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const ADMIN: &str = "admin@example.com";
const BOB: &str = "bob@example.com";

/// The ways a POST can lack a valid token, given the token that would be valid.
fn without_a_valid_token(valid: &str) -> Vec<(&'static str, Option<Body>)> {
    let form = |pairs: &[(&str, &str)]| {
        let fields: Vec<(String, String)> = [
            ("email", BOB),
            ("password", PASSWORD),
            ("current_password", PASSWORD),
            ("new_password", "a brand new password"),
            ("next", "/account"),
        ]
        .iter()
        .chain(pairs)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        Some(Body::Form(fields))
    };
    vec![
        ("no body at all", None),
        ("fields but no csrf_token", form(&[])),
        ("an empty csrf_token", form(&[("csrf_token", "")])),
        ("a wrong csrf_token", form(&[("csrf_token", "forged")])),
        (
            "the valid token and a wrong one",
            form(&[("csrf_token", valid), ("csrf_token", "forged")]),
        ),
        (
            "the valid token in a JSON body",
            Some(Body::Json(json!({ "csrf_token": valid, "email": BOB }))),
        ),
    ]
}

/// Posts every token-less variant to `action` and checks each is the CSRF refusal.
async fn all_refused(b: &Browser, action: &str, valid: &str) {
    for (what, body) in without_a_valid_token(valid) {
        let res = b.send(Method::POST, action, &[], body).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "{action}: {what}");
        let page = res.text().await.unwrap();
        assert!(
            page.contains("This form has expired or did not come from this site"),
            "{action}: {what}: {page}"
        );
    }
}

on_both! {
    async fn every_form_route_refuses_a_post_without_one_valid_csrf_token_alike(store) {
        let app = TestApp::on(store).await;
        let admin = app.signed_in(ADMIN).await;
        let bob = app.signed_in(BOB).await;
        let elsewhere = app.browser();
        assert_eq!(location(&elsewhere.login(BOB, PASSWORD).await), "/account");
        let (bob_id, bob_sid) = app.ids_of(BOB);
        let other_sid = app.text(&format!(
            "SELECT id AS s FROM sessions WHERE user_id = '{bob_id}' AND id <> '{bob_sid}'"
        ));
        let hash = |email: &str| {
            app.text(&format!("SELECT password_hash AS s FROM users WHERE email = '{email}'"))
        };
        let bob_hash = hash(BOB);
        let live = "SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL";
        assert_eq!(app.count(live), 3);

        // Signed out: sign-in and sign-up, with the browser's own csrf cookie in place.
        let visitor = app.browser();
        let valid = visitor.form_token("/login", "/login").await;
        all_refused(&visitor, "/login", &valid).await;
        all_refused(&visitor, "/register", &valid).await;

        // Signed in: the user's own forms.
        let valid = bob.form_token("/account", "/logout").await;
        for action in [
            "/logout".to_string(),
            "/account/password".to_string(),
            "/account/sessions/revoke-others".to_string(),
            format!("/account/sessions/{other_sid}/revoke"),
        ] {
            all_refused(&bob, &action, &valid).await;
        }

        // An admin's actions.
        let valid = admin.form_token("/account", "/logout").await;
        for action in [
            format!("/admin/sessions/{bob_sid}/revoke"),
            format!("/admin/users/{bob_id}/revoke-all"),
            format!("/admin/users/{bob_id}/disable"),
            format!("/admin/users/{bob_id}/enable"),
        ] {
            all_refused(&admin, &action, &valid).await;
        }

        // Nothing happened: no account, no session, no password, no disabling.
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM users"), 2);
        assert_eq!(app.count("SELECT COUNT(*) AS n FROM users WHERE disabled = TRUE"), 0);
        assert_eq!(app.count(live), 3);
        assert_eq!(hash(BOB), bob_hash);
        assert_eq!(bob.get("/account").await.status(), StatusCode::OK);
        assert_eq!(elsewhere.get("/account").await.status(), StatusCode::OK);

        // And the same request with its one valid token goes through.
        let res = bob.post_signed_in("/account", "/logout", &[]).await;
        assert_eq!(location(&res), "/login?reason=signed_out");
    }
}

/// JSON bodies that are not objects; the first is the credentials as an array.
fn not_objects(first: Value) -> Vec<Value> {
    vec![
        first,
        json!("a string"),
        json!(42),
        Value::Null,
        json!(true),
        json!([]),
    ]
}

async fn post_json(
    b: &Browser,
    path: &str,
    bearer: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let auth = bearer.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("authorization", a.as_str())).collect();
    let res = b
        .send(Method::POST, path, &headers, Some(Body::Json(body)))
        .await;
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

on_both! {
    async fn every_api_route_refuses_a_json_body_that_is_not_an_object(store) {
        let app = TestApp::on(store).await;
        app.signed_in(ADMIN).await;
        let c = Browser::new(&app.base);
        let live = "SELECT COUNT(*) AS n FROM sessions WHERE revoked_at IS NULL";

        for body in not_objects(json!([ADMIN, PASSWORD])) {
            let (status, v) = post_json(&c, "/api/auth/token", None, body.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(v["code"], "BAD_REQUEST", "{body}");
        }
        assert_eq!(app.count(live), 1, "the array was not taken as credentials");

        let (status, pair) =
            post_json(&c, "/api/auth/token", None, json!({"email": ADMIN, "password": PASSWORD})).await;
        assert_eq!(status, StatusCode::OK);
        let refresh = pair["refresh_token"].as_str().unwrap();
        let access = pair["access_token"].as_str().unwrap();
        for body in not_objects(json!([refresh])).into_iter().chain([json!(refresh)]) {
            let (status, v) = post_json(&c, "/api/auth/refresh", None, body.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(v["code"], "BAD_REQUEST", "{body}");
        }
        assert_eq!(
            app.count("SELECT COUNT(*) AS n FROM refresh_tokens WHERE used_at IS NOT NULL"),
            0,
            "no refresh token was used up"
        );

        for body in not_objects(json!(["logout"])) {
            let (status, v) = post_json(&c, "/api/auth/logout", Some(access), body.clone()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(v["code"], "BAD_REQUEST", "{body}");
        }
        assert_eq!(app.count(live), 2, "no session was ended");

        // The documented shapes still work: a refresh object, and a logout with no body.
        let (status, pair) =
            post_json(&c, "/api/auth/refresh", None, json!({"refresh_token": refresh})).await;
        assert_eq!(status, StatusCode::OK);
        let auth = format!("Bearer {}", pair["access_token"].as_str().unwrap());
        let res = c
            .send(Method::POST, "/api/auth/logout", &[("authorization", &auth)], None)
            .await;
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(app.count(live), 1);
    }
}
