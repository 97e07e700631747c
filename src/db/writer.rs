//! SQLite's one writer: a dedicated thread that commits queued writes in groups.
//!
//! SQLite admits one writer at a time, and its busy handler sleeps whole milliseconds when a
//! second one knocks, so every write of this process goes through one thread with its own
//! connection. Writes that queue while a commit is in progress run together in the next
//! transaction (each keeps its own savepoint when it opens a transaction), so the fixed cost of a
//! commit (writing the WAL frames of shared index pages, taking the locks, parsing BEGIN and
//! COMMIT) is paid once per group rather than once per write. Every caller hears its result
//! only after its group has committed; if the commit fails, every caller in the group gets a
//! 503-class error and nothing of the group is kept.
//!
//! Checkpoints (copying the WAL back into the database file, then an fsync that takes 5-30 ms
//! under load) run on a second thread every [`CHECKPOINT_EVERY`]. Left to SQLite, they run
//! inside whichever commit crosses 1,000 WAL pages and stall every write queued behind it,
//! which was the whole p99 of a rotation under load. The writer itself finishes a checkpoint
//! only every [`RESTART_FRAMES`], so the WAL stays bounded, and its own automatic checkpoint
//! stays on as a backstop.
//!
//! A caller waits at most the pool timeout for its write to *start*; a write whose caller gave
//! up is never run, so a 503 never hides a change that happened anyway. Once started, a write is
//! waited for to the end.

use super::{DbConnection, DbError, Manager};
use diesel::connection::SimpleConnection;
use diesel::Connection;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{mpsc, Arc, Weak};
use std::time::Duration;

/// At most this many writes share one transaction, so one group never holds the lock for long.
const MAX_GROUP: usize = 64;

/// How often the background checkpoint runs.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(200);

/// At most this many checkpoints run back to back while the WAL still has frames to copy.
const CATCH_UP_ROUNDS: usize = 50;

/// WAL frames (pages) past which the writer finishes a checkpoint itself so the WAL can start
/// over: this bounds the WAL at about 256 MiB of 4 KiB pages, and makes the writer's fsync rare
/// (once every few seconds under a sustained rotation benchmark).
const RESTART_FRAMES: i32 = 65_536;

/// The background thread asks for that only once it has nearly caught up, so the writer's
/// share of the copying stays small.
const NEARLY_CAUGHT_UP: i32 = 256;

/// The writer's connection settings on top of the pool's: it checkpoints by itself only past
/// 100,000 WAL pages (SQLite's default is 1,000), a backstop should the background thread be
/// stuck; and a WAL that grew in a burst shrinks back to 64 MiB once it is reset.
const WRITER_PRAGMAS: &str =
    "PRAGMA wal_autocheckpoint = 100000; PRAGMA journal_size_limit = 67108864;";

const WAITING: u8 = 0;
const STARTED: u8 = 1;
const CANCELLED: u8 = 2;

/// Hands the committed (or failed) outcome of the group to the caller.
type Deliver = Box<dyn FnOnce(Result<(), &DbError>) + Send>;
/// A queued write: runs on the writer's connection, says whether it succeeded, and returns how
/// to deliver its result once the group's fate is known.
type Job = Box<dyn FnOnce(&mut DbConnection) -> (bool, Deliver) + Send>;

struct Queued {
    job: Job,
    state: Arc<AtomicU8>,
}

impl Queued {
    /// Claims the write for running; false when its caller already gave up.
    fn start(&self) -> bool {
        self.state
            .compare_exchange(WAITING, STARTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }
}

/// The queue into the writer thread; the thread ends when the last handle is dropped.
pub(super) struct Writer {
    tx: mpsc::Sender<Queued>,
    /// The checkpoint thread runs while this lives.
    _alive: Arc<()>,
    /// Counts callers turned away after waiting (the pool's failure counter, for metrics).
    timeouts: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer thread; it connects on its first write (and again after a failure).
    pub(super) fn start(
        manager: Manager,
        uses: Arc<AtomicU64>,
        timeouts: Arc<AtomicU64>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = mpsc::channel();
        let alive = Arc::new(());
        let checkpointer = manager.clone();
        let watch = Arc::downgrade(&alive);
        let finish = Arc::new(AtomicBool::new(false));
        let asked = finish.clone();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, watch, &asked))?;
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || writer_loop(rx, manager, uses, &finish))?;
        Ok(Self {
            tx,
            _alive: alive,
            timeouts,
        })
    }

    /// Runs `f` on the writer's connection and returns its result once it is committed.
    pub(super) async fn run<T, F>(&self, wait: Duration, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        let (reply, mut answer) = tokio::sync::oneshot::channel::<Result<T, DbError>>();
        let state = Arc::new(AtomicU8::new(WAITING));
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            let ok = result.is_ok();
            let deliver: Deliver = Box::new(move |group| {
                let _ = reply.send(match group {
                    Ok(()) => result,
                    Err(e) => Err(DbError::Unavailable(format!("commit failed: {e}"))),
                });
            });
            (ok, deliver)
        });
        self.tx
            .send(Queued {
                job,
                state: state.clone(),
            })
            .map_err(|_| DbError::Unavailable("the SQLite writer has stopped".into()))?;
        let gone = |_| DbError::Unavailable("the SQLite writer dropped the write".into());
        match tokio::time::timeout(wait, &mut answer).await {
            Ok(r) => r.map_err(gone)?,
            Err(_) => {
                if state
                    .compare_exchange(WAITING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    self.timeouts.fetch_add(1, Ordering::Relaxed);
                    return Err(DbError::Unavailable(
                        "timed out waiting for the SQLite writer".into(),
                    ));
                }
                // It started before we gave up: its outcome is on the way.
                answer.await.map_err(gone)?
            }
        }
    }
}

fn writer_loop(
    rx: mpsc::Receiver<Queued>,
    manager: Manager,
    uses: Arc<AtomicU64>,
    finish_checkpoint: &AtomicBool,
) {
    use r2d2::ManageConnection;
    let mut conn: Option<DbConnection> = None;
    let mut pending: VecDeque<Queued> = VecDeque::new();
    loop {
        if pending.is_empty() {
            match rx.recv() {
                Ok(q) => pending.push_back(q),
                Err(_) => return,
            }
        }
        while pending.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(q) => pending.push_back(q),
                Err(_) => break,
            }
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match manager.connect().and_then(|mut c| {
                c.batch_execute(WRITER_PRAGMAS)
                    .map_err(diesel::r2d2::Error::QueryError)?;
                Ok(c)
            }) {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    log::error!("cannot open the SQLite writer's connection: {e}");
                    abandon(&mut pending);
                    continue;
                }
            },
        };
        if finish_checkpoint.swap(false, Ordering::AcqRel) {
            // Between groups the writer holds no lock; copying the few frames the background
            // thread has not yet copied lets the next commit start the WAL over. It costs the
            // queue an fsync (5-30 ms under load here), hence only every RESTART_FRAMES.
            let started = std::time::Instant::now();
            match c.batch_execute("PRAGMA wal_checkpoint(PASSIVE)") {
                Ok(()) => log::debug!("WAL checkpoint finished in {:?}", started.elapsed()),
                Err(e) => log::debug!("finishing the WAL checkpoint failed: {e}"),
            }
        }
        match run_group(c, &mut pending, &uses) {
            GroupEnd::Kept => {}
            GroupEnd::Broken => conn = None,
        }
    }
}

enum GroupEnd {
    Kept,
    /// A write panicked or the connection failed: it is closed (SQLite rolls back what was not
    /// committed) and a fresh one is opened for the next group.
    Broken,
}

/// What `PRAGMA wal_checkpoint` reports.
#[derive(diesel::QueryableByName)]
struct Checkpoint {
    /// Frames in the WAL.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    log: i32,
    /// Frames of it already copied into the database file.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    checkpointed: i32,
}

/// Checkpoints the WAL in the background until the writer is gone. PASSIVE never waits for the
/// writer or for readers; it copies the frames committed before it began, and runs again at once
/// while frames remain. Under a steady stream of commits it never quite catches up (each round
/// ends with an fsync, during which more commits land), so the WAL would only grow: past
/// [`RESTART_FRAMES`] the writer is asked to copy the rest between two groups.
fn checkpoint_loop(manager: Manager, alive: Weak<()>, finish: &AtomicBool) {
    use diesel::RunQueryDsl;
    use r2d2::ManageConnection;
    let mut conn: Option<DbConnection> = None;
    loop {
        std::thread::sleep(CHECKPOINT_EVERY);
        if alive.strong_count() == 0 {
            return;
        }
        let c = match conn.as_mut() {
            Some(c) => c,
            None => match manager.connect() {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    log::debug!("checkpoint connection failed: {e}");
                    continue;
                }
            },
        };
        for _ in 0..CATCH_UP_ROUNDS {
            match diesel::sql_query("PRAGMA wal_checkpoint(PASSIVE)").get_result::<Checkpoint>(c) {
                Ok(r) if r.log >= RESTART_FRAMES && r.log - r.checkpointed <= NEARLY_CAUGHT_UP => {
                    finish.store(true, Ordering::Release);
                    break;
                }
                Ok(r) if r.checkpointed < r.log => {}
                Ok(_) => break,
                Err(e) => {
                    log::debug!("background checkpoint failed: {e}");
                    conn = None;
                    break;
                }
            }
        }
    }
}

/// Fails every queued write unrun: each is claimed so its caller stops waiting for a start, and
/// dropping its closure drops the reply, which the caller sees as an error.
fn abandon(pending: &mut VecDeque<Queued>) {
    for q in pending.drain(..) {
        q.start();
    }
}

/// What running the next queued write came to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    /// Nothing left in the queue.
    Empty,
    /// It ran and succeeded (or was skipped because its caller gave up).
    Done,
    /// It returned an error.
    Failed,
    /// It panicked.
    Panicked,
}

fn run_next(
    c: &mut DbConnection,
    pending: &mut VecDeque<Queued>,
    delivers: &mut Vec<Deliver>,
    uses: &AtomicU64,
) -> Step {
    let Some(q) = pending.pop_front() else {
        return Step::Empty;
    };
    if !q.start() {
        return Step::Done;
    }
    uses.fetch_add(1, Ordering::Relaxed);
    match catch_unwind(AssertUnwindSafe(move || (q.job)(c))) {
        Ok((ok, deliver)) => {
            delivers.push(deliver);
            if ok {
                Step::Done
            } else {
                Step::Failed
            }
        }
        // The write's reply was dropped while unwinding: its caller already has an error.
        Err(_) => Step::Panicked,
    }
}

/// Runs queued writes in one transaction until the queue is empty, the group is full, or a write
/// fails (what came before it is committed; the rest wait for the next group).
fn run_group(c: &mut DbConnection, pending: &mut VecDeque<Queued>, uses: &AtomicU64) -> GroupEnd {
    let mut delivers: Vec<Deliver> = Vec::new();
    let mut last = Step::Empty;
    // Even a lone write runs inside the group's transaction, so a write that panics half-way
    // never leaves half its changes behind.
    let committed = c.transaction::<_, diesel::result::Error, _>(|c| {
        for _ in 0..MAX_GROUP {
            last = run_next(c, pending, &mut delivers, uses);
            if last != Step::Done {
                break;
            }
        }
        if last == Step::Panicked {
            return Err(diesel::result::Error::RollbackTransaction);
        }
        Ok(())
    });
    let panicked = last == Step::Panicked;
    let outcome = match &committed {
        Ok(()) => Ok(()),
        Err(_) if panicked => Err(DbError::Unavailable(
            "a write in the same group panicked".into(),
        )),
        Err(e) => {
            log::error!("SQLite group commit failed: {e}");
            Err(DbError::Unavailable(e.to_string()))
        }
    };
    let ran = delivers.len();
    for d in delivers {
        d(outcome.as_ref().map(|_| ()));
    }
    if committed.is_err() && ran == 0 && !panicked {
        // Not even BEGIN went through: fail what is queued rather than spin on it.
        abandon(pending);
    }
    if panicked || committed.is_err() {
        GroupEnd::Broken
    } else {
        GroupEnd::Kept
    }
}

#[cfg(test)]
mod tests {
    use super::super::Db;
    use super::*;
    use diesel::connection::SimpleConnection;

    fn db(dir: &tempfile::TempDir, timeout: Duration) -> Db {
        let url = format!("sqlite://{}", dir.path().join("w.db").display());
        let db = Db::connect(&url, 2, timeout).expect("connect");
        db.get()
            .expect("conn")
            .batch_execute("CREATE TABLE t (v INTEGER PRIMARY KEY)")
            .expect("table");
        db
    }

    #[test]
    fn the_bundled_sqlite_plans_without_bound_values() {
        // Without it, every cached statement with `LIMIT ?` was prepared again on each run
        // (see .cargo/config.toml): half the refresh rotations a second.
        #[derive(diesel::QueryableByName)]
        struct Used {
            #[diesel(sql_type = diesel::sql_types::Integer)]
            used: i32,
        }
        use diesel::RunQueryDsl;
        let dir = tempfile::tempdir().unwrap();
        let db = db(&dir, Duration::from_secs(5));
        let used = diesel::sql_query("SELECT sqlite_compileoption_used('ENABLE_QPSG') AS used")
            .get_result::<Used>(&mut *db.get().expect("conn"))
            .expect("compile options")
            .used;
        assert_eq!(used, 1, "SQLite was built without SQLITE_ENABLE_QPSG");
    }

    fn count(db: &Db) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        use diesel::RunQueryDsl;
        diesel::sql_query("SELECT COUNT(*) AS n FROM t")
            .get_result::<N>(&mut *db.get().expect("conn"))
            .expect("count")
            .n
    }

    fn insert(v: i64) -> impl FnOnce(&mut DbConnection) -> Result<i64, DbError> + Send {
        move |c| {
            c.batch_execute(&format!("INSERT INTO t (v) VALUES ({v})"))?;
            Ok(v)
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_writes_all_commit_and_a_failing_one_takes_nobody_with_it() {
        let dir = tempfile::tempdir().expect("dir");
        let db = db(&dir, Duration::from_secs(5));
        let mut tasks = Vec::new();
        for v in 0..200 {
            let db = db.clone();
            // Value 7 twice: the second insert violates the key, and only it may fail.
            let v = if v == 100 { 7 } else { v };
            tasks.push(tokio::spawn(async move { db.run_write(insert(v)).await }));
        }
        let mut failed = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(_) => {}
                Err(DbError::Conflict(_)) => failed += 1,
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(failed, 1);
        assert_eq!(count(&db), 199, "every other write is committed");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_whose_caller_gave_up_is_never_run() {
        let dir = tempfile::tempdir().expect("dir");
        let db = db(&dir, Duration::from_millis(300));
        // The first write holds the writer for a second; the second times out in the queue.
        let slow = db.clone();
        let first = tokio::spawn(async move {
            slow.run_write(|c| {
                std::thread::sleep(Duration::from_secs(1));
                insert(1)(c)
            })
            .await
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let second = db.run_write(insert(2)).await;
        assert!(matches!(second, Err(DbError::Unavailable(_))), "{second:?}");
        assert_eq!(first.await.expect("task").expect("first commits"), 1);
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(count(&db), 1, "the abandoned write did not happen");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_background_thread_copies_the_wal_into_the_database_file() {
        let dir = tempfile::tempdir().expect("dir");
        let db = db(&dir, Duration::from_secs(5));
        let main = dir.path().join("w.db");
        let size = || std::fs::metadata(&main).expect("db file").len();
        let before = size();
        for batch in 0..20 {
            db.run_write(move |c| {
                for v in 0..100 {
                    c.batch_execute(&format!("INSERT INTO t (v) VALUES ({})", batch * 100 + v))?;
                }
                Ok(())
            })
            .await
            .expect("write");
        }
        // The writer never checkpoints below its backstop, so only the background thread can
        // have grown the main file.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while size() <= before {
            assert!(
                std::time::Instant::now() < deadline,
                "the database file never grew: the WAL was not checkpointed"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(count(&db), 2000);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_write_fails_alone_and_the_writer_carries_on() {
        let dir = tempfile::tempdir().expect("dir");
        let db = db(&dir, Duration::from_secs(5));
        let panicking = db
            .run_write(|c| -> Result<(), DbError> {
                insert(1)(c)?;
                panic!("a bug in a write");
            })
            .await;
        assert!(matches!(panicking, Err(DbError::Unavailable(_))));
        assert_eq!(db.run_write(insert(2)).await.expect("next write"), 2);
        assert_eq!(count(&db), 1, "nothing of the panicking write is kept");
    }
}
