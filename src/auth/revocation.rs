//! Revocation that reaches live access tokens without a database query per request.
//!
//! Every instance keeps the ids of sessions ended within the last access-token lifetime in
//! memory. The instance that revokes adds the id at once; every instance re-reads recently
//! revoked ids from the database every `LATCHKEY_REVOCATION_SYNC / 2`, so a revocation reaches
//! all instances within that bound. Older entries are dropped: their access tokens have expired.

use crate::db::{sessions, Db, DbError};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::RwLock;

/// Ids of recently revoked sessions, shared by all workers of one instance.
pub struct RevocationCache {
    revoked: RwLock<HashMap<String, i64>>,
    /// Bumped after every id added: a remembered "not revoked" answer holds only in the
    /// generation it was made in. Taking the read lock on every request had both cores write
    /// its lock word; this counter is only read between revocations.
    generation: AtomicU64,
    /// Start time of the last successful sync, epoch seconds (0 before the first).
    synced_from: AtomicI64,
    /// How long an entry matters: access TTL + leeway + slack.
    horizon: i64,
}

/// Overlap between syncs, covering clock differences and transactions that commit late.
const OVERLAP_SECS: i64 = 5;

impl RevocationCache {
    /// An empty cache whose entries matter for `horizon_secs`.
    pub fn new(horizon_secs: i64) -> Self {
        Self {
            revoked: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            synced_from: AtomicI64::new(0),
            horizon: horizon_secs,
        }
    }

    /// The current generation. Read it before [`Self::is_revoked`]: a "not revoked" answer
    /// then holds for as long as the generation stays the same (Acquire: an id added before
    /// the bump read here is visible to that check).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Whether a session was revoked (under the read lock; callers remember a "no" per
    /// generation, see [`Self::generation`]).
    pub fn is_revoked(&self, session_id: &str) -> bool {
        self.revoked
            .read()
            .map(|m| m.contains_key(session_id))
            .unwrap_or(true)
    }

    /// Records revocations made by this instance.
    pub fn insert<'a>(&self, ids: impl IntoIterator<Item = &'a str>, at: i64) {
        if let Ok(mut m) = self.revoked.write() {
            for id in ids {
                m.insert(id.to_string(), at);
            }
        }
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Pulls revocations made anywhere since the last sync, and forgets entries past the horizon.
    pub fn sync(&self, conn: &mut crate::db::DbConnection, now: i64) -> Result<usize, DbError> {
        let last = self.synced_from.load(Ordering::Relaxed);
        let since = if last == 0 {
            now - self.horizon
        } else {
            last - OVERLAP_SECS
        };
        let rows = sessions::revoked_since(conn, since)?;
        let n = rows.len();
        let mut added = false;
        if let Ok(mut m) = self.revoked.write() {
            for (id, at) in rows {
                added |= m.insert(id, at).is_none();
            }
            m.retain(|_, at| *at >= now - self.horizon);
        }
        if added {
            // Forgetting old ids needs no bump: an answer of "not revoked" stays true.
            self.generation.fetch_add(1, Ordering::Release);
        }
        self.synced_from.store(now, Ordering::Relaxed);
        Ok(n)
    }

    /// Number of ids held (metrics).
    pub fn len(&self) -> usize {
        self.revoked.read().map(|m| m.len()).unwrap_or(0)
    }

    /// Whether no id is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Runs [`Self::sync`] on a blocking thread.
    pub async fn sync_now(self: &std::sync::Arc<Self>, db: &Db) -> Result<usize, DbError> {
        let me = self.clone();
        db.run(move |c| me.sync(c, crate::db::now())).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revocation_is_seen_at_once_and_bumps_the_generation() {
        let cache = RevocationCache::new(900);
        let before = cache.generation();
        assert!(!cache.is_revoked("s1"));
        cache.insert(["s1"], 0);
        assert!(cache.is_revoked("s1"));
        assert!(!cache.is_revoked("s2"));
        assert_ne!(
            cache.generation(),
            before,
            "remembered answers must be re-checked"
        );
    }
}
