//! Building your own pages on Latchkey: what an application needs to serve server-rendered
//! pages of its own behind the session guard, in one place (README "Building your own pages on
//! Latchkey"; `examples/team_page` is a whole one).
//!
//! - [`Application::build_with`] serves your routes beside Latchkey's, in the same frame.
//! - A handler that takes [`CurrentUser`] runs only for a signed-in user. An expired access
//!   token is refreshed transparently (the new cookies go out with your page); when no session
//!   can be had, a `GET` is answered `303 /login?reason=…&next=<your path>`, and signing in
//!   comes back to your page. [`Admin`] also requires the admin role (403 otherwise);
//!   [`MaybeUser`] never fails.
//! - A POST handler that takes [`SessionForm<T>`] runs only when the form's hidden
//!   `csrf_token` field holds [`csrf_token`] for this session (403 otherwise, before `T` is
//!   read); unsafe requests from another origin never reach it at all.
//! - [`page`] puts your askama template's HTML inside Latchkey's header, navigation (with the
//!   sign-out form) and stylesheet. Responses of signed-in pages carry `Cache-Control: no-store`
//!   and the Content-Security-Policy (no script) like Latchkey's own.
//! - A handler returning `Result<_, AppError>` gets Latchkey's error pages (and JSON errors
//!   under `/api/`).

pub use super::error::AppError;
pub use super::forms::SessionForm;
pub use super::guard::{Admin, CurrentUser, MaybeUser};
pub use super::server::{Application, ExtraRoutes};
pub use super::state::AppState;
pub use crate::auth::{SessionCsrf, SessionUser};
pub use crate::config::Config;

use super::views::{render, Chrome, FramedPage};
use actix_web::HttpResponse;
use askama::Template;

/// The token a form of yours sends in a hidden `csrf_token` field, for [`SessionForm`] to check.
pub fn csrf_token(st: &AppState, user: &SessionUser) -> SessionCsrf {
    st.auth.csrf.for_session(user.session_id.as_str())
}

/// Your own `path` as the browser must request it: under `LATCHKEY_BASE_PATH` when one is set,
/// so your links and form actions never escape the prefix.
pub fn url(st: &AppState, path: &str) -> String {
    st.urls.at(path)
}

/// A `200` page: `content` rendered inside Latchkey's frame, titled `title`. A template that
/// fails to render (a bug) is logged and answered with a plain 500.
pub fn page(
    st: &AppState,
    user: Option<&SessionUser>,
    title: &str,
    content: &impl Template,
) -> HttpResponse {
    let chrome = match user {
        Some(u) => Chrome::signed_in(&st.urls, u, csrf_token(st, u)),
        None => Chrome::anonymous(&st.urls),
    };
    match content.render() {
        Ok(html) => render(
            &mut HttpResponse::Ok(),
            &FramedPage {
                chrome,
                title,
                content: &html,
            },
        ),
        Err(e) => {
            log::error!("template failed to render: {e}");
            HttpResponse::InternalServerError().finish()
        }
    }
}
