//! The end-to-end benchmark behind `bench/run.sh`: starts the release binary on a fresh SQLite
//! database, seeds it through the library, drives load (wrk for plain GETs, this program for
//! rotations and sign-ins), and prints every figure with its target and a pass/fail mark.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use latchkey::auth::{PasswordHasher, RefreshToken};
use latchkey::db::{self, Db, DbConnection};
use latchkey::domain::{NewPassword, SessionId, UserId};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "benchmark password";

#[path = "bench/flood.rs"]
mod flood;

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the server and returns it with the time from spawn to a 200 on `/readyz`.
fn start(bin: &Path, dir: &Path, url: &str) -> (Server, Duration) {
    start_with(bin, dir, url, &[])
}

/// [`start`] with more (or overriding) environment variables.
fn start_with(bin: &Path, dir: &Path, url: &str, env: &[(&str, &str)]) -> (Server, Duration) {
    let port = free_port();
    let t0 = Instant::now();
    let child = Command::new(bin)
        .current_dir(dir)
        .env("DATABASE_URL", url)
        .env("LATCHKEY_BIND", format!("127.0.0.1:{port}"))
        .env("LATCHKEY_ACCESS_TTL", "1h")
        .env("LATCHKEY_LOGIN_THROTTLE", "false")
        // `warn` leaves out the access log, a line per request written to nowhere here;
        // BENCH_RUST_LOG=info measures with it.
        .env("RUST_LOG", env_or("BENCH_RUST_LOG", "warn".to_string()))
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start latchkey");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let base_path = env
        .iter()
        .find(|(k, _)| *k == "LATCHKEY_BASE_PATH")
        .map_or("", |(_, v)| *v);
    loop {
        if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
            use std::io::{Read, Write};
            let _ = s.write_all(format!("GET {base_path}/readyz HTTP/1.0\r\n\r\n").as_bytes());
            let mut buf = [0u8; 12];
            if s.read_exact(&mut buf).is_ok() && buf.ends_with(b"200") {
                return (server, t0.elapsed());
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "server did not become ready"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// Inserts users sharing one precomputed bcrypt hash; returns their e-mails and ids.
fn seed_users(db: &Db, users: usize, hash: &str) -> (Vec<String>, Vec<String>) {
    use diesel::Connection;
    let now = db::now();
    let mut emails = Vec::with_capacity(users);
    let mut user_ids = Vec::with_capacity(users);
    let mut conn = db.get().unwrap();
    let c: &mut DbConnection = &mut conn;
    for chunk in (0..users).collect::<Vec<_>>().chunks(10_000) {
        c.transaction::<_, db::DbError, _>(|c| {
            for i in chunk {
                let id = UserId::generate().to_string();
                let email = format!("user{i}@bench.example");
                db::users::insert(
                    c,
                    &db::users::NewUser {
                        id: &id,
                        email: &email,
                        password_hash: hash,
                        role: if *i == 0 { "admin" } else { "user" },
                        disabled: false,
                        created_at: now - 86_400,
                        updated_at: now,
                    },
                )?;
                emails.push(email);
                user_ids.push(id);
            }
            Ok(())
        })
        .unwrap();
    }
    (emails, user_ids)
}

/// Inserts live sessions spread over `user_ids`, each with a known refresh token (the first
/// 4096 are returned for load).
fn seed_sessions(db: &Db, user_ids: &[String], sessions: usize) -> Vec<RefreshToken> {
    use diesel::Connection;
    let now = db::now();
    let mut tokens = Vec::new();
    let mut conn = db.get().unwrap();
    let c: &mut DbConnection = &mut conn;
    for chunk in (0..sessions).collect::<Vec<_>>().chunks(10_000) {
        c.transaction::<_, db::DbError, _>(|c| {
            for i in chunk {
                let sid = SessionId::generate().to_string();
                let at = now - (*i as i64 % 86_400);
                db::sessions::insert(
                    c,
                    &db::sessions::SessionRow {
                        id: sid.clone(),
                        user_id: user_ids[i % user_ids.len()].clone(),
                        created_at: at,
                        last_used_at: at,
                        expires_at: now + 30 * 86_400,
                        revoked_at: None,
                        revoked_reason: None,
                        created_ip: "10.0.0.1".into(),
                        created_user_agent:
                            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
                                .into(),
                        last_ip: "10.0.0.1".into(),
                        last_user_agent:
                            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
                                .into(),
                        confirmed_at: Some(at),
                        dbsc_key: None,
                        dbsc_bound_at: None,
                    },
                )?;
                let t = RefreshToken::generate();
                db::tokens::insert(c, &t.hash(), &sid, at)?;
                if tokens.len() < 4096 {
                    tokens.push(t);
                }
            }
            Ok(())
        })
        .unwrap();
    }
    tokens
}

/// A numeric setting from the environment, or its default when unset or not a number.
fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Copies the write-ahead log into the database file and empties it.
fn settle(db: &Db) {
    use diesel::RunQueryDsl;
    let mut conn = db.get().unwrap();
    let c: &mut DbConnection = &mut conn;
    if let DbConnection::Sqlite(c) = c {
        diesel::sql_query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(c)
            .unwrap();
    }
}

struct Wrk {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU time per request, µs: the server's user and system time, then wrk's.
    cpu: [f64; 4],
}

/// Clock ticks of a process from `/proc/<pid>/stat`: user and system time, then those of its
/// waited-for children (fields 14–17; the name before them may contain spaces).
fn ticks(pid: &str) -> [u64; 4] {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let f: Vec<u64> = after_name
        .split_whitespace()
        .skip(11)
        .take(4)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    std::array::from_fn(|i| f.get(i).copied().unwrap_or(0))
}

/// `/proc` counts in USER_HZ, which Linux fixes at 100 per second for this interface.
const TICK_US: f64 = 10_000.0;

fn parse_ms(s: &str) -> f64 {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len()));
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        _ => n,
    }
}

/// Runs wrk against the server `server_pid`, accounting the CPU time both spent.
fn wrk(server_pid: u32, url: &str, conns: u32, secs: u32, headers: &[String]) -> Wrk {
    let (server0, me0) = (ticks(&server_pid.to_string()), ticks("self"));
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{conns}"),
        &format!("-d{secs}s"),
        "--latency",
    ]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("wrk is installed (bench/run.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let field = |prefix: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(prefix).map(|v| v.trim().to_string()))
    };
    let non2xx = field("Non-2xx or 3xx responses:").unwrap_or_default();
    assert!(non2xx.is_empty(), "wrk saw errors on {url}: {text}");
    let (server1, me1) = (ticks(&server_pid.to_string()), ticks("self"));
    let requests: f64 = text
        .lines()
        .find_map(|l| l.trim().split_once(" requests in ")?.0.parse().ok())
        .unwrap_or(f64::NAN);
    let per_request = |a: u64, b: u64| (b.saturating_sub(a)) as f64 * TICK_US / requests;
    Wrk {
        cpu: [
            per_request(server0[0], server1[0]),
            per_request(server0[1], server1[1]),
            // wrk has been waited for: it is in this process's children's times.
            per_request(me0[2], me1[2]),
            per_request(me0[3], me1[3]),
        ],
        rps: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        p50_ms: field("50%").map(|v| parse_ms(&v)).unwrap_or(f64::NAN),
        p99_ms: field("99%").map(|v| parse_ms(&v)).unwrap_or(f64::NAN),
    }
}

/// `1000000` as `1,000,000`, as the labels write 1,000.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v.get(((v.len() as f64 - 1.0) * p).round() as usize)
        .copied()
        .unwrap_or(f64::NAN)
}

/// One rotation: posts the token, requires success, returns its successor.
async fn rotate_once(client: &reqwest::Client, url: &str, token: &str) -> String {
    let res = client
        .post(url)
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success(),
        "rotation failed: {}",
        res.status()
    );
    let v: Value = res.json().await.unwrap();
    v["refresh_token"].as_str().unwrap().to_string()
}

/// Throughput and p50/p99 latency (ms) of the tasks' latencies; `secs` is asked for once all
/// tasks have finished, so it can be the time the run really took.
async fn summarise(
    tasks: Vec<tokio::task::JoinHandle<Vec<f64>>>,
    secs: impl FnOnce() -> f64,
) -> (f64, f64, f64) {
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let n = all.len() as f64;
    (
        n / secs(),
        percentile(&mut all.clone(), 0.5),
        percentile(&mut all, 0.99),
    )
}

/// Each task owns one session chain and rotates it as fast as it can for `secs`.
async fn rotation_load(base: &str, tokens: Vec<RefreshToken>, secs: u64) -> (f64, f64, f64) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for t in tokens {
        let (client, url) = (client.clone(), format!("{base}/api/auth/refresh"));
        tasks.push(tokio::spawn(async move {
            let mut token = t.expose().to_string();
            let mut lat = Vec::new();
            while Instant::now() < deadline {
                let t0 = Instant::now();
                token = rotate_once(&client, &url, &token).await;
                lat.push(t0.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    summarise(tasks, || secs as f64).await
}

async fn sign_in(client: &reqwest::Client, base: &str, email: &str) -> Value {
    let res = client
        .post(format!("{base}/api/auth/token"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert!(
        res.status().is_success(),
        "sign-in failed: {}",
        res.status()
    );
    res.json().await.unwrap()
}

pub(crate) struct Report(Vec<(String, String, String, bool)>);

impl Report {
    fn add(&mut self, name: &str, value: String, target: &str, pass: bool) {
        println!(
            "{} {name}: {value} (target {target})",
            if pass { "PASS" } else { "FAIL" }
        );
        self.0.push((name.into(), value, target.into(), pass));
    }

    fn skip(&self, name: &str, why: &str) {
        println!("SKIP {name}: {why}");
    }
}

/// 64 connections sharing a fixed offered load of `rate` rotations/s (open loop): the latency
/// a client sees at that throughput, free of the queueing a closed loop adds by design.
async fn rotation_at_rate(
    base: &str,
    tokens: Vec<RefreshToken>,
    rate: f64,
    secs: u64,
) -> (f64, f64, f64) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let conns = tokens.len() as f64;
    let interval = Duration::from_secs_f64(conns / rate);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for (i, t) in tokens.into_iter().enumerate() {
        let (client, url) = (client.clone(), format!("{base}/api/auth/refresh"));
        let offset = interval.mul_f64(i as f64 / conns);
        tasks.push(tokio::spawn(async move {
            let mut token = t.expose().to_string();
            let mut lat = Vec::new();
            let mut next = start + offset;
            while next < deadline {
                tokio::time::sleep_until(next.into()).await;
                let t0 = Instant::now();
                token = rotate_once(&client, &url, &token).await;
                lat.push(t0.elapsed().as_secs_f64() * 1000.0);
                next += interval;
            }
            lat
        }));
    }
    // Served rate over the time the run really took: a server that falls behind stretches it.
    summarise(tasks, || start.elapsed().as_secs_f64()).await
}

#[tokio::main]
async fn main() {
    let bin = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "target/release/latchkey".into()),
    );
    let bin = bin.canonicalize().expect("the latchkey binary exists");
    let secs: u64 = env_or("BENCH_SECS", 10);
    // The sessions-table sizes the scale check compares with 1,000 (comma-separated).
    let sizes: Vec<usize> = std::env::var("BENCH_SESSIONS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![10_000, 100_000, 1_000_000]);
    let mut sizes = sizes;
    sizes.sort_unstable();
    // BENCH_ONLY=page,rotation,storm,memory,scale,flood,forward runs a subset (start-up is
    // always measured).
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    let wants = |part: &str| only.is_empty() || only.split(',').any(|p| p.trim() == part);
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let mut r = Report(Vec::new());

    // Start to ready on an empty database (includes creating it and running migrations).
    let (server, ready) = start(&bin, dir.path(), &url);
    r.add(
        "start to ready (fresh database)",
        format!("{:.0} ms", ready.as_secs_f64() * 1000.0),
        "≤ 300 ms",
        ready <= Duration::from_millis(300),
    );
    let pid = server.child.id();
    std::thread::sleep(Duration::from_millis(500));
    let idle = rss_kb(pid);
    r.add(
        "resident memory, idle",
        format!("{:.1} MB", idle as f64 / 1024.0),
        "≤ 25 MB",
        idle <= 25 * 1024,
    );

    let db = Db::connect(&url, 2, Duration::from_secs(5)).unwrap();
    let hash = PasswordHasher::new(12, 1)
        .hash_blocking(&NewPassword::parse(PASSWORD.into()).unwrap())
        .unwrap();
    let (emails, user_ids) = seed_users(&db, 1000, &hash);
    let tokens = seed_sessions(&db, &user_ids, 1000);
    let client = reqwest::Client::new();
    let pair = sign_in(&client, &server.base, &emails[0]).await;
    let cookie = format!(
        "Cookie: __Host-access={}",
        pair["access_token"].as_str().unwrap()
    );

    if wants("page") {
        // Hot path: a valid access cookie against the framework's floor. On this shared
        // two-core VM the machine's speed drifts by more than the gap being measured: /healthz
        // against itself in back-to-back 2 s runs spread from -7 % to +18 %. So the two run
        // in many short rounds, each round flipping which goes first (a steady drift then
        // cancels out), and the figure is the median of the rounds' ratios.
        // At least one round: the figure is a median of them.
        let rounds: usize = env_or("BENCH_PAGE_ROUNDS", 15).max(1);
        let each = (secs as u32 / 5).max(1);
        let health = || wrk(pid, &format!("{}/healthz", server.base), 16, each, &[]);
        let page = || {
            let url = format!("{}/account", server.base);
            wrk(pid, &url, 16, each, std::slice::from_ref(&cookie))
        };
        let mut pairs = Vec::new();
        for round in 0..rounds {
            let (health, page) = if round % 2 == 0 {
                let h = health();
                (h, page())
            } else {
                let p = page();
                (health(), p)
            };
            println!(
                "     /healthz {:>7.0} req/s (p50 {:.2} ms, p99 {:.2} ms) | /account {:>7.0} req/s (p50 {:.2} ms, p99 {:.2} ms) | {:.1} %",
                health.rps,
                health.p50_ms,
                health.p99_ms,
                page.rps,
                page.p50_ms,
                page.p99_ms,
                page.rps / health.rps * 100.0
            );
            pairs.push((health, page));
        }
        // Where the page's extra time goes: both share the machine's two cores, so every
        // microsecond of CPU per request, the server's or wrk's, user or kernel, costs throughput.
        let median = |f: &dyn Fn(&Wrk) -> f64, page: bool| {
            let mut v: Vec<f64> = pairs
                .iter()
                .map(|(h, p)| f(if page { p } else { h }))
                .collect();
            percentile(&mut v, 0.5)
        };
        let cpu = |page: bool| -> [f64; 4] { std::array::from_fn(|i| median(&|w| w.cpu[i], page)) };
        let (h, p) = (cpu(false), cpu(true));
        let extra = |i: usize| p[i] - h[i];
        println!(
            "     CPU µs per request (medians): /healthz server {:.2} user + {:.2} kernel, wrk {:.2} + {:.2} = {:.2} | /account server {:.2} + {:.2}, wrk {:.2} + {:.2} = {:.2}",
            h[0], h[1], h[2], h[3], h.iter().sum::<f64>(),
            p[0], p[1], p[2], p[3], p.iter().sum::<f64>(),
        );
        println!(
            "     the page's extra {:.2} µs: server user {:.2} (session check and render), kernel {:.2} (server {:.2}, wrk {:.2}), wrk user {:.2}",
            p.iter().sum::<f64>() - h.iter().sum::<f64>(),
            extra(0),
            extra(1) + extra(3),
            extra(1),
            extra(3),
            extra(2),
        );
        let mut ratios: Vec<f64> = pairs.iter().map(|(h, p)| p.rps / h.rps).collect();
        let ratio = percentile(&mut ratios, 0.5);
        let (lo, hi) = (ratios[0], ratios[ratios.len() - 1]);
        r.add(
            &format!(
                "authenticated page vs /healthz throughput (median of {rounds} alternating rounds)"
            ),
            format!(
                "{:.1} % (rounds {:.1}–{:.1} %)",
                ratio * 100.0,
                lo * 100.0,
                hi * 100.0
            ),
            "≥ 90 %",
            ratio >= 0.9,
        );
    }

    if wants("rotation") {
        // Refresh rotations at 64 connections, each rotating its own session chain.
        let (rot_s, rot_p50, rot_p99) =
            rotation_load(&server.base, tokens[..64].to_vec(), secs).await;
        r.add(
            "refresh rotations at 64 connections (closed loop, as fast as possible)",
            format!("{rot_s:.0}/s, p50 {rot_p50:.2} ms, p99 {rot_p99:.2} ms"),
            "≥ 3000/s",
            rot_s >= 3000.0,
        );
        let (at_s, at_p50, at_p99) =
            rotation_at_rate(&server.base, tokens[64..128].to_vec(), 3000.0, secs).await;
        r.add(
            "refresh rotation p99 at 3000/s offered over 64 connections",
            format!("{at_p99:.2} ms (p50 {at_p50:.2} ms, {at_s:.0}/s served)"),
            "≤ 10 ms",
            at_p99 <= 10.0 && at_s >= 2900.0,
        );
        // Checkpoints run in the background: the WAL must not have grown without bound.
        let wal = std::fs::metadata(dir.path().join("bench.db-wal")).map_or(0, |m| m.len());
        println!(
            "     WAL after the rotation runs: {:.1} MB",
            wal as f64 / 1e6
        );
    }

    if wants("storm") {
        // 32 concurrent sign-ins at bcrypt cost 12 while authenticated pages are measured.
        let storm_deadline = Instant::now() + Duration::from_secs(secs);
        let mut storm = Vec::new();
        for i in 0..32 {
            let (client, base, email) =
                (client.clone(), server.base.clone(), emails[1 + i].clone());
            storm.push(tokio::spawn(async move {
                // 32 sign-ins at once are more than one bcrypt worker's bounded queue holds, so
                // some are turned away with 503 and Retry-After by design: counted, not fatal.
                let (mut n, mut busy) = (0, 0);
                while Instant::now() < storm_deadline {
                    let res = client
                        .post(format!("{base}/api/auth/token"))
                        .json(&json!({"email": email, "password": PASSWORD}))
                        .send()
                        .await
                        .unwrap();
                    match res.status().as_u16() {
                        200 => n += 1,
                        503 => {
                            busy += 1;
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                        other => panic!("sign-in during the storm failed: {other}"),
                    }
                }
                (n, busy)
            }));
        }
        let (base, c2) = (server.base.clone(), cookie.clone());
        let during = tokio::task::spawn_blocking(move || {
            wrk(pid, &format!("{base}/account"), 16, secs as u32, &[c2])
        })
        .await
        .unwrap();
        let (mut signins, mut busy) = (0, 0);
        for t in storm {
            let (n, b) = t.await.unwrap();
            signins += n;
            busy += b;
        }
        println!(
            "     {signins} sign-ins completed during the storm ({:.1}/s); {busy} turned away \
             with 503 by bcrypt's bounded queue",
            signins as f64 / secs as f64
        );
        r.add(
            "authenticated page p99 during a 32-way sign-in storm",
            format!("{:.2} ms", during.p99_ms),
            "≤ 50 ms",
            during.p99_ms <= 50.0,
        );
    }

    if wants("memory") {
        // Memory under 256 connections.
        let (base, c3) = (server.base.clone(), cookie.clone());
        let load = std::thread::spawn(move || wrk(pid, &format!("{base}/account"), 256, 5, &[c3]));
        let mut peak = 0;
        while !load.is_finished() {
            peak = peak.max(rss_kb(pid));
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = load.join();
        r.add(
            "resident memory under 256 connections",
            format!("{:.1} MB", peak as f64 / 1024.0),
            "≤ 80 MB",
            peak <= 80 * 1024,
        );
    }

    if wants("forward") {
        // Before the scale check: a database grown to a million sessions, and the work it
        // leaves behind, would weigh on a figure that is about the hot path alone.
        forward_figures(&bin, dir.path(), &url, &emails[0], &mut r).await;
    }

    if wants("scale") {
        // A refresh and the admin pages with 1,000 sessions, then at each size in BENCH_SESSIONS
        // (the table grows from one to the next).
        // A fresh client: wrk's 256 connections may have outlived the old one's pooled sockets.
        let admin_pair = sign_in(&reqwest::Client::new(), &server.base, &emails[0]).await;
        let small = scale_figures(&server.base, &admin_pair, tokens[128..].to_vec()).await;
        let mut seeded = 1000;
        for big in sizes.iter().copied().filter(|n| *n > 1000) {
            let label_n = thousands(big);
            println!("     seeding up to {label_n} sessions …");
            let t0 = Instant::now();
            let more = seed_sessions(&db, &user_ids, big.saturating_sub(seeded));
            seeded = seeded.max(big);
            // Measured from a settled database, as on a server that has been running: otherwise
            // the figures include copying the seeding's write-ahead log back into the database.
            settle(&db);
            println!("     seeded in {:.0} s", t0.elapsed().as_secs_f64());
            let large = scale_figures(&server.base, &admin_pair, more).await;
            for ((name, a), (_, b)) in small.iter().zip(large.iter()) {
                let label = format!("{name}: {label_n} vs 1,000 sessions (p50)");
                if a.is_nan() || b.is_nan() {
                    r.skip(&label, "page not available");
                    continue;
                }
                // Sub-millisecond figures are compared with a 1 ms floor: scheduler noise, not scale.
                r.add(
                    &label,
                    format!("{b:.2} ms vs {a:.2} ms"),
                    "within 1.5×, of at least 1 ms",
                    *b <= a.max(1.0) * 1.5,
                );
            }
        }
    }

    drop(server);

    if wants("flood") {
        // A server of its own, throttling on, behind a "proxy" (this client) that names each
        // actor's address in X-Forwarded-For.
        let fdir = tempfile::tempdir().unwrap();
        let furl = format!("sqlite://{}", fdir.path().join("flood.db").display());
        let (fserver, _) = start_with(
            &bin,
            fdir.path(),
            &furl,
            &[
                ("LATCHKEY_LOGIN_THROTTLE", "true"),
                ("LATCHKEY_TRUSTED_PROXIES", "127.0.0.1/32"),
            ],
        );
        let f = flood::run(&fserver.base, secs.max(20)).await;
        f.report(&mut r);
    }

    let failed = r.0.iter().filter(|x| !x.3).count();
    println!("\n{} of {} targets met", r.0.len() - failed, r.0.len());
}

/// p50 latency of a refresh and of each admin page, sequentially (no contention).
async fn scale_figures(base: &str, admin: &Value, tokens: Vec<RefreshToken>) -> Vec<(String, f64)> {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut out = Vec::new();
    let mut lat = Vec::new();
    for t in tokens.iter().take(200) {
        let t0 = Instant::now();
        let res = client
            .post(format!("{base}/api/auth/refresh"))
            .json(&json!({"refresh_token": t.expose()}))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
        lat.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    out.push(("refresh".to_string(), percentile(&mut lat, 0.5)));
    let cookie = format!("__Host-access={}", admin["access_token"].as_str().unwrap());
    for page in [
        "/admin",
        "/admin/users",
        "/admin/sessions",
        "/admin/audit",
        "/admin/users?q=user99",
    ] {
        let mut lat = Vec::new();
        let mut found = true;
        for _ in 0..30 {
            let t0 = Instant::now();
            let res = client
                .get(format!("{base}{page}"))
                .header("cookie", &cookie)
                .send()
                .await
                .unwrap();
            found = res.status().is_success();
            let _ = res.bytes().await;
            lat.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        out.push((
            format!("GET {page}"),
            if found {
                percentile(&mut lat, 0.5)
            } else {
                f64::NAN
            },
        ));
    }
    out
}

/// A running nginx master, stopped when dropped: SIGTERM, so that it stops its workers too (a
/// SIGKILL would leave them serving the port).
struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// Forward authentication (issue 16, item 7): Latchkey under `/auth` behind nginx with
/// `bench/nginx.conf`; at 64 connections, the authz endpoint against `/healthz`, and a small
/// page nginx answers itself, guarded by `auth_request` against unguarded. A control run sends
/// `/healthz` the authz request's headers, to show what those bytes cost by themselves.
async fn forward_figures(bin: &Path, dir: &Path, url: &str, email: &str, r: &mut Report) {
    let (server, _) = start_with(
        bin,
        dir,
        url,
        &[
            ("LATCHKEY_BASE_PATH", "/auth"),
            ("LATCHKEY_TRUSTED_PROXIES", "127.0.0.1/32"),
            ("LATCHKEY_COOKIE_SECURE", "false"),
        ],
    );
    let pid = server.child.id();
    let client = reqwest::Client::new();
    let pair = sign_in(&client, &format!("{}/auth", server.base), email).await;
    let cookie = format!("Cookie: access={}", pair["access_token"].as_str().unwrap());

    let (front, app) = (free_port(), free_port());
    let prefix = tempfile::tempdir().unwrap();
    let deploy = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");
    let conf = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/bench/nginx.conf"))
        .unwrap()
        .replace("@LISTEN@", &format!("127.0.0.1:{front}"))
        .replace("@APP@", &format!("127.0.0.1:{app}"))
        .replace("@LATCHKEY@", server.base.trim_start_matches("http://"))
        .replace("@PREFIX@", &prefix.path().display().to_string())
        .replace("@DEPLOY@", deploy);
    let conf_path = prefix.path().join("nginx.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let nginx = Command::new("nginx")
        .args(["-e", &format!("{}/error.log", prefix.path().display())])
        .arg("-p")
        .arg(prefix.path())
        .arg("-c")
        .arg(&conf_path)
        // A master with `worker_processes auto`, as nginx is deployed: `master_process off`
        // would run one process on one core whatever the configuration says.
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(nginx) = nginx.map(Nginx) else {
        r.skip("forward auth", "nginx is not installed");
        return;
    };
    let t0 = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", front)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "nginx did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let nginx_pid = nginx.0.id();
    let secs: u32 = env_or("BENCH_SECS", 10);
    let rounds: usize = env_or("BENCH_FORWARD_ROUNDS", 15).max(1);
    let each = (secs / 5).max(1);
    let ask = [
        cookie.clone(),
        "X-Original-URL: http://app.example/guarded/page".to_string(),
        "X-Original-Method: GET".to_string(),
    ];
    // Each round runs its fetches once, in an order rotated from round to round (the machine's
    // speed drifts); every figure is the median of the rounds' ratios.
    let in_rounds = |runs: &[&dyn Fn() -> Wrk]| -> Vec<Vec<Wrk>> {
        (0..rounds)
            .map(|round| {
                let mut got: Vec<Option<Wrk>> = runs.iter().map(|_| None).collect();
                for k in 0..runs.len() {
                    let i = (round + k) % runs.len();
                    got[i] = Some(runs[i]());
                }
                got.into_iter().flatten().collect()
            })
            .collect()
    };
    let base = server.base.clone();
    // The control: /healthz sent the authz request's very headers, which Latchkey reads and
    // ignores. It shows what the request's bytes cost before the endpoint does anything.
    let endpoint = in_rounds(&[
        &|| wrk(pid, &format!("{base}/auth/healthz"), 64, each, &[]),
        &|| wrk(pid, &format!("{base}/auth/healthz"), 64, each, &ask),
        &|| {
            wrk(
                pid,
                &format!("{base}/auth/authz/auth-request"),
                64,
                each,
                &ask,
            )
        },
    ]);
    let front_url = format!("http://127.0.0.1:{front}");
    let page = in_rounds(&[
        &|| wrk(nginx_pid, &format!("{front_url}/open/page"), 64, each, &[]),
        &|| {
            wrk(
                nginx_pid,
                &format!("{front_url}/guarded/page"),
                64,
                each,
                std::slice::from_ref(&cookie),
            )
        },
    ]);
    let line = |name: &str, b: &Wrk, a: &Wrk| {
        println!(
            "     {name}: {:>7.0} req/s (p50 {:.2} ms, p99 {:.2} ms) vs {:>7.0} req/s (p50 {:.2} ms, p99 {:.2} ms) | {:.1} %",
            b.rps, b.p50_ms, b.p99_ms, a.rps, a.p50_ms, a.p99_ms, b.rps / a.rps * 100.0
        );
    };
    for r in &endpoint {
        line("/authz vs /healthz", &r[2], &r[0]);
        line("  /healthz with authz's headers vs plain", &r[1], &r[0]);
    }
    for r in &page {
        line("guarded vs open page", &r[1], &r[0]);
    }
    let median = |rounds: &[Vec<Wrk>], f: &dyn Fn(&[Wrk]) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(|r| f(r)).collect();
        percentile(&mut v, 0.5)
    };
    // CPU per request moves less than throughput on a shared VM, and says where the difference
    // is: Latchkey's own work (user) or the sockets' (kernel, both sides).
    let cpu =
        |run: usize| -> [f64; 4] { std::array::from_fn(|i| median(&endpoint, &|r| r[run].cpu[i])) };
    let (h, c, z) = (cpu(0), cpu(1), cpu(2));
    let sum = |x: &[f64; 4]| x.iter().sum::<f64>();
    println!(
        "     CPU µs per request (medians; server user + kernel, wrk user + kernel): /healthz {:.2} + {:.2}, {:.2} + {:.2} = {:.2} | with authz's headers {:.2} + {:.2}, {:.2} + {:.2} = {:.2} ({:.1} %) | authz {:.2} + {:.2}, {:.2} + {:.2} = {:.2} ({:.1} %)",
        h[0], h[1], h[2], h[3], sum(&h),
        c[0], c[1], c[2], c[3], sum(&c), sum(&h) / sum(&c) * 100.0,
        z[0], z[1], z[2], z[3], sum(&z), sum(&h) / sum(&z) * 100.0,
    );
    println!(
        "     control: /healthz sent authz's request headers reaches {:.1} % of plain /healthz; authz reaches {:.1} % of that control",
        median(&endpoint, &|r| r[1].rps / r[0].rps) * 100.0,
        median(&endpoint, &|r| r[2].rps / r[1].rps) * 100.0,
    );
    let ratio = median(&endpoint, &|r| r[2].rps / r[0].rps);
    r.add(
        &format!("authz endpoint (valid cookie) vs /healthz throughput at 64 connections (median of {rounds} rounds)"),
        format!("{:.1} %", ratio * 100.0),
        "≥ 90 %",
        ratio >= 0.9,
    );
    let ratio = median(&page, &|r| r[1].rps / r[0].rps);
    r.add(
        &format!("nginx page guarded by auth_request vs unguarded, throughput at 64 connections (median of {rounds} rounds)"),
        format!("{:.1} %", ratio * 100.0),
        "≥ 50 %",
        ratio >= 0.5,
    );
    let p99 = median(&page, &|r| r[1].p99_ms / r[0].p99_ms);
    let (g, o) = (
        median(&page, &|r| r[1].p99_ms),
        median(&page, &|r| r[0].p99_ms),
    );
    r.add(
        "nginx page guarded vs unguarded, p99 latency (median ratio)",
        format!("{p99:.2}× ({g:.2} ms vs {o:.2} ms)"),
        "≤ 2×",
        p99 <= 2.0,
    );
    drop(nginx);
}
