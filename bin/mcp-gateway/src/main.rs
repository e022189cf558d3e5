//! `mcp-gateway`: reads its settings from the environment (see `mcp_gateway::Config`), loads the
//! policy, and serves until SIGINT or SIGTERM.

use std::process::ExitCode;

use mcp_gateway::server::{Gateway, bind, serve};
use mcp_gateway::{Config, Environment};
use tracing::{error, info};

/// Exit status for unusable configuration (EX_USAGE).
const EX_USAGE: u8 = 64;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let config = match Config::from_source(&Environment) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("mcp-gateway: invalid configuration: {err}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let mut builder = if config.worker_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(config.worker_threads);
        builder
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("mcp-gateway: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let gateway = match Gateway::new(config) {
            Ok(gateway) => gateway,
            Err(err) => {
                error!(error = %err, "cannot read the upstream credential file");
                return ExitCode::from(EX_USAGE);
            }
        };
        // A missing or invalid policy at start is not fatal: the gateway serves 503 until one
        // loads (so a ConfigMap that arrives late heals by itself).
        gateway.reload().await;
        let listener = match bind(gateway.config.listen).await {
            Ok(listener) => listener,
            Err(err) => {
                error!(addr = %gateway.config.listen, error = %err, "cannot bind");
                return ExitCode::FAILURE;
            }
        };
        info!(addr = %gateway.config.listen, upstream = %gateway.config.upstream, "mcp-gateway listening");
        match serve(gateway, listener, shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                error!(error = %err, "server failed");
                ExitCode::FAILURE
            }
        }
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
