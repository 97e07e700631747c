//! Password hashing: bcrypt over an HMAC-SHA-384 pre-hash (so nothing past 72 bytes is silently
//! ignored), always on the blocking pool, with a bounded number at once so a sign-in storm
//! cannot starve the async workers of CPU, and a bounded wait for a turn: a request that cannot
//! start its bcrypt within [`QUEUE_WAIT`] is answered "busy" (503) rather than queued for as
//! long as a flood lasts.

use crate::domain::NewPassword;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use prometheus::Histogram;
use sha2::Sha384;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::Semaphore;

/// The longest a request waits for its turn at bcrypt: at cost 12 (about a quarter of a second
/// a check on one core) about a dozen checks queued ahead of it.
pub const QUEUE_WAIT: Duration = Duration::from_secs(3);

/// Every bcrypt worker stayed busy for the whole [`QUEUE_WAIT`]; nothing was checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("every bcrypt worker is busy")]
pub struct Busy;

/// Why hashing a new password failed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// No turn at bcrypt in time.
    #[error(transparent)]
    Busy(#[from] Busy),
    /// bcrypt itself failed.
    #[error("{0}")]
    Failed(String),
}

/// Domain separation for the pre-hash. Not a secret pepper: it only turns any length into
/// 64 bcrypt-safe characters, so the key can rotate without invalidating passwords.
const PREHASH_KEY: &[u8] = b"latchkey password pre-hash v1";

fn prehash(password: &str) -> String {
    let mut mac =
        <Hmac<Sha384> as Mac>::new_from_slice(PREHASH_KEY).expect("HMAC takes any key length");
    mac.update(password.as_bytes());
    B64.encode(mac.finalize().into_bytes())
}

/// The hash verified for unknown e-mails: a genuine bcrypt hash at the configured cost, so
/// verifying it costs what verifying a real one does. Computed once.
fn dummy_hash(cell: &OnceLock<String>, cost: u32) -> &str {
    cell.get_or_init(|| bcrypt::hash("latchkey dummy password", cost).unwrap_or_default())
}

/// Hashes and verifies passwords at the configured cost.
#[derive(Clone)]
pub struct PasswordHasher {
    cost: u32,
    permits: Arc<Semaphore>,
    queue_wait: Duration,
    dummy: Arc<OnceLock<String>>,
    dummy_runs: Arc<AtomicU64>,
    timing: Option<Timing>,
}

/// Where bcrypt durations are recorded (`/metrics`).
#[derive(Clone)]
struct Timing {
    hash: Histogram,
    verify: Histogram,
}

impl PasswordHasher {
    /// A hasher at `cost`, running at most `parallel` bcrypt computations at once.
    pub fn new(cost: u32, parallel: usize) -> Self {
        Self {
            cost,
            permits: Arc::new(Semaphore::new(parallel.max(1))),
            queue_wait: QUEUE_WAIT,
            dummy: Arc::new(OnceLock::new()),
            dummy_runs: Arc::new(AtomicU64::new(0)),
            timing: None,
        }
    }

    /// The same hasher with another bound on the wait for a turn (tests).
    pub fn with_queue_wait(mut self, wait: Duration) -> Self {
        self.queue_wait = wait;
        self
    }

    /// Records how long each hash and verification takes (on the blocking thread, so the wait
    /// for a permit is not counted).
    pub fn with_timing(mut self, hash: Histogram, verify: Histogram) -> Self {
        self.timing = Some(Timing { hash, verify });
        self
    }

    /// A sensible parallelism: leave one core for serving pages.
    pub fn default_parallelism() -> usize {
        std::thread::available_parallelism()
            .map(|n| n.get().saturating_sub(1))
            .unwrap_or(1)
            .max(1)
    }

    /// Hashes a new password (blocking pool).
    pub async fn hash(&self, password: &NewPassword) -> Result<String, HashError> {
        let pre = prehash(password.expose());
        let cost = self.cost;
        let timer = self.timing.as_ref().map(|t| t.hash.clone());
        self.blocking(move || {
            let _timer = timer.map(|h| h.start_timer());
            bcrypt::hash(pre, cost).map_err(|e| e.to_string())
        })
        .await?
        .map_err(HashError::Failed)
    }

    /// Synchronous hash, for the CLI.
    pub fn hash_blocking(&self, password: &NewPassword) -> Result<String, String> {
        bcrypt::hash(prehash(password.expose()), self.cost).map_err(|e| e.to_string())
    }

    /// Verifies `password` against `hash`; with no hash (unknown user) a dummy hash is verified
    /// instead so the answer takes the same time. `Err(Busy)` when no turn came in time.
    pub async fn verify(&self, password: &str, hash: Option<String>) -> Result<bool, Busy> {
        let pre = prehash(password);
        let cost = self.cost;
        let dummy = self.dummy.clone();
        let runs = self.dummy_runs.clone();
        let known = hash.is_some();
        let timer = self.timing.as_ref().map(|t| t.verify.clone());
        let ok = self
            .blocking(move || {
                let _timer = timer.map(|h| h.start_timer());
                let hash = match hash {
                    Some(h) => h,
                    None => {
                        runs.fetch_add(1, Ordering::Relaxed);
                        dummy_hash(&dummy, cost).to_string()
                    }
                };
                Ok::<bool, String>(bcrypt::verify(pre, &hash).unwrap_or(false))
            })
            .await?;
        Ok(matches!(ok, Ok(true)) && known)
    }

    /// Computes the dummy hash now, so the first unknown e-mail after a start costs one verify
    /// like every other sign-in instead of a hash plus a verify.
    pub async fn warm_up(&self) {
        let (dummy, cost) = (self.dummy.clone(), self.cost);
        let _ = self
            .blocking(move || {
                dummy_hash(&dummy, cost);
                Ok(())
            })
            .await;
    }

    /// How many verifications ran against the dummy hash (for unknown accounts).
    pub fn dummy_verifications(&self) -> u64 {
        self.dummy_runs.load(Ordering::Relaxed)
    }

    /// Runs `f` on the blocking pool once a bcrypt permit is free: `Err(Busy)` when none frees
    /// up within the queue wait, else what `f` (or the blocking pool) answered.
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) -> Result<Result<T, String>, Busy> {
        let permit = tokio::time::timeout(self.queue_wait, self.permits.acquire()).await;
        let Ok(Ok(_permit)) = permit else {
            return Err(Busy);
        };
        Ok(tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pw(s: &str) -> NewPassword {
        NewPassword::parse(s.to_string()).expect("valid")
    }

    #[tokio::test]
    async fn verifies_exactly_what_was_typed_beyond_72_bytes() {
        let h = PasswordHasher::new(4, 1);
        let long = "a".repeat(72);
        let hash = h.hash(&pw(&format!("{long}X"))).await.expect("hash");
        assert!(h
            .verify(&format!("{long}X"), Some(hash.clone()))
            .await
            .expect("a turn"));
        assert!(
            !h.verify(&long, Some(hash.clone())).await.expect("a turn"),
            "no silent truncation"
        );
        assert!(!h
            .verify(&format!("{long}Y"), Some(hash))
            .await
            .expect("a turn"));
    }

    #[tokio::test]
    async fn unknown_users_and_broken_hashes_never_verify() {
        let h = PasswordHasher::new(4, 1);
        assert!(!h
            .verify("latchkey dummy password", None)
            .await
            .expect("a turn"));
        assert!(!h
            .verify("whatever1", Some("$2b$04$ü-not-a-hash".into()))
            .await
            .expect("a turn"));
        assert!(!h
            .verify("whatever1", Some(String::new()))
            .await
            .expect("a turn"));
    }

    #[tokio::test]
    async fn an_unknown_account_costs_a_real_bcrypt_verify_at_the_same_cost() {
        let h = PasswordHasher::new(5, 1);
        let real = h.hash(&pw("some password")).await.expect("hash");
        assert!(!h.verify("some password", None).await.expect("a turn"));
        assert_eq!(h.dummy_verifications(), 1);
        let dummy = h.dummy.get().expect("the dummy hash was computed").clone();
        let cost_of = |s: &str| {
            s.parse::<bcrypt::HashParts>()
                .expect("bcrypt hash")
                .get_cost()
        };
        assert_eq!(
            cost_of(&dummy),
            cost_of(&real),
            "same work factor, so similar time"
        );
        assert!(
            bcrypt::verify("latchkey dummy password", &dummy).expect("valid hash"),
            "the dummy is a genuine bcrypt hash, so verifying it does the full work"
        );
        assert!(!h
            .verify("latchkey dummy password", None)
            .await
            .expect("a turn"));
        assert_eq!(h.dummy_verifications(), 2);
        assert!(!h.verify("x", Some(real)).await.expect("a turn"));
        assert_eq!(
            h.dummy_verifications(),
            2,
            "known accounts use their own hash"
        );
    }

    #[tokio::test]
    async fn warming_up_computes_the_dummy_hash_before_the_first_unknown_sign_in() {
        let h = PasswordHasher::new(4, 1);
        assert!(h.dummy.get().is_none());
        h.warm_up().await;
        let dummy = h.dummy.get().expect("computed at start").clone();
        assert!(dummy.starts_with("$2b$04$"));
        assert!(!h.verify("anything", None).await.expect("a turn"));
        assert_eq!(
            h.dummy.get(),
            Some(&dummy),
            "the same hash, not a second computation"
        );
    }

    #[tokio::test]
    async fn a_request_waits_for_bcrypt_only_so_long_and_then_hears_busy() {
        let h = PasswordHasher::new(4, 1).with_queue_wait(Duration::from_millis(50));
        let hash = h.hash(&pw("some password")).await.expect("hash");
        // Every worker is taken (as by a flood of sign-ins) for longer than the bound.
        let held = h.permits.clone().acquire_owned().await.expect("permit");
        assert_eq!(
            h.verify("some password", Some(hash.clone())).await,
            Err(Busy)
        );
        assert!(matches!(
            h.hash(&pw("another password")).await,
            Err(HashError::Busy(Busy))
        ));
        drop(held);
        assert_eq!(
            h.verify("some password", Some(hash)).await,
            Ok(true),
            "served again once free"
        );
    }
}
