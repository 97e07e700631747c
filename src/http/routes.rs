//! The route table: every URL, and (by its extractor) who may use it.
//!
//! `MaybeUser` anyone · `CurrentUser` signed in · `Admin` admins · `AnonForm` signed-out form.

use super::handlers::{account, admin, admin_actions, api, auth_pages, devices, pages};
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
        .route("/account/sessions", web::get().to(devices::list)) // CurrentUser
        .route(
            "/account/sessions/revoke-others",
            web::post().to(devices::revoke_others),
        ) // SessionForm
        .route(
            "/account/sessions/{id}/revoke",
            web::post().to(devices::revoke),
        ) // SessionForm
        // admins (the Admin extractor re-checks the role in the database)
        .route("/admin", web::get().to(admin::dashboard)) // Admin
        .route("/admin/users", web::get().to(admin::users)) // Admin
        .route("/admin/users/{id}", web::get().to(admin::user)) // Admin
        .route("/admin/sessions", web::get().to(admin::sessions)) // Admin
        .route("/admin/audit", web::get().to(admin::audit)) // Admin
        .route(
            "/admin/sessions/{id}/revoke",
            web::post().to(admin_actions::revoke_session),
        ) // Admin + SessionForm
        .route(
            "/admin/users/{id}/revoke-all",
            web::post().to(admin_actions::revoke_all),
        ) // Admin + SessionForm
        .route(
            "/admin/users/{id}/disable",
            web::post().to(admin_actions::disable),
        ) // Admin + SessionForm
        .route(
            "/admin/users/{id}/enable",
            web::post().to(admin_actions::enable),
        ) // Admin + SessionForm
        // JSON API
        .route("/api/auth/token", web::post().to(api::token))
        .route("/api/auth/refresh", web::post().to(api::refresh))
        .route("/api/auth/logout", web::post().to(api::logout)) // CurrentUser
        .route("/api/me", web::get().to(api::me)); // CurrentUser
}
