//! "Confirm it's you": a password confirmation per session, recorded on the session row, that
//! lets the session take sensitive actions (ending other sessions, admin actions) for
//! `LATCHKEY_STEP_UP_TTL`. Signing in with the password counts as one; a refresh does not. The
//! row outlives every access-token rotation, and every instance reads the same one.

use super::password_check::PasswordCheck;
use super::service::event;
use super::{AuthError, AuthService, SessionUser};
use crate::db::audit::{self, AuditKind};
use crate::db::{self, sessions};
use crate::domain::ClientInfo;
use diesel::Connection;

impl AuthService {
    /// Whether this session confirmed its password within the step-up lifetime.
    pub async fn is_confirmed(&self, user: &SessionUser) -> Result<bool, AuthError> {
        let (sid, now, ttl) = (
            user.session_id.to_string(),
            db::now(),
            self.settings.step_up_ttl,
        );
        let at = self
            .db
            .run(move |c| sessions::confirmed_at(c, &sid))
            .await?;
        Ok(at.is_some_and(|at| at <= now && now - at < ttl))
    }

    /// [`AuthError::StepUpRequired`] unless this session confirmed its password recently.
    pub async fn require_step_up(&self, user: &SessionUser) -> Result<(), AuthError> {
        if self.is_confirmed(user).await? {
            Ok(())
        } else {
            Err(AuthError::StepUpRequired)
        }
    }

    /// Checks the signed-in user's password under the sign-in throttle (the one path every
    /// signed-in password check takes, [`AuthService::verify_signed_in_password`]: a wrong one
    /// counts as a failed sign-in of the account from this address and is audited) and, if it
    /// is right, records the confirmation on this session (`step_up_confirmed`).
    pub async fn confirm_password(
        &self,
        user: &SessionUser,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        self.verify_signed_in_password(user, password, client, PasswordCheck::Confirm)
            .await?;
        let now = db::now();
        let (uid, sid, who) = (
            user.user_id.to_string(),
            user.session_id.to_string(),
            client.clone(),
        );
        let live = self
            .db
            .run_write(move |conn| {
                conn.transaction(|c| {
                    if !sessions::confirm(c, &sid, now)? {
                        return Ok::<_, db::DbError>(false);
                    }
                    let e = event(
                        AuditKind::StepUpConfirmed,
                        Some(&uid),
                        Some(&sid),
                        Some(&uid),
                        &who,
                    );
                    audit::record(c, &e, now)?;
                    Ok(true)
                })
            })
            .await?;
        if !live {
            return Err(AuthError::SessionRevoked);
        }
        log::info!("password confirmed on session {}", user.session_id);
        Ok(())
    }
}
