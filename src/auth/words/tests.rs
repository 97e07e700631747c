//! Every kind of event, with the details the code records for it, reads as words.

use super::*;

const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX: &str = "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0";
/// 6 Dec 2026, 06:29:42 UTC.
const AT: i64 = 1_796_538_582;

fn facts<'a>(kind: &'a str, detail: &'a str) -> EventFacts<'a> {
    EventFacts {
        kind,
        at: AT,
        detail,
        user_agent: CHROME,
        ip: "127.0.0.1",
        by_self: true,
    }
}

fn admin(kind: &str, detail: &str) -> String {
    describe(&facts(kind, detail), Audience::Admin).detail
}

fn owner(kind: &str, detail: &str) -> String {
    describe(&facts(kind, detail), Audience::Owner).detail
}

/// No sentence may show JSON, a Unix time, or a field name.
fn reads_as_words(s: &str) {
    for raw in ["{", "}", "\"", "_", "1796", "null"] {
        assert!(!s.contains(raw), "{s:?} shows {raw:?}");
    }
}

#[test]
fn a_reuse_names_both_uses_with_device_address_and_time() {
    let detail = format!(
        r#"{{"first_use":{{"at":{},"ip":"127.0.0.1","user_agent":"{CHROME}"}},"second_use":{{"at":{AT},"ip":"198.51.100.4","user_agent":"{FIREFOX}"}},"seconds_after_rotation":3}}"#,
        AT - 3
    );
    let s = admin("refresh_reuse_detected", &detail);
    assert_eq!(
        s,
        "First used by Chrome on Linux from 127.0.0.1 at 06:29:39 UTC; used again 3 s after \
         rotation by Firefox on Windows 10 from 198.51.100.4. The session was ended."
    );
    assert!(owner("refresh_reuse_detected", &detail).ends_with("to protect you."));
    // A first use on an earlier day names the date; a longer gap reads in minutes.
    let detail = format!(
        r#"{{"first_use":{{"at":{},"ip":null,"user_agent":null}},"second_use":{{"at":{AT},"ip":"10.0.0.1","user_agent":""}},"seconds_after_rotation":86400}}"#,
        AT - 86_400
    );
    let s = admin("refresh_reuse_detected", &detail);
    assert!(s.starts_with("First used by Unknown device at 5 Dec 2026, 06:29:42 UTC; used again 1 day after rotation by Unknown device from 10.0.0.1"), "{s}");
    reads_as_words(&s);
}

#[test]
fn sign_ins_and_sign_outs_name_the_device_and_address() {
    assert_eq!(
        admin("login_succeeded", r#"{"replaced_session":null}"#),
        "On Chrome on Linux from 127.0.0.1."
    );
    assert!(admin("login_succeeded", r#"{"replaced_session":"abc"}"#)
        .contains("earlier session in that browser was signed out"));
    assert_eq!(admin("logout", "{}"), "On Chrome on Linux from 127.0.0.1.");
}

#[test]
fn failed_sign_ins_say_why() {
    assert_eq!(
        admin(
            "login_failed",
            r#"{"email":"a@example.com","reason":"wrong_password"}"#
        ),
        "Wrong password, from Chrome on Linux from 127.0.0.1."
    );
    assert_eq!(
        admin(
            "login_failed",
            r#"{"email":"nobody@example.com","reason":"unknown_email"}"#
        ),
        "No account has the address nobody@example.com, from Chrome on Linux from 127.0.0.1."
    );
    assert!(admin(
        "login_failed",
        r#"{"email":"a@example.com","reason":"disabled"}"#
    )
    .starts_with("The account is disabled"));
    assert!(owner(
        "login_failed",
        r#"{"email":"a@example.com","reason":"disabled"}"#
    )
    .starts_with("Your account is disabled"));
    assert!(admin(
        "login_failed",
        r#"{"email":"a@example.com","reason":"wrong_password","during":"confirm"}"#
    )
    .starts_with("Wrong password when confirming it's you"));
    assert!(admin(
        "login_failed",
        r#"{"email":"a@example.com","reason":"wrong_password","during":"change_password"}"#
    )
    .starts_with("Wrong current password when changing the password"));
}

#[test]
fn ended_sessions_say_who_ended_them() {
    assert_eq!(
        admin("session_revoked", r#"{"by":"admin"}"#),
        "Ended by an administrator."
    );
    assert_eq!(
        owner("session_revoked", r#"{"by":"user","current":false}"#),
        "Ended by you, on Chrome on Linux from 127.0.0.1."
    );
    assert_eq!(
        admin("session_revoked", r#"{"by":"user","current":false}"#),
        "Ended by the user, on Chrome on Linux from 127.0.0.1."
    );
    assert!(owner("session_revoked", r#"{"by":"user","current":true}"#)
        .starts_with("Signed out from the devices page"));
    assert_eq!(
        admin(
            "sessions_revoked_all",
            r#"{"by":"admin","sessions_ended":3}"#
        ),
        "An administrator ended 3 sessions."
    );
    assert_eq!(
        owner(
            "sessions_revoked_all",
            r#"{"by":"user","kept_current":true,"sessions_ended":1}"#
        ),
        "You ended 1 other session, on Chrome on Linux from 127.0.0.1, keeping that one."
    );
}

#[test]
fn password_changes_and_account_changes_read_as_words() {
    assert_eq!(
        owner("password_changed", r#"{"sessions_ended":2}"#),
        "Changed on Chrome on Linux from 127.0.0.1; 2 other sessions were signed out."
    );
    assert_eq!(
        admin("user_disabled", r#"{"by":"admin","sessions_ended":1}"#),
        "Disabled by an administrator; 1 session was ended."
    );
    assert_eq!(
        admin("user_disabled", r#"{"by":"admin","sessions_ended":0}"#),
        "Disabled by an administrator."
    );
    assert_eq!(
        admin("user_enabled", r#"{"by":"admin","sessions_ended":0}"#),
        "Enabled by an administrator."
    );
    assert_eq!(
        admin("user_registered", r#"{"role":"user"}"#),
        "Registered from Chrome on Linux from 127.0.0.1."
    );
    assert!(admin("user_registered", r#"{"role":"admin"}"#).contains("first account"));
    assert_eq!(
        admin(
            "user_registered",
            r#"{"role":"admin","via":"create-admin"}"#
        ),
        "Created as an administrator with latchkey create-admin."
    );
    assert_eq!(
        owner("step_up_confirmed", "{}"),
        "Password confirmed on Chrome on Linux from 127.0.0.1."
    );
}

#[test]
fn every_kind_has_a_title_and_never_shows_raw_details() {
    use crate::db::audit::AuditKind;
    let odd = [
        "",
        "not json",
        "[]",
        "{}",
        r#"{"by":7,"sessions_ended":"x","first_use":5}"#,
    ];
    for k in AuditKind::ALL {
        assert_ne!(title(k.as_str()), "Other event", "{k:?}");
        for detail in odd {
            for audience in [Audience::Owner, Audience::Admin] {
                let w = describe(&facts(k.as_str(), detail), audience);
                reads_as_words(&w.detail);
            }
        }
    }
    assert_eq!(admin("something_new", r#"{"secret":1}"#), "");
}

#[test]
fn spans_and_clocks_read_well() {
    assert_eq!(span(3), "3 s");
    assert_eq!(span(-5), "0 s");
    assert_eq!(span(240), "4 min");
    assert_eq!(span(7200), "2 h");
    assert_eq!(span(7500), "2 h 5 min");
    assert_eq!(span(3 * 86_400 + 5), "3 days");
    assert_eq!(clock(AT, AT), "06:29:42 UTC");
    assert_eq!(lifetime(600), "10 minutes");
    assert_eq!(lifetime(3600), "1 hour");
    assert_eq!(lifetime(90), "90 seconds");
    assert_eq!(clock(i64::MAX, AT), "an unknown time");
}
