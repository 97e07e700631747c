//! The team's own page: a route, handlers taking `CurrentUser` and `SessionForm`, and a
//! template rendered inside Latchkey's frame. `main.rs` serves it; the integration tests
//! (`tests/it/team_page.rs`) run this same file through the real server.

use actix_web::{web, HttpResponse};
use askama::Template;
use latchkey::http::extend::{self, AppState, CurrentUser, SessionCsrf, SessionForm};
use serde::Deserialize;

/// The team's routes, served beside Latchkey's by `Application::build_with`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/team")
            .route(web::get().to(team_page))
            .route(web::post().to(say)),
    );
}

/// What the page shows inside Latchkey's frame (`templates/team.html` here).
#[derive(Template)]
#[template(path = "team.html", config = "examples/team_page/askama.toml")]
struct TeamPage<'a> {
    email: &'a str,
    /// For the form's hidden `csrf_token` field.
    csrf: SessionCsrf,
    /// The message just sent, if any.
    said: Option<&'a str>,
    /// The form's action, under the base path when one is set.
    action: String,
}

/// `GET /team`: runs only for a signed-in user. An expired access token has already been
/// refreshed (the new cookies go out with this page); without a session the browser was sent
/// to `/login?reason=expired&next=/team` instead, and comes back here after signing in.
async fn team_page(st: web::Data<AppState>, CurrentUser(user): CurrentUser) -> HttpResponse {
    let content = TeamPage {
        email: user.email.as_str(),
        csrf: extend::csrf_token(&st, &user),
        said: None,
        action: extend::url(&st, "/team"),
    };
    extend::page(&st, Some(&user), "Team", &content)
}

/// The form's own fields; its `csrf_token` is checked by `SessionForm` before this is read.
#[derive(Deserialize)]
struct SayForm {
    message: String,
}

/// `POST /team`: runs only with this session's CSRF token (403 otherwise).
async fn say(st: web::Data<AppState>, form: SessionForm<SayForm>) -> HttpResponse {
    let SessionForm { user, form } = form;
    let content = TeamPage {
        email: user.email.as_str(),
        csrf: extend::csrf_token(&st, &user),
        said: Some(form.message.trim()),
        action: extend::url(&st, "/team"),
    };
    extend::page(&st, Some(&user), "Team", &content)
}
