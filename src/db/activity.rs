//! Hourly activity counters (sign-ins, refreshes, reuse detections) behind the admin chart.

use super::schema::activity as a;
use super::{DbConnection, DbError};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

/// Seconds in one counter bucket.
pub const HOUR: i64 = 3600;

/// What is counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActivityKind {
    /// A session was started (sign-in or sign-up).
    SignIn,
    /// A refresh token was rotated.
    Refresh,
    /// Refresh-token reuse was detected.
    Reuse,
}

impl ActivityKind {
    /// Every kind, in chart order.
    pub const ALL: [ActivityKind; 3] = [Self::SignIn, Self::Refresh, Self::Reuse];

    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "sign_in",
            Self::Refresh => "refresh",
            Self::Reuse => "reuse",
        }
    }

    /// Parses the stored spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The start of the hour containing `t`.
pub fn bucket_of(t: i64) -> i64 {
    t - t.rem_euclid(HOUR)
}

/// Adds `n` to one hourly counter in a single upsert (the same SQL on both backends; only the
/// placeholder spelling differs).
pub fn add(
    conn: &mut DbConnection,
    kind: ActivityKind,
    bucket: i64,
    n: i64,
) -> Result<(), DbError> {
    const TAIL: &str = "ON CONFLICT (kind, bucket) DO UPDATE SET n = activity.n + excluded.n";
    match conn {
        DbConnection::Sqlite(c) => {
            diesel::sql_query(format!(
                "INSERT INTO activity (kind, bucket, n) VALUES (?, ?, ?) {TAIL}"
            ))
            .bind::<Text, _>(kind.as_str())
            .bind::<BigInt, _>(bucket)
            .bind::<BigInt, _>(n)
            .execute(c)?;
        }
        DbConnection::Pg(c) => {
            diesel::sql_query(format!(
                "INSERT INTO activity (kind, bucket, n) VALUES ($1, $2, $3) {TAIL}"
            ))
            .bind::<Text, _>(kind.as_str())
            .bind::<BigInt, _>(bucket)
            .bind::<BigInt, _>(n)
            .execute(c)?;
        }
    }
    Ok(())
}

/// Every counter from `since` on: (kind, bucket start, count).
pub fn since(
    conn: &mut DbConnection,
    since: i64,
) -> Result<Vec<(ActivityKind, i64, i64)>, DbError> {
    let rows: Vec<(String, i64, i64)> = a::table
        .filter(a::bucket.ge(since))
        .select((a::kind, a::bucket, a::n))
        .load(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|(k, b, n)| ActivityKind::parse(&k).map(|k| (k, b, n)))
        .collect())
}
