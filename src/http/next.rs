//! The `next` return-to parameter: a local path, or for forward authentication an absolute URL
//! on the request's own host or under the cookie domain (rules in `auth::redirect`).

use super::state::AppState;
use super::urls::Urls;
use crate::auth::{allowed_next, RedirectRules};
use actix_web::http::header::HOST;
use actix_web::HttpRequest;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

pub use crate::auth::is_local_path;

/// Returns `raw` if it is a safe local path, otherwise `/`.
pub fn safe_next(raw: Option<&str>) -> String {
    match raw {
        Some(p) if is_local_path(p) => p.to_string(),
        _ => "/".to_string(),
    }
}

/// `raw` when this request may be sent there after signing in (CONTRACT §5), else `None`.
pub fn checked_next(req: &HttpRequest, st: &AppState, raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    let own_host = req.headers().get(HOST).and_then(|h| h.to_str().ok());
    let rules = RedirectRules {
        own_host,
        public_host: st.urls.public_host(),
        cookie_domain: st.cookies.domain.as_ref(),
        allow_http: !st.cookies.secure,
    };
    allowed_next(raw, &rules)
}

/// `/login?reason=R&next=PATH` at the root, leaving `next` out when it would be `/`.
pub fn login_url(reason: &str, next: Option<&str>) -> String {
    login_url_at(&Urls::default(), reason, next)
}

/// [`login_url`] under the configured base path; `next` is kept only when it is a local path.
pub fn login_url_at(urls: &Urls, reason: &str, next: Option<&str>) -> String {
    let next = next.filter(|n| is_local_path(n) && *n != "/");
    urls.login(Some(reason), next, false)
}

const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

/// Percent-encodes a value for a query string.
pub fn encode(v: &str) -> String {
    utf8_percent_encode(v, QUERY_VALUE).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_survive() {
        for ok in ["/", "/account", "/admin/users?q=a%20b", "/a/b#frag"] {
            assert_eq!(safe_next(Some(ok)), ok);
        }
        for bad in [
            "",
            "//evil.com",
            "/\\evil.com",
            "https://evil.com",
            "evil.com",
            "/\nLocation: x",
            "/a\u{0}",
            "\\\\evil",
            "javascript:alert(1)",
            " /account",
            "/\t/evil.com",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn login_urls_encode_next() {
        assert_eq!(
            login_url("expired", Some("/admin/users?q=a&page=2")),
            "/login?reason=expired&next=/admin/users%3Fq%3Da%26page%3D2"
        );
        assert_eq!(
            login_url("revoked", Some("//evil")),
            "/login?reason=revoked"
        );
        assert_eq!(login_url("expired", Some("/")), "/login?reason=expired");
    }

    #[test]
    fn next_is_encoded() {
        assert_eq!(
            encode("/admin/users?q=a&page=2"),
            "/admin/users%3Fq%3Da%26page%3D2"
        );
    }
}
