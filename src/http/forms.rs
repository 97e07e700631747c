//! Form extractors that carry the CSRF check, so no state-changing form can forget it.
//!
//! The token is checked before the form's own fields are looked at: a POST without a valid
//! `csrf_token` (missing, empty, repeated or wrong, or a body that is no form at all) is a 403
//! whatever else it carries; only a form that passes gets a 400 for a field that does not fit.
//! A body that cannot be read in full (too large, too slow) stays a 400.

use super::cookies::lookup;
use super::error::AppError;
use super::guard::resolve;
use super::state::AppState;
use crate::auth::{AuthError, SessionUser};
use actix_web::dev::Payload;
use actix_web::error::UrlencodedError;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

/// A form posted by a signed-in user, its `csrf_token` field checked against the session
/// before `T` is read (`T` need not declare the field: serde ignores it).
pub struct SessionForm<T> {
    /// Who posted it.
    pub user: SessionUser,
    /// The fields.
    pub form: T,
}

/// A signed-out form (sign-in, sign-up), its `csrf_token` field checked against the `csrf`
/// cookie before `T` is read.
pub struct AnonForm<T>(pub T);

type Fut<T> = Pin<Box<dyn Future<Output = Result<T, AppError>>>>;

fn bad_form() -> AppError {
    AppError(AuthError::Invalid(
        "The form could not be read. Reload the page and try again.".into(),
    ))
}

/// A posted form's fields as sent, in order.
type Fields = Vec<(String, String)>;

/// Reads the body as form fields. A body that is not a form (another content type, none at
/// all) carries no token, so it fails as CSRF does; one that could not be read is a 400.
async fn read_fields(
    form: impl Future<Output = Result<web::Form<Fields>, actix_web::Error>>,
) -> Result<Fields, AppError> {
    form.await.map(web::Form::into_inner).map_err(|e| {
        match e.as_error::<actix_web::error::UrlencodedError>() {
            Some(UrlencodedError::ContentType | UrlencodedError::Parse(_)) => {
                AppError(AuthError::CsrfFailed)
            }
            _ => bad_form(),
        }
    })
}

/// The one `csrf_token` of a form; none, or more than one, is no token.
fn token_of(fields: &Fields) -> Option<&str> {
    let mut tokens = fields.iter().filter(|(k, _)| k == "csrf_token");
    match (tokens.next(), tokens.next()) {
        (Some((_, v)), None) => Some(v),
        _ => None,
    }
}

/// The form's own type, from fields whose token has passed.
fn parse<T: DeserializeOwned>(fields: &Fields) -> Result<T, AppError> {
    serde_urlencoded::to_string(fields)
        .ok()
        .and_then(|encoded| serde_urlencoded::from_str(&encoded).ok())
        .ok_or_else(bad_form)
}

impl<T: DeserializeOwned + 'static> FromRequest for SessionForm<T> {
    type Error = AppError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let form = web::Form::<Fields>::from_request(&req, payload);
        Box::pin(async move {
            let user = resolve(&req).await?;
            let fields = read_fields(form).await?;
            let st = req
                .app_data::<web::Data<AppState>>()
                .ok_or(AppError(AuthError::CsrfFailed))?;
            let token = token_of(&fields).ok_or(AppError(AuthError::CsrfFailed))?;
            if !st.auth.csrf.check_session(user.session_id.as_str(), token) {
                return Err(AuthError::CsrfFailed.into());
            }
            Ok(SessionForm {
                user,
                form: parse(&fields)?,
            })
        })
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for AnonForm<T> {
    type Error = AppError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let form = web::Form::<Fields>::from_request(&req, payload);
        Box::pin(async move {
            let fields = read_fields(form).await?;
            let st = req
                .app_data::<web::Data<AppState>>()
                .ok_or(AppError(AuthError::CsrfFailed))?;
            let secret = lookup(&req, st.cookies.csrf);
            match (secret.value(), token_of(&fields)) {
                (Some(s), Some(token)) if st.auth.csrf.check_anonymous(&s, token) => {
                    Ok(AnonForm(parse(&fields)?))
                }
                _ => Err(AuthError::CsrfFailed.into()),
            }
        })
    }
}
