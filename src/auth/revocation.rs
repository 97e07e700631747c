//! Revocation that reaches live access tokens without a database query per request.
//!
//! Every instance keeps the ids of recently ended sessions in memory. The instance that revokes
//! adds the id at once; every instance reads the database's revocation log every
//! `LATCHKEY_REVOCATION_SYNC / 2` on a thread and a connection of its own (so neither a
//! request storm holding the pool nor slow writes can delay it), which bounds how long a
//! revocation takes to reach all instances.
//!
//! The log is read by its id, which the database assigns, never by the revoking instance's
//! clock: a revocation dated in the past (a clock behind, a commit that landed late) is still
//! read. On PostgreSQL a sequence hands out ids before commit, so id 11 can become visible
//! before id 10: every id skipped over is remembered as a gap and asked for again on each sync
//! until it appears (or, for a transaction that rolled back, for the horizon). An id is kept
//! for the horizon counted from when this instance learned it; by then every access token of
//! that session has expired.

use crate::db::{revocations, sessions, Db, DbError};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};

/// Ids seen missing at one sync that are still waited for at most this many.
const MAX_GAPS: usize = 10_000;

/// At start-up, log entries dated this much before the horizon are read too, in case the
/// revoking instance's clock was behind.
const START_SLACK_SECS: i64 = 3600;

/// How far the revocation log has been read.
#[derive(Debug, Default)]
struct Cursor {
    /// Whether the first read (by date) has happened.
    started: bool,
    /// The highest log id read.
    seen: i64,
    /// Ids below `seen` not read yet, and when this instance first missed each.
    gaps: BTreeMap<i64, i64>,
}

/// Ids of recently revoked sessions, shared by all workers of one instance.
pub struct RevocationCache {
    /// Session id → when this instance learned of its end.
    revoked: RwLock<HashMap<String, i64>>,
    /// Bumped after every id added: a remembered "not revoked" answer holds only in the
    /// generation it was made in. Taking the read lock on every request had both cores write
    /// its lock word; this counter is only read between revocations.
    generation: AtomicU64,
    /// How far the log has been read (one sync at a time).
    cursor: Mutex<Cursor>,
    /// How long an entry matters: access TTL + leeway + slack.
    horizon: i64,
}

impl RevocationCache {
    /// An empty cache whose entries matter for `horizon_secs`.
    pub fn new(horizon_secs: i64) -> Self {
        Self {
            revoked: RwLock::new(HashMap::new()),
            generation: AtomicU64::new(0),
            cursor: Mutex::new(Cursor::default()),
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

    /// Reads revocations logged anywhere since the last sync, and forgets entries past the
    /// horizon. Returns how many log entries were read.
    pub fn sync(&self, conn: &mut crate::db::DbConnection, now: i64) -> Result<usize, DbError> {
        let mut cursor = self.cursor.lock().map_err(|_| {
            DbError::Unavailable("the revocation cursor was poisoned by a panic".into())
        })?;
        let mut learned: Vec<String> = Vec::new();
        let rows = if cursor.started {
            let gaps: Vec<i64> = cursor.gaps.keys().copied().collect();
            revocations::after(conn, cursor.seen, &gaps)?
        } else {
            // Sessions ended before the log existed (an upgrade), then the log itself.
            learned.extend(
                sessions::revoked_since(conn, now - self.horizon)?
                    .into_iter()
                    .map(|(id, _)| id),
            );
            let rows = revocations::dated_since(conn, now - self.horizon - START_SLACK_SECS)?;
            let last = revocations::last_id(conn)?;
            // Anything of the last few ids not read (still uncommitted, say) is waited for.
            let read: std::collections::HashSet<i64> = rows.iter().map(|(id, _)| *id).collect();
            for id in (last - 63).max(1)..=last {
                if !read.contains(&id) {
                    cursor.gaps.insert(id, now);
                }
            }
            cursor.seen = last;
            cursor.started = true;
            rows
        };
        let n = rows.len();
        for (id, session) in rows {
            if cursor.gaps.remove(&id).is_none() && id > cursor.seen {
                // Every id skipped over may still be committed later.
                let first_missing = cursor.seen + 1;
                for missing in first_missing..id {
                    if cursor.gaps.len() >= MAX_GAPS {
                        break;
                    }
                    cursor.gaps.insert(missing, now);
                }
                cursor.seen = id;
            }
            learned.push(session);
        }
        // A gap still open after the horizon was a transaction that rolled back.
        cursor
            .gaps
            .retain(|_, missed| *missed >= now - self.horizon);
        let mut added = false;
        if let Ok(mut m) = self.revoked.write() {
            for id in learned {
                added |= m.insert(id, now).is_none();
            }
            m.retain(|_, at| *at >= now - self.horizon);
        }
        if added {
            // Forgetting old ids needs no bump: an answer of "not revoked" stays true.
            self.generation.fetch_add(1, Ordering::Release);
        }
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

    /// Runs [`Self::sync`] on a blocking thread with a pooled connection (start-up, tests).
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

    #[test]
    fn an_id_that_becomes_visible_after_a_higher_one_is_still_read() {
        use diesel::RunQueryDsl;
        let dir = tempfile::tempdir().expect("dir");
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let db = Db::connect(&url, 2, std::time::Duration::from_secs(5)).expect("db");
        db.migrate().expect("migrate");
        let mut c = db.get().expect("conn");
        let log = |c: &mut crate::db::DbConnection, id: i64, sid: &str| {
            diesel::sql_query(format!(
                "INSERT INTO revocations (id, session_id, at) VALUES ({id}, '{sid}', 0)"
            ))
            .execute(c)
            .expect("insert");
        };
        let cache = RevocationCache::new(900);
        let now = 1_000_000;
        assert_eq!(cache.sync(&mut c, now).expect("sync"), 0);
        // A sequence handed out 1, 2 and 3; 1 and 3 committed first.
        log(&mut c, 1, "s1");
        log(&mut c, 3, "s3");
        cache.sync(&mut c, now).expect("sync");
        assert!(cache.is_revoked("s1") && cache.is_revoked("s3"));
        assert!(!cache.is_revoked("s2"));
        // 2 commits late, dated an hour before: read all the same, and kept.
        log(&mut c, 2, "s2");
        let before = cache.generation();
        cache.sync(&mut c, now + 1).expect("sync");
        assert!(cache.is_revoked("s2"));
        assert_ne!(cache.generation(), before);
        cache.sync(&mut c, now + 2).expect("sync");
        assert!(
            cache.is_revoked("s2"),
            "kept for the horizon from when it was learned"
        );
        assert!(cache.cursor.lock().expect("cursor").gaps.is_empty());
    }
}
