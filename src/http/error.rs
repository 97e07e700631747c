//! The one place errors become responses: a JSON body with a `code` under `/api/`, an HTML page
//! or a redirect to sign-in elsewhere. Internal causes are logged, never shown.

use super::next::login_url_at;
use super::state::AppState;
use super::urls::Urls;
use super::views::{render, ErrorPage};
use crate::auth::AuthError;
use crate::db::DbError;
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use serde_json::json;
use std::fmt;

/// The HTTP layer's error: a domain error, rendered by [`render_error`] once the request's
/// context (API or page, method, path) is known.
#[derive(Debug)]
pub struct AppError(pub AuthError);

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.code())
    }
}

impl From<AuthError> for AppError {
    fn from(e: AuthError) -> Self {
        AppError(e)
    }
}

impl From<DbError> for AppError {
    fn from(e: DbError) -> Self {
        AppError(AuthError::Database(e))
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        status_of(&self.0)
    }

    fn error_response(&self) -> HttpResponse {
        // Replaced by the error middleware, which knows the request; this is only a fallback.
        HttpResponse::build(self.status_code()).finish()
    }
}

/// The status for each domain error (pinned by a unit test).
pub fn status_of(e: &AuthError) -> StatusCode {
    use AuthError::*;
    match e {
        NoToken
        | TokenExpired { .. }
        | InvalidToken
        | SessionExpired
        | SessionRevoked
        | RefreshReused
        | DeviceProofRequired
        | InvalidCredentials => StatusCode::UNAUTHORIZED,
        Forbidden | CsrfFailed | StepUpRequired | RegistrationClosed => StatusCode::FORBIDDEN,
        RateLimited { .. } | TooManySignUps { .. } => StatusCode::TOO_MANY_REQUESTS,
        Invalid(_) | WrongPassword => StatusCode::BAD_REQUEST,
        EmailTaken => StatusCode::CONFLICT,
        NotFound => StatusCode::NOT_FOUND,
        Database(_) | Busy => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// A sentence for the JSON `error` field and the error page.
pub fn message_of(e: &AuthError) -> String {
    use AuthError::*;
    match e {
        NoToken => "Sign in to continue: no access token was sent.".into(),
        TokenExpired { .. } => "The access token has expired; refresh it or sign in again.".into(),
        InvalidToken => "The access token is not valid.".into(),
        SessionExpired => "Your session has expired. Please sign in again.".into(),
        SessionRevoked => "Your session was ended. Please sign in again.".into(),
        DeviceProofRequired => "This session is bound to the device that signed in, and only that browser can renew it. Please sign in again.".into(),
        RefreshReused => {
            "For your safety your session was ended: a sign-in token was used twice. Please sign in again.".into()
        }
        InvalidCredentials => "Incorrect e-mail or password.".into(),
        Forbidden => "You do not have permission to see this page.".into(),
        CsrfFailed => "This form has expired or did not come from this site. Go back, reload the page and try again.".into(),
        StepUpRequired => "Confirm it's you: enter your password again before this action.".into(),
        RateLimited { retry_after } => format!("Too many failed sign-ins. Try again in {retry_after} seconds."),
        TooManySignUps { retry_after } => format!("Too many sign-ups from your address. Try again in {retry_after} seconds."),
        Busy => "Latchkey is checking too many passwords right now. Please try again in a moment.".into(),
        Invalid(m) => m.clone(),
        WrongPassword => "Your current password is not correct.".into(),
        EmailTaken => "An account with that e-mail address already exists.".into(),
        RegistrationClosed => "Sign-up is closed on this server.".into(),
        NotFound => "There is nothing here.".into(),
        Database(_) => "Latchkey cannot reach its database right now. Please try again in a moment.".into(),
    }
}

fn is_session_error(e: &AuthError) -> bool {
    use AuthError::*;
    matches!(
        e,
        NoToken
            | TokenExpired { .. }
            | InvalidToken
            | SessionExpired
            | SessionRevoked
            | RefreshReused
            | DeviceProofRequired
    )
}

/// Latchkey's addresses as this request's app knows them (root when it has no state).
fn urls_of(req: &HttpRequest) -> Urls {
    req.app_data::<actix_web::web::Data<AppState>>()
        .map(|st| st.urls.clone())
        .unwrap_or_default()
}

/// Whether a request is answered in JSON.
pub fn is_api(req: &HttpRequest) -> bool {
    let path = match req.app_data::<actix_web::web::Data<AppState>>() {
        Some(st) => st.urls.local(req.path()).unwrap_or(""),
        None => req.path(),
    };
    path.starts_with("/api/") || path == "/api"
}

/// Whether the client asked for JSON rather than a page (`Accept` or `Content-Type`).
pub fn wants_json(req: &HttpRequest) -> bool {
    let has = |name: header::HeaderName, what: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains(what))
    };
    (has(header::ACCEPT, "application/json") && !has(header::ACCEPT, "text/html"))
        || has(header::CONTENT_TYPE, "application/json")
}

/// `/confirm?next=…`: a page comes back to itself (query and all); an action is offered again
/// on the confirm page, so its path is enough (a POST cannot be replayed by a redirect).
fn confirm_url(req: &HttpRequest) -> String {
    let next = if req.method() == Method::GET || req.method() == Method::HEAD {
        req.uri().path_and_query().map_or("/", |p| p.as_str())
    } else {
        req.path()
    };
    format!(
        "{}?next={}",
        urls_of(req).at("/confirm"),
        super::next::encode(next)
    )
}

/// Renders a domain error for this request.
pub fn render_error(req: &HttpRequest, e: &AuthError) -> HttpResponse {
    if let AuthError::Database(cause) = e {
        log::error!(
            "{} {}: database unavailable: {cause}",
            req.method(),
            req.path()
        );
    }
    let status = status_of(e);
    // A script asking for JSON is told to confirm; it cannot follow a page to /confirm.
    let json_step_up = matches!(e, AuthError::StepUpRequired) && wants_json(req);
    if is_api(req) || json_step_up {
        let mut body = json!({ "error": message_of(e), "code": e.code() });
        if let AuthError::TokenExpired { expired_at } = e {
            body["expired_at"] = json!(rfc3339(*expired_at));
        }
        let mut res = HttpResponse::build(status);
        if status == StatusCode::UNAUTHORIZED {
            let presented = req.headers().contains_key(header::AUTHORIZATION)
                || matches!(e, AuthError::TokenExpired { .. } | AuthError::InvalidToken);
            let challenge = if presented && !matches!(e, AuthError::InvalidCredentials) {
                format!(
                    "Bearer realm=\"latchkey\", error=\"invalid_token\", error_description=\"{}\"",
                    e.code()
                )
            } else {
                "Bearer realm=\"latchkey\"".to_string()
            };
            res.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        add_retry_after(&mut res, e);
        return res.json(body);
    }
    if matches!(e, AuthError::StepUpRequired) {
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, confirm_url(req)))
            .finish();
    }
    if is_session_error(e) {
        let next = (req.method() == Method::GET || req.method() == Method::HEAD).then(|| {
            req.uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/")
        });
        return HttpResponse::SeeOther()
            .insert_header((
                header::LOCATION,
                login_url_at(&urls_of(req), e.login_reason(), next),
            ))
            .finish();
    }
    let title = match status {
        StatusCode::FORBIDDEN => "Not allowed",
        StatusCode::NOT_FOUND => "Page not found",
        StatusCode::TOO_MANY_REQUESTS => "Please wait",
        StatusCode::SERVICE_UNAVAILABLE => "Temporarily unavailable",
        StatusCode::CONFLICT => "Already exists",
        _ => "Something is not right",
    };
    let mut res = HttpResponse::build(status);
    add_retry_after(&mut res, e);
    render(
        &mut res,
        &ErrorPage::new(&urls_of(req), status.as_u16(), title, message_of(e)),
    )
}

/// Renders a failure that did not come from our code (a malformed body, an unknown route).
pub fn render_other(req: &HttpRequest, status: StatusCode) -> HttpResponse {
    // Every other client error is the contract's BAD_REQUEST, which it pairs with 400: a client
    // reading the status must not see 413 or 415 for the same code.
    let (status, code, message) = match status {
        StatusCode::NOT_FOUND => (status, "NOT_FOUND", "There is nothing here."),
        StatusCode::METHOD_NOT_ALLOWED => (
            status,
            "METHOD_NOT_ALLOWED",
            "That method is not allowed here.",
        ),
        StatusCode::PAYLOAD_TOO_LARGE => (
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "The request body is too large.",
        ),
        s if s.is_client_error() => (
            StatusCode::BAD_REQUEST,
            "BAD_REQUEST",
            "The request is malformed.",
        ),
        _ => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "Something went wrong on our side. Please try again.",
        ),
    };
    if is_api(req) {
        return HttpResponse::build(status).json(json!({ "error": message, "code": code }));
    }
    let title = if status == StatusCode::NOT_FOUND {
        "Page not found"
    } else {
        "Something is not right"
    };
    render(
        &mut HttpResponse::build(status),
        &ErrorPage::new(&urls_of(req), status.as_u16(), title, message.into()),
    )
}

fn add_retry_after(res: &mut actix_web::HttpResponseBuilder, e: &AuthError) {
    match e {
        AuthError::RateLimited { retry_after } | AuthError::TooManySignUps { retry_after } => {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after)));
        }
        AuthError::Busy => {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("2")));
        }
        AuthError::Database(_) => {
            res.insert_header((header::RETRY_AFTER, HeaderValue::from_static("5")));
        }
        _ => {}
    }
}

/// Epoch seconds as RFC 3339.
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_domain_error_has_its_contract_status() {
        use AuthError::*;
        let cases: Vec<(AuthError, u16, &str)> = vec![
            (NoToken, 401, "NO_TOKEN"),
            (TokenExpired { expired_at: 0 }, 401, "TOKEN_EXPIRED"),
            (InvalidToken, 401, "INVALID_TOKEN"),
            (SessionExpired, 401, "SESSION_EXPIRED"),
            (SessionRevoked, 401, "SESSION_REVOKED"),
            (RefreshReused, 401, "REFRESH_REUSED"),
            (InvalidCredentials, 401, "INVALID_CREDENTIALS"),
            (Forbidden, 403, "FORBIDDEN"),
            (CsrfFailed, 403, "CSRF_FAILED"),
            (StepUpRequired, 403, "STEP_UP_REQUIRED"),
            (RateLimited { retry_after: 3 }, 429, "RATE_LIMITED"),
            (TooManySignUps { retry_after: 3 }, 429, "RATE_LIMITED"),
            (Busy, 503, "SERVICE_UNAVAILABLE"),
            (Invalid("x".into()), 400, "BAD_REQUEST"),
            (
                Database(DbError::Unavailable("down".into())),
                503,
                "SERVICE_UNAVAILABLE",
            ),
        ];
        for (e, status, code) in cases {
            assert_eq!(status_of(&e).as_u16(), status, "{code}");
            assert_eq!(e.code(), code);
        }
    }

    #[test]
    fn internal_causes_are_not_shown() {
        let e = AuthError::Database(DbError::Unavailable(
            "password authentication failed for user x".into(),
        ));
        assert!(!message_of(&e).contains("password authentication"));
    }
}
