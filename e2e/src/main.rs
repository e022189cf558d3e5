//! `mcp-e2e`: runs the allow/deny scenarios of `e2e/scenarios` against a local stack of the
//! real binaries (example MCP servers, one `mcp-gateway` each with its policy rendered by
//! lib/policy, Traefik as the ingress). `cargo xtask e2e` builds and installs what it needs and
//! runs this; run it directly to point it at other binaries.

mod client;
mod cluster;
mod load;
mod platform;
mod run;
mod scenario;
mod stack;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;

/// Run the MCP Runtime end-to-end scenarios against a local stack.
#[derive(Debug, Parser)]
#[command(name = "mcp-e2e", version)]
struct Cli {
    /// The e2e directory (holding stack.yaml, fixtures/ and scenarios/).
    #[arg(long, value_name = "DIR", default_value = concat!(env!("CARGO_MANIFEST_DIR")))]
    dir: PathBuf,
    /// Scenario files to read instead of <dir>/scenarios.
    #[arg(long, value_name = "DIR")]
    scenarios_dir: Option<PathBuf>,
    /// Comma-separated scenarios to run [default: all].
    #[arg(long, value_name = "A,B", value_delimiter = ',')]
    scenarios: Vec<String>,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
    /// After the run, keep the stack up and print its URLs until Ctrl-C.
    #[arg(long)]
    keep_running: bool,
    /// Where logs, rendered policies, PID files and junit.xml go.
    #[arg(long, value_name = "DIR", default_value = "target/e2e")]
    artifacts: PathBuf,
    /// Directory of `mcp-gateway` and `mcp-example-server` [default: this binary's directory].
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,
    /// The Traefik binary.
    #[arg(
        long,
        value_name = "PATH",
        env = "MCP_E2E_TRAEFIK",
        default_value = "/var/tmp/mcp-runtime-tools/venv/bin/traefik"
    )]
    traefik: PathBuf,
    /// Node (≥ 22) for the OpenID provider.
    #[arg(long, value_name = "PATH", env = "MCP_E2E_NODE")]
    node: Option<PathBuf>,
    /// A `node_modules` directory holding `oidc-provider`.
    #[arg(long, value_name = "DIR", env = "MCP_E2E_OIDC_MODULES")]
    oidc_modules: Option<PathBuf>,
    /// Run against a cluster installed by `cargo xtask kind up --test-mode` instead of a local
    /// stack: fixtures are applied through the Kubernetes API, the operator renders the
    /// policies (`cargo xtask e2e --kind` sets up the port-forwards and passes the URLs).
    #[arg(long)]
    kind: bool,
    /// Kubeconfig context of the cluster target [default: the current context].
    #[arg(long, value_name = "NAME", requires = "kind")]
    context: Option<String>,
    /// Cluster target: the port-forwarded Traefik (`host:port`).
    #[arg(long, value_name = "HOST:PORT", requires = "kind")]
    ingress: Option<String>,
    /// Cluster target: the port-forwarded ClickHouse HTTP interface.
    #[arg(long, value_name = "URL", requires = "kind")]
    clickhouse_url: Option<String>,
    /// Cluster target: the port-forwarded OpenID provider (for the oauth fixtures).
    #[arg(long, value_name = "URL", requires = "kind")]
    oidc_url: Option<String>,
    /// Cluster target: the port-forwarded platform API (for `api:` steps).
    #[arg(long, value_name = "URL", requires = "kind")]
    platform_url: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("mcp-e2e: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(1),
        Err(err) => {
            eprintln!("mcp-e2e: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(cli: Cli) -> Result<usize> {
    let stack_file = scenario::StackFile::load(&cli.dir)?;
    // Placeholders (the OpenID provider's URL) only matter once the stack starts.
    let placeholders = [("OIDC_ISSUER", "http://127.0.0.1:1".to_string())].into();
    let fixtures = stack::Fixtures::load(&cli.dir, &stack_file.fixtures, &placeholders)?;
    let mut servers = fixtures.server_names();
    if let Some(platform) = &stack_file.platform {
        servers.extend(platform.slots.iter().map(|s| s.server.clone()));
    }
    let dir = cli.scenarios_dir.clone().unwrap_or_else(|| cli.dir.join("scenarios"));
    let all = scenario::load_scenarios(&dir, &stack_file, &servers)?;
    if cli.list {
        for s in &all {
            println!(
                "{:<14} {:>3} steps  {}  ({})",
                s.name,
                s.steps.len(),
                s.description.trim(),
                s.file.display()
            );
        }
        return Ok(0);
    }
    let selected: Vec<scenario::Scenario> = if cli.scenarios.is_empty() || cli.scenarios == ["all"] {
        all
    } else {
        let mut picked = Vec::new();
        for name in &cli.scenarios {
            match all.iter().find(|s| &s.name == name) {
                Some(s) => picked.push(s.clone()),
                None => {
                    let known: Vec<&str> = all.iter().map(|s| s.name.as_str()).collect();
                    bail!("unknown scenario {name:?} (known: {})", known.join(", "));
                }
            }
        }
        picked
    };
    let selected: Vec<scenario::Scenario> = selected
        .into_iter()
        .filter(|s| match (&s.local_only, cli.kind) {
            (Some(why), true) => {
                eprintln!("skipping scenario {} on the cluster target: {why}", s.name);
                false
            }
            _ => true,
        })
        .collect();
    let bin_dir = match &cli.bin_dir {
        Some(dir) => dir.clone(),
        None => std::env::current_exe()?.parent().context("binary directory")?.to_path_buf(),
    };
    let bins = stack::Binaries {
        gateway: bin_dir.join("mcp-gateway"),
        example_server: bin_dir.join("mcp-example-server"),
        traefik: cli.traefik.clone(),
        node: cli.node.clone(),
        oidc_modules: cli.oidc_modules.clone(),
        sentinel: bin_dir.join("mcp-sentinel"),
        platform: bin_dir.join("mcp-platform"),
    };
    if cli.artifacts.exists() {
        std::fs::remove_dir_all(&cli.artifacts)
            .with_context(|| format!("clear the artifacts directory {}", cli.artifacts.display()))?;
    }
    std::fs::create_dir_all(&cli.artifacts)?;
    let mut stack = if cli.kind {
        let target = stack::ClusterTarget {
            ingress: cli.ingress.clone().context("--kind needs --ingress (the port-forwarded Traefik)")?,
            clickhouse_url: cli
                .clickhouse_url
                .clone()
                .context("--kind needs --clickhouse-url (the port-forwarded ClickHouse)")?,
            oidc_url: cli.oidc_url.clone(),
            platform_url: cli.platform_url.clone(),
            verify_gateways: true,
        };
        println!(
            "applying the fixtures to the cluster ({})",
            cli.context.as_deref().unwrap_or("current context")
        );
        let cluster = cluster::Cluster::connect(cli.context.as_deref()).await?;
        stack::Stack::start_cluster(&cli.dir, &stack_file, cluster, &target).await?
    } else {
        println!("starting the stack (logs in {})", cli.artifacts.join("logs").display());
        stack::Stack::start(&cli.dir, &stack_file, &bins, &cli.artifacts).await?
    };
    println!("ingress http://{}", stack.ingress);
    for (name, served) in &stack.servers {
        match &served.local {
            Some(local) => println!(
                "  {name:<20} http://{}{}/mcp  (gateway {}, admin {}, app {})",
                stack.ingress, served.prefix, local.gateway, local.admin, local.app
            ),
            None => println!("  {name:<20} {} (through http://{})", served.url, stack.ingress),
        }
    }
    let cli_env = run::CliEnv { bin: bin_dir.join("mcp-runtime"), dir: cli.artifacts.join("cli") };
    let mut results = run::run_all(&mut stack, &selected, &cli_env).await;
    results.push(run::check_try_kit(&mut stack, &cli.artifacts).await);
    let failed = run::summary(&results);
    let junit = cli.artifacts.join("junit.xml");
    run::write_junit(&junit, &results)?;
    println!("report: {}", junit.display());
    if cli.keep_running {
        print_where_to_look(&stack, &cli.artifacts);
        let _ = tokio::signal::ctrl_c().await;
        println!("stopping the stack");
    }
    if let Err(err) = stack.cleanup().await {
        eprintln!("mcp-e2e: cleaning up the cluster: {err:#}");
    }
    stack.stop();
    Ok(failed)
}

/// What `--keep-running` prints: how to make a governed call by hand and where its audit
/// events, logs and policies are.
fn print_where_to_look(stack: &stack::Stack, artifacts: &std::path::Path) {
    let script = artifacts.join("try.sh");
    println!("\nthe stack stays up; Ctrl-C stops it (every process, by PID)");
    println!("\nmake a governed call (tokens valid 12 h in {}):", artifacts.join("tokens").display());
    let show = |args: &str, what: &str| println!("  bash {} {args:<40} # {what}", script.display());
    show("ops aaa-ping", "allowed: pong");
    show("ops add '{\"a\": 7, \"b\": 5}'", "denied: tool_not_granted");
    show("ops upper '{\"text\": \"hi\"}'", "denied: trust_too_low (needs medium)");
    show("ops-no-session aaa-ping", "denied: missing_session");
    show("bob aaa-ping", "denied: session_not_found");
    println!("  (then edit a fixture in e2e/fixtures and run the scenarios again: cargo xtask e2e)");
    if let Some(url) = stack.clickhouse_url() {
        println!("\naudit events (ClickHouse; rows appear about a second after each call):");
        println!(
            "  curl -s '{url}/' --data-binary 'SELECT timestamp, agent_id, tool_name, decision, reason \\\n    FROM mcp.events FINAL ORDER BY timestamp DESC LIMIT 10 FORMAT PrettyCompact'"
        );
    }
    println!("\nlogs of every process: {}", artifacts.join("logs").display());
    println!("rendered policies:     {}", artifacts.join("policies").display());
    println!("scenario report:       {}", artifacts.join("junit.xml").display());
}
