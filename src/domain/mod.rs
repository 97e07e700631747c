//! Typed values parsed at the edge and trusted inside: ids, e-mail addresses, roles, passwords.

mod email;
mod ids;
mod password;
mod web;

pub use email::Email;
pub use ids::{SessionId, UserId};
pub use password::{NewPassword, PasswordError};
pub use web::{
    AbsoluteUrl, Authority, AuthorityRef, BasePath, CookieDomain, Scheme, UrlRef, MAX_URL,
};

use serde::{Deserialize, Serialize};

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// An ordinary account.
    User,
    /// May use the admin pages.
    Admin,
}

impl Role {
    /// The stored and serialised spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }

    /// Parses the stored spelling; anything unknown is the least privileged role.
    pub fn from_db(s: &str) -> Self {
        if s == "admin" {
            Role::Admin
        } else {
            Role::User
        }
    }
}

/// Who is making a request: the client address (after trusted proxies) and its user agent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client address as text.
    pub ip: String,
    /// The `User-Agent` header, truncated.
    pub user_agent: String,
}

impl ClientInfo {
    /// Builds one, bounding the user agent so a huge header cannot bloat the database.
    pub fn new(ip: impl Into<String>, user_agent: &str) -> Self {
        let ua: String = user_agent
            .chars()
            .filter(|c| !c.is_control())
            .take(512)
            .collect();
        Self {
            ip: ip.into(),
            user_agent: ua,
        }
    }
}
