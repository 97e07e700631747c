//! Checking a password under the sign-in throttle: the one path every password check takes,
//! whether it signs someone in or confirms that a signed-in user is who they say.
//!
//! The attempt is reserved before bcrypt runs (see `throttle`), bcrypt waits a bounded time for
//! a turn, and an attempt that never reached bcrypt is forgotten so a busy server does not use
//! up anyone's allowance.

use super::service::{event, SessionUser};
use super::throttle::Attempt;
use super::{AuthError, AuthService};
use crate::db::audit::{self, AuditKind};
use crate::db::{self, login_failures, users};
use crate::domain::ClientInfo;
use crate::telemetry::Metrics;
use serde_json::json;

/// Why a signed-in user typed their password again; named in the audit event of a wrong one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PasswordCheck {
    /// `current_password` on `POST /account/password`.
    ChangePassword,
    /// "Confirm it's you" (`POST /confirm`) before a sensitive action.
    Confirm,
}

impl PasswordCheck {
    /// The spelling stored in the audit event's detail (`during`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ChangePassword => "change_password",
            Self::Confirm => "confirm",
        }
    }
}

impl AuthService {
    /// Verifies the password of a signed-in user under the sign-in throttle, auditing a
    /// failure: for every place that asks a signed-in user for their password again (a
    /// password change, "Confirm it's you"). A wrong password counts towards the same
    /// per-account and per-address limits as a failed sign-in and is recorded as
    /// `login_failed` (detail `reason: wrong_password`, `during: <purpose>`); a right one
    /// clears the account's failures like a sign-in does.
    ///
    /// Errors: `WrongPassword`; `RateLimited` (nothing checked, nothing recorded); `Busy`
    /// (bcrypt had no turn in time; nothing recorded); `SessionRevoked` when the account is gone;
    /// `Database`.
    pub async fn verify_signed_in_password(
        &self,
        user: &SessionUser,
        password: &str,
        client: &ClientInfo,
        purpose: PasswordCheck,
    ) -> Result<(), AuthError> {
        let now = db::now();
        let email = user.email.as_str().to_string();
        let reserved = self.reserve_attempt(&email, client, now).await?;
        let uid = user.user_id.to_string();
        let found = self.db.run(move |c| users::find(c, &uid)).await;
        let row = match found {
            Ok(Some(row)) => row,
            other => {
                self.forget_attempt(reserved).await;
                return Err(match other {
                    Err(e) => e.into(),
                    _ => AuthError::SessionRevoked,
                });
            }
        };
        if self
            .verify_reserved(password, Some(row.password_hash), reserved)
            .await?
        {
            self.db
                .run_write(move |c| login_failures::clear_for_email(c, &email))
                .await?;
            return Ok(());
        }
        let (uid, sid, who) = (
            user.user_id.to_string(),
            user.session_id.to_string(),
            client.clone(),
        );
        self.db
            .run_write(move |c| {
                let mut e = event(
                    AuditKind::LoginFailed,
                    Some(&uid),
                    Some(&sid),
                    Some(&uid),
                    &who,
                );
                e.detail = json!({
                    "email": email,
                    "reason": "wrong_password",
                    "during": purpose.as_str(),
                });
                audit::record(c, &e, now)
            })
            .await?;
        Metrics::inc(&self.metrics.login_failure);
        log::info!("wrong password ({}) from {}", purpose.as_str(), client.ip);
        Err(AuthError::WrongPassword)
    }

    /// Reserves one password check for this account key from this client: `RateLimited` when
    /// a wait applies, else the reserved row (see `throttle`).
    pub(super) async fn reserve_attempt(
        &self,
        email_key: &str,
        client: &ClientInfo,
        now: i64,
    ) -> Result<Option<i64>, AuthError> {
        let throttle = self.throttle;
        let (ek, ip) = (email_key.to_string(), client.ip.clone());
        match self
            .db
            .run_write(move |c| throttle.reserve(c, &ek, &ip, now))
            .await?
        {
            Attempt::Go(row) => Ok(row),
            Attempt::Wait(retry_after) => {
                Metrics::inc(&self.metrics.login_throttled);
                log::warn!("sign-in throttled for {retry_after}s from {}", client.ip);
                Err(AuthError::RateLimited { retry_after })
            }
        }
    }

    /// Forgets a reserved attempt whose password was never checked (best effort: it only
    /// gives the allowance back).
    pub(super) async fn forget_attempt(&self, reserved: Option<i64>) {
        if let Some(id) = reserved {
            if let Err(e) = self
                .db
                .run_write(move |c| login_failures::forget(c, id))
                .await
            {
                log::warn!("an unchecked sign-in attempt stays counted: {e}");
            }
        }
    }

    /// Runs bcrypt for a reserved attempt; when bcrypt has no turn in time the reservation is
    /// forgotten and the answer is `Busy`.
    pub(super) async fn verify_reserved(
        &self,
        password: &str,
        hash: Option<String>,
        reserved: Option<i64>,
    ) -> Result<bool, AuthError> {
        match self.hasher.verify(password, hash).await {
            Ok(ok) => Ok(ok),
            Err(busy) => {
                self.forget_attempt(reserved).await;
                log::warn!("password check refused: every bcrypt worker is busy");
                Err(busy.into())
            }
        }
    }
}
