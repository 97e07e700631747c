//! The admin actions: each a CSRF-checked POST by a (re-checked) admin, confirmed on the user's
//! page that follows.

use crate::auth::AuthError;
use crate::domain::{SessionId, UserId};
use crate::http::client::client_info;
use crate::http::error::AppError;
use crate::http::forms::SessionForm;
use crate::http::guard::Admin;
use crate::http::handlers::auth_pages::CsrfOnly;
use crate::http::handlers::see_other;
use crate::http::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};

fn user_id(raw: &str) -> Result<UserId, AppError> {
    Ok(UserId::parse(raw).ok_or(AuthError::NotFound)?)
}

/// `POST /admin/sessions/{id}/revoke`.
pub async fn revoke_session(
    req: HttpRequest,
    st: web::Data<AppState>,
    Admin(admin): Admin,
    id: web::Path<String>,
    _f: SessionForm<CsrfOnly>,
) -> Result<HttpResponse, AppError> {
    let id = SessionId::parse(&id).ok_or(AuthError::NotFound)?;
    let client = client_info(&req, &st.trusted_proxies);
    let (owner, ended) = st.auth.admin_revoke_session(&admin, &id, &client).await?;
    let notice = if ended {
        "session_revoked"
    } else {
        "session_already_ended"
    };
    Ok(see_other(
        &st.urls.at(&format!("/admin/users/{owner}?notice={notice}")),
    ))
}

/// `POST /admin/users/{id}/revoke-all`.
pub async fn revoke_all(
    req: HttpRequest,
    st: web::Data<AppState>,
    Admin(admin): Admin,
    id: web::Path<String>,
    _f: SessionForm<CsrfOnly>,
) -> Result<HttpResponse, AppError> {
    let id = user_id(&id)?;
    let client = client_info(&req, &st.trusted_proxies);
    let n = st.auth.admin_revoke_all(&admin, &id, &client).await?;
    Ok(see_other(&st.urls.at(&format!(
        "/admin/users/{id}?notice=sessions_revoked_all&n={n}"
    ))))
}

async fn set_disabled(
    req: HttpRequest,
    st: web::Data<AppState>,
    admin: crate::auth::SessionUser,
    id: &str,
    disabled: bool,
) -> Result<HttpResponse, AppError> {
    let id = user_id(id)?;
    let client = client_info(&req, &st.trusted_proxies);
    let n = st
        .auth
        .admin_set_disabled(&admin, &id, disabled, &client)
        .await?;
    Ok(see_other(&st.urls.at(&if disabled {
        format!("/admin/users/{id}?notice=user_disabled&n={n}")
    } else {
        format!("/admin/users/{id}?notice=user_enabled")
    })))
}

/// `POST /admin/users/{id}/disable`: also ends every session of the account.
pub async fn disable(
    req: HttpRequest,
    st: web::Data<AppState>,
    Admin(admin): Admin,
    id: web::Path<String>,
    _f: SessionForm<CsrfOnly>,
) -> Result<HttpResponse, AppError> {
    set_disabled(req, st, admin, &id, true).await
}

/// `POST /admin/users/{id}/enable`.
pub async fn enable(
    req: HttpRequest,
    st: web::Data<AppState>,
    Admin(admin): Admin,
    id: web::Path<String>,
    _f: SessionForm<CsrfOnly>,
) -> Result<HttpResponse, AppError> {
    set_disabled(req, st, admin, &id, false).await
}
