//! `cargo xtask bench operator`: the operator's compute per reconcile (select the server's
//! grants and sessions from the caches, render the policy, diff it against the stored
//! ConfigMap, build the desired objects), for one server with 10k grants and for a full
//! resync of 1,000 servers; written to the `bench:operator` section of docs/benchmarks.md.

use anyhow::{Context, Result};
use duct::cmd;
use serde_json::Value;

use super::{ns, stamp, write_section};
use crate::util::project_root;

pub fn run() -> Result<()> {
    let root = project_root();
    let out = std::env::temp_dir().join(format!("mcp-operator-bench-{}.json", std::process::id()));
    cmd!("cargo", "bench", "--locked", "-p", "mcp-operator", "--bench", "reconcile")
        .dir(&root)
        .env("MCP_BENCH_OUT", &out)
        .run()
        .context("bench operator: cargo bench")?;
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("bench operator: read {}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    let mut report: Value = serde_json::from_str(&text).context("bench operator: parse results")?;
    stamp(&mut report);
    write_section(&root.join("docs/benchmarks.md"), "operator", &section(&report)?)
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// Nanoseconds, shown in ms above 1 ms.
fn time(v: f64) -> String {
    if v >= 1_000_000.0 { format!("{:.2} ms", v / 1_000_000.0) } else { ns(v) }
}

fn row(label: &str, stats: &Value) -> String {
    format!(
        "| {label} | {} | {} | {} |\n",
        time(num(&stats["median_ns"])),
        time(num(&stats["p99_ns"])),
        time(num(&stats["max_ns"]))
    )
}

fn steps(title: &str, steps: &Value) -> String {
    let mut s = format!("| {title} | median | p99 | max |\n|---|---:|---:|---:|\n");
    for (key, label) in [
        ("select", "select the server's grants and sessions from the caches"),
        ("render", "render the policy (defaults, validation, canonical revision)"),
        ("plan", "diff against the stored ConfigMap (revision cached)"),
        ("build", "build Deployment, Service, Ingress, RBAC"),
        ("total", "**one reconcile's compute**"),
    ] {
        s.push_str(&row(label, &steps[key]));
    }
    s
}

pub(super) fn section(report: &Value) -> Result<String> {
    let one = &report["one_server"];
    let fleet = &report["fleet"];
    let base = &report["baseline"];
    let one_total = num(&one["steps"]["total"]["median_ns"]);
    let base_total = num(&base["steps"]["total"]["median_ns"]);
    anyhow::ensure!(one_total.is_finite() && base_total.is_finite(), "results lack totals");
    let mut s = String::new();
    s.push_str("## Operator reconcile cost (`cargo xtask bench operator`)\n\n");
    s.push_str(&format!(
        "Measured {} on {} ({} cores, {}), release build, `lib/operator/benches/reconcile.rs`. \
The compute of one reconcile without the API round trips: pick the server's grants and sessions \
out of the informer caches (a scan of every cached grant), render the policy, diff it against the \
ConfigMap already stored (steady state: same revision, nothing written), and build the desired \
objects. Each grant has a human, an agent, two side effects and two tool rules; 100 sessions. \
Baseline: a server with 10 grants, measured in the same run.\n\n",
        report["date"].as_str().unwrap_or("?"),
        report["cpu"].as_str().unwrap_or("unknown CPU"),
        report["cores"].as_u64().unwrap_or(0),
        report["rustc"].as_str().unwrap_or("?"),
    ));
    s.push_str(&format!("### One server with {} grants\n\n", one["grants"]));
    s.push_str(&steps(&format!("step ({} samples)", one["steps"]["total"]["samples"]), &one["steps"]));
    let bytes = num(&one["policy_bytes"]);
    let compact = num(&one["policy_bytes_compact"]);
    s.push_str(&format!(
        "\nBaseline (10 grants): {} per reconcile; {} grants cost {:.0}× that. The first reconcile \
after a restart also re-verifies the stored policy once (parse + hash): {}. The rendered \
`policy.json` is {:.2} MiB pretty-printed ({:.2} MiB compact); a ConfigMap holds at most 1 MiB, so \
a single server's policy fits about {} such grants{}.\n\n",
        time(base_total),
        one["grants"],
        one_total / base_total,
        time(num(&one["verify_stored_ns"])),
        bytes / 1_048_576.0,
        compact / 1_048_576.0,
        ((1_048_576.0 / (bytes / num(&one["grants"]).max(1.0))) as u64 / 100) * 100,
        if bytes > 1_048_576.0 { " (NOT 10k: larger grant sets need a split policy)" } else { "" },
    ));
    s.push_str(&format!(
        "### Full resync: {} servers × {} grants ({} grants cached)\n\n",
        fleet["servers"], fleet["grants_each"], fleet["grants_total"]
    ));
    s.push_str(&steps(
        &format!("step, per server ({} samples)", fleet["per_server"]["total"]["samples"]),
        &fleet["per_server"],
    ));
    s.push_str(&format!(
        "\nOne pass over all {} servers: median {}, max {} ({} passes).\n",
        fleet["servers"],
        time(num(&fleet["passes"]["median_ns"])),
        time(num(&fleet["passes"]["max_ns"])),
        fleet["passes"]["samples"],
    ));
    Ok(s)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::section;

    fn stats(median: u64) -> serde_json::Value {
        json!({"samples": 5, "median_ns": median, "p99_ns": median * 2, "max_ns": median * 3})
    }

    fn steps(median: u64) -> serde_json::Value {
        json!({"select": stats(median), "render": stats(median), "plan": stats(1), "build": stats(median), "total": stats(median * 3)})
    }

    #[test]
    fn the_section_reports_both_shapes_and_the_configmap_limit() {
        let report = json!({
            "date": "2026-11-26", "cpu": "cpu", "cores": 2, "rustc": "rustc",
            "one_server": {"grants": 10000, "policy_bytes": 3_000_000, "policy_bytes_compact": 1_500_000,
                           "verify_stored_ns": 90_000_000, "steps": steps(10_000_000)},
            "fleet": {"servers": 1000, "grants_each": 10, "grants_total": 10000, "passes": stats(500_000_000), "per_server": steps(100_000)},
            "baseline": {"grants": 10, "steps": steps(10_000)},
        });
        let s = section(&report).expect("section");
        assert!(s.contains("### One server with 10000 grants"), "{s}");
        assert!(s.contains("NOT 10k"), "{s}");
        assert!(s.contains("One pass over all 1000 servers: median 500.00 ms"), "{s}");
        assert!(section(&json!({})).is_err());
    }
}
