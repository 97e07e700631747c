//! The admin pages (reading): dashboard, users, one user, sessions, audit log.

use crate::auth::{AuditFilter, AuthError, SessionFilter};
use crate::db::audit::AuditKind;
use crate::domain::UserId;
use crate::http::admin_views::{
    grouped, kind_label, AuditPage, AuditRowView, Banner, DashboardPage, SessionRowView,
    SessionsPage, Stats, UserPage, UserRowView, UsersPage, When,
};
use crate::http::chart::ChartView;
use crate::http::error::AppError;
use crate::http::guard::Admin;
use crate::http::state::AppState;
use crate::http::views::{render, Chrome};
use actix_web::{web, HttpResponse};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;

/// Query strings of the admin pages; every field optional, unknown values ignored.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct AdminQuery {
    q: Option<String>,
    after: Option<String>,
    before: Option<String>,
    user: Option<String>,
    kind: Option<String>,
    chart: Option<String>,
    notice: Option<String>,
    n: Option<u32>,
}

fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

fn chrome(st: &AppState, admin: &crate::auth::SessionUser) -> Chrome {
    Chrome::signed_in(
        &st.urls,
        admin,
        st.auth.csrf.for_session(admin.session_id.as_str()),
    )
}

/// `GET /admin`.
pub async fn dashboard(
    st: web::Data<AppState>,
    Admin(admin): Admin,
    q: web::Query<AdminQuery>,
) -> Result<HttpResponse, AppError> {
    let now = crate::db::now();
    let d = st
        .auth
        .dashboard(q.chart.as_deref() == Some("hours"))
        .await?;
    let page = DashboardPage {
        chrome: chrome(&st, &admin),
        tab: "dashboard",
        stats: Stats {
            users: grouped(d.users),
            active_sessions: d
                .active_sessions
                .map_or_else(|| "–".to_string(), |c| grouped(c.value)),
            active_sessions_note: Some(counted_note(d.active_sessions.map(|c| c.at), now)),
            sign_ins_24h: grouped(d.sign_ins_24h),
            sign_ins_7d: grouped(d.sign_ins_7d),
            reuses_24h: grouped(d.reuses_24h),
            reuses_7d: grouped(d.reuses_7d),
            reuse_alert: d.reuses_24h > 0,
        },
        events: d
            .recent
            .into_iter()
            .map(|e| AuditRowView::new(e, now))
            .collect(),
        chart: ChartView::new(&d.chart),
    };
    Ok(render(&mut HttpResponse::Ok(), &page))
}

/// `GET /admin/users?q=…&after=…`.
pub async fn users(
    st: web::Data<AppState>,
    Admin(admin): Admin,
    q: web::Query<AdminQuery>,
) -> Result<HttpResponse, AppError> {
    let now = crate::db::now();
    let q = q.into_inner();
    let search = q.q.clone().unwrap_or_default();
    let paged = q.after.is_some();
    let page = st.auth.list_users(q.q, q.after).await?;
    let view = UsersPage {
        chrome: chrome(&st, &admin),
        tab: "users",
        next: page.next.map(|a| {
            st.urls.at(&format!(
                "/admin/users?q={}&after={}",
                enc(&search),
                enc(&a)
            ))
        }),
        q: search,
        users: page
            .items
            .into_iter()
            .map(|u| UserRowView::new(u, now))
            .collect(),
        paged,
    };
    Ok(render(&mut HttpResponse::Ok(), &view))
}

fn user_notice(q: &AdminQuery) -> Option<Banner> {
    let count = |n: Option<u32>| match n {
        Some(1) => "1 session was ended.".to_string(),
        Some(n) => format!("{n} sessions were ended."),
        None => String::new(),
    };
    let (kind, text) = match q.notice.as_deref()? {
        "session_revoked" => ("success", "The session was ended.".to_string()),
        "session_already_ended" => ("info", "That session had already ended.".to_string()),
        "sessions_revoked_all" => (
            "success",
            format!("All sessions of this account were ended. {}", count(q.n)),
        ),
        "user_disabled" => (
            "warning",
            format!(
                "The account was disabled and cannot sign in. {}",
                count(q.n)
            ),
        ),
        "user_enabled" => (
            "success",
            "The account was enabled and can sign in again.".to_string(),
        ),
        _ => return None,
    };
    Some(Banner {
        kind,
        text: text.trim_end().to_string(),
    })
}

/// `GET /admin/users/{id}`.
pub async fn user(
    st: web::Data<AppState>,
    Admin(admin): Admin,
    id: web::Path<String>,
    q: web::Query<AdminQuery>,
) -> Result<HttpResponse, AppError> {
    let now = crate::db::now();
    let id = UserId::parse(&id).ok_or(AuthError::NotFound)?;
    let d = st.auth.user_detail(&id).await?;
    let page = UserPage {
        chrome: chrome(&st, &admin),
        tab: "users",
        is_self: d.user.id == admin.user_id,
        user: UserRowView::new(d.user, now),
        sessions: d
            .sessions
            .into_iter()
            .map(|s| SessionRowView::new(s, now))
            .collect(),
        events: d
            .events
            .into_iter()
            .map(|e| AuditRowView::new(e, now))
            .collect(),
        notice: user_notice(&q),
    };
    Ok(render(&mut HttpResponse::Ok(), &page))
}

/// Resolves the `user` filter (id or e-mail): `(typed text, user id, named nobody)`.
async fn user_filter(
    st: &AppState,
    raw: Option<&str>,
) -> Result<(String, Option<UserId>, bool), AppError> {
    let typed = raw.unwrap_or("").trim().to_string();
    if typed.is_empty() {
        return Ok((typed, None, false));
    }
    let found = st.auth.find_user(&typed).await?;
    let unknown = found.is_none();
    Ok((typed, found.map(|u| u.id), unknown))
}

/// `GET /admin/sessions?user=…&after=…`.
pub async fn sessions(
    st: web::Data<AppState>,
    Admin(admin): Admin,
    q: web::Query<AdminQuery>,
) -> Result<HttpResponse, AppError> {
    let now = crate::db::now();
    let (typed, user, unknown_user) = user_filter(&st, q.user.as_deref()).await?;
    let page = if unknown_user {
        crate::auth::Page {
            items: Vec::new(),
            next: None,
        }
    } else {
        let filter = SessionFilter {
            user,
            after: q.after.clone(),
        };
        st.auth.list_sessions(filter).await?
    };
    let view = SessionsPage {
        chrome: chrome(&st, &admin),
        tab: "sessions",
        next: page.next.map(|a| {
            st.urls.at(&format!(
                "/admin/sessions?user={}&after={}",
                enc(&typed),
                enc(&a)
            ))
        }),
        user: typed,
        unknown_user,
        sessions: page
            .items
            .into_iter()
            .map(|s| SessionRowView::new(s, now))
            .collect(),
        paged: q.after.is_some(),
    };
    Ok(render(&mut HttpResponse::Ok(), &view))
}

/// `GET /admin/audit?user=…&kind=…&before=…`.
pub async fn audit(
    st: web::Data<AppState>,
    Admin(admin): Admin,
    q: web::Query<AdminQuery>,
) -> Result<HttpResponse, AppError> {
    let now = crate::db::now();
    let (typed, user, unknown_user) = user_filter(&st, q.user.as_deref()).await?;
    let kind = q.kind.as_deref().and_then(AuditKind::parse);
    let page = if unknown_user {
        crate::auth::Page {
            items: Vec::new(),
            next: None,
        }
    } else {
        let filter = AuditFilter {
            user,
            kind,
            before: q.before.clone(),
        };
        st.auth.audit_log(filter).await?
    };
    let kind_str = kind.map(|k| k.as_str()).unwrap_or("");
    let view = AuditPage {
        chrome: chrome(&st, &admin),
        tab: "audit",
        next: page.next.map(|b| {
            st.urls.at(&format!(
                "/admin/audit?user={}&kind={}&before={}",
                enc(&typed),
                kind_str,
                enc(&b)
            ))
        }),
        user: typed,
        unknown_user,
        kind: kind_str.to_string(),
        kinds: AuditKind::ALL
            .iter()
            .map(|k| (k.as_str(), kind_label(k.as_str())))
            .collect(),
        events: page
            .items
            .into_iter()
            .map(|e| AuditRowView::new(e, now))
            .collect(),
        paged: q.before.is_some(),
    };
    Ok(render(&mut HttpResponse::Ok(), &view))
}

/// How old the live-session count is, in words: it is counted in the background (see
/// `auth::live_count`), so the dashboard says when.
fn counted_note(at: Option<i64>, now: i64) -> String {
    let Some(at) = at else {
        return "not counted yet: counting now".into();
    };
    match now - at {
        age if age < 2 => "counted just now".into(),
        age if age < 60 => format!("counted {age} s ago"),
        _ => format!("counted {}", When::at(at, now).ago),
    }
}
