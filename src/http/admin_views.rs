//! View-models of the devices page and the admin pages: times in words, numbers grouped, audit
//! kinds in plain language; the chart's layout is in `chart.rs`.

use crate::auth::{AdminSession, AuditEntry, DeviceSession, UserSummary};
use crate::domain::Role;
use crate::http::views::Chrome;
use askama::Template;
use time::macros::format_description;
use time::OffsetDateTime;

/// A confirmation banner whose text may carry a number.
#[derive(Clone, Debug)]
pub struct Banner {
    /// CSS modifier (`success`, `info`, `warning`, `danger`).
    pub kind: &'static str,
    /// The sentence.
    pub text: String,
}

/// A time for people (`28 Nov 2026, 06:46 UTC`) and for machines (RFC 3339).
#[derive(Clone, Debug)]
pub struct When {
    /// `datetime` attribute.
    pub iso: String,
    /// Absolute, in UTC.
    pub text: String,
    /// Relative to now ("5 minutes ago").
    pub ago: String,
}

impl When {
    /// Formats epoch seconds against `now`.
    pub fn at(secs: i64, now: i64) -> Self {
        let fmt = format_description!(
            "[day padding:none] [month repr:short] [year], [hour]:[minute] UTC"
        );
        let t = OffsetDateTime::from_unix_timestamp(secs).ok();
        Self {
            iso: crate::http::error::rfc3339(secs),
            text: t.and_then(|t| t.format(&fmt).ok()).unwrap_or_default(),
            ago: ago(now - secs),
        }
    }
}

fn ago(secs: i64) -> String {
    let plural = |n: i64, unit: &str| format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
    match secs {
        s if s < 60 => "just now".into(),
        s if s < 3600 => plural(s / 60, "minute"),
        s if s < 86_400 => plural(s / 3600, "hour"),
        s => plural(s / 86_400, "day"),
    }
}

/// `1234567` → `1,234,567`.
pub fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        out.insert(0, '-');
    }
    out
}

/// One row of the devices page.
pub struct DeviceRow {
    /// Session id (form action).
    pub id: String,
    /// "Firefox on Linux".
    pub device: String,
    /// Client address.
    pub ip: String,
    /// Sign-in time.
    pub started: When,
    /// Last activity.
    pub last_active: When,
    /// This device.
    pub current: bool,
    /// Bound to a device key (DBSC).
    pub bound: bool,
}

impl DeviceRow {
    /// From the domain value.
    pub fn new(d: DeviceSession, now: i64) -> Self {
        Self {
            id: d.id.to_string(),
            device: d.device,
            ip: d.ip,
            started: When::at(d.started_at, now),
            last_active: When::at(d.last_active_at, now),
            current: d.current,
            bound: d.bound,
        }
    }
}

/// `GET /account/sessions`.
#[derive(Template)]
#[template(path = "sessions.html")]
pub struct DevicesPage {
    /// Frame.
    pub chrome: Chrome,
    /// Live sessions, this one first.
    pub sessions: Vec<DeviceRow>,
    /// Confirmation of the last action.
    pub notice: Option<Banner>,
}

/// A user row of the admin lists.
pub struct UserRowView {
    /// Id (links).
    pub id: String,
    /// E-mail.
    pub email: String,
    /// Whether admin.
    pub admin: bool,
    /// Whether disabled.
    pub disabled: bool,
    /// Creation time.
    pub created: When,
}

impl UserRowView {
    /// From the domain value.
    pub fn new(u: UserSummary, now: i64) -> Self {
        Self {
            id: u.id.to_string(),
            email: u.email,
            admin: u.role == Role::Admin,
            disabled: u.disabled,
            created: When::at(u.created_at, now),
        }
    }
}

/// A session row of the admin pages.
pub struct SessionRowView {
    /// Session id.
    pub id: String,
    /// Owner id.
    pub user_id: String,
    /// Owner e-mail.
    pub email: String,
    /// "Firefox on Linux".
    pub device: String,
    /// Last address.
    pub ip: String,
    /// Sign-in time.
    pub started: When,
    /// Last activity.
    pub last_active: When,
    /// Bound to a device key (DBSC).
    pub bound: bool,
}

impl SessionRowView {
    /// From the domain value.
    pub fn new(s: AdminSession, now: i64) -> Self {
        Self {
            id: s.id.to_string(),
            user_id: s.user_id.to_string(),
            email: s.email,
            device: s.device,
            ip: s.ip,
            started: When::at(s.started_at, now),
            last_active: When::at(s.last_active_at, now),
            bound: s.bound,
        }
    }
}

/// An audit row.
pub struct AuditRowView {
    /// When.
    pub at: When,
    /// Stored kind (filter links).
    pub kind: String,
    /// In words.
    pub label: &'static str,
    /// Whether to highlight it.
    pub alarming: bool,
    /// (id, e-mail) of the user concerned.
    pub user: Option<(String, String)>,
    /// (id, e-mail) of who acted.
    pub actor: Option<(String, String)>,
    /// The account acted on itself.
    pub by_self: bool,
    /// Client address.
    pub ip: String,
    /// Details in words (empty when there are none).
    pub detail: String,
}

/// Audit kinds in plain words.
pub fn kind_label(kind: &str) -> &'static str {
    crate::auth::title(kind)
}

impl AuditRowView {
    /// From the domain value.
    pub fn new(e: AuditEntry, now: i64) -> Self {
        let pair =
            |p: Option<(crate::domain::UserId, String)>| p.map(|(id, m)| (id.to_string(), m));
        let by_self = matches!((&e.user, &e.actor), (Some((u, _)), Some((a, _))) if u == a);
        let words = e.words(crate::auth::Audience::Admin);
        Self {
            by_self,
            at: When::at(e.at, now),
            label: words.title,
            alarming: matches!(
                e.kind.as_str(),
                "refresh_reuse_detected" | "user_disabled" | "dbsc_proof_failed"
            ),
            kind: e.kind,
            user: pair(e.user),
            actor: pair(e.actor),
            ip: e.ip,
            detail: words.detail,
        }
    }
}

/// The dashboard's counts, formatted.
pub struct Stats {
    /// Accounts.
    pub users: String,
    /// Live sessions.
    pub active_sessions: String,
    /// "counted 2 minutes ago" when the figure is a remembered count.
    pub active_sessions_note: Option<String>,
    /// Sign-ins, 24 h.
    pub sign_ins_24h: String,
    /// Sign-ins, 7 days.
    pub sign_ins_7d: String,
    /// Reuse detections, 24 h.
    pub reuses_24h: String,
    /// Reuse detections, 7 days.
    pub reuses_7d: String,
    /// Whether any reuse happened in the last 24 h (highlighted).
    pub reuse_alert: bool,
}

/// `GET /admin`.
#[derive(Template)]
#[template(path = "admin/dashboard.html")]
pub struct DashboardPage {
    /// Frame.
    pub chrome: Chrome,
    /// Which admin tab is active.
    pub tab: &'static str,
    /// Counts.
    pub stats: Stats,
    /// Latest security events.
    pub events: Vec<AuditRowView>,
    /// The activity chart.
    pub chart: super::chart::ChartView,
}

/// `GET /admin/users`.
#[derive(Template)]
#[template(path = "admin/users.html")]
pub struct UsersPage {
    /// Frame.
    pub chrome: Chrome,
    /// Which admin tab is active.
    pub tab: &'static str,
    /// The search text.
    pub q: String,
    /// The rows.
    pub users: Vec<UserRowView>,
    /// Link to the next page.
    pub next: Option<String>,
    /// Whether this is not the first page.
    pub paged: bool,
}

/// `GET /admin/users/{id}`.
#[derive(Template)]
#[template(path = "admin/user.html")]
pub struct UserPage {
    /// Frame.
    pub chrome: Chrome,
    /// Which admin tab is active.
    pub tab: &'static str,
    /// The account.
    pub user: UserRowView,
    /// Whether it is the admin looking.
    pub is_self: bool,
    /// Live sessions.
    pub sessions: Vec<SessionRowView>,
    /// Latest events about the account.
    pub events: Vec<AuditRowView>,
    /// Confirmation of the last action.
    pub notice: Option<Banner>,
}

/// `GET /admin/sessions`.
#[derive(Template)]
#[template(path = "admin/sessions.html")]
pub struct SessionsPage {
    /// Frame.
    pub chrome: Chrome,
    /// Which admin tab is active.
    pub tab: &'static str,
    /// The user filter as typed.
    pub user: String,
    /// The filter named no known user.
    pub unknown_user: bool,
    /// The rows.
    pub sessions: Vec<SessionRowView>,
    /// Link to the next page.
    pub next: Option<String>,
    /// Whether this is not the first page.
    pub paged: bool,
}

/// `GET /admin/audit`.
#[derive(Template)]
#[template(path = "admin/audit.html")]
pub struct AuditPage {
    /// Frame.
    pub chrome: Chrome,
    /// Which admin tab is active.
    pub tab: &'static str,
    /// The user filter as typed.
    pub user: String,
    /// The filter named no known user.
    pub unknown_user: bool,
    /// The kind filter (stored spelling, or empty).
    pub kind: String,
    /// Every kind, for the select: (value, label).
    pub kinds: Vec<(&'static str, &'static str)>,
    /// The rows.
    pub events: Vec<AuditRowView>,
    /// Link to the next page.
    pub next: Option<String>,
    /// Whether this is not the first page.
    pub paged: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_times_read_well() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(grouped(1_234_567), "1,234,567");
        assert_eq!(grouped(-12_345), "-12,345");
        let w = When::at(1_796_000_000, 1_796_000_000 + 7200);
        assert_eq!(w.ago, "2 hours ago");
        assert!(w.text.ends_with("UTC"), "{}", w.text);
        assert_eq!(When::at(10, 40).ago, "just now");
    }
}
