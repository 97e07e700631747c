//! Sign-in, sign-up and sign-out pages.

use crate::auth::{AuthError, CsrfKey, RefreshToken};
use crate::http::client::client_info;
use crate::http::cookies::lookup;
use crate::http::error::{message_of, AppError};
use crate::http::forms::{AnonForm, SessionForm};
use crate::http::guard::{push_cookies, MaybeUser};
use crate::http::handlers::{see_other, session_cookies};
use crate::http::next::{checked_next, encode, safe_next};
use crate::http::state::AppState;
use crate::http::views::{render, Chrome, LoginPage, Notice, RegisterPage};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

/// `?reason=…&next=…` on the sign-in page.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginQuery {
    reason: Option<String>,
    next: Option<String>,
}

/// The sign-in form.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct LoginForm {
    email: String,
    password: String,
    next: String,
}

/// The sign-up form.
#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RegisterForm {
    email: String,
    password: String,
}

/// A form with nothing but its CSRF token (sign-out, revoke buttons), which the extractor checks.
#[derive(Deserialize, Default)]
pub struct CsrfOnly {}

/// The signed-out CSRF token, setting the cookie it is bound to when the browser lacks one.
fn anonymous_csrf(req: &HttpRequest, st: &AppState) -> String {
    let secret = match lookup(req, st.cookies.csrf).value() {
        Some(s) if s.len() == 43 => s.to_string(),
        _ => {
            let s = CsrfKey::new_cookie_secret();
            push_cookies(req, [st.cookies.csrf_cookie(&s)]);
            s
        }
    };
    st.auth.csrf.for_anonymous(&secret)
}

/// Where to go after signing in: an allowed `next` (a local path, or an absolute URL on this
/// host or under the cookie domain), or the account page.
fn after_login(req: &HttpRequest, st: &AppState, next: &str) -> String {
    match checked_next(req, st, Some(next)) {
        Some(n) if n != "/" => n,
        _ => st.urls.at("/account"),
    }
}

/// The `next` a sign-in form carries on: kept when allowed, else `/`.
fn form_next(req: &HttpRequest, st: &AppState, raw: Option<&str>) -> String {
    checked_next(req, st, raw).unwrap_or_else(|| safe_next(None))
}

/// `GET /login`.
pub async fn login_form(
    req: HttpRequest,
    st: web::Data<AppState>,
    q: web::Query<LoginQuery>,
    user: MaybeUser,
) -> HttpResponse {
    let next = form_next(&req, &st, q.next.as_deref());
    let chrome = match &user.0 {
        Some(u) => Chrome::signed_in(&st.urls, u, st.auth.csrf.for_session(u.session_id.as_str())),
        None => Chrome::anonymous(&st.urls),
    };
    let page = LoginPage {
        chrome,
        csrf_token: anonymous_csrf(&req, &st),
        next,
        email: String::new(),
        notice: q.reason.as_deref().and_then(Notice::for_reason),
        error: None,
        registration_open: st.auth.settings.registration_open,
    };
    render(&mut HttpResponse::Ok(), &page)
}

/// `POST /login`.
pub async fn login_submit(
    req: HttpRequest,
    st: web::Data<AppState>,
    AnonForm(form): AnonForm<LoginForm>,
) -> Result<HttpResponse, AppError> {
    let client = client_info(&req, &st.trusted_proxies);
    let presented = lookup(&req, st.cookies.refresh)
        .value()
        .and_then(|v| RefreshToken::parse(&v));
    match st
        .auth
        .login(&form.email, &form.password, &client, presented)
        .await
    {
        Ok(issued) => {
            push_cookies(&req, session_cookies(&st, &issued));
            let to = after_login(&req, &st, &form.next);
            let mut res = see_other(&match issued.reuse_to_explain {
                // The first page after a reuse sign-out explains it, then offers `next`.
                Some(id) => st.urls.at(&format!(
                    "/account/security?explain={id}&next={}",
                    encode(&to)
                )),
                None => to,
            });
            super::dbsc::offer_registration(&st, &issued.user, &mut res).await;
            Ok(res)
        }
        Err(e @ (AuthError::InvalidCredentials | AuthError::RateLimited { .. })) => {
            let mut res = HttpResponse::build(crate::http::error::status_of(&e));
            if let AuthError::RateLimited { retry_after } = e {
                res.insert_header((header::RETRY_AFTER, HeaderValue::from(retry_after)));
            }
            let page = LoginPage {
                chrome: Chrome::anonymous(&st.urls),
                csrf_token: anonymous_csrf(&req, &st),
                next: form_next(&req, &st, Some(&form.next)),
                email: form.email.chars().take(254).collect(),
                notice: None,
                error: Some(message_of(&e)),
                registration_open: st.auth.settings.registration_open,
            };
            Ok(render(&mut res, &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /register`.
pub async fn register_form(
    req: HttpRequest,
    st: web::Data<AppState>,
) -> Result<HttpResponse, AppError> {
    let open = st.auth.settings.registration_open;
    let first_admin = open && !st.auth.has_admin().await?;
    let page = RegisterPage {
        chrome: Chrome::anonymous(&st.urls),
        csrf_token: anonymous_csrf(&req, &st),
        email: String::new(),
        error: None,
        first_admin,
        open,
    };
    Ok(render(&mut HttpResponse::Ok(), &page))
}

/// `POST /register`: creates the account and signs it in.
pub async fn register_submit(
    req: HttpRequest,
    st: web::Data<AppState>,
    AnonForm(form): AnonForm<RegisterForm>,
) -> Result<HttpResponse, AppError> {
    let client = client_info(&req, &st.trusted_proxies);
    match st.auth.register(&form.email, form.password, &client).await {
        Ok((issued, admin)) => {
            push_cookies(&req, session_cookies(&st, &issued));
            let mut res = see_other(&st.urls.at(if admin {
                "/account?notice=welcome_admin"
            } else {
                "/account?notice=welcome"
            }));
            super::dbsc::offer_registration(&st, &issued.user, &mut res).await;
            Ok(res)
        }
        Err(e @ (AuthError::Invalid(_) | AuthError::EmailTaken)) => {
            let first_admin = !st.auth.has_admin().await?;
            let page = RegisterPage {
                chrome: Chrome::anonymous(&st.urls),
                csrf_token: anonymous_csrf(&req, &st),
                email: form.email.chars().take(254).collect(),
                error: Some(message_of(&e)),
                first_admin,
                open: true,
            };
            Ok(render(
                &mut HttpResponse::build(crate::http::error::status_of(&e)),
                &page,
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /logout`: ends this session server-side and clears the cookies.
pub async fn logout(
    req: HttpRequest,
    st: web::Data<AppState>,
    f: SessionForm<CsrfOnly>,
) -> Result<HttpResponse, AppError> {
    let client = client_info(&req, &st.trusted_proxies);
    st.auth.logout(&f.user, &client).await?;
    Ok(signed_out(&req, &st))
}

/// The answer once this browser's session has ended: cookies cleared, on to the sign-in page.
pub fn signed_out(req: &HttpRequest, st: &AppState) -> HttpResponse {
    push_cookies(req, st.cookies.clear_session());
    let mut res = see_other(&st.urls.at("/login?reason=signed_out"));
    res.headers_mut().insert(
        header::HeaderName::from_static("clear-site-data"),
        HeaderValue::from_static("\"cookies\""),
    );
    res
}
