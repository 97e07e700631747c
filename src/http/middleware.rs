//! The frame around every request: the `Origin`/`Sec-Fetch-Site` check and the body deadline
//! for unsafe methods, error rendering (the one place errors become responses), queued cookies,
//! and security headers.

use super::error::{render_error, render_other, AppError};
use super::guard::PendingCookies;
use super::state::AppState;
use crate::auth::AuthError;
use crate::telemetry::RouteGroup;
use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage};
use futures_util::future::{self, Either};
use futures_util::stream::{self, StreamExt};
use std::io;
use std::time::{Duration, Instant};

/// No script at all (so none inline), no framing, forms only to ourselves.
const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; font-src 'self'; \
                   form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The middleware function (wrap with `actix_web::middleware::from_fn`).
pub async fn frame(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let state = req.app_data::<web::Data<AppState>>();
    let secure = state.is_none_or(|s| s.cookies.secure);
    let body_timeout = state.map(|s| s.body_timeout);
    let unsafe_method = is_unsafe(req.method());
    // A proxy's forward-auth call repeats the original request's method and `Origin`, but it is
    // a question about that request, not a state change of ours (the guard alone answers it).
    let asks_for_a_proxy = state
        .and_then(|s| s.urls.local(req.path()))
        .is_some_and(|p| p == "/authz/forward-auth");
    if let Some(deadline) = body_timeout.filter(|_| unsafe_method) {
        limit_body(&mut req, deadline);
    }
    let res = if unsafe_method
        && !asks_for_a_proxy
        && !req.headers().contains_key(header::AUTHORIZATION)
        && cross_origin(&req)
    {
        log::info!(
            "{} {} refused: cross-origin request",
            req.method(),
            req.path()
        );
        let (http_req, _) = req.into_parts();
        let body = render_error(&http_req, &AuthError::CsrfFailed);
        ServiceResponse::new(http_req, body)
    } else {
        let res = next.call(req).await?.map_into_boxed_body();
        match res.response().error() {
            Some(err) => {
                let page = match err.as_error::<AppError>() {
                    Some(app) => render_error(res.request(), &app.0),
                    None => {
                        if res.status().is_server_error() {
                            log::error!(
                                "{} {}: {err}",
                                res.request().method(),
                                res.request().path()
                            );
                        }
                        render_other(res.request(), res.status())
                    }
                };
                res.into_response(page)
            }
            // actix's own bare 405 for a known path gets the same page (or JSON) as any other
            // failure, keeping its `Allow` header.
            None if res.status() == StatusCode::METHOD_NOT_ALLOWED => {
                let allow = res.headers().get(header::ALLOW).cloned();
                let mut page = render_other(res.request(), res.status());
                if let Some(allow) = allow {
                    page.headers_mut().insert(header::ALLOW, allow);
                }
                res.into_response(page)
            }
            None => res,
        }
    };
    // The state is read again from the finished request: holding it across the await would
    // cost an Arc clone per request.
    if let Some(st) = res.request().app_data::<web::Data<AppState>>() {
        let path = res.request().path();
        // Grouped by the route below LATCHKEY_BASE_PATH; anything outside it is a 404 page.
        let group = st
            .urls
            .local(path)
            .map_or(RouteGroup::Pages, RouteGroup::of);
        st.auth
            .metrics
            .observe_request(group, res.status().as_u16(), started.elapsed());
    }
    Ok(finish(res, secure))
}

/// Gives a request's body `deadline` to arrive in full. actix answers a stalled head with 408
/// but waits on a body for ever: a client announcing 100 bytes and sending 4 held its connection
/// as long as it liked. The late body fails its extractor, which answers 400.
fn limit_body(req: &mut ServiceRequest, deadline: Duration) {
    let headers = req.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if !has_body {
        return;
    }
    let body = req.take_payload();
    let expiry = Box::pin(tokio::time::sleep(deadline));
    let limited = stream::unfold(Some((body, expiry)), |state| async move {
        let (mut body, mut expiry) = state?;
        let next = match future::select(body.next(), expiry.as_mut()).await {
            Either::Left((chunk, _)) => chunk,
            Either::Right(_) => {
                let late = io::Error::new(io::ErrorKind::TimedOut, "the request body was too slow");
                return Some((Err(PayloadError::Io(late)), None));
            }
        };
        next.map(|chunk| (chunk, Some((body, expiry))))
    });
    req.set_payload(Payload::Stream {
        payload: Box::pin(limited),
    });
}

fn finish(mut res: ServiceResponse<BoxBody>, secure: bool) -> ServiceResponse<BoxBody> {
    let pending = res.request().extensions_mut().remove::<PendingCookies>();
    let path = res.request().path();
    let local = match res.request().app_data::<web::Data<AppState>>() {
        Some(st) => st.urls.local(path).unwrap_or(""),
        None => path,
    };
    let is_static = local.starts_with("/static/");
    // Forward auth's "yes" goes to the proxy alone (nginx, Caddy and Traefik never pass it to
    // a browser), so the page headers below would be bytes for nobody; its refusals can reach a
    // browser (Caddy returns them as they are) and keep them.
    let proxy_only = local.starts_with("/authz/") && res.status() == StatusCode::OK;
    let h = res.response_mut();
    if let Some(PendingCookies(cookies)) = pending {
        for c in cookies {
            if let Ok(v) = HeaderValue::from_str(&c.to_string()) {
                h.headers_mut().append(header::SET_COOKIE, v);
            }
        }
    }
    let headers = h.headers_mut();
    if !is_static || headers.contains_key(header::SET_COOKIE) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if proxy_only {
        return res;
    }
    let fixed: [(HeaderName, &'static str); 6] = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
        (
            HeaderName::from_static("permissions-policy"),
            "camera=(), microphone=(), geolocation=(), interest-cohort=()",
        ),
    ];
    for (name, value) in fixed {
        headers.insert(name, HeaderValue::from_static(value));
    }
    if secure {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    res
}

fn is_unsafe(m: &Method) -> bool {
    !matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    )
}

/// A browser says where a request came from; anything but this origin is refused.
fn cross_origin(req: &ServiceRequest) -> bool {
    let get = |name: &str| {
        req.headers()
            .get(name)
            .map(|v| v.to_str().unwrap_or("\u{0}"))
    };
    if let Some(site) = get("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return true;
        }
    }
    if let Some(origin) = get("origin") {
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().authority().map(|a| a.as_str()))
            .unwrap_or("");
        let authority = origin.split_once("://").map(|(_, a)| a).unwrap_or("\u{0}");
        return !authority.eq_ignore_ascii_case(host);
    }
    false
}
