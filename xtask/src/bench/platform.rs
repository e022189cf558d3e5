//! `cargo xtask bench platform`: the platform API on its embedded store with 10,000 accounts —
//! authenticated list latency, requests/s with an access token and with an API key against the
//! unauthenticated `/health` of the same run, and the cost of a password sign-in; written to
//! the `bench:platform` section of docs/benchmarks.md. Then the runtime's promise on the Local
//! backend: revoke call → first `401 session_revoked` at a real gateway (50 cycles, p50/p99).
//! Last, `--bench insight`: policy replay throughput with 10,000 grants and the catalog and
//! registry list latency with 1,000 servers, in the `bench:platform-insight` section.

use anyhow::{Context, Result};
use duct::cmd;
use serde_json::Value;

use super::{stamp, write_section};
use crate::util::project_root;

pub fn run() -> Result<()> {
    let root = project_root();
    let out = std::env::temp_dir().join(format!("mcp-platform-bench-{}.json", std::process::id()));
    cmd!("cargo", "bench", "--locked", "-p", "mcp-platform", "--bench", "api")
        .dir(&root)
        .env("MCP_BENCH_OUT", &out)
        .run()
        .context("bench platform: cargo bench")?;
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("bench platform: read {}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    let mut report: Value = serde_json::from_str(&text).context("bench platform: parse results")?;
    let revoke_out = std::env::temp_dir().join(format!("mcp-platform-revoke-{}.json", std::process::id()));
    cmd!("cargo", "bench", "--locked", "-p", "mcp-platform", "--bench", "revoke")
        .dir(&root)
        .env("MCP_BENCH_OUT", &revoke_out)
        .run()
        .context("bench platform: cargo bench --bench revoke")?;
    let revoke = std::fs::read_to_string(&revoke_out)
        .with_context(|| format!("bench platform: read {}", revoke_out.display()))?;
    let _ = std::fs::remove_file(&revoke_out);
    let revoke: Value = serde_json::from_str(&revoke).context("bench platform: parse revoke results")?;
    report["revoke_to_deny"] = revoke["revoke_to_deny"].clone();
    stamp(&mut report);
    write_section(&root.join("docs/benchmarks.md"), "platform", &section(&report))?;
    replay(&root)
}

/// Policy replay throughput and catalog list latency (`--bench insight`), their own section
/// `platform-insight`.
fn replay(root: &std::path::Path) -> Result<()> {
    let out = std::env::temp_dir().join(format!("mcp-platform-replay-bench-{}.json", std::process::id()));
    cmd!("cargo", "bench", "--locked", "-p", "mcp-platform", "--bench", "insight")
        .dir(root)
        .env("MCP_BENCH_OUT", &out)
        .run()
        .context("bench platform: cargo bench --bench insight")?;
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("bench platform: read {}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    let mut report: Value = serde_json::from_str(&text).context("bench platform: parse replay results")?;
    stamp(&mut report);
    write_section(&root.join("docs/benchmarks.md"), "platform-insight", &replay_section(&report))
}

fn replay_section(r: &Value) -> String {
    let mut s = String::from("## Policy replay and catalog (`cargo xtask bench platform`)\n\n");
    s.push_str(&format!(
        "Measured {} on {} ({} cores, {}), release build: recorded `tools/call` events judged again by \
`mcp_platform::replay::judge` (the `lib/policy` evaluator) and counted into a report, events read from \
memory (the ClickHouse read is the event list's cost). Baseline: the same events against a document with \
10 grants.\n\n| proposed document | events | events/s | vs baseline | changed |\n|---|---:|---:|---:|---:|\n",
        r["date"].as_str().unwrap_or("?"),
        r["cpu"].as_str().unwrap_or("unknown CPU"),
        r["cores"].as_u64().unwrap_or(0),
        r["rustc"].as_str().unwrap_or("?"),
    ));
    let base = r["baseline"]["events_per_s"].as_f64().unwrap_or(f64::NAN);
    for (key, label) in [("baseline", "10 grants (baseline)"), ("grants_10k", "10,000 grants")] {
        let v = &r[key];
        let rate = v["events_per_s"].as_f64().unwrap_or(f64::NAN);
        s.push_str(&format!(
            "| {label} | {} | {rate:.0} | {:.2}× | {} |\n",
            v["events"],
            rate / base,
            v["changed"]
        ));
    }
    let c = &r["catalog"];
    s.push_str(&format!(
        "\n### Catalog and registry lists\n\n{} servers (two tools each) in the embedded store with the Local \
backend, listed by an administrator over loopback HTTP; baseline: `GET /health` of the same run.\n\n\
| request | samples | median | p99 | max | median vs baseline |\n|---|---:|---:|---:|---:|---:|\n",
        c["servers"]
    ));
    let base = c["health"]["median_ns"].as_f64().unwrap_or(f64::NAN);
    for (key, label) in [
        ("health", "`GET /health` (baseline)"),
        ("catalog", "`GET /api/v1/catalog/servers` (every server)"),
        ("registry", "`GET /v0.1/servers?limit=100`"),
    ] {
        let v = &c[key];
        s.push_str(&format!(
            "| {label} | {} | {} | {} | {} | {:.0}× |\n",
            v["samples"],
            ms(&v["median_ns"]),
            ms(&v["p99_ns"]),
            ms(&v["max_ns"]),
            v["median_ns"].as_f64().unwrap_or(f64::NAN) / base
        ));
    }
    s.push('\n');
    s
}

fn ms(v: &Value) -> String {
    format!("{:.2} ms", v.as_f64().unwrap_or(f64::NAN) / 1_000_000.0)
}

fn rate(v: &Value) -> f64 {
    v["requests_per_s"].as_f64().unwrap_or(f64::NAN)
}

fn section(r: &Value) -> String {
    let mut s = String::from("## Platform API (`cargo xtask bench platform`)\n\n");
    s.push_str(&format!(
        "Measured {} on {} ({} cores, {}), release build, embedded store (SQLite) with {} accounts, \
over loopback HTTP with keep-alive. Throughput: {} concurrent clients for {} s each; baseline: the \
unauthenticated `GET /health` of the same run.\n\n",
        r["date"].as_str().unwrap_or("?"),
        r["cpu"].as_str().unwrap_or("unknown CPU"),
        r["cores"].as_u64().unwrap_or(0),
        r["rustc"].as_str().unwrap_or("?"),
        r["accounts"],
        r["clients"],
        r["throughput_seconds"],
    ));
    s.push_str("| latency | samples | median | p99 | max |\n|---|---:|---:|---:|---:|\n");
    for (key, label) in [
        ("list", "`GET /api/v1/users?limit=50` (access token, 10,000 accounts)"),
        ("login", "`POST /api/v1/auth/login` (argon2id m=19 MiB, t=2, p=1)"),
        (
            "revoke_to_deny",
            "revoke → deny: `POST …/sessions/{team}/{name}/revoke` until a real gateway on the Local \
backend's policy file answers `401 session_revoked` (target < 1 s)",
        ),
    ] {
        let v = &r[key];
        s.push_str(&format!(
            "| {label} | {} | {} | {} | {} |\n",
            v["samples"],
            ms(&v["median_ns"]),
            ms(&v["p99_ns"]),
            ms(&v["max_ns"])
        ));
    }
    let base = rate(&r["health"]);
    s.push_str("\n| throughput | requests/s | vs `/health` | errors |\n|---|---:|---:|---:|\n");
    for (key, label) in [
        ("health", "`GET /health` (no authentication)"),
        ("me_access_token", "`GET /api/v1/me` with an access token"),
        ("me_api_key", "`GET /api/v1/me` with an API key"),
    ] {
        let v = &r[key];
        s.push_str(&format!("| {label} | {:.0} | {:.2}× | {} |\n", rate(v), rate(v) / base, v["errors"]));
    }
    s.push('\n');
    s
}
