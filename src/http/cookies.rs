//! Auth cookies: exact-name parsing of the raw `Cookie` header (actix's own lookup decodes and
//! trims names and returns the first duplicate), and `Set-Cookie` values with every flag pinned.

use crate::domain::CookieDomain;
use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::http::header::COOKIE;
use actix_web::HttpRequest;
use std::borrow::Cow;

/// The three cookie names, with or without the `__Host-` prefix (`__Secure-` for the session
/// cookies when they are shared across a cookie domain).
#[derive(Clone, Debug)]
pub struct CookieNames {
    /// Access JWT.
    pub access: &'static str,
    /// Refresh token.
    pub refresh: &'static str,
    /// Signed-out CSRF secret.
    pub csrf: &'static str,
    /// Whether `Secure` is set.
    pub secure: bool,
    /// `Domain=` of the session cookies (`LATCHKEY_COOKIE_DOMAIN`); the CSRF cookie never has one.
    pub domain: Option<CookieDomain>,
}

impl CookieNames {
    /// `__Host-` names and `Secure` unless `LATCHKEY_COOKIE_SECURE=false`; with a cookie
    /// domain the session cookies are `__Secure-` (a `__Host-` cookie may not carry `Domain`).
    pub fn new(secure: bool, domain: Option<CookieDomain>) -> Self {
        let (access, refresh, csrf) = match (secure, domain.is_some()) {
            (true, false) => ("__Host-access", "__Host-refresh", "__Host-csrf"),
            (true, true) => ("__Secure-access", "__Secure-refresh", "__Host-csrf"),
            (false, _) => ("access", "refresh", "csrf"),
        };
        Self {
            access,
            refresh,
            csrf,
            secure,
            domain,
        }
    }

    fn build(
        &self,
        name: &'static str,
        value: String,
        same_site: SameSite,
        max_age: Option<i64>,
    ) -> Cookie<'static> {
        let mut c = Cookie::build(name, value)
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(same_site);
        if let Some(secs) = max_age {
            c = c.max_age(CookieDuration::seconds(secs));
        }
        match &self.domain {
            Some(d) if name != self.csrf => c.domain(d.as_str().to_string()).finish(),
            _ => c.finish(),
        }
    }

    /// The access cookie.
    pub fn access_cookie(&self, token: &str, max_age: i64) -> Cookie<'static> {
        self.build(self.access, token.to_string(), SameSite::Lax, Some(max_age))
    }

    /// The access cookie's attributes as DBSC's session instructions name the bound credential:
    /// what [`Self::access_cookie`] sets, bar its value and lifetime, so the two cannot drift.
    pub fn access_attributes(&self) -> String {
        let c = self
            .build(self.access, String::new(), SameSite::Lax, None)
            .to_string();
        c.split_once("; ")
            .map(|(_, attrs)| attrs.to_string())
            .unwrap_or_default()
    }

    /// The refresh cookie, living no longer than what is left of the session.
    pub fn refresh_cookie(&self, token: &str, max_age: i64) -> Cookie<'static> {
        self.build(
            self.refresh,
            token.to_string(),
            SameSite::Lax,
            Some(max_age),
        )
    }

    /// The signed-out CSRF cookie (browser-session lifetime).
    pub fn csrf_cookie(&self, secret: &str) -> Cookie<'static> {
        self.build(self.csrf, secret.to_string(), SameSite::Strict, None)
    }

    /// Deletes both session cookies, repeating `Secure; Path=/` so the browser honours it.
    pub fn clear_session(&self) -> [Cookie<'static>; 2] {
        [
            self.build(self.access, String::new(), SameSite::Lax, Some(0)),
            self.build(self.refresh, String::new(), SameSite::Lax, Some(0)),
        ]
    }
}

/// What the request carried under one cookie name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// Not present.
    Missing,
    /// Present once: the value's bytes, borrowed from the header. They are decoded only when
    /// asked for: the access token's memo hit needs no decoding at all.
    One(&'a [u8]),
    /// Present more than once: refused, since which one the browser meant is unknowable.
    Duplicate,
}

impl<'a> Lookup<'a> {
    /// The value's bytes when present exactly once.
    pub fn raw(&self) -> Option<&'a [u8]> {
        match self {
            Lookup::One(v) => Some(v),
            _ => None,
        }
    }

    /// The value as text when present exactly once (invalid UTF-8 repaired, so it simply
    /// fails whatever check comes next).
    pub fn value(&self) -> Option<Cow<'a, str>> {
        self.raw().map(String::from_utf8_lossy)
    }
}

/// Finds `name` among every `Cookie` header, byte-exact, with no decoding or trimming of names
/// beyond the separator's spaces; invalid UTF-8 elsewhere in the header does not hide it.
pub fn lookup<'a>(req: &'a HttpRequest, name: &str) -> Lookup<'a> {
    let [found] = lookups(req, [name]);
    found
}

/// [`lookup`] for several names in one pass over the header (the guard wants two on every
/// request).
pub fn lookups<'a, const N: usize>(req: &'a HttpRequest, names: [&str; N]) -> [Lookup<'a>; N] {
    let mut found = [const { Lookup::Missing }; N];
    for header in req.headers().get_all(COOKIE) {
        // memchr: this runs on every request, over a header mostly made of our own JWT.
        let bytes = header.as_bytes();
        let mut start = 0;
        while start <= bytes.len() {
            let end = memchr::memchr(b';', &bytes[start..]).map_or(bytes.len(), |i| start + i);
            let pair = trim_ows(&bytes[start..end]);
            start = end + 1;
            let Some(eq) = memchr::memchr(b'=', pair) else {
                continue;
            };
            let Some(i) = names.iter().position(|n| n.as_bytes() == &pair[..eq]) else {
                continue;
            };
            let value = trim_ows(&pair[eq + 1..]);
            found[i] = match found[i] {
                Lookup::Missing => Lookup::One(value),
                _ => Lookup::Duplicate,
            };
        }
    }
    found
}

fn trim_ows(mut b: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = b {
        b = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = b {
        b = rest;
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn exact_names_only_and_duplicates_refused() {
        let req = TestRequest::default()
            .insert_header((
                COOKIE,
                "a=1; __Host-access=tok; %5F_Host-refresh=x; __host-refresh=y",
            ))
            .to_http_request();
        assert_eq!(lookup(&req, "__Host-access"), Lookup::One(b"tok"));
        assert_eq!(lookup(&req, "__Host-refresh"), Lookup::Missing);
        let dup = TestRequest::default()
            .insert_header((COOKIE, "__Host-access=a; __Host-access=b"))
            .to_http_request();
        assert_eq!(lookup(&dup, "__Host-access"), Lookup::Duplicate);
        assert_eq!(
            lookups(&dup, ["__Host-refresh", "__Host-access"]),
            [Lookup::Missing, Lookup::Duplicate],
            "one pass answers for each name"
        );
    }

    #[test]
    fn invalid_utf8_elsewhere_does_not_hide_ours() {
        let value = actix_web::http::header::HeaderValue::from_bytes(b"x=\xff\xfe; access=tok")
            .expect("bytes");
        let req = TestRequest::default()
            .insert_header((COOKIE, value))
            .to_http_request();
        assert_eq!(lookup(&req, "access").value().as_deref(), Some("tok"));
    }

    #[test]
    fn set_cookie_flags_are_pinned() {
        let names = CookieNames::new(true, None);
        let c = names.refresh_cookie("v", 60).to_string();
        for part in [
            "__Host-refresh=v",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Max-Age=60",
        ] {
            assert!(c.contains(part), "{c} lacks {part}");
        }
        assert!(!c.contains("Domain"));
        let cleared = names.clear_session()[0].to_string();
        assert!(
            cleared.contains("Max-Age=0")
                && cleared.contains("Secure")
                && cleared.contains("Path=/")
        );
        let attrs = names.access_attributes();
        for part in ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"] {
            assert!(attrs.contains(part), "{attrs} lacks {part}");
        }
        assert!(!attrs.contains("__Host-access") && !attrs.contains("Max-Age"));
        assert!(names
            .csrf_cookie("s")
            .to_string()
            .contains("SameSite=Strict"));
    }

    #[test]
    fn a_cookie_domain_gives_secure_prefixed_shared_session_cookies() {
        let names = CookieNames::new(true, Some(CookieDomain::parse("example.com").unwrap()));
        let access = names.access_cookie("t", 60).to_string();
        assert!(access.starts_with("__Secure-access=t"), "{access}");
        assert!(access.contains("Domain=example.com") && access.contains("Secure"));
        let cleared = names.clear_session()[1].to_string();
        assert!(cleared.starts_with("__Secure-refresh=") && cleared.contains("Domain=example.com"));
        let csrf = names.csrf_cookie("s").to_string();
        assert!(
            csrf.starts_with("__Host-csrf=") && !csrf.contains("Domain"),
            "{csrf}"
        );
    }
}
