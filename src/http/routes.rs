//! The route table: every URL, and (by its extractor) who may use it.
//!
//! `MaybeUser` anyone · `CurrentUser` signed in · `Admin` admins · `AnonForm` signed-out form ·
//! `SessionForm` signed-in form · `ConfirmedForm` signed-in form after "confirm it's you" ·
//! `authz` the guard's answer for a proxy.
//!
//! One resource per path, its methods inside: actix tries resources one by one, so a path
//! listed once per method made every request behind it compare more patterns, and a wrong
//! method on a known path answers 405 with an `Allow` header instead of 404. Every page also
//! answers HEAD. For the same reason the busiest paths come first: the load balancer's probe,
//! then the pages a signed-in user views on every visit. No two patterns overlap, so the order
//! changes nothing else.

use super::handlers::{
    account, admin, admin_actions, api, auth_pages, authz, confirm, dbsc, devices, pages, security,
};
use actix_web::guard;
use actix_web::web::{self, post, resource};
use actix_web::Route;

/// GET, and HEAD with it (HTTP requires both; actix sends HEAD the headers alone).
fn get() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg
        // busiest first (see the module docs)
        .service(resource("/healthz").route(get().to(pages::healthz)))
        // forward auth for other apps' proxies (trusted proxies only; the guard decides)
        .service(resource("/authz/auth-request").route(get().to(authz::auth_request)))
        .service(resource("/authz/forward-auth").route(web::route().to(authz::forward_auth)))
        .service(resource("/account").route(get().to(account::account))) // CurrentUser
        .service(resource("/account/sessions").route(get().to(devices::list))) // CurrentUser
        .service(resource("/api/me").route(get().to(api::me))) // CurrentUser
        .service(resource("/").route(get().to(pages::home))) // MaybeUser
        // anyone
        .service(resource("/readyz").route(get().to(pages::readyz)))
        .service(
            resource("/login")
                .route(get().to(auth_pages::login_form)) // MaybeUser
                .route(post().to(auth_pages::login_submit)), // AnonForm
        )
        .service(
            resource("/register")
                .route(get().to(auth_pages::register_form))
                .route(post().to(auth_pages::register_submit)), // AnonForm
        )
        // signed in
        .service(resource("/account/security").route(get().to(security::history))) // CurrentUser
        .service(
            resource("/confirm")
                .route(get().to(confirm::form)) // CurrentUser
                .route(post().to(confirm::submit)), // SessionForm
        )
        .service(resource("/logout").route(post().to(auth_pages::logout))) // SessionForm
        .service(resource("/account/password").route(post().to(account::change_password))) // SessionForm
        .service(
            resource("/account/sessions/revoke-others").route(post().to(devices::revoke_others)),
        ) // ConfirmedForm
        .service(resource("/account/sessions/{id}/revoke").route(post().to(devices::revoke))) // SessionForm
        // admins (the Admin extractor re-checks the role in the database)
        .service(resource("/admin").route(get().to(admin::dashboard))) // Admin
        .service(resource("/admin/users").route(get().to(admin::users))) // Admin
        .service(resource("/admin/users/{id}").route(get().to(admin::user))) // Admin
        .service(resource("/admin/sessions").route(get().to(admin::sessions))) // Admin
        .service(resource("/admin/audit").route(get().to(admin::audit))) // Admin
        .service(
            resource("/admin/sessions/{id}/revoke").route(post().to(admin_actions::revoke_session)),
        ) // Admin + ConfirmedForm
        .service(
            resource("/admin/users/{id}/revoke-all").route(post().to(admin_actions::revoke_all)),
        ) // Admin + ConfirmedForm
        .service(resource("/admin/users/{id}/disable").route(post().to(admin_actions::disable))) // Admin + ConfirmedForm
        .service(resource("/admin/users/{id}/enable").route(post().to(admin_actions::enable))) // Admin + ConfirmedForm
        // device-bound sessions (DBSC): the proof is the credential
        .service(resource(dbsc::REGISTER_PATH).route(post().to(dbsc::register))) // access cookie + proof
        .service(resource(dbsc::REFRESH_PATH).route(post().to(dbsc::refresh))) // proof
        // JSON API
        .service(resource("/api/auth/token").route(post().to(api::token)))
        .service(resource("/api/auth/refresh").route(post().to(api::refresh)))
        .service(resource("/api/auth/logout").route(post().to(api::logout))) // CurrentUser
        // embedded static files (super::assets)
        .service(resource("/static/{file}").route(get().to(super::assets::serve)));
}
