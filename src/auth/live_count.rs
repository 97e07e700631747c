//! The dashboard's "active sessions" figure. Counting live sessions is an index-only range
//! scan, cheap on a small database but tens of milliseconds with a million sessions; once a
//! count is seen to be slow, the dashboard shows the last one (at most a minute old) and
//! recounts in the background, so no page view waits for it.

use super::{AuthError, AuthService};
use crate::db::{self, admin as q};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A count at or above this is "slow" and from then on served from the cache.
const SLOW_MS: u128 = 20;
/// How old a cached count may be before a recount is started.
const MAX_AGE_SECS: i64 = 60;

/// One count of live sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// Live sessions.
    pub value: i64,
    /// When it was counted, epoch seconds.
    pub at: i64,
    /// Whether counting took long enough to serve it from the cache from now on.
    pub slow: bool,
}

/// The last count, and whether a recount is running.
#[derive(Default)]
pub struct LiveCount {
    last: Mutex<Option<Counted>>,
    recounting: AtomicBool,
}

impl LiveCount {
    /// Replaces the remembered count (start-up does this by counting; tests set one directly).
    pub fn remember(&self, c: Counted) {
        self.store(c);
    }

    fn last(&self) -> Option<Counted> {
        self.last.lock().ok().and_then(|g| *g)
    }

    fn store(&self, c: Counted) {
        if let Ok(mut g) = self.last.lock() {
            *g = Some(c);
        }
    }
}

impl AuthService {
    /// Counts live sessions now and remembers the result (also run once at start-up).
    pub async fn count_live_sessions_now(&self) -> Result<Counted, AuthError> {
        let (now, idle) = (db::now(), self.settings.idle_ttl);
        let counted = self
            .db
            .run(move |c| {
                // Only the query is timed: taking a connection says nothing about table size.
                let started = Instant::now();
                let value = q::count_live_sessions(c, now, idle)?;
                Ok(Counted {
                    value,
                    at: now,
                    slow: started.elapsed().as_millis() >= SLOW_MS,
                })
            })
            .await?;
        self.live_count.store(counted);
        Ok(counted)
    }

    /// Live sessions: counted exactly while that is cheap; otherwise the last count, with a
    /// recount started in the background when it is over a minute old.
    pub async fn active_sessions(self: &Arc<Self>) -> Result<Counted, AuthError> {
        match self.live_count.last() {
            Some(c) if c.slow => {
                let stale = db::now() - c.at >= MAX_AGE_SECS;
                if stale && !self.live_count.recounting.swap(true, Ordering::AcqRel) {
                    let me = self.clone();
                    tokio::spawn(async move {
                        if let Err(e) = me.count_live_sessions_now().await {
                            log::warn!("recounting live sessions failed: {e}");
                        }
                        me.live_count.recounting.store(false, Ordering::Release);
                    });
                }
                Ok(c)
            }
            _ => self.count_live_sessions_now().await,
        }
    }
}
