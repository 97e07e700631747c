//! Audit events in words: one sentence per event for people, built from the stored kind, the
//! client that caused it and the JSON details, never showing the JSON or a Unix time. The admin
//! pages and the user's own security history both read events through [`describe`]; only who
//! "you" is differs ([`Audience`]).

use super::devices::describe_device;
use serde_json::Value;
use time::macros::format_description;
use time::OffsetDateTime;

/// Who reads the sentence: the account's owner ("you") or an administrator ("the user").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// The account's owner, on their security history.
    Owner,
    /// An administrator, on the admin pages.
    Admin,
}

/// What an event's sentence is made of: the stored row's fields.
#[derive(Clone, Copy, Debug)]
pub struct EventFacts<'a> {
    /// Stored kind spelling (`login_succeeded`, …).
    pub kind: &'a str,
    /// When it was recorded, epoch seconds.
    pub at: i64,
    /// Stored JSON details (anything unreadable is simply left out).
    pub detail: &'a str,
    /// User agent of the client that caused it.
    pub user_agent: &'a str,
    /// Address of the client that caused it.
    pub ip: &'a str,
    /// Whether the account acted on itself (actor = user).
    pub by_self: bool,
}

/// An event for people: a short title and one or more sentences of detail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventWords {
    /// "Signed in", "Token reuse detected", …
    pub title: &'static str,
    /// The details in words (empty when there is nothing to add).
    pub detail: String,
}

/// The title of an event kind, in plain words.
pub fn title(kind: &str) -> &'static str {
    match kind {
        "login_succeeded" => "Signed in",
        "login_failed" => "Sign-in failed",
        "logout" => "Signed out",
        "refresh_reuse_detected" => "Token reuse detected",
        "session_revoked" => "Session ended",
        "sessions_revoked_all" => "Sessions ended",
        "password_changed" => "Password changed",
        "user_disabled" => "Account disabled",
        "user_enabled" => "Account enabled",
        "user_registered" => "Account created",
        "step_up_confirmed" => "Password confirmed",
        "session_bound" => "Session bound to a device key",
        "dbsc_proof_failed" => "Device proof failed",
        _ => "Other event",
    }
}

/// Describes one event for `audience`.
pub fn describe(e: &EventFacts<'_>, audience: Audience) -> EventWords {
    let d: Value = serde_json::from_str(e.detail).unwrap_or(Value::Null);
    let owner = audience == Audience::Owner;
    let client = client(e.user_agent, e.ip);
    let by_admin = d["by"].as_str() == Some("admin");
    let ended = d["sessions_ended"].as_i64();
    let detail = match e.kind {
        "login_succeeded" => {
            let mut s = format!("On {client}.");
            if d["replaced_session"].is_string() {
                s.push_str(" The earlier session in that browser was signed out.");
            }
            s
        }
        "login_failed" => {
            let email = d["email"].as_str().unwrap_or("");
            let why = match (d["reason"].as_str(), d["during"].as_str()) {
                (_, Some("confirm")) => "Wrong password when confirming it's you".to_string(),
                (_, Some("change_password")) => {
                    "Wrong current password when changing the password".to_string()
                }
                (Some("unknown_email"), _) if !email.is_empty() => {
                    format!("No account has the address {email}")
                }
                (Some("unknown_email"), _) => "No account has that address".into(),
                (Some("disabled"), _) if owner => "Your account is disabled".into(),
                (Some("disabled"), _) => "The account is disabled".into(),
                _ => "Wrong password".into(),
            };
            format!("{why}, from {client}.")
        }
        "logout" => format!("On {client}."),
        "refresh_reuse_detected" => reuse(&d, e.at, owner),
        "session_revoked" if by_admin => "Ended by an administrator.".into(),
        "session_revoked" if d["current"].as_bool() == Some(true) => {
            format!("Signed out from the devices page, on {client}.")
        }
        "session_revoked" => format!("Ended by {}, on {client}.", you(owner, e.by_self)),
        "sessions_revoked_all" if by_admin => match ended {
            Some(n) => format!("An administrator ended {}.", sessions(n, "")),
            None => "An administrator ended every session.".into(),
        },
        "sessions_revoked_all" => format!(
            "{} ended {}, on {client}, keeping that one.",
            capital(you(owner, e.by_self)),
            sessions(ended.unwrap_or(0), " other"),
        ),
        "password_changed" => match ended {
            Some(n) => format!(
                "Changed on {client}; {} signed out.",
                were(sessions(n, " other"), n)
            ),
            None => format!("Changed on {client}."),
        },
        "user_disabled" => match ended {
            Some(n) if n > 0 => format!(
                "Disabled by an administrator; {} ended.",
                were(sessions(n, ""), n)
            ),
            _ => "Disabled by an administrator.".into(),
        },
        "user_enabled" => "Enabled by an administrator.".into(),
        "user_registered" => {
            let admin = d["role"].as_str() == Some("admin");
            match (d["via"].as_str(), admin) {
                (Some("create-admin"), _) => {
                    "Created as an administrator with latchkey create-admin.".into()
                }
                (_, true) => {
                    format!(
                        "Registered from {client}; as the first account it is the administrator."
                    )
                }
                _ => format!("Registered from {client}."),
            }
        }
        "step_up_confirmed" => format!("Password confirmed on {client}."),
        "session_bound" => format!(
            "{client} now proves each renewal with its {} device key.",
            d["alg"].as_str().unwrap_or("own")
        ),
        "dbsc_proof_failed" => device_proof_failed(d["reason"].as_str(), &client),
        _ => String::new(),
    };
    EventWords {
        title: title(e.kind),
        detail,
    }
}

/// Why a bound session's renewal was refused, in words (the reasons `auth::dbsc` records).
fn device_proof_failed(reason: Option<&str>, client: &str) -> String {
    let why = match reason.unwrap_or("") {
        "refresh_without_proof" => "was tried with its cookie alone, without the device key (a copied cookie, or a browser that lost its key)",
        "bad_signature" => "was signed by another key than the one this session is bound to",
        "key_on_refresh" => "tried to present a new key",
        "alg_not_allowed" => "used another algorithm than the bound key's",
        "unexpected_claims" => "carried unexpected content",
        _ => "came with a malformed proof",
    };
    format!("A renewal of this bound session {why}, from {client}. Refused.")
}

/// "Chrome on Linux from 127.0.0.1".
fn client(user_agent: &str, ip: &str) -> String {
    let device = describe_device(user_agent);
    if ip.is_empty() {
        device
    } else {
        format!("{device} from {ip}")
    }
}

fn you(owner: bool, by_self: bool) -> &'static str {
    match (owner, by_self) {
        (true, true) => "you",
        (false, true) => "the user",
        (_, false) => "someone else",
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// "1 other session", "3 sessions".
fn sessions(n: i64, other: &str) -> String {
    format!("{n}{other} session{}", if n == 1 { "" } else { "s" })
}

/// "2 sessions were", "1 session was".
fn were(what: String, n: i64) -> String {
    format!("{what} {}", if n == 1 { "was" } else { "were" })
}

/// The reuse sentence: both uses' device, address and time, and how far apart they were.
fn reuse(d: &Value, at: i64, owner: bool) -> String {
    let first = &d["first_use"];
    let second = &d["second_use"];
    let use_of = |u: &Value| {
        client(
            u["user_agent"].as_str().unwrap_or(""),
            u["ip"].as_str().unwrap_or(""),
        )
    };
    let first_at = first["at"].as_i64();
    let second_at = second["at"].as_i64().unwrap_or(at);
    let gap = d["seconds_after_rotation"]
        .as_i64()
        .or(first_at.map(|f| second_at - f));
    let mut s = String::from("First used by ");
    s.push_str(&use_of(first));
    if let Some(f) = first_at {
        s.push_str(" at ");
        s.push_str(&clock(f, second_at));
    }
    s.push_str("; used again ");
    if let Some(g) = gap {
        s.push_str(&span(g));
        s.push_str(" after rotation ");
    }
    s.push_str("by ");
    s.push_str(&use_of(second));
    s.push_str(". ");
    s.push_str(if owner {
        "Latchkey signed that session out to protect you."
    } else {
        "The session was ended."
    });
    s
}

/// A time of day in UTC ("06:29:39 UTC"), with the date when it is not `reference`'s day.
pub fn clock(secs: i64, reference: i64) -> String {
    let (Ok(t), Ok(r)) = (
        OffsetDateTime::from_unix_timestamp(secs),
        OffsetDateTime::from_unix_timestamp(reference),
    ) else {
        return "an unknown time".into();
    };
    let fmt = if t.date() == r.date() {
        format_description!("[hour]:[minute]:[second] UTC")
    } else {
        format_description!(
            "[day padding:none] [month repr:short] [year], [hour]:[minute]:[second] UTC"
        )
    };
    t.format(&fmt).unwrap_or_default()
}

/// A lifetime for people, spelled out: "10 minutes", "1 hour", "90 seconds".
pub fn lifetime(secs: i64) -> String {
    let unit = |n: i64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match secs.max(0) {
        s if s % 3600 == 0 && s > 0 => unit(s / 3600, "hour"),
        s if s % 60 == 0 && s > 0 => unit(s / 60, "minute"),
        s => unit(s, "second"),
    }
}

/// A duration for people: "3 s", "4 min", "2 h 5 min", "3 days".
pub fn span(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        s if s < 60 => format!("{s} s"),
        s if s < 3600 => format!("{} min", s / 60),
        s if s < 86_400 && s % 3600 / 60 == 0 => format!("{} h", s / 3600),
        s if s < 86_400 => format!("{} h {} min", s / 3600, s % 3600 / 60),
        s if s < 2 * 86_400 => "1 day".into(),
        s => format!("{} days", s / 86_400),
    }
}

#[cfg(test)]
mod tests;
