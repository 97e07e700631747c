//! The domain core: access tokens, refresh-token families, passwords, CSRF and revocation.
//! Nothing here knows about actix; the HTTP layer calls [`AuthService`] and maps [`AuthError`].

mod account;
mod activity;
mod admin;
mod admin_actions;
mod csrf;
mod dashboard;
pub mod dbsc;
mod devices;
mod error;
pub mod forward;
mod live_count;
mod password_check;
mod passwords;
mod redirect;
mod refresh;
mod revocation;
mod rotation;
mod security;
mod service;
mod signin;
mod step_up;
pub(crate) mod thread_memo;
mod throttle;
mod tokens;
mod verified;
mod words;

pub use activity::ActivityBuffer;
pub use admin::{
    AdminSession, AuditEntry, AuditFilter, Page, SessionFilter, UserDetail, UserSummary,
};
pub use csrf::{CsrfKey, SessionCsrf};
pub use dashboard::{ActivityChart, ActivityPoint, Dashboard};
pub use devices::{describe_device, DeviceSession, RevokedOwn};
pub use error::AuthError;
pub use live_count::{Counted, LiveCount};
pub use password_check::PasswordCheck;
pub use passwords::{Busy, HashError, PasswordHasher, QUEUE_WAIT};
pub use redirect::{allowed_next, is_local_path, RedirectRules};
pub use refresh::RefreshToken;
pub use revocation::RevocationCache;
pub use security::{HistoryEntry, HISTORY_DAYS, HISTORY_PAGE};
pub use service::{AuthService, Issued, RevokeReason, SessionUser, Settings};
pub use throttle::{Attempt, Throttle};
pub use tokens::{AccessClaims, AccessError, TokenKeys};
pub use words::{describe, lifetime, title, Audience, EventFacts, EventWords};

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Derives a purpose-specific key from the signing secret, so one secret never serves two
/// kinds of token (RFC 8725 §3.11).
pub(crate) fn derive_key(secret: &[u8], label: &str) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(b"latchkey key derivation\0");
    mac.update(label.as_bytes());
    mac.finalize().into_bytes().into()
}
