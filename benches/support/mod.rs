//! What the SQLite-backed micro-benchmarks share: the domain service over a fresh SQLite file,
//! with one account signed in.

use latchkey::auth::{AuthService, Issued};
use latchkey::config::{Config, SigningSecrets};
use latchkey::db::Db;
use latchkey::domain::ClientInfo;
use std::time::Duration;
use tempfile::TempDir;
use tokio::runtime::Runtime;

/// A service with one signed-in account; the database file lives as long as this does.
pub struct SignedIn {
    /// Holds the SQLite file.
    _dir: TempDir,
    /// The domain service, as the server builds it.
    pub auth: AuthService,
    /// The client every benchmark request comes from.
    pub client: ClientInfo,
    /// The account's first session.
    pub issued: Issued,
}

/// Registers `bench@example.com` (bcrypt cost 4) on a fresh SQLite file.
pub fn signed_in(rt: &Runtime) -> SignedIn {
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
    SignedIn {
        _dir: dir,
        auth,
        client,
        issued,
    }
}
