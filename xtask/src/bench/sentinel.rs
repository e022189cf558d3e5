//! `cargo xtask bench sentinel`: events/s through ingest → broker → processor → ClickHouse and
//! event-to-queryable latency, next to raw broker-produce and raw ClickHouse-insert baselines
//! measured in the same run.
//!
//! Runs `bin/mcp-sentinel/benches/pipeline.rs` (which starts the real servers, the release
//! `mcp-sentinel` binary and a load generator on loopback) and writes the `bench:sentinel`
//! section of docs/benchmarks.md from the JSON it leaves behind.

use anyhow::{Context, Result};
use duct::cmd;
use serde_json::Value;

use super::{stamp, write_section};
use crate::util::project_root;

/// Goals from the issue.
const GOAL_EVENTS_PER_SEC: f64 = 20_000.0;
const GOAL_P99_MS: f64 = 2_000.0;

pub fn run() -> Result<()> {
    let root = project_root();
    crate::services::install().context("bench sentinel: install the servers")?;
    let out = std::env::temp_dir().join(format!("mcp-sentinel-bench-{}.json", std::process::id()));
    cmd!("cargo", "bench", "--locked", "-p", "mcp-sentinel-bin", "--bench", "pipeline")
        .dir(&root)
        .env("MCP_BENCH_OUT", &out)
        .run()
        .context("bench sentinel: cargo bench")?;
    let text =
        std::fs::read_to_string(&out).with_context(|| format!("bench sentinel: read {}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    let mut report: Value = serde_json::from_str(&text).context("bench sentinel: parse results")?;
    stamp(&mut report);
    report["commit"] = Value::from(
        cmd!("git", "rev-parse", "--short", "HEAD").dir(&root).read().unwrap_or_else(|_| "?".into()),
    );
    write_section(&root.join("docs/benchmarks.md"), "sentinel", &section(&report))
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn per_second(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let digits = (v.round() as u64).to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{out}/s")
}

fn millis(v: f64) -> String {
    if v.is_finite() { format!("{v:.0} ms") } else { "—".into() }
}

fn ratio(a: f64, b: f64) -> String {
    let r = a / b;
    if r.is_finite() { format!("{r:.2}×") } else { "—".into() }
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn section(r: &Value) -> String {
    let sustained = num(&r["sustained_per_sec"]);
    let accepted = num(&r["accepted_per_sec"]);
    let produce = num(&r["baseline_produce_per_sec"]);
    let insert = num(&r["baseline_insert_per_sec"]);
    let p50 = num(&r["latency_p50_ms"]);
    let p99 = num(&r["latency_p99_ms"]);
    let mut s = String::new();
    s.push_str("## Analytics pipeline throughput and latency (`cargo xtask bench sentinel`)\n\n");
    s.push_str(&format!(
        "Measured {} on {} ({} cores, {}), commit {} plus the working tree, release binaries. Everything \
runs on loopback on the same CPUs: the tansu broker (SQLite storage, the durable engine the fault tests \
use), ClickHouse 18.16, `mcp-sentinel ingest`, `mcp-sentinel processor` (batches of {} rows or {}) and the \
load generator (`bin/mcp-sentinel/benches/pipeline.rs`). One event is a gateway-shaped envelope of {} bytes \
of JSON, posted in arrays of {} like the gateway's audit batches, with an API key; ingest writes each \
request to Kafka as one message holding the array of its envelopes ([wire format](sentinel.md#wire-format-one-message-per-request)). \
Baselines, measured in the same run on the same servers: **raw produce** = {} such events written straight \
to the broker as one message each with the same producer settings as ingest (acks=all, idempotent), all in \
flight at once, and the same events as one message per {} (what ingest writes); **raw insert** = the same \
number of rows inserted straight into ClickHouse in batches of 5,000 (no Kafka).\n\n",
        r["date"].as_str().unwrap_or("?"),
        r["cpu"].as_str().unwrap_or("unknown CPU"),
        r["cores"].as_u64().unwrap_or(0),
        r["rustc"].as_str().unwrap_or("?"),
        r["commit"].as_str().unwrap_or("?"),
        r["processor_batch_size"],
        r["flush_interval"].as_str().unwrap_or("?"),
        r["event_bytes"],
        r["batch"],
        r["baseline_events"],
        r["batch"],
    ));
    s.push_str("| metric | value | vs raw produce | vs raw insert |\n|---|---:|---:|---:|\n");
    s.push_str(&format!(
        "| raw produce to the broker, one message per event (baseline) | {} | 1.00× | |\n",
        per_second(produce)
    ));
    let produce_array = num(&r["baseline_produce_array_per_sec"]);
    s.push_str(&format!(
        "| raw produce to the broker, one message per {} events (baseline) | {} | {} | |\n",
        r["batch"],
        per_second(produce_array),
        ratio(produce_array, produce)
    ));
    s.push_str(&format!("| raw insert into ClickHouse (baseline) | {} | | 1.00× |\n", per_second(insert)));
    s.push_str(&format!(
        "| **sustained: posted → queryable in ClickHouse** ({} events, {} senders) | **{}** | {} | {} |\n",
        r["sustained_events"],
        r["senders"],
        per_second(sustained),
        ratio(sustained, produce),
        ratio(sustained, insert)
    ));
    s.push_str(&format!(
        "| accepted by ingest (202, broker acknowledged) | {} | {} | |\n",
        per_second(accepted),
        ratio(accepted, produce)
    ));
    s.push_str(&format!(
        "| event-to-queryable at a fixed {}: p50 / p99 / max | {} / **{}** / {} | | |\n",
        per_second(num(&r["latency_rate_per_sec"])),
        millis(p50),
        millis(p99),
        millis(num(&r["latency_max_ms"]))
    ));
    s.push_str(&format!(
        "| rows after the run: expected / distinct / read with FINAL | {} / {} / {} | | |\n",
        r["rows_expected"], r["rows_distinct"], r["rows_final"]
    ));
    let cpu = &r["cpu_cores"];
    s.push_str(&format!(
        "| CPU cores in the throughput phase: broker / ClickHouse / ingest / processor / load generator | \
{:.2} / {:.2} / {:.2} / {:.2} / {:.2} | | |\n",
        num(&cpu["broker"]),
        num(&cpu["clickhouse"]),
        num(&cpu["ingest"]),
        num(&cpu["processor"]),
        num(&cpu["load_generator"]),
    ));
    s.push_str(&format!(
        "| peak RSS (VmHWM): ingest / processor | {:.1} MiB / {:.1} MiB | | |\n",
        num(&r["ingest_rss_mib"]),
        num(&r["processor_rss_mib"])
    ));
    s.push_str(&format!(
        "\nLatency: {} probe events, one every 100 ms during a 20 s phase of paced load at the rate above \
({:.0}% of the sustained rate, at most 20,000/s); each is timed from the start of its POST until a query \
(`SELECT … WHERE source = 'bench-probe'`, every 20 ms) first returns it, so it includes ingest, the broker \
round trip, the processor's batching (flush every {}) and the insert. Probes not seen: {}. Sender retries \
during the throughput phase: {}.\n\n",
        r["latency_probes"],
        num(&r["latency_load_share"]) * 100.0,
        r["flush_interval"].as_str().unwrap_or("?"),
        r["latency_missing"],
        r["sender_retries"],
    ));
    let total: f64 = ["broker", "clickhouse", "ingest", "processor", "load_generator"]
        .iter()
        .map(|p| num(&cpu[*p]))
        .filter(|v| v.is_finite())
        .sum();
    let processor = num(&cpu["processor"]);
    s.push_str(&format!(
        "Where the time goes: the processes used {total:.2} of {} cores in the throughput phase. The broker \
pays per Kafka message, not per byte: tansu with SQLite storage writes one database row per record and \
librdkafka's idempotent producer works per message (one message per event reached {} in the raw baseline, \
one message per {} events {}). Before ingest wrote one message per request, the pipeline stalled at about \
10,000 events/s with the broker and ingest's `rdk:broker` thread using 1.5 of the 2 cores; now ingest \
accepts {} and the broker and ingest together use {:.2} cores. {}. The processor spends about {:.0} µs of \
CPU per event ({:.2} cores: splitting each message, serde_json into a `Value`, then the row) and \
ClickHouse 18.16 {:.2} cores on inserts of {} rows and their merges; {}. Reading the next batch overlaps \
the insert of the current one (so the processor holds up to two batches plus librdkafka's fetched \
messages, hence its RSS), and the consumer's `fetch.wait.max.ms` is 50 ms because tansu holds every \
fetch for part of that wait even when it has data (with the default 500 ms, one fetch per 250 ms capped \
the processor at about 15,000–18,000 events/s). A production Kafka cluster acknowledges and serves \
fetches far faster than this single-process SQLite broker.\n\n",
        r["cores"].as_u64().unwrap_or(0),
        per_second(produce),
        r["batch"],
        per_second(produce_array),
        per_second(accepted),
        num(&cpu["broker"]) + num(&cpu["ingest"]),
        if accepted > 1.1 * sustained {
            format!(
                "The limit has moved to the consumer side: rows become queryable at {}, below what ingest \
accepts",
                per_second(sustained)
            )
        } else {
            format!(
                "Rows become queryable at {}, about as fast as ingest accepts them",
                per_second(sustained)
            )
        },
        processor / sustained * 1e6,
        processor,
        num(&cpu["clickhouse"]),
        r["processor_batch_size"],
        if total < 1.8 {
            "the pipeline's processes leave CPU unused, so the consumer side is bound by round trips rather than CPU: \
librdkafka keeps one fetch in flight to the broker (tansu answers at most 5 MiB per fetch) and the \
processor runs one insert at a time"
        } else {
            "together with the broker and ingest that uses the machine's CPUs"
        },
    ));
    s.push_str("Goals (from the issue):\n\n");
    s.push_str(&format!(
        "- ≥ {} sustained: measured {} ({}).\n",
        per_second(GOAL_EVENTS_PER_SEC),
        per_second(sustained),
        verdict(sustained >= GOAL_EVENTS_PER_SEC)
    ));
    s.push_str(&format!(
        "- event-to-queryable p99 ≤ {}: measured {} ({}).\n",
        millis(GOAL_P99_MS),
        millis(p99),
        verdict(p99 <= GOAL_P99_MS)
    ));
    s
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn section_reports_goals_against_measurements() {
        let report = json!({
            "date": "2026-11-26", "cpu": "cpu", "cores": 2, "rustc": "rustc", "commit": "abc",
            "processor_batch_size": 5000, "flush_interval": "1s", "event_bytes": 900, "batch": 256,
            "baseline_events": 100000, "baseline_produce_per_sec": 40000.0, "baseline_produce_array_per_sec": 400000.0, "baseline_insert_per_sec": 300000.0,
            "sustained_events": 200000, "senders": 8, "sustained_per_sec": 25000.0, "accepted_per_sec": 26000.0,
            "latency_rate_per_sec": 20000.0, "latency_p50_ms": 700.0, "latency_p99_ms": 1500.0,
            "latency_max_ms": 1700.0, "rows_expected": 1, "rows_distinct": 1, "rows_final": 1,
            "ingest_rss_mib": 30.0, "processor_rss_mib": 60.0, "latency_probes": 200, "latency_missing": 0,
            "sender_retries": 0
        });
        let s = super::section(&report);
        assert!(s.contains("| **25,000/s** | 0.62× | 0.08× |"), "{s}");
        assert!(s.contains("- ≥ 20,000/s sustained: measured 25,000/s (met)."), "{s}");
        assert!(s.contains("p99 ≤ 2000 ms: measured 1500 ms (met)."), "{s}");
    }
}
