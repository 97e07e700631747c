//! What admins see: paginated users, sessions and audit log, and one user's page. The
//! dashboard is in `dashboard.rs`. The actions (end sessions, disable, enable) live in `admin_actions.rs`.

use super::devices::describe_device;
use super::{AuthError, AuthService, SessionUser};
use crate::db::admin::{self as q, UserListRow};
use crate::db::audit::{AuditKind, EventRow};
use crate::db::sessions::SessionRow;
use crate::db::{self, users};
use crate::domain::{Email, Role, SessionId, UserId};
use std::collections::HashMap;

/// Rows per list page.
pub const PAGE_SIZE: i64 = 50;

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
    /// Whether a browser bound it to its device key (DBSC).
    pub bound: bool,
}

impl AdminSession {
    fn new(r: SessionRow, email: String) -> Self {
        Self {
            device: describe_device(&r.last_user_agent),
            bound: r.dbsc_key.is_some(),
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
    /// Client user agent.
    pub user_agent: String,
    /// JSON details (read them through [`super::describe`]).
    pub detail: String,
}

impl AuditEntry {
    /// The event in words for `audience`.
    pub fn words(&self, audience: super::Audience) -> super::EventWords {
        let by_self = matches!((&self.user, &self.actor), (Some((u, _)), Some((a, _))) if u == a);
        super::describe(
            &super::EventFacts {
                kind: &self.kind,
                at: self.at,
                detail: &self.detail,
                user_agent: &self.user_agent,
                ip: &self.ip,
                by_self,
            },
            audience,
        )
    }
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

/// Labels events with the e-mails of the accounts they name (one query per page).
pub(super) fn label_events(
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
            user_agent: r.user_agent,
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
        let search = search
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty());
        // No address holds a control character (PostgreSQL refuses NUL in text anyway) or runs
        // past 254 bytes. Such a search matches nobody; dropping it would list everyone under
        // the search the admin typed.
        if search
            .as_deref()
            .is_some_and(|s| s.len() > 254 || s.chars().any(char::is_control))
        {
            return Ok(Page {
                items: Vec::new(),
                next: None,
            });
        }
        let after = after
            .filter(|a| !a.is_empty() && a.len() <= 254)
            .map(|a| a.chars().filter(|c| !c.is_control()).collect::<String>());
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
