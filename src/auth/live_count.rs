//! The dashboard's "active sessions" figure, at a cost that does not depend on the size of the
//! sessions table. Counting live sessions is a range scan: well under a millisecond at a
//! thousand sessions, tens of milliseconds at a million. So no page view ever counts: the count
//! is made at start-up and then in the background (every `LATCHKEY_METRICS_REFRESH`, which
//! also feeds `/metrics`), and a view shows the last count with its age. A view that finds the
//! count older than [`FRESH_SECS`] also starts one recount in the background, so the next view
//! is current; the view itself never waits for it.
//!
//! A count maintained row by row was the other choice; but a session stops being live by
//! idling or reaching its lifetime, with no write to count down on, so an exact maintained
//! figure would need a sweep anyway.

use super::{AuthError, AuthService};
use crate::db::{self, admin as q};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// A count older than this, seen by a dashboard view, is recounted in the background.
pub const FRESH_SECS: i64 = 5;

/// One count of live sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Counted {
    /// Live sessions.
    pub value: i64,
    /// When it was counted, epoch seconds.
    pub at: i64,
}

/// The last count, and whether a recount is running.
#[derive(Default)]
pub struct LiveCount {
    last: Mutex<Option<Counted>>,
    recounting: AtomicBool,
}

impl LiveCount {
    /// Replaces the remembered count (counting does this; tests set one directly).
    pub fn remember(&self, c: Counted) {
        if let Ok(mut g) = self.last.lock() {
            *g = Some(c);
        }
    }

    /// Whether a recount started by [`AuthService::active_sessions`] is still running.
    pub fn recounting(&self) -> bool {
        self.recounting.load(Ordering::Acquire)
    }

    /// The last count, if any has succeeded.
    pub fn last(&self) -> Option<Counted> {
        self.last.lock().ok().and_then(|g| *g)
    }
}

impl AuthService {
    /// Counts live sessions now and remembers the result (start-up and the background task).
    pub async fn count_live_sessions_now(&self) -> Result<Counted, AuthError> {
        let (now, idle) = (db::now(), self.settings.idle_ttl);
        let value = self
            .db
            .run(move |c| q::count_live_sessions(c, now, idle))
            .await?;
        let counted = Counted { value, at: now };
        self.live_count.remember(counted);
        self.metrics.set_active_sessions(value.max(0) as u64);
        Ok(counted)
    }

    /// Live sessions as last counted, without touching the database (`None` before the first
    /// count succeeds). A count older than [`FRESH_SECS`] (or none) starts one recount in the
    /// background for the next caller.
    pub fn active_sessions(self: &Arc<Self>) -> Option<Counted> {
        let last = self.live_count.last();
        let stale = last.is_none_or(|c| db::now() - c.at >= FRESH_SECS);
        if stale && !self.live_count.recounting.swap(true, Ordering::AcqRel) {
            let me = self.clone();
            tokio::spawn(async move {
                if let Err(e) = me.count_live_sessions_now().await {
                    log::warn!("recounting live sessions failed: {e}");
                }
                me.live_count.recounting.store(false, Ordering::Release);
            });
        }
        last
    }
}
