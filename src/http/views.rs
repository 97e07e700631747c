//! Page view-models: one askama template struct per page, and the shared page chrome.

use super::urls::{Href, Urls};
use crate::auth::{SessionCsrf, SessionUser};
use crate::domain::{Email, Role};
use actix_web::http::header;
use actix_web::web::Bytes;
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
    /// CSRF token for the header's sign-out form (and the page's own forms).
    pub csrf: SessionCsrf,
    /// Builds every link and form action the page shows.
    pub urls: Urls,
}

impl Chrome {
    /// Chrome for a signed-out visitor.
    pub fn anonymous(urls: &Urls) -> Self {
        Self {
            urls: urls.clone(),
            ..Self::default()
        }
    }

    /// Chrome for a signed-in user.
    pub fn signed_in(urls: &Urls, user: &SessionUser, csrf: SessionCsrf) -> Self {
        Self {
            user: Some(NavUser {
                email: user.email.clone(),
                is_admin: user.role == Role::Admin,
            }),
            csrf,
            urls: urls.clone(),
        }
    }

    /// Latchkey's own `path` as the browser must request it (under the base path).
    pub fn at<'a>(&'a self, path: &'a str) -> Href<'a> {
        self.urls.href(path)
    }
}

/// Base64url by construction, so escaping it would only spend time on every page.
impl askama::filters::HtmlSafe for SessionCsrf {}

/// Implements askama's `FastWritable` from `as_str`: through `Display`, every page paid for two
/// rounds of `fmt::write` per value. askama still escapes the address (it may hold `&`); the
/// token is `HtmlSafe` (above).
macro_rules! write_as_str {
    ($($t:ty),*) => {$(
        impl askama::FastWritable for $t {
            fn write_into(
                &self,
                dest: &mut dyn std::fmt::Write,
                _: &dyn askama::Values,
            ) -> askama::Result<()> {
                Ok(dest.write_str(self.as_str())?)
            }
        }
    )*};
}
write_as_str!(SessionCsrf, Email);

/// Renders a template with a status; a template error (a bug) becomes a plain 500.
pub fn render<T: Template>(res: &mut HttpResponseBuilder, page: &T) -> HttpResponse {
    let mut buf = page_buffer::take();
    match page.render_into(&mut buf.0) {
        Ok(()) => res
            .insert_header((
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/html; charset=utf-8"),
            ))
            .body(Bytes::from_owner(buf)),
        Err(e) => {
            log::error!("template failed to render: {e}");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Render buffers reused across requests. A page is bigger than glibc's small-chunk bins, so a
/// fresh buffer per page made every render sweep the allocator's free lists
/// (`malloc_consolidate` in the hot path's profile), and grew it by copying as it filled.
mod page_buffer {
    use std::cell::RefCell;

    /// Buffers a worker keeps: one per response it is writing at once is plenty.
    const KEEP: usize = 8;
    /// A buffer grown past this (a long admin list) is freed rather than kept.
    const MAX_KEPT: usize = 64 * 1024;
    /// Room for a typical page, so it is written without growing.
    const START: usize = 8 * 1024;

    thread_local! {
        static FREE: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    /// A page's bytes, going back to this thread's free list once the response is written.
    pub(super) struct PageBuffer(pub(super) String);

    /// An empty buffer, reused when one is free.
    pub(super) fn take() -> PageBuffer {
        let reused = FREE
            .try_with(|f| f.try_borrow_mut().ok().and_then(|mut f| f.pop()))
            .ok()
            .flatten();
        PageBuffer(reused.unwrap_or_else(|| String::with_capacity(START)))
    }

    impl AsRef<[u8]> for PageBuffer {
        fn as_ref(&self) -> &[u8] {
            self.0.as_bytes()
        }
    }

    impl Drop for PageBuffer {
        fn drop(&mut self) {
            let mut s = std::mem::take(&mut self.0);
            if s.capacity() == 0 || s.capacity() > MAX_KEPT {
                return;
            }
            s.clear();
            // A thread being torn down, or a full list, simply frees the buffer.
            let _ = FREE.try_with(|f| {
                if let Ok(mut f) = f.try_borrow_mut() {
                    if f.len() < KEEP {
                        f.push(s);
                    }
                }
            });
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
            "device" => ("warning", "This session is bound to the device that signed in, and only that browser can renew it. Please sign in again."),
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
    pub fn new(urls: &Urls, status: u16, title: &'static str, message: String) -> Self {
        Self {
            chrome: Chrome::anonymous(urls),
            status,
            title,
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::MessageBody;

    #[derive(Template)]
    #[template(source = "<p>{{ text }}</p>", ext = "html")]
    struct Snippet<'a> {
        text: &'a str,
    }

    /// The content type and body of a rendered snippet.
    fn body_of(page: &Snippet<'_>) -> (String, Bytes) {
        let res = render(&mut HttpResponse::Ok(), page);
        let kind = res
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| format!("{v:?}"));
        let bytes = res.into_body().try_into_bytes().ok();
        (
            kind.unwrap_or_default(),
            bytes.expect("a rendered page is one chunk"),
        )
    }

    #[test]
    fn a_reused_buffer_carries_nothing_from_the_page_before() {
        let long = "x".repeat(20_000);
        let (_, first) = body_of(&Snippet { text: &long });
        assert_eq!(first.len(), 20_007);
        drop(first);
        let (kind, second) = body_of(&Snippet { text: "a < b" });
        assert_eq!(&second[..], b"<p>a &#60; b</p>");
        assert_eq!(kind, "\"text/html; charset=utf-8\"");
    }

    #[test]
    fn an_address_is_escaped_wherever_a_page_shows_it() {
        let email = Email::parse("tom&jerry@example.com").unwrap();
        let page = AccountPage {
            chrome: Chrome {
                user: Some(NavUser {
                    email: email.clone(),
                    is_admin: false,
                }),
                csrf: SessionCsrf::default(),
                urls: Urls::default(),
            },
            email,
            role: "user",
            notice: None,
            error: None,
        };
        let html = page.render().unwrap();
        // The navigation's title and text, and the profile.
        assert_eq!(
            html.matches("tom&#38;jerry@example.com").count(),
            3,
            "{html}"
        );
        assert!(!html.contains("tom&jerry"));
    }
}

/// A page of an application built on Latchkey ([`super::extend::page`]): its own HTML inside
/// the frame.
#[derive(Template)]
#[template(path = "framed.html")]
pub struct FramedPage<'a> {
    /// Frame.
    pub chrome: Chrome,
    /// The page's title (escaped here).
    pub title: &'a str,
    /// The page's HTML, rendered (and escaped) by the application's own template.
    pub content: &'a str,
}
