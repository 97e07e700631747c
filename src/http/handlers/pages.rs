//! Public pages and probes: home, `/healthz`, `/readyz`, `/metrics`, and the not-found fallback.

use crate::auth::AuthError;
use crate::http::error::AppError;
use crate::http::guard::MaybeUser;
use crate::http::state::AppState;
use crate::http::views::{render, Chrome, HomePage};
use actix_web::{web, HttpResponse};
use diesel::connection::SimpleConnection;

/// `GET /`: greets a signed-in user by name.
pub async fn home(st: web::Data<AppState>, user: MaybeUser) -> HttpResponse {
    let chrome = match &user.0 {
        Some(u) => Chrome::signed_in(&st.urls, u, st.auth.csrf.for_session(u.session_id.as_str())),
        None => Chrome::anonymous(&st.urls),
    };
    render(
        &mut HttpResponse::Ok(),
        &HomePage {
            chrome,
            registration_open: st.auth.settings.registration_open,
        },
    )
}

/// `GET /healthz`: the process runs.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

/// `GET /readyz`: the database answers.
pub async fn readyz(st: web::Data<AppState>) -> HttpResponse {
    match st.auth.db.run(|c| Ok(c.batch_execute("SELECT 1")?)).await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ok"),
        Err(e) => {
            log::warn!("readiness check failed: {e}");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("database unavailable")
        }
    }
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(st: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(crate::http::server::metrics_text(&st))
}

/// Any unknown route.
pub async fn not_found() -> Result<HttpResponse, AppError> {
    Err(AuthError::NotFound.into())
}
