//! The built `latchkey` binary as a child process, for what only a real process shows:
//! start-up failures, exit codes, signals.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A child `latchkey` whose standard error is read line by line as it arrives.
pub struct Process {
    pub child: Child,
    lines: mpsc::Receiver<String>,
    pub stderr: Vec<String>,
    _dir: TempDir,
}

/// `latchkey serve` in a fresh directory (so no `.env` is picked up) with a test key, a free
/// port and cheap bcrypt, plus `env`.
pub fn latchkey(env: &[(&str, &str)]) -> Process {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_latchkey"));
    cmd.current_dir(dir.path())
        .env_clear()
        .env("LATCHKEY_BIND", "127.0.0.1:0")
        .env("LATCHKEY_JWT_SECRET", latchkey::config::generate_secret())
        .env("LATCHKEY_BCRYPT_COST", "4")
        .env(
            "DATABASE_URL",
            format!("sqlite://{}", dir.path().join("lk.db").display()),
        )
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Process {
        child,
        lines,
        stderr: Vec::new(),
        _dir: dir,
    }
}

impl Process {
    /// Waits up to `limit` for the process to exit; kills it (and returns `None`) otherwise.
    pub fn exit_within(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The reader thread ends with the pipe; collect what it read.
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(2)) {
            self.stderr.push(line);
        }
        status
    }

    /// Waits for a standard-error line containing `needle` and returns it.
    pub fn wait_for_line(&mut self, needle: &str, limit: Duration) -> Option<String> {
        let deadline = Instant::now() + limit;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.stderr.push(line.clone());
                    if line.contains(needle) {
                        return Some(line);
                    }
                }
                Err(_) => return None,
            }
        }
        None
    }

    /// Sends a signal by name (`TERM` as a supervisor stops a service, `INT` as Ctrl-C does).
    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill -{name} failed");
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
