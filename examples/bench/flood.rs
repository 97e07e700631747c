//! The flood figure: a legitimate user's sign-in latency while one address floods sign-ups
//! and wrong guesses (issue 14, item 5). Part of `examples/bench.rs` (`BENCH_ONLY=flood`).

use super::{percentile, Report, PASSWORD};
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const OWNER: &str = "owner@bench.example";
const OWNER_ADDRESS: &str = "198.51.100.10";
const ATTACKER_ADDRESS: &str = "203.0.113.66";
/// Concurrent attacker connections.
const ATTACKERS: usize = 32;
/// After this long the attacker's free attempts are spent (at cost 12 on one bcrypt worker, its
/// 30 free bcrypt runs take about 8 s) and only the throttle's waits let it through.
const SETTLED: Duration = Duration::from_secs(10);

/// What the run measured.
pub struct Flood {
    quiet: Vec<f64>,
    /// (seconds into the flood, latency ms, status) of each owner sign-in.
    owner: Vec<(f64, f64, u16)>,
    attacker: BTreeMap<u16, usize>,
    secs: u64,
}

/// A signed-out form's CSRF cookie and token, fetched as `address`.
async fn csrf(client: &reqwest::Client, base: &str, address: &str) -> (String, String) {
    let res = client
        .get(format!("{base}/register"))
        .header("x-forwarded-for", address)
        .send()
        .await
        .unwrap();
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("__Host-csrf=") || c.starts_with("csrf="))
        .and_then(|c| c.split(';').next())
        .unwrap_or_default()
        .to_string();
    let html = res.text().await.unwrap();
    let marker = "name=\"csrf_token\" value=\"";
    let start = html.find(marker).map_or(0, |i| i + marker.len());
    let end = html[start..].find('"').map_or(start, |i| start + i);
    (cookie, html[start..end].to_string())
}

async fn sign_up(
    client: &reqwest::Client,
    base: &str,
    address: &str,
    (cookie, token): &(String, String),
    email: &str,
) -> u16 {
    client
        .post(format!("{base}/register"))
        .header("x-forwarded-for", address)
        .header("cookie", cookie)
        .header("origin", base)
        .header("sec-fetch-site", "same-origin")
        .form(&[
            ("email", email),
            ("password", PASSWORD),
            ("csrf_token", token),
        ])
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    address: &str,
    email: &str,
    password: &str,
) -> u16 {
    client
        .post(format!("{base}/api/auth/token"))
        .header("x-forwarded-for", address)
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}

/// Runs the flood for `secs` seconds against a fresh server with throttling on.
pub async fn run(base: &str, secs: u64) -> Flood {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();
    let form = csrf(&client, base, OWNER_ADDRESS).await;
    assert_eq!(
        sign_up(&client, base, OWNER_ADDRESS, &form, OWNER).await,
        303
    );
    let mut quiet = Vec::new();
    for _ in 0..10 {
        let t0 = Instant::now();
        assert_eq!(
            sign_in(&client, base, OWNER_ADDRESS, OWNER, PASSWORD).await,
            200
        );
        quiet.push(t0.elapsed().as_secs_f64() * 1000.0);
    }

    let start = Instant::now();
    let deadline = start + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for i in 0..ATTACKERS {
        let (client, base) = (client.clone(), base.to_string());
        tasks.push(tokio::spawn(async move {
            let form = csrf(&client, &base, ATTACKER_ADDRESS).await;
            let mut seen = BTreeMap::new();
            let mut n = 0;
            while Instant::now() < deadline {
                let status = if n % 2 == 0 {
                    let email = format!("flood{i}-{n}@bench.example");
                    sign_up(&client, &base, ATTACKER_ADDRESS, &form, &email).await
                } else {
                    let email = if n % 4 == 1 {
                        OWNER.to_string()
                    } else {
                        format!("guess{i}-{n}@bench.example")
                    };
                    sign_in(&client, &base, ATTACKER_ADDRESS, &email, "a wrong guess").await
                };
                *seen.entry(status).or_insert(0usize) += 1;
                n += 1;
            }
            seen
        }));
    }
    let mut owner = Vec::new();
    while Instant::now() < deadline {
        let t0 = Instant::now();
        let status = sign_in(&client, base, OWNER_ADDRESS, OWNER, PASSWORD).await;
        owner.push((
            start.elapsed().as_secs_f64(),
            t0.elapsed().as_secs_f64() * 1000.0,
            status,
        ));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut attacker = BTreeMap::new();
    for t in tasks {
        for (status, n) in t.await.unwrap() {
            *attacker.entry(status).or_insert(0) += n;
        }
    }
    Flood {
        quiet,
        owner,
        attacker,
        secs,
    }
}

impl Flood {
    /// Prints the figures and adds them to the report.
    pub fn report(self, r: &mut Report) {
        let mut quiet = self.quiet.clone();
        let (q50, q99) = (percentile(&mut quiet, 0.5), percentile(&mut quiet, 0.99));
        let stats = |from: f64, to: f64| {
            let part: Vec<&(f64, f64, u16)> = self
                .owner
                .iter()
                .filter(|(t, _, _)| *t >= from && *t < to)
                .collect();
            let mut lat: Vec<f64> = part.iter().map(|(_, l, _)| *l).collect();
            let ok = part.iter().filter(|(_, _, s)| *s == 200).count();
            let max = lat.iter().copied().fold(0.0, f64::max);
            (
                percentile(&mut lat.clone(), 0.5),
                percentile(&mut lat, 0.99),
                max,
                ok,
                part.len(),
            )
        };
        let settled = SETTLED.as_secs_f64();
        let (e50, e99, emax, eok, en) = stats(0.0, settled);
        let (s50, s99, smax, sok, sn) = stats(settled, f64::MAX);
        let checked: usize = [303u16, 401]
            .iter()
            .filter_map(|s| self.attacker.get(s))
            .sum();
        let total: usize = self.attacker.values().sum();
        println!(
            "     attacker ({ATTACKERS} connections, {} s): {total} requests, answers {:?}; {checked} reached bcrypt",
            self.secs, self.attacker
        );
        println!(
            "     owner, quiet: p50 {q50:.0} ms, p99 {q99:.0} ms | first {settled:.0} s of the flood: {eok}/{en} signed in, p50 {e50:.0} ms, p99 {e99:.0} ms, max {emax:.0} ms | after: {sok}/{sn} signed in, p50 {s50:.0} ms, p99 {s99:.0} ms, max {smax:.0} ms"
        );
        let bound = latchkey::auth::QUEUE_WAIT.as_secs_f64() * 1000.0 + 1000.0;
        r.add(
            "owner's sign-in wait while one address floods (longest, whole flood)",
            format!("{:.0} ms (quiet p99 {q99:.0} ms)", emax.max(smax)),
            &format!("≤ {bound:.0} ms: bcrypt's queue wait bounds it"),
            emax.max(smax) <= bound,
        );
        r.add(
            "owner's sign-in p99 once the flood's free attempts are spent",
            format!("{s99:.0} ms, {sok}/{sn} signed in (quiet p99 {q99:.0} ms)"),
            "≤ 2 × quiet p99 + 100 ms, all signed in",
            s99 <= 2.0 * q99 + 100.0 && sok == sn,
        );
    }
}
