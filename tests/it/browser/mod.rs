//! Browser tests: Debian's Chromium driven through chromedriver (WebDriver), against the real
//! server. Each test starts its own chromedriver on a free port and stops it (and the browsers it
//! launched) afterwards. Without Chromium the tests print "skipped: …" and pass, unless
//! `LATCHKEY_TEST_REQUIRE_BROWSER=1` (CI) makes a missing browser a failure.
//!
//! Browser tests run one at a time (a process-wide lock): two cores cannot drive several
//! Chromiums at once without making every page load slow.

mod confirm;
mod dbsc;
mod forward;
mod journeys;
mod screenshots;
mod tls;
mod window;

pub use window::{Viewport, Window};

use crate::common::{Store, TestApp};
use fantoccini::ClientBuilder;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The access lifetime the browser tests run with: short, so crossing it takes seconds.
pub const ACCESS_TTL_SECS: u64 = 3;

static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Everything a browser test needs: the server, chromedriver, and the lock that keeps browser
/// tests from running in parallel.
pub struct Kit {
    pub app: TestApp,
    driver: Driver,
    /// HTTPS in front of the server, for tests that need a trusted secure origin.
    tls: Option<tls::Tls>,
    _turn: tokio::sync::MutexGuard<'static, ()>,
}

/// Chromium features for device-bound sessions as STACK.md found them to work headless on
/// Linux: no origin-trial token, no refresh quota, software keys in place of a TPM.
const DBSC_FEATURES: &str =
    "DeviceBoundSessions:RefreshQuota/false/RequireOriginTrialTokens/false,\
                             EnableBoundSessionCredentialsSoftwareKeysForManualTesting,\
                             DeviceBoundSessionsDevTools";

impl Kit {
    /// The server (SQLite, short access lifetime, `tweak` applied) and a chromedriver; `None`,
    /// after a "skipped" note, where no Chromium is installed and CI does not require one.
    pub async fn start(test: &str, tweak: impl Fn(&mut BTreeMap<String, String>)) -> Option<Kit> {
        Self::start_with(test, tweak, false).await
    }

    async fn start_with(
        test: &str,
        tweak: impl Fn(&mut BTreeMap<String, String>),
        https: bool,
    ) -> Option<Kit> {
        let (chromium, chromedriver) = match find_browser() {
            Ok(found) => found,
            Err(why) if required() => panic!("{test}: Chromium is required but {why}"),
            Err(why) => {
                // Straight to stderr: libtest captures `eprintln!` of passing tests, and this
                // note must be seen. Once per run is enough.
                static ONCE: std::sync::Once = std::sync::Once::new();
                ONCE.call_once(|| {
                    use std::io::Write;
                    let _ = writeln!(std::io::stderr(), "skipped: browser tests ({why})");
                });
                return None;
            }
        };
        let turn = ONE_AT_A_TIME.lock().await;
        let app = TestApp::spawn_with(Store::Sqlite, |env| {
            env.insert("LATCHKEY_ACCESS_TTL".into(), format!("{ACCESS_TTL_SECS}s"));
            env.insert("LATCHKEY_REFRESH_AHEAD".into(), "1s".into());
            env.insert("LATCHKEY_CLOCK_LEEWAY".into(), "0s".into());
            tweak(env);
        })
        .await;
        let tls = if https {
            match tls::Tls::start(app.port).await {
                Ok(tls) => Some(tls),
                Err(why) if required() => panic!("{test}: HTTPS is required but {why}"),
                Err(why) => {
                    use std::io::Write;
                    let _ = writeln!(std::io::stderr(), "skipped: {test} ({why})");
                    return None;
                }
            }
        } else {
            None
        };
        let (home, features) = match &tls {
            Some(t) => (Some(t.home()), DBSC_FEATURES),
            None => (None, ""),
        };
        let driver = Driver::start(&chromedriver, chromium, home.as_deref(), features).await;
        Some(Kit {
            app,
            driver,
            tls,
            _turn: turn,
        })
    }

    /// [`Kit::start`] behind HTTPS that Chromium trusts (nginx, a test CA in an NSS database
    /// under a temporary HOME), with device-bound sessions enabled in Chromium.
    pub async fn start_dbsc(
        test: &str,
        tweak: impl Fn(&mut BTreeMap<String, String>),
    ) -> Option<Kit> {
        Self::start_with(test, tweak, true).await
    }

    /// A new, independent browser (its own Chromium and profile) with a 1280×800 viewport.
    pub async fn browser(&self) -> Window {
        let base = self.tls.as_ref().map_or(&self.app.base, |t| &t.base);
        self.driver.browser(base, Viewport::Desktop).await
    }

    /// A new, independent browser whose paths are relative to `base` (a proxy in front of the
    /// server, say).
    pub async fn browser_at(&self, base: &str) -> Window {
        self.driver.browser(base, Viewport::Desktop).await
    }

    /// A new, independent browser emulating a 390×844 phone (a desktop window cannot be made
    /// that narrow).
    pub async fn phone(&self) -> Window {
        self.driver.browser(&self.app.base, Viewport::Phone).await
    }
}

fn required() -> bool {
    std::env::var("LATCHKEY_TEST_REQUIRE_BROWSER").is_ok_and(|v| v == "1")
}

/// `(chromium, chromedriver)`: from `LATCHKEY_CHROMIUM` / `LATCHKEY_CHROMEDRIVER`, else `PATH`.
fn find_browser() -> Result<(PathBuf, PathBuf), String> {
    let find = |var: &str, names: &[&str]| -> Option<PathBuf> {
        if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p)).filter(|p| p.is_file());
        }
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
            .find(|p| p.is_file())
    };
    let chromium = find(
        "LATCHKEY_CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    )
    .ok_or("no `chromium` on PATH or at LATCHKEY_CHROMIUM (Debian: apt-get install chromium)")?;
    let driver = find("LATCHKEY_CHROMEDRIVER", &["chromedriver"])
        .ok_or("no `chromedriver` on PATH or at LATCHKEY_CHROMEDRIVER (Debian: apt-get install chromium-driver)")?;
    Ok((chromium, driver))
}

/// A chromedriver process in its own process group, so that ending the group also ends every
/// Chromium it started, even when a test panics before closing its browsers.
struct Driver {
    child: Child,
    url: String,
    chromium: PathBuf,
    /// Extra Chromium features, added to the one `--enable-features` switch.
    features: &'static str,
    profiles: TempDir,
}

impl Driver {
    async fn start(
        chromedriver: &Path,
        chromium: PathBuf,
        home: Option<&Path>,
        features: &'static str,
    ) -> Driver {
        use std::os::unix::process::CommandExt;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut command = Command::new(chromedriver);
        if let Some(home) = home {
            command.env("HOME", home);
        }
        let child = command
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            chromium,
            features,
            profiles: tempfile::tempdir().expect("a profile directory"),
        };
        let status = format!("{}/status", driver.url);
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(&status).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not answer");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        driver
    }

    async fn browser(&self, base: &str, viewport: Viewport) -> Window {
        let profile = tempfile::tempdir_in(self.profiles.path()).expect("a fresh profile");
        let args = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            "--force-device-scale-factor=1",
            // Let even `no-store` pages into the back/forward cache, as Chrome is rolling out,
            // so the Back-after-sign-out test faces the less forgiving browser.
            "--window-size=1280,800",
        ]
        .into_iter()
        .map(String::from)
        .chain([
            format!(
                "--enable-features=BackForwardCache,CacheControlNoStoreEnterBackForwardCache{}{}",
                if self.features.is_empty() { "" } else { "," },
                self.features
            ),
            // A persistent profile: DBSC never registers in an incognito-like one.
            format!("--user-data-dir={}", profile.keep().display()),
        ])
        .collect::<Vec<_>>();
        let mut options = serde_json::json!({ "binary": self.chromium, "args": args });
        if let Viewport::Phone = viewport {
            let (width, height) = window::PHONE;
            options["mobileEmulation"] = serde_json::json!({
                "deviceMetrics": { "width": width, "height": height, "pixelRatio": 1.0, "touch": true },
            });
        }
        let caps = serde_json::json!({ "browserName": "chrome", "goog:chromeOptions": options });
        let serde_json::Value::Object(caps) = caps else {
            unreachable!()
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("chromedriver starts a Chromium session");
        Window {
            c: client,
            base: base.to_string(),
            viewport,
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // SIGTERM to chromedriver's whole group (its Chromiums too), by the group id we created.
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.wait();
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    }
}
