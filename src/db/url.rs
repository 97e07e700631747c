//! `DATABASE_URL`: which backend it names, what to show of it in messages, and the connection
//! options Latchkey adds so an unreachable server fails in seconds.

use super::{Backend, DbError};

/// Schemes that name SQLite; a string without `://` is a SQLite path too.
const SQLITE_SCHEMES: &[&str] = &["sqlite", "file"];
/// Schemes that name PostgreSQL.
const POSTGRES_SCHEMES: &[&str] = &["postgres", "postgresql"];

impl Backend {
    /// `postgres://` and `postgresql://` select PostgreSQL; `sqlite://`, `file://` and a bare path
    /// select SQLite; any other scheme (`mysql://…`) is refused rather than taken for a file name.
    pub fn parse(url: &str) -> Result<Self, DbError> {
        let Some((scheme, _)) = url.split_once("://") else {
            return Ok(Backend::Sqlite);
        };
        let scheme = scheme.to_ascii_lowercase();
        if POSTGRES_SCHEMES.contains(&scheme.as_str()) {
            Ok(Backend::Postgres)
        } else if SQLITE_SCHEMES.contains(&scheme.as_str()) {
            Ok(Backend::Sqlite)
        } else {
            Err(DbError::BadUrl(format!(
                "unsupported scheme \"{scheme}://\": use sqlite://PATH (or a bare path) or postgres://USER@HOST/DB"
            )))
        }
    }
}

/// The URL as it may appear in a message: no password, no query string.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split(':').next().unwrap_or_default();
            format!("{user}@{host}")
        }
        None => authority.to_string(),
    };
    format!("{scheme}://{authority}{path}")
}

/// Adds libpq's `connect_timeout` unless the URL sets one: without it a host that drops packets
/// holds a connection attempt (and a pool thread) for minutes.
pub fn with_connect_timeout(url: &str, secs: u64) -> String {
    if url.contains("connect_timeout=") {
        return url.to_string();
    }
    // libpq treats anything below 2 s as 2 s.
    let secs = secs.max(2);
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}connect_timeout={secs}")
}

/// A driver message on one line: libpq's are several ("connection to server … failed:\n\tFATAL …").
pub fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_select_their_backend_and_unknown_ones_are_refused() {
        assert_eq!(Backend::parse("latchkey.db").ok(), Some(Backend::Sqlite));
        assert_eq!(Backend::parse("/var/lib/lk.db").ok(), Some(Backend::Sqlite));
        assert_eq!(Backend::parse("sqlite://lk.db").ok(), Some(Backend::Sqlite));
        assert_eq!(
            Backend::parse("postgres://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            Backend::parse("PostgreSQL://u@h/db").ok(),
            Some(Backend::Postgres)
        );
        for bad in [
            "mysql://root@localhost/lk",
            "http://example.com/db",
            "redis://x",
        ] {
            let err = Backend::parse(bad).expect_err(bad).to_string();
            assert!(err.contains("unsupported scheme"), "{bad}: {err}");
        }
    }

    #[test]
    fn messages_never_show_the_password() {
        assert_eq!(
            redacted("postgres://app:s3cret@db.internal:5432/latchkey?sslmode=require"),
            "postgres://app@db.internal:5432/latchkey"
        );
        assert_eq!(redacted("postgres://db/latchkey"), "postgres://db/latchkey");
        assert_eq!(redacted("sqlite://lk.db"), "sqlite://lk.db");
        assert_eq!(redacted("lk.db"), "lk.db");
    }

    #[test]
    fn a_connect_timeout_is_added_once() {
        assert_eq!(
            with_connect_timeout("postgres://h/db", 3),
            "postgres://h/db?connect_timeout=3"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?sslmode=disable", 1),
            "postgres://h/db?sslmode=disable&connect_timeout=2"
        );
        assert_eq!(
            with_connect_timeout("postgres://h/db?connect_timeout=9", 3),
            "postgres://h/db?connect_timeout=9"
        );
    }

    #[test]
    fn driver_messages_fit_on_one_line() {
        assert_eq!(
            one_line("connection to server failed:\n\tFATAL:  role \"x\" does not exist\n"),
            "connection to server failed: FATAL: role \"x\" does not exist"
        );
    }
}
