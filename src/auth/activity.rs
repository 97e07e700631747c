//! Activity counting without a write on the hot path: sign-ins, refreshes and reuse detections
//! are counted in memory and added to the hourly `activity` table by the background sync (and
//! before the dashboard reads it). A crash loses at most one sync interval of counts, which a
//! chart can afford; the audit log, not this table, is the record of security events.

use crate::db::activity::{self, ActivityKind};
use crate::db::{DbConnection, DbError};
use std::collections::HashMap;
use std::sync::Mutex;

/// Counts waiting to be written, by kind and hour.
#[derive(Default)]
pub struct ActivityBuffer {
    pending: Mutex<HashMap<(ActivityKind, i64), i64>>,
}

impl ActivityBuffer {
    /// Counts one event at `at` (epoch seconds).
    pub fn record(&self, kind: ActivityKind, at: i64) {
        if let Ok(mut m) = self.pending.lock() {
            *m.entry((kind, activity::bucket_of(at))).or_insert(0) += 1;
        }
    }

    /// Writes the pending counts; on failure they are kept for the next attempt.
    pub fn flush(&self, conn: &mut DbConnection) -> Result<(), DbError> {
        let taken = match self.pending.lock() {
            Ok(mut m) => std::mem::take(&mut *m),
            Err(_) => return Ok(()),
        };
        let mut failed: Option<DbError> = None;
        let mut unwritten = HashMap::new();
        for ((kind, bucket), n) in taken {
            if failed.is_none() {
                match activity::add(conn, kind, bucket, n) {
                    Ok(()) => continue,
                    Err(e) => failed = Some(e),
                }
            }
            unwritten.insert((kind, bucket), n);
        }
        if let Some(e) = failed {
            if let Ok(mut m) = self.pending.lock() {
                for (k, n) in unwritten {
                    *m.entry(k).or_insert(0) += n;
                }
            }
            return Err(e);
        }
        Ok(())
    }
}
