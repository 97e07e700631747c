//! Queries on `sign_ups`: accounts asked for, per client address, so one address cannot keep
//! bcrypt busy hashing passwords for sign-ups (see `auth::throttle`).

use super::login_failures::Tally;
use super::schema::sign_ups as su;
use super::{DbConnection, DbError};
use diesel::prelude::*;

/// Records one sign-up about to be hashed; returns its row id.
pub fn record(conn: &mut DbConnection, ip: &str, now: i64) -> Result<i64, DbError> {
    Ok(diesel::insert_into(su::table)
        .values((su::at.eq(now), su::ip.eq(ip)))
        .returning(su::id)
        .get_result(conn)?)
}

/// Forgets one reserved sign-up whose password was never hashed.
pub fn forget(conn: &mut DbConnection, id: i64) -> Result<(), DbError> {
    diesel::delete(su::table.find(id)).execute(conn)?;
    Ok(())
}

/// Sign-ups from this address since `since`, leaving out the row `except`.
pub fn recent(
    conn: &mut DbConnection,
    ip: &str,
    since: i64,
    except: i64,
) -> Result<Tally, DbError> {
    Ok(su::table
        .filter(su::ip.eq(ip).and(su::at.ge(since)).and(su::id.ne(except)))
        .select((diesel::dsl::count_star(), diesel::dsl::max(su::at)))
        .first::<Tally>(conn)?)
}

/// Drops sign-ups older than `before`, keeping the table small.
pub fn prune(conn: &mut DbConnection, before: i64) -> Result<usize, DbError> {
    Ok(diesel::delete(su::table.filter(su::at.lt(before))).execute(conn)?)
}
