//! The devices page: where the user is signed in, and ending those sessions.

use crate::auth::RevokedOwn;
use crate::domain::SessionId;
use crate::http::admin_views::{Banner, DeviceRow, DevicesPage};
use crate::http::client::client_info;
use crate::http::error::AppError;
use crate::http::forms::SessionForm;
use crate::http::guard::CurrentUser;
use crate::http::handlers::auth_pages::{signed_out, CsrfOnly};
use crate::http::handlers::see_other;
use crate::http::state::AppState;
use crate::http::views::{render, Chrome};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

/// `?notice=…&n=…` after an action.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NoticeQuery {
    notice: Option<String>,
    n: Option<u32>,
}

/// Fixed confirmations, chosen by key so no user text is ever echoed from the URL.
fn notice(q: &NoticeQuery) -> Option<Banner> {
    let text = match (q.notice.as_deref()?, q.n) {
        ("session_revoked", _) => "The session was ended. That device is signed out.".into(),
        ("others_revoked", Some(0)) => "There were no other sessions to end.".into(),
        ("others_revoked", Some(1)) => "1 other session was ended.".into(),
        ("others_revoked", Some(n)) => format!("{n} other sessions were ended."),
        ("others_revoked", None) => "Every other session was ended.".into(),
        _ => return None,
    };
    Some(Banner {
        kind: "success",
        text,
    })
}

/// `GET /account/sessions`.
pub async fn list(
    st: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    q: web::Query<NoticeQuery>,
) -> Result<HttpResponse, AppError> {
    let now = crate::db::now();
    let sessions = st.auth.my_sessions(&user).await?;
    let page = DevicesPage {
        chrome: Chrome::signed_in(
            &st.urls,
            &user,
            st.auth.csrf.for_session(user.session_id.as_str()),
        ),
        sessions: sessions
            .into_iter()
            .map(|d| DeviceRow::new(d, now))
            .collect(),
        notice: notice(&q),
    };
    Ok(render(&mut HttpResponse::Ok(), &page))
}

/// `POST /account/sessions/{id}/revoke`: only the user's own sessions; ending this one signs out.
pub async fn revoke(
    req: HttpRequest,
    st: web::Data<AppState>,
    id: web::Path<String>,
    f: SessionForm<CsrfOnly>,
) -> Result<HttpResponse, AppError> {
    let id = SessionId::parse(&id).ok_or(crate::auth::AuthError::NotFound)?;
    let client = client_info(&req, &st.trusted_proxies);
    match st.auth.revoke_my_session(&f.user, &id, &client).await? {
        RevokedOwn::Current => Ok(signed_out(&req, &st)),
        RevokedOwn::Other => Ok(see_other(
            &st.urls.at("/account/sessions?notice=session_revoked"),
        )),
    }
}

/// `POST /account/sessions/revoke-others`.
pub async fn revoke_others(
    req: HttpRequest,
    st: web::Data<AppState>,
    f: SessionForm<CsrfOnly>,
) -> Result<HttpResponse, AppError> {
    let client = client_info(&req, &st.trusted_proxies);
    let n = st.auth.revoke_my_other_sessions(&f.user, &client).await?;
    Ok(see_other(&st.urls.at(&format!(
        "/account/sessions?notice=others_revoked&n={n}"
    ))))
}
