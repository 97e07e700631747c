//! Logging set-up and the Prometheus counters operators read.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Crates whose debug and trace records may carry request content: actix-web's access-log
/// middleware prints the `Debug` of a failed extractor, and serde's messages quote the value
/// that did not fit (a refresh token posted as a bare JSON string, say). Their records above
/// `info` are dropped whatever `RUST_LOG` asks for, so no level ever logs a secret.
const CAPPED_TARGETS: &[&str] = &["actix_web", "actix_http", "actix_files", "h2", "hyper"];

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

macro_rules! counters {
    ($($name:ident),* $(,)?) => {
        /// Process-wide counters, rendered in Prometheus text format by [`Metrics::render`].
        #[derive(Default)]
        pub struct Metrics {
            $(
                #[allow(missing_docs)]
                pub $name: AtomicU64,
            )*
            /// Live sessions at the last background count, plus one (0 = not counted yet).
            active_sessions: AtomicU64,
        }
    };
}

counters!(
    login_success,
    login_failure,
    login_throttled,
    refresh_rotated,
    refresh_grace,
    refresh_expired,
    refresh_revoked,
    refresh_reused,
    refresh_error,
    revocations,
    registrations,
);

impl Metrics {
    /// Adds one to a counter.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Adds `n` to a counter.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
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

    /// Prometheus text exposition, with the gauges the caller measured.
    pub fn render(&self, gauges: &[(&str, &str, f64)]) -> String {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let mut family = |name: &str, help: &str, kind: &str, rows: &[(&str, u64)]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in rows {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        family(
            "latchkey_logins_total",
            "Sign-in attempts by outcome.",
            "counter",
            &[
                ("{outcome=\"success\"}", g(&self.login_success)),
                ("{outcome=\"failure\"}", g(&self.login_failure)),
                ("{outcome=\"throttled\"}", g(&self.login_throttled)),
            ],
        );
        family(
            "latchkey_refreshes_total",
            "Refresh attempts by outcome.",
            "counter",
            &[
                ("{outcome=\"rotated\"}", g(&self.refresh_rotated)),
                ("{outcome=\"grace\"}", g(&self.refresh_grace)),
                ("{outcome=\"expired\"}", g(&self.refresh_expired)),
                ("{outcome=\"revoked\"}", g(&self.refresh_revoked)),
                ("{outcome=\"reused\"}", g(&self.refresh_reused)),
                ("{outcome=\"error\"}", g(&self.refresh_error)),
            ],
        );
        family(
            "latchkey_reuse_detections_total",
            "Refresh-token reuse detections (each revoked a family).",
            "counter",
            &[("", g(&self.refresh_reused))],
        );
        family(
            "latchkey_revocations_total",
            "Sessions ended.",
            "counter",
            &[("", g(&self.revocations))],
        );
        family(
            "latchkey_registrations_total",
            "Accounts created.",
            "counter",
            &[("", g(&self.registrations))],
        );
        if let Some(n) = self.active_sessions() {
            let name = "latchkey_active_sessions";
            let _ = writeln!(
                out,
                "# HELP {name} Live sessions (not ended, idle or expired), counted in the background.\n# TYPE {name} gauge\n{name} {n}"
            );
        }
        for (name, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
            );
        }
        out
    }
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
}
