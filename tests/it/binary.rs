//! The real `latchkey` binary as a child process, for crash, restart and log tests: its
//! stdout and stderr are captured, its port is read from the "listening on" line.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running `latchkey serve`.
pub struct BinApp {
    child: Child,
    pub base: String,
    /// Everything it printed so far, stdout and stderr interleaved.
    pub log: Arc<Mutex<String>>,
    /// The threads reading its stdout and stderr; each ends when its pipe closes.
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn pump(
    stream: impl Read + Send + 'static,
    log: Arc<Mutex<String>>,
    port: mpsc::Sender<u16>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).split(b'\n') {
            let Ok(line) = line else { break };
            let line = String::from_utf8_lossy(&line).into_owned();
            if let Some(rest) = line.split("listening on 127.0.0.1:").nth(1) {
                let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
                if let Ok(p) = digits.parse() {
                    let _ = port.send(p);
                }
            }
            let mut l = log.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    })
}

impl BinApp {
    /// Starts the binary in `dir` (so no stray `.env` is read) with only the given settings,
    /// on a random port, and waits until it listens.
    pub fn start(dir: &Path, env: &[(&str, &str)]) -> Self {
        Self::start_binary(Path::new(env!("CARGO_BIN_EXE_latchkey")), dir, env)
    }

    /// As [`Self::start`], with the binary at `bin` (a copy of the one cargo built, say).
    pub fn start_binary(bin: &Path, dir: &Path, env: &[(&str, &str)]) -> Self {
        let mut cmd = Command::new(bin);
        cmd.arg("serve")
            .current_dir(dir)
            .env_clear()
            .env("LATCHKEY_BIND", "127.0.0.1:0")
            .env("LATCHKEY_BCRYPT_COST", "4")
            .env(
                "LATCHKEY_SECRET_FILE",
                dir.join("secret").display().to_string(),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the latchkey binary starts");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let readers = vec![
            pump(child.stdout.take().unwrap(), log.clone(), tx.clone()),
            pump(child.stderr.take().unwrap(), log.clone(), tx),
        ];
        let port = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                panic!("latchkey did not start:\n{}", log.lock().unwrap());
            }
        };
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
            readers,
        }
    }

    /// SIGKILL: no graceful shutdown, no flushing, whatever was in flight is cut off.
    pub fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Stops it and returns everything it printed.
    pub fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Everything it wrote is in once both pipes have been read to their end.
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        let log = self.log.lock().unwrap().clone();
        log
    }
}

impl Drop for BinApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
