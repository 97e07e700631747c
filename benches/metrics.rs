//! Micro-benchmark of what `/metrics` adds to every request: classifying the path, reading the
//! clock twice and one histogram observation (`http::middleware::frame` does exactly this).
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{criterion_group, criterion_main, Criterion};
use latchkey::telemetry::{Metrics, RouteGroup};
use std::hint::black_box;
use std::time::Instant;

fn request_timing(c: &mut Criterion) {
    let metrics = Metrics::new();
    c.bench_function("request timing (clock, group, histogram)", |b| {
        b.iter(|| {
            let started = Instant::now();
            let group = RouteGroup::of(black_box("/account/sessions"));
            metrics.observe_request(group, black_box(200), started.elapsed());
        })
    });
    c.bench_function("request timing, histogram observation alone", |b| {
        let took = std::time::Duration::from_micros(180);
        b.iter(|| metrics.observe_request(RouteGroup::Pages, 200, black_box(took)))
    });
    c.bench_function("metrics page render", |b| {
        b.iter(|| black_box(metrics.render(&[])).len())
    });
}

criterion_group!(benches, request_timing);
criterion_main!(benches);
