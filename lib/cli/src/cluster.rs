//! `mcp-runtime setup` and `mcp-runtime doctor`: installing the platform into a cluster and
//! checking an installation. The Kubernetes work is `mcp_cluster`'s; this module parses flags,
//! asks the platform (health, readiness, components) and prints.

use std::path::PathBuf;
use std::time::Duration;

use mcp_cluster::{Check, Status, Target};
use mcp_platform_client::{Client, ClientError, Credential};
use serde_json::Value;

use crate::cli::Ctx;
use crate::error::CliError;

use crate::platform::{Format, OutputArgs, Platform, Settings, Table, print, runtime};

/// The field manager of everything `setup` applies.
const FIELD_MANAGER: &str = "mcp-runtime-setup";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum TargetArg {
    /// A local Kind cluster for tests (needs --test-mode)
    Kind,
    /// A single k3s node
    K3s,
    /// Amazon EKS
    Eks,
}

impl From<TargetArg> for Target {
    fn from(t: TargetArg) -> Target {
        match t {
            TargetArg::Kind => Target::Kind,
            TargetArg::K3s => Target::K3s,
            TargetArg::Eks => Target::Eks,
        }
    }
}

/// `setup`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  mcp-runtime setup --target k3s --dry-run > install.yaml\n  \
mcp-runtime setup --target kind --test-mode --context kind-mcp-runtime\n  \
mcp-runtime setup -f install.yaml --wait 600\n\n\
Objects are applied with server-side apply (field manager mcp-runtime-setup) in dependency order:\n\
CRDs, namespaces, RBAC, configuration, services, workloads, webhooks. Running it again changes\n\
nothing that is already as rendered. Exit status: 0 installed (and ready), 1 refused or not ready\n\
in time, 2 usage.")]
pub(crate) struct SetupArgs {
    /// The overlay of deploy/ to install
    #[arg(long, value_enum, default_value = "k3s")]
    target: TargetArg,
    /// The deploy directory of an MCP Runtime checkout (holding base/, kind/, k3s/, eks/);
    /// rendered with `kubectl kustomize`
    #[arg(long, value_name = "DIR", default_value = "deploy")]
    deploy_dir: PathBuf,
    /// Apply these already rendered manifests (YAML documents) instead of an overlay
    #[arg(short = 'f', long, value_name = "FILE", conflicts_with = "deploy_dir")]
    file: Option<PathBuf>,
    /// Install the test overlay (generated test secrets, images from the local registry);
    /// required for --target kind, refused for the others
    #[arg(long)]
    test_mode: bool,
    /// Print the objects in apply order (YAML) and change nothing
    #[arg(long)]
    dry_run: bool,
    /// Kubeconfig context (default: the current one; KUBECONFIG is honoured)
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
    /// Seconds to wait for the Deployments and StatefulSets to become ready (0: do not wait)
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    wait: u64,
}

/// `doctor`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  mcp-runtime doctor\n  mcp-runtime doctor --no-cluster -o json\n\n\
Checks the platform (health, readiness and, signed in as an administrator, its store, runtime\n\
backend, analytics store and audit delivery) and the cluster (CRDs, operator, platform, ingress,\n\
sentinel workloads, MCPServer readiness, team network policies). Each check prints pass, warn or\n\
fail with a hint. Exit status: 0 no check failed, 1 a check failed, 2 usage.")]
pub(crate) struct DoctorArgs {
    /// Skip the cluster checks (a platform without Kubernetes, such as `mcp-runtime dev`)
    #[arg(long)]
    no_cluster: bool,
    /// Skip the platform checks
    #[arg(long)]
    no_platform: bool,
    /// Kubeconfig context (default: the current one; KUBECONFIG is honoured)
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

async fn kube_client(context: Option<&str>) -> Result<kube::Client, String> {
    let options =
        kube::config::KubeConfigOptions { context: context.map(str::to_string), ..Default::default() };
    let config = match kube::Config::from_kubeconfig(&options).await {
        Ok(config) => config,
        Err(e) if context.is_some() => return Err(format!("kubeconfig context {context:?}: {e}")),
        Err(_) => kube::Config::infer().await.map_err(|e| format!("no Kubernetes configuration: {e}"))?,
    };
    kube::Client::try_from(config).map_err(|e| format!("cannot build a Kubernetes client: {e}"))
}

pub(crate) fn setup(args: SetupArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let target = Target::from(args.target);
    if args.file.is_none() {
        if target.test_only() && !args.test_mode {
            return Err(CliError::Cluster(format!(
                "the {} overlay carries test secrets; pass --test-mode to install it",
                target.dir()
            )));
        }
        if !target.test_only() && args.test_mode {
            return Err(CliError::Cluster(format!(
                "--test-mode installs the test overlay (--target kind), not {}",
                target.dir()
            )));
        }
    }
    let objects = match &args.file {
        Some(file) => mcp_cluster::manifests::read(&ctx.path(file)),
        None => mcp_cluster::render(&ctx.path(&args.deploy_dir).join(target.dir())),
    }
    .map_err(|e| CliError::Cluster(e.to_string()))?;
    let objects = mcp_cluster::order(objects);
    if args.dry_run {
        for object in &objects {
            let text = serde_saphyr::to_string(object).map_err(|e| CliError::Encode {
                what: mcp_cluster::describe(object),
                message: e.to_string(),
            })?;
            ctx.out.write_all(format!("---\n{text}").as_bytes())?;
        }
        writeln!(ctx.err, "{} object(s) would be applied (dry run: nothing changed)", objects.len())?;
        return Ok(());
    }
    let rt = runtime()?;
    let client = rt.block_on(kube_client(args.context.as_deref())).map_err(CliError::Cluster)?;
    let applied = rt
        .block_on(mcp_cluster::apply(&client, &objects, FIELD_MANAGER))
        .map_err(|e| CliError::Cluster(e.to_string()))?;
    for a in &applied {
        writeln!(ctx.out, "{:<10} {}", a.outcome, a.object)?;
    }
    if args.wait == 0 {
        writeln!(ctx.err, "{} object(s) applied; not waiting for the workloads (--wait 0)", applied.len())?;
        return Ok(());
    }
    writeln!(
        ctx.err,
        "{} object(s) applied; waiting up to {} s for the workloads",
        applied.len(),
        args.wait
    )?;
    let waiting = rt
        .block_on(mcp_cluster::wait_ready(&client, &objects, Duration::from_secs(args.wait)))
        .map_err(|e| CliError::Cluster(format!("cannot read the workloads: {e}")))?;
    if waiting.is_empty() {
        writeln!(ctx.err, "every workload is ready")?;
        return Ok(());
    }
    let list: Vec<String> = waiting.iter().map(|w| format!("{} ({})", w.object, w.message)).collect();
    Err(CliError::Cluster(format!(
        "not ready after {} s: {} — see `mcp-runtime doctor`",
        args.wait,
        list.join(", ")
    )))
}

pub(crate) fn doctor(args: DoctorArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let rt = runtime()?;
    let mut checks = Vec::new();
    if !args.no_platform {
        checks.extend(platform_checks(ctx, &rt));
    }
    if !args.no_cluster {
        match rt.block_on(kube_client(args.context.as_deref())) {
            Ok(client) => checks.extend(rt.block_on(mcp_cluster::cluster_checks(&client))),
            Err(why) => checks.push(Check::warn(
                "cluster.api",
                format!("{why}; cluster checks skipped"),
                "set KUBECONFIG or --context, or pass --no-cluster for a platform without Kubernetes",
            )),
        }
    }
    let failed = checks.iter().filter(|c| c.status == Status::Fail).count();
    print(ctx, args.output.format, &checks, || {
        let mut t = Table::new(&["STATUS", "CHECK", "DETAIL"]);
        for c in &checks {
            let mut detail = c.detail.clone();
            if let Some(hint) = &c.hint {
                detail.push_str(&format!(" — fix: {hint}"));
            }
            t.row(vec![c.status.as_str().to_string(), c.name.clone(), detail]);
        }
        t
    })?;
    if args.output.format == Format::Table {
        let warned = checks.iter().filter(|c| c.status == Status::Warn).count();
        writeln!(
            ctx.err,
            "{} checks: {} passed, {warned} warned, {failed} failed",
            checks.len(),
            checks.len() - warned - failed
        )?;
    }
    if failed > 0 {
        return Err(CliError::ChecksFailed { failed });
    }
    Ok(())
}

/// The platform's health and readiness (anonymous), then its components (administrators).
fn platform_checks(ctx: &Ctx<'_>, rt: &tokio::runtime::Runtime) -> Vec<Check> {
    let url = Settings::load(ctx)
        .ok()
        .and_then(|s| ctx.env.api_url.clone().or_else(|| s.current().map(|p| p.api_url.clone())))
        .filter(|u| !u.is_empty());
    let Some(url) = url else {
        return vec![Check::warn(
            "platform.configured",
            "no platform URL (no profile signed in, no MCP_PLATFORM_API_URL); platform checks skipped",
            "mcp-runtime auth login --api-url https://platform.example.com",
        )];
    };
    let anonymous = match Client::new(&url, Credential::None) {
        Ok(c) => c,
        Err(e) => {
            return vec![Check::fail(
                "platform.reachable",
                e.to_string(),
                "fix the platform URL of the profile",
            )];
        }
    };
    let mut checks = Vec::new();
    match rt.block_on(anonymous.health()) {
        Ok(_) => checks.push(Check::pass("platform.reachable", format!("{url} answers /health"))),
        Err(e) => {
            checks.push(Check::fail(
                "platform.reachable",
                format!("{url}: {e}"),
                "is the platform running and the URL right? (mcp-runtime auth status; MCP_PLATFORM_API_URL)",
            ));
            return checks;
        }
    }
    match rt.block_on(anonymous.ready()) {
        Ok(_) => checks.push(Check::pass("platform.ready", "ready")),
        Err(e) => checks.push(Check::fail(
            "platform.ready",
            format!("not ready: {e}"),
            "the platform's log says which dependency it waits for (database, runtime backend)",
        )),
    }
    let platform = match Platform::connect(ctx) {
        Ok(p) => p,
        Err(_) => {
            checks.push(Check::warn(
                "platform.components",
                "not signed in: the store, runtime backend, analytics and audit checks need an administrator",
                "mcp-runtime auth login --email <admin>",
            ));
            return checks;
        }
    };
    match platform.rt.block_on(platform.client.components()) {
        Ok(report) => checks.extend(component_checks(&report)),
        Err(ClientError::Api { status: 403, .. }) => checks.push(Check::warn(
            "platform.components",
            "signed in, but not as an administrator: component checks skipped",
            "sign in as an administrator to check the store, runtime, analytics and audit",
        )),
        Err(e) => checks.push(Check::fail("platform.components", e.to_string(), "check the platform's log")),
    }
    checks
}

/// One check per item of `GET /api/v1/admin/components`.
fn component_checks(report: &Value) -> Vec<Check> {
    let items = report["items"].as_array().cloned().unwrap_or_default();
    items
        .iter()
        .map(|item| {
            let component = item["component"].as_str().unwrap_or("unknown");
            let name = format!("platform.{component}");
            let detail = item["detail"].to_string();
            match item["status"].as_str() {
                Some("ok") => Check::pass(&name, detail),
                Some("not_configured") => Check::warn(
                    &name,
                    format!("not configured ({detail})"),
                    match component {
                        "analytics" => "set PLATFORM_CLICKHOUSE_URL so the platform can read audit events",
                        "audit" => "set ANALYTICS_INGEST_URL so the platform's own actions are audited",
                        _ => "see docs/platform.md for the setting",
                    },
                ),
                _ => Check::fail(
                    &name,
                    format!("down: {detail}"),
                    match component {
                        "store" => "the database is unreachable or its schema is behind: check PLATFORM_DATABASE_URL and the platform's log",
                        "runtime" => "the runtime backend cannot reach the Kubernetes API (RBAC: deploy/base/platform-rbac) or its policy directory",
                        "analytics" => "ClickHouse does not answer: check the mcp-sentinel/clickhouse StatefulSet and PLATFORM_CLICKHOUSE_URL",
                        "signing_keys" => "no signing key is published: check PLATFORM_DATA_DIR and the platform's log",
                        _ => "check the platform's log",
                    },
                ),
            }
        })
        .collect()
}
