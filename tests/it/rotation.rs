//! Signing-key rotation: with the old key moved to `LATCHKEY_JWT_PREVIOUS_SECRETS`, nobody is
//! signed out (access cookies, Bearer tokens, refresh cookies and open forms keep working), new
//! tokens carry the new `kid`, and a `kid` the server does not hold is refused.

use crate::common::*;
use crate::forge;
use reqwest::{Method, StatusCode};
use serde_json::Value;

const EMAIL: &str = "ann@example.com";

/// The same browser (cookie jar and all) pointed at another instance.
fn moved(b: &Browser, to: &TestApp) -> Browser {
    let mut b = b.clone();
    b.base = to.base.clone();
    b
}

async fn me(b: &Browser, token: &str) -> (StatusCode, Value) {
    let h = format!("Bearer {token}");
    let res = b
        .send(Method::GET, "/api/me", &[("authorization", &h)], None)
        .await;
    (res.status(), res.json().await.unwrap_or(Value::Null))
}

on_both! {
    async fn rotating_the_signing_key_signs_nobody_out_and_unknown_kids_are_refused(store) {
        let old = TestApp::on(store).await;
        let b = old.signed_in(EMAIL).await;
        let (uid, sid) = old.ids_of(EMAIL);
        let logout_token = b.form_token("/account", "/logout").await;
        let password_token = b.form_token("/account", "/account/password").await;
        let anon = old.browser();
        let login_token = anon.form_token("/login", "/login").await;
        let api = Browser::new(&old.base);
        let pair: Value = api
            .send(Method::POST, "/api/auth/token", &[], Some(Body::Json(serde_json::json!({"email": EMAIL, "password": PASSWORD}))))
            .await
            .json()
            .await
            .unwrap();
        let bearer = pair["access_token"].as_str().unwrap().to_string();
        let old_access = b.cookie("__Host-access").unwrap();
        assert_eq!(forge::header_of(&old_access)["kid"], forge::kid(&old.secret));

        // The operator's rotation: a new key, the old one kept for verification only.
        let new_key = latchkey::config::generate_secret();
        let old_key = old.secret.clone();
        let new = old
            .sibling(|e| {
                e.insert("LATCHKEY_JWT_SECRET".into(), new_key.clone());
                e.insert("LATCHKEY_JWT_PREVIOUS_SECRETS".into(), old_key.clone());
            })
            .await;
        let b = moved(&b, &new);

        let res = b.get("/account").await;
        assert_eq!(res.status(), StatusCode::OK, "the old access cookie still verifies");
        assert!(set_cookies(&res).is_empty(), "verified by kid, not refreshed");
        assert_eq!(me(&b, &bearer).await.0, StatusCode::OK, "old Bearer tokens still verify");

        let res = b.post_form("/account/password", &[("current_password", "wrong one!"), ("new_password", "irrelevant 123"), ("csrf_token", &password_token)]).await;
        assert_ne!(res.status(), StatusCode::FORBIDDEN, "a form opened before the rotation still posts");
        let res = moved(&anon, &new)
            .post_form("/login", &[("email", EMAIL), ("password", PASSWORD), ("csrf_token", &login_token), ("next", "")])
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "an open sign-in form still posts");

        // The refresh cookie rotates as before, and what is minted now carries the new kid.
        b.remove_cookie("__Host-access");
        let res = b.get("/account").await;
        assert_eq!(res.status(), StatusCode::OK);
        let fresh = b.cookie("__Host-access").unwrap();
        assert_eq!(forge::header_of(&fresh)["kid"], forge::kid(&new_key));
        assert_eq!(me(&b, &fresh).await.0, StatusCode::OK);

        // A key the server does not hold is refused, whether its kid is unknown or borrowed.
        let claims = forge::claims(&uid, &sid, EMAIL, 0);
        let stranger = latchkey::config::generate_secret();
        let unknown = forge::sign(&forge::header(&stranger), &claims, &stranger);
        let (s, body) = me(&b, &unknown).await;
        assert_eq!((s, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("INVALID_TOKEN")));
        let borrowed = forge::sign(&forge::header(&old_key), &claims, &stranger);
        assert_eq!(me(&b, &borrowed).await.1["code"], "INVALID_TOKEN");

        // Posting the sign-out form opened before the rotation ends the session.
        let res = b.post_form("/logout", &[("csrf_token", &logout_token)]).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(new.count(&format!("SELECT COUNT(*) AS n FROM sessions WHERE id = '{sid}' AND revoked_at IS NOT NULL")), 1);

        // Once the old key is dropped, its tokens are unknown: the reason to keep it for at
        // least one access-token lifetime (docs/KEY-ROTATION.md).
        let later = new
            .sibling(|e| {
                e.insert("LATCHKEY_JWT_SECRET".into(), new_key.clone());
            })
            .await;
        let (s, body) = me(&moved(&api, &later), &bearer).await;
        assert_eq!((s, body["code"].as_str()), (StatusCode::UNAUTHORIZED, Some("INVALID_TOKEN")));
        let refreshed = Browser::new(&later.base);
        let res = refreshed
            .send(Method::POST, "/api/auth/refresh", &[], Some(Body::Json(serde_json::json!({"refresh_token": pair["refresh_token"]}))))
            .await;
        assert_eq!(res.status(), StatusCode::OK, "refresh tokens are not signed: they outlive any key");
    }
}
