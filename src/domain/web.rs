//! Web addresses Latchkey is configured with or handed by a proxy: its base path, its public
//! origin, the cookie domain, and absolute URLs. Parsing follows a deliberately narrow grammar
//! (a subset of RFC 3986 that every browser's WHATWG parser reads the same way), so a URL that
//! passes names exactly the host it appears to name, whatever encoding tricks it tries.

use std::fmt;

/// The longest absolute URL accepted (a longer `X-Original-URL` is refused, not truncated).
pub const MAX_URL: usize = 4096;

/// The path prefix every Latchkey route is served under: empty, or `/seg[/seg…]`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BasePath(String);

impl BasePath {
    /// Accepts empty or `/`, or segments of unreserved characters (`A-Z a-z 0-9 - . _ ~`),
    /// none of them `.` or `..`; a trailing `/` is dropped.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim_end_matches('/');
        if trimmed.is_empty() {
            return Ok(Self::default());
        }
        let Some(rest) = trimmed.strip_prefix('/') else {
            return Err(format!("{raw:?} must start with /"));
        };
        for seg in rest.split('/') {
            let unreserved = seg
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
            if seg.is_empty() || seg == "." || seg == ".." || !unreserved {
                return Err(format!(
                    "{raw:?} is not a path of letters, digits, '-', '.', '_' and '~'"
                ));
            }
        }
        Ok(Self(trimmed.to_string()))
    }

    /// The prefix (`""` or `/auth`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `http` or `https`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTPS.
    Https,
}

impl Scheme {
    /// Parses `http`/`https`, any case.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("https") {
            Some(Self::Https)
        } else if s.eq_ignore_ascii_case("http") {
            Some(Self::Http)
        } else {
            None
        }
    }

    /// The lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
        }
    }
}

/// A host and optional port, the host lower-cased: a DNS name whose last label starts with a
/// letter, a dotted-decimal IPv4 address without leading zeros, or a bracketed IPv6 address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authority {
    host: String,
    port: Option<u16>,
}

impl Authority {
    /// Parses `host[:port]` (as in a `Host` header).
    pub fn parse(s: &str) -> Option<Self> {
        AuthorityRef::parse(s).map(AuthorityRef::to_authority)
    }

    /// The lower-cased host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, when one was written.
    pub fn port(&self) -> Option<u16> {
        self.port
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// An [`Authority`] checked but not yet lower-cased or copied: it borrows the text it was read
/// from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthorityRef<'a> {
    /// All of it, as written.
    text: &'a str,
    /// The host, as written (brackets included for IPv6).
    host: &'a str,
    port: Option<u16>,
}

impl<'a> AuthorityRef<'a> {
    /// Checks `host[:port]` by [`Authority::parse`]'s rules (that function is this one, then a
    /// copy).
    pub fn parse(s: &'a str) -> Option<Self> {
        let (host, port) = if let Some(v6) = s.strip_prefix('[') {
            let (inside, after) = v6.split_once(']')?;
            let ok = !inside.is_empty()
                && inside
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
            if !ok || inside.parse::<std::net::Ipv6Addr>().is_err() {
                return None;
            }
            let port = match after {
                "" => None,
                p => Some(parse_port(p.strip_prefix(':')?)?),
            };
            (&s[..inside.len() + 2], port)
        } else {
            let (host, port) = match s.bytes().rposition(|b| b == b':') {
                Some(i) => (&s[..i], Some(parse_port(&s[i + 1..])?)),
                None => (s, None),
            };
            if !is_dns_name(host) && !is_plain_ipv4(host) {
                return None;
            }
            (host, port)
        };
        Some(Self {
            text: s,
            host,
            port,
        })
    }

    fn to_authority(self) -> Authority {
        Authority {
            host: self.host.to_ascii_lowercase(),
            port: self.port,
        }
    }
}

fn parse_port(p: &str) -> Option<u16> {
    if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse::<u16>().ok().filter(|&n| n > 0)
}

/// Labels of letters, digits and inner hyphens; the last starts with a letter, so no parser
/// reads it as a number (WHATWG turns `0x7f.1` into an IPv4 address).
fn is_dns_name(h: &str) -> bool {
    if h.is_empty() || h.len() > 253 {
        return false;
    }
    // One pass over the bytes: forward auth checks a host on every request it answers.
    let (mut len, mut prev, mut first) = (0usize, b'.', b'.');
    for &b in h.as_bytes() {
        if b == b'.' {
            if len == 0 || prev == b'-' {
                return false;
            }
            len = 0;
        } else {
            if !(b.is_ascii_alphanumeric() || b == b'-') || (len == 0 && b == b'-') || len == 63 {
                return false;
            }
            if len == 0 {
                first = b;
            }
            len += 1;
        }
        prev = b;
    }
    len > 0 && prev != b'-' && first.is_ascii_alphabetic()
}

fn is_plain_ipv4(h: &str) -> bool {
    let mut parts = 0;
    for p in h.split('.') {
        parts += 1;
        let ok = !p.is_empty()
            && p.len() <= 3
            && p.bytes().all(|b| b.is_ascii_digit())
            && (p.len() == 1 || !p.starts_with('0'))
            && p.parse::<u8>().is_ok();
        if !ok || parts > 4 {
            return false;
        }
    }
    parts == 4
}

/// An absolute `http(s)` URL without user information or fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AbsoluteUrl {
    scheme: Scheme,
    authority: Authority,
    /// Starts with `/`.
    path_and_query: String,
}

impl AbsoluteUrl {
    /// Parses `scheme://authority[/path][?query]`: printable ASCII only, no `\`, no `@`, no
    /// fragment, at most [`MAX_URL`] bytes. Anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        UrlRef::parse(s).map(UrlRef::to_url)
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Host and port.
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    /// The path and query (starts with `/`).
    pub fn path_and_query(&self) -> &str {
        &self.path_and_query
    }

    /// `scheme://authority` alone.
    pub fn origin(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.authority)
    }
}

impl fmt::Display for AbsoluteUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}{}",
            self.scheme.as_str(),
            self.authority,
            self.path_and_query
        )
    }
}

/// A byte an absolute URL may hold: visible ASCII other than `\` (which WHATWG parsers read as
/// `/`, so it could move where the host ends).
fn url_byte(b: u8) -> bool {
    (0x21..0x7f).contains(&b) && b != b'\\'
}

/// Whether the part after the host (path and query) is allowed: URL bytes, and no fragment.
fn tail_ok(tail: &str) -> bool {
    tail.bytes().all(|b| url_byte(b) && b != b'#')
}

/// An [`AbsoluteUrl`] checked by the same rules but still borrowing the text it was read from.
/// Forward auth checks the proxy's URL on every request it answers, and needs a copy only to
/// name it in a sign-in link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UrlRef<'a> {
    scheme: Scheme,
    authority: AuthorityRef<'a>,
    /// Empty, or starting with `/` or `?`.
    tail: &'a str,
}

impl<'a> UrlRef<'a> {
    /// Checks `s` by [`AbsoluteUrl::parse`]'s rules (that function is this one, then a copy).
    pub fn parse(s: &'a str) -> Option<Self> {
        if s.len() > MAX_URL {
            return None;
        }
        // Byte searches rather than `split_once("://")`: a substring search sets up a searcher
        // each time. A scheme holds no `:`, so the first one must begin `://`.
        let colon = s.bytes().position(|b| b == b':')?;
        let scheme = Scheme::parse(&s[..colon])?;
        let rest = s[colon + 1..].strip_prefix("//")?;
        let end = rest
            .bytes()
            .position(|b| matches!(b, b'/' | b'?' | b'#'))
            .unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        // The scheme is `http(s)` and a valid authority holds only visible ASCII without
        // `@` or `\`: the tail is all that is left to check, in one pass.
        if !tail_ok(tail) {
            return None;
        }
        Some(Self {
            scheme,
            authority: AuthorityRef::parse(authority)?,
            tail,
        })
    }

    /// The URL a proxy sent in parts (Caddy's and Traefik's `X-Forwarded-*`): exactly what
    /// [`UrlRef::parse`] makes of `scheme://authority` + `uri` when `uri` starts with `/`, and
    /// `None` otherwise.
    pub fn from_parts(scheme: Scheme, authority: AuthorityRef<'a>, uri: &'a str) -> Option<Self> {
        // A valid authority holds only visible ASCII and none of `/ ? # @ \`, so the joined
        // text splits where the parts meet, and the uri alone decides the rest.
        let joined = scheme.as_str().len() + "://".len() + authority.text.len() + uri.len();
        if !uri.starts_with('/') || joined > MAX_URL || !tail_ok(uri) {
            return None;
        }
        Some(Self {
            scheme,
            authority,
            tail: uri,
        })
    }

    /// The owned URL: the host lower-cased, and an empty path written as `/`.
    pub fn to_url(self) -> AbsoluteUrl {
        let path_and_query = match self.tail.as_bytes().first() {
            None => "/".to_string(),
            Some(b'?') => format!("/{}", self.tail),
            Some(_) => self.tail.to_string(),
        };
        AbsoluteUrl {
            scheme: self.scheme,
            authority: self.authority.to_authority(),
            path_and_query,
        }
    }
}

/// The domain session cookies are shared under (`LATCHKEY_COOKIE_DOMAIN`), lower-cased,
/// without a leading dot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieDomain(String);

impl CookieDomain {
    /// A DNS name (not an address); a leading `.` is dropped, as browsers do.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let d = raw.strip_prefix('.').unwrap_or(raw);
        if !is_dns_name(d) {
            return Err(format!("{raw:?} is not a domain name"));
        }
        Ok(Self(d.to_ascii_lowercase()))
    }

    /// The domain.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `host` is this domain or one of its subdomains (cookie domain-matching).
    pub fn covers(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        host == self.0
            || host
                .strip_suffix(&self.0)
                .is_some_and(|head| head.ends_with('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The rule as written down, label by label: what the one-pass check must agree with.
    fn dns_name_by_labels(h: &str) -> bool {
        let labels: Vec<&str> = h.split('.').collect();
        !h.is_empty()
            && h.len() <= 253
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
            && labels.last().unwrap().as_bytes()[0].is_ascii_alphabetic()
    }

    proptest! {
        #[test]
        fn the_one_pass_dns_check_agrees_with_the_rule(h in "[a0Z9.\\-_]{0,12}|[a.-]{60,70}|(a{60,66}\\.){1,5}[a-z]{1,3}") {
            prop_assert_eq!(is_dns_name(&h), dns_name_by_labels(&h), "{:?}", h);
        }
    }

    /// The URL rule as written down, a check at a time: what the one-pass parse must agree with.
    fn url_by_rule(s: &str) -> Option<String> {
        if s.len() > MAX_URL || !s.bytes().all(url_byte) {
            return None;
        }
        let (scheme, rest) = s.split_once("://")?;
        let scheme = Scheme::parse(scheme)?;
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.contains('@') || tail.contains('#') {
            return None;
        }
        let authority = Authority::parse(authority)?;
        let tail = if tail.starts_with('/') {
            tail.to_string()
        } else {
            format!("/{tail}")
        };
        Some(format!("{}://{authority}{tail}", scheme.as_str()))
    }

    proptest! {
        #[test]
        fn the_one_pass_url_parse_agrees_with_the_rule(
            s in "(https?://|HTTP://|ftp://|http:/|http|)(App\\.test|127\\.0\\.0\\.1|\\[::1\\]|[aZ0.:@\\[\\]\\-]{0,10})(:[0-9]{0,6})?[/?#@ a.:\\\\\u{e4}]{0,10}",
        ) {
            prop_assert_eq!(
                AbsoluteUrl::parse(&s).map(|u| u.to_string()),
                url_by_rule(&s),
                "{:?}",
                s
            );
        }

        #[test]
        fn a_url_sent_in_parts_reads_as_the_same_url_joined(
            https in any::<bool>(),
            host in "[aZ0.:@/?#\\[\\]\\-]{0,10}|App\\.test(:[0-9]{1,6})?|\\[::[aF1]{1,4}\\](:[0-9]{1,5})?",
            uri in "[/aZ?#@ %.:\\\\]{0,10}",
        ) {
            let scheme = if https { Scheme::Https } else { Scheme::Http };
            let joined = format!("{}://{host}{uri}", scheme.as_str());
            let authority = AuthorityRef::parse(&host);
            let expected = (authority.is_some() && uri.starts_with('/'))
                .then(|| AbsoluteUrl::parse(&joined))
                .flatten();
            prop_assert_eq!(
                authority.and_then(|a| UrlRef::from_parts(scheme, a, &uri)).map(UrlRef::to_url),
                expected,
                "{:?} {:?}",
                host,
                uri
            );
        }
    }

    #[test]
    fn a_url_in_parts_is_held_to_the_same_length() {
        let uri = format!("/{}", "a".repeat(MAX_URL - "https://app.test/".len()));
        let app = AuthorityRef::parse("app.test").unwrap();
        assert!(UrlRef::from_parts(Scheme::Https, app, &uri).is_some());
        let longer = format!("{uri}a");
        assert!(UrlRef::from_parts(Scheme::Https, app, &longer).is_none());
        assert!(AbsoluteUrl::parse(&format!("https://app.test{longer}")).is_none());
    }

    #[test]
    fn base_paths() {
        assert_eq!(BasePath::parse("").unwrap().as_str(), "");
        assert_eq!(BasePath::parse("/").unwrap().as_str(), "");
        assert_eq!(BasePath::parse("/auth/").unwrap().as_str(), "/auth");
        assert_eq!(BasePath::parse("/a/b-c").unwrap().as_str(), "/a/b-c");
        for bad in [
            "auth", "/a//b", "/a/../b", "/a b", "/a?b", "/\"x", "/%2e%2e", "/<x>",
        ] {
            assert!(BasePath::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn absolute_urls() {
        let u = AbsoluteUrl::parse("HTTPS://App.Example.COM:8443/a?b=c").unwrap();
        assert_eq!(u.to_string(), "https://app.example.com:8443/a?b=c");
        assert_eq!(
            AbsoluteUrl::parse("http://h.test").unwrap().to_string(),
            "http://h.test/"
        );
        assert_eq!(
            AbsoluteUrl::parse("http://[::ABC]:8?q")
                .unwrap()
                .to_string(),
            "http://[::abc]:8/?q"
        );
        assert_eq!(
            AbsoluteUrl::parse("http://127.0.0.1:9/x")
                .unwrap()
                .authority()
                .host(),
            "127.0.0.1"
        );
        for bad in [
            "//evil.com",
            "/local",
            "javascript:alert(1)",
            "https://good.test@evil.test/",
            "https://evil.test\\@good.test/",
            "https://evil.test#@good.test",
            "https://evil.test/ x",
            "https:/evil.test",
            "https://0x7f.1/",
            "https://127.000.0.1/",
            "https://good.test:0/",
            "https://good.test:99999/",
            "https://good.test./",
            "https://%65vil.test/",
            "ftp://good.test/",
            "https://ex\u{e4}mple.test/",
            "https://good.test/\n",
        ] {
            assert!(AbsoluteUrl::parse(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn cookie_domains_cover_subdomains_only() {
        let d = CookieDomain::parse(".Example.com").unwrap();
        assert!(d.covers("example.com") && d.covers("app.example.com"));
        assert!(!d.covers("badexample.com") && !d.covers("example.com.evil.test"));
        assert!(CookieDomain::parse("127.0.0.1").is_err());
    }
}
