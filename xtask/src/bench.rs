//! `cargo xtask bench <target>`: runs a benchmark and writes its section of docs/benchmarks.md.
//!
//! Benchmarks are measurements, not tests: nothing here fails on a slow number. Every number is
//! reported next to a baseline measured in the same run, because our machines are shared.

use std::path::Path;

use anyhow::{Context, Result, bail};
use duct::cmd;
use serde_json::Value;

use crate::util::project_root;

mod adapter;
mod cli;
mod dev;
mod gateway;
mod oha;
mod operator;
mod platform;
mod sentinel;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// What to measure.
    #[arg(value_enum)]
    target: Target,
    /// `gateway` only: run just the oha phase and print its numbers (docs untouched).
    #[arg(long)]
    oha_only: bool,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
enum Target {
    /// Policy decision cost with 10, 1k and 10k grants.
    Policy,
    /// Gateway overhead on `tools/call` against the example server called directly: latency
    /// at 1,000 calls/s, saturation throughput, RSS, revocation-to-deny time.
    Gateway,
    /// Analytics pipeline: sustained events/s from ingest to queryable ClickHouse rows, and
    /// event-to-queryable latency, against raw broker and raw ClickHouse baselines.
    Sentinel,
    /// Operator reconcile compute: render + diff for one server with 10k grants and for a full
    /// resync of 1,000 servers.
    Operator,
    /// Platform API: authenticated list latency with 10,000 accounts, requests/s with an access
    /// token and with an API key against unauthenticated `/health`, password sign-in cost.
    Platform,
    /// `mcp-runtime` cold start as a whole process: `--help`, `--version`, `server list`
    /// against an embedded platform, next to `true` and `curl` baselines.
    Cli,
    /// `mcp-runtime dev`: start to ready, a governed call through its route against the sidecar
    /// and the server called directly, memory, revocation, analytics with 1M embedded events.
    Dev,
    /// Agent adapter: what `mcp-runtime adapter proxy` adds to a `tools/call` against the
    /// gateway called directly (same token, same client, same run).
    Adapter,
}

pub fn run(args: &Args) -> Result<()> {
    match args.target {
        Target::Policy => policy(),
        Target::Gateway => gateway::run(args.oha_only),
        Target::Sentinel => sentinel::run(),
        Target::Operator => operator::run(),
        Target::Platform => platform::run(),
        Target::Cli => cli::run(),
        Target::Adapter => adapter::run(),
        Target::Dev => dev::run(),
    }
}

fn policy() -> Result<()> {
    let root = project_root();
    let out = std::env::temp_dir().join(format!("mcp-policy-bench-{}.json", std::process::id()));
    cmd!("cargo", "bench", "--locked", "-p", "mcp-policy", "--bench", "decision")
        .dir(&root)
        .env("MCP_BENCH_OUT", &out)
        .run()
        .context("bench policy: cargo bench")?;
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("bench policy: read {}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    let mut report: Value = serde_json::from_str(&text).context("bench policy: parse results")?;
    stamp(&mut report);
    let section = policy_section(&report)?;
    write_section(&root.join("docs/benchmarks.md"), "policy", &section)
}

fn policy_section(report: &Value) -> Result<String> {
    let cases = report["cases"].as_array().context("results have no cases")?;
    let baseline = cases.first().context("results have no baseline case")?;
    let base_median = baseline["median_ns"].as_f64().context("baseline median")?;
    let base_p99 = baseline["p99_ns"].as_f64().context("baseline p99")?;
    let mut s = String::new();
    s.push_str("## Policy decision cost (`cargo xtask bench policy`)\n\n");
    s.push_str(&format!(
        "Measured {} on {} ({} cores, {}), release build. One decision = `Snapshot::evaluate` \
for a `tools/call` that is allowed after the full check sequence (grant match, tool rule, argument \
constraints, side effect, trust, session). Each case times {} single decisions after a warm-up; \
the other grants in the document belong to unrelated subjects, so the index must skip them. \
Baseline: the 10-grant document, measured in the same run.\n\n",
        report["date"].as_str().unwrap_or("?"),
        report["cpu"].as_str().unwrap_or("unknown CPU"),
        report["cores"].as_u64().unwrap_or(0),
        report["rustc"].as_str().unwrap_or("?"),
        baseline["samples"].as_u64().unwrap_or(0),
    ));
    s.push_str("| grants | median | p99 | max | median vs 10 grants | p99 vs 10 grants |\n");
    s.push_str("|---:|---:|---:|---:|---:|---:|\n");
    for case in cases {
        let median = case["median_ns"].as_f64().context("median")?;
        let p99 = case["p99_ns"].as_f64().context("p99")?;
        let max = case["max_ns"].as_f64().context("max")?;
        s.push_str(&format!(
            "| {} | {} | {} | {} | {:.2}× | {:.2}× |\n",
            case["grants"],
            ns(median),
            ns(p99),
            ns(max),
            median / base_median,
            p99 / base_p99,
        ));
    }
    let worst = cases.last().context("results have no cases")?;
    let worst_p99 = worst["p99_ns"].as_f64().unwrap_or(f64::NAN);
    s.push_str(&format!(
        "\nGoal: p99 ≤ 5 µs with 10k grants — measured {} ({}).\n",
        ns(worst_p99),
        if worst_p99 <= 5_000.0 { "met" } else { "NOT met" }
    ));
    Ok(s)
}

/// Records when and on what the results were measured.
fn stamp(report: &mut Value) {
    report["date"] = Value::from(cmd!("date", "-u", "+%Y-%m-%d").read().unwrap_or_else(|_| "?".into()));
    report["rustc"] = Value::from(cmd!("rustc", "--version").read().unwrap_or_else(|_| "?".into()));
    report["cpu"] = Value::from(cpu_model());
    report["cores"] = Value::from(std::thread::available_parallelism().map_or(0, |n| n.get()));
}

/// The processor's model name, from /proc/cpuinfo.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string())
}

fn ns(v: f64) -> String {
    if v >= 1_000.0 { format!("{:.2} µs", v / 1_000.0) } else { format!("{v:.0} ns") }
}

/// Replaces the section between `<!-- bench:NAME:start -->` and `<!-- bench:NAME:end -->`,
/// appending it when absent, so each benchmark owns its part of the file.
fn write_section(path: &Path, name: &str, body: &str) -> Result<()> {
    let start = format!("<!-- bench:{name}:start -->");
    let end = format!("<!-- bench:{name}:end -->");
    let current = std::fs::read_to_string(path).unwrap_or_else(|_| {
        "# Benchmarks\n\nWritten by `cargo xtask bench …`; numbers are measurements on shared machines, \
always read them against the same-run baseline next to them.\n"
            .to_string()
    });
    let block = format!("{start}\n{body}{end}\n");
    let updated = match (current.find(&start), current.find(&end)) {
        (Some(a), Some(b)) if a < b => {
            format!("{}{}{}", &current[..a], block, &current[b + end.len()..].trim_start_matches('\n'))
        }
        (None, None) => format!("{}\n{}", current.trim_end_matches('\n').to_string() + "\n", block),
        _ => bail!("{} has a malformed bench:{name} section", path.display()),
    };
    std::fs::write(path, updated).with_context(|| format!("write {}", path.display()))?;
    eprintln!("updated {}", path.display());
    Ok(())
}
