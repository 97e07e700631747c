//! Device-bound sessions (CONTRACT §9), with the test acting as the browser: real P-256 and
//! RSA keys (tests/fixtures/dbsc) sign the proofs as Chromium would.

use crate::common::*;
use crate::devices::sid_of;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// A device key: what Chromium keeps out of the page's reach.
#[derive(Clone, Copy)]
pub struct Key {
    alg: Algorithm,
    der: &'static [u8],
    jwk: &'static str,
}

pub const P256_A: Key = Key {
    alg: Algorithm::ES256,
    der: include_bytes!("../fixtures/dbsc/p256-a.der"),
    jwk: include_str!("../fixtures/dbsc/p256-a.jwk.json"),
};
pub const P256_B: Key = Key {
    alg: Algorithm::ES256,
    der: include_bytes!("../fixtures/dbsc/p256-b.der"),
    jwk: include_str!("../fixtures/dbsc/p256-b.jwk.json"),
};
pub const RSA_A: Key = Key {
    alg: Algorithm::RS256,
    der: include_bytes!("../fixtures/dbsc/rsa-a.der"),
    jwk: include_str!("../fixtures/dbsc/rsa-a.jwk.json"),
};
pub const RSA_B: Key = Key {
    alg: Algorithm::RS256,
    der: include_bytes!("../fixtures/dbsc/rsa-b.der"),
    jwk: include_str!("../fixtures/dbsc/rsa-b.jwk.json"),
};

impl Key {
    /// A proof of `claims`, with the public key in the header when `with_jwk`.
    pub fn sign(&self, claims: serde_json::Value, with_jwk: bool) -> String {
        let mut h = Header::new(self.alg);
        h.typ = Some("dbsc+jwt".into());
        if with_jwk {
            h.jwk = Some(serde_json::from_str::<Jwk>(self.jwk).unwrap());
        }
        let key = match self.alg {
            Algorithm::ES256 => EncodingKey::from_ec_der(self.der),
            _ => EncodingKey::from_rsa_der(self.der),
        };
        jsonwebtoken::encode(&h, &claims, &key).unwrap()
    }

    /// The registration proof for `challenge`.
    pub fn register_proof(&self, challenge: &str) -> String {
        self.sign(json!({ "jti": challenge }), true)
    }

    /// A refresh proof for `challenge`.
    pub fn refresh_proof(&self, challenge: &str) -> String {
        self.sign(json!({ "jti": challenge }), false)
    }
}

/// A hand-made token: any header, any payload, any signature bytes.
fn forged(header: serde_json::Value, claims: serde_json::Value, sig: &[u8]) -> String {
    let part = |v: &serde_json::Value| B64.encode(v.to_string());
    format!("{}.{}.{}", part(&header), part(&claims), B64.encode(sig))
}

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_string())
}

/// The `challenge` parameter of a `Secure-Session-Registration` header.
fn registration_challenge(value: &str) -> String {
    let start = value.find("challenge=\"").expect("a challenge") + "challenge=\"".len();
    value[start..][..value[start..].find('"').unwrap()].to_string()
}

/// The challenge of a `Secure-Session-Challenge: "<c>";id="<sid>"` header, checking the id.
fn challenge_of(res: &reqwest::Response, sid: &str) -> String {
    let value = header(res, "secure-session-challenge").expect("a challenge header");
    let (challenge, rest) = value[1..].split_once('"').unwrap();
    assert_eq!(rest, format!(";id=\"{sid}\""), "{value}");
    challenge.to_string()
}

/// Signs up from a new browser and returns it with the registration challenge offered.
pub async fn sign_up(app: &TestApp, email: &str) -> (Browser, String) {
    let b = app.browser();
    let res = b.register(email, PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let offer = header(&res, "secure-session-registration").expect("registration offered");
    assert!(
        offer.starts_with("(ES256 RS256);path=\"/dbsc/register\";challenge=\""),
        "{offer}"
    );
    (b, registration_challenge(&offer))
}

/// `POST /dbsc/register` with a proof.
pub async fn register(b: &Browser, proof: &str) -> reqwest::Response {
    b.send(
        Method::POST,
        "/dbsc/register",
        &[("secure-session-response", &format!("\"{proof}\""))],
        None,
    )
    .await
}

/// `POST /dbsc/refresh` for `sid`, with a proof or without.
pub async fn refresh(b: &Browser, sid: &str, proof: Option<&str>) -> reqwest::Response {
    let id = format!("\"{sid}\"");
    let quoted = proof.map(|p| format!("\"{p}\""));
    let mut headers = vec![("sec-secure-session-id", id.as_str())];
    if let Some(q) = &quoted {
        headers.push(("secure-session-response", q.as_str()));
    }
    b.send(Method::POST, "/dbsc/refresh", &headers, None).await
}

/// A signed-up browser whose session is bound to `key`; returns it with its session id.
pub async fn bound(app: &TestApp, email: &str, key: Key) -> (Browser, String) {
    let (b, challenge) = sign_up(app, email).await;
    let res = register(&b, &key.register_proof(&challenge)).await;
    assert_eq!(res.status(), StatusCode::OK, "registration succeeds");
    let sid = sid_of(&b);
    (b, sid)
}

/// A fresh challenge for a bound session, as the browser gets it: a `403` to a bare refresh.
pub async fn fresh_challenge(b: &Browser, sid: &str) -> String {
    let res = refresh(b, sid, None).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    challenge_of(&res, sid)
}

/// What a session's state looks like in the database: its refresh tokens, its key, revoked.
fn state(app: &TestApp, sid: &str) -> (i64, i64, i64) {
    (
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM refresh_tokens WHERE session_id = '{sid}'"
        )),
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM sessions WHERE id = '{sid}' AND dbsc_key IS NOT NULL"
        )),
        app.count(&format!(
            "SELECT COUNT(*) AS n FROM sessions WHERE id = '{sid}' AND revoked_at IS NOT NULL"
        )),
    )
}

fn max_age(set_cookie: &str) -> i64 {
    let at = set_cookie.find("Max-Age=").expect("a Max-Age") + 8;
    set_cookie[at..]
        .split(';')
        .next()
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

on_both! {
    async fn a_browser_registers_answers_a_challenge_and_refreshes_with_either_key(store) {
        let app = TestApp::on(store).await;
        for (n, key) in [P256_A, RSA_A].into_iter().enumerate() {
            let email = format!("dev{n}@example.com");
            let (b, challenge) = sign_up(&app, &email).await;
            let sid = sid_of(&b);
            let res = register(&b, &key.register_proof(&challenge)).await;
            assert_eq!(res.status(), StatusCode::OK);
            // The access cookie now lives only until the guard would refresh it, so the
            // browser renews it (with a proof) before any page sees it stale.
            let access = set_cookie(&res, "__Host-access").expect("access cookie re-set");
            assert!(max_age(&access) <= 15 * 60 - 60, "{access}");
            let body: serde_json::Value = res.json().await.unwrap();
            assert_eq!(body["session_identifier"], sid.as_str());
            assert_eq!(body["refresh_url"], "/dbsc/refresh");
            assert_eq!(body["credentials"][0]["type"], "cookie");
            assert_eq!(body["credentials"][0]["name"], "__Host-access");
            let attrs = body["credentials"][0]["attributes"].as_str().unwrap();
            for part in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
                assert!(attrs.contains(part), "{attrs}");
                assert!(access.contains(part), "the cookie is set as described: {access}");
            }
            assert_eq!(state(&app, &sid), (1, 1, 0), "bound, nothing rotated");
            let bound = app.audit("session_bound");
            assert_eq!(bound[0].session_id.as_deref(), Some(sid.as_str()));

            let challenge = fresh_challenge(&b, &sid).await;
            let old_refresh = b.cookie("__Host-refresh").unwrap();
            let res = refresh(&b, &sid, Some(&key.refresh_proof(&challenge))).await;
            assert_eq!(res.status(), StatusCode::OK);
            let next = challenge_of(&res, &sid);
            assert_ne!(next, challenge, "the next challenge is pre-loaded");
            let access = set_cookie(&res, "__Host-access").expect("new access cookie");
            assert!(max_age(&access) <= 15 * 60 - 60);
            assert_ne!(b.cookie("__Host-refresh").unwrap(), old_refresh, "rotated");
            assert_eq!(state(&app, &sid).0, 2, "one rotation of the same family");
            // The pre-loaded challenge works at once, with no 403 round trip.
            let res = refresh(&b, &sid, Some(&key.refresh_proof(&next))).await;
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(b.get("/account").await.status(), StatusCode::OK);
        }
        let b = app.browser();
        b.login("dev0@example.com", PASSWORD).await;
        let devices = b.get("/account/sessions").await.text().await.unwrap();
        assert!(devices.contains("Bound to device key"), "the devices page marks it");
    }
}

on_both! {
    async fn refused_proofs_get_a_fresh_challenge_and_change_nothing(store) {
        let app = TestApp::on(store).await;
        let (b, sid) = bound(&app, "alice@example.com", P256_A).await;
        let (other, other_sid) = bound(&app, "bob@example.com", RSA_A).await;
        let before = state(&app, &sid);
        let cookies = (b.cookie("__Host-access"), b.cookie("__Host-refresh"));

        // Another key.
        let c = fresh_challenge(&b, &sid).await;
        let res = refresh(&b, &sid, Some(&P256_B.refresh_proof(&c))).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_ne!(challenge_of(&res, &sid), c, "a fresh challenge each time");
        let failed = app.audit("dbsc_proof_failed");
        assert_eq!(failed.len(), 1);
        assert!(failed[0].detail.contains("bad_signature"), "{}", failed[0].detail);
        // The algorithm of another key type.
        let c = fresh_challenge(&b, &sid).await;
        let res = refresh(&b, &sid, Some(&RSA_B.refresh_proof(&c))).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        // A jwk on a refresh, even the right one.
        let c = fresh_challenge(&b, &sid).await;
        let res = refresh(&b, &sid, Some(&P256_A.register_proof(&c))).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        // Extra and missing claims.
        for claims in [json!({}), json!({"jti": c, "aud": "latchkey"}), json!({"nonce": c})] {
            let res = refresh(&b, &sid, Some(&P256_A.sign(claims, false))).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
        }
        // alg none and HS256.
        let c = fresh_challenge(&b, &sid).await;
        let none = forged(json!({"alg": "none", "typ": "dbsc+jwt"}), json!({"jti": c}), b"");
        let hs = {
            let mut h = Header::new(Algorithm::HS256);
            h.typ = Some("dbsc+jwt".into());
            jsonwebtoken::encode(&h, &json!({"jti": c}), &EncodingKey::from_secret(b"guess")).unwrap()
        };
        for proof in [none, hs] {
            let res = refresh(&b, &sid, Some(&proof)).await;
            assert_eq!(res.status(), StatusCode::FORBIDDEN);
        }
        // A challenge issued to another session, signed by the right key.
        let theirs = fresh_challenge(&other, &other_sid).await;
        let res = refresh(&b, &sid, Some(&P256_A.refresh_proof(&theirs))).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        // An expired challenge.
        let c = fresh_challenge(&b, &sid).await;
        app.exec(&format!(
            "UPDATE dbsc_challenges SET expires_at = expires_at - 301 WHERE session_id = '{sid}'"
        ));
        let res = refresh(&b, &sid, Some(&P256_A.refresh_proof(&c))).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);

        assert_eq!(state(&app, &sid), before, "nothing rotated, nothing revoked");
        assert_eq!(
            (b.cookie("__Host-access"), b.cookie("__Host-refresh")),
            cookies,
            "no cookie was set"
        );
        // And the right proof still works after all that.
        let c = fresh_challenge(&b, &sid).await;
        let res = refresh(&b, &sid, Some(&P256_A.refresh_proof(&c))).await;
        assert_eq!(res.status(), StatusCode::OK);
        // The other session's challenge, now used by its owner, still works for it alone.
        let res = refresh(&other, &other_sid, Some(&RSA_A.refresh_proof(&theirs))).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}

on_both! {
    async fn a_challenge_is_spent_by_its_first_use(store) {
        let app = TestApp::on(store).await;
        let (b, sid) = bound(&app, "alice@example.com", P256_A).await;
        let c = fresh_challenge(&b, &sid).await;
        let proof = P256_A.refresh_proof(&c);
        assert_eq!(refresh(&b, &sid, Some(&proof)).await.status(), StatusCode::OK);
        let after = state(&app, &sid);
        let res = refresh(&b, &sid, Some(&proof)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "a replay gets a new challenge");
        challenge_of(&res, &sid);
        assert_eq!(state(&app, &sid), after, "and nothing else");
        assert!(app.audit("dbsc_proof_failed").is_empty(), "a stale challenge is no attack");
    }
}

on_both! {
    async fn registration_checks_the_proof_and_binds_once(store) {
        let app = TestApp::on(store).await;
        let (b, challenge) = sign_up(&app, "alice@example.com").await;
        let sid = sid_of(&b);
        let (_, their_challenge) = sign_up(&app, "bob@example.com").await;
        let oct = json!({"kty": "oct", "k": B64.encode(b"attacker")});
        let refused = [
            // Another session's challenge.
            P256_A.register_proof(&their_challenge),
            // No key in the header.
            P256_A.refresh_proof(&challenge),
            // A key in the header that did not sign it.
            {
                let mut h = Header::new(Algorithm::ES256);
                h.typ = Some("dbsc+jwt".into());
                h.jwk = Some(serde_json::from_str(P256_A.jwk).unwrap());
                jsonwebtoken::encode(&h, &json!({"jti": challenge}), &EncodingKey::from_ec_der(P256_B.der)).unwrap()
            },
            forged(json!({"alg": "none", "typ": "dbsc+jwt", "jwk": serde_json::from_str::<serde_json::Value>(P256_A.jwk).unwrap()}), json!({"jti": challenge}), b""),
            forged(json!({"alg": "HS256", "typ": "dbsc+jwt", "jwk": oct}), json!({"jti": challenge}), b"sig"),
            P256_A.sign(json!({"jti": challenge, "extra": 1}), true),
            P256_A.sign(json!({}), true),
            {
                let mut h = Header::new(Algorithm::ES256);
                h.typ = Some("JWT".into());
                h.jwk = Some(serde_json::from_str(P256_A.jwk).unwrap());
                jsonwebtoken::encode(&h, &json!({"jti": challenge}), &EncodingKey::from_ec_der(P256_A.der)).unwrap()
            },
        ];
        for proof in refused {
            let res = register(&b, &proof).await;
            assert!(
                matches!(res.status(), StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN),
                "{}",
                res.status()
            );
            assert_eq!(state(&app, &sid).1, 0, "not bound");
        }
        // An expired challenge.
        app.exec("UPDATE dbsc_challenges SET expires_at = expires_at - 301");
        let res = register(&b, &P256_A.register_proof(&challenge)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        app.exec("UPDATE dbsc_challenges SET expires_at = expires_at + 301");
        // Without the session's access cookie.
        let anonymous = app.browser();
        let res = register(&anonymous, &P256_A.register_proof(&challenge)).await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        // The real thing, once; then neither a replay nor another key rebinds it.
        let res = register(&b, &P256_A.register_proof(&challenge)).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = register(&b, &P256_A.register_proof(&challenge)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        let c = fresh_challenge(&b, &sid).await;
        let res = register(&b, &P256_B.register_proof(&c)).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN, "bound once, for good");
        assert_eq!(app.audit("session_bound").len(), 1);
        let c = fresh_challenge(&b, &sid).await;
        let res = refresh(&b, &sid, Some(&P256_A.refresh_proof(&c))).await;
        assert_eq!(res.status(), StatusCode::OK, "still bound to the first key");
    }
}

on_both! {
    async fn a_stolen_cookie_jar_is_worth_nothing_without_the_key(store) {
        let app = TestApp::on(store).await;
        let (owner, sid) = bound(&app, "alice@example.com", P256_A).await;
        let mut thief = owner.clone_cookies();
        thief.user_agent = "curl/8.0".into();
        // The access cookie dies within minutes; the thief is left with the refresh cookie.
        thief.remove_cookie("__Host-access");
        let before = state(&app, &sid);
        let res = thief.get("/account").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        assert_eq!(location(&res), "/login?reason=device&next=/account");
        assert!(set_cookie(&res, "__Host-refresh").is_none(), "nothing issued");
        let failed = app.audit("dbsc_proof_failed");
        assert_eq!(failed.len(), 1);
        assert_eq!(failed[0].session_id.as_deref(), Some(sid.as_str()));
        assert!(failed[0].detail.contains("refresh_without_proof"));
        // The same with the browser's skip notice, and through the API.
        let skipped = format!("unreachable;session_identifier=\"{sid}\"");
        let res = thief
            .send(Method::GET, "/account", &[("secure-session-skipped", &skipped)], None)
            .await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let token = thief.cookie("__Host-refresh").unwrap();
        let api = app.browser();
        let res = api
            .send(
                Method::POST,
                "/api/auth/refresh",
                &[],
                Some(Body::Json(json!({ "refresh_token": token }))),
            )
            .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        let body: serde_json::Value = res.json().await.unwrap();
        assert_eq!(body["code"], "SESSION_EXPIRED");
        // The thief's own key gets nowhere either.
        let c = fresh_challenge(&thief, &sid).await;
        let res = refresh(&thief, &sid, Some(&P256_B.refresh_proof(&c))).await;
        assert_eq!(res.status(), StatusCode::FORBIDDEN);
        assert_eq!(state(&app, &sid), before, "nothing rotated, nothing revoked");
        // The owner carries on.
        let c = fresh_challenge(&owner, &sid).await;
        let res = refresh(&owner, &sid, Some(&P256_A.refresh_proof(&c))).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(owner.get("/account").await.status(), StatusCode::OK);
        assert!(app.audit("dbsc_proof_failed").len() >= 3, "every attempt is audited");
    }
}

on_both! {
    async fn malformed_dbsc_headers_are_refused_without_a_500_or_a_change(store) {
        let app = TestApp::on(store).await;
        let (b, sid) = bound(&app, "alice@example.com", P256_A).await;
        let (fresh, fresh_challenge_value) = sign_up(&app, "bob@example.com").await;
        let fresh_sid = sid_of(&fresh);
        let before = (state(&app, &sid), state(&app, &fresh_sid));
        let long = "a".repeat(3000);
        let ids = [
            "",
            " ",
            "\"\"",
            "\"not-a-uuid\"",
            &format!("\"{}\"", sid.to_uppercase()),
            &format!("\"{sid}\";x=1, \"{sid}\""),
            &format!("\"{sid}"),
            "\"\\u0000\"",
            "?1",
            ":AAAA:",
            "(\"a\")",
            &long,
            "\"00000000-0000-4000-8000-000000000000\"",
        ];
        for id in ids {
            let res = b
                .send(Method::POST, "/dbsc/refresh", &[("sec-secure-session-id", id)], None)
                .await;
            assert!(
                matches!(res.status(), StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED),
                "{id:?}: {}",
                res.status()
            );
        }
        let quoted_sid = format!("\"{sid}\"");
        let proofs = [
            "",
            "\"\"",
            "\"a.b.c\"",
            "\"....\"",
            "eyJ.eyJ.x",
            "\"unterminated",
            "?0",
            "42",
            ":bm9wZQ==:",
            "(\"a\" \"b\")",
            &format!("\"{long}\""),
            "\"eyJhbGciOiJFUzI1NiIsInR5cCI6ImRic2Mrand0In0.bm90IGpzb24.AAAA\"",
            "\"eyJhbGciOiJSUzI1NiIsInR5cCI6ImRic2Mrand0In0.W10.AAAA\"",
        ];
        for proof in proofs {
            let res = b
                .send(
                    Method::POST,
                    "/dbsc/refresh",
                    &[("sec-secure-session-id", &quoted_sid), ("secure-session-response", proof)],
                    None,
                )
                .await;
            assert!(
                matches!(res.status(), StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN),
                "{proof:?}: {}",
                res.status()
            );
            let res = fresh
                .send(Method::POST, "/dbsc/register", &[("secure-session-response", proof)], None)
                .await;
            assert!(
                matches!(res.status(), StatusCode::BAD_REQUEST | StatusCode::FORBIDDEN),
                "{proof:?}: {}",
                res.status()
            );
        }
        // Sent twice.
        let p = format!("\"{}\"", P256_A.register_proof(&fresh_challenge_value));
        let res = fresh
            .send(
                Method::POST,
                "/dbsc/register",
                &[("secure-session-response", &p), ("secure-session-response", &p)],
                None,
            )
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
        // Skip notices of every shape on an ordinary page.
        for skipped in ["", "unreachable", "?1", "a;b=\"", "quota_exceeded;session_identifier=1", &long] {
            let res = b
                .send(Method::GET, "/account", &[("secure-session-skipped", skipped)], None)
                .await;
            assert_eq!(res.status(), StatusCode::OK, "{skipped:?}");
        }
        assert_eq!((state(&app, &sid), state(&app, &fresh_sid)), before);
        // No refresh without the header at all.
        let res = b.send(Method::POST, "/dbsc/refresh", &[], None).await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    }
}

#[tokio::test]
async fn unbound_sessions_refresh_from_the_cookie_as_before() {
    let app = TestApp::spawn().await;
    let (b, _) = sign_up(&app, "alice@example.com").await;
    let sid = sid_of(&b);
    b.remove_cookie("__Host-access");
    let res = b.get("/account").await;
    assert_eq!(res.status(), StatusCode::OK, "transparent refresh");
    assert!(set_cookie(&res, "__Host-refresh").is_some());
    // A bare refresh naming an unbound session gets no challenge: it is no DBSC session.
    let res = refresh(&b, &sid, None).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(header(&res, "secure-session-challenge").is_none());
    // Signing in through the API offers nothing.
    let api = app.browser();
    let res = api
        .send(
            Method::POST,
            "/api/auth/token",
            &[],
            Some(Body::Json(
                json!({"email": "alice@example.com", "password": PASSWORD}),
            )),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(header(&res, "secure-session-registration").is_none());
}

#[tokio::test]
async fn signing_in_offers_registration_and_an_admin_sees_bound_sessions() {
    let app = TestApp::spawn().await;
    let admin = app.signed_in("admin@example.com").await;
    let (_, sid) = bound(&app, "alice@example.com", RSA_A).await;
    let b = app.browser();
    let res = b.login("alice@example.com", PASSWORD).await;
    assert!(
        header(&res, "secure-session-registration").is_some(),
        "sign-in offers it too"
    );
    let page = admin.get("/admin/sessions").await.text().await.unwrap();
    assert!(
        page.contains("Bound to device key"),
        "the admin list marks it"
    );
    let audit = admin.get("/admin/audit").await.text().await.unwrap();
    assert!(audit.contains("Session bound to a device key"), "{sid}");
    assert!(audit.contains("RS256 device key"));
}

#[tokio::test]
async fn with_dbsc_off_nothing_is_offered_or_served() {
    let app = TestApp::spawn_with(Store::Sqlite, |env| {
        env.insert("LATCHKEY_DBSC".into(), "off".into());
    })
    .await;
    let b = app.browser();
    let res = b.register("alice@example.com", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(header(&res, "secure-session-registration").is_none());
    let res = register(&b, &P256_A.register_proof("x")).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = refresh(&b, &sid_of(&b), None).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn under_a_base_path_every_dbsc_url_carries_it() {
    let app = TestApp::spawn_with(Store::Sqlite, |env| {
        env.insert("LATCHKEY_BASE_PATH".into(), "/auth".into());
    })
    .await;
    let b = app.browser();
    let html = b.get("/auth/register").await.text().await.unwrap();
    let token = csrf_in(&html).unwrap();
    let res = b
        .post_form(
            "/auth/register",
            &[
                ("email", "ann@example.com"),
                ("password", PASSWORD),
                ("csrf_token", &token),
            ],
        )
        .await;
    let offer = header(&res, "secure-session-registration").unwrap();
    assert!(offer.contains(";path=\"/auth/dbsc/register\";"), "{offer}");
    let proof = P256_A.register_proof(&registration_challenge(&offer));
    let res = b
        .send(
            Method::POST,
            "/auth/dbsc/register",
            &[("secure-session-response", &format!("\"{proof}\""))],
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["refresh_url"], "/auth/dbsc/refresh");
    let sid = sid_of(&b);
    let res = b
        .send(
            Method::POST,
            "/auth/dbsc/refresh",
            &[("sec-secure-session-id", &sid)],
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let c = challenge_of(&res, &sid);
    let p = format!("\"{}\"", P256_A.refresh_proof(&c));
    let res = b
        .send(
            Method::POST,
            "/auth/dbsc/refresh",
            &[
                ("sec-secure-session-id", &sid),
                ("secure-session-response", &p),
            ],
            None,
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_cookie_shared_across_a_domain_is_bound_with_its_domain_and_the_site_as_scope() {
    let app = TestApp::spawn_with(Store::Sqlite, |env| {
        env.insert("LATCHKEY_COOKIE_DOMAIN".into(), "example.com".into());
    })
    .await;
    let b = app.browser();
    let res = b.register("ann@example.com", PASSWORD).await;
    let offer = header(&res, "secure-session-registration").unwrap();
    let access = b
        .cookie("__Secure-access")
        .expect("the shared access cookie");
    b.set_cookie("__Host-access", &access); // sid_of reads this name
    let sid = sid_of(&b);
    b.remove_cookie("__Host-access");
    let res = register(&b, &P256_A.register_proof(&registration_challenge(&offer))).await;
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["session_identifier"], sid.as_str());
    assert_eq!(body["scope"]["include_site"], true);
    assert_eq!(body["credentials"][0]["name"], "__Secure-access");
    let attrs = body["credentials"][0]["attributes"].as_str().unwrap();
    assert!(attrs.contains("Domain=example.com"), "{attrs}");
}
