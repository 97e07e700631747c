//! Signing in and signing up: throttling, constant-time-ish credential checks, and a new
//! refresh family per sign-in.

use super::service::{event, transaction, Issued, RevokeReason, TxError};
use super::throttle::Attempt;
use super::RefreshToken;
use super::{AuthError, AuthService};
use crate::db::activity::ActivityKind;
use crate::db::audit::{self, AuditKind};
use crate::db::sessions::{self, SessionRow};
use crate::db::users::{self, UserRow};
use crate::db::{self, tokens, DbError};
use crate::domain::{ClientInfo, Email, NewPassword, Role, SessionId, UserId};
use crate::telemetry::Metrics;
use diesel::Connection;
use serde_json::json;

impl AuthService {
    /// Signs in: throttle, verify (a dummy hash for unknown e-mails), then start a new family
    /// and end any family the request presented (no fixation).
    pub async fn login(
        &self,
        email_raw: &str,
        password: &str,
        client: &ClientInfo,
        presented: Option<RefreshToken>,
    ) -> Result<Issued, AuthError> {
        let now = db::now();
        // Not an address we could hold: still throttled and answered like any miss, under a key
        // without control characters (PostgreSQL refuses NUL in text; that must not be a 503).
        let email_key = Email::parse(email_raw)
            .map(|e| e.as_str().to_string())
            .unwrap_or_else(|_| {
                let lower = email_raw.trim().to_lowercase();
                let printable = lower
                    .chars()
                    .map(|c| if c.is_control() { '\u{fffd}' } else { c });
                printable.take(254).collect()
            });
        let reserved = self.reserve_attempt(&email_key, client, now).await?;
        let ek = email_key.clone();
        let user = self.db.run(move |c| users::find_by_email(c, &ek)).await;
        let user = match user {
            Ok(u) => u,
            Err(e) => {
                self.forget_attempt(reserved).await;
                return Err(e.into());
            }
        };
        let ok = self
            .verify_reserved(password, user.as_ref().map(|u| u.password_hash.clone()))
            .await?;
        let user = match user {
            Some(u) if ok && !u.disabled => u,
            other => {
                let reason = match &other {
                    None => "unknown_email",
                    Some(u) if u.disabled && ok => "disabled",
                    Some(_) => "wrong_password",
                };
                let uid = other.map(|u| u.id);
                let who = client.clone();
                // The attempt was recorded as a failure before bcrypt ran; only the audit is left.
                self.db
                    .run_write(move |c| {
                        let mut e = event(
                            AuditKind::LoginFailed,
                            uid.as_deref(),
                            None,
                            uid.as_deref(),
                            &who,
                        );
                        e.detail = json!({ "email": email_key, "reason": reason });
                        audit::record(c, &e, now)
                    })
                    .await?;
                Metrics::inc(&self.metrics.login_failure);
                log::info!("sign-in failed from {}", client.ip);
                return Err(AuthError::InvalidCredentials);
            }
        };
        let issued = self
            .start_session(user, client, presented, AuditKind::LoginSucceeded, now)
            .await?;
        Metrics::inc(&self.metrics.login_success);
        log::info!(
            "signed in: session {} from {}",
            issued.user.session_id,
            client.ip
        );
        Ok(issued)
    }

    async fn start_session(
        &self,
        user: UserRow,
        client: &ClientInfo,
        presented: Option<RefreshToken>,
        kind: AuditKind,
        now: i64,
    ) -> Result<Issued, AuthError> {
        let refresh = RefreshToken::generate();
        let hash = refresh.hash();
        let presented_hash = presented.map(|p| p.hash());
        let s = self.settings;
        let session = SessionRow {
            id: SessionId::generate().to_string(),
            user_id: user.id.clone(),
            created_at: now,
            last_used_at: now,
            expires_at: now + s.max_ttl,
            revoked_at: None,
            revoked_reason: None,
            created_ip: client.ip.clone(),
            created_user_agent: client.user_agent.clone(),
            last_ip: client.ip.clone(),
            last_user_agent: client.user_agent.clone(),
            // Signing in with the password is a confirmation ("confirm it's you").
            confirmed_at: Some(now),
            dbsc_key: None,
            dbsc_bound_at: None,
        };
        let (row, client2) = (session.clone(), client.clone());
        let email = user.email.clone();
        let (ended, reuse) = self
            .db
            .run_write(move |conn| {
                conn.transaction(|c| {
                    // A write first: on SQLite a transaction that reads first cannot take the
                    // write lock once another writer has committed meanwhile (it fails at
                    // once, not after the busy timeout), which a concurrent refresh made a 503.
                    sessions::insert(c, &row)?;
                    let mut ended = None;
                    if let Some(old) =
                        presented_hash.and_then(|h| tokens::find(c, &h).ok().flatten())
                    {
                        if sessions::revoke(
                            c,
                            &old.session_id,
                            RevokeReason::SignedOut.as_str(),
                            now,
                        )? {
                            ended = Some(old.session_id);
                        }
                    }
                    tokens::insert(c, &hash, &row.id, now)?;
                    let mut e = event(
                        kind,
                        Some(&row.user_id),
                        Some(&row.id),
                        Some(&row.user_id),
                        &client2,
                    );
                    if kind == AuditKind::LoginSucceeded {
                        crate::db::login_failures::clear_for_email(c, &email)?;
                    }
                    let reuse = super::security::reuse_to_explain(c, &row.user_id)?;
                    e.detail = json!({ "replaced_session": ended });
                    audit::record(c, &e, now)?;
                    Ok::<_, DbError>((ended, reuse))
                })
            })
            .await?;
        if let Some(old) = ended {
            self.sessions_ended([old.as_str()], now);
        }
        self.activity.record(ActivityKind::SignIn, now);
        let mut issued = self.issue(&user, &session, refresh, now);
        issued.reuse_to_explain = reuse;
        Ok(issued)
    }

    /// Creates an account and signs it in; the first account becomes admin while none exists.
    /// Returns the session and whether the account is the admin.
    pub async fn register(
        &self,
        email_raw: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<(Issued, bool), AuthError> {
        if !self.settings.registration_open {
            return Err(AuthError::RegistrationClosed);
        }
        let email = Email::parse(email_raw).map_err(|m| AuthError::Invalid(m.into()))?;
        let password =
            NewPassword::parse(password).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let now = db::now();
        let throttle = self.throttle;
        let ip = client.ip.clone();
        if let Attempt::Wait(retry_after) = self
            .db
            .run_write(move |c| throttle.reserve_sign_up(c, &ip, now))
            .await?
        {
            Metrics::inc(&self.metrics.login_throttled);
            log::warn!("sign-ups throttled for {retry_after}s from {}", client.ip);
            return Err(AuthError::TooManySignUps { retry_after });
        }
        // A sign-up turned away by a full bcrypt queue still counts (see `verify_reserved`).
        let hash = self.hasher.hash(&password).await?;
        let id = UserId::generate();
        let client2 = client.clone();
        let user = self
            .db
            .run_write(move |conn| {
                transaction(conn, |c| {
                    // Inserted as a user first (a write, for the same reason as in
                    // `start_session`), then promoted when no admin exists yet.
                    let mut row = UserRow {
                        id: id.to_string(),
                        email: email.as_str().into(),
                        password_hash: hash,
                        role: Role::User.as_str().into(),
                        disabled: false,
                        created_at: now,
                        updated_at: now,
                    };
                    match users::insert(c, &new_user(&row)) {
                        Err(DbError::Conflict(_)) => {
                            return Err(TxError::Abort(AuthError::EmailTaken))
                        }
                        other => other?,
                    }
                    if users::promote_if_no_admin(c, &row.id, now)? {
                        row.role = Role::Admin.as_str().into();
                    }
                    let mut e = event(
                        AuditKind::UserRegistered,
                        Some(&row.id),
                        None,
                        Some(&row.id),
                        &client2,
                    );
                    e.detail = json!({ "role": row.role });
                    audit::record(c, &e, now)?;
                    Ok(row)
                })
            })
            .await??;
        Metrics::inc(&self.metrics.registrations);
        let admin = user.role == "admin";
        log::info!(
            "account registered{}",
            if admin { " (first account: admin)" } else { "" }
        );
        let issued = self
            .start_session(user, client, None, AuditKind::LoginSucceeded, now)
            .await?;
        Ok((issued, admin))
    }
}

pub(super) fn new_user(row: &UserRow) -> users::NewUser<'_> {
    users::NewUser {
        id: &row.id,
        email: &row.email,
        password_hash: &row.password_hash,
        role: &row.role,
        disabled: row.disabled,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}
