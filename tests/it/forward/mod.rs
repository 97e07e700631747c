//! Forward authentication through the real proxies: Debian's nginx and Caddy, started on free
//! ports with the configurations in `deploy/`, in front of a tiny app that echoes what it
//! receives, with Latchkey under `/auth` on the same host (CONTRACT §8).

mod endpoints;
mod journeys;
mod own_host;

use crate::common::*;
use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One request the upstream app received.
#[derive(Clone, Debug)]
pub struct Seen {
    #[allow(dead_code)]
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
}

/// The guarded app: answers every request with its method, path and headers as JSON, and a
/// WebSocket upgrade with `101` (then echoes bytes).
pub struct Upstream {
    pub port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                tokio::spawn(serve(sock, log.clone()));
            }
        });
        Self { port, seen }
    }

    /// Requests received so far whose path starts with `prefix`.
    pub fn received(&self, prefix: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path.starts_with(prefix))
            .cloned()
            .collect()
    }
}

async fn serve(mut sock: tokio::net::TcpStream, log: Arc<Mutex<Vec<Seen>>>) {
    let mut buf = Vec::new();
    loop {
        // One request head at a time (keep-alive from the proxy).
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_string();
        let path = first.next().unwrap_or("").to_string();
        let mut headers = BTreeMap::new();
        for l in lines.filter(|l| !l.is_empty()) {
            if let Some((k, v)) = l.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let length: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < length {
            let mut chunk = [0u8; 4096];
            match sock.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..length);
        let upgrade = headers
            .get("upgrade")
            .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
        log.lock().unwrap().push(Seen {
            method: method.clone(),
            path: path.clone(),
            headers: headers.clone(),
        });
        if upgrade {
            let _ = sock
                .write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
                .await;
            let mut chunk = [0u8; 1024];
            while let Ok(n) = sock.read(&mut chunk).await {
                if n == 0 || sock.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
            }
            return;
        }
        let body =
            serde_json::json!({"method": method, "path": path, "headers": headers}).to_string();
        let res = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if sock.write_all(res.as_bytes()).await.is_err() {
            return;
        }
    }
}

/// Which proxy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Nginx,
    Caddy,
}

/// Whether `kind` is installed. Without it a proxy test says so and is skipped, as the browser
/// tests are without Chromium, so `cargo test` works on a machine that has only Rust;
/// `LATCHKEY_TEST_REQUIRE_PROXIES=1` (CI) makes a missing proxy a failure instead.
pub fn installed(kind: Kind) -> bool {
    let name = match kind {
        Kind::Nginx => "nginx",
        Kind::Caddy => "caddy",
    };
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|dir| dir.join(name).is_file()));
    if !found {
        let required = std::env::var("LATCHKEY_TEST_REQUIRE_PROXIES").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{name} is required (LATCHKEY_TEST_REQUIRE_PROXIES=1) but not on PATH"
        );
        eprintln!(
            "note: a {name} test is skipped: no `{name}` on PATH (Debian: apt-get install {name})"
        );
    }
    found
}

/// A running proxy, stopped (by its own process id) when dropped.
pub struct Proxy {
    pub port: u16,
    child: Child,
    dir: tempfile::TempDir,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn deploy_dir() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/deploy").to_string()
}

impl Proxy {
    /// Starts `kind` with the configuration from `deploy/`, its ports filled in, and waits
    /// until it answers.
    pub async fn start(kind: Kind, latchkey: u16, app: u16) -> Self {
        let file = match kind {
            Kind::Nginx => "nginx/same-host.conf",
            Kind::Caddy => "caddy/same-host.Caddyfile",
        };
        Self::start_file(kind, file, free_port(), latchkey, app).await
    }

    /// Starts `kind` with `deploy/FILE` on `port`.
    pub async fn start_file(kind: Kind, file: &str, port: u16, latchkey: u16, app: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().display().to_string();
        let name = match kind {
            Kind::Nginx => "nginx.conf",
            Kind::Caddy => "Caddyfile",
        };
        let text = std::fs::read_to_string(format!("{}/{file}", deploy_dir()))
            .unwrap()
            .replace("@LISTEN@", &format!("127.0.0.1:{port}"))
            .replace("@LATCHKEY@", &format!("127.0.0.1:{latchkey}"))
            .replace("@APP@", &format!("127.0.0.1:{app}"))
            .replace("@PREFIX@", &prefix)
            .replace("@DEPLOY@", &deploy_dir());
        let config = dir.path().join(name);
        std::fs::write(&config, text).unwrap();
        let log = std::fs::File::create(dir.path().join("stderr.log")).unwrap();
        let child = match kind {
            Kind::Nginx => Command::new("nginx")
                .args(["-e", &format!("{prefix}/error.log"), "-p", &prefix, "-c"])
                .arg(&config)
                .args(["-g", "daemon off; master_process off;"])
                .stdout(Stdio::null())
                .stderr(log)
                .spawn(),
            Kind::Caddy => Command::new("caddy")
                .args(["run", "--adapter", "caddyfile", "--config"])
                .arg(&config)
                .env("HOME", &prefix)
                .env("XDG_DATA_HOME", &prefix)
                .env("XDG_CONFIG_HOME", &prefix)
                .stdout(Stdio::null())
                .stderr(log)
                .spawn(),
        }
        .unwrap_or_else(|e| panic!("{kind:?} must be installed (.ci/run installs it): {e}"));
        let proxy = Self { port, child, dir };
        proxy.wait_until_up().await;
        proxy
    }

    async fn wait_until_up(&self) {
        for _ in 0..300 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default();
        let err = std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default();
        panic!("the proxy did not start within 30 s:\n{log}\n{err}");
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

/// Latchkey, the echo app and a proxy, wired as in `deploy/`.
pub struct Stack {
    pub app: TestApp,
    pub upstream: Upstream,
    pub proxy: Proxy,
}

impl Stack {
    pub async fn start(kind: Kind, store: Store) -> Self {
        Self::start_with(kind, store, |_| {}).await
    }

    pub async fn start_with(
        kind: Kind,
        store: Store,
        tweak: impl Fn(&mut BTreeMap<String, String>),
    ) -> Self {
        let app = TestApp::spawn_with(store, |env| {
            env.insert("LATCHKEY_BASE_PATH".into(), "/auth".into());
            env.insert("LATCHKEY_TRUSTED_PROXIES".into(), "127.0.0.1/32".into());
            // Plain HTTP on 127.0.0.1 in tests: no `__Host-` prefix, no `Secure`.
            env.insert("LATCHKEY_COOKIE_SECURE".into(), "false".into());
            tweak(env);
        })
        .await;
        let upstream = Upstream::start().await;
        let proxy = Proxy::start(kind, app.port, upstream.port).await;
        Self {
            app,
            upstream,
            proxy,
        }
    }

    /// A browser talking to the proxy.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.proxy.base())
    }

    /// A browser signed up (and so signed in) through the proxy.
    pub async fn signed_in(&self, email: &str) -> Browser {
        let b = self.browser();
        let token = b.form_token("/auth/register", "/auth/register").await;
        let res = b
            .post_form(
                "/auth/register",
                &[
                    ("email", email),
                    ("password", PASSWORD),
                    ("csrf_token", &token),
                ],
            )
            .await;
        assert_eq!(
            res.status(),
            reqwest::StatusCode::SEE_OTHER,
            "sign-up of {email}"
        );
        b
    }

    /// Replaces `b`'s access cookie with a genuine one issued `age` seconds ago.
    pub fn age_access(&self, b: &Browser, email: &str, age: i64) {
        let (uid, sid) = self.app.ids_of(email);
        let admin = self.app.count(&format!(
            "SELECT COUNT(*) AS n FROM users WHERE id = '{uid}' AND role = 'admin'"
        )) == 1;
        let token = self
            .app
            .sign_access(&uid, &sid, admin, email, latchkey::db::now() - age);
        b.set_cookie("access", &token);
    }
}

/// A page load as a browser sends it.
pub const NAVIGATE: &[(&str, &str)] = &[
    ("accept", "text/html,application/xhtml+xml"),
    ("sec-fetch-mode", "navigate"),
];

/// A script's `fetch()`.
pub const FETCH: &[(&str, &str)] = &[("accept", "*/*"), ("sec-fetch-mode", "cors")];
