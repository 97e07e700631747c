//! Test harness: the real server on a random port over a fresh database, and a client that
//! keeps its own cookies and never follows redirects.
#![allow(dead_code, missing_docs, clippy::unwrap_used)]

use diesel::connection::SimpleConnection;
use diesel::RunQueryDsl;
use latchkey::config::Config;
use latchkey::db::{Backend, Db};
use latchkey::http::Application;
use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tempfile::TempDir;

pub const PASSWORD: &str = "correct horse battery staple";

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Store {
    Sqlite,
    Postgres,
}

/// A running server.
pub struct TestApp {
    pub port: u16,
    pub base: String,
    pub db: Db,
    pub app_state: latchkey::http::state::AppState,
    pub handle: actix_web::dev::ServerHandle,
    pub database_url: String,
    pub secret: String,
    /// Whether dropping this instance drops its PostgreSQL database (not for siblings).
    owns_database: bool,
    _dir: Arc<TempDir>,
}

/// Settings a test may change before the server starts.
pub type Tweak = Box<dyn Fn(&mut BTreeMap<String, String>)>;

fn base_env(dir: &TempDir, database_url: &str, secret: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("LATCHKEY_BIND".into(), "127.0.0.1:0".into());
    env.insert("DATABASE_URL".into(), database_url.into());
    env.insert("LATCHKEY_JWT_SECRET".into(), secret.into());
    env.insert(
        "LATCHKEY_SECRET_FILE".into(),
        dir.path().join("secret").display().to_string(),
    );
    env.insert("LATCHKEY_BCRYPT_COST".into(), "4".into());
    env.insert("LATCHKEY_REVOCATION_SYNC".into(), "1s".into());
    env
}

/// A fresh database URL: a new SQLite file, or a new PostgreSQL database when asked for one.
pub fn fresh_database(dir: &TempDir, backend: Store) -> String {
    match backend {
        Store::Sqlite => format!("sqlite://{}", dir.path().join("latchkey.db").display()),
        Store::Postgres => {
            let admin = postgres_url().expect("LATCHKEY_TEST_POSTGRES_URL is set");
            let name = format!("lk_{}", uuid::Uuid::new_v4().simple());
            let mut conn = <diesel::PgConnection as diesel::Connection>::establish(&admin)
                .expect("connect to PostgreSQL");
            conn.batch_execute(&format!("CREATE DATABASE {name}"))
                .expect("create database");
            let (head, _) = admin.rsplit_once('/').expect("url has a database");
            // No TLS in tests: OpenSSL's exit-time cleanup racing a pool thread that is still
            // talking TLS crashed the test process after all tests had passed.
            format!("{head}/{name}?sslmode=disable")
        }
    }
}

/// The PostgreSQL server for tests: `LATCHKEY_TEST_POSTGRES_URL`, else the local default when
/// it answers. With `LATCHKEY_TEST_REQUIRE_POSTGRES=1` (CI) a missing server fails the tests.
pub fn postgres_url() -> Option<String> {
    static URL: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    URL.get_or_init(|| {
        let url = std::env::var("LATCHKEY_TEST_POSTGRES_URL")
            .ok()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "postgres://postgres@127.0.0.1:5432/test".into());
        let required = std::env::var("LATCHKEY_TEST_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
        match <diesel::PgConnection as diesel::Connection>::establish(&url) {
            Ok(_) => Some(url),
            Err(e) if required => panic!(
                "PostgreSQL is required (LATCHKEY_TEST_REQUIRE_POSTGRES=1) but {url} fails: {e}"
            ),
            Err(e) => {
                eprintln!("note: PostgreSQL tests are skipped: {url} does not answer ({e})");
                None
            }
        }
    })
    .clone()
}

/// The PostgreSQL server's socket address (for a proxy in front of it).
pub fn postgres_address() -> std::net::SocketAddr {
    use std::net::ToSocketAddrs;
    let url = postgres_url().expect("PostgreSQL is available");
    let authority = url.split_once("://").unwrap().1.split('/').next().unwrap();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5432")
    };
    host.to_socket_addrs().unwrap().next().unwrap()
}

/// `url` with its `host:port` replaced by `address` (user and database kept).
pub fn with_address(url: &str, address: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((user, _)) => format!("{scheme}://{user}@{address}{path}"),
        None => format!("{scheme}://{address}{path}"),
    }
}

/// Defines a test twice, as `NAME::sqlite` and `NAME::postgres` (skipped, with a note, when no
/// PostgreSQL server answers). The body sees the chosen `Store` under the given name.
macro_rules! on_both {
    ($(#[$meta:meta])* async fn $name:ident($store:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let $store = crate::common::Store::Sqlite;
                $body
            }

            #[tokio::test]
            async fn postgres() {
                if crate::common::postgres_url().is_none() {
                    return;
                }
                let $store = crate::common::Store::Postgres;
                $body
            }
        }
    };
}

impl TestApp {
    /// A server on a fresh SQLite database with test defaults.
    pub async fn spawn() -> Self {
        Self::spawn_with(Store::Sqlite, |_| {}).await
    }

    /// A server on a fresh database of `store` with test defaults.
    pub async fn on(store: Store) -> Self {
        Self::spawn_with(store, |_| {}).await
    }

    /// A server with settings changed by `tweak`.
    pub async fn spawn_with(backend: Store, tweak: impl Fn(&mut BTreeMap<String, String>)) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let url = fresh_database(&dir, backend);
        let secret = latchkey::config::generate_secret();
        let mut app = Self::spawn_on(dir, &url, &secret, tweak).await;
        app.owns_database = backend == Store::Postgres;
        app
    }

    /// A server on an existing database (a second instance, or a restart).
    pub async fn spawn_on(
        dir: Arc<TempDir>,
        url: &str,
        secret: &str,
        tweak: impl Fn(&mut BTreeMap<String, String>),
    ) -> Self {
        Self::spawn_serving(dir, url, secret, tweak, |_| {}).await
    }

    /// A server on a fresh SQLite database serving `routes` of an application beside Latchkey's.
    pub async fn with_routes(
        routes: impl Fn(&mut actix_web::web::ServiceConfig) + Send + Sync + 'static,
        tweak: impl Fn(&mut BTreeMap<String, String>),
    ) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let url = fresh_database(&dir, Store::Sqlite);
        let secret = latchkey::config::generate_secret();
        Self::spawn_serving(dir, &url, &secret, tweak, routes).await
    }

    async fn spawn_serving(
        dir: Arc<TempDir>,
        url: &str,
        secret: &str,
        tweak: impl Fn(&mut BTreeMap<String, String>),
        routes: impl Fn(&mut actix_web::web::ServiceConfig) + Send + Sync + 'static,
    ) -> Self {
        let mut env = base_env(&dir, url, secret);
        tweak(&mut env);
        let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test config is valid");
        let app = Application::build_with(config, routes)
            .await
            .expect("app starts");
        let port = app.port();
        let db = app.state().auth.db.clone();
        let app_state = app.state().clone();
        let handle = app.handle();
        tokio::spawn(app.run());
        Self {
            port,
            base: format!("http://127.0.0.1:{port}"),
            db,
            app_state,
            handle,
            database_url: url.to_string(),
            secret: secret.to_string(),
            owns_database: false,
            _dir: dir,
        }
    }

    /// Another instance on the same database and key.
    pub async fn sibling(&self, tweak: impl Fn(&mut BTreeMap<String, String>)) -> Self {
        Self::spawn_on(self._dir.clone(), &self.database_url, &self.secret, tweak).await
    }

    /// A server on a fresh PostgreSQL database that it reaches through `127.0.0.1:port` (a test
    /// proxy it cannot tell from the server); the database is dropped with the server.
    pub async fn on_postgres_through(
        port: u16,
        tweak: impl Fn(&mut BTreeMap<String, String>),
    ) -> Self {
        let dir = Arc::new(tempfile::tempdir().unwrap());
        let direct = fresh_database(&dir, Store::Postgres);
        let url = with_address(&direct, &format!("127.0.0.1:{port}"));
        let secret = latchkey::config::generate_secret();
        let mut app = Self::spawn_on(dir, &url, &secret, tweak).await;
        app.owns_database = true;
        app
    }

    /// A new browser-like client.
    pub fn browser(&self) -> Browser {
        Browser::new(&self.base)
    }

    /// Runs SQL directly against the database (test set-up such as ageing a session).
    pub fn exec(&self, sql: &str) {
        let mut conn = self.db.get().unwrap();
        diesel::sql_query(sql).execute(&mut *conn).unwrap();
    }

    /// A single number from SQL, e.g. `SELECT COUNT(*) AS n FROM sessions`.
    pub fn count(&self, sql: &str) -> i64 {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let mut conn = self.db.get().unwrap();
        diesel::sql_query(sql)
            .get_result::<N>(&mut *conn)
            .unwrap()
            .n
    }

    /// A single text value from SQL, e.g. `SELECT id AS s FROM users`.
    pub fn text(&self, sql: &str) -> String {
        #[derive(diesel::QueryableByName)]
        struct S {
            #[diesel(sql_type = diesel::sql_types::Text)]
            s: String,
        }
        let mut conn = self.db.get().unwrap();
        diesel::sql_query(sql)
            .get_result::<S>(&mut *conn)
            .unwrap()
            .s
    }

    /// (user id, live session id) of the newest live session of `email`.
    pub fn ids_of(&self, email: &str) -> (String, String) {
        let uid = self.text(&format!(
            "SELECT id AS s FROM users WHERE email = '{email}'"
        ));
        let sid = self.text(&format!(
            "SELECT id AS s FROM sessions WHERE user_id = '{uid}' AND revoked_at IS NULL ORDER BY created_at DESC, id LIMIT 1"
        ));
        (uid, sid)
    }

    /// Replaces a browser's access cookie with a genuine token issued `age` seconds ago.
    pub fn age_access(&self, b: &Browser, email: &str, age: i64) {
        let (uid, sid) = self.ids_of(email);
        let admin = self.count(&format!(
            "SELECT COUNT(*) AS n FROM users WHERE id = '{uid}' AND role = 'admin'"
        )) == 1;
        let token = self.sign_access(&uid, &sid, admin, email, latchkey::db::now() - age);
        b.set_cookie("__Host-access", &token);
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.db.backend()
    }

    /// Audit events of `kind`, newest first.
    pub fn audit(&self, kind: &str) -> Vec<latchkey::db::audit::EventRow> {
        let mut conn = self.db.get().unwrap();
        let k = latchkey::db::audit::AuditKind::parse(kind).expect("known kind");
        latchkey::db::admin::audit_page(&mut conn, None, Some(k), None, 100).unwrap()
    }

    /// Signs an access token as the server would, at a chosen time (for expiry tests).
    pub fn sign_access(
        &self,
        user_id: &str,
        session_id: &str,
        admin: bool,
        email: &str,
        iat: i64,
    ) -> String {
        let role = if admin {
            latchkey::domain::Role::Admin
        } else {
            latchkey::domain::Role::User
        };
        self.app_state
            .auth
            .keys
            .sign(
                &latchkey::domain::UserId::from_db(user_id.into()),
                &latchkey::domain::SessionId::from_db(session_id.into()),
                role,
                email,
                iat,
            )
            .0
    }

    /// Registers an account through the API-less page flow and returns a signed-in browser.
    pub async fn signed_in(&self, email: &str) -> Browser {
        let b = self.browser();
        let res = b.register(email, PASSWORD).await;
        assert_eq!(
            res.status(),
            StatusCode::SEE_OTHER,
            "registration of {email} succeeds"
        );
        b
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let h = self.handle.clone();
        drop(h.stop(false));
        if self.owns_database {
            let name = self
                .database_url
                .rsplit_once('/')
                .map(|(_, n)| n.split('?').next().unwrap_or(n));
            if let (Some(admin), Some(name)) = (postgres_url(), name) {
                if let Ok(mut c) = <diesel::PgConnection as diesel::Connection>::establish(&admin) {
                    let _ =
                        c.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
                }
            }
        }
    }
}

/// A client with its own cookie jar that never follows redirects and sends the headers a
/// browser sends on same-origin form posts.
#[derive(Clone)]
pub struct Browser {
    pub base: String,
    pub http: reqwest::Client,
    pub jar: Arc<Mutex<BTreeMap<String, String>>>,
    pub user_agent: String,
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            base: base.to_string(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            jar: Arc::new(Mutex::new(BTreeMap::new())),
            user_agent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
                .into(),
        }
    }

    /// The value of a cookie in the jar.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.jar.lock().unwrap().get(name).cloned()
    }

    /// Sets a cookie by hand.
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.jar.lock().unwrap().insert(name.into(), value.into());
    }

    /// Removes a cookie by hand.
    pub fn remove_cookie(&self, name: &str) {
        self.jar.lock().unwrap().remove(name);
    }

    /// A copy of this browser's cookies in a new, independent browser.
    pub fn clone_cookies(&self) -> Browser {
        let b = Browser::new(&self.base);
        *b.jar.lock().unwrap() = self.jar.lock().unwrap().clone();
        b
    }

    fn cookie_header(&self) -> Option<String> {
        let jar = self.jar.lock().unwrap();
        (!jar.is_empty()).then(|| {
            jar.iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("; ")
        })
    }

    fn absorb(&self, headers: &HeaderMap) {
        let mut jar = self.jar.lock().unwrap();
        for sc in headers.get_all("set-cookie") {
            let sc = sc.to_str().unwrap();
            let first = sc.split(';').next().unwrap();
            let (name, value) = first.split_once('=').unwrap();
            if sc.contains("Max-Age=0") {
                jar.remove(name);
            } else {
                jar.insert(name.to_string(), value.to_string());
            }
        }
    }

    /// Sends a request with the jar's cookies and absorbs the answer's.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        extra: &[(&str, &str)],
        body: Option<Body>,
    ) -> reqwest::Response {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{}", self.base, path));
        req = req.header("user-agent", &self.user_agent);
        if let Some(c) = self.cookie_header() {
            req = req.header("cookie", c);
        }
        let overrides = |name: &str| extra.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        if method != Method::GET && !overrides("origin") && !overrides("sec-fetch-site") {
            req = req
                .header("origin", &self.base)
                .header("sec-fetch-site", "same-origin");
        }
        for (k, v) in extra {
            req = req.header(*k, HeaderValue::from_str(v).unwrap());
        }
        req = match body {
            Some(Body::Form(pairs)) => req.form(&pairs),
            Some(Body::Json(v)) => req.json(&v),
            Some(Body::Raw(ct, bytes)) => req.header("content-type", ct).body(bytes),
            None => req,
        };
        let res = req.send().await.unwrap();
        self.absorb(res.headers());
        res
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.send(Method::GET, path, &[], None).await
    }

    pub async fn post_form(&self, path: &str, pairs: &[(&str, &str)]) -> reqwest::Response {
        let pairs = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.send(Method::POST, path, &[], Some(Body::Form(pairs)))
            .await
    }

    /// GETs a page and returns its body and the first CSRF token in it.
    pub async fn page_token(&self, path: &str) -> (String, String) {
        let res = self.get(path).await;
        let html = res.text().await.unwrap();
        let token = csrf_in(&html).unwrap_or_default();
        (html, token)
    }

    /// GETs a page and returns the CSRF token of its form posting to `action`.
    pub async fn form_token(&self, path: &str, action: &str) -> String {
        let html = self.get(path).await.text().await.unwrap();
        csrf_in_form(&html, action).unwrap_or_default()
    }

    pub async fn register(&self, email: &str, password: &str) -> reqwest::Response {
        let token = self.form_token("/register", "/register").await;
        self.post_form(
            "/register",
            &[
                ("email", email),
                ("password", password),
                ("csrf_token", &token),
            ],
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.login_next(email, password, "").await
    }

    pub async fn login_next(&self, email: &str, password: &str, next: &str) -> reqwest::Response {
        let token = self.form_token("/login", "/login").await;
        self.post_form(
            "/login",
            &[
                ("email", email),
                ("password", password),
                ("csrf_token", &token),
                ("next", next),
            ],
        )
        .await
    }

    /// Posts a signed-in form, fetching its CSRF token from `page` first.
    pub async fn post_signed_in(
        &self,
        page: &str,
        action: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        let token = self.form_token(page, action).await;
        let mut pairs: Vec<(&str, &str)> = fields.to_vec();
        pairs.push(("csrf_token", &token));
        self.post_form(action, &pairs).await
    }
}

/// A request body.
pub enum Body {
    Form(Vec<(String, String)>),
    Json(serde_json::Value),
    Raw(&'static str, Vec<u8>),
}

/// Sends `head` and `parts` of a body over one raw connection, pausing `pause` between parts,
/// and reads until the server closes it (or 10 s pass): the answer, and how long it took.
pub fn raw_exchange(
    base: &str,
    head: &str,
    parts: &[&[u8]],
    pause: std::time::Duration,
) -> (String, std::time::Duration, bool) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let started = std::time::Instant::now();
    s.write_all(head.as_bytes()).unwrap();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            std::thread::sleep(pause);
        }
        s.write_all(part).unwrap();
    }
    let mut answer = Vec::new();
    let closed = s.read_to_end(&mut answer).is_ok();
    (
        String::from_utf8_lossy(&answer).into_owned(),
        started.elapsed(),
        closed,
    )
}

/// The first `csrf_token` value in a page.
pub fn csrf_in(html: &str) -> Option<String> {
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker)? + marker.len();
    let end = html[start..].find('"')? + start;
    Some(html[start..end].to_string())
}

/// The `csrf_token` of the form whose action is `action` (or the first one).
pub fn csrf_in_form(html: &str, action: &str) -> Option<String> {
    match html.find(&format!("action=\"{action}\"")) {
        Some(i) => csrf_in(&html[i..]),
        None => csrf_in(html),
    }
}

/// All `Set-Cookie` headers of a response.
pub fn set_cookies(res: &reqwest::Response) -> Vec<String> {
    res.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// The `Set-Cookie` header for `name`.
pub fn set_cookie(res: &reqwest::Response, name: &str) -> Option<String> {
    set_cookies(res)
        .into_iter()
        .find(|c| c.starts_with(&format!("{name}=")))
}

/// The `Location` header.
pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default()
}
