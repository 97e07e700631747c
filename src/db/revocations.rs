//! Queries on `revocations`: the log of ended sessions, numbered by the database in the order
//! it accepts them. A trigger on `sessions` writes it, so every way of ending a session is
//! logged; instances sync their revoked sets from it (see `auth::revocation`).

use super::schema::revocations as r;
use super::{DbConnection, DbError};
use diesel::prelude::*;

/// Logged revocations with an id above `after`, or one of `also` (ids seen missing before),
/// oldest first: `(id, session id)`.
pub fn after(
    conn: &mut DbConnection,
    after: i64,
    also: &[i64],
) -> Result<Vec<(i64, String)>, DbError> {
    Ok(r::table
        .filter(r::id.gt(after).or(r::id.eq_any(also)))
        .order(r::id)
        .select((r::id, r::session_id))
        .load(conn)?)
}

/// Logged revocations dated (by the revoking instance's clock) at or after `since`.
pub fn dated_since(conn: &mut DbConnection, since: i64) -> Result<Vec<(i64, String)>, DbError> {
    Ok(r::table
        .filter(r::at.ge(since))
        .order(r::id)
        .select((r::id, r::session_id))
        .load(conn)?)
}

/// The highest id logged so far (0 for none).
pub fn last_id(conn: &mut DbConnection) -> Result<i64, DbError> {
    Ok(r::table
        .select(diesel::dsl::max(r::id))
        .first::<Option<i64>>(conn)?
        .unwrap_or(0))
}

/// Drops log entries dated before `before`: their access tokens expired long ago.
pub fn prune(conn: &mut DbConnection, before: i64) -> Result<usize, DbError> {
    Ok(diesel::delete(r::table.filter(r::at.lt(before))).execute(conn)?)
}
