//! Logging set-up and the Prometheus counters operators read.

use prometheus::core::Collector;
use prometheus::{
    Counter, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts,
    Registry, TextEncoder,
};
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Crates whose debug and trace records may carry request content: actix-web's access-log
/// middleware prints the `Debug` of a failed extractor, and serde's messages quote the value
/// that did not fit (a refresh token posted as a bare JSON string, say). Their records above
/// `info` are dropped whatever `RUST_LOG` asks for, so no level ever logs a secret.
const CAPPED_TARGETS: &[&str] = &["actix_web", "actix_http", "h2", "hyper"];

/// Whether a record may be written: everything of ours, and only `info` and above of the
/// crates in `CAPPED_TARGETS`.
pub fn may_log(target: &str, level: log::Level) -> bool {
    level <= log::Level::Info
        || !CAPPED_TARGETS.iter().any(|t| {
            target == *t
                || target
                    .strip_prefix(t)
                    .is_some_and(|rest| rest.starts_with("::"))
        })
}

/// The level a record is shown at. actix-http writes a client's malformed request or broken
/// connection ("stream error: …", "unexpected eof") as an ERROR from its connection dispatcher;
/// it is about that one connection, not the server, so operators see it as a warning.
fn shown_level(target: &str, level: log::Level) -> log::Level {
    if level == log::Level::Error && target == "actix_http::h1::dispatcher" {
        log::Level::Warn
    } else {
        level
    }
}

/// Starts env_logger with `RUST_LOG` (default `info`). Nothing logged anywhere carries a token,
/// cookie or password: the redacting `Debug` impls, the access log format and the cap on
/// noisy dependencies ([`may_log`]) make sure.
pub fn init_logging() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format(|buf, record| {
            if !may_log(record.target(), record.level()) {
                return Ok(());
            }
            writeln!(
                buf,
                "[{} {:<5} {}] {}",
                buf.timestamp_millis(),
                shown_level(record.target(), record.level()),
                record.target(),
                record.args()
            )
        })
        .try_init();
}

/// Where a request went, for the request-duration histogram: a handful of fixed groups, so
/// the label set stays small whatever paths clients try.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteGroup {
    /// HTML pages for users (and anything unknown: its 404 page).
    Pages,
    /// `/api/…`.
    Api,
    /// `/admin` and below.
    Admin,
    /// `/static/…`.
    Static,
    /// `/healthz`, `/readyz`, `/metrics`.
    Probes,
}

impl RouteGroup {
    const ALL: [Self; 5] = [
        Self::Pages,
        Self::Api,
        Self::Admin,
        Self::Static,
        Self::Probes,
    ];

    /// The group of a request path.
    pub fn of(path: &str) -> Self {
        let under = |prefix: &str| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        };
        if under("/static") {
            Self::Static
        } else if under("/api") {
            Self::Api
        } else if under("/admin") {
            Self::Admin
        } else if matches!(path, "/healthz" | "/readyz" | "/metrics") {
            Self::Probes
        } else {
            Self::Pages
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Pages => "pages",
            Self::Api => "api",
            Self::Admin => "admin",
            Self::Static => "static",
            Self::Probes => "probes",
        }
    }
}

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Request-duration buckets, seconds: a cached page answers in well under a millisecond, a
/// sign-in spends a quarter of a second in bcrypt, a database outage waits seconds for a 503.
const REQUEST_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];
/// bcrypt buckets, seconds: cost 12 takes about 0.25 s on one core, cost 4 (tests) about 1 ms.
const BCRYPT_BUCKETS: &[f64] = &[0.001, 0.01, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0];

/// Process-wide metrics, kept by the `prometheus` crate and rendered in its text format by
/// [`Metrics::render`]. Counters are children of labelled families resolved once here, and
/// the request histogram's every (group, status class) child too, so recording a request is
/// a few atomic additions with no label lookup.
pub struct Metrics {
    registry: Registry,
    /// Successful sign-ins.
    pub login_success: IntCounter,
    /// Failed sign-ins.
    pub login_failure: IntCounter,
    /// Sign-ins refused by throttling.
    pub login_throttled: IntCounter,
    /// Refresh tokens rotated.
    pub refresh_rotated: IntCounter,
    /// Refreshes answered within the grace window.
    pub refresh_grace: IntCounter,
    /// Refreshes refused: expired or unknown.
    pub refresh_expired: IntCounter,
    /// Refreshes refused: revoked.
    pub refresh_revoked: IntCounter,
    /// Refreshes refused: reuse detected.
    pub refresh_reused: IntCounter,
    /// Refreshes that failed on the database.
    pub refresh_error: IntCounter,
    /// Sessions ended.
    pub revocations: IntCounter,
    /// Accounts created.
    pub registrations: IntCounter,
    /// How long a refresh-token rotation took, database transaction included.
    pub rotation_seconds: Histogram,
    /// How long one bcrypt hash took (new passwords).
    pub bcrypt_hash_seconds: Histogram,
    /// How long one bcrypt verification took (sign-ins, password changes).
    pub bcrypt_verify_seconds: Histogram,
    requests: [[Histogram; 5]; 5],
    /// Live sessions at the last background count, plus one (0 = not counted yet).
    active_sessions: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Registers a collector whose name and labels are constants of this module: that cannot fail
/// except by a programming mistake, which the unit tests below would show at once.
fn registered<C: prometheus::core::Collector + Clone + 'static>(registry: &Registry, c: C) -> C {
    if let Err(e) = registry.register(Box::new(c.clone())) {
        log::error!("metric not registered: {e}");
    }
    c
}

fn opts(name: &str, help: &str) -> Opts {
    Opts::new(name, help)
}

impl Metrics {
    /// Every metric registered, at zero.
    pub fn new() -> Self {
        let registry = Registry::new();
        let vec = |name: &str, help: &str, label: &str| {
            registered(
                &registry,
                IntCounterVec::new(opts(name, help), &[label]).expect("valid counter family"),
            )
        };
        let logins = vec(
            "latchkey_logins_total",
            "Sign-in attempts by outcome.",
            "outcome",
        );
        let refreshes = vec(
            "latchkey_refreshes_total",
            "Refresh attempts by outcome.",
            "outcome",
        );
        let counter = |name: &str, help: &str| {
            registered(
                &registry,
                IntCounter::with_opts(opts(name, help)).expect("valid counter"),
            )
        };
        let histogram = |name: &str, help: &str, buckets: &[f64]| {
            registered(
                &registry,
                Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets.to_vec()))
                    .expect("valid histogram"),
            )
        };
        let requests = registered(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "latchkey_http_request_duration_seconds",
                    "Time from a request's arrival to its response head, by route group and status class.",
                )
                .buckets(REQUEST_BUCKETS.to_vec()),
                &["group", "status"],
            )
            .expect("valid histogram family"),
        );
        let bcrypt = registered(
            &registry,
            HistogramVec::new(
                HistogramOpts::new(
                    "latchkey_bcrypt_duration_seconds",
                    "Time one bcrypt computation took on the blocking pool, by operation.",
                )
                .buckets(BCRYPT_BUCKETS.to_vec()),
                &["op"],
            )
            .expect("valid histogram family"),
        );
        Self {
            login_success: logins.with_label_values(&["success"]),
            login_failure: logins.with_label_values(&["failure"]),
            login_throttled: logins.with_label_values(&["throttled"]),
            refresh_rotated: refreshes.with_label_values(&["rotated"]),
            refresh_grace: refreshes.with_label_values(&["grace"]),
            refresh_expired: refreshes.with_label_values(&["expired"]),
            refresh_revoked: refreshes.with_label_values(&["revoked"]),
            refresh_reused: refreshes.with_label_values(&["reused"]),
            refresh_error: refreshes.with_label_values(&["error"]),
            revocations: counter("latchkey_revocations_total", "Sessions ended."),
            registrations: counter("latchkey_registrations_total", "Accounts created."),
            rotation_seconds: histogram(
                "latchkey_refresh_rotation_duration_seconds",
                "Time one refresh-token rotation took, its database transaction included.",
                REQUEST_BUCKETS,
            ),
            bcrypt_hash_seconds: bcrypt.with_label_values(&["hash"]),
            bcrypt_verify_seconds: bcrypt.with_label_values(&["verify"]),
            requests: RouteGroup::ALL.map(|g| {
                STATUS_CLASSES.map(|class| requests.with_label_values(&[g.label(), class]))
            }),
            active_sessions: AtomicU64::new(0),
            registry,
        }
    }

    /// Adds one to a counter.
    pub fn inc(counter: &IntCounter) {
        counter.inc();
    }

    /// Adds `n` to a counter.
    pub fn add(counter: &IntCounter, n: u64) {
        counter.inc_by(n);
    }

    /// Records one request: its route group, final status and how long it took.
    pub fn observe_request(&self, group: RouteGroup, status: u16, took: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        let row = RouteGroup::ALL
            .iter()
            .position(|g| *g == group)
            .unwrap_or(0);
        self.requests[row][class].observe(took.as_secs_f64());
    }

    /// Records the latest count of live sessions (the background task calls this).
    pub fn set_active_sessions(&self, n: u64) {
        self.active_sessions
            .store(n.saturating_add(1), Ordering::Relaxed);
    }

    /// Live sessions at the last count, if one has succeeded yet.
    pub fn active_sessions(&self) -> Option<u64> {
        self.active_sessions.load(Ordering::Relaxed).checked_sub(1)
    }

    /// Prometheus text exposition (format 0.0.4) of every metric, with the values the caller
    /// read just now (`(name, help, kind, value)`).
    pub fn render(&self, now: &[Sample<'_>]) -> String {
        let mut families = self.registry.gather();
        let reuse = Sample {
            name: "latchkey_reuse_detections_total",
            help: "Refresh-token reuse detections (each revoked a family).",
            kind: SampleKind::Counter,
            value: self.refresh_reused.get() as f64,
        };
        let live = self.active_sessions().map(|n| Sample {
            name: "latchkey_active_sessions",
            help: "Live sessions (not ended, idle or expired), counted in the background.",
            kind: SampleKind::Gauge,
            value: n as f64,
        });
        for s in std::iter::once(&reuse).chain(live.as_ref()).chain(now) {
            let collected = match s.kind {
                SampleKind::Gauge => Gauge::with_opts(opts(s.name, s.help)).map(|g| {
                    g.set(s.value);
                    g.collect()
                }),
                SampleKind::Counter => Counter::with_opts(opts(s.name, s.help)).map(|c| {
                    c.inc_by(s.value.max(0.0));
                    c.collect()
                }),
            };
            match collected {
                Ok(f) => families.extend(f),
                Err(e) => log::error!("metric {} not rendered: {e}", s.name),
            }
        }
        TextEncoder::new()
            .encode_to_string(&families)
            .unwrap_or_else(|e| {
                log::error!("metrics not rendered: {e}");
                String::new()
            })
    }
}

/// What kind of value a [`Sample`] is.
#[derive(Clone, Copy, Debug)]
pub enum SampleKind {
    /// Goes up and down.
    Gauge,
    /// Only goes up (kept elsewhere, read at scrape time).
    Counter,
}

/// A value read at scrape time, rendered next to the registered metrics.
#[derive(Clone, Copy, Debug)]
pub struct Sample<'a> {
    /// Metric name.
    pub name: &'a str,
    /// Its `# HELP` line.
    pub help: &'a str,
    /// Gauge or counter.
    pub kind: SampleKind,
    /// The value.
    pub value: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Level;

    #[test]
    fn noisy_dependencies_are_capped_at_info_and_ours_are_not() {
        assert!(!may_log("actix_web::middleware::logger", Level::Debug));
        assert!(!may_log("actix_http::h1::decoder", Level::Trace));
        assert!(!may_log("actix_web", Level::Debug));
        assert!(may_log("actix_web::middleware::logger", Level::Info));
        assert!(
            may_log("actix_webby", Level::Trace),
            "only whole path segments match"
        );
        assert!(may_log("latchkey::auth::service", Level::Trace));
    }

    #[test]
    fn paths_fall_into_their_route_group() {
        for (path, group) in [
            ("/static/style.css", RouteGroup::Static),
            ("/api/me", RouteGroup::Api),
            ("/admin", RouteGroup::Admin),
            ("/admin/users/x", RouteGroup::Admin),
            ("/administrator", RouteGroup::Pages),
            ("/healthz", RouteGroup::Probes),
            ("/metrics", RouteGroup::Probes),
            ("/account", RouteGroup::Pages),
            ("/no/such/page", RouteGroup::Pages),
        ] {
            assert_eq!(RouteGroup::of(path), group, "{path}");
        }
    }

    #[test]
    fn every_metric_registers_and_renders_with_its_labels() {
        let m = Metrics::new();
        m.observe_request(RouteGroup::Admin, 503, Duration::from_millis(2));
        Metrics::inc(&m.refresh_reused);
        m.bcrypt_verify_seconds.observe(0.25);
        let text = m.render(&[Sample {
            name: "latchkey_db_pool_max",
            help: "Most database connections the pool opens.",
            kind: SampleKind::Gauge,
            value: 8.0,
        }]);
        for line in [
            "latchkey_http_request_duration_seconds_bucket{group=\"admin\",status=\"5xx\",le=\"0.0025\"} 1",
            "latchkey_http_request_duration_seconds_count{group=\"pages\",status=\"2xx\"} 0",
            "latchkey_bcrypt_duration_seconds_count{op=\"verify\"} 1",
            "latchkey_refresh_rotation_duration_seconds_count 0",
            "latchkey_refreshes_total{outcome=\"reused\"} 1",
            "latchkey_reuse_detections_total 1",
            "# TYPE latchkey_reuse_detections_total counter",
            "latchkey_db_pool_max 8",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing in\n{text}");
        }
    }
}
