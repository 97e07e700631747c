//! The database: one connection type over SQLite and PostgreSQL, an r2d2 pool that fails fast,
//! embedded migrations per backend, and the queries (one module per table).
//!
//! Reads go through [`Db::run`], which takes a pooled connection on the blocking pool so neither
//! Diesel nor the pool wait ever stalls an async worker. Writes go through [`Db::run_write`]:
//! on SQLite they run on one writer thread that commits them in groups (`writer.rs`), on
//! PostgreSQL like reads.

pub mod activity;
pub mod admin;
pub mod audit;
pub mod dbsc;
pub mod login_failures;
pub mod revocations;
pub mod schema;
pub mod sessions;
pub mod sign_ups;
pub mod tokens;
pub mod url;
pub mod users;
mod writer;

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

pub use connection::DbConnection;

mod connection {
    // The derive generates undocumented helper items.
    #![allow(missing_docs)]

    /// One connection, to whichever backend `DATABASE_URL` names.
    #[derive(diesel::MultiConnection)]
    pub enum DbConnection {
        /// An embedded SQLite file.
        Sqlite(diesel::SqliteConnection),
        /// A PostgreSQL server.
        Pg(diesel::PgConnection),
    }
}

/// Why a database call failed; the HTTP layer answers every variant with 503 or a conflict.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// `DATABASE_URL` names no backend Latchkey speaks.
    #[error("{0}")]
    BadUrl(String),
    /// No connection could be had in time, the server is down, or SQLite stayed busy.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    /// A unique constraint refused the write.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Any other query failure.
    #[error("query failed: {0}")]
    Query(diesel::result::Error),
}

impl From<diesel::result::Error> for DbError {
    fn from(e: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind as K, Error as E};
        match e {
            E::DatabaseError(K::UniqueViolation, info) => {
                DbError::Conflict(info.message().to_string())
            }
            E::DatabaseError(K::ClosedConnection | K::UnableToSendCommand, info) => {
                DbError::Unavailable(info.message().to_string())
            }
            E::DatabaseError(_, ref info)
                if info.message().contains("database is locked")
                    || info.message().contains("database is busy") =>
            {
                DbError::Unavailable(info.message().to_string())
            }
            other => DbError::Query(other),
        }
    }
}

/// Which backend a URL selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Opens connections itself so a failure reports the real cause (the stock manager's
/// multi-backend `establish` replaces it with "invalid connection url").
#[derive(Clone)]
pub struct Manager {
    url: String,
    backend: Backend,
}

impl r2d2::ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        use diesel::r2d2::Error as E;
        match self.backend {
            Backend::Postgres => {
                // `url` already carries a `connect_timeout` (see `Db::connect`).
                let mut c =
                    diesel::PgConnection::establish(&self.url).map_err(E::ConnectionError)?;
                c.batch_execute("SET statement_timeout = '10s'")
                    .map_err(E::QueryError)?;
                Ok(DbConnection::Pg(c))
            }
            Backend::Sqlite => {
                let mut c =
                    diesel::SqliteConnection::establish(&self.url).map_err(E::ConnectionError)?;
                // WAL itself is set once in `connect`, before the pool exists.
                c.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                )
                .map_err(E::QueryError)?;
                Ok(DbConnection::Sqlite(c))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        use diesel::r2d2::R2D2Connection;
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        use diesel::r2d2::R2D2Connection;
        conn.is_broken()
    }
}

/// The shared pool, cheap to clone.
#[derive(Clone)]
pub struct Db {
    pool: r2d2::Pool<Manager>,
    backend: Backend,
    url: String,
    queries: Arc<AtomicU64>,
    /// On SQLite, the one thread that runs every write, committing them in groups (see
    /// `writer.rs`); on PostgreSQL writes use the pool like reads.
    writer: Option<Arc<writer::Writer>>,
    /// How long a request waits for a connection (and for its turn to write).
    timeout: Duration,
    failures: Arc<AtomicU64>,
}

impl Db {
    /// Builds the pool without waiting for the database, so the process can start (and
    /// `/readyz` say 503) while the database is still down.
    pub fn connect(url: &str, size: u32, timeout: Duration) -> Result<Self, DbError> {
        let backend = Backend::parse(url)?;
        let url = match backend {
            Backend::Postgres => url::with_connect_timeout(url, timeout.as_secs()),
            Backend::Sqlite => url.to_string(),
        };
        if backend == Backend::Sqlite {
            // Stored in the file; doing it per connection logged "database is locked".
            let mut c = diesel::SqliteConnection::establish(&url).map_err(|e| {
                DbError::Unavailable(format!("cannot open SQLite database {url}: {e}"))
            })?;
            c.batch_execute("PRAGMA journal_mode = WAL;")
                .map_err(|e| DbError::Unavailable(format!("cannot enable WAL on {url}: {e}")))?;
        }
        let queries = Arc::new(AtomicU64::new(0));
        let failures = Arc::new(AtomicU64::new(0));
        let manager = Manager {
            url: url.clone(),
            backend,
        };
        let writer = match backend {
            Backend::Sqlite => {
                let w = writer::Writer::start(manager.clone(), queries.clone(), failures.clone())
                    .map_err(|e| {
                    DbError::Unavailable(format!("cannot start the writer: {e}"))
                })?;
                Some(Arc::new(w))
            }
            Backend::Postgres => None,
        };
        let pool = r2d2::Pool::builder()
            .max_size(size)
            .min_idle(Some(0))
            .connection_timeout(timeout)
            // A server restart or a cut network leaves dead sockets in the pool that diesel's
            // `is_broken` cannot see; a ping on check-out finds them so service resumes on its
            // own once the server is back. SQLite files do not go away under us.
            .test_on_check_out(backend == Backend::Postgres)
            .error_handler(Box::new(QuietErrors))
            .build_unchecked(manager);
        Ok(Self {
            pool,
            backend,
            url,
            queries,
            writer,
            timeout,
            failures,
        })
    }

    /// Which backend this pool talks to.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Opens one connection now and returns the real error if that fails (start-up check).
    pub fn check(&self) -> Result<(), DbError> {
        use r2d2::ManageConnection;
        let manager = Manager {
            url: self.url.clone(),
            backend: self.backend,
        };
        manager.connect().map(drop).map_err(|e| {
            let reason = match e {
                diesel::r2d2::Error::ConnectionError(e) => e.to_string(),
                diesel::r2d2::Error::QueryError(e) => e.to_string(),
            };
            let what = match self.backend {
                Backend::Postgres => "PostgreSQL",
                Backend::Sqlite => "SQLite",
            };
            DbError::Unavailable(format!(
                "cannot connect to {what} at {}: {}",
                url::redacted(&self.url),
                url::one_line(&reason)
            ))
        })
    }

    /// Applies pending embedded migrations (serialised across instances on PostgreSQL).
    pub fn migrate(&self) -> Result<usize, DbError> {
        let mut conn = self.get()?;
        let result = match &mut *conn {
            DbConnection::Pg(pg) => {
                pg.batch_execute("SELECT pg_advisory_lock(7351203)")?;
                let r = pg
                    .run_pending_migrations(POSTGRES_MIGRATIONS)
                    .map(|v| v.len());
                pg.batch_execute("SELECT pg_advisory_unlock(7351203)")?;
                r
            }
            DbConnection::Sqlite(lite) => lite
                .run_pending_migrations(SQLITE_MIGRATIONS)
                .map(|v| v.len()),
        };
        result.map_err(|e| DbError::Unavailable(format!("migration failed: {e}")))
    }

    /// Takes a connection now, on the calling thread (only for blocking contexts).
    pub fn get(&self) -> Result<r2d2::PooledConnection<Manager>, DbError> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        self.pool.get().map_err(|e| {
            self.failures.fetch_add(1, Ordering::Relaxed);
            DbError::Unavailable(e.to_string())
        })
    }

    /// Runs `f` with a pooled connection on the blocking pool: for reads (writes go through
    /// [`Self::run_write`], so SQLite writers never collide inside one process).
    pub async fn run<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = db.get()?;
            f(&mut conn)
        })
        .await
        .map_err(|e| DbError::Unavailable(format!("blocking task failed: {e}")))?
    }

    /// Like [`Self::run`], for a closure that writes: on SQLite it runs on the writer thread and
    /// returns once committed; a write still queued after the pool timeout is dropped unrun.
    pub async fn run_write<T, F>(&self, f: F) -> Result<T, DbError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, DbError> + Send + 'static,
    {
        match &self.writer {
            Some(w) => w.run(self.timeout, f).await,
            None => self.run(f).await,
        }
    }

    /// A connection of its own, outside the pool, for background work that must not wait
    /// behind requests for a pooled one (the revocation sync).
    pub fn dedicated(&self) -> Result<DbConnection, DbError> {
        use r2d2::ManageConnection;
        let manager = Manager {
            url: self.url.clone(),
            backend: self.backend,
        };
        manager
            .connect()
            .map_err(|e| DbError::Unavailable(e.to_string()))
    }

    /// How many connections have been checked out since start: the hot-path test reads it.
    pub fn checkouts(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Pool size and idle connections, for metrics.
    pub fn pool_state(&self) -> (u32, u32) {
        let s = self.pool.state();
        (s.connections, s.idle_connections)
    }

    /// The most connections the pool opens.
    pub fn pool_max(&self) -> u32 {
        self.pool.max_size()
    }

    /// How many times no connection could be had in time (each became a 503), for metrics.
    pub fn checkout_failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}

/// r2d2 logs every failed connect at `error`; the caller reports the outage once instead.
#[derive(Debug)]
struct QuietErrors;

impl r2d2::HandleError<diesel::r2d2::Error> for QuietErrors {
    fn handle_error(&self, error: diesel::r2d2::Error) {
        log::debug!("database connection attempt failed: {error}");
    }
}

/// Seconds since the Unix epoch, the unit of every stored time.
pub fn now() -> i64 {
    // SystemTime, not OffsetDateTime: every request asks, and only the seconds are wanted,
    // not a calendar date. A clock before 1970 reads as 0.
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
