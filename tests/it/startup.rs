//! Start-up with a wrong `DATABASE_URL`: the real binary stops within seconds, with a non-zero
//! exit code and one line that names the real reason (never "invalid connection url", never
//! the password).

use crate::common::*;
use crate::process::latchkey;
use std::net::TcpListener;
use std::time::Duration;

/// Starts `latchkey` with `url` and returns its one-line complaint.
fn refused_start(url: &str) -> String {
    // Half r2d2's default 30 s wait: giving up on its own 2 s is what ends it before that, on
    // however busy a machine (no tighter bound, which would measure the machine).
    let mut p = latchkey(&[("DATABASE_URL", url), ("LATCHKEY_DB_TIMEOUT", "2s")]);
    let status = p.exit_within(Duration::from_secs(15));
    let status = status.unwrap_or_else(|| panic!("{url}: still running after 15 s"));
    assert!(!status.success(), "{url}: exit code {status}");
    assert_eq!(p.stderr.len(), 1, "{url}: one line, got {:?}", p.stderr);
    let line = p.stderr[0].clone();
    assert!(line.starts_with("latchkey: DATABASE_URL: "), "{line}");
    assert!(!line.contains("nvalid connection url"), "{line}");
    line
}

/// A local port nobody listens on.
fn closed_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn an_unknown_scheme_is_refused_instead_of_becoming_a_sqlite_file() {
    let line = refused_start("mysql://root:pw@localhost/latchkey");
    assert!(line.contains("unsupported scheme \"mysql://\""), "{line}");
    assert!(
        line.contains("postgres://"),
        "the line says what works: {line}"
    );
}

#[test]
fn a_closed_postgres_port_is_reported_as_connection_refused() {
    let port = closed_port();
    let line = refused_start(&format!(
        "postgres://latchkey:hunter2@127.0.0.1:{port}/latchkey"
    ));
    assert!(line.contains("Connection refused"), "{line}");
    assert!(
        line.contains(&format!("127.0.0.1:{port}/latchkey")),
        "{line}"
    );
    assert!(
        !line.contains("hunter2"),
        "the password stays secret: {line}"
    );
}

#[test]
fn an_unknown_host_is_reported_by_name() {
    let line = refused_start("postgresql://latchkey@no-such-host.invalid/latchkey");
    assert!(line.contains("no-such-host.invalid"), "{line}");
    assert!(line.contains("could not translate host name"), "{line}");
}

#[test]
fn a_server_that_never_answers_is_given_up_on_within_seconds() {
    // The kernel completes the handshake on the backlog; nobody ever reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let line = refused_start(&format!("postgres://latchkey@127.0.0.1:{port}/latchkey"));
    assert!(line.contains("timeout expired"), "{line}");
    drop(silent);
}

#[test]
fn a_missing_database_and_an_unknown_role_are_named() {
    let Some(admin) = postgres_url() else { return };
    let address = postgres_address().to_string();
    let missing = with_address(&admin, &address)
        .rsplit_once('/')
        .unwrap()
        .0
        .to_string()
        + "/lk_no_such_database";
    let line = refused_start(&missing);
    assert!(
        line.contains("database \"lk_no_such_database\" does not exist"),
        "{line}"
    );

    let line = refused_start(&format!(
        "postgres://lk_no_such_role:wrong-password@{address}/test"
    ));
    assert!(line.contains("lk_no_such_role"), "{line}");
    assert!(!line.contains("wrong-password"), "{line}");
}

#[test]
fn an_unopenable_sqlite_path_is_reported() {
    let line = refused_start("sqlite:///nonexistent-latchkey-dir/sub/lk.db");
    assert!(line.contains("unable to open database file"), "{line}");
}

#[test]
fn a_bare_path_and_sqlite_urls_still_start() {
    for url in ["lk.db", "sqlite://lk2.db"] {
        let mut p = latchkey(&[("DATABASE_URL", url), ("RUST_LOG", "info")]);
        assert!(
            p.wait_for_line("listening on", Duration::from_secs(20))
                .is_some(),
            "{url}: {:?}",
            p.stderr
        );
    }
}

/// The port in a "listening on 127.0.0.1:PORT" line.
fn port_in(line: &str) -> u16 {
    let rest = line.split("listening on 127.0.0.1:").nth(1).unwrap();
    rest.chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn a_max_lifetime_alone_below_the_idle_one_starts_with_one_warning_and_applies_to_idle() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("short.db").display());
    let mut p = latchkey(&[
        ("DATABASE_URL", url.as_str()),
        ("LATCHKEY_SESSION_MAX_TTL", "8h"),
        ("LATCHKEY_COOKIE_SECURE", "false"),
        ("RUST_LOG", "info"),
    ]);
    let listening = p
        .wait_for_line("listening on", Duration::from_secs(60))
        .unwrap_or_else(|| panic!("it did not start: {:?}", p.stderr));
    let warnings: Vec<&String> = p
        .stderr
        .iter()
        .filter(|l| l.contains("LATCHKEY_SESSION"))
        .collect();
    assert_eq!(warnings.len(), 1, "one line: {:?}", p.stderr);
    assert!(warnings[0].contains("WARN"), "{}", warnings[0]);
    assert!(
        warnings[0].contains("LATCHKEY_SESSION_IDLE_TTL") && warnings[0].contains("28800s"),
        "it says what was changed and to what: {}",
        warnings[0]
    );

    // The idle lifetime really is 8 h: a session unused for 9 h (well inside the default 7 d,
    // and inside its own 8 h absolute lifetime) cannot refresh.
    let b = Browser::new(&format!("http://127.0.0.1:{}", port_in(&listening)));
    assert_eq!(
        b.register("short@example.com", PASSWORD).await.status(),
        303
    );
    let db = latchkey::db::Db::connect(&url, 1, Duration::from_secs(5)).unwrap();
    let mut conn = db.get().unwrap();
    use diesel::RunQueryDsl;
    diesel::sql_query("UPDATE sessions SET last_used_at = last_used_at - 9 * 3600")
        .execute(&mut *conn)
        .unwrap();
    b.remove_cookie("access");
    let res = b.get("/account").await;
    assert_eq!(location(&res), "/login?reason=expired&next=/account");
}

#[test]
fn the_default_lifetimes_start_without_a_lifetime_warning() {
    let mut p = latchkey(&[("RUST_LOG", "info")]);
    assert!(
        p.wait_for_line("listening on", Duration::from_secs(60))
            .is_some(),
        "{:?}",
        p.stderr
    );
    assert!(
        !p.stderr.iter().any(|l| l.contains("LATCHKEY_SESSION")),
        "{:?}",
        p.stderr
    );
}
