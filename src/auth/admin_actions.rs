//! Admin actions: end one session, end all of a user's sessions, disable (ending them too) and
//! enable an account. Each is one transaction, audited with the acting admin, and every ended
//! session goes into this instance's revocation cache at once (others pick it up on sync).

use super::service::{end_all_sessions, event, EndAll};
use super::{AuthError, AuthService, RevokeReason, SessionUser};
use crate::db::audit::{self, AuditKind};
use crate::db::{self, sessions, users, DbError};
use crate::domain::{ClientInfo, SessionId, UserId};
use diesel::Connection;
use serde_json::json;

impl AuthService {
    /// Ends one session. Returns its owner and whether it was still live (an already ended
    /// session is left as it was and not audited again); an unknown id is `NotFound`.
    pub async fn admin_revoke_session(
        &self,
        admin: &SessionUser,
        id: &SessionId,
        client: &ClientInfo,
    ) -> Result<(UserId, bool), AuthError> {
        let now = db::now();
        let (actor, sid, client) = (admin.user_id.to_string(), id.to_string(), client.clone());
        let outcome = self
            .db
            .run_write(move |conn| {
                conn.transaction(|c| {
                    let Some(s) = sessions::find(c, &sid)? else {
                        return Ok::<_, DbError>(None);
                    };
                    let ended = sessions::revoke(c, &sid, RevokeReason::Revoked.as_str(), now)?;
                    if ended {
                        let mut e = event(
                            AuditKind::SessionRevoked,
                            Some(&s.user_id),
                            Some(&sid),
                            Some(&actor),
                            &client,
                        );
                        e.detail = json!({ "by": "admin" });
                        audit::record(c, &e, now)?;
                    }
                    Ok(Some((s.user_id, ended)))
                })
            })
            .await?;
        let (owner, ended) = outcome.ok_or(AuthError::NotFound)?;
        if ended {
            self.sessions_ended([id.as_str()], now);
            log::info!("session {id} ended by an admin");
        }
        Ok((UserId::from_db(owner), ended))
    }

    /// Ends every live session of a user; returns how many.
    pub async fn admin_revoke_all(
        &self,
        admin: &SessionUser,
        user: &UserId,
        client: &ClientInfo,
    ) -> Result<usize, AuthError> {
        let now = db::now();
        let (actor, uid, client) = (admin.user_id.to_string(), user.to_string(), client.clone());
        let ended = self
            .db
            .run_write(move |conn| {
                conn.transaction(|c| {
                    if users::find(c, &uid)?.is_none() {
                        return Ok::<_, DbError>(None);
                    }
                    let what = EndAll {
                        user: &uid,
                        keep: None,
                        reason: RevokeReason::Revoked,
                        audit: AuditKind::SessionsRevokedAll,
                        actor: &actor,
                        detail: json!({ "by": "admin" }),
                    };
                    end_all_sessions(c, what, &client, now).map(Some)
                })
            })
            .await?
            .ok_or(AuthError::NotFound)?;
        self.sessions_ended(ended.iter().map(String::as_str), now);
        log::info!("an admin ended {} session(s) of user {user}", ended.len());
        Ok(ended.len())
    }

    /// Disables (ending every session) or enables an account; returns how many sessions were
    /// ended. An admin cannot disable their own account (nobody could undo it from the pages).
    pub async fn admin_set_disabled(
        &self,
        admin: &SessionUser,
        user: &UserId,
        disabled: bool,
        client: &ClientInfo,
    ) -> Result<usize, AuthError> {
        if disabled && *user == admin.user_id {
            return Err(AuthError::Invalid(
                "You cannot disable your own account.".into(),
            ));
        }
        let now = db::now();
        let (actor, uid, client) = (admin.user_id.to_string(), user.to_string(), client.clone());
        let ended = self
            .db
            .run_write(move |conn| {
                conn.transaction(|c| {
                    if users::find(c, &uid)?.is_none() {
                        return Ok::<_, DbError>(None);
                    }
                    let changed = users::set_disabled(c, &uid, disabled, now)?;
                    // Ending sessions again is harmless, so a repeated disable still sweeps; it
                    // is audited only when it changed something (so not via `end_all_sessions`).
                    let ended = if disabled {
                        sessions::revoke_all_for_user(
                            c,
                            &uid,
                            None,
                            RevokeReason::Disabled.as_str(),
                            now,
                        )?
                    } else {
                        Vec::new()
                    };
                    if changed || !ended.is_empty() {
                        let kind = if disabled {
                            AuditKind::UserDisabled
                        } else {
                            AuditKind::UserEnabled
                        };
                        let mut e = event(kind, Some(&uid), None, Some(&actor), &client);
                        e.detail = json!({ "by": "admin", "sessions_ended": ended.len() });
                        audit::record(c, &e, now)?;
                    }
                    Ok(Some(ended))
                })
            })
            .await?
            .ok_or(AuthError::NotFound)?;
        self.sessions_ended(ended.iter().map(String::as_str), now);
        log::info!(
            "an admin {} user {user}; {} session(s) ended",
            if disabled { "disabled" } else { "enabled" },
            ended.len()
        );
        Ok(ended.len())
    }
}
