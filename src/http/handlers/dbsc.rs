//! Device-bound sessions (CONTRACT §9): the registration header on sign-in, `POST /dbsc/register`
//! and `POST /dbsc/refresh`. The checks live in `auth::dbsc`; the rotation is §4's own.

use crate::auth::dbsc::{self, Refusal};
use crate::auth::{AuthError, Issued, RefreshToken, SessionUser};
use crate::domain::SessionId;
use crate::http::client::client_info;
use crate::http::cookies::{lookup, Lookup};
use crate::http::error::AppError;
use crate::http::guard::push_cookies;
use crate::http::state::AppState;
use actix_web::cookie::Cookie;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::json;

/// Where browsers register (the path in `Secure-Session-Registration`, under the base path).
pub const REGISTER_PATH: &str = "/dbsc/register";
/// Where browsers refresh (the session instructions' `refresh_url`, under the base path).
pub const REFRESH_PATH: &str = "/dbsc/refresh";

const REGISTRATION: &str = "secure-session-registration";
const CHALLENGE: &str = "secure-session-challenge";
const RESPONSE: &str = "secure-session-response";
const SESSION_ID: &str = "sec-secure-session-id";

/// Adds `Secure-Session-Registration` to a response that signs `user` in, when DBSC is on. A
/// database failure only leaves the offer out: the sign-in itself stands.
pub async fn offer_registration(st: &AppState, user: &SessionUser, res: &mut HttpResponse) {
    if !st.dbsc {
        return;
    }
    match st.auth.dbsc_challenge(&user.session_id).await {
        Ok(c) => set_header(
            res,
            REGISTRATION,
            dbsc::registration_header(&st.urls.at(REGISTER_PATH), &c),
        ),
        Err(e) => log::warn!("no device-binding offer on this sign-in: {e}"),
    }
}

fn set_header(res: &mut HttpResponse, name: &'static str, value: Option<String>) {
    if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
        res.headers_mut().insert(HeaderName::from_static(name), v);
    }
}

/// The single value of a header, as text; `Err` when it is sent twice or is not text.
fn single_header<'a>(req: &'a HttpRequest, name: &str) -> Result<Option<&'a str>, ()> {
    let mut values = req.headers().get_all(name);
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(v), None) => v.to_str().map(Some).map_err(|_| ()),
        _ => Err(()),
    }
}

/// The proof JWT from `Secure-Session-Response`: a structured-field string, or bare (a JWT
/// is also a valid token).
fn proof_of(req: &HttpRequest) -> Result<Option<String>, ()> {
    let Some(raw) = single_header(req, RESPONSE)? else {
        return Ok(None);
    };
    match dbsc::sfv::parse_item(raw).map_err(|_| ())?.bare {
        dbsc::sfv::BareItem::String(s) | dbsc::sfv::BareItem::Token(s) => Ok(Some(s)),
        _ => Err(()),
    }
}

/// An empty answer with a status (DBSC's endpoints speak to the browser's network stack, not
/// to a person; nothing here is rendered).
fn bare(status: StatusCode) -> HttpResponse {
    HttpResponse::build(status).finish()
}

/// The session instructions: the access cookie is the bound credential, with exactly the
/// attributes it is set with. A cookie shared across a cookie domain is sent to the whole
/// site, so the session's scope is the site then, and this origin alone otherwise.
fn instructions(st: &AppState, session: &SessionId) -> serde_json::Value {
    json!({
        "session_identifier": session.as_str(),
        "refresh_url": st.urls.at(REFRESH_PATH),
        "scope": { "include_site": st.cookies.domain.is_some() },
        "credentials": [{
            "type": "cookie",
            "name": st.cookies.access,
            "attributes": st.cookies.access_attributes(),
        }],
    })
}

/// How long a bound session's access cookie lives: until the guard would want to refresh it,
/// so the browser renews it (with a proof) before any page sees it stale.
fn bound_access_cookie(st: &AppState, token: &str, expires_at: i64) -> Cookie<'static> {
    let left = expires_at - crate::db::now();
    let max_age = (left - st.auth.settings.refresh_ahead).max(left / 2).max(1);
    st.cookies.access_cookie(token, max_age)
}

fn bound_cookies(st: &AppState, issued: &Issued) -> [Cookie<'static>; 2] {
    [
        bound_access_cookie(st, &issued.access_token, issued.user.access_expires_at),
        st.cookies
            .refresh_cookie(issued.refresh_token.expose(), issued.refresh_max_age),
    ]
}

/// `POST /dbsc/register`: binds the key of a valid registration proof to the signed-in session.
pub async fn register(req: HttpRequest, st: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    if !st.dbsc {
        return Err(AuthError::NotFound.into());
    }
    let Ok(Some(proof)) = proof_of(&req) else {
        return Ok(bare(StatusCode::BAD_REQUEST));
    };
    // Only a valid access cookie names the session: registration follows a sign-in at once,
    // and must never refresh (or bind) anything on a refresh cookie's word.
    let Lookup::One(token) = lookup(&req, st.cookies.access) else {
        return Ok(bare(StatusCode::UNAUTHORIZED));
    };
    let now = crate::db::now();
    let user = match st.auth.authenticate(token, now) {
        Ok(u) => u,
        Err(_) => return Ok(bare(StatusCode::UNAUTHORIZED)),
    };
    let token = String::from_utf8_lossy(token).into_owned();
    let client = client_info(&req, &st.trusted_proxies);
    match st.auth.dbsc_register(&user, &proof, &client).await {
        Ok(_) => {
            push_cookies(
                &req,
                [bound_access_cookie(&st, &token, user.access_expires_at)],
            );
            Ok(HttpResponse::Ok().json(instructions(&st, &user.session_id)))
        }
        Err(Ok(why)) => {
            log::info!(
                "device registration refused on session {}: {}",
                user.session_id,
                why.as_str()
            );
            Ok(bare(StatusCode::BAD_REQUEST))
        }
        Err(Err(e @ AuthError::Database(_))) => Err(e.into()),
        // The challenge was not this session's, spent or expired; or the session is already
        // bound or ended. Nothing changed.
        Err(Err(_)) => Ok(bare(StatusCode::FORBIDDEN)),
    }
}

/// `POST /dbsc/refresh`: `403` with a fresh challenge until a valid proof arrives, then the
/// session rotates as in §4 and the new cookies are set with the next challenge pre-loaded.
pub async fn refresh(req: HttpRequest, st: web::Data<AppState>) -> Result<HttpResponse, AppError> {
    if !st.dbsc {
        return Err(AuthError::NotFound.into());
    }
    let session = match single_header(&req, SESSION_ID) {
        Ok(Some(raw)) => dbsc::parse_session_id(raw),
        _ => None,
    };
    let (Some(session), Ok(proof)) = (session, proof_of(&req)) else {
        return Ok(bare(StatusCode::BAD_REQUEST));
    };
    let client = client_info(&req, &st.trusted_proxies);
    let proven = match st.auth.dbsc_prove(&session, proof.as_deref()).await {
        Ok(p) => p,
        Err(Refusal::NotBound) => return Ok(bare(StatusCode::UNAUTHORIZED)),
        Err(Refusal::Database(e)) => return Err(AppError(AuthError::Database(e))),
        Err(Refusal::Bad(why)) => {
            st.auth
                .dbsc_proof_failed(&session, None, why.as_str(), &client)
                .await;
            return challenge(&st, &session).await;
        }
        Err(Refusal::NoProof | Refusal::StaleChallenge) => return challenge(&st, &session).await,
    };
    let presented = match lookup(&req, st.cookies.refresh).value() {
        Some(v) => RefreshToken::parse(&v),
        None => None,
    };
    let Some(presented) = presented else {
        return Ok(bare(StatusCode::UNAUTHORIZED));
    };
    match st.auth.refresh_bound(presented, client, &proven).await {
        Ok(issued) => {
            push_cookies(&req, bound_cookies(&st, &issued));
            let mut res = HttpResponse::Ok().json(instructions(&st, &session));
            if let Ok(next) = st.auth.dbsc_challenge(&session).await {
                set_header(&mut res, CHALLENGE, dbsc::challenge_header(&next, &session));
            }
            Ok(res)
        }
        Err(e @ AuthError::Database(_)) => Err(e.into()),
        Err(_) => {
            push_cookies(&req, st.cookies.clear_session());
            Ok(bare(StatusCode::UNAUTHORIZED))
        }
    }
}

/// `403` with `Secure-Session-Challenge: "<fresh>";id="<session>"`.
async fn challenge(st: &AppState, session: &SessionId) -> Result<HttpResponse, AppError> {
    let c = st.auth.dbsc_challenge(session).await?;
    let mut res = bare(StatusCode::FORBIDDEN);
    set_header(&mut res, CHALLENGE, dbsc::challenge_header(&c, session));
    Ok(res)
}
