//! `cargo xtask bench cli`: how long the `mcp-runtime` command takes as a whole process, cold
//! (release build): `--help` and `--version` against starting `true` (the cost of any process
//! here), and `server list` against an embedded platform (SQLite) next to `curl` making the
//! same request with the same token. Writes the `bench:cli` section of docs/benchmarks.md.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use duct::cmd;
use serde_json::{Value, json};

use super::{stamp, write_section};
use crate::util::{project_root, target_dir};

const RUNS: usize = 300;
const ADMIN_EMAIL: &str = "bench@cli.local";
const ADMIN_PASSWORD: &str = "bench-Cli-passw0rd";

/// Stops the platform by PID when dropped.
struct Platform(Child);

impl Drop for Platform {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run() -> Result<()> {
    let root = project_root();
    cmd!("cargo", "build", "--release", "--locked", "-p", "mcp-runtime", "-p", "mcp-platform-bin")
        .dir(&root)
        .run()
        .context("bench cli: build")?;
    let release = target_dir()?.join("release");
    let cli = release.join("mcp-runtime");
    let dir = tempdir()?;
    let (_platform, url) = start_platform(&release.join("mcp-platform"), &dir)?;
    let token = login(&url)?;
    // A few servers so the list has rows to print.
    let config = dir.join("cli-home");
    std::fs::create_dir_all(&config)?;
    let env = |c: &mut Command| {
        c.env("MCP_RUNTIME_CONFIG_DIR", &config)
            .env("MCP_PLATFORM_API_URL", &url)
            .env("MCP_PLATFORM_API_TOKEN", &token)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
    };
    let list = [cli.to_str().unwrap_or_default(), "server", "list", "-o", "json"];
    let check = Command::new(list[0]).args(&list[1..]).envs(envs(&config, &url, &token)).output()?;
    if !check.status.success() {
        bail!(
            "bench cli: `mcp-runtime server list` failed: {}",
            String::from_utf8_lossy(&check.stderr).trim()
        );
    }
    let bearer = format!("authorization: Bearer {token}");
    let servers = format!("{url}/api/v1/runtime/servers");
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("true (process start)", vec!["true".into()]),
        ("mcp-runtime --help", vec![cli.display().to_string(), "--help".into()]),
        ("mcp-runtime --version", vec![cli.display().to_string(), "--version".into()]),
        ("curl GET /api/v1/runtime/servers", vec!["curl".into(), "-sf".into(), "-H".into(), bearer, servers]),
        ("mcp-runtime server list -o json", list.iter().map(|s| s.to_string()).collect()),
    ];
    // Interleaved: one run of each case per round, so drift on the machine hits all alike.
    let mut samples: Vec<Vec<Duration>> = vec![Vec::with_capacity(RUNS); cases.len()];
    for _ in 0..RUNS {
        for (i, (_, argv)) in cases.iter().enumerate() {
            let mut c = Command::new(&argv[0]);
            c.args(&argv[1..]);
            env(&mut c);
            let started = Instant::now();
            let status = c.status().with_context(|| format!("run {}", argv[0]))?;
            samples[i].push(started.elapsed());
            if !status.success() {
                bail!("bench cli: {} failed ({status})", argv.join(" "));
            }
        }
    }
    let mut report = json!({"runs": RUNS, "cases": []});
    for ((name, _), mut times) in cases.iter().zip(samples) {
        times.sort();
        let q = |p: f64| times[((times.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3;
        report["cases"].as_array_mut().context("cases")?.push(json!({
            "name": name, "median_ms": q(0.5), "p90_ms": q(0.9), "p99_ms": q(0.99),
        }));
    }
    stamp(&mut report);
    let _ = std::fs::remove_dir_all(&dir);
    write_section(&root.join("docs/benchmarks.md"), "cli", &section(&report))
}

fn envs(config: &Path, url: &str, token: &str) -> Vec<(String, String)> {
    vec![
        ("MCP_RUNTIME_CONFIG_DIR".into(), config.display().to_string()),
        ("MCP_PLATFORM_API_URL".into(), url.into()),
        ("MCP_PLATFORM_API_TOKEN".into(), token.into()),
    ]
}

fn tempdir() -> Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("mcp-bench-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// The platform on its embedded store (SQLite) with one administrator and three servers.
fn start_platform(bin: &Path, dir: &Path) -> Result<(Platform, String)> {
    let port = free_port()?;
    let url = format!("http://127.0.0.1:{port}");
    let env = |c: &mut Command| {
        c.env("PLATFORM_LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("PLATFORM_DATABASE_URL", format!("sqlite://{}/platform.db?mode=rwc", dir.display()))
            .env("PLATFORM_DATA_DIR", dir.join("data"))
            .env("PLATFORM_RUNTIME", "local")
            .env("PLATFORM_POLICY_DIR", dir.join("policies"))
            .env("PLATFORM_MCP_HOST", "mcp.bench.local")
            .env("RUST_LOG", "warn");
    };
    let mut admin = Command::new(bin);
    admin
        .args(["admin", "create", "--email", ADMIN_EMAIL])
        .env("MCP_PLATFORM_ADMIN_PASSWORD", ADMIN_PASSWORD);
    env(&mut admin);
    let out = admin.output().context("mcp-platform admin create")?;
    if !out.status.success() {
        bail!("mcp-platform admin create: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    let mut serve = Command::new(bin);
    serve.arg("serve").stdout(Stdio::null()).stderr(Stdio::null());
    env(&mut serve);
    let platform = Platform(serve.spawn().context("mcp-platform serve")?);
    let deadline = Instant::now() + Duration::from_secs(60);
    while cmd!("curl", "-sf", format!("{url}/ready")).stdout_null().run().is_err() {
        if Instant::now() > deadline {
            bail!("the platform is not ready after 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok((platform, url))
}

/// Signs in and publishes three servers; returns the access token.
fn login(url: &str) -> Result<String> {
    let body = json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}).to_string();
    let out = cmd!(
        "curl",
        "-sf",
        "-H",
        "content-type: application/json",
        "-d",
        body,
        format!("{url}/api/v1/auth/login")
    )
    .read()
    .context("sign in")?;
    let token =
        serde_json::from_str::<Value>(&out)?["access_token"].as_str().context("access_token")?.to_string();
    let auth = format!("authorization: Bearer {token}");
    let team = json!({"name": "bench", "display_name": "Bench"}).to_string();
    cmd!(
        "curl",
        "-sf",
        "-H",
        &auth,
        "-H",
        "content-type: application/json",
        "-d",
        team,
        format!("{url}/api/v1/teams")
    )
    .stdout_null()
    .run()
    .context("create the team")?;
    for i in 0..3 {
        let server =
            json!({"team": "bench", "name": format!("tools-{i}"), "spec": {"image": "registry.local/tools",
            "tools": [{"name": "echo", "sideEffect": "read"}]}})
            .to_string();
        cmd!(
            "curl",
            "-sf",
            "-H",
            &auth,
            "-H",
            "content-type: application/json",
            "-d",
            server,
            format!("{url}/api/v1/runtime/servers")
        )
        .stdout_null()
        .run()
        .context("publish a server")?;
    }
    Ok(token)
}

fn section(r: &Value) -> String {
    let mut s = String::from("## CLI cold start (`cargo xtask bench cli`)\n\n");
    s.push_str(&format!(
        "Measured {} on {} ({} cores, {}), release build: the whole `mcp-runtime` process, started {} times \
per case, the cases interleaved round by round. Baselines from the same run: starting `true` (what any \
process costs here) for `--help`/`--version`, and `curl` making the same authenticated request for \
`server list` (against `mcp-platform` on its embedded SQLite store with 3 servers).\n\n\
| command | median | p90 | p99 | median vs baseline |\n|---|---:|---:|---:|---:|\n",
        r["date"].as_str().unwrap_or("?"),
        r["cpu"].as_str().unwrap_or("unknown CPU"),
        r["cores"].as_u64().unwrap_or(0),
        r["rustc"].as_str().unwrap_or("?"),
        r["runs"],
    ));
    let cases = r["cases"].as_array().cloned().unwrap_or_default();
    let median = |name: &str| {
        cases.iter().find(|c| c["name"] == name).and_then(|c| c["median_ms"].as_f64()).unwrap_or(f64::NAN)
    };
    let (process, curl) = (median("true (process start)"), median("curl GET /api/v1/runtime/servers"));
    for c in &cases {
        let name = c["name"].as_str().unwrap_or("?");
        let m = c["median_ms"].as_f64().unwrap_or(f64::NAN);
        let base = if name.contains("server list") { curl } else { process };
        let ratio = if name.starts_with("true") || name.starts_with("curl") {
            "baseline".into()
        } else {
            format!("{:.2}×", m / base)
        };
        s.push_str(&format!(
            "| `{name}` | {m:.2} ms | {:.2} ms | {:.2} ms | {ratio} |\n",
            c["p90_ms"].as_f64().unwrap_or(f64::NAN),
            c["p99_ms"].as_f64().unwrap_or(f64::NAN),
        ));
    }
    let help = median("mcp-runtime --help");
    s.push_str(&format!(
        "\nGoal: `--help` ≤ 10 ms — measured {help:.2} ms median ({}).\n",
        if help <= 10.0 { "met" } else { "NOT met" }
    ));
    s
}
