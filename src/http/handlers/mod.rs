//! Request handlers, one file per area; each is thin and calls the domain service.

pub mod account;
pub mod admin;
pub mod admin_actions;
pub mod api;
pub mod auth_pages;
pub mod authz;
pub mod confirm;
pub mod dbsc;
pub mod devices;
pub mod pages;
pub mod security;

use super::state::AppState;
use crate::auth::Issued;
use actix_web::cookie::Cookie;

/// The two session cookies for a freshly issued pair.
pub fn session_cookies(st: &AppState, issued: &Issued) -> [Cookie<'static>; 2] {
    [
        st.cookies
            .access_cookie(&issued.access_token, issued.refresh_max_age),
        st.cookies
            .refresh_cookie(issued.refresh_token.expose(), issued.refresh_max_age),
    ]
}

/// A `303 See Other` to `location`.
pub fn see_other(location: &str) -> actix_web::HttpResponse {
    actix_web::HttpResponse::SeeOther()
        .insert_header((actix_web::http::header::LOCATION, location.to_string()))
        .finish()
}
