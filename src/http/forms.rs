//! Form extractors that carry the CSRF check, so no state-changing form can forget it.
//! Every field defaults, so a missing `csrf_token` is a 403 rather than a parse error.

use super::cookies::lookup;
use super::error::AppError;
use super::guard::resolve;
use super::state::AppState;
use crate::auth::{AuthError, SessionUser};
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use std::future::Future;
use std::pin::Pin;

/// A form with a `csrf_token` field.
pub trait CsrfCarrier {
    /// The submitted token.
    fn csrf_token(&self) -> &str;
}

/// A form posted by a signed-in user, its token checked against the session.
pub struct SessionForm<T> {
    /// Who posted it.
    pub user: SessionUser,
    /// The fields.
    pub form: T,
}

/// A [`SessionForm`] for a sensitive action: once its CSRF token is checked, the session must
/// also have confirmed its password within `LATCHKEY_STEP_UP_TTL` (CONTRACT §10), else
/// [`AuthError::StepUpRequired`] (a page is sent to `/confirm`, JSON gets 403).
pub struct ConfirmedForm<T>(pub SessionForm<T>);

/// A signed-out form (sign-in, sign-up), its token checked against the `csrf` cookie.
pub struct AnonForm<T>(pub T);

type Fut<T> = Pin<Box<dyn Future<Output = Result<T, AppError>>>>;

fn bad_form(_: actix_web::Error) -> AppError {
    AppError(AuthError::Invalid(
        "The form could not be read. Reload the page and try again.".into(),
    ))
}

impl<T: DeserializeOwned + CsrfCarrier + 'static> FromRequest for SessionForm<T> {
    type Error = AppError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let form = web::Form::<T>::from_request(&req, payload);
        Box::pin(async move {
            let user = resolve(&req).await?;
            let form = form.await.map_err(bad_form)?.into_inner();
            let st = req
                .app_data::<web::Data<AppState>>()
                .ok_or(AppError(AuthError::CsrfFailed))?;
            if !st
                .auth
                .csrf
                .check_session(user.session_id.as_str(), form.csrf_token())
            {
                return Err(AuthError::CsrfFailed.into());
            }
            Ok(SessionForm { user, form })
        })
    }
}

impl<T: DeserializeOwned + CsrfCarrier + 'static> FromRequest for ConfirmedForm<T> {
    type Error = AppError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let form = SessionForm::<T>::from_request(&req, payload);
        Box::pin(async move {
            // The CSRF check first: a forged request is refused as such, whatever its session.
            let form = form.await?;
            let st = req
                .app_data::<web::Data<AppState>>()
                .ok_or(AppError(AuthError::CsrfFailed))?;
            st.auth.require_step_up(&form.user).await?;
            Ok(ConfirmedForm(form))
        })
    }
}

impl<T: DeserializeOwned + CsrfCarrier + 'static> FromRequest for AnonForm<T> {
    type Error = AppError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let form = web::Form::<T>::from_request(&req, payload);
        Box::pin(async move {
            let form = form.await.map_err(bad_form)?.into_inner();
            let st = req
                .app_data::<web::Data<AppState>>()
                .ok_or(AppError(AuthError::CsrfFailed))?;
            let secret = lookup(&req, st.cookies.csrf);
            match secret.value() {
                Some(s) if st.auth.csrf.check_anonymous(&s, form.csrf_token()) => {
                    Ok(AnonForm(form))
                }
                _ => Err(AuthError::CsrfFailed.into()),
            }
        })
    }
}
