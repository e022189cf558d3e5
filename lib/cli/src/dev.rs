//! `mcp-runtime dev`: the embedded platform (`mcp-dev`) in the foreground until Ctrl-C.

use std::io::IsTerminal as _;
use std::net::SocketAddr;
use std::os::fd::AsFd as _;
use std::path::PathBuf;

use clap::Args;
use mcp_dev::{DevOptions, Source};

use crate::cli::Ctx;
use crate::error::CliError;

/// Run the whole platform on this machine: dashboard, API, governed servers, analytics
#[derive(Debug, Args)]
#[command(after_help = "Everything is kept in the data directory; a restart picks up where it left off.\n\n\
    Examples:\n  \
    mcp-runtime dev\n  \
    mcp-runtime dev --listen 127.0.0.1:9000 --data-dir ./.mcp-dev\n  \
    mcp-runtime dev --stdio everything='npx -y @modelcontextprotocol/server-everything'\n  \
    mcp-runtime dev --http weather='python3 -m weather_server --port {port}'\n  \
    mcp-runtime dev --remote docs=https://mcp.example.com/mcp\n\n\
    A server named with --stdio/--http/--remote is governed once it is published (in the\n\
    dashboard, or `mcp-runtime server deploy`) under the same name.")]
pub(crate) struct DevArgs {
    /// Where to serve the dashboard, the API and every governed route
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080", env = "MCP_DEV_LISTEN")]
    listen: SocketAddr,
    /// Where accounts, servers, grants, sessions and audit events are kept
    /// [default: $XDG_DATA_HOME/mcp-runtime/dev or ~/.local/share/mcp-runtime/dev]
    #[arg(long, value_name = "DIR", env = "MCP_DEV_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The administrator's password on first start (else one is generated and printed once)
    #[arg(long, value_name = "FILE")]
    admin_password_file: Option<PathBuf>,
    /// Run a local command speaking MCP over stdio as server NAME (bridged to Streamable HTTP)
    #[arg(long, value_name = "NAME=COMMAND")]
    stdio: Vec<String>,
    /// Run a local command serving Streamable HTTP at /mcp on the port in $PORT (or {port})
    #[arg(long, value_name = "NAME=COMMAND")]
    http: Vec<String>,
    /// Govern an MCP server that already runs elsewhere (an http:// or https:// URL)
    #[arg(long, value_name = "NAME=URL")]
    remote: Vec<String>,
    /// Log level of the platform and gateways (`RUST_LOG` syntax)
    #[arg(long, value_name = "FILTER", default_value = "warn", env = "MCP_DEV_LOG")]
    log: String,
}

fn named(flag: &'static str, value: &str, make: fn(String) -> Source) -> Result<(String, Source), CliError> {
    let invalid =
        |reason: &str| CliError::InvalidArgument { flag, value: value.to_string(), reason: reason.into() };
    let (name, rest) = value.split_once('=').ok_or_else(|| invalid("expected NAME=VALUE"))?;
    let name = name.trim();
    if name.is_empty()
        || name.len() > 63
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        || name.starts_with('-')
        || name.ends_with('-')
    {
        return Err(invalid("NAME must be a DNS label (a-z, 0-9, '-', at most 63)"));
    }
    if rest.trim().is_empty() {
        return Err(invalid("nothing after '='"));
    }
    Ok((name.to_string(), make(rest.trim().to_string())))
}

pub(crate) fn run(args: DevArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let mut servers = Vec::new();
    for v in &args.stdio {
        servers.push(named("--stdio", v, Source::Stdio)?);
    }
    for v in &args.http {
        servers.push(named("--http", v, Source::Http)?);
    }
    for v in &args.remote {
        servers.push(named("--remote", v, Source::Remote)?);
    }
    let mut seen = std::collections::HashSet::new();
    if let Some((name, _)) = servers.iter().find(|(n, _)| !seen.insert(n.clone())) {
        return Err(CliError::InvalidArgument {
            flag: "--stdio/--http/--remote",
            value: name.clone(),
            reason: "a server name may be given once".into(),
        });
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log).map_err(|e| {
        CliError::InvalidArgument { flag: "--log", value: args.log.clone(), reason: e.to_string() }
    })?;
    // Logs go to a duplicate of standard error: the command's own handle is locked by this
    // thread for the whole run, and the runtime's threads log too.
    let stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| CliError::Dev { message: format!("cannot duplicate standard error: {e}") })?;
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::sync::Mutex::new(std::fs::File::from(stderr)))
        .try_init();
    let options = DevOptions {
        listen: args.listen,
        data_dir: args.data_dir.clone().unwrap_or_else(mcp_dev::default_data_dir),
        admin_password_file: args.admin_password_file.clone(),
        servers,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Dev { message: format!("cannot start the async runtime: {e}") })?;
    let out = &mut *ctx.out;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(options.listen).await.map_err(|e| CliError::Dev {
            message: format!("cannot listen on {}: {e} (choose another with --listen)", options.listen),
        })?;
        let data_dir = options.data_dir.clone();
        let announce = |w: &mcp_dev::Welcome| {
            let _ = writeln!(out, "{}\nData directory: {}", w.text(), data_dir.display());
            let _ = out.flush();
        };
        mcp_dev::run(options, listener, announce, shutdown_signal())
            .await
            .map_err(|e| CliError::Dev { message: e.to_string() })
    })
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
