//! Start-up: build everything from a [`Config`], bind (port 0 in tests), serve until stopped.

use super::state::AppState;
use crate::auth::AuthService;
use crate::config::{Config, MetricsMode, SigningSecrets};
use crate::db::Db;
use actix_web::dev::Server;
use actix_web::middleware::{from_fn, Logger};
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

impl Application {
    /// Resolves the key, connects and migrates the database, self-tests JWT, binds the listener.
    pub async fn build(config: Config) -> Result<Self, StartError> {
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
        if let Err(e) = auth.revocations.sync_now(&auth.db).await {
            log::warn!("initial revocation sync failed (will retry): {e}");
        }
        spawn_revocation_sync(Arc::downgrade(&auth), config.revocation_sync);
        // Learn before serving whether counting live sessions is slow here, so a large
        // database never makes the first dashboard view wait (see auth::live_count).
        if let Err(e) = auth.count_live_sessions_now().await {
            log::warn!("counting live sessions failed (will retry on demand): {e}");
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
        let data = web::Data::new(state.clone());
        let server = HttpServer::new(move || {
            let mut app = App::new()
                .app_data(data.clone())
                .app_data(web::FormConfig::default().limit(16 * 1024))
                .app_data(web::JsonConfig::default().limit(16 * 1024))
                .wrap(from_fn(super::middleware::frame))
                .wrap(Logger::new("%a \"%r\" %s %b %Dms"))
                .configure(super::routes::configure)
                .service(actix_files::Files::new("/static", static_dir()).prefer_utf8(true));
            if data.metrics_inline {
                app = app.route("/metrics", web::get().to(super::handlers::pages::metrics));
            }
            app.default_service(web::to(super::handlers::pages::not_found))
        })
        .shutdown_timeout(10)
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

    /// Serves until SIGINT/SIGTERM (graceful: in-flight requests finish).
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// `./static` when run from the checkout, else the copy next to the sources it was built from.
fn static_dir() -> String {
    if std::path::Path::new("static/style.css").exists() {
        "static".into()
    } else {
        concat!(env!("CARGO_MANIFEST_DIR"), "/static").into()
    }
}

fn spawn_revocation_sync(auth: Weak<AuthService>, bound: Duration) {
    let every = (bound / 2).max(Duration::from_millis(200));
    tokio::spawn(async move {
        // `build` has just synced, so the first tick is one interval away.
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(auth) = auth.upgrade() else { break };
            if let Err(e) = auth.revocations.sync_now(&auth.db).await {
                log::warn!("revocation sync failed: {e}");
            }
            // Riding on the same tick keeps activity counting off the request path.
            if let Err(e) = auth.flush_activity().await {
                log::warn!("activity counts not written yet: {e}");
            }
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
    .bind(addr)
    .map_err(|source| StartError::Bind {
        addr: addr.to_string(),
        source,
    })?
    .run();
    tokio::spawn(server);
    Ok(())
}

/// The Prometheus page: counters plus gauges measured now.
pub fn metrics_text(st: &AppState) -> String {
    let (conns, idle) = st.auth.db.pool_state();
    st.auth.metrics.render(&[
        (
            "latchkey_db_pool_connections",
            "Open database connections.",
            conns as f64,
        ),
        (
            "latchkey_db_pool_idle",
            "Idle database connections.",
            idle as f64,
        ),
        (
            "latchkey_revoked_sessions_cached",
            "Revoked session ids held for live-token checks.",
            st.auth.revocations.len() as f64,
        ),
    ])
}
