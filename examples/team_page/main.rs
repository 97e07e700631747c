//! A team's own server-rendered page on Latchkey (README "Building your own pages on
//! Latchkey"): Latchkey's binary with one more route, `/team`, behind the session guard.
//!
//! ```text
//! cargo run --example team_page     # then sign in at http://127.0.0.1:8080/login?next=/team
//! ```
//!
//! It reads the same configuration as `latchkey serve` (CONTRACT §2, `.env` included).

mod pages;

use latchkey::http::extend::{Application, Config};
use std::process::ExitCode;

fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    latchkey::telemetry::init_logging();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("team_page: {e}");
            return ExitCode::from(2);
        }
    };
    let served = actix_web::rt::System::new().block_on(async move {
        let app = Application::build_with(config, pages::routes)
            .await
            .map_err(|e| e.to_string())?;
        app.serve_until_signal().await.map_err(|e| e.to_string())
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("team_page: {e}");
            ExitCode::from(2)
        }
    }
}
