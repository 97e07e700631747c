//! "Confirm it's you": the password again before a sensitive action. A page that needed it
//! comes back after the password; an action (a POST, which a redirect cannot replay) is offered
//! again as a form with a fresh CSRF token, so nothing the user chose is lost.

use crate::auth::{AuthError, SessionUser};
use crate::domain::{SessionId, UserId};
use crate::http::account_views::{ConfirmPage, PendingAction};
use crate::http::client::client_info;
use crate::http::error::{status_of, AppError};
use crate::http::forms::{CsrfCarrier, SessionForm};
use crate::http::guard::CurrentUser;
use crate::http::handlers::see_other;
use crate::http::next::safe_next;
use crate::http::state::AppState;
use crate::http::views::{render, Chrome};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

/// `?next=…`.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ConfirmQuery {
    next: Option<String>,
}

/// The confirmation form.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ConfirmForm {
    password: String,
    csrf_token: String,
    next: String,
}

impl CsrfCarrier for ConfirmForm {
    fn csrf_token(&self) -> &str {
        &self.csrf_token
    }
}

/// The sensitive action `next` names, if it is one (its own path, no query), in words.
async fn pending_action(st: &AppState, next: &str) -> Result<Option<PendingAction>, AppError> {
    if next.contains('?') {
        return Ok(None);
    }
    let parts: Vec<&str> = next.trim_start_matches('/').split('/').collect();
    let action = |label: &str, purpose: String, danger: bool| PendingAction {
        action: next.to_string(),
        label: label.to_string(),
        purpose,
        danger,
    };
    Ok(match parts.as_slice() {
        ["account", "sessions", "revoke-others"] => Some(action(
            "Sign out all other sessions",
            "sign out all your other sessions".into(),
            false,
        )),
        ["admin", "sessions", id, "revoke"] if SessionId::parse(id).is_some() => {
            Some(action("End the session", "end this session".into(), false))
        }
        ["admin", "users", id, op @ ("revoke-all" | "disable" | "enable")] => {
            let Some(user) = (match UserId::parse(id) {
                Some(_) => st.auth.find_user(id).await?,
                None => None,
            }) else {
                return Ok(None);
            };
            let email = user.email;
            Some(match *op {
                "revoke-all" => action(
                    "End all sessions",
                    format!("end every session of {email}"),
                    false,
                ),
                "disable" => action(
                    "Disable account",
                    format!("disable the account {email}"),
                    true,
                ),
                _ => action(
                    "Enable account",
                    format!("enable the account {email}"),
                    false,
                ),
            })
        }
        _ => None,
    })
}

/// Where "Cancel" goes: the page the action sits on, or `next` itself for a page.
fn back_from(next: &str, pending: bool) -> String {
    if !pending {
        return next.to_string();
    }
    if next.starts_with("/account/") {
        return "/account/sessions".into();
    }
    match next
        .trim_start_matches('/')
        .split('/')
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["admin", "users", id, _] => format!("/admin/users/{id}"),
        _ => "/admin".into(),
    }
}

fn page(
    st: &AppState,
    user: &SessionUser,
    next: String,
    pending: Option<PendingAction>,
    confirmed: bool,
    error: Option<String>,
) -> ConfirmPage {
    ConfirmPage {
        chrome: Chrome::signed_in(user, st.auth.csrf.for_session(user.session_id.as_str())),
        back: back_from(&next, pending.is_some()),
        next,
        pending,
        confirmed,
        lasts: crate::auth::lifetime(st.auth.settings.step_up_ttl),
        error,
    }
}

/// `GET /confirm?next=…`.
pub async fn form(
    st: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    q: web::Query<ConfirmQuery>,
) -> Result<HttpResponse, AppError> {
    let next = safe_next(q.next.as_deref());
    let pending = pending_action(&st, &next).await?;
    let confirmed = st.auth.is_confirmed(&user).await?;
    if confirmed && pending.is_none() {
        return Ok(see_other(&next));
    }
    let view = page(&st, &user, next, pending, confirmed, None);
    Ok(render(&mut HttpResponse::Ok(), &view))
}

/// `POST /confirm`: the password; then on to `next`, or the pending action offered again.
pub async fn submit(
    req: HttpRequest,
    st: web::Data<AppState>,
    f: SessionForm<ConfirmForm>,
) -> Result<HttpResponse, AppError> {
    let SessionForm { user, form } = f;
    let client = client_info(&req, &st.trusted_proxies);
    let next = safe_next(Some(&form.next));
    let outcome = st
        .auth
        .confirm_password(&user, &form.password, &client)
        .await;
    let pending = pending_action(&st, &next).await?;
    match outcome {
        Ok(()) if pending.is_none() => Ok(see_other(&next)),
        Ok(()) => Ok(render(
            &mut HttpResponse::Ok(),
            &page(&st, &user, next, pending, true, None),
        )),
        Err(e @ (AuthError::WrongPassword | AuthError::RateLimited { .. })) => {
            let mut res = HttpResponse::build(status_of(&e));
            let message = match e {
                AuthError::RateLimited { retry_after } => {
                    res.insert_header((header::RETRY_AFTER, HeaderValue::from(retry_after)));
                    format!("Too many wrong passwords. Try again in {retry_after} seconds.")
                }
                _ => "That password is not correct.".to_string(),
            };
            Ok(render(
                &mut res,
                &page(&st, &user, next, pending, false, Some(message)),
            ))
        }
        Err(e) => Err(e.into()),
    }
}
