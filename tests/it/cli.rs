//! The command line, run as a real process: first start with no configuration, bad
//! configuration, `gen-secret`, `migrate`, `create-admin`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn latchkey(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    c.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("LATCHKEY_BCRYPT_COST", "4");
    c
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn gen_secret_prints_a_fresh_256_bit_base64url_key() {
    let dir = tempfile::tempdir().unwrap();
    let a = latchkey(dir.path()).arg("gen-secret").output().unwrap();
    let b = latchkey(dir.path()).arg("gen-secret").output().unwrap();
    let (a, b) = (
        String::from_utf8(a.stdout).unwrap(),
        String::from_utf8(b.stdout).unwrap(),
    );
    assert_eq!(a.trim().len(), 43);
    assert!(a
        .trim()
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
    assert_ne!(a, b);
}

#[test]
fn a_bad_setting_stops_start_up_with_one_line_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    for (var, value) in [
        ("LATCHKEY_ACCESS_TTL", "soon"),
        ("LATCHKEY_JWT_SECRET", "changeme"),
        ("LATCHKEY_REGISTRATION", "maybe"),
    ] {
        let out = latchkey(dir.path())
            .env(var, value)
            .arg("migrate")
            .output()
            .unwrap();
        assert!(!out.status.success(), "{var}");
        let err = String::from_utf8(out.stderr).unwrap();
        let line = err
            .lines()
            .find(|l| l.starts_with("latchkey: "))
            .unwrap_or_default();
        assert!(line.contains(var), "{var}: {err}");
    }
    assert!(
        !dir.path().join("latchkey.db").exists(),
        "nothing was created"
    );
}

#[test]
fn the_first_start_creates_the_database_and_a_private_key_file_and_serves() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = latchkey(dir.path())
        .env("LATCHKEY_BIND", format!("127.0.0.1:{port}"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut ok = false;
    while started.elapsed() < Duration::from_secs(20) {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            s.write_all(b"GET /readyz HTTP/1.0\r\n\r\n").unwrap();
            let mut buf = String::new();
            let _ = std::io::Read::read_to_string(&mut s, &mut buf);
            ok = buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200");
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(ok, "the server answered /readyz");
    assert!(dir.path().join("latchkey.db").exists());
    let key = dir.path().join("latchkey.secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    assert!(std::fs::read_to_string(&key).unwrap().trim().len() >= 43);
}

#[test]
fn create_admin_creates_then_promotes_reading_the_password_from_stdin() {
    let dir = tempfile::tempdir().unwrap();
    assert!(latchkey(dir.path())
        .arg("migrate")
        .status()
        .unwrap()
        .success());
    let run = |email: &str, password: &str| {
        let mut child = latchkey(dir.path())
            .args(["create-admin", "--email", email, "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{password}\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run("Root@Example.com", "short");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("at least 8 characters"));
    let out = run("Root@Example.com", "a long admin password");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("created root@example.com"));
    let out = run("root@example.com", "another long password");
    assert!(String::from_utf8_lossy(&out.stdout).contains("promoted root@example.com"));
    let out = String::from_utf8(out.stderr).unwrap();
    assert!(
        !out.contains("another long password"),
        "the password is never logged"
    );
}
