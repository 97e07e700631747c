//! Micro-benchmark of one refresh-token rotation against a SQLite file (the full domain
//! operation: conditional update, successor insert, session touch, new access token).
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use latchkey::auth::{AuthService, RefreshToken};
use latchkey::config::{Config, SigningSecrets};
use latchkey::db::Db;
use latchkey::domain::ClientInfo;
use std::cell::RefCell;
use std::time::Duration;

fn rotation(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let secret = latchkey::config::generate_secret();
    let config = Config::from_lookup(|k| match k {
        "DATABASE_URL" => Some(url.clone()),
        "LATCHKEY_JWT_SECRET" => Some(secret.clone()),
        "LATCHKEY_BCRYPT_COST" => Some("4".into()),
        _ => None,
    })
    .unwrap();
    let db = Db::connect(&url, 4, Duration::from_secs(5)).unwrap();
    db.migrate().unwrap();
    let secrets = SigningSecrets::resolve(&config.secret, &[]).unwrap();
    let auth = AuthService::new(&config, &secrets, db);
    let client = ClientInfo::new("127.0.0.1", "bench");
    let (issued, _) = rt
        .block_on(auth.register("bench@example.com", "benchmark password".into(), &client))
        .unwrap();
    let current = RefCell::new(issued.refresh_token);
    c.bench_function("refresh rotation (SQLite)", |b| {
        b.iter(|| {
            let token: RefreshToken = current.borrow().clone();
            let next = rt.block_on(auth.refresh(token, client.clone())).unwrap();
            *current.borrow_mut() = next.refresh_token;
        })
    });
}

criterion_group!(benches, rotation);
criterion_main!(benches);
