//! The admin pages' queries: keyset-paginated lists that walk an index in order and stop after
//! one page, so their cost does not grow with the tables (see docs/SCALE.md).

use super::audit::{AuditKind, EventRow};
use super::schema::{audit_events as ae, sessions as s, users as u};
use super::sessions::SessionRow;
use super::{DbConnection, DbError};
use diesel::prelude::*;

/// An account as the admin lists show it (never the password hash).
#[derive(Clone, Debug, Queryable, Selectable)]
#[diesel(table_name = u)]
pub struct UserListRow {
    /// UUID text.
    pub id: String,
    /// Lower-cased address.
    pub email: String,
    /// `user` or `admin`.
    pub role: String,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// Epoch seconds.
    pub created_at: i64,
}

/// Escapes `LIKE` wildcards so a search matches the text as typed.
fn like_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len() + 2);
    p.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// Accounts by e-mail, ascending, after `after`, optionally containing `search`; walks the
/// e-mail index in order and stops after `limit` matches.
pub fn users_page(
    conn: &mut DbConnection,
    search: Option<&str>,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<UserListRow>, DbError> {
    let mut q = u::table
        .select(UserListRow::as_select())
        .order(u::email.asc())
        .limit(limit)
        .into_boxed();
    if let Some(text) = search {
        q = q.filter(u::email.like(like_pattern(text)).escape('\\'));
    }
    if let Some(a) = after {
        q = q.filter(u::email.gt(a));
    }
    Ok(q.load(conn)?)
}

/// One account.
pub fn user(conn: &mut DbConnection, id: &str) -> Result<Option<UserListRow>, DbError> {
    Ok(u::table
        .find(id)
        .select(UserListRow::as_select())
        .first(conn)
        .optional()?)
}

/// E-mails of the given accounts (to label audit rows).
pub fn emails_of(
    conn: &mut DbConnection,
    ids: &[String],
) -> Result<Vec<(String, String)>, DbError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(u::table
        .filter(u::id.eq_any(ids))
        .select((u::id, u::email))
        .load(conn)?)
}

/// Where a page of live sessions starts: after this (last active, id), newest first.
pub type SessionCursor = (i64, String);

/// Live sessions (not ended, not idle, not past their lifetime), newest activity first, with
/// their owner's e-mail; optionally of one user, after a cursor.
pub fn live_sessions_page(
    conn: &mut DbConnection,
    now: i64,
    idle_secs: i64,
    user_id: Option<&str>,
    after: Option<&SessionCursor>,
    limit: i64,
) -> Result<Vec<(SessionRow, String)>, DbError> {
    let mut q = s::table
        .inner_join(u::table)
        .filter(s::revoked_at.is_null())
        .filter(s::last_used_at.gt(now - idle_secs))
        .filter(s::expires_at.gt(now))
        .order((s::last_used_at.desc(), s::id.desc()))
        .select((SessionRow::as_select(), u::email))
        .limit(limit)
        .into_boxed();
    if let Some(uid) = user_id {
        q = q.filter(s::user_id.eq(uid));
    }
    if let Some((t, id)) = after {
        // The `le` bounds the index range; the `or` breaks ties by id.
        q = q
            .filter(s::last_used_at.le(*t))
            .filter(s::last_used_at.lt(*t).or(s::id.lt(id)));
    }
    Ok(q.load(conn)?)
}

/// How many sessions are live: an index-only range count over the partial `sessions_live` index.
pub fn count_live_sessions(
    conn: &mut DbConnection,
    now: i64,
    idle_secs: i64,
) -> Result<i64, DbError> {
    Ok(s::table
        .filter(s::revoked_at.is_null())
        .filter(s::last_used_at.gt(now - idle_secs))
        .filter(s::expires_at.gt(now))
        .count()
        .get_result(conn)?)
}

/// Audit events newest first, before an id, optionally of one user and/or kind.
pub fn audit_page(
    conn: &mut DbConnection,
    user_id: Option<&str>,
    kind: Option<AuditKind>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<EventRow>, DbError> {
    let mut q = ae::table
        .select(EventRow::as_select())
        .order(ae::id.desc())
        .limit(limit)
        .into_boxed();
    if let Some(uid) = user_id {
        q = q.filter(ae::user_id.eq(uid));
    }
    if let Some(k) = kind {
        q = q.filter(ae::kind.eq(k.as_str()));
    }
    if let Some(b) = before {
        q = q.filter(ae::id.lt(b));
    }
    Ok(q.load(conn)?)
}

/// The newest `limit` events among `kinds`: one indexed query per kind, merged, so a log full
/// of other kinds is never scanned.
pub fn latest_of_kinds(
    conn: &mut DbConnection,
    kinds: &[AuditKind],
    limit: i64,
) -> Result<Vec<EventRow>, DbError> {
    let mut all = Vec::new();
    for k in kinds {
        all.extend(audit_page(conn, None, Some(*k), None, limit)?);
    }
    all.sort_by_key(|e| std::cmp::Reverse(e.id));
    all.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(all)
}
