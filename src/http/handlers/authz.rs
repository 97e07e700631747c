//! Forward authentication (CONTRACT §8): `/authz/auth-request` for nginx `auth_request` and
//! `/authz/forward-auth` for Caddy `forward_auth` and Traefik `ForwardAuth`. Both are callers of
//! the session guard (`guard::resolve`, `guard::resolve_admin`): the decision is the pages' own,
//! only the answer differs (identity headers, a sign-in URL naming the original request).

use crate::auth::forward::{self, ForwardError, Header, OriginalRequest};
use crate::auth::{AuthError, SessionUser};
use crate::http::guard::{pending_cookies, resolve, resolve_admin};
use crate::http::state::AppState;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde::Deserialize;

/// `?role=admin` on the endpoint's URL.
#[derive(Deserialize, Default)]
#[serde(default)]
struct AuthzQuery {
    role: Option<String>,
}

// Named once: a header looked up by a `&str` is parsed into a name on every lookup.
const X_ORIGINAL_URL: HeaderName = HeaderName::from_static("x-original-url");
const X_ORIGINAL_METHOD: HeaderName = HeaderName::from_static("x-original-method");
const X_FORWARDED_METHOD: HeaderName = HeaderName::from_static("x-forwarded-method");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_URI: HeaderName = HeaderName::from_static("x-forwarded-uri");
const SEC_FETCH_MODE: HeaderName = HeaderName::from_static("sec-fetch-mode");
const LATCHKEY_NAVIGATION: HeaderName = HeaderName::from_static("latchkey-navigation");
const REMOTE_USER: HeaderName = HeaderName::from_static("remote-user");
const REMOTE_EMAIL: HeaderName = HeaderName::from_static("remote-email");
const REMOTE_GROUPS: HeaderName = HeaderName::from_static("remote-groups");
const REMOTE_USER_ID: HeaderName = HeaderName::from_static("remote-user-id");
const REMOTE_SESSION_ID: HeaderName = HeaderName::from_static("remote-session-id");
const LATCHKEY_SET_COOKIE_ACCESS: HeaderName =
    HeaderName::from_static("latchkey-set-cookie-access");
const LATCHKEY_SET_COOKIE_REFRESH: HeaderName =
    HeaderName::from_static("latchkey-set-cookie-refresh");

/// Which proxy protocol a request speaks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// nginx: 401 with `Location` when no session can be had.
    AuthRequest,
    /// Caddy/Traefik: 303 for a navigation, 401 for anything else.
    ForwardAuth,
}

/// `GET`/`HEAD /authz/auth-request`.
pub async fn auth_request(req: HttpRequest) -> HttpResponse {
    authorize(&req, Flavor::AuthRequest).await
}

/// Any method `/authz/forward-auth`.
pub async fn forward_auth(req: HttpRequest) -> HttpResponse {
    authorize(&req, Flavor::ForwardAuth).await
}

/// Reads one header for the protocol parser: absent, once (visible ASCII or not), or repeated.
fn header<'a>(req: &'a HttpRequest, name: &HeaderName) -> Header<'a> {
    let mut all = req.headers().get_all(name);
    match (all.next(), all.next()) {
        (None, _) => Header::Absent,
        (Some(v), None) => Header::One(v.to_str().ok()),
        _ => Header::Repeated,
    }
}

fn described(req: &HttpRequest, flavor: Flavor) -> Result<OriginalRequest<'_>, ForwardError> {
    match flavor {
        Flavor::AuthRequest => forward::from_nginx(
            header(req, &X_ORIGINAL_URL),
            header(req, &X_ORIGINAL_METHOD),
        ),
        Flavor::ForwardAuth => forward::from_forwarded(
            header(req, &X_FORWARDED_METHOD),
            header(req, &X_FORWARDED_PROTO),
            header(req, &X_FORWARDED_HOST),
            header(req, &X_FORWARDED_URI),
        ),
    }
}

/// A short plain-text answer for a proxy's operator (it never reaches a browser as a page).
fn plain(status: StatusCode, text: String) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("text/plain; charset=utf-8")
        .body(text)
}

/// Whether the endpoint's own query asks for an admin: `Err` for anything but `role=admin`.
fn admin_only(query: &str) -> Result<bool, ()> {
    // Nearly every call has no query: nothing to parse.
    if query.is_empty() {
        return Ok(false);
    }
    match web::Query::<AuthzQuery>::from_query(query).map(|q| q.0.role) {
        Ok(None) => Ok(false),
        Ok(Some(role)) if role == "admin" => Ok(true),
        _ => Err(()),
    }
}

async fn authorize(req: &HttpRequest, flavor: Flavor) -> HttpResponse {
    // Borrowed from the request, as the guard does: a `web::Data` extractor would clone and
    // drop an `Arc` on every request for nothing.
    let Some(st) = req.app_data::<web::Data<AppState>>() else {
        log::error!("{}: the application state is missing", req.path());
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Latchkey is not set up to answer this.\n".into(),
        );
    };
    // Checked before the guard runs, so a refused request refreshes and changes nothing.
    let trusted = req
        .peer_addr()
        .is_some_and(|a| st.trusted_proxies.iter().any(|n| n.contains(&a.ip())));
    if !trusted {
        log::warn!(
            "{}: refused: the peer is not in LATCHKEY_TRUSTED_PROXIES",
            req.path()
        );
        return plain(
            StatusCode::FORBIDDEN,
            "Forward authentication answers only proxies listed in LATCHKEY_TRUSTED_PROXIES.\n"
                .into(),
        );
    }
    let Ok(admin_only) = admin_only(req.query_string()) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "The only role that can be required is role=admin.\n".into(),
        );
    };
    let original = match described(req, flavor) {
        Ok(o) => o,
        Err(e) => {
            log::warn!("{}: refused: {e}", req.path());
            return plain(
                StatusCode::BAD_REQUEST,
                format!("Bad forward-auth request: {e}.\n"),
            );
        }
    };
    let outcome = if admin_only {
        resolve_admin(req).await
    } else {
        resolve(req).await
    };
    let mut res = match outcome {
        Ok(user) => signed_in(&user),
        Err(AuthError::Forbidden) => plain(
            StatusCode::FORBIDDEN,
            "You do not have permission to see this page.\n".into(),
        ),
        Err(AuthError::Database(cause)) => {
            log::error!("{}: database unavailable: {cause}", req.path());
            let mut res = plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "Latchkey cannot reach its database right now. Please try again in a moment.\n"
                    .into(),
            );
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            res
        }
        Err(e) => no_session(req, st, &e, &original, flavor),
    };
    copy_cookies(req, st, &mut res);
    res
}

/// `200` with the identity, in the header names Authelia uses.
fn signed_in(user: &SessionUser) -> HttpResponse {
    let mut res = HttpResponse::Ok().finish();
    let headers = res.headers_mut();
    headers.insert(REMOTE_GROUPS, HeaderValue::from_static(user.role.as_str()));
    let [email, user_id, session_id] = identity::values(user);
    if let Some(email) = email {
        headers.insert(REMOTE_USER, email.clone());
        headers.insert(REMOTE_EMAIL, email);
    }
    for (name, value) in [(REMOTE_USER_ID, user_id), (REMOTE_SESSION_ID, session_id)] {
        if let Some(value) = value {
            headers.insert(name, value);
        }
    }
    res
}

/// The identity's header values, built once per session on each worker: validating and copying
/// them into fresh buffers was a fifth of what this endpoint adds to a request. The memo is the
/// guard's kind (`auth::thread_memo`): one per worker thread, so no lock, and a value's
/// reference count is touched by one core.
mod identity {
    use crate::auth::thread_memo::{new_owner, ThreadMemo};
    use crate::auth::SessionUser;
    use crate::domain::{Email, SessionId, UserId};
    use actix_web::http::header::HeaderValue;
    use std::cell::RefCell;
    use std::sync::LazyLock;

    /// Sessions a worker remembers; past this the memo starts over (one rebuild per session).
    const CAPACITY: usize = 4096;

    /// Every entry is checked against the user it is asked for, so one owner serves all.
    static OWNER: LazyLock<u64> = LazyLock::new(new_owner);

    /// `Remote-User`/`-Email`, `Remote-User-Id` and `Remote-Session-Id`, each `None` if it is
    /// not a valid header value (none of ours is: they hold no control characters).
    pub(super) type Values = [Option<HeaderValue>; 3];

    struct Entry {
        email: Email,
        user_id: UserId,
        values: Values,
    }

    thread_local! {
        static MEMO: RefCell<ThreadMemo<SessionId, Entry>> = RefCell::new(ThreadMemo::new());
    }

    /// The identity's header values for `user`.
    pub(super) fn values(user: &SessionUser) -> Values {
        let owner = *OWNER;
        MEMO.with_borrow_mut(|memo| {
            // The e-mail can change within a session (its next token says so): compare, and
            // rebuild on any difference.
            if let Some(e) = memo.get(owner, &user.session_id) {
                if e.email == user.email && e.user_id == user.user_id {
                    return e.values.clone();
                }
            }
            let values = [
                user.email.as_str(),
                user.user_id.as_str(),
                user.session_id.as_str(),
            ]
            .map(|v| HeaderValue::from_str(v).ok());
            let entry = Entry {
                email: user.email.clone(),
                user_id: user.user_id.clone(),
                values: values.clone(),
            };
            memo.insert(owner, CAPACITY, user.session_id.clone(), entry);
            values
        })
    }
}

/// No session can be had: the sign-in URL with `reason` (left out when there simply was no
/// session) and `next` (the original URL; the sign-in page checks it again).
fn no_session(
    req: &HttpRequest,
    st: &AppState,
    e: &AuthError,
    original: &OriginalRequest<'_>,
    flavor: Flavor,
) -> HttpResponse {
    let reason = (!matches!(e, AuthError::NoToken)).then(|| e.login_reason());
    let signin = st
        .urls
        .login(reason, Some(&original.url.to_url().to_string()), true);
    let navigation = forward::is_navigation(
        &original.method,
        req.headers()
            .get(SEC_FETCH_MODE)
            .and_then(|v| v.to_str().ok()),
        req.headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    );
    let mut res: HttpResponseBuilder = match (flavor, navigation) {
        (Flavor::ForwardAuth, true) => HttpResponse::SeeOther(),
        _ => HttpResponse::Unauthorized(),
    };
    if flavor == Flavor::AuthRequest || navigation {
        res.insert_header((header::LOCATION, signin));
    }
    if flavor == Flavor::AuthRequest && navigation {
        // nginx cannot tell a page load from a script's call by itself: this says which.
        res.insert_header((LATCHKEY_NAVIGATION, HeaderValue::from_static("1")));
    }
    res.finish()
}

/// Repeats each queued cookie (a refresh's pair, or their clearing) in a header of its own:
/// nginx's `$upstream_http_set_cookie` holds only the first `Set-Cookie`, so its configuration
/// maps these two to two `add_header Set-Cookie` lines (docs/FORWARD-AUTH.md).
fn copy_cookies(req: &HttpRequest, st: &AppState, res: &mut HttpResponse) {
    for cookie in pending_cookies(req) {
        let name = if cookie.name() == st.cookies.access {
            LATCHKEY_SET_COOKIE_ACCESS
        } else if cookie.name() == st.cookies.refresh {
            LATCHKEY_SET_COOKIE_REFRESH
        } else {
            continue;
        };
        if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
            res.headers_mut().insert(name, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::identity;
    use crate::auth::SessionUser;
    use crate::domain::{Email, Role, SessionId, UserId};

    fn user(email: &str, session: &SessionId) -> SessionUser {
        SessionUser {
            user_id: UserId::generate(),
            session_id: session.clone(),
            email: Email::parse(email).unwrap(),
            role: Role::User,
            access_expires_at: 0,
        }
    }

    #[test]
    fn remembered_identity_follows_the_token_not_the_session() {
        let session = SessionId::generate();
        let ann = user("ann@example.com", &session);
        let [email, user_id, sid] = identity::values(&ann).map(Option::unwrap);
        assert_eq!(email, "ann@example.com");
        assert_eq!(user_id, ann.user_id.as_str());
        assert_eq!(sid, session.as_str());
        assert_eq!(
            identity::values(&ann)[0].as_ref().unwrap(),
            "ann@example.com"
        );
        // The same session's next token names a new address: the headers say so at once.
        let renamed = SessionUser {
            email: Email::parse("ann.b@example.com").unwrap(),
            ..ann.clone()
        };
        assert_eq!(
            identity::values(&renamed)[0].as_ref().unwrap(),
            "ann.b@example.com"
        );
        let other = user("bob@example.com", &session);
        assert_eq!(
            identity::values(&other)[1].as_ref().unwrap(),
            other.user_id.as_str()
        );
    }
}
