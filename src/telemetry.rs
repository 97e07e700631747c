//! Logging set-up and the Prometheus counters operators read.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// Starts env_logger with `RUST_LOG` (default `info`). Nothing logged anywhere carries a token,
/// cookie or password: the redacting `Debug` impls and the access log format make sure.
pub fn init_logging() {
    let _ = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
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
