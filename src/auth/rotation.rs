//! Refresh: one conditional update decides the winner, racers inside the grace window are
//! handed the same successor, and anything later is reuse that ends the whole family.

use super::service::{event, transaction, Issued, RevokeReason, Settings, TxError};
use super::RefreshToken;
use super::{AuthError, AuthService};
use crate::db::activity::ActivityKind;
use crate::db::audit::{self, AuditKind};
use crate::db::sessions::{self, SessionRow};
use crate::db::users::UserRow;
use crate::db::{self, tokens, DbConnection};
use crate::domain::ClientInfo;
use crate::telemetry::Metrics;
use serde_json::json;
/// What a rotation transaction decided.
enum Rotation {
    Rotated(UserRow, SessionRow),
    Grace(UserRow, SessionRow, String),
    Reused(String),
    Refused(AuthError),
}

/// What the caller proved beyond holding the refresh token.
#[derive(Clone, Copy)]
enum Binding<'a> {
    /// Nothing: enough for an unbound session only.
    TokenOnly,
    /// That session's device key signed a fresh challenge (DBSC).
    Proven(&'a str),
}

impl AuthService {
    /// Rotates a refresh token: one conditional update decides the winner; racers inside the
    /// grace window get the same successor; anything later is reuse and ends the family. A
    /// session bound to a device key is refused (`DeviceProofRequired`, audited).
    pub async fn refresh(
        &self,
        presented: RefreshToken,
        client: ClientInfo,
    ) -> Result<Issued, AuthError> {
        self.rotate_family(presented, client, Binding::TokenOnly)
            .await
    }

    /// [`Self::refresh`] for a bound session whose key has just proven itself: the same
    /// rotation, grace window and reuse rules; the token must belong to the proven session.
    pub async fn refresh_bound(
        &self,
        presented: RefreshToken,
        client: ClientInfo,
        proven: &super::dbsc::Proven,
    ) -> Result<Issued, AuthError> {
        self.rotate_family(presented, client, Binding::Proven(proven.session.as_str()))
            .await
    }

    async fn rotate_family(
        &self,
        presented: RefreshToken,
        client: ClientInfo,
        binding: Binding<'_>,
    ) -> Result<Issued, AuthError> {
        let now = db::now();
        let proven = match binding {
            Binding::TokenOnly => None,
            Binding::Proven(sid) => Some(sid.to_string()),
        };
        let candidates: Vec<RefreshToken> = self
            .successor_keys
            .iter()
            .map(|k| presented.successor(k))
            .collect();
        let hash = presented.hash();
        let next_hash = candidates[0].hash();
        let s = self.settings;
        let ip = client.ip.clone();
        let (client2, hash2) = (client.clone(), hash.clone());
        let timer = self.metrics.rotation_seconds.start_timer();
        let outcome = self
            .db
            .run_write(move |conn| {
                let binding = match &proven {
                    None => Binding::TokenOnly,
                    Some(sid) => Binding::Proven(sid),
                };
                let r = transaction(conn, |c| {
                    rotate(c, &hash, &next_hash, now, &client, s, binding)
                })?;
                Ok(r.unwrap_or_else(Rotation::Refused))
            })
            .await;
        timer.observe_duration();
        let m = &self.metrics;
        match outcome {
            Ok(Rotation::Rotated(user, session)) => {
                Metrics::inc(&m.refresh_rotated);
                self.activity.record(ActivityKind::Refresh, now);
                log::info!("session {} refreshed (rotated) from {ip}", session.id);
                Ok(self.issue(&user, &session, candidates[0].clone(), now))
            }
            Ok(Rotation::Grace(user, session, successor_hash)) => {
                Metrics::inc(&m.refresh_grace);
                log::info!(
                    "session {} refreshed within the grace window from {ip}",
                    session.id
                );
                let successor = candidates
                    .into_iter()
                    .find(|c| c.hash() == successor_hash)
                    .ok_or(AuthError::SessionExpired)?;
                Ok(self.issue(&user, &session, successor, now))
            }
            Ok(Rotation::Refused(AuthError::DeviceProofRequired)) => {
                Metrics::inc(&m.refresh_expired);
                // Rolled back, so the session is looked up again for the audit event.
                let found = self
                    .db
                    .run(move |c| tokens::find_with_owner(c, &hash2))
                    .await;
                if let Ok(Some((_, session, _))) = found {
                    let sid = crate::domain::SessionId::from_db(session.id);
                    let uid = crate::domain::UserId::from_db(session.user_id);
                    self.dbsc_proof_failed(&sid, Some(&uid), "refresh_without_proof", &client2)
                        .await;
                }
                Err(AuthError::DeviceProofRequired)
            }
            Ok(Rotation::Reused(session_id)) => {
                Metrics::inc(&m.refresh_reused);
                self.activity.record(ActivityKind::Reuse, now);
                self.sessions_ended([session_id.as_str()], now);
                log::warn!("refresh token reuse detected on session {session_id} from {ip}; family revoked");
                Err(AuthError::RefreshReused)
            }
            Ok(Rotation::Refused(e)) => {
                match e {
                    AuthError::SessionRevoked => Metrics::inc(&m.refresh_revoked),
                    AuthError::RefreshReused => Metrics::inc(&m.refresh_reused),
                    _ => Metrics::inc(&m.refresh_expired),
                }
                log::info!("refresh refused from {ip}: {}", e.code());
                Err(e)
            }
            Err(e) => {
                Metrics::inc(&m.refresh_error);
                log::error!("refresh failed on the database: {e}");
                Err(AuthError::Database(e))
            }
        }
    }
}

/// How stale a session's "last active" may get before a rotation rewrites it.
const TOUCH_EVERY_SECS: i64 = 60;

/// The rotation transaction. It starts with the conditional update, so on SQLite it takes the
/// write lock first and on PostgreSQL concurrent callers queue on the row lock.
fn rotate(
    c: &mut DbConnection,
    hash: &str,
    next_hash: &str,
    now: i64,
    client: &ClientInfo,
    s: Settings,
    binding: Binding<'_>,
) -> Result<Rotation, TxError> {
    let abort = |e| Err(TxError::Abort(e));
    let won = tokens::mark_used(c, hash, next_hash, now, &client.ip, &client.user_agent)?;
    let Some((row, session, user)) = tokens::find_with_owner(c, hash)? else {
        return abort(AuthError::SessionExpired);
    };
    if session.revoked_at.is_some() {
        return abort(
            if session.revoked_reason.as_deref() == Some(RevokeReason::Reused.as_str()) {
                AuthError::RefreshReused
            } else {
                AuthError::SessionRevoked
            },
        );
    }
    if now >= session.expires_at || now - session.last_used_at > s.idle_ttl {
        return abort(AuthError::SessionExpired);
    }
    if user.disabled {
        return abort(AuthError::SessionRevoked);
    }
    // A bound session is renewed by its device key alone: its cookie, current or rotated, gets
    // nothing, neither a rotation nor a reuse verdict that a thief could use to end it.
    match binding {
        Binding::TokenOnly if session.dbsc_key.is_some() => {
            // Roll back the conditional update: nothing may change.
            return abort(AuthError::DeviceProofRequired);
        }
        Binding::Proven(sid) if sid != session.id => return abort(AuthError::SessionExpired),
        _ => {}
    }
    if won {
        tokens::insert(c, next_hash, &session.id, now)?;
        // Activity is recorded to the minute: rewriting the session row (and its four indexes)
        // on every rotation of a busy client buys no precision anyone reads.
        if now - session.last_used_at >= TOUCH_EVERY_SECS || session.last_ip != client.ip {
            sessions::touch(c, &session.id, now, &client.ip, &client.user_agent)?;
        }
        return Ok(Rotation::Rotated(user, session));
    }
    let used_at = row.used_at.unwrap_or(now);
    if now - used_at <= s.grace {
        if let Some(succ) = &row.successor_hash {
            if tokens::find(c, succ)?.is_some_and(|t| t.used_at.is_none()) {
                return Ok(Rotation::Grace(user, session, succ.clone()));
            }
        }
    }
    sessions::revoke(c, &session.id, RevokeReason::Reused.as_str(), now)?;
    let mut e = event(
        AuditKind::RefreshReuseDetected,
        Some(&session.user_id),
        Some(&session.id),
        None,
        client,
    );
    e.detail = json!({
        "first_use": { "at": used_at, "ip": row.used_ip, "user_agent": row.used_user_agent },
        "second_use": { "at": now, "ip": client.ip, "user_agent": client.user_agent },
        "seconds_after_rotation": now - used_at,
    });
    audit::record(c, &e, now)?;
    Ok(Rotation::Reused(session.id))
}
