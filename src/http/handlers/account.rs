//! The signed-in user's own pages.

use crate::auth::AuthError;
use crate::auth::SessionUser;
use crate::domain::Role;
use crate::http::client::client_info;
use crate::http::error::{message_of, status_of, AppError};
use crate::http::forms::SessionForm;
use crate::http::guard::CurrentUser;
use crate::http::handlers::see_other;
use crate::http::state::AppState;
use crate::http::views::{render, AccountPage, Chrome, Notice};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

/// `?notice=…` after a redirect.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NoticeQuery {
    notice: Option<String>,
}

/// The password-change form.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct PasswordForm {
    current_password: String,
    new_password: String,
}

/// Fixed confirmations, chosen by key so no user text is ever echoed from the URL.
fn notice(key: Option<&str>) -> Option<Notice> {
    let (kind, text) = match key? {
        "password_changed" => (
            "success",
            "Your password was changed. Every other session has been signed out.",
        ),
        "welcome" => ("success", "Welcome! Your account is ready."),
        "welcome_admin" => (
            "success",
            "Welcome! Your account is ready, and as the first account it is the administrator.",
        ),
        _ => return None,
    };
    Some(Notice { kind, text })
}

fn account_page(
    st: &AppState,
    user: &SessionUser,
    notice: Option<Notice>,
    error: Option<String>,
) -> AccountPage {
    AccountPage {
        chrome: Chrome::signed_in(
            &st.urls,
            user,
            st.auth.csrf.for_session(user.session_id.as_str()),
        ),
        email: user.email.clone(),
        role: if user.role == Role::Admin {
            "admin"
        } else {
            "user"
        },
        notice,
        error,
    }
}

/// `GET /account`.
pub async fn account(
    st: web::Data<AppState>,
    CurrentUser(user): CurrentUser,
    q: web::Query<NoticeQuery>,
) -> HttpResponse {
    render(
        &mut HttpResponse::Ok(),
        &account_page(&st, &user, notice(q.notice.as_deref()), None),
    )
}

/// `POST /account/password`: checks the current password, sets the new one, ends every other session.
pub async fn change_password(
    req: HttpRequest,
    st: web::Data<AppState>,
    f: SessionForm<PasswordForm>,
) -> Result<HttpResponse, AppError> {
    let client = client_info(&req, &st.trusted_proxies);
    let SessionForm { user, form } = f;
    match st
        .auth
        .change_password(&user, &form.current_password, form.new_password, &client)
        .await
    {
        Ok(_) => Ok(see_other(&st.urls.at("/account?notice=password_changed"))),
        Err(
            e @ (AuthError::WrongPassword | AuthError::Invalid(_) | AuthError::RateLimited { .. }),
        ) => {
            let mut res = HttpResponse::build(status_of(&e));
            if let AuthError::RateLimited { retry_after } = e {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from(retry_after)));
            }
            let page = account_page(&st, &user, None, Some(message_of(&e)));
            Ok(render(&mut res, &page))
        }
        Err(e) => Err(e.into()),
    }
}
