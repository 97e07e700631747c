//! The domain error: every way an auth operation can fail, each mapped to one CONTRACT code.

use crate::db::DbError;

/// Why an auth operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No access token and nothing to refresh from.
    #[error("no access token")]
    NoToken,
    /// A genuine token whose `exp` has passed.
    #[error("access token expired")]
    TokenExpired {
        /// Its `exp`, epoch seconds.
        expired_at: i64,
    },
    /// Malformed, tampered, wrong key/alg/issuer/audience.
    #[error("invalid access token")]
    InvalidToken,
    /// Refresh token unknown, or the session's idle or absolute lifetime is over.
    #[error("session expired")]
    SessionExpired,
    /// The session was ended.
    #[error("session revoked")]
    SessionRevoked,
    /// The session is bound to a device key (DBSC): only a proof from that key refreshes it.
    #[error("device proof required")]
    DeviceProofRequired,
    /// A rotated refresh token came back after the grace window; the family is now revoked.
    #[error("refresh token reuse detected")]
    RefreshReused,
    /// Wrong e-mail or password, or a disabled account.
    #[error("invalid credentials")]
    InvalidCredentials,
    /// Signed in without the needed role.
    #[error("forbidden")]
    Forbidden,
    /// A sensitive action without a recent password confirmation in this session.
    #[error("step-up required")]
    StepUpRequired,
    /// Missing or wrong CSRF token, or a foreign origin.
    #[error("CSRF check failed")]
    CsrfFailed,
    /// Too many failed sign-ins.
    #[error("rate limited for {retry_after}s")]
    RateLimited {
        /// Seconds until the next attempt is allowed.
        retry_after: u64,
    },
    /// Too many sign-ups from this address.
    #[error("sign-ups rate limited for {retry_after}s")]
    TooManySignUps {
        /// Seconds until the next sign-up is allowed.
        retry_after: u64,
    },
    /// Every bcrypt worker stayed busy for the whole queue wait: nothing was checked.
    #[error("password checks busy")]
    Busy,
    /// Bad input, with a message fit for the user.
    #[error("{0}")]
    Invalid(String),
    /// The e-mail address is already registered.
    #[error("email taken")]
    EmailTaken,
    /// Sign-up is closed.
    #[error("registration closed")]
    RegistrationClosed,
    /// The current password given on a password change is wrong.
    #[error("wrong current password")]
    WrongPassword,
    /// No such user or session.
    #[error("not found")]
    NotFound,
    /// The database does not answer.
    #[error("database: {0}")]
    Database(#[from] DbError),
}

impl From<super::passwords::Busy> for AuthError {
    fn from(_: super::passwords::Busy) -> Self {
        AuthError::Busy
    }
}

impl From<super::passwords::HashError> for AuthError {
    fn from(e: super::passwords::HashError) -> Self {
        match e {
            super::passwords::HashError::Busy(_) => AuthError::Busy,
            super::passwords::HashError::Failed(m) => AuthError::Invalid(m),
        }
    }
}

impl AuthError {
    /// The CONTRACT §6 code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoToken => "NO_TOKEN",
            Self::TokenExpired { .. } => "TOKEN_EXPIRED",
            Self::InvalidToken => "INVALID_TOKEN",
            // The contract's codes: to a client holding only the cookie, the session is over.
            Self::SessionExpired | Self::DeviceProofRequired => "SESSION_EXPIRED",
            Self::SessionRevoked => "SESSION_REVOKED",
            Self::RefreshReused => "REFRESH_REUSED",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::Forbidden => "FORBIDDEN",
            Self::CsrfFailed => "CSRF_FAILED",
            Self::StepUpRequired => "STEP_UP_REQUIRED",
            Self::RateLimited { .. } | Self::TooManySignUps { .. } => "RATE_LIMITED",
            Self::Invalid(_) | Self::WrongPassword => "BAD_REQUEST",
            Self::EmailTaken => "EMAIL_TAKEN",
            Self::RegistrationClosed => "REGISTRATION_CLOSED",
            Self::NotFound => "NOT_FOUND",
            Self::Database(_) | Self::Busy => "SERVICE_UNAVAILABLE",
        }
    }

    /// The `reason` shown on the sign-in page when this ends a browser session.
    pub fn login_reason(&self) -> &'static str {
        match self {
            Self::SessionRevoked => "revoked",
            Self::RefreshReused => "reused",
            Self::DeviceProofRequired => "device",
            _ => "expired",
        }
    }
}
