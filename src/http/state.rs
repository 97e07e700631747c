//! What every handler can reach: the auth service and the HTTP-facing settings.

use crate::auth::AuthService;
use crate::config::Config;
use ipnet::IpNet;
use std::sync::Arc;

/// Shared application state (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    /// The domain service.
    pub auth: Arc<AuthService>,
    /// Cookie names and flags.
    pub cookies: super::cookies::CookieNames,
    /// Latchkey's own addresses (base path, public origin).
    pub urls: super::urls::Urls,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<Vec<IpNet>>,
    /// Whether `/metrics` is served on the main listener.
    pub metrics_inline: bool,
    /// How long a request body may take to arrive in full.
    pub body_timeout: std::time::Duration,
    /// Whether device-bound sessions (DBSC) are on.
    pub dbsc: bool,
}

impl AppState {
    /// Builds the state from configuration and a wired service.
    pub fn new(config: &Config, auth: Arc<AuthService>) -> Self {
        Self {
            auth,
            cookies: super::cookies::CookieNames::new(
                config.cookie_secure,
                config.cookie_domain.clone(),
            ),
            urls: super::urls::Urls::new(config),
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            metrics_inline: config.metrics == crate::config::MetricsMode::Inline,
            body_timeout: config.body_timeout,
            dbsc: config.dbsc,
        }
    }
}
