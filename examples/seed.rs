//! Seeds a database with many users, sessions, audit events and activity counters, to measure
//! the admin pages and the devices page at scale (docs/SCALE.md).
//!
//! ```text
//! cargo run --release --example seed -- --database-url sqlite://scale.db --users 100000 --sessions 1000000
//! ```
//!
//! Rows go in one at a time (the portable Diesel connection has no multi-row insert) but
//! batched inside transactions, which is what makes it fast on SQLite. The admin account
//! (`--admin-email`, password `--admin-password`) can sign in and owns a handful of sessions.
//! Seeded sessions carry no refresh token: they are for listing, counting and ending, not
//! for refreshing.

use clap::Parser;
use diesel::connection::SimpleConnection;
use diesel::Connection;
use latchkey::auth::PasswordHasher;
use latchkey::db::activity::{self, ActivityKind, HOUR};
use latchkey::db::audit::{self, AuditKind, NewEvent};
use latchkey::db::sessions::{self, SessionRow};
use latchkey::db::users::{self, NewUser};
use latchkey::db::{Db, DbConnection, DbError};
use latchkey::domain::NewPassword;
use rand::RngExt;
use std::collections::HashMap;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(about = "Seed a Latchkey database for scale measurements")]
struct Args {
    /// `sqlite://PATH` or `postgres://…` (migrations are applied first).
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Accounts to create (besides the admin).
    #[arg(long, default_value_t = 100_000)]
    users: u64,
    /// Sessions to create, spread over the accounts and the last 30 days.
    #[arg(long, default_value_t = 1_000_000)]
    sessions: u64,
    /// The admin who signs in to look at the pages.
    #[arg(long, default_value = "admin@example.com")]
    admin_email: String,
    /// The admin's password (every seeded account shares it).
    #[arg(long, default_value = "correct horse battery staple")]
    admin_password: String,
    /// bcrypt cost of that password.
    #[arg(long, default_value_t = 10)]
    bcrypt_cost: u32,
    /// Rows per transaction.
    #[arg(long, default_value_t = 20_000)]
    batch: u64,
}

const DAY: i64 = 86_400;
const AGENTS: [&str; 4] = [
    "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15",
];

/// Runs `total` steps in transactions of `batch`, printing progress.
fn batched(
    conn: &mut DbConnection,
    what: &str,
    total: u64,
    batch: u64,
    mut step: impl FnMut(&mut DbConnection, u64) -> Result<(), DbError>,
) -> Result<(), DbError> {
    let started = Instant::now();
    let mut done = 0;
    while done < total {
        let end = (done + batch).min(total);
        conn.transaction(|c| (done..end).try_for_each(|i| step(c, i)))?;
        done = end;
        eprintln!("{what}: {done}/{total} ({:.1?})", started.elapsed());
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let db = Db::connect(&args.database_url, 2, Duration::from_secs(30))?;
    db.migrate()?;
    let password = NewPassword::parse(args.admin_password.clone())?;
    let hash = PasswordHasher::new(args.bcrypt_cost, 1).hash_blocking(&password)?;
    let now = latchkey::db::now();
    let mut pooled = db.get()?;
    let conn: &mut DbConnection = &mut pooled;
    let mut rng = rand::rng();

    let admin_id = uuid::Uuid::new_v4().to_string();
    users::insert(
        conn,
        &NewUser {
            id: &admin_id,
            email: &args.admin_email,
            password_hash: &hash,
            role: "admin",
            disabled: false,
            created_at: now - 365 * DAY,
            updated_at: now - 365 * DAY,
        },
    )?;

    let mut ids = Vec::with_capacity(args.users as usize);
    batched(conn, "users", args.users, args.batch, |c, i| {
        let id = uuid::Uuid::new_v4().to_string();
        let created = now - rng.random_range(DAY..365 * DAY);
        users::insert(
            c,
            &NewUser {
                id: &id,
                email: &format!("user{i:07}@example.com"),
                password_hash: &hash,
                role: "user",
                disabled: i % 500 == 0,
                created_at: created,
                updated_at: created,
            },
        )?;
        ids.push(id);
        Ok(())
    })?;
    ids.push(admin_id.clone());

    let mut sign_ins: HashMap<i64, i64> = HashMap::new();
    let mut rng = rand::rng();
    batched(conn, "sessions", args.sessions, args.batch, |c, i| {
        // A few sessions for the admin too, so the devices page has something to list.
        let owner = if i < 5 {
            &admin_id
        } else {
            &ids[rng.random_range(0..ids.len())]
        };
        let created = now - rng.random_range(0..30 * DAY);
        let last = created + rng.random_range(0..=(now - created));
        let revoked = rng.random_range(0..10) == 0;
        let ua = AGENTS[rng.random_range(0..AGENTS.len())];
        let ip = format!(
            "10.{}.{}.{}",
            rng.random_range(0..256),
            rng.random_range(0..256),
            rng.random_range(1..255)
        );
        let row = SessionRow {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: owner.clone(),
            created_at: created,
            last_used_at: last,
            expires_at: created + 30 * DAY,
            revoked_at: None,
            revoked_reason: None,
            created_ip: ip.clone(),
            created_user_agent: ua.into(),
            last_ip: ip.clone(),
            last_user_agent: ua.into(),
            confirmed_at: None,
            dbsc_key: None,
            dbsc_bound_at: None,
        };
        sessions::insert(c, &row)?;
        if revoked {
            sessions::revoke(c, &row.id, "revoked", last)?;
        }
        let kind = if i % 100 == 0 {
            AuditKind::LoginFailed
        } else if i % 5000 == 0 {
            AuditKind::RefreshReuseDetected
        } else {
            AuditKind::LoginSucceeded
        };
        let event = NewEvent {
            kind,
            user_id: Some(owner),
            session_id: Some(&row.id),
            actor_id: Some(owner),
            ip: &ip,
            user_agent: ua,
            detail: serde_json::json!({ "seeded": true }),
        };
        audit::record(c, &event, created)?;
        *sign_ins.entry(activity::bucket_of(created)).or_insert(0) += 1;
        Ok(())
    })?;

    let buckets: Vec<(i64, i64)> = sign_ins.into_iter().collect();
    let mut rng = rand::rng();
    batched(
        conn,
        "activity",
        buckets.len() as u64,
        args.batch,
        |c, i| {
            let (bucket, n) = buckets[i as usize];
            activity::add(c, ActivityKind::SignIn, bucket, n)?;
            activity::add(
                c,
                ActivityKind::Refresh,
                bucket,
                n * rng.random_range(8..24),
            )?;
            if bucket % (7 * HOUR) == 0 {
                activity::add(c, ActivityKind::Reuse, bucket, rng.random_range(1..4))?;
            }
            Ok(())
        },
    )?;
    // Fresh statistics so both planners see the real table sizes.
    conn.batch_execute("ANALYZE").map_err(DbError::from)?;
    eprintln!("done: sign in as {} to look around", args.admin_email);
    Ok(())
}
