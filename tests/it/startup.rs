//! Start-up with a wrong `DATABASE_URL`: the real binary stops within seconds, with a non-zero
//! exit code and one line that names the real reason (never "invalid connection url", never
//! the password).

use crate::common::*;
use crate::process::latchkey;
use std::net::TcpListener;
use std::time::{Duration, Instant};

/// Starts `latchkey` with `url` and returns its one-line complaint.
fn refused_start(url: &str) -> String {
    let started = Instant::now();
    let mut p = latchkey(&[("DATABASE_URL", url), ("LATCHKEY_DB_TIMEOUT", "2s")]);
    let status = p.exit_within(Duration::from_secs(15));
    let elapsed = started.elapsed();
    let status = status.unwrap_or_else(|| panic!("{url}: still running after 15 s"));
    assert!(!status.success(), "{url}: exit code {status}");
    assert!(
        elapsed < Duration::from_secs(10),
        "{url}: took {elapsed:?} to give up"
    );
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
