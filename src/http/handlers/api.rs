//! The JSON API (CONTRACT §6). Bearer clients never get silent refresh; cookie clients do, and
//! must send `X-CSRF-Token` on state changes.

use crate::auth::{AuthError, Issued, RefreshToken};
use crate::http::client::client_info;
use crate::http::error::AppError;
use crate::http::guard::{via, CurrentUser, Via};
use crate::http::json::{JsonObject, NoBody};
use crate::http::state::AppState;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

/// `POST /api/auth/token` body.
#[derive(Deserialize)]
pub struct TokenRequest {
    email: String,
    password: String,
}

/// `POST /api/auth/refresh` body.
#[derive(Deserialize)]
pub struct RefreshRequest {
    refresh_token: String,
}

fn pair(issued: &Issued) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "access_token": issued.access_token,
        "refresh_token": issued.refresh_token.expose(),
        "token_type": "Bearer",
        "expires_in": issued.user.access_expires_at - crate::db::now(),
    }))
}

/// Issues a token pair for e-mail and password.
pub async fn token(
    req: HttpRequest,
    st: web::Data<AppState>,
    JsonObject(body): JsonObject<TokenRequest>,
) -> Result<HttpResponse, AppError> {
    let client = client_info(&req, &st.trusted_proxies);
    let issued = st
        .auth
        .login(&body.email, &body.password, &client, None)
        .await?;
    Ok(pair(&issued))
}

/// Rotates a refresh token.
pub async fn refresh(
    req: HttpRequest,
    st: web::Data<AppState>,
    JsonObject(body): JsonObject<RefreshRequest>,
) -> Result<HttpResponse, AppError> {
    let token = RefreshToken::parse(&body.refresh_token).ok_or(AuthError::SessionExpired)?;
    let client = client_info(&req, &st.trusted_proxies);
    Ok(pair(&st.auth.refresh(token, client).await?))
}

/// Ends the caller's session.
pub async fn logout(
    req: HttpRequest,
    st: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    _: NoBody,
) -> Result<HttpResponse, AppError> {
    if via(&req) == Via::Cookie {
        let sent = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !st.auth.csrf.check_session(user.session_id.as_str(), sent) {
            return Err(AuthError::CsrfFailed.into());
        }
        crate::http::guard::push_cookies(&req, st.cookies.clear_session());
    }
    let client = client_info(&req, &st.trusted_proxies);
    st.auth.logout(&user, &client).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Who the caller is.
pub async fn me(CurrentUser(user): CurrentUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "id": user.user_id,
        "email": user.email.as_str(),
        "role": user.role,
        "session_id": user.session_id,
    }))
}
