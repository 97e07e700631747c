//! A signed-in user's own changes (sign out, password) and the CLI's admin creation.

use super::password_check::PasswordCheck;
use super::service::{end_all_sessions, event, EndAll, RevokeReason, SessionUser};
use super::signin::new_user;
use super::{AuthError, AuthService};
use crate::db::audit::{self, AuditKind};
use crate::db::sessions;
use crate::db::users::{self, UserRow};
use crate::db::{self, DbError};
use crate::domain::{ClientInfo, Email, NewPassword, Role, UserId};
use diesel::Connection;
use serde_json::json;

impl AuthService {
    /// Signs out: ends this session server-side.
    pub async fn logout(&self, user: &SessionUser, client: &ClientInfo) -> Result<(), AuthError> {
        let now = db::now();
        let (uid, sid, client) = (
            user.user_id.to_string(),
            user.session_id.to_string(),
            client.clone(),
        );
        let sid2 = sid.clone();
        self.db
            .run_write(move |conn| {
                conn.transaction(|c| {
                    sessions::revoke(c, &sid2, RevokeReason::SignedOut.as_str(), now)?;
                    audit::record(
                        c,
                        &event(
                            AuditKind::Logout,
                            Some(&uid),
                            Some(&sid2),
                            Some(&uid),
                            &client,
                        ),
                        now,
                    )
                })
            })
            .await?;
        self.sessions_ended([sid.as_str()], now);
        log::info!("signed out: session {sid}");
        Ok(())
    }

    /// Changes the password after checking the current one (under the sign-in throttle, see
    /// [`AuthService::verify_signed_in_password`]), and ends every other session.
    pub async fn change_password(
        &self,
        user: &SessionUser,
        current: &str,
        new: String,
        client: &ClientInfo,
    ) -> Result<usize, AuthError> {
        let new = NewPassword::parse(new).map_err(|e| AuthError::Invalid(e.to_string()))?;
        self.verify_signed_in_password(user, current, client, PasswordCheck::ChangePassword)
            .await?;
        let uid = user.user_id.to_string();
        let hash = self.hasher.hash(&new).await?;
        let now = db::now();
        let (sid, client) = (user.session_id.to_string(), client.clone());
        let ended = self
            .db
            .run_write(move |conn| {
                conn.transaction(|c| {
                    users::set_password(c, &uid, &hash, now)?;
                    let what = EndAll {
                        user: &uid,
                        keep: Some(&sid),
                        reason: RevokeReason::PasswordChanged,
                        audit: AuditKind::PasswordChanged,
                        actor: &uid,
                        detail: json!({}),
                    };
                    end_all_sessions(c, what, &client, now)
                })
            })
            .await?;
        self.sessions_ended(ended.iter().map(String::as_str), now);
        log::info!("password changed; {} other session(s) ended", ended.len());
        Ok(ended.len())
    }

    /// Creates or promotes an admin (CLI; runs on the calling thread).
    pub fn create_admin_blocking(
        &self,
        email: &Email,
        password: &NewPassword,
    ) -> Result<bool, AuthError> {
        let hash = self
            .hasher
            .hash_blocking(password)
            .map_err(AuthError::Invalid)?;
        let now = db::now();
        let mut conn = self.db.get()?;
        let created = conn.transaction(|c| {
            if let Some(u) = users::find_by_email(c, email.as_str())? {
                users::set_role(c, &u.id, Role::Admin.as_str(), now)?;
                users::set_password(c, &u.id, &hash, now)?;
                return Ok::<_, DbError>(false);
            }
            let row = UserRow {
                id: UserId::generate().to_string(),
                email: email.as_str().into(),
                password_hash: hash,
                role: Role::Admin.as_str().into(),
                disabled: false,
                created_at: now,
                updated_at: now,
            };
            users::insert(c, &new_user(&row))?;
            let cli = ClientInfo::new("cli", "latchkey create-admin");
            let mut e = event(AuditKind::UserRegistered, Some(&row.id), None, None, &cli);
            e.detail = json!({ "role": "admin", "via": "create-admin" });
            audit::record(c, &e, now)?;
            Ok(true)
        })?;
        Ok(created)
    }
}
