//! The JSON API's body extractor: a body is a JSON object or a 400 `BAD_REQUEST`.
//!
//! serde's derived `Deserialize` for a struct also accepts a JSON array of its fields in order,
//! so `["ann@example.com", "secret"]` passed as credentials through `web::Json<T>`. Reading the
//! body as an object first, then the fields from it, leaves arrays, strings, numbers and
//! `null` no way in.

use super::error::AppError;
use crate::auth::AuthError;
use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::future::Future;
use std::pin::Pin;

/// A JSON object body read into `T` (its unknown keys ignored).
pub struct JsonObject<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for JsonObject<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // Anything but an object fails here, as any other malformed body does (400).
        let object = web::Json::<Map<String, Value>>::from_request(req, payload);
        Box::pin(async move {
            let object = object.await?.into_inner();
            // serde's message may quote a value (a password), so none of it is passed on.
            T::deserialize(Value::Object(object))
                .map(JsonObject)
                .map_err(|_| {
                    AppError(AuthError::Invalid(
                        "The body must be a JSON object with the documented fields.".into(),
                    ))
                    .into()
                })
        })
    }
}

/// The body of a route that takes none: nothing at all, or a JSON object (its keys ignored).
/// Anything else is refused with a 400, as on the routes that do take a body.
pub struct NoBody;

impl FromRequest for NoBody {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, actix_web::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body.await?;
            if body.iter().all(u8::is_ascii_whitespace)
                || serde_json::from_slice::<Map<String, Value>>(&body).is_ok()
            {
                Ok(NoBody)
            } else {
                Err(AppError(AuthError::Invalid(
                    "This request takes no body, or an empty JSON object.".into(),
                ))
                .into())
            }
        })
    }
}
