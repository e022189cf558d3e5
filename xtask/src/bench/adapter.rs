//! `cargo xtask bench adapter`: what `mcp-runtime adapter proxy` adds to a `tools/call` — the
//! same client calls `echo` at the gateway directly and through the proxy (same token, same
//! run, alternating segments); written to the `bench:adapter` section of docs/benchmarks.md.

use anyhow::{Context, Result, bail};
use duct::cmd;
use serde_json::Value;

use super::{stamp, write_section};
use crate::util::project_root;

pub fn run() -> Result<()> {
    let root = project_root();
    cmd!(
        "cargo",
        "build",
        "--release",
        "--locked",
        "-p",
        "mcp-gateway-bin",
        "-p",
        "mcp-example-server",
        "-p",
        "mcp-runtime"
    )
    .dir(&root)
    .run()
    .context("bench adapter: build the release binaries")?;
    let release = crate::util::target_dir()?.join("release");
    let bins = [release.join("mcp-gateway"), release.join("mcp-example-server"), release.join("mcp-runtime")];
    for bin in &bins {
        if !bin.is_file() {
            bail!("bench adapter: {} was not built", bin.display());
        }
    }
    let out = std::env::temp_dir().join(format!("mcp-adapter-bench-{}.json", std::process::id()));
    cmd!("cargo", "bench", "--locked", "-p", "mcp-adapter", "--bench", "latency")
        .dir(&root)
        .env("MCP_GATEWAY_BIN", &bins[0])
        .env("MCP_EXAMPLE_SERVER_BIN", &bins[1])
        .env("MCP_RUNTIME_BIN", &bins[2])
        .env("MCP_BENCH_OUT", &out)
        .run()
        .context("bench adapter: cargo bench")?;
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("bench adapter: read {}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    let mut report: Value = serde_json::from_str(&text).context("bench adapter: parse results")?;
    stamp(&mut report);
    write_section(&root.join("docs/benchmarks.md"), "adapter", &section(&report))
}

fn us(v: &Value) -> String {
    match v.as_f64() {
        Some(x) if x.abs() >= 1_000.0 => format!("{:.2} ms", x / 1_000.0),
        Some(x) => format!("{x:.0} µs"),
        None => "?".into(),
    }
}

fn section(r: &Value) -> String {
    let mut s =
        String::from("## Agent adapter: `adapter proxy` added latency (`cargo xtask bench adapter`)\n\n");
    s.push_str(&format!(
        "Measured {} on {} ({} cores, {}), release binaries on loopback: the example MCP server, one \
`mcp-gateway` in front of it (allow-list policy, platform session token; the gateway benchmark's \
fixture) and `mcp-runtime adapter proxy` (one event loop) in front of the gateway presenting the same \
token. One \
client (one thread, one keep-alive connection and MCP session per target) calls `echo` one call \
at a time: directly at the gateway with the token, and through the proxy without one, in {} \
alternating segments of {} calls per target after {} warm-up calls each. Baseline: the direct \
calls of the same run.\n\n",
        r["date"].as_str().unwrap_or("?"),
        r["cpu"].as_str().unwrap_or("unknown CPU"),
        r["cores"].as_u64().unwrap_or(0),
        r["rustc"].as_str().unwrap_or("?"),
        r["segments"],
        r["per_segment"],
        r["warmup"],
    ));
    s.push_str("| target | calls | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|---:|\n");
    for (key, label) in [("direct", "gateway, direct (baseline)"), ("proxy", "through `adapter proxy`")] {
        let t = &r[key];
        s.push_str(&format!(
            "| {label} | {} | {} | {} | {} | {} |\n",
            t["calls"],
            us(&t["p50_us"]),
            us(&t["p90_us"]),
            us(&t["p99_us"]),
            us(&t["max_us"])
        ));
    }
    let added = r["added_p50_us"].as_f64().unwrap_or(f64::NAN);
    s.push_str(&format!(
        "\nAdded by the proxy: p50 {} ({:.2}× the direct p50), p99 {}. Goal: ≤ +0.1 ms p50 — {}.\n",
        us(&r["added_p50_us"]),
        r["ratio_p50"].as_f64().unwrap_or(f64::NAN),
        us(&r["added_p99_us"]),
        if added <= 100.0 { "met" } else { "NOT met" }
    ));
    s
}
