//! Device Bound Session Credentials (CONTRACT §9): challenges, key binding, and proof checks,
//! with no actix in them. The HTTP layer reads the headers and calls these; the rotation itself
//! is the one of §4 (`rotation.rs`), told whether a proof was made.

mod proof;
pub mod sfv;

pub use proof::{verify_refresh, verify_registration, DeviceKey, ProofError, Registration};

use super::service::{event, transaction, TxError};
use super::{AuthError, AuthService, SessionUser};
use crate::db::audit::{self, AuditKind};
use crate::db::{self, dbsc as q, sessions};
use crate::domain::{ClientInfo, SessionId, UserId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use serde_json::json;
use sfv::{BareItem, Item, Member};
use sha2::{Digest, Sha256};

/// How long a challenge may be answered: minutes, as the draft suggests.
pub const CHALLENGE_TTL_SECS: i64 = 300;

/// A fresh challenge: 256 random bits, base64url (a valid structured-field string as is).
#[derive(Clone, PartialEq, Eq)]
pub struct Challenge(String);

impl Challenge {
    fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        Self(B64.encode(bytes))
    }

    /// The challenge as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Challenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Challenge(..)")
    }
}

/// Only a challenge's hash is stored.
fn challenge_hash(c: &str) -> String {
    hex::encode(Sha256::digest(c.as_bytes()))
}

/// `Secure-Session-Registration: (ES256 RS256);path="…";challenge="…"`.
pub fn registration_header(path: &str, challenge: &Challenge) -> Option<String> {
    let algs = ["ES256", "RS256"].map(|a| Item {
        bare: BareItem::Token(a.into()),
        params: vec![],
    });
    let params = vec![
        ("path".into(), BareItem::String(path.into())),
        ("challenge".into(), BareItem::String(challenge.0.clone())),
    ];
    sfv::serialize_list(&[Member::InnerList(algs.to_vec(), params)]).ok()
}

/// `Secure-Session-Challenge: "<challenge>";id="<session id>"`.
pub fn challenge_header(challenge: &Challenge, session: &SessionId) -> Option<String> {
    sfv::serialize_item(&Item {
        bare: BareItem::String(challenge.0.clone()),
        params: vec![("id".into(), BareItem::String(session.as_str().into()))],
    })
    .ok()
}

/// Reads `Sec-Secure-Session-Id`, which must name one of our session ids: as a structured-field
/// string or token, or bare, as Chromium 156 was seen to send it (`3e81…` is neither: a UUID
/// starting with a digit is no token).
pub fn parse_session_id(raw: &str) -> Option<SessionId> {
    if let Some(id) = SessionId::parse(raw.trim_matches(' ')) {
        return Some(id);
    }
    match sfv::parse_item(raw).ok()?.bare {
        BareItem::String(s) | BareItem::Token(s) => SessionId::parse(&s),
        _ => None,
    }
}

/// One entry of `Secure-Session-Skipped`: why the browser went ahead without refreshing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// `unreachable`, `server_error`, `quota_exceeded`, or a reason added later.
    pub reason: String,
    /// The session it concerns, when it is one of ours.
    pub session: Option<SessionId>,
}

/// Reads `Secure-Session-Skipped` (a List of tokens with a `session_identifier` string);
/// a value outside the grammar is ignored whole, as RFC 8941 asks.
pub fn parse_skipped(raw: &str) -> Vec<Skipped> {
    let Ok(list) = sfv::parse_list(raw) else {
        return Vec::new();
    };
    list.into_iter()
        .filter_map(|m| match m {
            Member::Item(Item {
                bare: BareItem::Token(reason),
                params,
            }) => {
                let session = match sfv::Item::param(
                    &Item {
                        bare: BareItem::Boolean(true),
                        params,
                    },
                    "session_identifier",
                ) {
                    Some(BareItem::String(s)) => SessionId::parse(s),
                    _ => None,
                };
                Some(Skipped { reason, session })
            }
            _ => None,
        })
        .collect()
}

/// A session whose key has just signed a fresh challenge: the one thing that may rotate a
/// bound session.
#[derive(Clone, Debug)]
pub struct Proven {
    /// The session.
    pub session: SessionId,
    /// Its owner.
    pub user: UserId,
}

/// Why a refresh proof did not prove anything.
#[derive(Debug)]
pub enum Refusal {
    /// No such session, or one that is ended, expired or not bound: the browser should stop.
    NotBound,
    /// No proof was sent: answer with a challenge.
    NoProof,
    /// A well-signed proof of a challenge that is unknown, spent, expired or another session's
    /// (a browser re-sending its cached one): answer with a fresh challenge.
    StaleChallenge,
    /// A proof that fails the checks (audited).
    Bad(ProofError),
    /// The database does not answer.
    Database(crate::db::DbError),
}

impl AuthService {
    /// Issues a challenge to a session and stores it (every instance can then check it).
    pub async fn dbsc_challenge(&self, session: &SessionId) -> Result<Challenge, AuthError> {
        let challenge = Challenge::generate();
        let (hash, sid, now) = (challenge_hash(&challenge.0), session.to_string(), db::now());
        self.db
            .run_write(move |c| q::insert_challenge(c, &hash, &sid, now, now + CHALLENGE_TTL_SECS))
            .await?;
        Ok(challenge)
    }

    /// Registration: the proof must be signed by the key in its header and answer a challenge
    /// issued to this very session; the key is then bound, once, and `session_bound` audited.
    pub async fn dbsc_register(
        &self,
        user: &SessionUser,
        proof: &str,
        client: &ClientInfo,
    ) -> Result<DeviceKey, Result<ProofError, AuthError>> {
        let reg = verify_registration(proof).map_err(Ok)?;
        let (sid, uid, now) = (
            user.session_id.to_string(),
            user.user_id.to_string(),
            db::now(),
        );
        let (hash, key_json, alg) = (
            challenge_hash(&reg.challenge),
            reg.key.to_json(),
            reg.key.alg(),
        );
        let client = client.clone();
        let bound = self
            .db
            .run_write(move |conn| {
                transaction(conn, |c| {
                    if !q::consume_challenge(c, &hash, &sid, now)? {
                        return Err(TxError::Abort(AuthError::SessionExpired));
                    }
                    if !q::bind_key(c, &sid, &key_json, now)? {
                        return Err(TxError::Abort(AuthError::SessionRevoked));
                    }
                    let mut e = event(
                        AuditKind::SessionBound,
                        Some(&uid),
                        Some(&sid),
                        Some(&uid),
                        &client,
                    );
                    e.detail = json!({ "alg": alg });
                    audit::record(c, &e, now)?;
                    Ok(())
                })
            })
            .await
            .map_err(|e| Err(AuthError::Database(e)))?;
        match bound {
            Ok(()) => {
                log::info!("session {} bound to a device key ({alg})", user.session_id);
                Ok(reg.key)
            }
            Err(e) => Err(Err(e)),
        }
    }

    /// A refresh proof for `session`: the session must be live and bound, the proof signed by
    /// its key, and its `jti` a challenge issued to it, unexpired and unused (spent here).
    pub async fn dbsc_prove(
        &self,
        session: &SessionId,
        proof: Option<&str>,
    ) -> Result<Proven, Refusal> {
        let (sid, now, idle) = (session.to_string(), db::now(), self.settings.idle_ttl);
        let row = self
            .db
            .run(move |c| sessions::find(c, &sid))
            .await
            .map_err(Refusal::Database)?;
        let row = row
            .filter(|r| {
                r.revoked_at.is_none() && now < r.expires_at && now - r.last_used_at <= idle
            })
            .ok_or(Refusal::NotBound)?;
        let key = row
            .dbsc_key
            .as_deref()
            .and_then(DeviceKey::from_json)
            .ok_or(Refusal::NotBound)?;
        let proof = proof.ok_or(Refusal::NoProof)?;
        let jti = verify_refresh(proof, &key).map_err(Refusal::Bad)?;
        let (hash, sid) = (challenge_hash(&jti), row.id.clone());
        let spent = self
            .db
            .run_write(move |c| q::consume_challenge(c, &hash, &sid, now))
            .await
            .map_err(Refusal::Database)?;
        if !spent {
            return Err(Refusal::StaleChallenge);
        }
        Ok(Proven {
            session: SessionId::from_db(row.id),
            user: UserId::from_db(row.user_id),
        })
    }

    /// Records a refused DBSC attempt (`dbsc_proof_failed`): a bound session refreshed with its
    /// cookie alone, or a proof that failed the checks. Best effort: an outage loses the event,
    /// never the answer.
    pub async fn dbsc_proof_failed(
        &self,
        session: &SessionId,
        user: Option<&UserId>,
        reason: &'static str,
        client: &ClientInfo,
    ) {
        let (sid, uid, now, client) = (
            session.to_string(),
            user.map(|u| u.to_string()),
            db::now(),
            client.clone(),
        );
        let written = self
            .db
            .run_write(move |c| {
                let uid = match uid {
                    Some(u) => Some(u),
                    None => sessions::find(c, &sid)?.map(|r| r.user_id),
                };
                let mut e = event(
                    AuditKind::DbscProofFailed,
                    uid.as_deref(),
                    Some(&sid),
                    None,
                    &client,
                );
                e.detail = json!({ "reason": reason });
                audit::record(c, &e, now)
            })
            .await;
        log::warn!("device proof failed on session {session}: {reason}");
        if let Err(e) = written {
            log::error!("could not record a failed device proof: {e}");
        }
    }
}

#[cfg(test)]
mod tests;
