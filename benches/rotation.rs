//! Micro-benchmark of one refresh-token rotation against a SQLite file (the full domain
//! operation: conditional update, successor insert, session touch, new access token).
#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use criterion::{criterion_group, criterion_main, Criterion};
use latchkey::auth::RefreshToken;
use std::cell::RefCell;

fn rotation(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let support::SignedIn {
        auth,
        client,
        issued,
        ..
    } = support::signed_in(&rt);
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
