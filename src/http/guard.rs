//! The session guard: extractors that resolve the signed-in user, refreshing transparently from
//! the refresh cookie when the access token is missing, expired or about to expire.
//!
//! A valid access token costs no database query. Rotated (or cleared) cookies are queued in the
//! request's extensions and written by the frame middleware on the way out.

use super::cookies::{lookups, Lookup};
use super::error::AppError;
use super::state::AppState;
use crate::auth::{AuthError, RefreshToken, SessionUser};
use crate::domain::Role;
use actix_web::cookie::Cookie;
use actix_web::dev::Payload;
use actix_web::http::header::AUTHORIZATION;
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};
use actix_web_httpauth::headers::authorization::{Bearer, Scheme};
use futures_util::future::{ready, Either, Ready};
use std::future::Future;
use std::pin::Pin;

/// Cookies to set on the response, queued during the request.
#[derive(Default)]
pub struct PendingCookies(pub Vec<Cookie<'static>>);

/// Queues cookies for the response.
pub fn push_cookies(req: &HttpRequest, cookies: impl IntoIterator<Item = Cookie<'static>>) {
    let mut ext = req.extensions_mut();
    if ext.get::<PendingCookies>().is_none() {
        ext.insert(PendingCookies::default());
    }
    if let Some(p) = ext.get_mut::<PendingCookies>() {
        p.0.extend(cookies);
    }
}

/// The user resolved for this request, cached so a second extractor costs nothing.
#[derive(Clone)]
struct Resolved(SessionUser);

/// How the request authenticated (cookie clients must send a CSRF token on API state changes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// `Authorization: Bearer`.
    Bearer,
    /// The access/refresh cookies.
    Cookie,
}

/// Whether the request carries an `Authorization` header (it then never uses cookies).
pub fn via(req: &HttpRequest) -> Via {
    if req.headers().contains_key(AUTHORIZATION) {
        Via::Bearer
    } else {
        Via::Cookie
    }
}

fn state(req: &HttpRequest) -> Result<web::Data<AppState>, AuthError> {
    req.app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or(AuthError::NoToken)
}

/// Resolves the signed-in user of a request (see the module docs).
pub async fn resolve(req: &HttpRequest) -> Result<SessionUser, AuthError> {
    if let Some(settled) = settle_now(req) {
        return settled;
    }
    // Boxed: a refresh's state (database calls, a DBSC check) is kilobytes, and inline it would
    // make every caller's future that big, moved and zeroed on the hot path too.
    Box::pin(resolve_by_refresh(req)).await
}

/// The rest of [`resolve`] once [`settle_now`] has said the cookies need a refresh (the
/// extractors call it directly, having asked already).
async fn resolve_by_refresh(req: &HttpRequest) -> Result<SessionUser, AuthError> {
    let st = state(req)?;
    let user = from_cookies(req, &st, crate::db::now()).await?;
    // A second extractor on this request must not refresh the same cookie again.
    req.extensions_mut().insert(Resolved(user.clone()));
    Ok(user)
}

/// The answer when it needs no refresh (and so no await): a Bearer token, a valid access
/// cookie, or a request already resolved. `None` means the cookies must go to a refresh.
fn settle_now(req: &HttpRequest) -> Option<Result<SessionUser, AuthError>> {
    if let Some(Resolved(u)) = req.extensions().get::<Resolved>() {
        return Some(Ok(u.clone()));
    }
    // Borrowed, not cloned: an Arc count written by every worker on every request.
    let Some(st) = req.app_data::<web::Data<AppState>>() else {
        return Some(Err(AuthError::NoToken));
    };
    let now = crate::db::now();
    if via(req) == Via::Bearer {
        return Some(bearer(req, st, now));
    }
    let [access, refresh] = lookups(req, [st.cookies.access, st.cookies.refresh]);
    let token = match access {
        Lookup::One(token) => token,
        Lookup::Duplicate => return Some(Err(AuthError::InvalidToken)),
        Lookup::Missing => return None,
    };
    match st.auth.authenticate(token, now) {
        Ok(u) if !st.auth.wants_refresh(&u, now) => (refresh != Lookup::Duplicate).then_some(Ok(u)),
        _ => None,
    }
}

fn bearer(req: &HttpRequest, st: &AppState, now: i64) -> Result<SessionUser, AuthError> {
    let mut headers = req.headers().get_all(AUTHORIZATION);
    let (Some(value), None) = (headers.next(), headers.next()) else {
        return Err(AuthError::InvalidToken);
    };
    let bearer = Bearer::parse(value).map_err(|_| AuthError::InvalidToken)?;
    st.auth.authenticate(bearer.token().trim().as_bytes(), now)
}

async fn from_cookies(
    req: &HttpRequest,
    st: &AppState,
    now: i64,
) -> Result<SessionUser, AuthError> {
    let names = &st.cookies;
    let [access, refresh] = lookups(req, [names.access, names.refresh]);
    if access == Lookup::Duplicate || refresh == Lookup::Duplicate {
        return Err(AuthError::InvalidToken);
    }
    let mut still_valid = None;
    let mut why_not = AuthError::NoToken;
    if let Some(token) = access.raw() {
        match st.auth.authenticate(token, now) {
            Ok(u) if !st.auth.wants_refresh(&u, now) => return Ok(u),
            Ok(u) => still_valid = Some(u),
            // Only a genuine expiry, or a revocation whose precise reason the refresh reports,
            // may go on to a refresh; a forged or malformed token never does.
            Err(e @ (AuthError::TokenExpired { .. } | AuthError::SessionRevoked)) => why_not = e,
            Err(e) => return Err(e),
        }
    }
    let Some(presented) = refresh.value() else {
        if matches!(why_not, AuthError::SessionRevoked) {
            push_cookies(req, names.clear_session());
        }
        return Err(why_not);
    };
    let Some(token) = RefreshToken::parse(&presented) else {
        push_cookies(req, names.clear_session());
        return Err(AuthError::SessionExpired);
    };
    let client = super::client::client_info(req, &st.trusted_proxies);
    match st.auth.refresh(token, client).await {
        Ok(issued) => {
            push_cookies(req, super::handlers::session_cookies(st, &issued));
            Ok(issued.user)
        }
        // An outage signs nobody out: keep the cookies, and serve a still-valid token.
        Err(AuthError::Database(e)) => still_valid.ok_or(AuthError::Database(e)),
        // A session bound to a device key is renewed only by its browser's proof (POST
        // /dbsc/refresh). The session is not over: the cookies stay for that browser's next
        // refresh, and a still-valid token is served meanwhile.
        Err(AuthError::DeviceProofRequired) => {
            note_skipped(req);
            still_valid.ok_or(AuthError::DeviceProofRequired)
        }
        Err(e) => {
            push_cookies(req, names.clear_session());
            Err(e)
        }
    }
}

type Fut<T> = Pin<Box<dyn Future<Output = Result<T, AppError>>>>;

/// A handler parameter that requires a signed-in user.
pub struct CurrentUser(pub SessionUser);

impl FromRequest for CurrentUser {
    type Error = AppError;
    type Future = Either<Ready<Result<Self, AppError>>, Fut<Self>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The hot path (a valid access cookie) allocates no future.
        if let Some(settled) = settle_now(req) {
            return Either::Left(ready(settled.map(CurrentUser).map_err(Into::into)));
        }
        let req = req.clone();
        Either::Right(Box::pin(async move {
            Ok(CurrentUser(resolve_by_refresh(&req).await?))
        }))
    }
}

/// [`resolve`], then the admin check: `Forbidden` for anyone else signed in.
pub async fn resolve_admin(req: &HttpRequest) -> Result<SessionUser, AuthError> {
    let user = resolve(req).await?;
    if user.role != Role::Admin {
        return Err(AuthError::Forbidden);
    }
    // The token's role may be up to one access lifetime old: ask the database too.
    state(req)?.auth.ensure_admin(&user).await?;
    Ok(user)
}

/// The cookies queued for this response so far (forward auth repeats them in headers of its
/// own for proxies that pass on only one `Set-Cookie`).
pub fn pending_cookies(req: &HttpRequest) -> Vec<Cookie<'static>> {
    req.extensions()
        .get::<PendingCookies>()
        .map(|p| p.0.clone())
        .unwrap_or_default()
}

/// A handler parameter that requires a signed-in admin (403 for anyone else signed in), checked
/// against the token and then the database, so a demoted or disabled admin is refused at once.
pub struct Admin(pub SessionUser);

impl FromRequest for Admin {
    type Error = AppError;
    type Future = Fut<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { Ok(Admin(resolve_admin(&req).await?)) })
    }
}

/// The signed-in user if there is one; never fails (a page that merely greets the user).
pub struct MaybeUser(pub Option<SessionUser>);

impl FromRequest for MaybeUser {
    type Error = AppError;
    type Future = Either<Ready<Result<Self, AppError>>, Fut<Self>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        if let Some(settled) = settle_now(req) {
            return Either::Left(ready(Ok(MaybeUser(settled.ok()))));
        }
        let req = req.clone();
        Either::Right(Box::pin(async move {
            Ok(MaybeUser(resolve_by_refresh(&req).await.ok()))
        }))
    }
}

/// `Secure-Session-Skipped`: the browser went ahead without refreshing a bound session (its
/// refresh endpoint was unreachable, failed, or a quota ran out). The draft leaves the answer
/// to the server; a skipped refresh proves nothing, so it never stands in for a proof. It is
/// logged, so an unreachable refresh endpoint shows in the logs.
fn note_skipped(req: &HttpRequest) {
    for value in req.headers().get_all("secure-session-skipped") {
        for s in crate::auth::dbsc::parse_skipped(value.to_str().unwrap_or("")) {
            let session = s.session.as_ref().map_or("(unknown)", |id| id.as_str());
            log::info!(
                "browser skipped the device-bound refresh of session {session}: {}",
                s.reason
            );
        }
    }
}
