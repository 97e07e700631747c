//! The audit log: security events with time, user, session, actor and client address.

use super::schema::audit_events as ae;
use super::{DbConnection, DbError};
use diesel::prelude::*;

/// The kinds of audit event (CONTRACT §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuditKind {
    /// A sign-in succeeded.
    LoginSucceeded,
    /// A sign-in failed (wrong password, unknown e-mail, disabled account).
    LoginFailed,
    /// A user signed out.
    Logout,
    /// A rotated refresh token came back after the grace window.
    RefreshReuseDetected,
    /// One session was ended.
    SessionRevoked,
    /// All (or all other) sessions of a user were ended.
    SessionsRevokedAll,
    /// A password was changed.
    PasswordChanged,
    /// An account was disabled.
    UserDisabled,
    /// An account was enabled.
    UserEnabled,
    /// An account was created.
    UserRegistered,
    /// A signed-in user confirmed their password for a sensitive action ("confirm it's you").
    StepUpConfirmed,
    /// A browser bound a session to its device key (DBSC).
    SessionBound,
    /// A bound session was refreshed without a valid proof from its key.
    DbscProofFailed,
}

impl AuditKind {
    /// Every kind, for filters.
    pub const ALL: [AuditKind; 13] = [
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::Logout,
        Self::RefreshReuseDetected,
        Self::SessionRevoked,
        Self::SessionsRevokedAll,
        Self::PasswordChanged,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::UserRegistered,
        Self::StepUpConfirmed,
        Self::SessionBound,
        Self::DbscProofFailed,
    ];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LoginSucceeded => "login_succeeded",
            Self::LoginFailed => "login_failed",
            Self::Logout => "logout",
            Self::RefreshReuseDetected => "refresh_reuse_detected",
            Self::SessionRevoked => "session_revoked",
            Self::SessionsRevokedAll => "sessions_revoked_all",
            Self::PasswordChanged => "password_changed",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::UserRegistered => "user_registered",
            Self::StepUpConfirmed => "step_up_confirmed",
            Self::SessionBound => "session_bound",
            Self::DbscProofFailed => "dbsc_proof_failed",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One event to record.
#[derive(Clone, Debug)]
pub struct NewEvent<'a> {
    /// What happened.
    pub kind: AuditKind,
    /// Whose account it concerns.
    pub user_id: Option<&'a str>,
    /// Which session it concerns.
    pub session_id: Option<&'a str>,
    /// Who did it (the user, an admin, or none for the system).
    pub actor_id: Option<&'a str>,
    /// Client address.
    pub ip: &'a str,
    /// Client user agent.
    pub user_agent: &'a str,
    /// JSON details (never a secret).
    pub detail: serde_json::Value,
}

/// A stored event.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = ae)]
pub struct EventRow {
    /// Increasing id (keyset pagination).
    pub id: i64,
    /// Epoch seconds.
    pub at: i64,
    /// [`AuditKind`] spelling.
    pub kind: String,
    /// Concerned user.
    pub user_id: Option<String>,
    /// Concerned session.
    pub session_id: Option<String>,
    /// Acting user.
    pub actor_id: Option<String>,
    /// Client address.
    pub ip: String,
    /// Client user agent.
    pub user_agent: String,
    /// JSON details.
    pub detail: String,
}

/// Records an event at `now`.
pub fn record(conn: &mut DbConnection, e: &NewEvent<'_>, now: i64) -> Result<(), DbError> {
    diesel::insert_into(ae::table)
        .values((
            ae::at.eq(now),
            ae::kind.eq(e.kind.as_str()),
            ae::user_id.eq(e.user_id),
            ae::session_id.eq(e.session_id),
            ae::actor_id.eq(e.actor_id),
            ae::ip.eq(e.ip),
            ae::user_agent.eq(e.user_agent),
            ae::detail.eq(e.detail.to_string()),
        ))
        .execute(conn)?;
    Ok(())
}

/// One user's events since `since`, newest first, strictly before the `(at, id)` cursor:
/// walks `audit_user_at` in order and stops at `limit`, whatever the size of the log.
pub fn history_page(
    conn: &mut DbConnection,
    user_id: &str,
    since: i64,
    before: Option<(i64, i64)>,
    limit: i64,
) -> Result<Vec<EventRow>, DbError> {
    let mut q = ae::table
        .select(EventRow::as_select())
        .filter(ae::user_id.eq(user_id))
        .filter(ae::at.ge(since))
        .order((ae::at.desc(), ae::id.desc()))
        .limit(limit)
        .into_boxed();
    if let Some((at, id)) = before {
        // The first term bounds the index range; the second only sorts out ties on `at`.
        q = q
            .filter(ae::at.le(at))
            .filter(ae::at.lt(at).or(ae::id.lt(id)));
    }
    Ok(q.load(conn)?)
}

/// The newest event of `kind` about a user (its id), if any.
pub fn latest_id(
    conn: &mut DbConnection,
    user_id: &str,
    kind: AuditKind,
) -> Result<Option<i64>, DbError> {
    Ok(ae::table
        .filter(ae::user_id.eq(user_id))
        .filter(ae::kind.eq(kind.as_str()))
        .select(ae::id)
        .order(ae::id.desc())
        .first(conn)
        .optional()?)
}

/// One event by id, if it concerns `user_id`.
pub fn find_for_user(
    conn: &mut DbConnection,
    id: i64,
    user_id: &str,
) -> Result<Option<EventRow>, DbError> {
    Ok(ae::table
        .find(id)
        .filter(ae::user_id.eq(user_id))
        .select(EventRow::as_select())
        .first(conn)
        .optional()?)
}
