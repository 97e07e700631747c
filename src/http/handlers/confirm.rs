//! "Confirm it's you": the password again before a sensitive action. A page that needed it
//! comes back after the password; an action (a POST, which a redirect cannot replay) is offered
//! again as a form with a fresh CSRF token, so nothing the user chose is lost.

use crate::auth::{AuthError, SessionUser};
use crate::domain::{SessionId, UserId};
use crate::http::account_views::{ConfirmPage, PendingAction};
use crate::http::client::client_info;
use crate::http::error::{status_of, AppError};
use crate::http::forms::SessionForm;
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

/// The confirmation form (its `csrf_token` is checked by [`SessionForm`]).
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ConfirmForm {
    password: String,
    next: String,
}

/// The sensitive action `next` (a full path, base path included) names, if it is one (its own
/// path, no query), in words.
async fn pending_action(st: &AppState, next: &str) -> Result<Option<PendingAction>, AppError> {
    let Some(route) = st.urls.local(next).filter(|r| !r.contains(['?', '#'])) else {
        return Ok(None);
    };
    let parts: Vec<&str> = route.trim_start_matches('/').split('/').collect();
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

/// Where "Cancel" goes: the page the action sits on, or the account page for a page.
fn back_from(st: &AppState, next: &str, pending: bool) -> String {
    let route = st.urls.local(next).unwrap_or("/");
    if !pending {
        return st.urls.at("/account");
    }
    if route.starts_with("/account/") {
        return st.urls.at("/account/sessions");
    }
    match route
        .trim_start_matches('/')
        .split('/')
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["admin", "users", id, _] => st.urls.at(&format!("/admin/users/{id}")),
        _ => st.urls.at("/admin"),
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
        chrome: Chrome::signed_in(
            &st.urls,
            user,
            st.auth.csrf.for_session(user.session_id.as_str()),
        ),
        back: back_from(st, &next, pending.is_some()),
        next,
        pending,
        confirmed,
        lasts: crate::auth::lifetime(st.auth.settings.step_up_ttl),
        error,
    }
}

/// `next` when it is a local path (base path included), else the account page.
fn local_next(st: &AppState, raw: Option<&str>) -> String {
    match safe_next(raw) {
        n if n == "/" => st.urls.at("/account"),
        n => n,
    }
}

/// `GET /confirm?next=…`.
pub async fn form(
    st: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    q: web::Query<ConfirmQuery>,
) -> Result<HttpResponse, AppError> {
    let next = local_next(&st, q.next.as_deref());
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
    let next = local_next(&st, Some(&form.next));
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
