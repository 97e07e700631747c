//! Sign-in throttling per account and per client address (ASVS 6.3.1).
//!
//! After a few free failures each further failure doubles the wait before the next attempt,
//! capped, so an attacker can slow an account down but never lock its owner out for good; a
//! successful sign-in clears the account's count. Failures live in the database so every
//! instance agrees.

use crate::db::{login_failures, DbConnection, DbError};

/// Throttling rules.
#[derive(Clone, Copy, Debug)]
pub struct Throttle {
    /// Whether throttling is on.
    pub enabled: bool,
    /// Failures per account before waits begin.
    pub free_per_account: i64,
    /// Failures per address before waits begin (higher: offices share addresses).
    pub free_per_ip: i64,
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
        let ((n_email, last_email), (n_ip, last_ip)) =
            login_failures::recent(conn, email, ip, now - self.window)?;
        let until_email =
            last_email.unwrap_or(0) + Self::wait_for(n_email, self.free_per_account, self.max_wait);
        let until_ip = last_ip.unwrap_or(0) + Self::wait_for(n_ip, self.free_per_ip, self.max_wait);
        Ok((until_email.max(until_ip) - now).max(0) as u64)
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
