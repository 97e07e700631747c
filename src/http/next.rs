//! The `next` return-to parameter: only same-origin relative paths (SECURITY.md §8).

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Returns `raw` if it is a safe local path, otherwise `/`.
pub fn safe_next(raw: Option<&str>) -> String {
    match raw {
        Some(p) if is_local_path(p) => p.to_string(),
        _ => "/".to_string(),
    }
}

/// One leading `/`, a second character that is neither `/` nor `\`, no control characters.
pub fn is_local_path(p: &str) -> bool {
    let b = p.as_bytes();
    !b.is_empty()
        && b.len() <= 2048
        && b[0] == b'/'
        && !matches!(b.get(1), Some(b'/') | Some(b'\\'))
        && !p.chars().any(|c| c.is_control())
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

/// `/login?reason=R&next=PATH`, leaving `next` out when it would be `/`.
pub fn login_url(reason: &str, next: Option<&str>) -> String {
    match next.filter(|n| is_local_path(n) && *n != "/") {
        Some(n) => format!("/login?reason={reason}&next={}", encode(n)),
        None => format!("/login?reason={reason}"),
    }
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
}
