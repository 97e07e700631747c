//! The one place that builds every URL Latchkey emits (links, form actions, redirects,
//! `Location`, `next`, static assets), so `LATCHKEY_BASE_PATH` and `LATCHKEY_PUBLIC_URL` are
//! applied once, never by string concatenation in a handler or template.

use crate::config::Config;
use crate::domain::BasePath;
use std::fmt;
use std::sync::Arc;

/// Latchkey's own addresses.
#[derive(Clone, Debug, Default)]
pub struct Urls {
    /// `""` or `/auth`.
    base: Arc<str>,
    /// `https://auth.example.com` (no trailing slash), when configured.
    public: Option<Arc<str>>,
    /// The public origin's `host[:port]`.
    public_host: Option<Arc<str>>,
}

impl Urls {
    /// From the configuration.
    pub fn new(config: &Config) -> Self {
        Self::with(
            &config.base_path,
            config.public_url.as_ref().map(|u| u.origin()),
        )
    }

    /// From a base path and an optional public origin.
    pub fn with(base: &BasePath, public: Option<String>) -> Self {
        let public_host = public
            .as_deref()
            .and_then(|p| p.split_once("://"))
            .map(|(_, host)| host.into());
        Self {
            base: base.as_str().into(),
            public: public.map(Into::into),
            public_host,
        }
    }

    /// `LATCHKEY_PUBLIC_URL`'s `host[:port]`, when set.
    pub fn public_host(&self) -> Option<&str> {
        self.public_host.as_deref()
    }

    /// The base path (`""` or `/auth`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The path a browser uses for Latchkey's own `path` (which starts with `/`).
    pub fn at(&self, path: &str) -> String {
        self.href(path).to_string()
    }

    /// [`Self::at`] without allocating, for templates.
    pub fn href<'a>(&'a self, path: &'a str) -> Href<'a> {
        Href {
            base: &self.base,
            path,
        }
    }

    /// Latchkey's own `path` as a browser on another host must be sent it: absolute under
    /// `LATCHKEY_PUBLIC_URL` when that is set, else the path alone (same host).
    pub fn external(&self, path: &str) -> String {
        match &self.public {
            Some(origin) => format!("{origin}{}", self.href(path)),
            None => self.at(path),
        }
    }

    /// The route a request's full path names below the base path (`/auth/x` → `/x`; the base
    /// alone → `/`), or `None` when it is not under the base path at all.
    pub fn local<'a>(&self, full: &'a str) -> Option<&'a str> {
        let rest = full.strip_prefix(&*self.base)?;
        match rest {
            "" => Some("/"),
            r if r.starts_with('/') => Some(r),
            _ => None,
        }
    }

    /// The sign-in page: `…/login?reason=R&next=N`, each part left out when absent; `next`
    /// is taken as given (callers have checked it) and percent-encoded.
    pub fn login(&self, reason: Option<&str>, next: Option<&str>, external: bool) -> String {
        let mut url = if external {
            self.external("/login")
        } else {
            self.at("/login")
        };
        let mut sep = '?';
        if let Some(r) = reason {
            url.push(sep);
            url.push_str("reason=");
            url.push_str(r);
            sep = '&';
        }
        if let Some(n) = next {
            url.push(sep);
            url.push_str("next=");
            url.push_str(&super::next::encode(n));
        }
        url
    }
}

/// A path under the base path, written without allocating.
#[derive(Clone, Copy)]
pub struct Href<'a> {
    base: &'a str,
    path: &'a str,
}

impl fmt::Display for Href<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.base)?;
        // `/auth` + `/` is the base itself with its slash: `/auth/`.
        f.write_str(self.path)
    }
}

impl askama::FastWritable for Href<'_> {
    fn write_into(
        &self,
        dest: &mut dyn std::fmt::Write,
        _: &dyn askama::Values,
    ) -> askama::Result<()> {
        dest.write_str(self.base)?;
        Ok(dest.write_str(self.path)?)
    }
}

/// The base path is validated to unreserved characters and templates pass literal paths, so
/// escaping would change nothing.
impl askama::filters::HtmlSafe for Href<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(base: &str, public: Option<&str>) -> Urls {
        Urls::with(&BasePath::parse(base).unwrap(), public.map(String::from))
    }

    #[test]
    fn root_changes_nothing() {
        let u = urls("", None);
        assert_eq!(u.at("/account"), "/account");
        assert_eq!(u.at("/"), "/");
        assert_eq!(u.local("/api/me"), Some("/api/me"));
        assert_eq!(
            u.login(Some("expired"), Some("/a?b=c"), true),
            "/login?reason=expired&next=/a%3Fb%3Dc"
        );
    }

    #[test]
    fn base_path_prefixes_everything() {
        let u = urls("/auth", Some("https://auth.example.com"));
        assert_eq!(u.at("/account"), "/auth/account");
        assert_eq!(u.at("/"), "/auth/");
        assert_eq!(
            u.href("/static/style.css").to_string(),
            "/auth/static/style.css"
        );
        assert_eq!(u.local("/auth/api/me"), Some("/api/me"));
        assert_eq!(u.local("/auth"), Some("/"));
        assert_eq!(u.local("/authz"), None);
        assert_eq!(u.local("/api/me"), None);
        assert_eq!(
            u.login(None, Some("https://app.example.com/x"), true),
            "https://auth.example.com/auth/login?next=https%3A//app.example.com/x"
        );
        assert_eq!(
            u.login(Some("reused"), None, false),
            "/auth/login?reason=reused"
        );
    }
}
