//! Queries on `login_failures`: recent failed sign-ins, counted per account and per address.
//! A row is written *before* a password is checked (a reservation, see `auth::throttle`) and
//! stays as the failure unless the check succeeds or never runs.

use super::schema::login_failures as lf;
use super::{DbConnection, DbError};
use diesel::prelude::*;

/// Records one attempt (a failure until proved otherwise); returns its row id.
pub fn record(conn: &mut DbConnection, email: &str, ip: &str, now: i64) -> Result<i64, DbError> {
    Ok(diesel::insert_into(lf::table)
        .values((lf::at.eq(now), lf::email.eq(email), lf::ip.eq(ip)))
        .returning(lf::id)
        .get_result(conn)?)
}

/// Forgets one reserved attempt whose password was never checked.
pub fn forget(conn: &mut DbConnection, id: i64) -> Result<(), DbError> {
    diesel::delete(lf::table.find(id)).execute(conn)?;
    Ok(())
}

/// How many failures, and the newest one's time.
pub type Tally = (i64, Option<i64>);

/// Recent failures, counted three ways.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Recent {
    /// For this account from this address.
    pub pair: Tally,
    /// For this address, any account.
    pub ip: Tally,
    /// For this account, any address.
    pub email: Tally,
}

/// Failures for this account and address, this address, and this account, since `since`,
/// leaving out the row `except` (the attempt being decided).
pub fn recent(
    conn: &mut DbConnection,
    email: &str,
    ip: &str,
    since: i64,
    except: i64,
) -> Result<Recent, DbError> {
    let tally = (diesel::dsl::count_star(), diesel::dsl::max(lf::at));
    let others = lf::at.ge(since).and(lf::id.ne(except));
    let pair = lf::table
        .filter(lf::email.eq(email).and(lf::ip.eq(ip)).and(others))
        .select(tally)
        .first::<Tally>(conn)?;
    let by_ip = lf::table
        .filter(lf::ip.eq(ip).and(others))
        .select(tally)
        .first::<Tally>(conn)?;
    let by_email = lf::table
        .filter(lf::email.eq(email).and(others))
        .select(tally)
        .first::<Tally>(conn)?;
    Ok(Recent {
        pair,
        ip: by_ip,
        email: by_email,
    })
}

/// Forgets an account's failures after a successful sign-in.
pub fn clear_for_email(conn: &mut DbConnection, email: &str) -> Result<(), DbError> {
    diesel::delete(lf::table.filter(lf::email.eq(email))).execute(conn)?;
    Ok(())
}

/// Drops failures older than `before`, keeping the table small.
pub fn prune(conn: &mut DbConnection, before: i64) -> Result<usize, DbError> {
    Ok(diesel::delete(lf::table.filter(lf::at.lt(before))).execute(conn)?)
}
