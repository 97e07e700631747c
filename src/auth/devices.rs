//! The user's own sessions ("devices"): list them, end one, or end every other one. Every end
//! is audited and reaches live access tokens through the revocation cache at once.

use super::service::{end_all_sessions, event, EndAll};
use super::{AuthError, AuthService, RevokeReason, SessionUser};
use crate::db::audit::{self, AuditKind};
use crate::db::{self, sessions, DbError};
use crate::domain::{ClientInfo, SessionId};
use diesel::Connection;
use serde_json::json;

/// One live session of the signed-in user.
#[derive(Clone, Debug)]
pub struct DeviceSession {
    /// The session.
    pub id: SessionId,
    /// Browser and system, e.g. "Firefox on Linux".
    pub device: String,
    /// Client address at the last refresh (or sign-in).
    pub ip: String,
    /// Sign-in time, epoch seconds.
    pub started_at: i64,
    /// Last refresh (or sign-in), epoch seconds.
    pub last_active_at: i64,
    /// Whether this is the session making the request.
    pub current: bool,
    /// Whether a browser bound it to its device key (DBSC).
    pub bound: bool,
}

/// Which session a user ended from the list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokedOwn {
    /// The one making the request: the user is now signed out here.
    Current,
    /// Another one.
    Other,
}

/// Browser and system from a user agent, in words ("Firefox on Linux").
pub fn describe_device(user_agent: &str) -> String {
    use woothee::woothee::VALUE_UNKNOWN;
    let parsed = woothee::parser::Parser::new().parse(user_agent);
    let (name, os) = match &parsed {
        Some(r) => (
            (r.name != VALUE_UNKNOWN).then_some(r.name),
            (r.os != VALUE_UNKNOWN).then_some(r.os),
        ),
        None => (None, None),
    };
    match (name, os) {
        (Some(n), Some(o)) => format!("{n} on {o}"),
        (Some(n), None) => n.to_string(),
        (None, Some(o)) => format!("Unknown browser on {o}"),
        (None, None) if user_agent.trim().is_empty() => "Unknown device".into(),
        (None, None) => "Unknown browser".into(),
    }
}

impl AuthService {
    /// The user's live sessions, this one first, then by last activity.
    pub async fn my_sessions(&self, user: &SessionUser) -> Result<Vec<DeviceSession>, AuthError> {
        let (uid, idle, now) = (user.user_id.to_string(), self.settings.idle_ttl, db::now());
        let rows = self
            .db
            .run(move |c| sessions::live_for_user(c, &uid, now, idle))
            .await?;
        let mut list: Vec<DeviceSession> = rows
            .into_iter()
            .map(|r| DeviceSession {
                current: r.id == user.session_id.as_str(),
                bound: r.dbsc_key.is_some(),
                device: describe_device(&r.last_user_agent),
                id: SessionId::from_db(r.id),
                ip: r.last_ip,
                started_at: r.created_at,
                last_active_at: r.last_used_at,
            })
            .collect();
        list.sort_by_key(|d| !d.current);
        Ok(list)
    }

    /// Ends one of the user's own sessions. Another user's session, or one already ended, is
    /// [`AuthError::NotFound`] and is left alone.
    pub async fn revoke_my_session(
        &self,
        user: &SessionUser,
        id: &SessionId,
        client: &ClientInfo,
    ) -> Result<RevokedOwn, AuthError> {
        let now = db::now();
        let current = *id == user.session_id;
        let reason = if current {
            RevokeReason::SignedOut
        } else {
            RevokeReason::Revoked
        };
        let (uid, sid, client) = (user.user_id.to_string(), id.to_string(), client.clone());
        let sid2 = sid.clone();
        let ended = self
            .db
            .run_write(move |conn| {
                conn.transaction(|c| {
                    let owned = sessions::find(c, &sid2)?.is_some_and(|s| s.user_id == uid);
                    if !owned || !sessions::revoke(c, &sid2, reason.as_str(), now)? {
                        return Ok::<_, DbError>(false);
                    }
                    let mut e = event(
                        AuditKind::SessionRevoked,
                        Some(&uid),
                        Some(&sid2),
                        Some(&uid),
                        &client,
                    );
                    e.detail = json!({ "by": "user", "current": current });
                    audit::record(c, &e, now)?;
                    Ok(true)
                })
            })
            .await?;
        if !ended {
            return Err(AuthError::NotFound);
        }
        self.sessions_ended([sid.as_str()], now);
        log::info!("session {sid} ended by its user");
        Ok(if current {
            RevokedOwn::Current
        } else {
            RevokedOwn::Other
        })
    }

    /// Ends every session of the user except this one; returns how many were ended.
    pub async fn revoke_my_other_sessions(
        &self,
        user: &SessionUser,
        client: &ClientInfo,
    ) -> Result<usize, AuthError> {
        let now = db::now();
        let (uid, sid, client) = (
            user.user_id.to_string(),
            user.session_id.to_string(),
            client.clone(),
        );
        let ended = self
            .db
            .run_write(move |conn| {
                conn.transaction(|c| {
                    let what = EndAll {
                        user: &uid,
                        keep: Some(&sid),
                        reason: RevokeReason::Revoked,
                        audit: AuditKind::SessionsRevokedAll,
                        actor: &uid,
                        detail: json!({ "by": "user", "kept_current": true }),
                    };
                    end_all_sessions(c, what, &client, now)
                })
            })
            .await?;
        self.sessions_ended(ended.iter().map(String::as_str), now);
        log::info!("user ended {} other session(s)", ended.len());
        Ok(ended.len())
    }
}

#[cfg(test)]
mod tests {
    use super::describe_device;

    #[test]
    fn user_agents_read_as_browser_on_system() {
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(describe_device(firefox), "Firefox on Linux");
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
        assert!(describe_device(chrome).starts_with("Chrome on Windows"));
        assert_eq!(describe_device(""), "Unknown device");
        assert_eq!(describe_device("\u{1}zzz"), "Unknown browser");
    }
}
