//! Forward authentication's protocol rules, with no actix in them: how a proxy describes the
//! original request (nginx `X-Original-URL`/`-Method`; Caddy and Traefik `X-Forwarded-*`), and
//! whether a refused request was a navigation (sent to sign-in) or a script's call (401).

use crate::domain::{AuthorityRef, Scheme, UrlRef, MAX_URL};
use std::borrow::Cow;
use std::fmt;

/// The request a proxy asks about, borrowing the proxy's headers: it is built on every request
/// the endpoints answer, and copied only into a sign-in link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginalRequest<'a> {
    /// Upper-case method token (borrowed for the common ones).
    pub method: Cow<'static, str>,
    /// Where it went (checked; `to_url()` copies it).
    pub url: UrlRef<'a>,
}

/// Why a proxy's description was refused; each names the header to fix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ForwardError {
    /// A required header is absent.
    Missing(&'static str),
    /// A header came more than once.
    Repeated(&'static str),
    /// A header is longer than we accept.
    TooLong(&'static str),
    /// A header does not parse.
    Malformed(&'static str),
}

impl fmt::Display for ForwardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing(h) => write!(f, "the proxy did not send {h}"),
            Self::Repeated(h) => write!(f, "{h} was sent more than once"),
            Self::TooLong(h) => write!(f, "{h} is longer than {MAX_URL} bytes"),
            Self::Malformed(h) => write!(f, "{h} is malformed"),
        }
    }
}

/// One header's value as the HTTP layer found it.
#[derive(Clone, Copy, Debug)]
pub enum Header<'a> {
    /// Not sent.
    Absent,
    /// Sent once (`None` when it is not visible ASCII).
    One(Option<&'a str>),
    /// Sent twice or more.
    Repeated,
}

fn required<'a>(name: &'static str, h: Header<'a>) -> Result<&'a str, ForwardError> {
    match h {
        Header::Absent => Err(ForwardError::Missing(name)),
        Header::Repeated => Err(ForwardError::Repeated(name)),
        Header::One(None) => Err(ForwardError::Malformed(name)),
        Header::One(Some(v)) if v.len() > MAX_URL => Err(ForwardError::TooLong(name)),
        Header::One(Some(v)) => Ok(v),
    }
}

fn method(name: &'static str, h: Header<'_>) -> Result<Cow<'static, str>, ForwardError> {
    let m = required(name, h)?;
    for known in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"] {
        if m.eq_ignore_ascii_case(known) {
            return Ok(Cow::Borrowed(known));
        }
    }
    let token = !m.is_empty()
        && m.len() <= 32
        && m.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !token {
        return Err(ForwardError::Malformed(name));
    }
    Ok(Cow::Owned(m.to_ascii_uppercase()))
}

/// nginx `auth_request`: `X-Original-URL` (absolute) and `X-Original-Method`.
pub fn from_nginx<'a>(
    url: Header<'a>,
    method_h: Header<'_>,
) -> Result<OriginalRequest<'a>, ForwardError> {
    let raw = required("X-Original-URL", url)?;
    let url = UrlRef::parse(raw).ok_or(ForwardError::Malformed("X-Original-URL"))?;
    Ok(OriginalRequest {
        method: method("X-Original-Method", method_h)?,
        url,
    })
}

/// Caddy `forward_auth` / Traefik `ForwardAuth`: `X-Forwarded-Method`, `-Proto`, `-Host`, `-Uri`.
pub fn from_forwarded<'a>(
    method_h: Header<'_>,
    proto: Header<'_>,
    host: Header<'a>,
    uri: Header<'a>,
) -> Result<OriginalRequest<'a>, ForwardError> {
    let method = method("X-Forwarded-Method", method_h)?;
    let scheme = Scheme::parse(required("X-Forwarded-Proto", proto)?)
        .ok_or(ForwardError::Malformed("X-Forwarded-Proto"))?;
    let host = AuthorityRef::parse(required("X-Forwarded-Host", host)?)
        .ok_or(ForwardError::Malformed("X-Forwarded-Host"))?;
    let uri = required("X-Forwarded-Uri", uri)?;
    let url =
        UrlRef::from_parts(scheme, host, uri).ok_or(ForwardError::Malformed("X-Forwarded-Uri"))?;
    Ok(OriginalRequest { method, url })
}

/// A top-level page load the browser can be redirected to sign-in from: `GET`/`HEAD`, and
/// `Sec-Fetch-Mode: navigate` or (for browsers without Fetch Metadata) an `Accept` naming
/// `text/html`. A script's `fetch()` sends `Sec-Fetch-Mode: cors` or `same-origin`.
pub fn is_navigation(method: &str, fetch_mode: Option<&str>, accept: Option<&str>) -> bool {
    if method != "GET" && method != "HEAD" {
        return false;
    }
    match fetch_mode {
        Some(mode) => mode.eq_ignore_ascii_case("navigate"),
        None => accept.is_some_and(|a| {
            a.split(',')
                .any(|part| part.trim().to_ascii_lowercase().starts_with("text/html"))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Header::*;

    #[test]
    fn nginx_description() {
        let o = from_nginx(One(Some("https://app.test/a?b")), One(Some("post"))).unwrap();
        assert_eq!(o.method, "POST");
        assert_eq!(o.url.to_url().to_string(), "https://app.test/a?b");
        assert_eq!(
            from_nginx(Absent, One(Some("GET"))),
            Err(ForwardError::Missing("X-Original-URL"))
        );
        assert_eq!(
            from_nginx(One(Some("/relative")), One(Some("GET"))),
            Err(ForwardError::Malformed("X-Original-URL"))
        );
        assert_eq!(
            from_nginx(One(Some("https://app.test/")), Repeated),
            Err(ForwardError::Repeated("X-Original-Method"))
        );
        assert_eq!(
            from_nginx(One(Some("https://app.test/")), One(Some("GE T"))),
            Err(ForwardError::Malformed("X-Original-Method"))
        );
        let long = format!("https://app.test/{}", "a".repeat(MAX_URL));
        assert_eq!(
            from_nginx(One(Some(&long)), One(Some("GET"))),
            Err(ForwardError::TooLong("X-Original-URL"))
        );
    }

    #[test]
    fn forwarded_description() {
        let o = from_forwarded(
            One(Some("GET")),
            One(Some("https")),
            One(Some("App.test:8443")),
            One(Some("/x?y=1")),
        )
        .unwrap();
        assert_eq!(o.url.to_url().to_string(), "https://app.test:8443/x?y=1");
        for (proto, host, uri, bad) in [
            ("gopher", "app.test", "/", "X-Forwarded-Proto"),
            ("https", "evil.test@app.test", "/", "X-Forwarded-Host"),
            ("https", "app.test", "x", "X-Forwarded-Uri"),
            ("https", "app.test", "//evil.test/\\", "X-Forwarded-Uri"),
        ] {
            assert_eq!(
                from_forwarded(
                    One(Some("GET")),
                    One(Some(proto)),
                    One(Some(host)),
                    One(Some(uri))
                ),
                Err(ForwardError::Malformed(bad)),
                "{proto} {host} {uri}"
            );
        }
    }

    #[test]
    fn navigations_and_script_calls() {
        assert!(is_navigation("GET", Some("navigate"), None));
        assert!(is_navigation(
            "HEAD",
            None,
            Some("text/html,application/xhtml+xml")
        ));
        assert!(!is_navigation("GET", Some("cors"), Some("text/html")));
        assert!(!is_navigation("GET", None, Some("application/json")));
        assert!(!is_navigation("POST", Some("navigate"), Some("text/html")));
        assert!(!is_navigation("GET", None, None));
    }
}
