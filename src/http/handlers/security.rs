//! The account's security history, and the reuse explanation shown on it after signing in.

use crate::auth::HISTORY_DAYS;
use crate::http::account_views::{HistoryRow, SecurityPage};
use crate::http::error::AppError;
use crate::http::guard::CurrentUser;
use crate::http::next::{checked_next, encode};
use crate::http::state::AppState;
use crate::http::views::{render, Chrome};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

/// `?before=…` (the page cursor), and after signing in again `?explain=ID&next=PATH`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct HistoryQuery {
    before: Option<String>,
    explain: Option<String>,
    next: Option<String>,
}

/// `GET /account/security`.
pub async fn history(
    req: HttpRequest,
    st: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    q: web::Query<HistoryQuery>,
) -> Result<HttpResponse, AppError> {
    let now = crate::db::now();
    let page = st.auth.security_history(&user, q.before.as_deref()).await?;
    let explain = q.explain.as_deref().and_then(|s| s.parse::<i64>().ok());
    let reuse = match explain {
        // Only on the first page, and only the user's own reuse detection.
        Some(id) if q.before.is_none() => st
            .auth
            .reuse_event(&user, id)
            .await?
            .map(|e| HistoryRow::new(e, now)),
        _ => None,
    };
    // `next` as the sign-in form allowed it (a forward-auth app's URL too).
    let here = st.urls.at("/account/security");
    let continue_to = reuse
        .as_ref()
        .and_then(|_| checked_next(&req, &st, q.next.as_deref()))
        .filter(|n| n != "/" && !n.starts_with(&here));
    let view = SecurityPage {
        chrome: Chrome::signed_in(
            &st.urls,
            &user,
            st.auth.csrf.for_session(user.session_id.as_str()),
        ),
        reuse,
        continue_to,
        events: page
            .items
            .into_iter()
            .map(|e| HistoryRow::new(e, now))
            .collect(),
        next: page.next.map(|c| {
            st.urls
                .at(&format!("/account/security?before={}", encode(&c)))
        }),
        paged: q.before.is_some(),
        days: HISTORY_DAYS,
    };
    Ok(render(&mut HttpResponse::Ok(), &view))
}
