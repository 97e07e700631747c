//! Where a sign-in may send the browser afterwards (`next`): a local path (SECURITY.md §8),
//! or, for forward authentication, an absolute URL on the request's own host or under the
//! cookie domain (CONTRACT §5, §8). Everything else falls back to the account page.

use crate::domain::{AbsoluteUrl, CookieDomain, Scheme};

/// Longest `next` kept.
const MAX_NEXT: usize = 2048;

/// One leading `/`, a second character that is neither `/` nor `\`, no control characters.
pub fn is_local_path(p: &str) -> bool {
    let b = p.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_NEXT
        && b[0] == b'/'
        && !matches!(b.get(1), Some(b'/') | Some(b'\\'))
        && !p.chars().any(|c| c.is_control())
}

/// What an absolute `next` may name.
#[derive(Clone, Copy, Debug, Default)]
pub struct RedirectRules<'a> {
    /// The `Host` the sign-in request came to (`host[:port]`).
    pub own_host: Option<&'a str>,
    /// Latchkey's public origin's `host[:port]` (`LATCHKEY_PUBLIC_URL`).
    pub public_host: Option<&'a str>,
    /// Hosts under this domain are allowed too.
    pub cookie_domain: Option<&'a CookieDomain>,
    /// Whether plain `http://` targets are allowed (only when cookies are not `Secure`).
    pub allow_http: bool,
}

/// The target `raw` names when it is allowed: a local path as given, or the absolute URL
/// re-serialised from its parsed parts. `None` sends the user to the default page.
pub fn allowed_next(raw: &str, rules: &RedirectRules<'_>) -> Option<String> {
    if is_local_path(raw) {
        return Some(raw.to_string());
    }
    if raw.len() > MAX_NEXT {
        return None;
    }
    let url = AbsoluteUrl::parse(raw)?;
    if url.scheme() == Scheme::Http && !rules.allow_http {
        return None;
    }
    let authority = url.authority().to_string();
    let same = |h: Option<&str>| {
        h.and_then(crate::domain::Authority::parse)
            .is_some_and(|a| a.to_string() == authority)
    };
    let shared = rules
        .cookie_domain
        .is_some_and(|d| d.covers(url.authority().host()));
    (same(rules.own_host) || same(rules.public_host) || shared).then(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rules(domain: &CookieDomain) -> RedirectRules<'_> {
        RedirectRules {
            own_host: Some("App.Example.com:8443"),
            public_host: Some("auth.example.com"),
            cookie_domain: Some(domain),
            allow_http: false,
        }
    }

    #[test]
    fn own_host_and_cookie_domain_only() {
        let d = CookieDomain::parse("example.com").unwrap();
        let r = rules(&d);
        for (ok, want) in [
            ("/account", "/account"),
            (
                "https://app.example.com:8443/x?y=1",
                "https://app.example.com:8443/x?y=1",
            ),
            ("https://AUTH.example.com/", "https://auth.example.com/"),
            (
                "https://wiki.example.com/page",
                "https://wiki.example.com/page",
            ),
            ("https://example.com?q", "https://example.com/?q"),
        ] {
            assert_eq!(allowed_next(ok, &r).as_deref(), Some(want), "{ok}");
        }
        for bad in [
            "//evil.test",
            "/\\evil.test",
            "https://evil.test/",
            "https://example.com.evil.test/",
            "https://evilexample.com/",
            "https://app.example.com@evil.test/",
            "https://evil.test\\.example.com/",
            "https://evil.test%2f.example.com/",
            "https://evil.test#.example.com",
            "http://app.example.com:8443/",
            "https:\\\\evil.test",
            "\thttps://app.example.com/",
            "https://evil.test%00.example.com/",
            "javascript://app.example.com/%0aalert(1)",
            "data:text/html,<script>",
            "",
        ] {
            assert_eq!(allowed_next(bad, &r), None, "{bad:?}");
        }
        let no_domain = RedirectRules {
            cookie_domain: None,
            ..r
        };
        assert_eq!(allowed_next("https://wiki.example.com/", &no_domain), None);
        assert_eq!(
            allowed_next("https://app.example.com/", &no_domain),
            None,
            "another port is another origin"
        );
    }

    proptest! {
        /// Whatever the input, an accepted absolute target is read by a WHATWG parser (the
        /// `url` crate, as browsers do) as naming an allowed host.
        #[test]
        fn accepted_targets_name_an_allowed_host(raw in "(https?:)?[/\\\\]{0,2}[a-zA-Z0-9.@:%#?/\\\\ \t-]{0,40}(example\\.com)?[a-zA-Z0-9.@:%#?/\\\\-]{0,10}") {
            let d = CookieDomain::parse("example.com").unwrap();
            let r = rules(&d);
            if let Some(target) = allowed_next(&raw, &r) {
                let base = url::Url::parse("https://app.example.com:8443/").unwrap();
                let parsed = base.join(&target).expect("a browser can follow it");
                let host = parsed.host_str().unwrap_or("").to_string();
                prop_assert!(
                    host == "app.example.com" || d.covers(&host),
                    "{raw:?} → {target:?} → {host}"
                );
            }
        }

        /// Any string at all: never a panic, and a kept target never carries a control
        /// character, a backslash or whitespace.
        #[test]
        fn any_input_is_safe(raw in "\\PC{0,60}") {
            let d = CookieDomain::parse("example.com").unwrap();
            if let Some(t) = allowed_next(&raw, &rules(&d)) {
                prop_assert!(!t.chars().any(|c| c.is_control()));
                prop_assert!(t.starts_with('/') || !t.contains(['\\', ' ']));
            }
        }
    }
}
