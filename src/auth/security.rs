//! What a user sees of their own account's security: their history (90 days, newest first, in
//! words) and, on the first sign-in after a reuse sign-out, what happened.

use super::admin::Page;
use super::words::{describe, Audience, EventFacts, EventWords};
use super::{AuthError, AuthService, SessionUser};
use crate::db::audit::{self, AuditKind, EventRow};
use crate::db::{self, DbConnection, DbError};

/// How far back the history goes.
pub const HISTORY_DAYS: i64 = 90;
/// Events per history page.
pub const HISTORY_PAGE: i64 = 25;

/// One event of the user's history.
#[derive(Clone, Debug)]
pub struct HistoryEntry {
    /// Audit id.
    pub id: i64,
    /// When, epoch seconds.
    pub at: i64,
    /// Title and sentence, addressed to the owner.
    pub words: EventWords,
    /// Whether it deserves attention (reuse, failed sign-in, disabled account).
    pub alarming: bool,
}

impl HistoryEntry {
    fn new(r: &EventRow) -> Self {
        let facts = EventFacts {
            kind: &r.kind,
            at: r.at,
            detail: &r.detail,
            user_agent: &r.user_agent,
            ip: &r.ip,
            by_self: r.actor_id.is_some() && r.actor_id == r.user_id,
        };
        Self {
            id: r.id,
            at: r.at,
            words: describe(&facts, Audience::Owner),
            alarming: matches!(
                r.kind.as_str(),
                "refresh_reuse_detected" | "login_failed" | "user_disabled"
            ),
        }
    }
}

/// `at.id`, the history's cursor.
fn parse_cursor(raw: &str) -> Option<(i64, i64)> {
    let (at, id) = raw.split_once('.')?;
    Some((at.parse().ok()?, id.parse().ok()?))
}

/// The reuse detection to explain at a sign-in: the newest one on the account, if no sign-in
/// has happened since (so it is explained once, at the first sign-in after it). Runs inside the
/// sign-in transaction, before that sign-in is recorded.
pub(super) fn reuse_to_explain(
    c: &mut DbConnection,
    user_id: &str,
) -> Result<Option<i64>, DbError> {
    let Some(reuse) = audit::latest_id(c, user_id, AuditKind::RefreshReuseDetected)? else {
        return Ok(None);
    };
    let last_sign_in = audit::latest_id(c, user_id, AuditKind::LoginSucceeded)?;
    Ok((last_sign_in < Some(reuse)).then_some(reuse))
}

impl AuthService {
    /// The user's own security history, newest first, 90 days, a page at a time; `before` is
    /// the cursor of the previous page (anything unreadable starts from the newest).
    pub async fn security_history(
        &self,
        user: &SessionUser,
        before: Option<&str>,
    ) -> Result<Page<HistoryEntry>, AuthError> {
        let since = db::now() - HISTORY_DAYS * 86_400;
        let before = before.and_then(parse_cursor);
        let uid = user.user_id.to_string();
        let mut rows = self
            .db
            .run(move |c| audit::history_page(c, &uid, since, before, HISTORY_PAGE + 1))
            .await?;
        let next = (rows.len() as i64 > HISTORY_PAGE).then(|| {
            rows.truncate(HISTORY_PAGE as usize);
            rows.last()
                .map(|r| format!("{}.{}", r.at, r.id))
                .unwrap_or_default()
        });
        Ok(Page {
            items: rows.iter().map(HistoryEntry::new).collect(),
            next,
        })
    }

    /// A reuse detection on the user's own account, for the explanation after signing in
    /// again (`None` for any other id, including another account's event).
    pub async fn reuse_event(
        &self,
        user: &SessionUser,
        id: i64,
    ) -> Result<Option<HistoryEntry>, AuthError> {
        let uid = user.user_id.to_string();
        let row = self
            .db
            .run(move |c| audit::find_for_user(c, id, &uid))
            .await?;
        Ok(row
            .filter(|r| r.kind == AuditKind::RefreshReuseDetected.as_str())
            .map(|r| HistoryEntry::new(&r)))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_cursor;

    #[test]
    fn history_cursors_parse_only_our_shape() {
        assert_eq!(parse_cursor("12.34"), Some((12, 34)));
        for bad in ["", ".", "x.1", "1.x", "12", "1.2.3"] {
            assert!(parse_cursor(bad).is_none(), "{bad}");
        }
    }
}
