//! Queries on `refresh_tokens`: every token ever issued, by SHA-256 only.

use super::schema::refresh_tokens as rt;
use super::schema::{sessions, users};
use super::sessions::SessionRow;
use super::users::UserRow;
use super::{DbConnection, DbError};
use diesel::prelude::*;

/// A stored refresh token (its hash; the token itself is never stored).
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = rt)]
pub struct TokenRow {
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// The family.
    pub session_id: String,
    /// Epoch seconds.
    pub created_at: i64,
    /// When it was rotated; `None` while it is the family's live token.
    pub used_at: Option<i64>,
    /// Hash of the token that replaced it.
    pub successor_hash: Option<String>,
    /// Client address of the rotation (kept for reuse reports).
    pub used_ip: Option<String>,
    /// User agent of the rotation.
    pub used_user_agent: Option<String>,
}

/// Stores a new live token for a family.
pub fn insert(
    conn: &mut DbConnection,
    hash: &str,
    session_id: &str,
    now: i64,
) -> Result<(), DbError> {
    diesel::insert_into(rt::table)
        .values((
            rt::token_hash.eq(hash),
            rt::session_id.eq(session_id),
            rt::created_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Marks a token used, only if it still is unused: the atomic heart of rotation.
/// Returns whether this caller won (exactly one concurrent caller can).
pub fn mark_used(
    conn: &mut DbConnection,
    hash: &str,
    successor: &str,
    now: i64,
    ip: &str,
    user_agent: &str,
) -> Result<bool, DbError> {
    let n = diesel::update(rt::table.find(hash).filter(rt::used_at.is_null()))
        .set((
            rt::used_at.eq(now),
            rt::successor_hash.eq(successor),
            rt::used_ip.eq(ip),
            rt::used_user_agent.eq(user_agent),
        ))
        .execute(conn)?;
    Ok(n == 1)
}

/// Looks a token up with its session and that session's user, in one statement: the
/// rotation transaction needs all three and runs on every refresh.
pub fn find_with_owner(
    conn: &mut DbConnection,
    hash: &str,
) -> Result<Option<(TokenRow, SessionRow, UserRow)>, DbError> {
    Ok(rt::table
        .inner_join(sessions::table.inner_join(users::table))
        .filter(rt::token_hash.eq(hash))
        .select((
            TokenRow::as_select(),
            SessionRow::as_select(),
            UserRow::as_select(),
        ))
        .first(conn)
        .optional()?)
}

/// Looks a token up by hash.
pub fn find(conn: &mut DbConnection, hash: &str) -> Result<Option<TokenRow>, DbError> {
    Ok(rt::table
        .find(hash)
        .select(TokenRow::as_select())
        .first(conn)
        .optional()?)
}
