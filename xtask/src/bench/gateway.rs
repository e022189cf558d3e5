//! `cargo xtask bench gateway`: the gateway's cost on `tools/call`, against the example MCP
//! server called directly in the same run.
//!
//! Builds the release `mcp-gateway` and `mcp-example-server` binaries, runs
//! `lib/gateway/benches/proxy.rs` (which spawns them on loopback and measures), then drives the
//! same three targets with `oha` (`bench/oha.rs`), and writes the `bench:gateway` section of
//! docs/benchmarks.md from both, the bench's p99 beside oha's.

use anyhow::{Context, Result, bail};
use duct::cmd;
use serde_json::Value;

use super::{stamp, write_section};
use crate::util::project_root;

/// The proxied targets, in the order of the table's columns: (key in the results, heading).
/// The TCP relay is a baseline (the extra hop alone), not judged against the goals.
const PROXIED: &[(&str, &str)] =
    &[("relay", "TCP relay"), ("gateway", "gateway"), ("gateway_audit", "gateway + audit")];
/// The key of the relay baseline.
const RELAY: &str = "relay";

/// Goals from the issue.
const GOAL_ADDED_P99_MS: f64 = 0.2;
const GOAL_THROUGHPUT_RATIO: f64 = 0.6;
const GOAL_RSS_MIB: f64 = 64.0;

/// CPU an idle gateway may use (the periodic policy re-check costs far less).
const IDLE_SPIN_CORES: f64 = 0.05;

pub fn run(oha_only: bool) -> Result<()> {
    let root = project_root();
    cmd!("cargo", "build", "--release", "--locked", "-p", "mcp-gateway-bin", "-p", "mcp-example-server")
        .dir(&root)
        .run()
        .context("bench gateway: build the release binaries")?;
    let release = crate::util::target_dir()?.join("release");
    let gateway = release.join("mcp-gateway");
    let server = release.join("mcp-example-server");
    for bin in [&gateway, &server] {
        if !bin.is_file() {
            bail!("bench gateway: {} was not built", bin.display());
        }
    }
    if oha_only {
        let oha = super::oha::run(&gateway, &server)?;
        for (key, heading) in super::oha::TARGETS {
            let t = &oha["targets"][*key];
            println!(
                "{heading:<16} oha p99 {} (median of rounds), p50 {}",
                ms(num(&t["p99_median_ms"]) * 1_000.0),
                ms(num(&t["p50_median_ms"]) * 1_000.0)
            );
        }
        println!("{}", serde_json::to_string_pretty(&oha)?);
        return Ok(());
    }
    let out = std::env::temp_dir().join(format!("mcp-gateway-bench-{}.json", std::process::id()));
    cmd!("cargo", "bench", "--locked", "-p", "mcp-gateway", "--bench", "proxy")
        .dir(&root)
        .env("MCP_BENCH_OUT", &out)
        .env("MCP_GATEWAY_BIN", &gateway)
        .env("MCP_EXAMPLE_SERVER_BIN", &server)
        .run()
        .context("bench gateway: cargo bench")?;
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("bench gateway: read {}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    let mut report: Value = serde_json::from_str(&text).context("bench gateway: parse results")?;
    // The independent generator, in the same run.
    report["oha"] = match super::oha::run(&gateway, &server) {
        Ok(oha) => oha,
        Err(err) => {
            eprintln!("warning: bench gateway: the oha phase failed: {err:#}");
            serde_json::json!({"error": format!("{err:#}")})
        }
    };
    stamp(&mut report);
    report["commit"] = Value::from(
        cmd!("git", "rev-parse", "--short", "HEAD").dir(&root).read().unwrap_or_else(|_| "?".into()),
    );
    let section = section(&report)?;
    write_section(&root.join("docs/benchmarks.md"), "gateway", &section)
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

/// Microseconds as milliseconds.
fn ms(us: f64) -> String {
    if us.is_nan() {
        "—".into()
    } else if us >= 10_000.0 {
        format!("{:.1} ms", us / 1_000.0)
    } else {
        format!("{:.3} ms", us / 1_000.0)
    }
}

/// A signed difference of microseconds, as milliseconds.
fn added(us: f64) -> String {
    if us.is_nan() {
        "—".into()
    } else if us.abs() >= 10_000.0 {
        format!("{:+.1} ms", us / 1_000.0)
    } else {
        format!("{:+.3} ms", us / 1_000.0)
    }
}

fn ratio(v: f64) -> String {
    if v.is_finite() { format!("{v:.2}×") } else { "—".into() }
}

fn per_second(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let whole = v.round() as u64;
    let digits = whole.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out}/s")
}

fn mib(kib: f64) -> String {
    if kib.is_finite() { format!("{:.1} MiB", kib / 1024.0) } else { "—".into() }
}

/// Milliseconds, with a decimal below 10 ms.
fn millis(v: f64) -> String {
    if !v.is_finite() {
        "—".into()
    } else if v < 10.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// The median over a target's segments of one field.
fn segment_median(target: &Value, field: &str) -> f64 {
    let mut values: Vec<f64> = target["segments"]
        .as_array()
        .map(|a| a.iter().map(|v| num(&v[field])).filter(|v| v.is_finite()).collect())
        .unwrap_or_default();
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) { (values[mid - 1] + values[mid]) / 2.0 } else { values[mid] }
}

/// Why a target's numbers cannot be read as its own cost, if they cannot.
fn invalid(report: &Value, key: &str) -> Option<String> {
    let offered = num(&report["config"]["fixed_rate"]);
    let fixed = &report["fixed"][key];
    let sat = &report["saturation"][key];
    let achieved = num(&fixed["rate"]);
    let mut why = Vec::new();
    let cpu = &sat["cpu_cores"];
    // A gateway that spins while idle would hide the stall: count only its CPU above idle.
    let idle = num(&report["idle_cpu_cores"][key]);
    let gateway = num(&cpu["gateway"]) - if idle.is_finite() { idle } else { 0.0 };
    let busy = gateway.max(0.0) + num(&cpu["server"]);
    let p50 = num(&sat["p50_us"]);
    if (30_000.0..=60_000.0).contains(&p50) && busy < 0.5 {
        why.push(format!(
            "at saturation each call waits {} (p50) while the gateway and server together use only {busy:.2} \
cores: the signature of Nagle's algorithm meeting delayed ACKs (an SSE response written in several \
small writes to a socket without TCP_NODELAY)",
            ms(p50)
        ));
    }
    if achieved < 0.95 * offered {
        why.push(format!(
            "it could not sustain the offered {} with {} connections (achieved {}), so its fixed-rate \
latencies are mostly queueing (coordinated-omission corrected)",
            per_second(offered),
            report["config"]["fixed_connections"],
            per_second(achieved)
        ));
    }
    if num(&fixed["errors"]) + num(&sat["errors"]) > 0.0 {
        why.push(format!("{} calls failed", num(&fixed["errors"]) + num(&sat["errors"])));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// Average CPU (cores) used by processes other than the benchmark's during the measurements.
fn other_load(report: &Value) -> String {
    let values: Vec<f64> = ["fixed", "saturation"]
        .iter()
        .filter_map(|phase| report[*phase].as_object())
        .flat_map(|targets| targets.values())
        .map(|t| num(&t["cpu_cores"]["other"]))
        .filter(|v| v.is_finite())
        .collect();
    if values.is_empty() {
        return "an unknown number of".into();
    }
    format!("{:.2}", values.iter().sum::<f64>() / values.len() as f64)
}

/// The oha table: its p99 beside the bench's own, per target, and the latency goal on both.
fn oha_section(report: &Value) -> String {
    let oha = &report["oha"];
    if let Some(error) = oha["error"].as_str() {
        return format!("\nIndependent generator (`oha`): not run: {error}.\n");
    }
    let targets = &oha["targets"];
    if !targets.is_object() {
        return String::new();
    }
    let config = &oha["config"];
    let fixed = &report["fixed"];
    let keys: Vec<(&str, &str)> = super::oha::TARGETS.to_vec();
    let mut s = format!(
        "\nIndependent open-loop generator, same run (after the phases above, on targets of its own \
started the same way: release binaries, the same policy fixture, platform token and payload): `oha` \
{} at {}, `--latency-correction`, {} keep-alive connections, {} interleaved rounds of {} s per target \
(direct, gateway, gateway + audit, then back, repeated) after a warm-up; a target's p99 is the median of its \
rounds.\n\n| | {} |\n|---|{}\n",
        config["version"].as_str().unwrap_or("?"),
        per_second(num(&config["rate"])),
        config["connections"],
        config["rounds"],
        config["seconds"],
        keys.iter().map(|(_, h)| *h).collect::<Vec<_>>().join(" | "),
        "---:|".repeat(keys.len()),
    );
    let oha_p99 = |k: &str| num(&targets[k]["p99_median_ms"]) * 1_000.0;
    let bench_p99 = |k: &str| segment_median(&fixed[k], "p99_us");
    let line = |s: &mut String, label: &str, cell: &dyn Fn(&str) -> String| {
        let cells: Vec<String> = keys.iter().map(|(k, _)| cell(k)).collect();
        s.push_str(&format!("| {label} | {} |\n", cells.join(" | ")));
    };
    line(&mut s, "oha p99 (median of rounds)", &|k| ms(oha_p99(k)));
    line(&mut s, "oha p99 per round", &|k| {
        let rounds: Vec<String> = targets[k]["rounds"]
            .as_array()
            .map(|a| a.iter().map(|r| ms(num(&r["p99_ms"]) * 1_000.0)).collect())
            .unwrap_or_default();
        rounds.join(" / ")
    });
    line(&mut s, "oha p50 (median of rounds)", &|k| ms(num(&targets[k]["p50_median_ms"]) * 1_000.0));
    line(&mut s, "oha: added p99 vs direct", &|k| {
        if k == "direct" { "—".into() } else { added(oha_p99(k) - oha_p99("direct")) }
    });
    line(&mut s, "bench: p99 (segment median)", &|k| ms(bench_p99(k)));
    line(&mut s, "bench: added p99 vs direct", &|k| {
        if k == "direct" { "—".into() } else { added(bench_p99(k) - bench_p99("direct")) }
    });
    line(&mut s, "oha: calls not answered 200 / errors", &|k| {
        let rounds = targets[k]["rounds"].as_array().cloned().unwrap_or_default();
        let sum = |f: &str| rounds.iter().map(|r| num(&r[f])).filter(|v| v.is_finite()).sum::<f64>();
        format!("{} / {}", sum("other_status"), sum("errors"))
    });
    let mut parts = Vec::new();
    for (key, heading) in keys.iter().filter(|(k, _)| *k != "direct") {
        let (by_oha, by_bench) = (oha_p99(key) - oha_p99("direct"), bench_p99(key) - bench_p99("direct"));
        let goal = GOAL_ADDED_P99_MS * 1_000.0;
        parts.push(format!(
            "{heading} {} by oha, {} by the bench ({})",
            added(by_oha),
            added(by_bench),
            verdict(by_oha <= goal && by_bench <= goal)
        ));
    }
    s.push_str(&format!(
        "\n≤ +{GOAL_ADDED_P99_MS} ms p99 added, on both generators: {}.\n",
        parts.join("; ")
    ));
    s
}

pub(super) fn section(report: &Value) -> Result<String> {
    let config = &report["config"];
    let fixed = &report["fixed"];
    let sat = &report["saturation"];
    if !fixed["direct"].is_object() || !sat["direct"].is_object() {
        bail!("results have no direct baseline");
    }
    let proxied: Vec<(&str, &str)> =
        PROXIED.iter().copied().filter(|(key, _)| fixed[*key].is_object() && sat[*key].is_object()).collect();
    // The gateways: what the goals are about.
    let gateways: Vec<(&str, &str)> = proxied.iter().copied().filter(|(key, _)| *key != RELAY).collect();
    if gateways.is_empty() {
        bail!("results have no gateway target");
    }
    let has_relay = proxied.iter().any(|(key, _)| *key == RELAY);
    let offered = num(&config["fixed_rate"]);
    let clients = &config["saturation_clients"];

    let mut s = String::new();
    s.push_str("## Gateway overhead on `tools/call` (`cargo xtask bench gateway`)\n\n");
    s.push_str(&format!(
        "Measured {} on {} ({} cores, {}), commit {} plus the working tree, release binaries. \
Workload: `tools/call` of the example server's `echo` tool (`mcp-example-server`: rmcp, Streamable \
HTTP, SSE replies) with a {}-byte `text`, protocol {}, one MCP session (`initialize` + \
`notifications/initialized`) per connection. **direct** = the example server. **gateway** = the \
`mcp-gateway` binary in front of it: allow-list policy, platform session token (Ed25519 JWT, the \
same token on every call, checked the gateway's usual way), authorization on, audit off (no ingest configured). **gateway + audit** = \
the same with audit events delivered to a local sink that stands in for ingest. Both binaries log at \
their shipped level (`{}`).{}\n\n",
        report["date"].as_str().unwrap_or("?"),
        report["cpu"].as_str().unwrap_or("unknown CPU"),
        report["cores"].as_u64().unwrap_or(0),
        report["rustc"].as_str().unwrap_or("?"),
        report["commit"].as_str().unwrap_or("?"),
        config["payload_bytes"],
        config["protocol_version"].as_str().unwrap_or("?"),
        config["log_level"].as_str().unwrap_or("?"),
        if has_relay {
            " **TCP relay** = a plain TCP relay in front of the server (the bench binary re-run as a \
one-thread tokio relay: `copy_bidirectional`, TCP_NODELAY, no HTTP): what the extra loopback hop alone \
costs, so the gateway's own share is the gateway's cost minus the relay's."
        } else {
            ""
        },
    ));
    s.push_str(&format!(
        "Load: `lib/gateway/benches/proxy.rs`, one thread, hyper HTTP/1.1 keep-alive, every process on \
loopback and on the same {} CPUs (nothing pinned, so the gateway takes CPU from the server and the \
load generator). Fixed rate: open loop at {}, {} connections, wrk2-style (a call delayed by its \
connection's previous call is timed from its intended start). Saturation: closed loop, {} clients. \
Each target runs {} segments of {} s per phase, interleaved in palindromic order (direct, {}gateway, \
gateway + audit, then back, repeated) after a {} s warm-up, and its segments are merged, so drift of \
the shared machine cancels out and bursts of other load are spread over all targets; the rest of \
the machine (other processes, and kernel network work not charged to a process) used {} cores on \
average meanwhile (from /proc/stat). Baseline: direct, measured in the \
same run.\n\n",
        report["cores"].as_u64().unwrap_or(0),
        per_second(offered),
        config["fixed_connections"],
        clients,
        config["segments_per_target"],
        config["segment_seconds"],
        if has_relay { "TCP relay, " } else { "" },
        config["warmup_seconds"],
        other_load(report),
    ));

    // The table.
    s.push_str("| metric | direct |");
    for (_, heading) in &proxied {
        s.push_str(&format!(" {heading} | {heading} vs direct |"));
    }
    s.push_str("\n|---|---:|");
    for _ in &proxied {
        s.push_str("---:|---:|");
    }
    s.push('\n');
    let row = |s: &mut String, label: &str, cell: &dyn Fn(&str) -> String, cmp: &dyn Fn(&str) -> String| {
        s.push_str(&format!("| {label} | {} |", cell("direct")));
        for (key, _) in &proxied {
            s.push_str(&format!(" {} | {} |", cell(key), cmp(key)));
        }
        s.push('\n');
    };
    let none = |_: &str| String::new();
    row(
        &mut s,
        &format!("fixed {}: achieved rate", per_second(offered)),
        &|k| per_second(num(&fixed[k]["rate"])),
        &none,
    );
    for (label, field) in [("p50", "p50_us"), ("p99", "p99_us"), ("p99.9", "p999_us"), ("max", "max_us")] {
        row(&mut s, &format!("fixed: {label} latency"), &|k| ms(num(&fixed[k][field])), &|k| {
            added(num(&fixed[k][field]) - num(&fixed["direct"][field]))
        });
    }
    row(
        &mut s,
        &format!("fixed: p99 latency, median of the {} segments", config["segments_per_target"]),
        &|k| ms(segment_median(&fixed[k], "p99_us")),
        &|k| added(segment_median(&fixed[k], "p99_us") - segment_median(&fixed["direct"], "p99_us")),
    );
    row(
        &mut s,
        "fixed: failed calls (late sends)",
        &|k| format!("{} ({})", fixed[k]["errors"], fixed[k]["late"]),
        &none,
    );
    row(
        &mut s,
        &format!("saturation, {clients} clients: throughput"),
        &|k| per_second(num(&sat[k]["rate"])),
        &|k| ratio(num(&sat[k]["rate"]) / num(&sat["direct"]["rate"])),
    );
    for (label, field) in [("p50", "p50_us"), ("p99", "p99_us")] {
        row(&mut s, &format!("saturation: {label} latency"), &|k| ms(num(&sat[k][field])), &|k| {
            ratio(num(&sat[k][field]) / num(&sat["direct"][field]))
        });
    }
    row(&mut s, "saturation: failed calls", &|k| sat[k]["errors"].to_string(), &none);
    let cores = |v: &Value| {
        let c = num(v);
        if c.is_finite() { format!("{c:.2}") } else { "—".into() }
    };
    row(
        &mut s,
        "CPU cores while idle, before any load",
        &|k| {
            let key = if k == "direct" { "server" } else { k };
            let label = if k == "direct" { "server " } else { "" };
            format!("{label}{}", cores(&report["idle_cpu_cores"][key]))
        },
        &none,
    );
    row(
        &mut s,
        &format!("CPU cores at {}: gateway (or relay) / server", per_second(offered)),
        &|k| {
            let c = &fixed[k]["cpu_cores"];
            if k == "direct" {
                format!("— / {}", cores(&c["server"]))
            } else {
                format!("{} / {}", cores(&c["gateway"]), cores(&c["server"]))
            }
        },
        &none,
    );
    row(
        &mut s,
        "CPU cores at saturation: gateway (or relay) / server / load generator",
        &|k| {
            let c = &sat[k]["cpu_cores"];
            let gw = if k == "direct" { "—".to_string() } else { cores(&c["gateway"]) };
            format!("{gw} / {} / {}", cores(&c["server"]), cores(&c["loadgen"]))
        },
        &none,
    );
    let rss = &report["rss"];
    row(
        &mut s,
        "RSS: idle → under load (largest sample) → peak (VmHWM, or the largest sample if higher)",
        &|k| {
            if k == "direct" {
                format!("server after load {}", mib(num(&rss["server"]["after_kib"])))
            } else {
                let r = &rss[k];
                format!(
                    "{} → {} → {}",
                    mib(num(&r["idle_kib"])),
                    mib(num(&r["under_load_max_kib"])),
                    mib(num(&r["hwm_kib"]).max(num(&r["under_load_max_kib"])))
                )
            }
        },
        &none,
    );
    let rev = &report["revocation"];
    row(
        &mut s,
        "revocation → first 401 `session_revoked`: median / max",
        &|k| {
            if k == "gateway" {
                format!("{} / {}", millis(num(&rev["median_ms"])), millis(num(&rev["max_ms"])))
            } else {
                "—".into()
            }
        },
        &none,
    );

    // Spread between the segments of each target.
    s.push_str("\nPer-segment values in run order (fixed-rate p99; saturation throughput): ");
    let mut spread = Vec::new();
    for (key, heading) in std::iter::once(("direct", "direct")).chain(proxied.iter().copied()) {
        let p99: Vec<String> = fixed[key]["segments"]
            .as_array()
            .map(|a| a.iter().map(|v| ms(num(&v["p99_us"]))).collect())
            .unwrap_or_default();
        let tput: Vec<String> = sat[key]["segments"]
            .as_array()
            .map(|a| a.iter().map(|v| per_second(num(&v["rate"]))).collect())
            .unwrap_or_default();
        spread.push(format!("{heading} {}; {}", p99.join(" / "), tput.join(" / ")));
    }
    s.push_str(&spread.join(" · "));
    s.push_str(".\n");

    // Validity.
    let spinning: Vec<String> = gateways
        .iter()
        .filter(|(key, _)| num(&report["idle_cpu_cores"][*key]) > IDLE_SPIN_CORES)
        .map(|(key, heading)| format!("{heading} {:.2}", num(&report["idle_cpu_cores"][*key])))
        .collect();
    let direct_invalid = invalid(report, "direct");
    let mut notes = Vec::new();
    if !spinning.is_empty() {
        notes.push(format!(
            "**Gateways busy while idle**: before any load, {} cores. An idle gateway should use \
next to nothing; this CPU is taken from every target, the direct one included, so latency and \
throughput are not assessed.",
            spinning.join(", ")
        ));
    }
    if let Some(why) = &direct_invalid {
        notes.push(format!("**The direct baseline is not valid**: {why}. Nothing is assessed against it."));
    }
    for (key, heading) in &proxied {
        if let Some(why) = invalid(report, key) {
            notes.push(format!("**{heading}**: {why}."));
        }
    }
    if !notes.is_empty() {
        s.push_str("\nValidity:\n\n");
        for note in notes {
            s.push_str(&format!("- {note}\n"));
        }
    }

    // Goals.
    s.push_str("\nGoals (from the issue):\n\n");
    let assess = |met: bool| -> &'static str {
        if direct_invalid.is_some() || !spinning.is_empty() { "not assessable" } else { verdict(met) }
    };
    let goal_line = |s: &mut String, text: String| s.push_str(&format!("- {text}\n"));
    let mut parts = Vec::new();
    for (key, heading) in &gateways {
        let add = num(&fixed[*key]["p99_us"]) - num(&fixed["direct"]["p99_us"]);
        let typical = segment_median(&fixed[*key], "p99_us") - segment_median(&fixed["direct"], "p99_us");
        // Judged on the median of the segments' p99s: one burst of other load on the shared
        // machine moves the merged p99 by milliseconds either way; the merged value is shown.
        parts.push(format!(
            "{heading} {} between the segment medians ({}; merged {})",
            added(typical),
            assess(typical <= GOAL_ADDED_P99_MS * 1_000.0),
            added(add)
        ));
    }
    if has_relay {
        let relay = segment_median(&fixed[RELAY], "p99_us") - segment_median(&fixed["direct"], "p99_us");
        parts.push(format!("for scale, the TCP relay alone adds {} (the hop itself)", added(relay)));
    }
    goal_line(
        &mut s,
        format!("≤ +{GOAL_ADDED_P99_MS} ms p99 added at {}: {}.", per_second(offered), parts.join("; ")),
    );
    let mut parts = Vec::new();
    for (key, heading) in &gateways {
        let r = num(&sat[*key]["rate"]) / num(&sat["direct"]["rate"]);
        // Three decimals: 0.596× must not read as the 0.60× goal.
        parts.push(format!("{heading} {r:.3}× ({})", assess(r >= GOAL_THROUGHPUT_RATIO)));
    }
    if has_relay {
        let r = num(&sat[RELAY]["rate"]) / num(&sat["direct"]["rate"]);
        parts.push(format!("for scale, the TCP relay alone {}", ratio(r)));
    }
    goal_line(
        &mut s,
        format!("≥ {GOAL_THROUGHPUT_RATIO}× direct saturation throughput: {}.", parts.join("; ")),
    );
    let mut parts = Vec::new();
    for (key, heading) in &gateways {
        let peak = num(&rss[*key]["hwm_kib"]).max(num(&rss[*key]["under_load_max_kib"]));
        parts.push(format!("{heading} {} ({})", mib(peak), verdict(peak / 1024.0 <= GOAL_RSS_MIB)));
    }
    goal_line(&mut s, format!("gateway RSS ≤ {GOAL_RSS_MIB} MiB (peak VmHWM): {}.", parts.join("; ")));

    s.push_str(&oha_section(report));

    // Revocation and audit.
    let samples: Vec<String> =
        rev["samples_ms"].as_array().map(|a| a.iter().map(|v| millis(num(v))).collect()).unwrap_or_default();
    s.push_str(&format!(
        "\nRevocation: the policy file is re-rendered with the session `revoked: true` and swapped in \
(temp file + rename); a call every {} ms until one is refused. Runs: {} ({} timed out). The \
gateway re-checks the file at least every `POLICY_RECHECK_MS` = {} ms (default), so at most {} ms \
plus one call is expected; in a cluster, kubelet's ConfigMap propagation comes on top.\n",
        rev["probe_every_ms"],
        samples.join(", "),
        rev["timeouts"],
        config["policy_recheck_ms"],
        config["policy_recheck_ms"],
    ));
    let audit = &report["audit"];
    if audit.is_object() && gateways.iter().any(|(k, _)| *k == "gateway_audit") {
        let counters: Vec<String> = audit["gateway_counters"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| format!("{k} {}", num(v))).collect())
            .unwrap_or_default();
        s.push_str(&format!(
            "\nAudit delivery: the audited gateway was sent {} `tools/call`s (plus `initialize` and \
`notifications/initialized` per session); the sink received {} events in {} batches; gateway \
counters: {}.\n",
            audit["tools_calls_sent"],
            audit["events_received"],
            audit["batches_received"],
            if counters.is_empty() { "none".to_string() } else { counters.join(", ") },
        ));
    }

    // Attribution.
    if let Some(stages) = report["stages"].as_array() {
        s.push_str(
            "\nIn-process cost of the gateway's per-call steps (same payload and token, one thread, \
5,000 timed runs each):\n\n| step | median | p99 |\n|---|---:|---:|\n",
        );
        for stage in stages {
            s.push_str(&format!(
                "| {} | {} | {} |\n",
                stage["stage"].as_str().unwrap_or("?"),
                super::ns(num(&stage["median_ns"])),
                super::ns(num(&stage["p99_ns"])),
            ));
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::section;

    fn side(rate: f64, p50: f64, p99: f64, gateway_cpu: f64) -> Value {
        json!({
            "ok": 10_000, "errors": 0, "late": 0, "rate": rate,
            "p50_us": p50, "p90_us": p99 * 0.8, "p99_us": p99, "p999_us": p99 * 1.5, "max_us": p99 * 3.0,
            "segments": [{"p99_us": p99, "rate": rate}, {"p99_us": p99 * 1.1, "rate": rate * 0.9}],
            "cpu_cores": {"gateway": gateway_cpu, "server": 0.8, "loadgen": 0.2, "other": 0.1},
        })
    }

    fn report() -> Value {
        json!({
            "date": "2026-11-26", "cpu": "Test CPU", "cores": 2, "rustc": "rustc 1.95.0", "commit": "abc1234",
            "idle_cpu_cores": {"server": 0.0, "gateway": 0.0, "gateway_audit": 0.01},
            "config": {
                "payload_bytes": 1024, "fixed_rate": 1000.0, "fixed_connections": 32,
                "saturation_clients": 16, "segment_seconds": 5, "segments_per_target": 2, "warmup_seconds": 2,
                "protocol_version": "2025-06-18", "policy_recheck_ms": 500, "log_level": "info",
            },
            "fixed": {
                "direct": side(1000.0, 250.0, 500.0, 0.0),
                "gateway": side(999.9, 400.0, 650.0, 0.3),
                "gateway_audit": side(999.8, 450.0, 900.0, 0.35),
            },
            "saturation": {
                "direct": side(12_000.0, 1_200.0, 2_400.0, 0.0),
                "gateway": side(8_000.0, 2_000.0, 4_000.0, 0.9),
                "gateway_audit": side(6_000.0, 2_500.0, 5_000.0, 1.0),
            },
            "rss": {
                "gateway": {"idle_kib": 8192, "under_load_max_kib": 10240, "after_kib": 10240, "hwm_kib": 10240},
                "gateway_audit": {"idle_kib": 8192, "under_load_max_kib": 12288, "after_kib": 12000, "hwm_kib": 12288},
                "server": {"after_kib": 15000, "hwm_kib": 15000},
            },
            "audit": {"tools_calls_sent": 100, "events_received": 132, "batches_received": 9,
                      "gateway_counters": {"sent": 132.0}},
            "revocation": {"samples_ms": [72.0, 310.0, 174.0], "median_ms": 174.0, "max_ms": 310.0,
                           "timeouts": 0, "probe_every_ms": 5},
            "stages": [{"stage": "identify", "median_ns": 72_000, "p99_ns": 101_000}],
        })
    }

    #[test]
    fn the_section_compares_every_target_with_direct_and_checks_the_goals() {
        let s = section(&report()).expect("section");
        assert!(s.contains("| metric | direct | gateway | gateway vs direct | gateway + audit | gateway + audit vs direct |"), "{s}");
        assert!(
            s.contains("| fixed: p99 latency | 0.500 ms | 0.650 ms | +0.150 ms | 0.900 ms | +0.400 ms |"),
            "{s}"
        );
        assert!(
            s.contains(
                "| saturation, 16 clients: throughput | 12,000/s | 8,000/s | 0.67× | 6,000/s | 0.50× |"
            ),
            "{s}"
        );
        assert!(s.contains("gateway +0.158 ms between the segment medians (met; merged +0.150 ms)"), "{s}");
        assert!(
            s.contains("gateway + audit +0.420 ms between the segment medians (NOT met; merged +0.400 ms)"),
            "{s}"
        );
        assert!(
            s.contains("| fixed: p99 latency, median of the 2 segments | 0.525 ms | 0.682 ms | +0.158 ms |"),
            "{s}"
        );
        assert!(s.contains("gateway 0.667× (met); gateway + audit 0.500× (NOT met)"), "{s}");
        assert!(s.contains("gateway 10.0 MiB (met)"), "{s}");
        assert!(s.contains("| 174 ms / 310 ms |"), "{s}");
        assert!(s.contains("Runs: 72 ms, 310 ms, 174 ms (0 timed out)"), "{s}");
        assert!(s.contains("| CPU cores while idle, before any load | server 0.00 | 0.00 |"), "{s}");
        assert!(s.contains("| identify | 72.00 µs | 101.00 µs |"), "{s}");
        assert!(!s.contains("Validity"), "{s}");
        assert!(s.contains("not charged to a process) used 0.10 cores on average"), "{s}");
    }

    #[test]
    fn the_relay_is_a_column_and_a_scale_but_never_judged() {
        let mut r = report();
        r["fixed"]["relay"] = side(1000.0, 300.0, 560.0, 0.05);
        r["saturation"]["relay"] = side(10_000.0, 1_500.0, 3_000.0, 0.3);
        r["rss"]["relay"] =
            json!({"idle_kib": 4096, "under_load_max_kib": 4500, "after_kib": 4500, "hwm_kib": 4500});
        r["idle_cpu_cores"]["relay"] = json!(0.0);
        let s = section(&r).expect("section");
        assert!(
            s.contains("| metric | direct | TCP relay | TCP relay vs direct | gateway | gateway vs direct |"),
            "{s}"
        );
        assert!(s.contains("for scale, the TCP relay alone adds +0.063 ms (the hop itself)"), "{s}");
        assert!(s.contains("for scale, the TCP relay alone 0.83×"), "{s}");
        assert!(s.contains("palindromic order (direct, TCP relay, gateway, gateway + audit"), "{s}");
        let goals = &s[s.find("Goals").expect("goals")..];
        assert!(!goals.contains("TCP relay +"), "{goals}");
        assert!(!goals.contains("TCP relay 4"), "{goals}");
    }

    #[test]
    fn a_stalled_baseline_makes_the_goals_unassessable() {
        let mut r = report();
        r["saturation"]["direct"] = side(363.0, 44_000.0, 48_000.0, 0.0);
        r["saturation"]["direct"]["cpu_cores"]["server"] = json!(0.07);
        r["fixed"]["direct"]["rate"] = json!(360.0);
        let s = section(&r).expect("section");
        assert!(s.contains("**The direct baseline is not valid**"), "{s}");
        assert!(s.contains("Nagle"), "{s}");
        assert!(s.contains("could not sustain the offered 1,000/s"), "{s}");
        assert!(s.contains("(not assessable)"), "{s}");
        assert!(!s.contains("0.67× (met)"), "{s}");
    }

    #[test]
    fn a_gateway_that_spins_while_idle_makes_the_goals_unassessable() {
        let mut r = report();
        r["idle_cpu_cores"]["gateway"] = json!(0.9);
        let s = section(&r).expect("section");
        assert!(s.contains("**Gateways busy while idle**: before any load, gateway 0.90 cores"), "{s}");
        assert!(s.contains("(not assessable;"), "{s}");
        assert!(s.contains("gateway 10.0 MiB (met)"), "{s}");
    }

    #[test]
    fn results_without_a_baseline_are_refused() {
        let mut r = report();
        r["fixed"].as_object_mut().expect("object").remove("direct");
        assert!(section(&r).is_err());
    }
}
