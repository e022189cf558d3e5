//! `mcp-gateway`: reads its settings from the environment (see `mcp_gateway::Config`) and the
//! `--policy-configmap` flag, loads the policy, and serves until SIGINT or SIGTERM.

use std::process::ExitCode;

use clap::Parser;
use mcp_gateway::server::{Gateway, bind, serve};
use mcp_gateway::{Config, Environment, Source};
use tracing::{error, info};

/// Every request allocates and frees many small buffers (headers, bodies, audit records):
/// mimalloc's per-thread free lists make that cheaper than glibc malloc.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The mcp-gateway sidecar: identity, policy enforcement and audit in front of an MCP server.
///
/// Every setting comes from environment variables (PORT, UPSTREAM_URL, POLICY_FILE, ...; see
/// docs/gateway.md); the flag below is the one the operator passes on the command line.
#[derive(Debug, Parser)]
#[command(name = "mcp-gateway", version)]
struct Args {
    /// Watch this policy ConfigMap (<namespace>/<name>) through the Kubernetes API, with
    /// POLICY_FILE as the fallback; the API client uses KUBECONFIG when set, else the pod's
    /// service account
    #[arg(long, value_name = "NAMESPACE/NAME", env = "POLICY_CONFIGMAP")]
    policy_configmap: Option<String>,
}

/// The environment, with the command-line flags on top.
struct Settings {
    policy_configmap: Option<String>,
}

impl Source for Settings {
    fn get(&self, key: &str) -> Option<String> {
        match key {
            "POLICY_CONFIGMAP" => self.policy_configmap.clone().filter(|v| !v.trim().is_empty()),
            _ => Environment.get(key),
        }
    }
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
    let config = match Config::from_source(&Settings { policy_configmap: args.policy_configmap }) {
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
        let admin = match bind(gateway.config.admin_listen).await {
            Ok(listener) => listener,
            Err(err) => {
                error!(addr = %gateway.config.admin_listen, error = %err, "cannot bind the admin listener");
                return ExitCode::FAILURE;
            }
        };
        info!(
            addr = %gateway.config.listen,
            admin = %gateway.config.admin_listen,
            upstream = %gateway.config.upstream,
            "mcp-gateway listening"
        );
        match serve(gateway, listener, Some(admin), mcp_shutdown::requested()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                error!(error = %err, "server failed");
                ExitCode::FAILURE
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};
    use mcp_gateway::Source;

    use super::{Args, Settings};

    #[test]
    fn cli_definition_is_consistent() {
        Args::command().debug_assert();
    }

    #[test]
    fn the_flag_wins_over_the_environment() {
        let args = Args::try_parse_from(["mcp-gateway", "--policy-configmap", "ns/policy"]).expect("parses");
        let settings = Settings { policy_configmap: args.policy_configmap };
        assert_eq!(settings.get("POLICY_CONFIGMAP").as_deref(), Some("ns/policy"));
    }
}
