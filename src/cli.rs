//! The command line: `serve` (default), `migrate`, `create-admin`, `gen-secret`.

use crate::auth::AuthService;
use crate::config::{generate_secret, Config, SigningSecrets};
use crate::db::Db;
use crate::domain::{Email, NewPassword};
use clap::{Parser, Subcommand};
use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;

/// Latchkey: browser sessions done right.
#[derive(Parser)]
#[command(name = "latchkey", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations, then serve HTTP until SIGINT/SIGTERM (the default).
    Serve,
    /// Apply pending migrations and exit.
    Migrate,
    /// Create an admin, or promote an existing account.
    CreateAdmin {
        /// The admin's e-mail address.
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input instead of a prompt.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Print a fresh 256-bit secret for LATCHKEY_JWT_SECRET.
    GenSecret,
}

/// Runs the command line; the binary's whole `main`.
pub fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    crate::telemetry::init_logging();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::GenSecret => {
            println!("{}", generate_secret());
            Ok(())
        }
        Command::Serve => serve(),
        Command::Migrate => migrate(),
        Command::CreateAdmin {
            email,
            password_stdin,
        } => create_admin(&email, password_stdin),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("latchkey: {message}");
            ExitCode::from(2)
        }
    }
}

fn config() -> Result<Config, String> {
    Config::from_env().map_err(|e| e.to_string())
}

fn serve() -> Result<(), String> {
    let config = config()?;
    actix_web::rt::System::new().block_on(async move {
        let app = crate::http::Application::build(config)
            .await
            .map_err(|e| e.to_string())?;
        app.serve_until_signal()
            .await
            .map_err(|e| format!("server error: {e}"))
    })
}

fn open_db(config: &Config) -> Result<Db, String> {
    let db = Db::connect(&config.database_url, 2, config.db_timeout)
        .map_err(|e| format!("DATABASE_URL: {e}"))?;
    db.check().map_err(|e| format!("DATABASE_URL: {e}"))?;
    let n = db.migrate().map_err(|e| format!("DATABASE_URL: {e}"))?;
    log::info!("{n} migration(s) applied");
    Ok(db)
}

fn migrate() -> Result<(), String> {
    let config = config()?;
    open_db(&config).map(drop)
}

fn create_admin(email: &str, from_stdin: bool) -> Result<(), String> {
    let config = config()?;
    let email = Email::parse(email).map_err(|m| format!("--email: {m}"))?;
    let password = if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("reading the password: {e}"))?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        let first = rpassword::prompt_password("Password: ").map_err(|e| e.to_string())?;
        let again = rpassword::prompt_password("Repeat password: ").map_err(|e| e.to_string())?;
        if first != again {
            return Err("the passwords do not match".into());
        }
        first
    };
    let password = NewPassword::parse(password).map_err(|e| e.to_string())?;
    let secrets = SigningSecrets::resolve(&config.secret, &config.previous_secrets)
        .map_err(|e| e.to_string())?;
    let db = open_db(&config)?;
    let auth = AuthService::new(&config, &secrets, db);
    let created = auth
        .create_admin_blocking(&email, &password)
        .map_err(|e| e.to_string())?;
    println!(
        "{} {email} as an admin",
        if created { "created" } else { "promoted" }
    );
    Ok(())
}
