//! "Confirm it's you": a password confirmation per session, recorded on the session row, that
//! lets the session take sensitive actions (ending other sessions, admin actions) for
//! `LATCHKEY_STEP_UP_TTL`. Signing in with the password counts as one; a refresh does not. The
//! row outlives every access-token rotation, and every instance reads the same one.

use super::service::event;
use super::{AuthError, AuthService, SessionUser};
use crate::db::audit::{self, AuditKind};
use crate::db::{self, login_failures, sessions, users};
use crate::domain::ClientInfo;
use crate::telemetry::Metrics;
use diesel::Connection;
use serde_json::json;

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

    /// Checks the signed-in user's password under the sign-in throttle and, if it is right,
    /// records the confirmation on this session (`step_up_confirmed`). A wrong one counts as a
    /// failed sign-in of the account from this address and is audited.
    pub async fn confirm_password(
        &self,
        user: &SessionUser,
        password: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let now = db::now();
        let throttle = self.throttle;
        let (uid, email, ip) = (
            user.user_id.to_string(),
            user.email.as_str().to_string(),
            client.ip.clone(),
        );
        let (u2, e2) = (uid.clone(), email.clone());
        let (retry, row) = self
            .db
            .run(move |c| {
                Ok((
                    throttle.retry_after(c, &e2, &ip, now)?,
                    users::find(c, &u2)?,
                ))
            })
            .await?;
        if retry > 0 {
            Metrics::inc(&self.metrics.login_throttled);
            return Err(AuthError::RateLimited { retry_after: retry });
        }
        let Some(row) = row.filter(|r| !r.disabled) else {
            return Err(AuthError::SessionRevoked);
        };
        let ok = self.hasher.verify(password, Some(row.password_hash)).await;
        let (sid, who) = (user.session_id.to_string(), client.clone());
        let live = self
            .db
            .run_write(move |conn| {
                conn.transaction(|c| {
                    if !ok {
                        throttle.record_failure(c, &email, &who.ip, now)?;
                        let mut e = event(
                            AuditKind::LoginFailed,
                            Some(&uid),
                            Some(&sid),
                            Some(&uid),
                            &who,
                        );
                        e.detail =
                            json!({ "email": email, "reason": "wrong_password", "step_up": true });
                        audit::record(c, &e, now)?;
                        return Ok::<_, db::DbError>(true);
                    }
                    if !sessions::confirm(c, &sid, now)? {
                        return Ok(false);
                    }
                    login_failures::clear_for_email(c, &email)?;
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
        if !ok {
            Metrics::inc(&self.metrics.login_failure);
            log::info!("password confirmation failed from {}", client.ip);
            return Err(AuthError::WrongPassword);
        }
        if !live {
            return Err(AuthError::SessionRevoked);
        }
        log::info!("password confirmed on session {}", user.session_id);
        Ok(())
    }
}
