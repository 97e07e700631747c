//! The session lifecycle: register, sign in, refresh (rotation, grace, reuse detection), sign
//! out, password change and revocation. Each state change is one transaction.

use super::activity::ActivityBuffer;
use super::{
    AccessError, AuthError, CsrfKey, PasswordHasher, RefreshToken, RevocationCache, Throttle,
    TokenKeys,
};
use crate::config::{Config, SigningSecrets};
use crate::db::activity::ActivityKind;
use crate::db::audit::{self, AuditKind, NewEvent};
use crate::db::sessions::{self, SessionRow};
use crate::db::users::{self, UserRow};
use crate::db::{self, tokens, Db, DbConnection, DbError};
use crate::domain::{ClientInfo, Email, NewPassword, Role, SessionId, UserId};
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

/// What a rotation transaction decided.
enum Rotation {
    Rotated(UserRow, SessionRow),
    Grace(UserRow, SessionRow, String),
    Reused(String),
    Refused(AuthError),
}

/// A transaction either fails on the database or is aborted (rolled back) with a decision.
enum TxError {
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
fn transaction<T>(
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
    successor_keys: Vec<[u8; 32]>,
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
        Self {
            db,
            keys: TokenKeys::new(
                &secrets.current,
                &secrets.previous,
                settings.access_ttl,
                config.clock_leeway.as_secs(),
            ),
            csrf: CsrfKey::new(&secrets.current, &secrets.previous),
            hasher: PasswordHasher::new(config.bcrypt_cost, PasswordHasher::default_parallelism()),
            revocations: Arc::new(RevocationCache::new(
                settings.access_ttl + config.clock_leeway.as_secs() as i64 + 60,
            )),
            throttle: Throttle {
                enabled: config.login_throttle,
                ..Throttle::default()
            },
            settings,
            metrics: Arc::new(Metrics::default()),
            activity: Arc::new(ActivityBuffer::default()),
            live_count: super::LiveCount::default(),
            successor_keys,
            verified: super::verified::VerifiedTokens::new(8192),
        }
    }

    /// Checks an access token without touching the database: signature, claims, revocation.
    pub fn authenticate(&self, token: &str, now: i64) -> Result<SessionUser, AuthError> {
        if let Some(user) = self.verified.get(token) {
            // Same rule as the full verification: expired once `exp` is past by the leeway.
            if user.access_expires_at < now - self.keys.leeway() {
                return Err(AuthError::TokenExpired {
                    expired_at: user.access_expires_at,
                });
            }
            if self.revocations.is_revoked(user.session_id.as_str()) {
                return Err(AuthError::SessionRevoked);
            }
            return Ok(user);
        }
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
        self.verified.insert(token, &user);
        Ok(user)
    }

    /// Whether a valid access token is close enough to expiry to refresh now.
    pub fn wants_refresh(&self, user: &SessionUser, now: i64) -> bool {
        user.access_expires_at - now <= self.settings.refresh_ahead
    }

    fn issue(
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

    /// Rotates a refresh token: one conditional update decides the winner; racers inside the
    /// grace window get the same successor; anything later is reuse and ends the family.
    pub async fn refresh(
        &self,
        presented: RefreshToken,
        client: ClientInfo,
    ) -> Result<Issued, AuthError> {
        let now = db::now();
        let candidates: Vec<RefreshToken> = self
            .successor_keys
            .iter()
            .map(|k| presented.successor(k))
            .collect();
        let hash = presented.hash();
        let next_hash = candidates[0].hash();
        let s = self.settings;
        let ip = client.ip.clone();
        let outcome = self
            .db
            .run_write(move |conn| {
                let r = transaction(conn, |c| rotate(c, &hash, &next_hash, now, &client, s))?;
                Ok(r.unwrap_or_else(Rotation::Refused))
            })
            .await;
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
            Ok(Rotation::Reused(session_id)) => {
                Metrics::inc(&m.refresh_reused);
                Metrics::inc(&m.revocations);
                self.activity.record(ActivityKind::Reuse, now);
                self.revocations.insert([session_id.as_str()], now);
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

    /// Signs in: throttle, verify (a dummy hash for unknown e-mails), then start a new family
    /// and end any family the request presented (no fixation).
    pub async fn login(
        &self,
        email_raw: &str,
        password: &str,
        client: &ClientInfo,
        presented: Option<RefreshToken>,
    ) -> Result<Issued, AuthError> {
        let now = db::now();
        // Not an address we could hold: still throttled and answered like any miss, under a key
        // without control characters (PostgreSQL refuses NUL in text; that must not be a 503).
        let email_key = Email::parse(email_raw)
            .map(|e| e.as_str().to_string())
            .unwrap_or_else(|_| {
                let lower = email_raw.trim().to_lowercase();
                let printable = lower
                    .chars()
                    .map(|c| if c.is_control() { '\u{fffd}' } else { c });
                printable.take(254).collect()
            });
        let throttle = self.throttle;
        let (ek, ip) = (email_key.clone(), client.ip.clone());
        let (retry, user) = self
            .db
            .run(move |c| {
                Ok((
                    throttle.retry_after(c, &ek, &ip, now)?,
                    users::find_by_email(c, &ek)?,
                ))
            })
            .await?;
        if retry > 0 {
            Metrics::inc(&self.metrics.login_throttled);
            log::warn!("sign-in throttled for {}s from {}", retry, client.ip);
            return Err(AuthError::RateLimited { retry_after: retry });
        }
        let ok = self
            .hasher
            .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
            .await;
        let user = match user {
            Some(u) if ok && !u.disabled => u,
            other => {
                let reason = match &other {
                    None => "unknown_email",
                    Some(u) if u.disabled && ok => "disabled",
                    Some(_) => "wrong_password",
                };
                let uid = other.map(|u| u.id);
                let who = client.clone();
                self.db
                    .run_write(move |c| {
                        throttle.record_failure(c, &email_key, &who.ip, now)?;
                        let mut e = event(
                            AuditKind::LoginFailed,
                            uid.as_deref(),
                            None,
                            uid.as_deref(),
                            &who,
                        );
                        e.detail = json!({ "email": email_key, "reason": reason });
                        audit::record(c, &e, now)
                    })
                    .await?;
                Metrics::inc(&self.metrics.login_failure);
                log::info!("sign-in failed from {}", client.ip);
                return Err(AuthError::InvalidCredentials);
            }
        };
        let issued = self
            .start_session(user, client, presented, AuditKind::LoginSucceeded, now)
            .await?;
        Metrics::inc(&self.metrics.login_success);
        log::info!(
            "signed in: session {} from {}",
            issued.user.session_id,
            client.ip
        );
        Ok(issued)
    }

    async fn start_session(
        &self,
        user: UserRow,
        client: &ClientInfo,
        presented: Option<RefreshToken>,
        kind: AuditKind,
        now: i64,
    ) -> Result<Issued, AuthError> {
        let refresh = RefreshToken::generate();
        let hash = refresh.hash();
        let presented_hash = presented.map(|p| p.hash());
        let s = self.settings;
        let session = SessionRow {
            id: SessionId::generate().to_string(),
            user_id: user.id.clone(),
            created_at: now,
            last_used_at: now,
            expires_at: now + s.max_ttl,
            revoked_at: None,
            revoked_reason: None,
            created_ip: client.ip.clone(),
            created_user_agent: client.user_agent.clone(),
            last_ip: client.ip.clone(),
            last_user_agent: client.user_agent.clone(),
        };
        let (row, client2) = (session.clone(), client.clone());
        let email = user.email.clone();
        let ended = self
            .db
            .run_write(move |conn| {
                conn.transaction(|c| {
                    // A write first: on SQLite a transaction that reads first cannot take the
                    // write lock once another writer has committed meanwhile (it fails at
                    // once, not after the busy timeout), which a concurrent refresh made a 503.
                    sessions::insert(c, &row)?;
                    let mut ended = None;
                    if let Some(old) =
                        presented_hash.and_then(|h| tokens::find(c, &h).ok().flatten())
                    {
                        if sessions::revoke(
                            c,
                            &old.session_id,
                            RevokeReason::SignedOut.as_str(),
                            now,
                        )? {
                            ended = Some(old.session_id);
                        }
                    }
                    tokens::insert(c, &hash, &row.id, now)?;
                    let mut e = event(
                        kind,
                        Some(&row.user_id),
                        Some(&row.id),
                        Some(&row.user_id),
                        &client2,
                    );
                    if kind == AuditKind::LoginSucceeded {
                        crate::db::login_failures::clear_for_email(c, &email)?;
                    }
                    e.detail = json!({ "replaced_session": ended });
                    audit::record(c, &e, now)?;
                    Ok::<_, DbError>(ended)
                })
            })
            .await?;
        if let Some(old) = ended {
            self.revocations.insert([old.as_str()], now);
        }
        self.activity.record(ActivityKind::SignIn, now);
        Ok(self.issue(&user, &session, refresh, now))
    }

    /// Creates an account and signs it in; the first account becomes admin while none exists.
    /// Returns the session and whether the account is the admin.
    pub async fn register(
        &self,
        email_raw: &str,
        password: String,
        client: &ClientInfo,
    ) -> Result<(Issued, bool), AuthError> {
        if !self.settings.registration_open {
            return Err(AuthError::RegistrationClosed);
        }
        let email = Email::parse(email_raw).map_err(|m| AuthError::Invalid(m.into()))?;
        let password =
            NewPassword::parse(password).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let hash = self
            .hasher
            .hash(&password)
            .await
            .map_err(AuthError::Invalid)?;
        let now = db::now();
        let id = UserId::generate();
        let client2 = client.clone();
        let user = self
            .db
            .run_write(move |conn| {
                transaction(conn, |c| {
                    // Inserted as a user first (a write, for the same reason as in
                    // `start_session`), then promoted when no admin exists yet.
                    let mut row = UserRow {
                        id: id.to_string(),
                        email: email.as_str().into(),
                        password_hash: hash,
                        role: Role::User.as_str().into(),
                        disabled: false,
                        created_at: now,
                        updated_at: now,
                    };
                    match users::insert(c, &new_user(&row)) {
                        Err(DbError::Conflict(_)) => {
                            return Err(TxError::Abort(AuthError::EmailTaken))
                        }
                        other => other?,
                    }
                    if !users::any_admin(c)? {
                        users::set_role(c, &row.id, Role::Admin.as_str(), now)?;
                        row.role = Role::Admin.as_str().into();
                    }
                    let mut e = event(
                        AuditKind::UserRegistered,
                        Some(&row.id),
                        None,
                        Some(&row.id),
                        &client2,
                    );
                    e.detail = json!({ "role": row.role });
                    audit::record(c, &e, now)?;
                    Ok(row)
                })
            })
            .await??;
        Metrics::inc(&self.metrics.registrations);
        let admin = user.role == "admin";
        log::info!(
            "account registered{}",
            if admin { " (first account: admin)" } else { "" }
        );
        let issued = self
            .start_session(user, client, None, AuditKind::LoginSucceeded, now)
            .await?;
        Ok((issued, admin))
    }

    /// Whether any admin exists yet (the sign-up page says the first account becomes admin).
    pub async fn has_admin(&self) -> Result<bool, AuthError> {
        Ok(self.db.run(users::any_admin).await?)
    }

    /// Signs out: ends this session server-side.
    pub async fn logout(&self, user: &SessionUser, client: &ClientInfo) -> Result<(), AuthError> {
        let now = db::now();
        let (uid, sid, client) = (
            user.user_id.to_string(),
            user.session_id.to_string(),
            client.clone(),
        );
        let sid2 = sid.clone();
        self.db
            .run_write(move |conn| {
                conn.transaction(|c| {
                    sessions::revoke(c, &sid2, RevokeReason::SignedOut.as_str(), now)?;
                    audit::record(
                        c,
                        &event(
                            AuditKind::Logout,
                            Some(&uid),
                            Some(&sid2),
                            Some(&uid),
                            &client,
                        ),
                        now,
                    )
                })
            })
            .await?;
        Metrics::inc(&self.metrics.revocations);
        self.revocations.insert([sid.as_str()], now);
        log::info!("signed out: session {sid}");
        Ok(())
    }

    /// Changes the password after checking the current one, and ends every other session.
    pub async fn change_password(
        &self,
        user: &SessionUser,
        current: &str,
        new: String,
        client: &ClientInfo,
    ) -> Result<usize, AuthError> {
        let new = NewPassword::parse(new).map_err(|e| AuthError::Invalid(e.to_string()))?;
        let uid = user.user_id.to_string();
        let u2 = uid.clone();
        let row = self
            .db
            .run(move |c| users::find(c, &u2))
            .await?
            .ok_or(AuthError::SessionRevoked)?;
        if !self.hasher.verify(current, Some(row.password_hash)).await {
            return Err(AuthError::WrongPassword);
        }
        let hash = self.hasher.hash(&new).await.map_err(AuthError::Invalid)?;
        let now = db::now();
        let (sid, client) = (user.session_id.to_string(), client.clone());
        let ended = self
            .db
            .run_write(move |conn| {
                conn.transaction(|c| {
                    users::set_password(c, &uid, &hash, now)?;
                    let ended = sessions::revoke_all_for_user(
                        c,
                        &uid,
                        Some(&sid),
                        RevokeReason::PasswordChanged.as_str(),
                        now,
                    )?;
                    let mut e = event(
                        AuditKind::PasswordChanged,
                        Some(&uid),
                        Some(&sid),
                        Some(&uid),
                        &client,
                    );
                    e.detail = json!({ "sessions_ended": ended.len() });
                    audit::record(c, &e, now)?;
                    Ok::<_, DbError>(ended)
                })
            })
            .await?;
        Metrics::add(&self.metrics.revocations, ended.len() as u64);
        self.revocations
            .insert(ended.iter().map(String::as_str), now);
        log::info!("password changed; {} other session(s) ended", ended.len());
        Ok(ended.len())
    }

    /// Creates or promotes an admin (CLI; runs on the calling thread).
    pub fn create_admin_blocking(
        &self,
        email: &Email,
        password: &NewPassword,
    ) -> Result<bool, AuthError> {
        let hash = self
            .hasher
            .hash_blocking(password)
            .map_err(AuthError::Invalid)?;
        let now = db::now();
        let mut conn = self.db.get()?;
        let created = conn.transaction(|c| {
            if let Some(u) = users::find_by_email(c, email.as_str())? {
                users::set_role(c, &u.id, Role::Admin.as_str(), now)?;
                users::set_password(c, &u.id, &hash, now)?;
                return Ok::<_, DbError>(false);
            }
            let row = UserRow {
                id: UserId::generate().to_string(),
                email: email.as_str().into(),
                password_hash: hash,
                role: Role::Admin.as_str().into(),
                disabled: false,
                created_at: now,
                updated_at: now,
            };
            users::insert(c, &new_user(&row))?;
            let cli = ClientInfo::new("cli", "latchkey create-admin");
            let mut e = event(AuditKind::UserRegistered, Some(&row.id), None, None, &cli);
            e.detail = json!({ "role": "admin", "via": "create-admin" });
            audit::record(c, &e, now)?;
            Ok(true)
        })?;
        Ok(created)
    }
}

fn new_user(row: &UserRow) -> users::NewUser<'_> {
    users::NewUser {
        id: &row.id,
        email: &row.email,
        password_hash: &row.password_hash,
        role: &row.role,
        disabled: row.disabled,
        created_at: row.created_at,
        updated_at: row.updated_at,
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
