//! The admin dashboard's figures: accounts, live sessions, sign-ins and reuse detections over
//! 24 hours and 7 days, the latest security events, and activity per day or hour.

use super::admin::{label_events, AuditEntry};
use super::{AuthError, AuthService};
use crate::db::activity::{self, ActivityKind, HOUR};
use crate::db::admin as q;
use crate::db::audit::AuditKind;
use crate::db::{self, users};
use std::sync::Arc;

const DAY: i64 = 24 * HOUR;

/// Sign-ins, refreshes and reuse detections in one period.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActivityPoint {
    /// Start of the period, epoch seconds.
    pub start: i64,
    /// Sessions started.
    pub sign_ins: i64,
    /// Refresh tokens rotated.
    pub refreshes: i64,
    /// Reuse detections.
    pub reuses: i64,
}

/// The activity chart's data: per day over 14 days, or per hour over 48 hours.
#[derive(Clone, Debug)]
pub struct ActivityChart {
    /// Whether periods are hours (else days).
    pub hourly: bool,
    /// Oldest first.
    pub points: Vec<ActivityPoint>,
}

/// The dashboard's figures.
#[derive(Clone, Debug)]
pub struct Dashboard {
    /// Accounts.
    pub users: i64,
    /// Live sessions as last counted in the background, if a count has succeeded yet.
    pub active_sessions: Option<super::Counted>,
    /// Sign-ins in the last 24 hours.
    pub sign_ins_24h: i64,
    /// Sign-ins in the last 7 days.
    pub sign_ins_7d: i64,
    /// Reuse detections in the last 24 hours.
    pub reuses_24h: i64,
    /// Reuse detections in the last 7 days.
    pub reuses_7d: i64,
    /// The latest security events.
    pub recent: Vec<AuditEntry>,
    /// Activity over time.
    pub chart: ActivityChart,
}

/// Kinds shown as "security events" on the dashboard (routine sign-ins are left out).
const SECURITY_KINDS: [AuditKind; 7] = [
    AuditKind::RefreshReuseDetected,
    AuditKind::LoginFailed,
    AuditKind::SessionRevoked,
    AuditKind::SessionsRevokedAll,
    AuditKind::PasswordChanged,
    AuditKind::UserDisabled,
    AuditKind::UserEnabled,
];

/// Buckets hourly counts into the chart's periods, oldest first, ending with the current one.
fn chart_points(rows: &[(ActivityKind, i64, i64)], now: i64, hourly: bool) -> Vec<ActivityPoint> {
    let (step, count) = if hourly { (HOUR, 48) } else { (DAY, 14) };
    let last = now - now.rem_euclid(step);
    let first = last - (count - 1) * step;
    let mut points: Vec<ActivityPoint> = (0..count)
        .map(|i| ActivityPoint {
            start: first + i * step,
            ..ActivityPoint::default()
        })
        .collect();
    for &(kind, bucket, n) in rows {
        if bucket < first {
            continue;
        }
        let Some(p) = usize::try_from((bucket - first) / step)
            .ok()
            .and_then(|i| points.get_mut(i))
        else {
            continue;
        };
        match kind {
            ActivityKind::SignIn => p.sign_ins += n,
            ActivityKind::Refresh => p.refreshes += n,
            ActivityKind::Reuse => p.reuses += n,
        }
    }
    points
}

fn sum(rows: &[(ActivityKind, i64, i64)], kind: ActivityKind, since: i64) -> i64 {
    rows.iter()
        .filter(|(k, b, _)| *k == kind && *b >= since)
        .map(|(_, _, n)| n)
        .sum()
}

impl AuthService {
    /// Writes the in-memory activity counts to the database now.
    pub async fn flush_activity(&self) -> Result<(), AuthError> {
        let buffer = self.activity.clone();
        Ok(self.db.run_write(move |c| buffer.flush(c)).await?)
    }

    /// Drops revocation-log entries older than a day, or twice the access-token lifetime and an
    /// hour if that is longer (about once a minute per instance): their sessions' access tokens
    /// expired long before, and instances starting up read only the last hour or so.
    pub async fn prune_revocation_log(&self) -> Result<(), AuthError> {
        let now = db::now();
        if now % 64 != 0 {
            return Ok(());
        }
        let keep = (2 * (self.settings.access_ttl + 3600)).max(86_400);
        self.db
            .run_write(move |c| crate::db::revocations::prune(c, now - keep))
            .await?;
        Ok(())
    }

    /// The dashboard: counts, latest security events, and the activity chart.
    pub async fn dashboard(self: &Arc<Self>, hourly: bool) -> Result<Dashboard, AuthError> {
        let live = self.active_sessions();
        let (now, buffer) = (db::now(), self.activity.clone());
        Ok(self
            .db
            .run_write(move |c| {
                if let Err(e) = buffer.flush(c) {
                    log::warn!("activity counts not written yet: {e}");
                }
                let rows = activity::since(c, now - 14 * DAY)?;
                let recent = q::latest_of_kinds(c, &SECURITY_KINDS, 10)?;
                Ok(Dashboard {
                    users: users::count(c)?,
                    active_sessions: live,
                    sign_ins_24h: sum(&rows, ActivityKind::SignIn, now - DAY),
                    sign_ins_7d: sum(&rows, ActivityKind::SignIn, now - 7 * DAY),
                    reuses_24h: sum(&rows, ActivityKind::Reuse, now - DAY),
                    reuses_7d: sum(&rows, ActivityKind::Reuse, now - 7 * DAY),
                    recent: label_events(c, recent)?,
                    chart: ActivityChart {
                        hourly,
                        points: chart_points(&rows, now, hourly),
                    },
                })
            })
            .await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hourly_counts_land_in_their_day_and_old_ones_are_left_out() {
        let now = 100 * DAY + 5 * HOUR;
        let rows = vec![
            (ActivityKind::SignIn, 100 * DAY, 2),
            (ActivityKind::SignIn, 100 * DAY + 3 * HOUR, 1),
            (ActivityKind::Refresh, 99 * DAY + HOUR, 7),
            (ActivityKind::Reuse, 80 * DAY, 9),
        ];
        let days = chart_points(&rows, now, false);
        assert_eq!(days.len(), 14);
        let today = days[13];
        assert_eq!(
            (today.start, today.sign_ins, today.refreshes),
            (100 * DAY, 3, 0)
        );
        assert_eq!(days[12].refreshes, 7);
        assert_eq!(days.iter().map(|p| p.reuses).sum::<i64>(), 0);
        let hours = chart_points(&rows, now, true);
        assert_eq!(hours.len(), 48);
        assert_eq!(hours[47].start, now);
        assert_eq!((hours[42].sign_ins, hours[45].sign_ins), (2, 1));
    }
}
