//! `mcp-example-server`: the workspace-assistant example MCP server (`mcp_examples`) over
//! Streamable HTTP, until SIGINT or SIGTERM.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;

use clap::Parser;
use mcp_examples::{AllowedHosts, ServeOptions};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{error, info};

/// Exit status for unusable arguments (EX_USAGE).
const EX_USAGE: u8 = 64;

/// Serve the workspace-assistant example MCP server over Streamable HTTP.
#[derive(Debug, Parser)]
#[command(name = "mcp-example-server", version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, value_name = "ADDR", env = "MCP_LISTEN", default_value = "127.0.0.1:8088")]
    listen: SocketAddr,

    /// Path of the MCP endpoint; must start with `/`.
    #[arg(long, value_name = "PATH", env = "MCP_PATH", default_value = "/mcp", value_parser = parse_path)]
    path: String,

    /// Accept this `Host` (or `host:port`) header; repeat for more [default: loopback names].
    #[arg(long = "allowed-host", value_name = "HOST", conflicts_with = "allow_any_host")]
    allowed_hosts: Vec<String>,

    /// Accept any `Host` header (behind a proxy that keeps the public host).
    #[arg(long, env = "MCP_ALLOW_ANY_HOST")]
    allow_any_host: bool,

    /// Serve every request statelessly (no `Mcp-Session-Id` sessions).
    #[arg(long)]
    stateless: bool,

    /// Which MCP server to serve.
    #[arg(long, value_enum, default_value_t = Fixture::WorkspaceAssistant)]
    fixture: Fixture,

    /// Speak MCP over standard input and output (newline-delimited JSON-RPC) instead of HTTP.
    #[arg(long, conflicts_with_all = ["listen", "path", "stateless", "allowed_hosts", "allow_any_host"])]
    stdio: bool,
}

/// The servers this binary can serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Fixture {
    /// The workspace-assistant tools (`echo`, `add`, `create_task`, …).
    WorkspaceAssistant,
    /// The official conformance suite's fixture (`test_simple_text`, `test://static-text`, …).
    Conformance,
}

impl Cli {
    fn options(&self) -> ServeOptions {
        let allowed_hosts = if self.allow_any_host {
            AllowedHosts::Any
        } else if self.allowed_hosts.is_empty() {
            AllowedHosts::Loopback
        } else {
            AllowedHosts::List(self.allowed_hosts.clone())
        };
        ServeOptions { path: self.path.clone(), allowed_hosts, sessions: !self.stateless }
    }
}

fn parse_path(path: &str) -> Result<String, String> {
    ServeOptions::new(path).map(|options| options.path).map_err(|err| err.to_string())
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) if !err.use_stderr() => {
            // --help and --version.
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        Err(err) => {
            let rendered = err.to_string();
            let line = rendered.lines().next().unwrap_or("invalid arguments");
            let line = line.strip_prefix("error: ").unwrap_or(line);
            eprintln!("mcp-example-server: {line} (see --help)");
            return ExitCode::from(EX_USAGE);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("mcp-example-server: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(cli))
}

async fn run(cli: Cli) -> ExitCode {
    if cli.stdio {
        let served = match cli.fixture {
            Fixture::WorkspaceAssistant => {
                mcp_examples::serve_stdio(mcp_examples::WorkspaceAssistant::new()).await
            }
            Fixture::Conformance => mcp_examples::serve_stdio(mcp_examples::ConformanceServer::new()).await,
        };
        return match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                error!(error = %err, "stdio session failed");
                ExitCode::FAILURE
            }
        };
    }
    let listener = match TcpListener::bind(cli.listen).await {
        Ok(listener) => listener,
        Err(err) => {
            error!(addr = %cli.listen, error = %err, "cannot bind");
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(cli.listen);
    let options = cli.options();
    info!(%addr, path = %options.path, hosts = ?options.allowed_hosts, sessions = options.sessions, fixture = ?cli.fixture, "mcp-example-server listening");
    let shutdown = CancellationToken::new();
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            mcp_shutdown::requested().await;
            info!("shutting down");
            shutdown.cancel();
        }
    });
    let served = match cli.fixture {
        Fixture::WorkspaceAssistant => mcp_examples::serve(listener, options, shutdown).await,
        Fixture::Conformance => mcp_examples::serve_conformance(listener, options, shutdown).await,
    };
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!(error = %err, "server failed");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults_match_the_gateway_layout() {
        let cli = Cli::try_parse_from(["mcp-example-server"]).expect("defaults parse");
        assert_eq!(cli.listen, SocketAddr::from(([127, 0, 0, 1], 8088)));
        let options = cli.options();
        assert_eq!(options.path, "/mcp");
        assert_eq!(options.allowed_hosts, AllowedHosts::Loopback);
        assert!(options.sessions);
        assert_eq!(cli.fixture, Fixture::WorkspaceAssistant);
        let cli = Cli::try_parse_from(["x", "--fixture", "conformance"]).expect("parses");
        assert_eq!(cli.fixture, Fixture::Conformance);
    }

    #[test]
    fn bad_flags_are_rejected() {
        for args in [
            &["x", "--listen", "nope"][..],
            &["x", "--path", "mcp"],
            &["x", "--frobnicate"],
            &["x", "--allow-any-host", "--allowed-host", "a"],
        ] {
            assert!(Cli::try_parse_from(args).is_err(), "{args:?}");
        }
        let cli =
            Cli::try_parse_from(["x", "--allowed-host", "a", "--allowed-host", "b:80"]).expect("parses");
        assert_eq!(cli.options().allowed_hosts, AllowedHosts::List(vec!["a".into(), "b:80".into()]));
    }
}
