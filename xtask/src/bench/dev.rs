//! `cargo xtask bench dev`: `mcp-runtime dev` (release) as a user meets it.
//!
//! - Start to ready (the welcome printed): a first start on an empty data directory and a
//!   restart on the same one, next to starting `mcp-runtime --version` (any process's cost).
//! - A governed `tools/call` through the dev route (in-process gateway, durable audit into the
//!   embedded store) against the same call through the `mcp-gateway` binary as a sidecar in front
//!   of `mcp-example-server` (same policy file, same token, audit to a discarding sink), and the
//!   example server called directly: `oha` at 1,000/s, interleaved rounds, same run.
//! - Memory of the dev process: idle, and the largest sample under that load.
//! - Revocation: the demo session revoked through the API → the first call refused.
//! - Analytics query times with 1,000,000 events in the embedded store against 10,000 events
//!   (`cargo bench -p mcp-eventstore --bench queries`).
//!
//! Writes the `bench:dev` section of docs/benchmarks.md.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use duct::cmd;
use serde_json::{Value, json};

use super::{stamp, write_section};
use crate::util::{project_root, target_dir};

const STARTS: usize = 5;
const ROUNDS: usize = 2;
const SECONDS: u64 = 10;
use super::oha::{CONNECTIONS, RATE};

/// A process stopped when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A started `mcp-runtime dev`: the process, its URL and the printed token.
struct Dev {
    proc: Proc,
    url: String,
    token: String,
    ready: Duration,
}

fn start_dev(bin: &Path, data: &Path) -> Result<Dev> {
    let started = Instant::now();
    let mut child = Command::new(bin)
        .args(["dev", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("bench dev: start mcp-runtime dev")?;
    let out = child.stdout.take().context("stdout")?;
    let proc = Proc(child);
    let (mut url, mut token) = (String::new(), String::new());
    for line in BufReader::new(out).lines() {
        let line = line?;
        if let Some(u) = line.trim().strip_prefix("Dashboard and API:") {
            url = u.trim().trim_end_matches('/').to_string();
        }
        if let Some(rest) = line.split("Bearer ").nth(1) {
            token = rest.split('\'').next().unwrap_or_default().to_string();
        }
        if line.starts_with("Data directory:") {
            let ready = started.elapsed();
            return Ok(Dev { proc, url, token, ready });
        }
    }
    bail!("bench dev: mcp-runtime dev exited before it was ready")
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_http(url: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while cmd!("curl", "-s", "-o", "/dev/null", url)
        .unchecked()
        .run()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        if Instant::now() > deadline {
            bail!("bench dev: {url} did not answer");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn call_body() -> String {
    json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "add", "arguments": {"a": 2, "b": 3}}})
        .to_string()
}

fn oha(oha: &Path, url: &str, token: Option<&str>) -> Result<Value> {
    let mut headers: Vec<(String, String)> = [
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
        ("mcp-protocol-version", "2025-06-18"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(t) = token {
        headers.push(("authorization".into(), format!("Bearer {t}")));
    }
    let run = super::oha::run_oha_with(oha, url, &headers, SECONDS, &call_body())?;
    let s = super::oha::summarize(&run);
    Ok(json!({"p50_ms": s["p50_ms"], "p99_ms": s["p99_ms"], "ok": s["ok"], "other": s["other_status"]}))
}

/// One authenticated platform call with curl; (status, body).
fn api(url: &str, key: &str, method: &str, path: &str) -> Result<(u16, String)> {
    let out = cmd!(
        "curl",
        "-s",
        "-X",
        method,
        "-w",
        "\n%{http_code}",
        "-H",
        format!("authorization: Bearer {key}"),
        format!("{url}{path}")
    )
    .stdout_capture()
    .unchecked()
    .run()?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    Ok((code.trim().parse().unwrap_or(0), body.to_string()))
}

fn governed_status(url: &str, token: &str) -> u16 {
    let out = cmd!(
        "curl",
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-X",
        "POST",
        url,
        "-H",
        "content-type: application/json",
        "-H",
        "accept: application/json, text/event-stream",
        "-H",
        format!("authorization: Bearer {token}"),
        "-d",
        call_body()
    )
    .stdout_capture()
    .unchecked()
    .run();
    out.ok().and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok()).unwrap_or(0)
}

pub fn run() -> Result<()> {
    let root = project_root();
    cmd!(
        "cargo",
        "build",
        "--release",
        "--locked",
        "-p",
        "mcp-runtime",
        "-p",
        "mcp-gateway-bin",
        "-p",
        "mcp-example-server"
    )
    .dir(&root)
    .run()
    .context("bench dev: build")?;
    let release = target_dir()?.join("release");
    let (cli, gateway, example) =
        (release.join("mcp-runtime"), release.join("mcp-gateway"), release.join("mcp-example-server"));
    let oha_bin = super::oha::install()?;
    let work = std::env::temp_dir().join(format!("mcp-dev-bench-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let result = measure(&cli, &gateway, &example, &oha_bin, &work);
    let _ = std::fs::remove_dir_all(&work);
    let mut report = result?;
    // Analytics with 1,000,000 events.
    let out = work.with_extension("queries.json");
    cmd!("cargo", "bench", "--locked", "-p", "mcp-eventstore", "--bench", "queries")
        .dir(&root)
        .env("MCP_BENCH_OUT", &out)
        .run()
        .context("bench dev: cargo bench -p mcp-eventstore")?;
    report["queries"] = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
    let _ = std::fs::remove_file(&out);
    stamp(&mut report);
    write_section(&root.join("docs/benchmarks.md"), "dev", &section(&report))
}

fn measure(cli: &Path, gateway: &Path, example: &Path, oha_bin: &Path, work: &Path) -> Result<Value> {
    // Start to ready.
    let mut version = Vec::new();
    for _ in 0..STARTS {
        let t = Instant::now();
        cmd!(cli, "--version").stdout_null().run()?;
        version.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let (mut first, mut again) = (Vec::new(), Vec::new());
    for i in 0..STARTS {
        let data = work.join(format!("start-{i}"));
        first.push(start_dev(cli, &data)?.ready.as_secs_f64() * 1000.0);
        again.push(start_dev(cli, &data)?.ready.as_secs_f64() * 1000.0);
    }

    // The dev process under test, the sidecar and the example server.
    let data = work.join("dev");
    let dev = start_dev(cli, &data)?;
    let pid = dev.proc.0.id();
    std::thread::sleep(Duration::from_secs(2));
    let rss_idle = rss_mib(pid);
    let app_port = free_port()?;
    let _app = Proc(
        Command::new(example)
            .args(["--stateless", "--listen", &format!("127.0.0.1:{app_port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_http(&format!("http://127.0.0.1:{app_port}/healthz"))?;
    let (gw_port, admin_port) = (free_port()?, free_port()?);
    let policy = data.join("policies/mcp-team-demo/demo.json");
    let _sidecar = Proc(
        Command::new(gateway)
            .env("LISTEN_ADDR", format!("127.0.0.1:{gw_port}"))
            .env("ADMIN_LISTEN_ADDR", format!("127.0.0.1:{admin_port}"))
            .env("UPSTREAM_URL", format!("http://127.0.0.1:{app_port}/mcp"))
            .env("STRIP_PREFIX", "/demo/mcp")
            .env("POLICY_FILE", &policy)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?,
    );
    wait_http(&format!("http://127.0.0.1:{admin_port}/ready"))?;
    let targets = [
        ("direct", format!("http://127.0.0.1:{app_port}/mcp"), None),
        ("sidecar", format!("http://127.0.0.1:{gw_port}/demo/mcp"), Some(dev.token.as_str())),
        ("dev", format!("{}/demo/mcp", dev.url), Some(dev.token.as_str())),
    ];
    let mut runs: std::collections::BTreeMap<&str, Vec<Value>> = std::collections::BTreeMap::new();
    let mut rss_load: f64 = 0.0;
    for _ in 0..ROUNDS {
        for (name, url, token) in &targets {
            let sampling = *name == "dev";
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let sampler = sampling.then(|| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut top: f64 = 0.0;
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        top = top.max(rss_mib(pid));
                        std::thread::sleep(Duration::from_millis(200));
                    }
                    top
                })
            });
            let r = oha(oha_bin, url, *token)?;
            stop.store(true, std::sync::atomic::Ordering::SeqCst);
            if let Some(s) = sampler {
                rss_load = rss_load.max(s.join().unwrap_or(0.0));
            }
            runs.entry(name).or_default().push(r);
        }
    }
    let summary = |name: &str| {
        let rs = runs.get(name).cloned().unwrap_or_default();
        json!({
            "p50_ms": median(rs.iter().filter_map(|r| r["p50_ms"].as_f64()).collect()),
            "p99_ms": median(rs.iter().filter_map(|r| r["p99_ms"].as_f64()).collect()),
            "ok": rs.iter().filter_map(|r| r["ok"].as_u64()).sum::<u64>(),
            "other": rs.iter().filter_map(|r| r["other"].as_u64()).sum::<u64>(),
        })
    };

    // Revocation → the first refused call, through the dev route.
    let key = std::fs::read_to_string(data.join("admin-api-key"))?.trim().to_string();
    let (_, sessions) = api(&dev.url, &key, "GET", "/api/v1/runtime/sessions?server=demo")?;
    let sessions: Value = serde_json::from_str(&sessions).unwrap_or_default();
    let session = sessions["items"]
        .as_array()
        .and_then(|i| i.iter().find_map(|s| s["session"]["metadata"]["name"].as_str()))
        .context("bench dev: the demo session")?
        .to_string();
    let route = format!("{}/demo/mcp", dev.url);
    let mut revoke_ms = Vec::new();
    for _ in 0..5 {
        api(&dev.url, &key, "POST", &format!("/api/v1/runtime/sessions/demo/{session}/revoke"))?;
        let t = Instant::now();
        while governed_status(&route, &dev.token) == 200 && t.elapsed() < Duration::from_secs(5) {}
        revoke_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        api(&dev.url, &key, "POST", &format!("/api/v1/runtime/sessions/demo/{session}/unrevoke"))?;
        let t = Instant::now();
        while governed_status(&route, &dev.token) != 200 && t.elapsed() < Duration::from_secs(5) {}
    }
    Ok(json!({
        "start": {"version_ms": median(version), "first_ms": median(first.clone()), "restart_ms": median(again.clone()),
                  "first_runs": first, "restart_runs": again},
        "calls": {"direct": summary("direct"), "sidecar": summary("sidecar"), "dev": summary("dev")},
        "rss": {"idle_mib": rss_idle, "load_mib": rss_load},
        "revoke_ms": revoke_ms,
    }))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn section(r: &Value) -> String {
    let mut s = String::new();
    s.push_str("## `mcp-runtime dev` (`cargo xtask bench dev`)\n\n");
    s.push_str(&format!(
        "Measured {} on {} ({} cores, {}), release binaries, everything on the same 2 CPUs.\n\n",
        r["date"].as_str().unwrap_or("?"),
        r["cpu"].as_str().unwrap_or("?"),
        r["cores"].as_u64().unwrap_or(0),
        r["rustc"].as_str().unwrap_or("?")
    ));
    let st = &r["start"];
    s.push_str(&format!(
        "**Start to ready** (the welcome printed; median of {STARTS}): first start on an empty data directory \
         {:.0} ms, restart on it {:.0} ms; `mcp-runtime --version` {:.1} ms (baseline: any process's start), so \
         ready is {:.0}× / {:.0}× a bare start. Goal ≤ 2 s after the build: {}.\n\n",
        f(&st["first_ms"]),
        f(&st["restart_ms"]),
        f(&st["version_ms"]),
        f(&st["first_ms"]) / f(&st["version_ms"]),
        f(&st["restart_ms"]) / f(&st["version_ms"]),
        if f(&st["first_ms"]) <= 2000.0 && f(&st["restart_ms"]) <= 2000.0 { "met" } else { "NOT met" }
    ));
    let c = &r["calls"];
    let d = f(&c["direct"]["p99_ms"]);
    s.push_str(&format!(
        "**A governed `tools/call`** (`add`), `oha` at {RATE}/s, {CONNECTIONS} keep-alive connections, \
         `--latency-correction`, {ROUNDS} interleaved rounds of {SECONDS} s per target (medians of the rounds). \
         *direct* = `mcp-example-server --stateless`; *sidecar* = the `mcp-gateway` binary in front of it with \
         the policy file `dev` rendered and the same session token (audit off: no ingest); *dev* = the same call \
         through `mcp-runtime dev`'s route (in-process gateway, audit committed to the embedded store before each \
         answer completes).\n\n"
    ));
    s.push_str("| | direct | sidecar | dev |\n|---|---:|---:|---:|\n");
    s.push_str(&format!(
        "| p50 | {:.3} ms | {:.3} ms | {:.3} ms |\n| p99 | {:.3} ms | {:.3} ms | {:.3} ms |\n\
         | p99 vs direct | 1.00× | {:.2}× | {:.2}× |\n| answered 200 / other | {} / {} | {} / {} | {} / {} |\n\n",
        f(&c["direct"]["p50_ms"]),
        f(&c["sidecar"]["p50_ms"]),
        f(&c["dev"]["p50_ms"]),
        d,
        f(&c["sidecar"]["p99_ms"]),
        f(&c["dev"]["p99_ms"]),
        f(&c["sidecar"]["p99_ms"]) / d,
        f(&c["dev"]["p99_ms"]) / d,
        c["direct"]["ok"],
        c["direct"]["other"],
        c["sidecar"]["ok"],
        c["sidecar"]["other"],
        c["dev"]["ok"],
        c["dev"]["other"],
    ));
    s.push_str(&format!(
        "**Memory of the dev process** (VmRSS): idle {:.1} MiB, under {RATE} calls/s {:.1} MiB (largest sample).\n\n",
        f(&r["rss"]["idle_mib"]),
        f(&r["rss"]["load_mib"])
    ));
    let revoke: Vec<String> = r["revoke_ms"]
        .as_array()
        .map(|v| v.iter().map(|x| format!("{:.1} ms", f(x))).collect())
        .unwrap_or_default();
    s.push_str(&format!(
        "**Revocation** (the demo session revoked through the API → the first refused call through the dev route, \
         calls back to back): {}. Goal ≤ 100 ms: {}.\n\n",
        revoke.join(", "),
        if r["revoke_ms"].as_array().is_some_and(|v| v.iter().all(|x| f(x) <= 100.0)) { "met" } else { "NOT met" }
    ));
    let q = &r["queries"];
    s.push_str(&format!(
        "**Analytics in the embedded store** (`cargo bench -p mcp-eventstore --bench queries`): {} events over 30 days \
         (20 servers, 50 tools, 200 agents, 15 % denials) against {} events (baseline, same run); {} (10k) and {} (large) runs each after a \
         warm-up. Inserts (group-committed, 16 writers): {:.0} events/s.\n\n",
        q["large"]["events"],
        q["baseline"]["events"],
        q["baseline"]["runs"],
        q["large"]["runs"],
        f(&q["large"]["insert_events_per_s"])
    ));
    s.push_str("| query | p50 (10k) | p95 (10k) | p50 (large) | p95 (large) | p95 large vs 10k |\n|---|---:|---:|---:|---:|---:|\n");
    for (key, label) in [
        ("analytics_page", "analytics page (usage + latency + deny reasons, 30 days)"),
        ("usage_30d", "usage rollup, 30 days"),
        ("usage_7d", "usage rollup, 7 days"),
        ("latency_30d", "latency per tool, 30 days"),
        ("deny_reasons_30d", "deny reasons, 30 days"),
        ("events_page", "event list, newest 100"),
        ("events_filtered", "event list, server + decision filter"),
        ("stats_team", "count, one team"),
    ] {
        let (b, l) = (&q["baseline"][key], &q["large"][key]);
        s.push_str(&format!(
            "| {label} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1}× |\n",
            f(&b["p50_ms"]),
            f(&b["p95_ms"]),
            f(&l["p50_ms"]),
            f(&l["p95_ms"]),
            f(&l["p95_ms"]) / f(&b["p95_ms"])
        ));
    }
    let page = f(&q["large"]["analytics_page"]["p95_ms"]);
    s.push_str(&format!(
        "\nGoal: the analytics page's queries p95 ≤ 200 ms with 1 M events — measured {page:.0} ms ({}).\n",
        if page <= 200.0 { "met" } else { "NOT met" }
    ));
    s
}
