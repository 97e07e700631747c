//! Start-up: build everything from a [`Config`], bind (port 0 in tests), serve until stopped.

use super::state::AppState;
use crate::auth::AuthService;
use crate::config::{Config, MetricsMode, SigningSecrets};
use crate::db::Db;
use crate::telemetry::{Sample, SampleKind};
use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Condition, Logger};
use actix_web::{web, App, HttpResponse, HttpServer};
use std::net::TcpListener;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// Why the application could not start; `main` prints it on one line.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The signing key.
    #[error(transparent)]
    Secret(#[from] crate::config::SecretError),
    /// The database.
    #[error("DATABASE_URL: {0}")]
    Db(#[from] crate::db::DbError),
    /// The listener.
    #[error("LATCHKEY_BIND: cannot listen on {addr}: {source}")]
    Bind {
        /// Address.
        addr: String,
        /// OS error.
        source: std::io::Error,
    },
    /// The crypto self-test.
    #[error("{0}")]
    SelfTest(String),
}

/// A built, bound, not yet awaited server.
pub struct Application {
    port: u16,
    server: Server,
    state: AppState,
}

/// Routes of an application built on Latchkey (see [`Application::build_with`]).
pub type ExtraRoutes = Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>;

impl Application {
    /// Resolves the key, connects and migrates the database, self-tests JWT, binds the listener.
    pub async fn build(config: Config) -> Result<Self, StartError> {
        Self::build_with(config, |_| {}).await
    }

    /// [`Self::build`], serving `routes` of your own beside Latchkey's: inside the same frame
    /// (the `Origin` check on unsafe methods, rotated cookies written out, error pages and
    /// sign-in redirects, security headers), so a handler that takes
    /// [`CurrentUser`](super::guard::CurrentUser) gets transparent refresh and the sign-in
    /// redirect with `next`. Latchkey's own paths are matched first. See
    /// [`extend`](super::extend) and `examples/team_page`.
    pub async fn build_with(
        config: Config,
        routes: impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static,
    ) -> Result<Self, StartError> {
        let routes: ExtraRoutes = Arc::new(routes);
        let secrets = SigningSecrets::resolve(&config.secret, &config.previous_secrets)?;
        let db = Db::connect(&config.database_url, config.db_pool_size, config.db_timeout)?;
        db.check()?;
        let applied = {
            let db = db.clone();
            tokio::task::spawn_blocking(move || db.migrate())
                .await
                .map_err(|e| crate::db::DbError::Unavailable(e.to_string()))??
        };
        if applied > 0 {
            log::info!("applied {applied} migration(s)");
        }
        let auth = Arc::new(AuthService::new(&config, &secrets, db));
        auth.keys.self_test().map_err(StartError::SelfTest)?;
        // In the background: at cost 12 it takes ~240 ms, which start-up need not wait for.
        let hasher = auth.hasher.clone();
        tokio::spawn(async move { hasher.warm_up().await });
        if let Err(e) = auth.revocations.sync_now(&auth.db).await {
            log::warn!("initial revocation sync failed (will retry): {e}");
        }
        spawn_revocation_sync(Arc::downgrade(&auth), config.revocation_sync);
        spawn_activity_flush(
            Arc::downgrade(&auth),
            (config.revocation_sync / 2).max(Duration::from_millis(200)),
        );
        // Dashboard views and /metrics read the last count; make the first before serving.
        if let Err(e) = auth.count_live_sessions_now().await {
            log::warn!("counting live sessions failed (will retry): {e}");
        }
        spawn_session_count(Arc::downgrade(&auth), config.metrics_refresh);
        for adjusted in &config.adjustments {
            log::warn!("{adjusted}");
        }
        if config.bcrypt_cost < 10 {
            log::warn!(
                "LATCHKEY_BCRYPT_COST={} is below 10: fine for tests, too weak for production",
                config.bcrypt_cost
            );
        }

        let state = AppState::new(&config, auth);
        let listener = TcpListener::bind(&config.bind).map_err(|source| StartError::Bind {
            addr: config.bind.clone(),
            source,
        })?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let shared = state.clone();
        let base = state.urls.base().to_string();
        // actix's Logger builds its line (the peer's address formatted, the request line
        // copied) on every request and only then asks whether it may be written: about a quarter
        // of a cheap request's work. The filter is fixed at start-up, so ask once.
        let access_log = log::log_enabled!(target: ACCESS_LOG, log::Level::Info);
        let server = HttpServer::new(move || {
            let routes = routes.clone();
            // One `Data` per worker: handlers clone it on every request, and a count shared by
            // all workers had every core writing the same cache line.
            let data = web::Data::new(shared.clone());
            let inline = data.metrics_inline;
            let app = App::new()
                .app_data(data.clone())
                .app_data(web::FormConfig::default().limit(16 * 1024))
                .app_data(web::JsonConfig::default().limit(16 * 1024))
                .app_data(web::PayloadConfig::new(16 * 1024))
                .wrap(from_fn(super::middleware::frame))
                .wrap(Condition::new(access_log, access_logger()));
            let app = if base.is_empty() {
                app.configure(|cfg| mount(cfg, inline, &*routes))
            } else {
                // Everything, probes and static files included, lives under the base path.
                app.service(
                    web::scope(&base)
                        .configure(|cfg| mount(cfg, inline, &*routes))
                        // The base path without its slash (`/auth`) is the home page's address too.
                        .service(web::resource("").to(super::handlers::pages::base_alone)),
                )
            };
            app.default_service(web::to(super::handlers::pages::not_found))
        })
        .shutdown_timeout(DRAIN_SECS)
        // actix stops abruptly on SIGINT; `serve_until_signal` makes both signals graceful.
        .disable_signals()
        .listen(listener)
        .map_err(|source| StartError::Bind {
            addr: config.bind.clone(),
            source,
        })?
        .run();
        if let MetricsMode::Bind(addr) = config.metrics {
            spawn_metrics_listener(addr, state.clone())?;
        }
        log::info!(
            "listening on {} (database: {:?})",
            config.bind.replace(":0", &format!(":{port}")),
            state.auth.db.backend()
        );
        Ok(Self {
            port,
            server,
            state,
        })
    }

    /// The bound port (useful with port 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The shared state (tests read the database and counters through it).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped through [`Self::handle`] (tests); no signal handling.
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }

    /// Serves until SIGINT or SIGTERM, then stops gracefully: no new connections, in-flight
    /// requests finish (for up to 10 s), then the future resolves. The binary's `serve`.
    pub async fn serve_until_signal(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        actix_web::rt::spawn(async move {
            let name = stop_signal().await;
            log::info!("{name} received: finishing in-flight requests (up to {DRAIN_SECS} s)");
            handle.stop(true).await;
        });
        self.server.await
    }
}

/// Every route, static files and (when inline) `/metrics`, at the root or inside the base path's
/// scope.
fn mount(
    cfg: &mut web::ServiceConfig,
    metrics_inline: bool,
    extra: &(dyn Fn(&mut web::ServiceConfig) + Send + Sync),
) {
    super::routes::configure(cfg);
    extra(cfg);
    if metrics_inline {
        cfg.route("/metrics", web::get().to(super::handlers::pages::metrics));
    }
}

/// How long a graceful stop waits for in-flight requests.
const DRAIN_SECS: u64 = 10;

/// The log target of actix's access log (one line per request, at `info`).
const ACCESS_LOG: &str = "actix_web::middleware::logger";

/// The access log: `PEER "REQUEST LINE" STATUS BYTES TIMEms`. The peer is the connection's IP,
/// as actix's `%a` writes it, but read from the socket: `%a` builds the whole `ConnectionInfo`
/// (scheme, host and client address from the `Forwarded` and `X-Forwarded-*` headers, each
/// copied) to print that one field.
fn access_logger() -> Logger {
    Logger::new("%{peer}xi \"%r\" %s %b %Dms").custom_request_replace("peer", |req| {
        req.peer_addr()
            .map_or_else(|| "-".to_string(), |a| a.ip().to_string())
    })
}

/// Waits for SIGINT or SIGTERM and names the one that came.
async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use actix_web::rt::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = actix_web::rt::signal::ctrl_c() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            },
            Err(e) => {
                log::warn!("cannot listen for SIGTERM ({e}); stopping on SIGINT only");
                let _ = actix_web::rt::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = actix_web::rt::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// Syncs revocations every `bound / 2` on a thread with its own database connection: neither
/// requests holding every pooled connection nor writes waiting on locks (the activity flush
/// below can wait the whole database timeout) can hold it back, so a revocation made anywhere
/// is refused here within `bound`. The thread ends once the service is dropped.
fn spawn_revocation_sync(auth: Weak<AuthService>, bound: Duration) {
    let every = (bound / 2).max(Duration::from_millis(200));
    let spawned = std::thread::Builder::new()
        .name("latchkey-revocations".into())
        .spawn(move || {
            let mut conn = None;
            loop {
                std::thread::sleep(every);
                let Some(auth) = auth.upgrade() else { break };
                if conn.is_none() {
                    conn = auth
                        .db
                        .dedicated()
                        .map_err(|e| log::warn!("revocation sync cannot connect (will retry): {e}"))
                        .ok();
                }
                if let Some(c) = conn.as_mut() {
                    if let Err(e) = auth.revocations.sync(c, crate::db::now()) {
                        log::warn!("revocation sync failed (will retry): {e}");
                        // A fresh connection next time, in case this one is broken.
                        conn = None;
                    }
                }
            }
        });
    if let Err(e) = spawned {
        log::error!("cannot start the revocation sync thread: {e}");
    }
}

/// Writes the activity counts (and prunes the revocation log) on its own timer, off the request
/// path; a slow write delays only the next flush.
fn spawn_activity_flush(auth: Weak<AuthService>, every: Duration) {
    spawn_every(auth, every, |auth| async move {
        if let Err(e) = auth.flush_activity().await {
            log::warn!("activity counts not written yet: {e}");
        }
        if let Err(e) = auth.prune_revocation_log().await {
            log::debug!("revocation log not pruned yet: {e}");
        }
    });
}

/// Keeps the live-session count (dashboard and `/metrics`) fresh without counting rows on
/// any request.
fn spawn_session_count(auth: Weak<AuthService>, every: Duration) {
    spawn_every(auth, every.max(Duration::from_secs(1)), |auth| async move {
        if let Err(e) = auth.count_live_sessions_now().await {
            log::debug!("active-session count skipped: {e}");
        }
    });
}

/// Runs `job` every `every` until the service is dropped (the server has stopped). Start-up
/// has just done each job once, so the first run is one interval away; a slow run delays the
/// next rather than bunching them up.
fn spawn_every<F, Fut>(auth: Weak<AuthService>, every: Duration, job: F)
where
    F: Fn(Arc<AuthService>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(auth) = auth.upgrade() else { break };
            job(auth).await;
        }
    });
}

fn spawn_metrics_listener(addr: std::net::SocketAddr, state: AppState) -> Result<(), StartError> {
    let data = web::Data::new(state);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/metrics", web::get().to(super::handlers::pages::metrics))
            .default_service(web::to(HttpResponse::NotFound))
    })
    .workers(1)
    .disable_signals()
    .bind(addr)
    .map_err(|source| StartError::Bind {
        addr: addr.to_string(),
        source,
    })?
    .run();
    tokio::spawn(server);
    Ok(())
}

/// The Prometheus page: the registered metrics plus values read now.
pub fn metrics_text(st: &AppState) -> String {
    let db = &st.auth.db;
    let (conns, idle) = db.pool_state();
    let gauge = |name, help, value: f64| Sample {
        name,
        help,
        kind: SampleKind::Gauge,
        value,
    };
    st.auth.metrics.render(&[
        gauge(
            "latchkey_db_pool_max",
            "Most database connections the pool opens.",
            db.pool_max() as f64,
        ),
        gauge(
            "latchkey_db_pool_in_use",
            "Database connections checked out now.",
            conns.saturating_sub(idle) as f64,
        ),
        gauge(
            "latchkey_db_pool_connections",
            "Open database connections.",
            conns as f64,
        ),
        gauge(
            "latchkey_db_pool_idle",
            "Idle database connections.",
            idle as f64,
        ),
        gauge(
            "latchkey_revoked_sessions_cached",
            "Revoked session ids held for live-token checks.",
            st.auth.revocations.len() as f64,
        ),
        Sample {
            name: "latchkey_db_unavailable_total",
            help: "Requests for a database connection that failed in time (each became a 503).",
            kind: SampleKind::Counter,
            value: db.checkout_failures() as f64,
        },
    ])
}
