//! Corpus cases: refresh tokens (cookie and JSON), odd headers and cookies, broken forms
//! and JSON bodies.

use super::*;

pub fn refresh_cases(f: &Fixture) -> Vec<Case> {
    let valid = f.refresh.as_bytes();
    let mut dup = valid.to_vec();
    dup.extend(b"; __Host-refresh=");
    dup.extend(valid);
    let mut bad_utf8 = valid[..40].to_vec();
    bad_utf8.extend(b"\xff\xfe\xfd");
    vec![
        refresh_cookie("an empty refresh cookie", b"", "SESSION_EXPIRED"),
        refresh_cookie(
            "a 16 KiB refresh cookie",
            "A".repeat(16 * KIB).as_bytes(),
            "SESSION_EXPIRED",
        ),
        refresh_cookie(
            "SQL in the refresh cookie",
            b"' OR 1=1 --",
            "SESSION_EXPIRED",
        ),
        refresh_cookie(
            "SQL padded to the token's length",
            b"'%20OR%201=1--aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "SESSION_EXPIRED",
        ),
        refresh_cookie(
            "a well-formed unknown token",
            b"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "SESSION_EXPIRED",
        ),
        refresh_cookie(
            "invalid UTF-8 in the refresh cookie",
            &bad_utf8,
            "SESSION_EXPIRED",
        ),
        refresh_cookie("the same refresh cookie twice", &dup, "INVALID_TOKEN"),
        refresh_cookie(
            "another user's rotated-out token",
            f.bob_old_refresh.as_bytes(),
            "REFRESH_REUSED",
        ),
        get(
            "a refresh cookie under a look-alike name",
            "/api/me",
            vec![(
                "cookie",
                format!("%5F_Host-refresh={}", f.refresh).into_bytes(),
            )],
            401,
            Some("NO_TOKEN"),
        ),
        json_post(
            "an empty JSON refresh token",
            "/api/auth/refresh",
            json!({"refresh_token": ""}),
            401,
            "SESSION_EXPIRED",
        ),
        json_post(
            "a JSON refresh token with a NUL",
            "/api/auth/refresh",
            json!({"refresh_token": format!("{}\u{0}", f.refresh)}),
            401,
            "SESSION_EXPIRED",
        ),
        json_post(
            "a number for the refresh token",
            "/api/auth/refresh",
            json!({"refresh_token": 12345}),
            400,
            "BAD_REQUEST",
        ),
        json_post(
            "no refresh token field",
            "/api/auth/refresh",
            json!({}),
            400,
            "BAD_REQUEST",
        ),
        json_post(
            "the refresh token as a bare JSON string",
            "/api/auth/refresh",
            json!(f.refresh),
            400,
            "BAD_REQUEST",
        ),
        json_post(
            "a 1 MiB refresh token",
            "/api/auth/refresh",
            json!({"refresh_token": "a".repeat(1024 * KIB)}),
            400,
            "BAD_REQUEST",
        ),
    ]
}

pub fn header_and_body_cases(f: &Fixture) -> Vec<Case> {
    let with_csrf = |extra: &[(&str, &str)]| {
        let mut pairs = vec![("csrf_token", f.csrf_token.as_str())];
        pairs.extend_from_slice(extra);
        form(&pairs)
    };
    let csrf = || vec![("cookie", f.csrf_cookie.clone())];
    let long = "p".repeat(10 * KIB);
    let html = "application/x-www-form-urlencoded";
    let many: String = (0..200).map(|i| format!("c{i}=v{i}; ")).collect();
    vec![
        get(
            "a 16 KiB Cookie header of junk",
            "/api/me",
            vec![(
                "cookie",
                format!("junk={}", "j".repeat(16 * KIB)).into_bytes(),
            )],
            401,
            Some("NO_TOKEN"),
        ),
        get(
            "200 cookies",
            "/api/me",
            vec![("cookie", many.into_bytes())],
            401,
            Some("NO_TOKEN"),
        ),
        get(
            "a Cookie header of invalid UTF-8 only",
            "/api/me",
            vec![("cookie", b"\xff\xfe=\xfd\xfc".to_vec())],
            401,
            Some("NO_TOKEN"),
        ),
        get(
            "an access cookie of invalid UTF-8",
            "/api/me",
            vec![("cookie", b"__Host-access=\xff\xfe.\xfd.\xfc".to_vec())],
            401,
            Some("INVALID_TOKEN"),
        ),
        get(
            "a 40 KiB header block",
            "/api/me",
            (0..5).map(|_| ("x-junk", vec![b'x'; 8 * KIB])).collect(),
            401,
            Some("NO_TOKEN"),
        ),
        post(
            "sign-in without a CSRF token",
            "/login",
            csrf(),
            html,
            form(&[("email", EMAIL), ("password", PASSWORD)]),
            403,
            None,
        ),
        post(
            "sign-in without the CSRF cookie",
            "/login",
            vec![],
            html,
            with_csrf(&[("email", EMAIL), ("password", PASSWORD)]),
            403,
            None,
        ),
        post(
            "sign-in with a session CSRF token",
            "/login",
            csrf(),
            html,
            form(&[
                ("email", EMAIL),
                ("password", PASSWORD),
                ("csrf_token", &f.session_csrf),
            ]),
            403,
            None,
        ),
        post(
            "sign-in without a password",
            "/login",
            csrf(),
            html,
            with_csrf(&[("email", EMAIL)]),
            401,
            None,
        ),
        post(
            "sign-in with a 10 KiB password",
            "/login",
            csrf(),
            html,
            with_csrf(&[("email", EMAIL), ("password", &long)]),
            401,
            None,
        ),
        post(
            "sign-in with a NUL in the e-mail",
            "/login",
            csrf(),
            html,
            with_csrf(&[("email", "ann@example.com\0"), ("password", PASSWORD)]),
            401,
            None,
        ),
        post(
            "sign-in with control characters in the e-mail",
            "/login",
            csrf(),
            html,
            with_csrf(&[
                ("email", "\u{1b}[31mann@example.com\r\n"),
                ("password", PASSWORD),
            ]),
            401,
            None,
        ),
        post(
            "sign-in with a 1 MiB form",
            "/login",
            csrf(),
            html,
            with_csrf(&[("email", &"e".repeat(1024 * KIB))]),
            400,
            None,
        ),
        post(
            // No form field can be read from it, so no csrf_token either: 403, like a form
            // without one (CONTRACT §5).
            "sign-in with JSON instead of a form",
            "/login",
            csrf(),
            "application/json",
            json!({"email": EMAIL}).to_string().into_bytes(),
            403,
            None,
        ),
        post(
            "sign-up with a NUL in the password",
            "/register",
            csrf(),
            html,
            with_csrf(&[
                ("email", "eve@example.com"),
                ("password", "password\0with nul"),
            ]),
            400,
            None,
        ),
        post(
            "sign-up with a 10 KiB password",
            "/register",
            csrf(),
            html,
            with_csrf(&[("email", "eve@example.com"), ("password", &long)]),
            400,
            None,
        ),
        post(
            "sign-up without an e-mail",
            "/register",
            csrf(),
            html,
            with_csrf(&[("password", PASSWORD)]),
            400,
            None,
        ),
        post(
            "sign-up with an e-mail of 300 characters",
            "/register",
            csrf(),
            html,
            with_csrf(&[
                ("email", &format!("{}@example.com", "a".repeat(300))),
                ("password", PASSWORD),
            ]),
            400,
            None,
        ),
        json_post(
            "API sign-in with a password of the wrong type",
            "/api/auth/token",
            json!({"email": EMAIL, "password": ["x"]}),
            400,
            "BAD_REQUEST",
        ),
        json_post(
            "API sign-in with an e-mail of the wrong type",
            "/api/auth/token",
            json!({"email": 7, "password": PASSWORD}),
            400,
            "BAD_REQUEST",
        ),
        json_post(
            "API sign-in without a password",
            "/api/auth/token",
            json!({"email": EMAIL}),
            400,
            "BAD_REQUEST",
        ),
        json_post(
            "API sign-in with a NUL in the e-mail",
            "/api/auth/token",
            json!({"email": "ann@example.com\u{0}", "password": PASSWORD}),
            401,
            "INVALID_CREDENTIALS",
        ),
        json_post(
            "API sign-in with a 10 KiB password",
            "/api/auth/token",
            json!({"email": EMAIL, "password": long}),
            401,
            "INVALID_CREDENTIALS",
        ),
        json_post(
            "API sign-in with a 1 MiB e-mail",
            "/api/auth/token",
            json!({"email": "e".repeat(1024 * KIB), "password": "x"}),
            400,
            "BAD_REQUEST",
        ),
        json_post(
            "API sign-in with null fields",
            "/api/auth/token",
            json!({"email": null, "password": null}),
            400,
            "BAD_REQUEST",
        ),
        post(
            "API sign-in with broken JSON",
            "/api/auth/token",
            vec![],
            "application/json",
            b"{\"email\": ".to_vec(),
            400,
            Some("BAD_REQUEST"),
        ),
        post(
            "API sign-in with invalid UTF-8 JSON",
            "/api/auth/token",
            vec![],
            "application/json",
            b"{\"email\": \"\xff\", \"password\": \"x\"}".to_vec(),
            400,
            Some("BAD_REQUEST"),
        ),
        post(
            "API sign-in as text/plain",
            "/api/auth/token",
            vec![],
            "text/plain",
            json!({"email": EMAIL, "password": PASSWORD})
                .to_string()
                .into_bytes(),
            400,
            Some("BAD_REQUEST"),
        ),
    ]
}
