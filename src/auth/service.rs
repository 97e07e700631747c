//! The auth service: its settings and shared types, access-token checks, and the helpers its
//! operations share. The operations live beside it: `signin.rs` (register, sign in),
//! `rotation.rs` (refresh), `account.rs` (sign out, password, admins). Each state change is
//! one transaction.

use super::activity::ActivityBuffer;
use super::{
    AccessError, AuthError, CsrfKey, PasswordHasher, RefreshToken, RevocationCache, Throttle,
    TokenKeys,
};
use crate::config::{Config, SigningSecrets};
use crate::db::audit::{AuditKind, NewEvent};
use crate::db::sessions::SessionRow;
use crate::db::users::{self, UserRow};
use crate::db::{Db, DbConnection, DbError};
use crate::domain::{ClientInfo, Email, Role, SessionId, UserId};
use crate::telemetry::Metrics;
use diesel::Connection;
use serde_json::json;
use std::sync::Arc;

/// Lifetimes and switches, in seconds.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Access-token lifetime.
    pub access_ttl: i64,
    /// Idle session lifetime.
    pub idle_ttl: i64,
    /// Absolute session lifetime.
    pub max_ttl: i64,
    /// Grace window for a just-rotated refresh token.
    pub grace: i64,
    /// Refresh this close to access expiry.
    pub refresh_ahead: i64,
    /// Whether sign-up is open.
    pub registration_open: bool,
}

/// Why a session was ended; stored, and shown to the user as a sign-in reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RevokeReason {
    /// The user signed out here.
    SignedOut,
    /// Ended by the user elsewhere or by an admin.
    Revoked,
    /// Ended by a password change.
    PasswordChanged,
    /// The account was disabled.
    Disabled,
    /// Refresh-token reuse was detected.
    Reused,
}

impl RevokeReason {
    /// The stored spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignedOut => "signed_out",
            Self::Revoked => "revoked",
            Self::PasswordChanged => "password_changed",
            Self::Disabled => "disabled",
            Self::Reused => "reused",
        }
    }
}

/// The signed-in user of a request, known from the access token alone.
#[derive(Clone, Debug)]
pub struct SessionUser {
    /// Account id.
    pub user_id: UserId,
    /// Session (family) id.
    pub session_id: SessionId,
    /// The account's e-mail.
    pub email: Email,
    /// The account's role when the token was issued.
    pub role: Role,
    /// Access-token expiry.
    pub access_expires_at: i64,
}

/// A freshly issued pair (its `Debug` shows no token).
pub struct Issued {
    /// Who it is for.
    pub user: SessionUser,
    /// The access JWT.
    pub access_token: String,
    /// The refresh token.
    pub refresh_token: RefreshToken,
    /// Seconds the refresh cookie may live: what is left of the session.
    pub refresh_max_age: i64,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("user", &self.user)
            .field("refresh_max_age", &self.refresh_max_age)
            .finish_non_exhaustive()
    }
}

/// A transaction either fails on the database or is aborted (rolled back) with a decision.
pub(super) enum TxError {
    Db(DbError),
    Abort(AuthError),
}

impl From<diesel::result::Error> for TxError {
    fn from(e: diesel::result::Error) -> Self {
        TxError::Db(e.into())
    }
}

impl From<DbError> for TxError {
    fn from(e: DbError) -> Self {
        TxError::Db(e)
    }
}

/// Runs `f` in a transaction; an abort rolls back and becomes the domain error.
pub(super) fn transaction<T>(
    conn: &mut DbConnection,
    f: impl FnOnce(&mut DbConnection) -> Result<T, TxError>,
) -> Result<Result<T, AuthError>, DbError> {
    match conn.transaction(f) {
        Ok(v) => Ok(Ok(v)),
        Err(TxError::Abort(e)) => Ok(Err(e)),
        Err(TxError::Db(e)) => Err(e),
    }
}

pub(super) fn event<'a>(
    kind: AuditKind,
    user: Option<&'a str>,
    session: Option<&'a str>,
    actor: Option<&'a str>,
    client: &'a ClientInfo,
) -> NewEvent<'a> {
    NewEvent {
        kind,
        user_id: user,
        session_id: session,
        actor_id: actor,
        ip: &client.ip,
        user_agent: &client.user_agent,
        detail: json!({}),
    }
}

/// Who ends every session of a user, why, and what the audit event says of it.
pub(super) struct EndAll<'a> {
    /// The user whose sessions end.
    pub user: &'a str,
    /// A session to spare (the one doing it), also the audit event's session.
    pub keep: Option<&'a str>,
    /// Stored as each session's revocation reason.
    pub reason: RevokeReason,
    /// The audit event recorded.
    pub audit: AuditKind,
    /// Who did it.
    pub actor: &'a str,
    /// Extra audit detail; `sessions_ended` is added.
    pub detail: serde_json::Value,
}

/// Ends every live session of a user (but `keep`) and audits it, inside the caller's
/// transaction; returns the ended sessions' ids for the revoked set.
pub(super) fn end_all_sessions(
    c: &mut DbConnection,
    what: EndAll<'_>,
    client: &ClientInfo,
    now: i64,
) -> Result<Vec<String>, DbError> {
    let ended = crate::db::sessions::revoke_all_for_user(
        c,
        what.user,
        what.keep,
        what.reason.as_str(),
        now,
    )?;
    let mut e = event(
        what.audit,
        Some(what.user),
        what.keep,
        Some(what.actor),
        client,
    );
    e.detail = what.detail;
    e.detail["sessions_ended"] = json!(ended.len());
    crate::db::audit::record(c, &e, now)?;
    Ok(ended)
}

/// Everything the HTTP layer needs to run sessions.
pub struct AuthService {
    /// The database.
    pub db: Db,
    /// Access-token keys.
    pub keys: TokenKeys,
    /// CSRF tokens.
    pub csrf: CsrfKey,
    /// Password hashing.
    pub hasher: PasswordHasher,
    /// Recently revoked sessions.
    pub revocations: Arc<RevocationCache>,
    /// Sign-in throttling rules.
    pub throttle: Throttle,
    /// Lifetimes.
    pub settings: Settings,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Sign-in, refresh and reuse counts for the admin chart, written by the background sync.
    pub activity: Arc<ActivityBuffer>,
    /// The last count of live sessions (the dashboard's most expensive figure).
    pub live_count: super::LiveCount,
    pub(super) successor_keys: Vec<[u8; 32]>,
    verified: super::verified::VerifiedTokens,
}

impl AuthService {
    /// Wires the service from configuration.
    pub fn new(config: &Config, secrets: &SigningSecrets, db: Db) -> Self {
        let secs = |d: std::time::Duration| d.as_secs() as i64;
        let settings = Settings {
            access_ttl: secs(config.access_ttl),
            idle_ttl: secs(config.session_idle_ttl),
            max_ttl: secs(config.session_max_ttl),
            grace: secs(config.refresh_grace),
            refresh_ahead: secs(config.refresh_ahead),
            registration_open: config.registration_open,
        };
        let successor_keys = std::iter::once(&secrets.current)
            .chain(secrets.previous.iter())
            .map(|s| super::derive_key(s, "refresh successor"))
            .collect();
        let metrics = Arc::new(Metrics::default());
        let hasher = PasswordHasher::new(config.bcrypt_cost, PasswordHasher::default_parallelism())
            .with_timing(
                metrics.bcrypt_hash_seconds.clone(),
                metrics.bcrypt_verify_seconds.clone(),
            );
        Self {
            db,
            keys: TokenKeys::new(
                &secrets.current,
                &secrets.previous,
                settings.access_ttl,
                config.clock_leeway.as_secs(),
            ),
            csrf: CsrfKey::new(&secrets.current, &secrets.previous),
            hasher,
            revocations: Arc::new(RevocationCache::new(
                settings.access_ttl + config.clock_leeway.as_secs() as i64 + 60,
            )),
            throttle: Throttle {
                enabled: config.login_throttle,
                ..Throttle::default()
            },
            settings,
            metrics,
            activity: Arc::new(ActivityBuffer::default()),
            live_count: super::LiveCount::default(),
            successor_keys,
            // Per worker thread: about 2 MB each when full.
            verified: super::verified::VerifiedTokens::new(4096),
        }
    }

    /// Checks an access token without touching the database: signature, claims, revocation.
    /// `token` is the bytes as presented: a token verified before is recognised without
    /// decoding them, and one that is not UTF-8 is simply invalid.
    pub fn authenticate(&self, token: &[u8], now: i64) -> Result<SessionUser, AuthError> {
        // Read first: a revocation after this read bumps it, so the next request re-checks.
        let generation = self.revocations.generation();
        if let Some((user, cleared_in)) = self.verified.get(token) {
            // Same rule as the full verification: expired once `exp` is past by the leeway.
            if user.access_expires_at < now - self.keys.leeway() {
                return Err(AuthError::TokenExpired {
                    expired_at: user.access_expires_at,
                });
            }
            if cleared_in != generation {
                if self.revocations.is_revoked(user.session_id.as_str()) {
                    return Err(AuthError::SessionRevoked);
                }
                self.verified.cleared(token, generation);
            }
            return Ok(user);
        }
        let token = std::str::from_utf8(token).map_err(|_| AuthError::InvalidToken)?;
        let claims = self.keys.verify(token, now).map_err(|e| match e {
            AccessError::Expired { expired_at } => AuthError::TokenExpired { expired_at },
            AccessError::Invalid => AuthError::InvalidToken,
        })?;
        if self.revocations.is_revoked(&claims.sid) {
            return Err(AuthError::SessionRevoked);
        }
        let email = Email::parse(&claims.email).map_err(|_| AuthError::InvalidToken)?;
        let user = SessionUser {
            user_id: claims.user_id(),
            session_id: claims.session_id(),
            email,
            role: claims.role,
            access_expires_at: claims.exp,
        };
        self.verified.insert(token, &user, generation);
        Ok(user)
    }

    /// Records sessions this instance has just ended: counted, and refused from the next
    /// request on (other instances learn it from the database within the sync bound).
    pub(super) fn sessions_ended<'a>(&self, ids: impl IntoIterator<Item = &'a str>, now: i64) {
        let mut n = 0;
        self.revocations
            .insert(ids.into_iter().inspect(|_| n += 1), now);
        Metrics::add(&self.metrics.revocations, n);
    }

    /// Whether a valid access token is close enough to expiry to refresh now.
    pub fn wants_refresh(&self, user: &SessionUser, now: i64) -> bool {
        user.access_expires_at - now <= self.settings.refresh_ahead
    }

    pub(super) fn issue(
        &self,
        user: &UserRow,
        session: &SessionRow,
        refresh: RefreshToken,
        now: i64,
    ) -> Issued {
        let user_id = UserId::from_db(user.id.clone());
        let session_id = SessionId::from_db(session.id.clone());
        let role = Role::from_db(&user.role);
        let (access_token, exp) = self
            .keys
            .sign(&user_id, &session_id, role, &user.email, now);
        let left = (session.expires_at - now)
            .min(self.settings.idle_ttl)
            .max(0);
        Issued {
            user: SessionUser {
                user_id,
                session_id,
                email: Email::from_db(user.email.clone()),
                role,
                access_expires_at: exp,
            },
            access_token,
            refresh_token: refresh,
            refresh_max_age: left,
        }
    }

    /// Whether any admin exists yet (the sign-up page says the first account becomes admin).
    pub async fn has_admin(&self) -> Result<bool, AuthError> {
        Ok(self.db.run(users::any_admin).await?)
    }
}
