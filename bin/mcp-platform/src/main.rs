//! `mcp-platform`: reads its settings from the environment (see `mcp_platform::Config` and
//! docs/platform.md) and runs one of `serve` (the default), `migrate`, `admin create` or
//! `keys rotate`.

use std::io::Read;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use mcp_platform::{Config, Environment, Platform, store};

/// The MCP Runtime platform API: accounts, sign-in, API keys, teams, signing keys, and the
/// runtime (servers, grants, sessions, agent session tokens, agents).
///
/// Every setting comes from environment variables (PLATFORM_DATABASE_URL, PLATFORM_DATA_DIR,
/// ...; see docs/platform.md).
#[derive(Debug, Parser)]
#[command(name = "mcp-platform", version)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (applies pending migrations first unless PLATFORM_AUTO_MIGRATE=false).
    Serve,
    /// Apply pending store migrations (idempotent) and print the schema version.
    Migrate,
    /// Administrator accounts.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Create a platform administrator (or make an existing account one and set its password).
    /// The password is read from MCP_PLATFORM_ADMIN_PASSWORD or, when unset, from standard input.
    Create {
        /// The administrator's email.
        #[arg(long)]
        email: String,
        /// The name shown (default: the email).
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Add a signing key: published at once, signing after PLATFORM_KEY_PUBLISH_DELAY_SECS; the
    /// keys it supersedes are dropped once the longest token lifetime has passed after that.
    Rotate,
}

/// Exit status for unusable configuration (EX_USAGE).
const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let config = match Config::from_source(&Environment) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("mcp-platform: invalid configuration: {err}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("mcp-platform: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match args.command.unwrap_or(Command::Serve) {
            Command::Serve => serve(config).await,
            Command::Migrate => migrate(config).await,
            Command::Admin { command: AdminCommand::Create { email, name } } => {
                admin_create(config, email, name).await
            }
            Command::Keys { command: KeysCommand::Rotate } => rotate(&config),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("mcp-platform: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), String> {
    let listen = config.listen;
    let platform = Platform::open(config).await.map_err(|e| e.to_string())?;
    let listener = tokio::net::TcpListener::bind(listen).await.map_err(|e| format!("bind {listen}: {e}"))?;
    let state = platform.state();
    tracing::info!(%listen, backend = state.store.backend(), runtime = state.runtime.kind(), "mcp-platform serving");
    platform.serve(listener, mcp_shutdown::requested()).await.map_err(|e| format!("serve: {e}"))
}

async fn migrate(config: Config) -> Result<(), String> {
    let store = store::Store::connect(&config.database_url, 2).await.map_err(|e| e.to_string())?;
    let applied = store.migrate().await.map_err(|e| e.to_string())?;
    let version = store.schema_version().await.map_err(|e| e.to_string())?;
    if applied.is_empty() {
        println!("schema up to date at version {version} ({})", store.backend());
    } else {
        println!("applied migrations {applied:?}; schema at version {version} ({})", store.backend());
    }
    store.close().await;
    Ok(())
}

async fn admin_create(config: Config, email: String, name: Option<String>) -> Result<(), String> {
    let password = match std::env::var("MCP_PLATFORM_ADMIN_PASSWORD") {
        Ok(pw) if !pw.is_empty() => pw,
        _ => {
            let mut pw = String::new();
            std::io::stdin()
                .read_to_string(&mut pw)
                .map_err(|e| format!("read the password from stdin: {e}"))?;
            pw.trim_end_matches(['\n', '\r']).to_string()
        }
    };
    mcp_platform::secrets::check_password(&password).map_err(String::from)?;
    let platform = Platform::open(config).await.map_err(|e| e.to_string())?;
    let state = platform.state();
    let email = email.trim().to_lowercase();
    let request = mcp_platform::api::CreateUser {
        email: email.clone(),
        password: Some(password.clone()),
        display_name: name,
        kind: None,
        admin: Some(true),
    };
    match mcp_platform::api::new_user(state, request).await {
        Ok(user) => println!("created administrator {} ({})", user.email, user.id),
        Err(err) if err.code == "conflict" => {
            let hash = mcp_platform::secrets::hash_password(&password)?;
            state.store.set_password_and_admin(&email, &hash, true).await.map_err(|e| e.to_string())?;
            println!("{email} exists: made administrator, password replaced");
        }
        Err(err) => return Err(err.message),
    }
    state.store.close().await;
    Ok(())
}

fn rotate(config: &Config) -> Result<(), String> {
    let now = store::now();
    let mut file = mcp_platform::keys::load_or_create(&config.keys_file, now)?;
    let rotation = mcp_platform::keys::rotate(&mut file, now, config.key_publish_delay, config.access_ttl)?;
    mcp_platform::keys::write_file(&config.keys_file, &file)?;
    println!(
        "added key {} (published now, signing from unix time {}); retiring {:?}; dropped {:?}",
        rotation.kid, rotation.sign_from, rotation.retiring, rotation.dropped
    );
    Ok(())
}
