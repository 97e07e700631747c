//! Queries on `sessions`: one row per refresh-token family.

use super::schema::sessions as s;
use super::{DbConnection, DbError};
use diesel::prelude::*;

/// A stored session.
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = s)]
pub struct SessionRow {
    /// UUID text.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// Sign-in time.
    pub created_at: i64,
    /// Last refresh (or sign-in): idle expiry counts from here.
    pub last_used_at: i64,
    /// Absolute expiry.
    pub expires_at: i64,
    /// When it was ended, if it was.
    pub revoked_at: Option<i64>,
    /// Why it was ended (see `auth::RevokeReason`).
    pub revoked_reason: Option<String>,
    /// Address at sign-in.
    pub created_ip: String,
    /// User agent at sign-in.
    pub created_user_agent: String,
    /// Address at last refresh.
    pub last_ip: String,
    /// User agent at last refresh.
    pub last_user_agent: String,
    /// When this session last proved its password (sign-in or "confirm it's you").
    pub confirmed_at: Option<i64>,
    /// The device key (a public JWK, as JSON) once a browser bound the session (DBSC).
    pub dbsc_key: Option<String>,
    /// When the key was bound.
    pub dbsc_bound_at: Option<i64>,
}

/// Inserts a new session.
pub fn insert(conn: &mut DbConnection, row: &SessionRow) -> Result<(), DbError> {
    diesel::insert_into(s::table)
        .values((
            s::id.eq(&row.id),
            s::user_id.eq(&row.user_id),
            s::created_at.eq(row.created_at),
            s::last_used_at.eq(row.last_used_at),
            s::expires_at.eq(row.expires_at),
            s::created_ip.eq(&row.created_ip),
            s::created_user_agent.eq(&row.created_user_agent),
            s::last_ip.eq(&row.last_ip),
            s::last_user_agent.eq(&row.last_user_agent),
            s::confirmed_at.eq(row.confirmed_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Records a password confirmation on a live session; returns whether it was live.
pub fn confirm(conn: &mut DbConnection, id: &str, now: i64) -> Result<bool, DbError> {
    let n = diesel::update(s::table.find(id).filter(s::revoked_at.is_null()))
        .set(s::confirmed_at.eq(now))
        .execute(conn)?;
    Ok(n == 1)
}

/// When a session last proved its password (`None` if never, or no such session).
pub fn confirmed_at(conn: &mut DbConnection, id: &str) -> Result<Option<i64>, DbError> {
    Ok(s::table
        .find(id)
        .filter(s::revoked_at.is_null())
        .select(s::confirmed_at)
        .first::<Option<i64>>(conn)
        .optional()?
        .flatten())
}

/// Finds a session by id.
pub fn find(conn: &mut DbConnection, id: &str) -> Result<Option<SessionRow>, DbError> {
    Ok(s::table
        .find(id)
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?)
}

/// Records activity on a refresh.
pub fn touch(
    conn: &mut DbConnection,
    id: &str,
    now: i64,
    ip: &str,
    user_agent: &str,
) -> Result<(), DbError> {
    diesel::update(s::table.find(id))
        .set((
            s::last_used_at.eq(now),
            s::last_ip.eq(ip),
            s::last_user_agent.eq(user_agent),
        ))
        .execute(conn)?;
    Ok(())
}

/// Ends one session if it is still live; returns whether it was.
pub fn revoke(conn: &mut DbConnection, id: &str, reason: &str, now: i64) -> Result<bool, DbError> {
    let n = diesel::update(s::table.find(id).filter(s::revoked_at.is_null()))
        .set((s::revoked_at.eq(now), s::revoked_reason.eq(reason)))
        .execute(conn)?;
    Ok(n == 1)
}

/// Ends every live session of a user, except `keep`; returns the ids ended.
pub fn revoke_all_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    keep: Option<&str>,
    reason: &str,
    now: i64,
) -> Result<Vec<String>, DbError> {
    let keep = keep.unwrap_or("");
    let ids: Vec<String> = s::table
        .filter(
            s::user_id
                .eq(user_id)
                .and(s::revoked_at.is_null())
                .and(s::id.ne(keep)),
        )
        .select(s::id)
        .load(conn)?;
    if !ids.is_empty() {
        diesel::update(s::table.filter(s::id.eq_any(&ids).and(s::revoked_at.is_null())))
            .set((s::revoked_at.eq(now), s::revoked_reason.eq(reason)))
            .execute(conn)?;
    }
    Ok(ids)
}

/// Sessions ended at or after `since`: what the revocation cache syncs.
pub fn revoked_since(conn: &mut DbConnection, since: i64) -> Result<Vec<(String, i64)>, DbError> {
    Ok(s::table
        .filter(s::revoked_at.ge(since))
        .select((s::id, s::revoked_at.assume_not_null()))
        .load(conn)?)
}

/// A user's live sessions (not ended, not idle, not past their absolute lifetime), newest activity first.
pub fn live_for_user(
    conn: &mut DbConnection,
    user_id: &str,
    now: i64,
    idle_secs: i64,
) -> Result<Vec<SessionRow>, DbError> {
    Ok(s::table
        .filter(s::user_id.eq(user_id))
        .filter(s::revoked_at.is_null())
        .filter(s::expires_at.gt(now))
        .filter(s::last_used_at.gt(now - idle_secs))
        .order((s::last_used_at.desc(), s::id.desc()))
        .select(SessionRow::as_select())
        .load(conn)?)
}
