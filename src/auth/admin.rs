//! What admins see: the dashboard figures, paginated users, sessions and audit log, one user's
//! page. The actions (end sessions, disable, enable) live in `admin_actions.rs`.

use super::devices::describe_device;
use super::{AuthError, AuthService, SessionUser};
use crate::db::activity::{self, ActivityKind, HOUR};
use crate::db::admin::{self as q, UserListRow};
use crate::db::audit::{AuditKind, EventRow};
use crate::db::sessions::SessionRow;
use crate::db::{self, users};
use crate::domain::{Email, Role, SessionId, UserId};
use std::collections::HashMap;
use std::sync::Arc;

/// Rows per list page.
pub const PAGE_SIZE: i64 = 50;
const DAY: i64 = 24 * HOUR;

/// One page of a keyset-paginated list.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The rows.
    pub items: Vec<T>,
    /// The cursor of the next page, if there is one.
    pub next: Option<String>,
}

/// An account in the admin lists.
#[derive(Clone, Debug)]
pub struct UserSummary {
    /// Id.
    pub id: UserId,
    /// E-mail.
    pub email: String,
    /// Role.
    pub role: Role,
    /// Whether it is disabled.
    pub disabled: bool,
    /// Creation time.
    pub created_at: i64,
}

impl From<UserListRow> for UserSummary {
    fn from(r: UserListRow) -> Self {
        Self {
            role: Role::from_db(&r.role),
            id: UserId::from_db(r.id),
            email: r.email,
            disabled: r.disabled,
            created_at: r.created_at,
        }
    }
}

/// A live session as admins see it.
#[derive(Clone, Debug)]
pub struct AdminSession {
    /// Id.
    pub id: SessionId,
    /// Owner.
    pub user_id: UserId,
    /// Owner's e-mail.
    pub email: String,
    /// "Firefox on Linux".
    pub device: String,
    /// Last client address.
    pub ip: String,
    /// Sign-in time.
    pub started_at: i64,
    /// Last activity.
    pub last_active_at: i64,
}

impl AdminSession {
    fn new(r: SessionRow, email: String) -> Self {
        Self {
            device: describe_device(&r.last_user_agent),
            id: SessionId::from_db(r.id),
            user_id: UserId::from_db(r.user_id),
            email,
            ip: r.last_ip,
            started_at: r.created_at,
            last_active_at: r.last_used_at,
        }
    }
}

/// An audit event with the e-mails of the user and actor it names.
#[derive(Clone, Debug)]
pub struct AuditEntry {
    /// Id (the audit cursor).
    pub id: i64,
    /// Time.
    pub at: i64,
    /// Kind, as stored.
    pub kind: String,
    /// The user concerned and their e-mail (or "deleted account").
    pub user: Option<(UserId, String)>,
    /// Who acted, and their e-mail.
    pub actor: Option<(UserId, String)>,
    /// The session concerned.
    pub session_id: Option<String>,
    /// Client address.
    pub ip: String,
    /// JSON details.
    pub detail: String,
}

/// Filters of the admin session list.
#[derive(Clone, Debug, Default)]
pub struct SessionFilter {
    /// Only this user's sessions.
    pub user: Option<UserId>,
    /// The cursor from the previous page.
    pub after: Option<String>,
}

/// Filters of the audit log.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    /// Only events about this user.
    pub user: Option<UserId>,
    /// Only events of this kind.
    pub kind: Option<AuditKind>,
    /// The cursor from the previous page.
    pub before: Option<String>,
}

/// One user with their live sessions and latest events.
#[derive(Clone, Debug)]
pub struct UserDetail {
    /// The account.
    pub user: UserSummary,
    /// Live sessions, newest activity first.
    pub sessions: Vec<AdminSession>,
    /// Latest audit events about the account.
    pub events: Vec<AuditEntry>,
}

/// Sign-ins, refreshes and reuse detections in one period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActivityPoint {
    /// Start of the period, epoch seconds.
    pub start: i64,
    /// Sessions started.
    pub sign_ins: i64,
    /// Refresh tokens rotated.
    pub refreshes: i64,
    /// Reuse detections.
    pub reuses: i64,
}

/// The activity chart's data: per day over 14 days, or per hour over 48 hours.
#[derive(Clone, Debug)]
pub struct ActivityChart {
    /// Whether periods are hours (else days).
    pub hourly: bool,
    /// Oldest first.
    pub points: Vec<ActivityPoint>,
}

/// The dashboard's figures.
#[derive(Clone, Debug)]
pub struct Dashboard {
    /// Accounts.
    pub users: i64,
    /// Live sessions.
    pub active_sessions: i64,
    /// When that was counted, if it is a remembered count rather than one made just now.
    pub active_sessions_counted_at: Option<i64>,
    /// Sign-ins in the last 24 hours.
    pub sign_ins_24h: i64,
    /// Sign-ins in the last 7 days.
    pub sign_ins_7d: i64,
    /// Reuse detections in the last 24 hours.
    pub reuses_24h: i64,
    /// Reuse detections in the last 7 days.
    pub reuses_7d: i64,
    /// The latest security events.
    pub recent: Vec<AuditEntry>,
    /// Activity over time.
    pub chart: ActivityChart,
}

/// Kinds shown as "security events" on the dashboard (routine sign-ins are left out).
const SECURITY_KINDS: [AuditKind; 7] = [
    AuditKind::RefreshReuseDetected,
    AuditKind::LoginFailed,
    AuditKind::SessionRevoked,
    AuditKind::SessionsRevokedAll,
    AuditKind::PasswordChanged,
    AuditKind::UserDisabled,
    AuditKind::UserEnabled,
];

/// Buckets hourly counts into the chart's periods, oldest first, ending with the current one.
fn chart_points(rows: &[(ActivityKind, i64, i64)], now: i64, hourly: bool) -> Vec<ActivityPoint> {
    let (step, count) = if hourly { (HOUR, 48) } else { (DAY, 14) };
    let last = now - now.rem_euclid(step);
    let first = last - (count - 1) * step;
    let mut points: Vec<ActivityPoint> = (0..count)
        .map(|i| ActivityPoint {
            start: first + i * step,
            ..ActivityPoint::default()
        })
        .collect();
    for &(kind, bucket, n) in rows {
        if bucket < first {
            continue;
        }
        let Some(p) = usize::try_from((bucket - first) / step)
            .ok()
            .and_then(|i| points.get_mut(i))
        else {
            continue;
        };
        match kind {
            ActivityKind::SignIn => p.sign_ins += n,
            ActivityKind::Refresh => p.refreshes += n,
            ActivityKind::Reuse => p.reuses += n,
        }
    }
    points
}

fn sum(rows: &[(ActivityKind, i64, i64)], kind: ActivityKind, since: i64) -> i64 {
    rows.iter()
        .filter(|(k, b, _)| *k == kind && *b >= since)
        .map(|(_, _, n)| n)
        .sum()
}

/// Labels events with the e-mails of the accounts they name (one query per page).
fn label_events(
    c: &mut db::DbConnection,
    rows: Vec<EventRow>,
) -> Result<Vec<AuditEntry>, db::DbError> {
    let mut ids: Vec<String> = rows
        .iter()
        .flat_map(|r| [r.user_id.clone(), r.actor_id.clone()])
        .flatten()
        .collect();
    ids.sort();
    ids.dedup();
    let emails: HashMap<String, String> = q::emails_of(c, &ids)?.into_iter().collect();
    let label = |id: Option<String>| {
        id.map(|id| {
            let email = emails
                .get(&id)
                .cloned()
                .unwrap_or_else(|| "deleted account".into());
            (UserId::from_db(id), email)
        })
    };
    Ok(rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            at: r.at,
            user: label(r.user_id),
            actor: label(r.actor_id),
            kind: r.kind,
            session_id: r.session_id,
            ip: r.ip,
            detail: r.detail,
        })
        .collect())
}

fn parse_session_cursor(raw: &str) -> Option<(i64, String)> {
    let (t, id) = raw.split_once('.')?;
    Some((t.parse().ok()?, SessionId::parse(id)?.to_string()))
}

impl AuthService {
    /// Re-checks in the database that an admin token's holder is still an enabled admin, so a
    /// demoted or disabled admin is refused even while their access token lives.
    pub async fn ensure_admin(&self, user: &SessionUser) -> Result<(), AuthError> {
        let uid = user.user_id.to_string();
        match self.db.run(move |c| users::find(c, &uid)).await? {
            Some(u) if u.role == Role::Admin.as_str() && !u.disabled => Ok(()),
            _ => Err(AuthError::Forbidden),
        }
    }

    /// Writes the in-memory activity counts to the database now.
    pub async fn flush_activity(&self) -> Result<(), AuthError> {
        let buffer = self.activity.clone();
        Ok(self.db.run(move |c| buffer.flush(c)).await?)
    }

    /// The dashboard: counts, latest security events, and the activity chart.
    pub async fn dashboard(self: &Arc<Self>, hourly: bool) -> Result<Dashboard, AuthError> {
        let live = self.active_sessions().await?;
        let (now, buffer) = (db::now(), self.activity.clone());
        Ok(self
            .db
            .run(move |c| {
                if let Err(e) = buffer.flush(c) {
                    log::warn!("activity counts not written yet: {e}");
                }
                let rows = activity::since(c, now - 14 * DAY)?;
                let recent = q::latest_of_kinds(c, &SECURITY_KINDS, 10)?;
                Ok(Dashboard {
                    users: users::count(c)?,
                    active_sessions: live.value,
                    active_sessions_counted_at: live.slow.then_some(live.at),
                    sign_ins_24h: sum(&rows, ActivityKind::SignIn, now - DAY),
                    sign_ins_7d: sum(&rows, ActivityKind::SignIn, now - 7 * DAY),
                    reuses_24h: sum(&rows, ActivityKind::Reuse, now - DAY),
                    reuses_7d: sum(&rows, ActivityKind::Reuse, now - 7 * DAY),
                    recent: label_events(c, recent)?,
                    chart: ActivityChart {
                        hourly,
                        points: chart_points(&rows, now, hourly),
                    },
                })
            })
            .await?)
    }

    /// A user named by id or e-mail (the filters of the admin lists accept either).
    pub async fn find_user(&self, raw: &str) -> Result<Option<UserSummary>, AuthError> {
        let raw = raw.trim();
        let id = UserId::parse(raw);
        let email = Email::parse(raw).ok();
        if id.is_none() && email.is_none() {
            return Ok(None);
        }
        Ok(self
            .db
            .run(move |c| match (id, email) {
                (Some(id), _) => q::user(c, id.as_str()),
                (None, Some(e)) => Ok(users::find_by_email(c, e.as_str())?.map(|u| UserListRow {
                    id: u.id,
                    email: u.email,
                    role: u.role,
                    disabled: u.disabled,
                    created_at: u.created_at,
                })),
                (None, None) => Ok(None),
            })
            .await?
            .map(UserSummary::from))
    }

    /// Accounts by e-mail, optionally containing `search`.
    pub async fn list_users(
        &self,
        search: Option<String>,
        after: Option<String>,
    ) -> Result<Page<UserSummary>, AuthError> {
        // PostgreSQL refuses NUL in text; no e-mail holds a control character anyway.
        let clean = |s: &str| s.chars().filter(|c| !c.is_control()).collect::<String>();
        let search = search
            .map(|s| clean(s.trim()).to_lowercase())
            .filter(|s| !s.is_empty() && s.len() <= 254);
        let after = after
            .filter(|a| !a.is_empty() && a.len() <= 254)
            .map(|a| clean(&a));
        let mut rows = self
            .db
            .run(move |c| q::users_page(c, search.as_deref(), after.as_deref(), PAGE_SIZE + 1))
            .await?;
        let next = (rows.len() as i64 > PAGE_SIZE).then(|| {
            rows.truncate(PAGE_SIZE as usize);
            rows.last().map(|r| r.email.clone()).unwrap_or_default()
        });
        Ok(Page {
            items: rows.into_iter().map(UserSummary::from).collect(),
            next,
        })
    }

    /// Live sessions, newest activity first.
    pub async fn list_sessions(&self, f: SessionFilter) -> Result<Page<AdminSession>, AuthError> {
        let (now, idle) = (db::now(), self.settings.idle_ttl);
        let after = f.after.as_deref().and_then(parse_session_cursor);
        let uid = f.user.map(|u| u.to_string());
        let mut rows = self
            .db
            .run(move |c| {
                q::live_sessions_page(c, now, idle, uid.as_deref(), after.as_ref(), PAGE_SIZE + 1)
            })
            .await?;
        let next = (rows.len() as i64 > PAGE_SIZE).then(|| {
            rows.truncate(PAGE_SIZE as usize);
            rows.last()
                .map(|(s, _)| format!("{}.{}", s.last_used_at, s.id))
                .unwrap_or_default()
        });
        Ok(Page {
            items: rows
                .into_iter()
                .map(|(s, e)| AdminSession::new(s, e))
                .collect(),
            next,
        })
    }

    /// The audit log, newest first.
    pub async fn audit_log(&self, f: AuditFilter) -> Result<Page<AuditEntry>, AuthError> {
        let before = f.before.as_deref().and_then(|b| b.parse::<i64>().ok());
        let (uid, kind) = (f.user.map(|u| u.to_string()), f.kind);
        let mut entries = self
            .db
            .run(move |c| {
                let rows = q::audit_page(c, uid.as_deref(), kind, before, PAGE_SIZE + 1)?;
                label_events(c, rows)
            })
            .await?;
        let next = (entries.len() as i64 > PAGE_SIZE).then(|| {
            entries.truncate(PAGE_SIZE as usize);
            entries.last().map(|e| e.id.to_string()).unwrap_or_default()
        });
        Ok(Page {
            items: entries,
            next,
        })
    }

    /// One user with their live sessions and latest events; [`AuthError::NotFound`] if none.
    pub async fn user_detail(&self, id: &UserId) -> Result<UserDetail, AuthError> {
        let (now, idle, uid) = (db::now(), self.settings.idle_ttl, id.to_string());
        self.db
            .run(move |c| {
                let Some(user) = q::user(c, &uid)? else {
                    return Ok(None);
                };
                let sessions = q::live_sessions_page(c, now, idle, Some(&uid), None, 100)?;
                let events = q::audit_page(c, Some(&uid), None, None, 20)?;
                Ok(Some(UserDetail {
                    user: user.into(),
                    sessions: sessions
                        .into_iter()
                        .map(|(s, e)| AdminSession::new(s, e))
                        .collect(),
                    events: label_events(c, events)?,
                }))
            })
            .await?
            .ok_or(AuthError::NotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hourly_counts_land_in_their_day_and_old_ones_are_left_out() {
        let now = 100 * DAY + 5 * HOUR;
        let rows = vec![
            (ActivityKind::SignIn, 100 * DAY, 2),
            (ActivityKind::SignIn, 100 * DAY + 3 * HOUR, 1),
            (ActivityKind::Refresh, 99 * DAY + HOUR, 7),
            (ActivityKind::Reuse, 80 * DAY, 9),
        ];
        let days = chart_points(&rows, now, false);
        assert_eq!(days.len(), 14);
        let today = days[13];
        assert_eq!(
            (today.start, today.sign_ins, today.refreshes),
            (100 * DAY, 3, 0)
        );
        assert_eq!(days[12].refreshes, 7);
        assert_eq!(days.iter().map(|p| p.reuses).sum::<i64>(), 0);
        let hours = chart_points(&rows, now, true);
        assert_eq!(hours.len(), 48);
        assert_eq!(hours[47].start, now);
        assert_eq!((hours[42].sign_ins, hours[45].sign_ins), (2, 1));
    }

    #[test]
    fn session_cursors_parse_only_our_shape() {
        let id = SessionId::generate();
        assert_eq!(
            parse_session_cursor(&format!("12.{id}")),
            Some((12, id.to_string()))
        );
        for bad in ["", ".", "x.y", "12.nope", "12"] {
            assert!(parse_session_cursor(bad).is_none(), "{bad}");
        }
    }
}
