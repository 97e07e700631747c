//! Micro-benchmarks of the hot path's crypto: signing and verifying an access token.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use latchkey::auth::TokenKeys;
use latchkey::domain::{Role, SessionId, UserId};
use std::hint::black_box;

fn tokens(c: &mut Criterion) {
    let keys = TokenKeys::new(b"0123456789abcdef0123456789abcdef-bench", &[], 900, 30);
    let (user, session) = (UserId::generate(), SessionId::generate());
    let now = latchkey::db::now();
    c.bench_function("access token sign", |b| {
        b.iter(|| {
            keys.sign(
                black_box(&user),
                black_box(&session),
                Role::User,
                "ann@example.com",
                now,
            )
        })
    });
    let (token, _) = keys.sign(&user, &session, Role::User, "ann@example.com", now);
    c.bench_function("access token verify", |b| {
        b.iter(|| keys.verify(black_box(&token), now).unwrap())
    });
}

criterion_group!(benches, tokens);
criterion_main!(benches);
