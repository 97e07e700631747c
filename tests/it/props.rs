//! Property tests: arbitrary bytes and strings thrown at token verification, refresh-token
//! parsing, cookie lookup, the `next` rule, e-mail parsing, and (over HTTP, against the real
//! server) the session guard. Nothing panics, nothing forged authenticates.

use crate::common::*;
use actix_web::http::header::{HeaderValue, COOKIE};
use actix_web::test::TestRequest;
use latchkey::auth::{RefreshToken, TokenKeys};
use latchkey::domain::Email;
use latchkey::http::cookies::{lookup, Lookup};
use latchkey::http::next::{is_local_path, login_url, safe_next};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const KEY: &str = "0123456789abcdef0123456789abcdef-proptest";

/// Bytes a header value may hold (visible ASCII, space, tab, obs-text).
fn header_bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![4 => 0x20u8..0x7f, 1 => 0x80u8..=0xff, 1 => Just(b'\t'), 2 => Just(b';'), 2 => Just(b'=')],
        0..max,
    )
}

/// Cookie headers built from our names, look-alikes and arbitrary bytes.
fn cookie_header() -> impl Strategy<Value = Vec<u8>> {
    let name = prop_oneof![
        Just(b"__Host-access".to_vec()),
        Just(b"__Host-refresh".to_vec()),
        Just(b"%5F_Host-access".to_vec()),
        Just(b" __Host-access".to_vec()),
        Just(b"__host-refresh".to_vec()),
        header_bytes(16),
    ];
    proptest::collection::vec((name, header_bytes(64)), 0..6).prop_map(|pairs| {
        let mut out = Vec::new();
        for (i, (n, v)) in pairs.into_iter().enumerate() {
            if i > 0 {
                out.extend(b"; ");
            }
            out.extend(n);
            out.push(b'=');
            out.extend(v);
        }
        out
    })
}

proptest! {
    #![proptest_config(Config::with_cases(512))]

    #[test]
    fn token_verification_never_panics_and_never_accepts_junk(s in ".{0,600}", bytes in header_bytes(300)) {
        let keys = TokenKeys::new(KEY.as_bytes(), &[], 900, 30);
        let now = latchkey::db::now();
        prop_assert!(keys.verify(&s, now).is_err());
        prop_assert!(keys.verify(&String::from_utf8_lossy(&bytes), now).is_err());
        let jwtish = format!("eyJ{s}.eyJ{s}.{s}");
        prop_assert!(keys.verify(&jwtish, now).is_err());
    }

    #[test]
    fn a_mutated_genuine_token_never_verifies(pos in 0usize..10_000, c in "[A-Za-z0-9_.=-]") {
        let keys = TokenKeys::new(KEY.as_bytes(), &[], 900, 30);
        let now = latchkey::db::now();
        let (token, _) = keys.sign(&latchkey::domain::UserId::generate(), &latchkey::domain::SessionId::generate(), latchkey::domain::Role::User, "a@b.io", now);
        // The last character carries two padding bits that a lenient decoder could ignore.
        let pos = pos % (token.len() - 1);
        let mut m = token.clone().into_bytes();
        m[pos] = c.as_bytes()[0];
        let m = String::from_utf8(m).unwrap();
        prop_assume!(m != token);
        prop_assert!(keys.verify(&m, now).is_err(), "{m}");
    }

    #[test]
    fn refresh_tokens_parse_only_in_the_issued_shape(s in ".{0,80}", b64 in "[A-Za-z0-9_-]{43}") {
        match RefreshToken::parse(&s) {
            Some(t) => prop_assert!(t.expose() == s && s.len() == 43),
            None => prop_assert!(s.len() != 43 || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')),
        }
        prop_assert_eq!(RefreshToken::parse(&b64).map(|t| t.expose().to_string()), Some(b64.clone()));
        let padded = format!("{b64}=");
        prop_assert!(RefreshToken::parse(&padded).is_none());
    }

    #[test]
    fn cookie_lookup_finds_only_exact_names(header in cookie_header()) {
        let Ok(value) = HeaderValue::from_bytes(&header) else { return Ok(()) };
        let req = TestRequest::default().insert_header((COOKIE, value)).to_http_request();
        for name in ["__Host-access", "__Host-refresh"] {
            let exact = header
                .split(|b| *b == b';')
                .filter(|p| {
                    let p = p.iter().position(|b| *b != b' ' && *b != b'\t').map(|i| &p[i..]).unwrap_or(&[]);
                    p.starts_with(name.as_bytes()) && p.get(name.len()) == Some(&b'=')
                })
                .count();
            let found = lookup(&req, name);
            match exact {
                0 => prop_assert_eq!(found, Lookup::Missing),
                1 => prop_assert!(matches!(found, Lookup::One(_))),
                _ => prop_assert_eq!(found, Lookup::Duplicate),
            }
        }
    }

    #[test]
    fn next_is_either_a_local_path_or_home(s in ".{0,64}", tail in "[/\\\\a-z.:]{0,12}") {
        for raw in [s.clone(), format!("/{tail}"), format!("//{tail}"), format!("/\\{tail}"), format!("{tail}{s}")] {
            let out = safe_next(Some(&raw));
            prop_assert!(out == raw || out == "/");
            let b = out.as_bytes();
            prop_assert_eq!(b[0], b'/');
            prop_assert!(!matches!(b.get(1), Some(b'/') | Some(b'\\')));
            prop_assert!(!out.chars().any(char::is_control));
            prop_assert_eq!(is_local_path(&raw), out == raw);
            let url = login_url("expired", Some(&raw));
            prop_assert!(url.starts_with("/login?reason=expired"));
            prop_assert!(!url.chars().any(char::is_control) && !url.contains("next=//") && !url.contains("next=/%5C"));
        }
    }

    #[test]
    fn email_parsing_is_total_and_idempotent(s in ".{0,300}", local in "[a-zA-Z0-9._+-]{1,20}", domain in "[a-z0-9-]{1,20}\\.[a-z]{2,6}") {
        if let Ok(e) = Email::parse(&s) {
            prop_assert!(e.as_str().len() <= 254 && e.as_str().contains('@'));
            prop_assert_eq!(Email::parse(e.as_str()).ok().map(|x| x.as_str().to_string()), Some(e.as_str().to_string()));
        }
        let plain = format!("{local}@{domain}");
        if let Ok(e) = Email::parse(&format!("  {}  ", plain.to_uppercase())) {
            prop_assert_eq!(e.as_str(), plain.to_lowercase());
        }
    }
}

#[test]
fn arbitrary_cookie_and_authorization_headers_never_give_a_5xx_or_a_session() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (app, access) = rt.block_on(async {
        let app = TestApp::on(Store::Sqlite).await;
        let b = app.signed_in("ann@example.com").await;
        let access = b.cookie("__Host-access").unwrap();
        (app, access)
    });
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    let strategy = (
        cookie_header(),
        proptest::option::of(header_bytes(200)),
        any::<bool>(),
        0usize..4,
    );
    runner
        .run(&strategy, |(cookie, auth, page, mangle)| {
            let mut cookie = cookie;
            // Sometimes start from the genuine access token and damage it.
            if mangle > 0 {
                let mut t = access.clone().into_bytes();
                let i = (cookie.len() * 7 + mangle) % (t.len() - 1);
                t[i] = if t[i] == b'A' { b'B' } else { b'A' };
                cookie.extend(b"; __Host-access=");
                cookie.extend(t);
            }
            let path = if page { "/account" } else { "/api/me" };
            let mut req = http.get(format!("{}{path}", app.base));
            if let Ok(v) = reqwest::header::HeaderValue::from_bytes(&cookie) {
                req = req.header("cookie", v);
            }
            if let Some(a) = auth
                .as_ref()
                .and_then(|a| reqwest::header::HeaderValue::from_bytes(a).ok())
            {
                req = req.header("authorization", a);
            }
            let (status, minted) = rt.block_on(async {
                let res = req.send().await.unwrap();
                let minted = set_cookie(&res, "__Host-access")
                    .is_some_and(|c| !c.starts_with("__Host-access=;"));
                (res.status(), minted)
            });
            prop_assert!(!status.is_server_error(), "{status}");
            prop_assert!(
                status != reqwest::StatusCode::OK,
                "authenticated with {:?}",
                String::from_utf8_lossy(&cookie)
            );
            prop_assert!(!minted);
            Ok(())
        })
        .unwrap();
    drop(app);
}
