//! Sign-in throttling per account and per client address (ASVS 6.3.1).
//!
//! Three counts over a sliding window, each with its own free failures after which every further
//! failure doubles the wait (capped): an account from one address (tight), an address across
//! accounts (looser: offices share addresses), and an account from anywhere (loosest: the guard
//! against guessing spread over many addresses). So one attacker slows only itself and never
//! its victim, who signs in from another address; only many addresses together can make the
//! owner wait, never more than the cap, and a successful sign-in clears the account's count.
//! Failures live in the database so every instance agrees.

use crate::db::login_failures::{self, Tally};
use crate::db::{DbConnection, DbError};

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
            max_wait: 300,
            window: 900,
        }
    }
}

impl Throttle {
    fn wait_for(count: i64, free: i64, max_wait: i64) -> i64 {
        if count < free {
            return 0;
        }
        let doublings = (count - free).min(16) as u32;
        (1i64 << doublings).min(max_wait)
    }

    /// Seconds until this account/address may try again (0: now).
    pub fn retry_after(
        &self,
        conn: &mut DbConnection,
        email: &str,
        ip: &str,
        now: i64,
    ) -> Result<u64, DbError> {
        if !self.enabled {
            return Ok(0);
        }
        let r = login_failures::recent(conn, email, ip, now - self.window)?;
        let until = |(n, last): Tally, free: i64| {
            last.unwrap_or(0) + Self::wait_for(n, free, self.max_wait)
        };
        let until = until(r.pair, self.free_per_account)
            .max(until(r.ip, self.free_per_ip))
            .max(until(r.email, self.free_per_account_total));
        Ok((until - now).max(0) as u64)
    }

    /// Records a failure.
    pub fn record_failure(
        &self,
        conn: &mut DbConnection,
        email: &str,
        ip: &str,
        now: i64,
    ) -> Result<(), DbError> {
        if !self.enabled {
            return Ok(());
        }
        login_failures::record(conn, email, ip, now)?;
        if now % 64 == 0 {
            login_failures::prune(conn, now - self.window)?;
        }
        Ok(())
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
}
