//! The route table: every URL, and (by its extractor) who may use it.
//!
//! `MaybeUser` anyone · `CurrentUser` signed in · `Admin` admins · `AnonForm` signed-out form.

use super::handlers::{account, api, auth_pages, pages};
use actix_web::web;

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg
        // anyone
        .route("/", web::get().to(pages::home)) // MaybeUser
        .route("/healthz", web::get().to(pages::healthz))
        .route("/readyz", web::get().to(pages::readyz))
        .route("/login", web::get().to(auth_pages::login_form)) // MaybeUser
        .route("/login", web::post().to(auth_pages::login_submit)) // AnonForm
        .route("/register", web::get().to(auth_pages::register_form))
        .route("/register", web::post().to(auth_pages::register_submit)) // AnonForm
        // signed in
        .route("/logout", web::post().to(auth_pages::logout)) // SessionForm
        .route("/account", web::get().to(account::account)) // CurrentUser
        .route(
            "/account/password",
            web::post().to(account::change_password),
        ) // SessionForm
        // JSON API
        .route("/api/auth/token", web::post().to(api::token))
        .route("/api/auth/refresh", web::post().to(api::refresh))
        .route("/api/auth/logout", web::post().to(api::logout)) // CurrentUser
        .route("/api/me", web::get().to(api::me)); // CurrentUser
}
