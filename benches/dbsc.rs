//! Micro-benchmarks of device-bound sessions: one proof verification (ES256 and RS256, the
//! server's CPU cost per refresh), and one whole bound refresh against a SQLite file as the
//! server does it (proof check and challenge spent, the §4 rotation, the next challenge issued).
//! Signing the proof is the browser's work and runs outside the measurement.
#![allow(missing_docs, clippy::unwrap_used)]

mod support;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use latchkey::auth::dbsc::{self, DeviceKey};
use latchkey::auth::RefreshToken;
use std::cell::RefCell;

const P256: &[u8] = include_bytes!("../tests/fixtures/dbsc/p256-a.der");
const P256_JWK: &str = include_str!("../tests/fixtures/dbsc/p256-a.jwk.json");
const RSA: &[u8] = include_bytes!("../tests/fixtures/dbsc/rsa-a.der");
const RSA_JWK: &str = include_str!("../tests/fixtures/dbsc/rsa-a.jwk.json");

fn sign(alg: Algorithm, der: &[u8], jwk: Option<&str>, jti: &str) -> String {
    let mut h = Header::new(alg);
    h.typ = Some("dbsc+jwt".into());
    h.jwk = jwk.map(|j| serde_json::from_str::<Jwk>(j).unwrap());
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_der(der),
        _ => EncodingKey::from_rsa_der(der),
    };
    jsonwebtoken::encode(&h, &serde_json::json!({ "jti": jti }), &key).unwrap()
}

fn verification(c: &mut Criterion) {
    for (name, alg, der, jwk) in [
        ("ES256", Algorithm::ES256, P256, P256_JWK),
        ("RS256", Algorithm::RS256, RSA, RSA_JWK),
    ] {
        let key: DeviceKey = dbsc::verify_registration(&sign(alg, der, Some(jwk), "c"))
            .unwrap()
            .key;
        let refresh = sign(
            alg,
            der,
            None,
            "a-challenge-of-43-characters-aaaaaaaaaaaaaa",
        );
        c.bench_function(&format!("refresh proof verification ({name})"), |b| {
            b.iter(|| dbsc::verify_refresh(&refresh, &key).unwrap())
        });
        let registration = sign(alg, der, Some(jwk), "c");
        c.bench_function(&format!("registration proof verification ({name})"), |b| {
            b.iter(|| dbsc::verify_registration(&registration).unwrap())
        });
    }
}

fn bound_refresh(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let support::SignedIn {
        auth,
        client,
        issued,
        ..
    } = support::signed_in(&rt);
    let sid = issued.user.session_id.clone();
    let challenge = rt.block_on(auth.dbsc_challenge(&sid)).unwrap();
    let proof = sign(Algorithm::ES256, P256, Some(P256_JWK), challenge.as_str());
    rt.block_on(auth.dbsc_register(&issued.user, &proof, &client))
        .unwrap();
    let next = rt.block_on(auth.dbsc_challenge(&sid)).unwrap();
    let state = RefCell::new((issued.refresh_token, next));
    c.bench_function(
        "bound refresh: proof, rotation, next challenge (SQLite)",
        |b| {
            b.iter_batched(
                // The browser's part: sign the challenge it holds.
                || sign(Algorithm::ES256, P256, None, state.borrow().1.as_str()),
                |proof| {
                    let token: RefreshToken = state.borrow().0.clone();
                    rt.block_on(async {
                        let proven = auth.dbsc_prove(&sid, Some(&proof)).await.unwrap();
                        let issued = auth
                            .refresh_bound(token, client.clone(), &proven)
                            .await
                            .unwrap();
                        let next = auth.dbsc_challenge(&sid).await.unwrap();
                        *state.borrow_mut() = (issued.refresh_token, next);
                    })
                },
                BatchSize::PerIteration,
            )
        },
    );
}

criterion_group!(benches, verification, bound_refresh);
criterion_main!(benches);
