//! Queries for device-bound sessions (DBSC): single-use challenges and the bound key.

use super::schema::dbsc_challenges as ch;
use super::schema::sessions as s;
use super::{DbConnection, DbError};
use diesel::prelude::*;

/// Stores a challenge for a session, first dropping that session's spent ones and every
/// expired one (a replay then finds nothing, which is refused the same way; without this,
/// each sign-in whose browser never registers would leave a row for good).
pub fn insert_challenge(
    conn: &mut DbConnection,
    hash: &str,
    session_id: &str,
    now: i64,
    expires_at: i64,
) -> Result<(), DbError> {
    diesel::delete(ch::table.filter(ch::expires_at.le(now))).execute(conn)?;
    diesel::delete(ch::table.filter(ch::session_id.eq(session_id).and(ch::used_at.is_not_null())))
        .execute(conn)?;
    diesel::insert_into(ch::table)
        .values((
            ch::challenge_hash.eq(hash),
            ch::session_id.eq(session_id),
            ch::created_at.eq(now),
            ch::expires_at.eq(expires_at),
        ))
        .execute(conn)?;
    Ok(())
}

/// Spends a challenge if it was issued to `session_id`, is unexpired and unused: one
/// conditional update, so of two concurrent proofs carrying it exactly one wins.
pub fn consume_challenge(
    conn: &mut DbConnection,
    hash: &str,
    session_id: &str,
    now: i64,
) -> Result<bool, DbError> {
    let n = diesel::update(
        ch::table.find(hash).filter(
            ch::session_id
                .eq(session_id)
                .and(ch::used_at.is_null())
                .and(ch::expires_at.gt(now)),
        ),
    )
    .set(ch::used_at.eq(now))
    .execute(conn)?;
    Ok(n == 1)
}

/// Binds a key to a live, still unbound session; returns whether it did (a session is bound
/// once, so a stolen cookie cannot rebind it to another key).
pub fn bind_key(
    conn: &mut DbConnection,
    session_id: &str,
    key_json: &str,
    now: i64,
) -> Result<bool, DbError> {
    let n = diesel::update(
        s::table
            .find(session_id)
            .filter(s::dbsc_key.is_null().and(s::revoked_at.is_null())),
    )
    .set((s::dbsc_key.eq(key_json), s::dbsc_bound_at.eq(now)))
    .execute(conn)?;
    Ok(n == 1)
}
