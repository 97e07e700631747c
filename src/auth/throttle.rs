//! Sign-in and sign-up throttling per account and per client address (ASVS 6.3.1).
//!
//! Three counts over a sliding window, each with its own free failures after which every further
//! failure doubles the wait (capped): an account from one address (tight), an address across
//! accounts (looser: offices share addresses), and an account from anywhere (loosest: the guard
//! against guessing spread over many addresses). So one attacker slows only itself and never
//! its victim, who signs in from another address; only many addresses together can make the
//! owner wait, never more than the cap, and a successful sign-in clears the account's count.
//! Failures live in the database so every instance agrees.
//!
//! An attempt is *reserved* before bcrypt runs: one transaction writes it as a failure, counts
//! the others, and keeps it only if no wait applies (on PostgreSQL under advisory locks on the
//! account and the address, on SQLite under its one write lock). So however many requests
//! arrive at once, no more than the free allowance reach bcrypt. A success clears the count; an
//! attempt that never reached bcrypt (every bcrypt worker busy) is forgotten.
//!
//! Waits are counted in whole seconds from the second *after* the last failure (stored times
//! are whole seconds, so a wait of 1 s must not end a millisecond after it began). Sign-ups
//! are throttled the same way, per address.

use crate::db::login_failures::{self, Tally};
use crate::db::{sign_ups, DbConnection, DbError};
use diesel::Connection;

/// Throttling rules.
#[derive(Clone, Copy, Debug)]
pub struct Throttle {
    /// Whether throttling is on.
    pub enabled: bool,
    /// Failures for one account from one address before waits begin.
    pub free_per_account: i64,
    /// Failures per address, any account, before waits begin.
    pub free_per_ip: i64,
    /// Failures for one account from all addresses before waits begin.
    pub free_per_account_total: i64,
    /// Sign-ups per address before waits begin.
    pub free_sign_ups_per_ip: i64,
    /// The longest wait, seconds.
    pub max_wait: i64,
    /// How far back failures count, seconds.
    pub window: i64,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            enabled: true,
            free_per_account: 5,
            free_per_ip: 20,
            free_per_account_total: 50,
            free_sign_ups_per_ip: 10,
            max_wait: 300,
            window: 900,
        }
    }
}

/// The answer to a reservation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// Go ahead; the reserved row (none while throttling is off), to forget should the
    /// password never be checked.
    Go(Option<i64>),
    /// Wait this many seconds; nothing was recorded.
    Wait(u64),
}

/// Advisory-lock namespaces on PostgreSQL (first key of `pg_advisory_xact_lock(int, int)`).
const LOCK_ACCOUNT: i32 = 7_351_204;
const LOCK_ADDRESS: i32 = 7_351_205;
const LOCK_SIGN_UP_ADDRESS: i32 = 7_351_206;

/// Why a reservation's transaction ended without keeping its row.
enum Refused {
    Wait(u64),
    Db(DbError),
}

impl From<diesel::result::Error> for Refused {
    fn from(e: diesel::result::Error) -> Self {
        Refused::Db(e.into())
    }
}

impl From<DbError> for Refused {
    fn from(e: DbError) -> Self {
        Refused::Db(e)
    }
}

/// Serialises reservations that share a key, until the transaction ends (PostgreSQL only:
/// SQLite runs one writing transaction at a time anyway). Locks are always taken in the order
/// given, account before address, so two reservations never wait on each other in a circle.
fn lock(conn: &mut DbConnection, keys: &[(i32, &str)]) -> Result<(), DbError> {
    use diesel::sql_types::{Integer, Text};
    use diesel::RunQueryDsl;
    if let DbConnection::Pg(pg) = conn {
        for (space, key) in keys {
            diesel::sql_query("SELECT pg_advisory_xact_lock($1, hashtext($2))")
                .bind::<Integer, _>(*space)
                .bind::<Text, _>(*key)
                .execute(pg)?;
        }
    }
    Ok(())
}

impl Throttle {
    fn wait_for(count: i64, free: i64, max_wait: i64) -> i64 {
        if count < free {
            return 0;
        }
        let doublings = (count - free).min(16) as u32;
        (1i64 << doublings).min(max_wait)
    }

    /// Until when (epoch seconds) a count holds further attempts back; 0 when it does not.
    fn until(&self, (n, last): Tally, free: i64) -> i64 {
        match Self::wait_for(n, free, self.max_wait) {
            0 => 0,
            wait => last.unwrap_or(0) + (wait + 1).min(self.max_wait),
        }
    }

    fn seconds_left(until: i64, now: i64) -> u64 {
        (until - now).max(0) as u64
    }

    /// Runs `decide` in a transaction after writing the attempt with `record`: the row is kept
    /// when `decide` answers 0 and rolled back otherwise.
    fn reserve_with(
        conn: &mut DbConnection,
        record: impl FnOnce(&mut DbConnection) -> Result<i64, DbError>,
        decide: impl FnOnce(&mut DbConnection, i64) -> Result<u64, DbError>,
    ) -> Result<Attempt, DbError> {
        // The write comes first: a SQLite transaction that reads first cannot take the write
        // lock once another process has committed meanwhile.
        let kept = conn.transaction(|c| {
            let id = record(c)?;
            match decide(c, id)? {
                0 => Ok(id),
                wait => Err(Refused::Wait(wait)),
            }
        });
        match kept {
            Ok(id) => Ok(Attempt::Go(Some(id))),
            Err(Refused::Wait(wait)) => Ok(Attempt::Wait(wait)),
            Err(Refused::Db(e)) => Err(e),
        }
    }

    /// Reserves a sign-in attempt (or a password re-entry) for this account from this address:
    /// recorded as a failure now, before bcrypt runs, unless a wait applies.
    pub fn reserve(
        &self,
        conn: &mut DbConnection,
        email: &str,
        ip: &str,
        now: i64,
    ) -> Result<Attempt, DbError> {
        if !self.enabled {
            return Ok(Attempt::Go(None));
        }
        let attempt = Self::reserve_with(
            conn,
            |c| login_failures::record(c, email, ip, now),
            |c, id| {
                lock(c, &[(LOCK_ACCOUNT, email), (LOCK_ADDRESS, ip)])?;
                let r = login_failures::recent(c, email, ip, now - self.window, id)?;
                let until = self
                    .until(r.pair, self.free_per_account)
                    .max(self.until(r.ip, self.free_per_ip))
                    .max(self.until(r.email, self.free_per_account_total));
                Ok(Self::seconds_left(until, now))
            },
        )?;
        if now % 64 == 0 {
            login_failures::prune(conn, now - self.window)?;
        }
        Ok(attempt)
    }

    /// Reserves a sign-up from this address before its password is hashed, unless a wait applies.
    pub fn reserve_sign_up(
        &self,
        conn: &mut DbConnection,
        ip: &str,
        now: i64,
    ) -> Result<Attempt, DbError> {
        if !self.enabled {
            return Ok(Attempt::Go(None));
        }
        let attempt = Self::reserve_with(
            conn,
            |c| sign_ups::record(c, ip, now),
            |c, id| {
                lock(c, &[(LOCK_SIGN_UP_ADDRESS, ip)])?;
                let tally = sign_ups::recent(c, ip, now - self.window, id)?;
                let until = self.until(tally, self.free_sign_ups_per_ip);
                Ok(Self::seconds_left(until, now))
            },
        )?;
        if now % 64 == 0 {
            sign_ups::prune(conn, now - self.window)?;
        }
        Ok(attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_after_the_free_attempts_and_are_capped() {
        assert_eq!(Throttle::wait_for(4, 5, 300), 0);
        assert_eq!(Throttle::wait_for(5, 5, 300), 1);
        assert_eq!(Throttle::wait_for(7, 5, 300), 4);
        assert_eq!(Throttle::wait_for(500, 5, 300), 300);
    }

    #[test]
    fn a_wait_ends_only_once_it_has_fully_passed_in_whole_seconds() {
        let t = Throttle::default();
        // The fifth failure at second 100 (really anywhere in 100.0..101.0): a 1 s wait.
        assert_eq!(t.until((5, Some(100)), 5), 102);
        assert_eq!(Throttle::seconds_left(102, 101), 1, "not yet at 101");
        assert_eq!(Throttle::seconds_left(102, 102), 0);
        assert_eq!(t.until((4, Some(100)), 5), 0, "free");
        assert_eq!(t.until((60, Some(100)), 5), 400, "capped at five minutes");
    }
}
