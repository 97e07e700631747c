//! Configuration: every setting of CONTRACT §2, read once from the environment and validated.
//!
//! Variables: `LATCHKEY_BIND`, `DATABASE_URL`, `LATCHKEY_JWT_SECRET`, `LATCHKEY_SECRET_FILE`,
//! `LATCHKEY_JWT_PREVIOUS_SECRETS`, `LATCHKEY_ACCESS_TTL`, `LATCHKEY_SESSION_IDLE_TTL`,
//! `LATCHKEY_SESSION_MAX_TTL`, `LATCHKEY_CLOCK_LEEWAY`, `LATCHKEY_REFRESH_GRACE`,
//! `LATCHKEY_REFRESH_AHEAD`, `LATCHKEY_REVOCATION_SYNC`, `LATCHKEY_COOKIE_SECURE`,
//! `LATCHKEY_REGISTRATION`, `LATCHKEY_TRUSTED_PROXIES`, `LATCHKEY_BCRYPT_COST`,
//! `LATCHKEY_DB_POOL_SIZE`, `LATCHKEY_DB_TIMEOUT`, `LATCHKEY_METRICS`, `LATCHKEY_METRICS_REFRESH`,
//! `LATCHKEY_LOGIN_THROTTLE`, `LATCHKEY_BODY_TIMEOUT`, `LATCHKEY_BASE_PATH`, `LATCHKEY_PUBLIC_URL`,
//! `LATCHKEY_COOKIE_DOMAIN`, `LATCHKEY_STEP_UP_TTL`, `LATCHKEY_DBSC`.
//! The result is a plain value passed down from `main`; tests build their own.

mod duration;
mod secret;

pub use duration::parse_duration;
pub use secret::{generate_secret, SecretError, SigningSecrets};

use crate::domain::{AbsoluteUrl, BasePath, CookieDomain};
use ipnet::IpNet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A configuration problem, naming the variable so start-up can stop with a one-line message.
#[derive(Debug, thiserror::Error)]
#[error("{var}: {message}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub var: &'static str,
    /// What is wrong with it, in plain words.
    pub message: String,
}

impl ConfigError {
    fn new(var: &'static str, message: impl Into<String>) -> Self {
        Self {
            var,
            message: message.into(),
        }
    }
}

/// Where the HS256 signing key comes from.
#[derive(Clone)]
pub enum SecretSource {
    /// Given directly in `LATCHKEY_JWT_SECRET`.
    Inline(String),
    /// Read from (or generated once into) this file.
    File(PathBuf),
}

impl std::fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline(<redacted>)"),
            Self::File(p) => f.debug_tuple("File").field(p).finish(),
        }
    }
}

/// Where Prometheus metrics are served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetricsMode {
    /// `GET /metrics` on the main listener.
    Inline,
    /// A separate listener (keeps metrics off the public port).
    Bind(SocketAddr),
    /// Not served at all.
    Off,
}

/// Every setting Latchkey runs with.
#[derive(Clone, Debug)]
pub struct Config {
    /// Listen address.
    pub bind: String,
    /// `sqlite://PATH`, a bare path, or `postgres://…`.
    pub database_url: String,
    /// The current signing key's source.
    pub secret: SecretSource,
    /// Older keys that still verify.
    pub previous_secrets: Vec<String>,
    /// Access-token lifetime.
    pub access_ttl: Duration,
    /// A session unused this long is expired.
    pub session_idle_ttl: Duration,
    /// Absolute session lifetime from sign-in.
    pub session_max_ttl: Duration,
    /// Clock-skew tolerance on `exp`/`nbf`/`iat`.
    pub clock_leeway: Duration,
    /// How long a just-rotated refresh token is still honoured.
    pub refresh_grace: Duration,
    /// An access token this close to expiry is refreshed proactively.
    pub refresh_ahead: Duration,
    /// The longest a revocation may take to reach every instance.
    pub revocation_sync: Duration,
    /// `__Host-` prefix and `Secure` flag on cookies.
    pub cookie_secure: bool,
    /// Whether sign-up is open.
    pub registration_open: bool,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// bcrypt work factor.
    pub bcrypt_cost: u32,
    /// Database connections per instance.
    pub db_pool_size: u32,
    /// How long a request waits for a database connection before answering 503.
    pub db_timeout: Duration,
    /// Where `/metrics` is served.
    pub metrics: MetricsMode,
    /// How often the active-sessions gauge is recounted (in the background, never per scrape).
    pub metrics_refresh: Duration,
    /// Whether failed sign-ins are throttled (tests of other features may switch it off).
    pub login_throttle: bool,
    /// How long a request body may take to arrive in full (a slow one answers 400).
    pub body_timeout: Duration,
    /// The path prefix every route is served under (empty: the root).
    pub base_path: BasePath,
    /// Latchkey's external origin, for redirects that must name it absolutely.
    pub public_url: Option<AbsoluteUrl>,
    /// Share session cookies across this domain's subdomains (`__Secure-` names with `Domain=`).
    pub cookie_domain: Option<CookieDomain>,
    /// Settings taken down to fit others, each a sentence that start-up logs once as a warning.
    pub adjustments: Vec<String>,
    /// How long a password confirmation lets a session take sensitive actions (CONTRACT §10).
    pub step_up_ttl: Duration,
    /// Whether device-bound sessions (DBSC, CONTRACT §9) are offered and honoured.
    pub dbsc: bool,
}

impl Config {
    /// Reads the process environment (after `.env`, which `main` loads).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    /// Builds a configuration from any key → value lookup; unset keys take CONTRACT defaults.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |k: &str| {
            get(k)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let dur = |var: &'static str, default: &str| -> Result<Duration, ConfigError> {
            parse_duration(&get(var).unwrap_or_else(|| default.into()))
                .map_err(|m| ConfigError::new(var, m))
        };
        let flag = |var: &'static str, default: bool| -> Result<bool, ConfigError> {
            match get(var).map(|v| v.to_ascii_lowercase()) {
                None => Ok(default),
                Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
                Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
                Some(v) => Err(ConfigError::new(var, format!("{v:?} is not true or false"))),
            }
        };

        let bind = get("LATCHKEY_BIND").unwrap_or_else(|| "127.0.0.1:8080".into());
        if bind.parse::<SocketAddr>().is_err() && !bind.contains(':') {
            return Err(ConfigError::new(
                "LATCHKEY_BIND",
                format!("{bind:?} is not HOST:PORT"),
            ));
        }
        let database_url = get("DATABASE_URL").unwrap_or_else(|| "sqlite://latchkey.db".into());
        let secret = match get("LATCHKEY_JWT_SECRET") {
            Some(s) => {
                secret::check_strength(&s)
                    .map_err(|m| ConfigError::new("LATCHKEY_JWT_SECRET", m))?;
                SecretSource::Inline(s)
            }
            None => SecretSource::File(
                get("LATCHKEY_SECRET_FILE")
                    .unwrap_or_else(|| "latchkey.secret".into())
                    .into(),
            ),
        };
        let previous_secrets: Vec<String> = get("LATCHKEY_JWT_PREVIOUS_SECRETS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect();
        for s in &previous_secrets {
            secret::check_strength(s)
                .map_err(|m| ConfigError::new("LATCHKEY_JWT_PREVIOUS_SECRETS", m))?;
        }

        let access_ttl = dur("LATCHKEY_ACCESS_TTL", "15m")?;
        let mut session_idle_ttl = dur("LATCHKEY_SESSION_IDLE_TTL", "7d")?;
        let mut adjustments = Vec::new();
        let session_max_ttl = dur("LATCHKEY_SESSION_MAX_TTL", "30d")?;
        let clock_leeway = dur("LATCHKEY_CLOCK_LEEWAY", "30s")?;
        let refresh_grace = dur("LATCHKEY_REFRESH_GRACE", "10s")?;
        let refresh_ahead = dur("LATCHKEY_REFRESH_AHEAD", "60s")?;
        let revocation_sync = dur("LATCHKEY_REVOCATION_SYNC", "2s")?;
        if access_ttl.as_secs() == 0 || access_ttl > Duration::from_secs(86_400) {
            return Err(ConfigError::new(
                "LATCHKEY_ACCESS_TTL",
                "must be between 1s and 1d",
            ));
        }
        if session_idle_ttl.as_secs() == 0 {
            return Err(ConfigError::new(
                "LATCHKEY_SESSION_IDLE_TTL",
                "must be at least 1s",
            ));
        }
        if session_max_ttl.is_zero() {
            return Err(ConfigError::new(
                "LATCHKEY_SESSION_MAX_TTL",
                "must be at least 1s",
            ));
        }
        // No session can be idle longer than it may live at all, so a short absolute lifetime
        // alone (the default idle lifetime is 7d) shortens the idle one rather than refusing.
        if session_max_ttl < session_idle_ttl {
            adjustments.push(format!(
                "LATCHKEY_SESSION_IDLE_TTL taken down from {}s to {}s to fit LATCHKEY_SESSION_MAX_TTL",
                session_idle_ttl.as_secs(),
                session_max_ttl.as_secs()
            ));
            session_idle_ttl = session_max_ttl;
        }
        if clock_leeway > Duration::from_secs(30) {
            return Err(ConfigError::new(
                "LATCHKEY_CLOCK_LEEWAY",
                "must be at most 30s",
            ));
        }
        if refresh_grace > Duration::from_secs(120) {
            return Err(ConfigError::new(
                "LATCHKEY_REFRESH_GRACE",
                "must be at most 2m",
            ));
        }
        if refresh_ahead >= access_ttl && refresh_ahead.as_secs() > 0 {
            return Err(ConfigError::new(
                "LATCHKEY_REFRESH_AHEAD",
                "must be shorter than LATCHKEY_ACCESS_TTL",
            ));
        }
        if revocation_sync.as_millis() == 0 || revocation_sync > Duration::from_secs(300) {
            return Err(ConfigError::new(
                "LATCHKEY_REVOCATION_SYNC",
                "must be between 1s and 5m",
            ));
        }

        let registration_open = match get("LATCHKEY_REGISTRATION").as_deref() {
            None | Some("open") => true,
            Some("closed") => false,
            Some(v) => {
                return Err(ConfigError::new(
                    "LATCHKEY_REGISTRATION",
                    format!("{v:?} is neither open nor closed"),
                ))
            }
        };
        let trusted_proxies = get("LATCHKEY_TRUSTED_PROXIES")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<std::net::IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        ConfigError::new("LATCHKEY_TRUSTED_PROXIES", format!("{s:?} is not a CIDR"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let bcrypt_cost = match get("LATCHKEY_BCRYPT_COST") {
            None => 12,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|c| (4..=31).contains(c))
                .ok_or_else(|| {
                    ConfigError::new(
                        "LATCHKEY_BCRYPT_COST",
                        format!("{v:?} is not between 4 and 31"),
                    )
                })?,
        };
        let db_pool_size = match get("LATCHKEY_DB_POOL_SIZE") {
            None => 8,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=256).contains(n))
                .ok_or_else(|| {
                    ConfigError::new(
                        "LATCHKEY_DB_POOL_SIZE",
                        format!("{v:?} is not between 1 and 256"),
                    )
                })?,
        };
        let db_timeout = dur("LATCHKEY_DB_TIMEOUT", "3s")?;
        if db_timeout.as_secs() == 0 || db_timeout > Duration::from_secs(30) {
            return Err(ConfigError::new(
                "LATCHKEY_DB_TIMEOUT",
                "must be between 1s and 30s",
            ));
        }
        let metrics = match get("LATCHKEY_METRICS").as_deref() {
            None | Some("on") | Some("inline") => MetricsMode::Inline,
            Some("off") => MetricsMode::Off,
            Some(addr) => MetricsMode::Bind(addr.parse().map_err(|_| {
                ConfigError::new(
                    "LATCHKEY_METRICS",
                    format!("{addr:?} is not on, off or HOST:PORT"),
                )
            })?),
        };
        let body_timeout = dur("LATCHKEY_BODY_TIMEOUT", "10s")?;
        if body_timeout.as_secs() == 0 || body_timeout > Duration::from_secs(300) {
            return Err(ConfigError::new(
                "LATCHKEY_BODY_TIMEOUT",
                "must be between 1s and 300s",
            ));
        }
        let step_up_ttl = dur("LATCHKEY_STEP_UP_TTL", "10m")?;
        if step_up_ttl.is_zero() || step_up_ttl > Duration::from_secs(86_400) {
            return Err(ConfigError::new(
                "LATCHKEY_STEP_UP_TTL",
                "must be between 1s and 24h",
            ));
        }
        let metrics_refresh = dur("LATCHKEY_METRICS_REFRESH", "15s")?;
        if metrics_refresh.is_zero() {
            return Err(ConfigError::new(
                "LATCHKEY_METRICS_REFRESH",
                "must be at least 1s",
            ));
        }

        let base_path = BasePath::parse(&get("LATCHKEY_BASE_PATH").unwrap_or_default())
            .map_err(|m| ConfigError::new("LATCHKEY_BASE_PATH", m))?;
        let public_url = match get("LATCHKEY_PUBLIC_URL") {
            None => None,
            Some(v) => Some(
                AbsoluteUrl::parse(&v)
                    .filter(|u| u.path_and_query() == "/")
                    .ok_or_else(|| {
                        ConfigError::new(
                            "LATCHKEY_PUBLIC_URL",
                            format!(
                                "{v:?} is not an origin such as https://auth.example.com \
                                 (a path belongs in LATCHKEY_BASE_PATH)"
                            ),
                        )
                    })?,
            ),
        };
        let cookie_domain = get("LATCHKEY_COOKIE_DOMAIN")
            .map(|v| CookieDomain::parse(&v))
            .transpose()
            .map_err(|m| ConfigError::new("LATCHKEY_COOKIE_DOMAIN", m))?;

        Ok(Self {
            bind,
            database_url,
            secret,
            previous_secrets,
            access_ttl,
            session_idle_ttl,
            session_max_ttl,
            clock_leeway,
            refresh_grace,
            refresh_ahead,
            revocation_sync,
            cookie_secure: flag("LATCHKEY_COOKIE_SECURE", true)?,
            registration_open,
            trusted_proxies,
            bcrypt_cost,
            db_pool_size,
            db_timeout,
            metrics,
            metrics_refresh,
            login_throttle: flag("LATCHKEY_LOGIN_THROTTLE", true)?,
            body_timeout,
            base_path,
            public_url,
            cookie_domain,
            adjustments,
            step_up_ttl,
            dbsc: flag("LATCHKEY_DBSC", true)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = cfg(&[]).expect("defaults are valid");
        assert_eq!(c.bind, "127.0.0.1:8080");
        assert_eq!(c.database_url, "sqlite://latchkey.db");
        assert_eq!(c.access_ttl, Duration::from_secs(900));
        assert_eq!(c.session_idle_ttl, Duration::from_secs(7 * 86_400));
        assert_eq!(c.session_max_ttl, Duration::from_secs(30 * 86_400));
        assert_eq!(c.clock_leeway, Duration::from_secs(30));
        assert_eq!(c.refresh_grace, Duration::from_secs(10));
        assert_eq!(c.refresh_ahead, Duration::from_secs(60));
        assert_eq!(c.revocation_sync, Duration::from_secs(2));
        assert!(c.cookie_secure && c.registration_open);
        assert_eq!(c.bcrypt_cost, 12);
        assert_eq!(c.step_up_ttl, Duration::from_secs(600));
        assert!(
            matches!(c.secret, SecretSource::File(ref p) if p.as_os_str() == "latchkey.secret")
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        let cases = [
            ("LATCHKEY_ACCESS_TTL", "soon"),
            ("LATCHKEY_CLOCK_LEEWAY", "5m"),
            ("LATCHKEY_COOKIE_SECURE", "maybe"),
            ("LATCHKEY_REGISTRATION", "invite"),
            ("LATCHKEY_TRUSTED_PROXIES", "10.0.0.0/99"),
            ("LATCHKEY_BCRYPT_COST", "3"),
            ("LATCHKEY_JWT_SECRET", "short"),
            ("LATCHKEY_JWT_SECRET", "changeme-changeme-changeme-changeme"),
            ("LATCHKEY_REFRESH_AHEAD", "15m"),
            ("LATCHKEY_METRICS", "everywhere"),
            ("LATCHKEY_METRICS_REFRESH", "often"),
            ("LATCHKEY_METRICS_REFRESH", "0"),
            ("LATCHKEY_BODY_TIMEOUT", "0"),
            ("LATCHKEY_BODY_TIMEOUT", "1h"),
            ("LATCHKEY_BASE_PATH", "auth"),
            ("LATCHKEY_BASE_PATH", "/a/../b"),
            ("LATCHKEY_PUBLIC_URL", "auth.example.com"),
            ("LATCHKEY_PUBLIC_URL", "https://auth.example.com/login"),
            ("LATCHKEY_COOKIE_DOMAIN", "10.0.0.1"),
            ("LATCHKEY_STEP_UP_TTL", "0"),
            ("LATCHKEY_STEP_UP_TTL", "2d"),
            ("LATCHKEY_STEP_UP_TTL", "soon"),
        ];
        for (var, value) in cases {
            let err = cfg(&[(var, value)]).expect_err(value);
            assert_eq!(err.var, var, "{value}");
        }
    }

    #[test]
    fn a_max_lifetime_below_the_idle_one_takes_the_idle_one_down_with_one_note() {
        let c = cfg(&[("LATCHKEY_SESSION_MAX_TTL", "8h")]).expect("max alone starts");
        assert_eq!(c.session_max_ttl, Duration::from_secs(8 * 3600));
        assert_eq!(c.session_idle_ttl, Duration::from_secs(8 * 3600));
        assert_eq!(c.adjustments.len(), 1, "{:?}", c.adjustments);
        assert!(c.adjustments[0].contains("LATCHKEY_SESSION_IDLE_TTL"));

        let c = cfg(&[("LATCHKEY_SESSION_IDLE_TTL", "40d")]).expect("idle > max starts");
        assert_eq!(c.session_idle_ttl, c.session_max_ttl);
        assert!(cfg(&[]).expect("defaults").adjustments.is_empty());
        let err = cfg(&[("LATCHKEY_SESSION_MAX_TTL", "0")]).expect_err("zero max");
        assert_eq!(err.var, "LATCHKEY_SESSION_MAX_TTL");
    }
}
