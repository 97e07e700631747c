//! Page view-models: one askama template struct per page, and the shared page chrome.

use crate::auth::SessionUser;
use crate::domain::{Email, Role};
use actix_web::http::header::ContentType;
use actix_web::{HttpResponse, HttpResponseBuilder};
use askama::Template;

/// The signed-in user as the navigation bar shows them.
#[derive(Clone, Debug)]
pub struct NavUser {
    /// E-mail shown in the header.
    pub email: Email,
    /// Whether to link the admin pages.
    pub is_admin: bool,
}

/// What every page's frame needs: who is signed in, and the token for the sign-out form.
#[derive(Clone, Debug, Default)]
pub struct Chrome {
    /// The signed-in user, if any.
    pub user: Option<NavUser>,
    /// CSRF token for the header's sign-out form.
    pub csrf: String,
}

impl Chrome {
    /// Chrome for a signed-in user.
    pub fn signed_in(user: &SessionUser, csrf: String) -> Self {
        Self {
            user: Some(NavUser {
                email: user.email.clone(),
                is_admin: user.role == Role::Admin,
            }),
            csrf,
        }
    }
}

/// Renders a template with a status; a template error (a bug) becomes a plain 500.
pub fn render<T: Template>(res: &mut HttpResponseBuilder, page: &T) -> HttpResponse {
    match page.render() {
        Ok(html) => res.content_type(ContentType::html()).body(html),
        Err(e) => {
            log::error!("template failed to render: {e}");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// `GET /`.
#[derive(Template)]
#[template(path = "home.html")]
pub struct HomePage {
    /// Frame.
    pub chrome: Chrome,
    /// Whether to offer sign-up.
    pub registration_open: bool,
}

/// `GET /login`.
#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage {
    /// Frame.
    pub chrome: Chrome,
    /// Signed-out CSRF token.
    pub csrf_token: String,
    /// Where to go after signing in.
    pub next: String,
    /// E-mail to refill after a failure.
    pub email: String,
    /// Why the user is here (`expired`, `revoked`, `reused`, `signed_out`), in words.
    pub notice: Option<Notice>,
    /// What went wrong with the last attempt.
    pub error: Option<String>,
    /// Whether to offer sign-up.
    pub registration_open: bool,
}

/// A banner: `info`, `warning` or `success` styling and its sentence.
#[derive(Clone, Debug)]
pub struct Notice {
    /// CSS modifier.
    pub kind: &'static str,
    /// The sentence.
    pub text: &'static str,
}

impl Notice {
    /// The plain-language banner for a sign-in `reason`.
    pub fn for_reason(reason: &str) -> Option<Self> {
        let (kind, text) = match reason {
            "expired" => ("info", "Your session has expired. Please sign in again."),
            "revoked" => ("warning", "Your session was ended from another device or by an administrator. Please sign in again."),
            "reused" => (
                "danger",
                "For your safety we ended your session: a sign-in token was used twice, which can mean it was copied. Please sign in again.",
            ),
            "signed_out" => ("success", "You have been signed out."),
            "registered" => ("success", "Your account was created. Please sign in."),
            _ => return None,
        };
        Some(Self { kind, text })
    }
}

/// `GET /register`.
#[derive(Template)]
#[template(path = "register.html")]
pub struct RegisterPage {
    /// Frame.
    pub chrome: Chrome,
    /// Signed-out CSRF token.
    pub csrf_token: String,
    /// E-mail to refill after a failure.
    pub email: String,
    /// What went wrong.
    pub error: Option<String>,
    /// No admin exists: this account will become the admin.
    pub first_admin: bool,
    /// Sign-up is open.
    pub open: bool,
}

/// `GET /account`.
#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage {
    /// Frame.
    pub chrome: Chrome,
    /// The user's e-mail.
    pub email: Email,
    /// `user` or `admin`.
    pub role: &'static str,
    /// A confirmation to show.
    pub notice: Option<Notice>,
    /// What went wrong with the last form.
    pub error: Option<String>,
}

/// Any error page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// Frame (signed-out look: error pages do not resolve the user).
    pub chrome: Chrome,
    /// HTTP status.
    pub status: u16,
    /// Heading.
    pub title: &'static str,
    /// What happened and what to do.
    pub message: String,
}

impl ErrorPage {
    /// An error page.
    pub fn new(status: u16, title: &'static str, message: String) -> Self {
        Self {
            chrome: Chrome::default(),
            status,
            title,
            message,
        }
    }
}
