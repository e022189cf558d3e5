//! `cargo xtask bench sentinel`: sustained events/s through ingest → broker → processor →
//! ClickHouse on this machine, and event-to-queryable latency, next to same-run baselines
//! (raw produce to the broker, raw insert into ClickHouse).
//!
//! Everything runs on loopback on the same CPUs: tansu (SQLite storage), ClickHouse, the
//! release `mcp-sentinel ingest` and `processor`, and this load generator. Results go to the
//! JSON file named by `MCP_BENCH_OUT` (xtask turns it into docs/benchmarks.md).

#[allow(dead_code)]
#[path = "../tests/it/support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mcp_sentinel::EventRow;
use rdkafka::ClientConfig;
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use support::{API_KEY, Pipeline, Servers, Setup};

/// Events per POST, like the gateway's audit batches.
const BATCH: usize = 256;
/// Concurrent senders in the throughput phase (`MCP_BENCH_SENDERS` overrides), standing in for
/// a fleet of gateways.
const SENDERS: usize = 8;
/// Events of the throughput phase.
const SUSTAINED_EVENTS: usize = 200_000;
/// Events of each baseline.
const BASELINE_EVENTS: usize = 100_000;
/// Length of the fixed-rate latency phase.
const LATENCY_PHASE: Duration = Duration::from_secs(20);
/// The latency phase runs at this share of the measured sustained rate (at most 20,000/s), a
/// load the pipeline keeps up with even when the shared machine is busy.
const LATENCY_LOAD: f64 = 0.5;
/// One probe event every this long during the latency phase.
const PROBE_EVERY: Duration = Duration::from_millis(100);

const TOOLS: [&str; 4] = ["add", "echo", "create_task", "upper"];

fn gateway_event(i: usize, source: &str) -> Value {
    json!({
        "event_id": uuid::Uuid::now_v7().to_string(),
        "timestamp": jiff::Timestamp::now().to_string(),
        "source": source,
        "event_type": "mcp.request",
        "payload": {
            "method": "POST", "path": "/workspace-assistant/mcp", "status": 200,
            "latency_ms": (i % 97) as f64 * 0.37, "bytes_in": 312, "bytes_out": 1188,
            "server": format!("server-{}", i % 20), "namespace": "team-a", "team_id": "team-a",
            "cluster": "prod-eu-1", "human_id": format!("user-{}", i % 500),
            "agent_id": format!("agent-{}", i % 50), "subject_team_id": "team-a",
            "session_id": format!("sess-{}", i % 1000), "decision": if i.is_multiple_of(9) { "deny" } else { "allow" },
            "reason": if i.is_multiple_of(9) { "trust_too_low" } else { "allowed" },
            "policy_version": "sha256:8c6f0e0b3d4a", "rpc_method": "tools/call",
            "tool_name": TOOLS[i % 4], "protocol_version": "2025-06-18",
            "matched_grant": "ops-agent-grant", "matched_grant_namespace": "team-a",
            "matched_session": format!("sess-{}", i % 1000), "matched_session_namespace": "team-a",
            "required_trust": "low", "admin_trust": "high", "consented_trust": "high", "effective_trust": "high"
        }
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1]
}

/// CPU seconds (user + system) a process used so far, from /proc (100 ticks per second).
fn cpu_seconds(pid: Option<u32>) -> f64 {
    let Some(pid) = pid else { return f64::NAN };
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) start after the last ')'.
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some((f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?) / 100.0)
        })
        .unwrap_or(f64::NAN)
}

fn vm_hwm_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_string))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn raw_produce_rate(brokers: &str, payloads: &[Vec<u8>]) -> f64 {
    mcp_sentinel::kafka::ensure_topics(&mcp_sentinel::KafkaConfig {
        topic: "bench.raw".into(),
        dlq_topic: "bench.raw.dlq".into(),
        ..mcp_sentinel::KafkaConfig::new(brokers)
    })
    .await
    .expect("topics");
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .expect("producer");
    let started = Instant::now();
    let mut pending = Vec::with_capacity(payloads.len());
    for (i, p) in payloads.iter().enumerate() {
        let key = i.to_string();
        loop {
            match producer.send_result(FutureRecord::to("bench.raw").key(&key).payload(p)) {
                Ok(d) => {
                    pending.push(d);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(1)).await,
            }
        }
    }
    for d in pending {
        d.await.expect("delivery").expect("acknowledged");
    }
    payloads.len() as f64 / started.elapsed().as_secs_f64()
}

async fn raw_insert_rate(pipeline: &Pipeline, payloads: &[Vec<u8>]) -> f64 {
    let rows: Vec<EventRow> = payloads.iter().map(|p| mcp_sentinel::row::extract(p).expect("row")).collect();
    let mut config = pipeline.clickhouse();
    config.database = mcp_sentinel::Database::new("bench_raw").expect("name");
    mcp_sentinel::schema::migrate(&config.client(), &config.database).await.expect("migrate");
    let client = config.client().with_database("bench_raw");
    let started = Instant::now();
    for chunk in rows.chunks(5_000) {
        let mut insert = client.insert::<EventRow>("events").await.expect("insert");
        for r in chunk {
            insert.write(r).await.expect("write");
        }
        insert.end().await.expect("end");
    }
    rows.len() as f64 / started.elapsed().as_secs_f64()
}

async fn raw_count(client: &clickhouse::Client, db: &str) -> u64 {
    client.query(&format!("SELECT count() FROM {db}.events")).fetch_one::<u64>().await.unwrap_or(0)
}

/// POSTs pre-built bodies over `senders` connections as fast as ingest takes them.
async fn blast(url: &str, bodies: Vec<(String, usize)>, senders: usize) -> (Duration, u64) {
    let client = reqwest::Client::new();
    let queue = Arc::new(std::sync::Mutex::new(bodies));
    let retries = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..senders {
        let (client, url, queue, retries) = (client.clone(), url.to_string(), queue.clone(), retries.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some((body, _)) = queue.lock().expect("queue").pop() else { return };
                loop {
                    let res = client
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-api-key", API_KEY)
                        .body(body.clone())
                        .send()
                        .await;
                    if res.is_ok_and(|r| r.status().as_u16() == 202) {
                        break;
                    }
                    retries.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    (started.elapsed(), retries.load(Ordering::Relaxed))
}

fn bodies(n: usize, source: &str) -> Vec<(String, usize)> {
    let events: Vec<Value> = (0..n).map(|i| gateway_event(i, source)).collect();
    events.chunks(BATCH).map(|c| (serde_json::to_string(c).expect("JSON"), c.len())).collect()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let out = std::env::var_os("MCP_BENCH_OUT");
    let servers = Servers::start();
    let mut setup = Setup::new("bench");
    setup.flush_interval = "1s";
    setup.batch_size = 5_000;
    // Extra settings for ingest and the processor, e.g. MCP_BENCH_ENV=KAFKA_LINGER=20ms,KAFKA_COMPRESSION=lz4.
    let extra = std::env::var("MCP_BENCH_ENV").unwrap_or_default();
    setup.extra_ingest_env = extra
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let pipeline = Pipeline::start(&servers, setup);
    let client = pipeline.clickhouse().client();
    let db = pipeline.setup.db.clone();
    let url = pipeline.url("/events");
    let sample = serde_json::to_vec(&gateway_event(1, "mcp-gateway")).expect("JSON");
    eprintln!("event size: {} bytes of JSON", sample.len());

    // Baselines, same run, same machine.
    let payloads: Vec<Vec<u8>> =
        (0..BASELINE_EVENTS).map(|i| serde_json::to_vec(&gateway_event(i, "raw")).expect("JSON")).collect();
    let produce_rate = raw_produce_rate(&pipeline.brokers, &payloads).await;
    eprintln!("baseline: raw produce {produce_rate:.0} msg/s");
    // The same events as ingest writes them: one message (a JSON array) per request of BATCH.
    let arrays: Vec<Vec<u8>> = payloads
        .chunks(BATCH)
        .map(|c| {
            let mut v = b"[".to_vec();
            v.extend_from_slice(&c.join(&b',')[..]);
            v.push(b']');
            v
        })
        .collect();
    let produce_array_rate =
        raw_produce_rate(&pipeline.brokers, &arrays).await * payloads.len() as f64 / arrays.len() as f64;
    eprintln!("baseline: raw produce of arrays of {BATCH}: {produce_array_rate:.0} events/s");
    drop(arrays);
    let insert_rate = raw_insert_rate(&pipeline, &payloads).await;
    eprintln!("baseline: raw insert {insert_rate:.0} rows/s");
    drop(payloads);

    // Warm-up: the processor joins its group, ClickHouse creates the first parts.
    let warm = 5_120;
    blast(&url, bodies(warm, "warmup"), 4).await;
    while raw_count(&client, &db).await < warm as u64 {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Throughput: as fast as ingest takes them, until every event is queryable.
    let work = bodies(SUSTAINED_EVENTS, "sustained");
    let target = (warm + SUSTAINED_EVENTS) as u64;
    let started = Instant::now();
    let poller = {
        let (client, db) = (client.clone(), db.clone());
        tokio::spawn(async move {
            loop {
                if raw_count(&client, &db).await >= target {
                    return started.elapsed();
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    };
    let pids = [
        ("broker", servers.broker.pid()),
        ("clickhouse", servers.clickhouse.pid()),
        ("ingest", pipeline.ingest.child.as_ref().map(std::process::Child::id)),
        ("processor", pipeline.processor.child.as_ref().map(std::process::Child::id)),
        ("load_generator", Some(std::process::id())),
    ];
    let cpu_before: Vec<f64> = pids.iter().map(|(_, pid)| cpu_seconds(*pid)).collect();
    let senders = std::env::var("MCP_BENCH_SENDERS").ok().and_then(|v| v.parse().ok()).unwrap_or(SENDERS);
    let (accept_time, retries) = blast(&url, work, senders).await;
    let queryable_time = poller.await.expect("poller");
    let cpu_cores: serde_json::Map<String, Value> = pids
        .iter()
        .zip(&cpu_before)
        .map(|((name, pid), before)| {
            ((*name).to_string(), Value::from((cpu_seconds(*pid) - before) / queryable_time.as_secs_f64()))
        })
        .collect();
    eprintln!("CPU cores during the throughput phase: {cpu_cores:?}");
    let sustained = SUSTAINED_EVENTS as f64 / queryable_time.as_secs_f64();
    let accepted = SUSTAINED_EVENTS as f64 / accept_time.as_secs_f64();
    eprintln!(
        "sustained: {sustained:.0} events/s queryable ({accepted:.0}/s accepted by ingest, {retries} retries), \
         {:.1} s",
        queryable_time.as_secs_f64()
    );

    // Latency: a fixed rate below what the pipeline sustains, with probe events timed from the
    // start of their POST to the moment a query finds them.
    let rate = (LATENCY_LOAD * sustained).clamp(1_000.0, 20_000.0);
    let batches_per_sec = rate / BATCH as f64;
    let batch_every = Duration::from_secs_f64(1.0 / batches_per_sec);
    let n_batches = (LATENCY_PHASE.as_secs_f64() * batches_per_sec) as usize;
    let load = bodies(n_batches * BATCH, "paced");
    let probes_sent: Arc<std::sync::Mutex<Vec<(String, Instant)>>> = Arc::default();
    let http = reqwest::Client::new();
    let loader = {
        let (http, url) = (http.clone(), url.clone());
        tokio::spawn(async move {
            let mut next = tokio::time::Instant::now();
            let mut inflight = Vec::new();
            for (body, _) in load {
                tokio::time::sleep_until(next).await;
                next += batch_every;
                let (http, url) = (http.clone(), url.clone());
                inflight.push(tokio::spawn(async move {
                    let _ = http
                        .post(&url)
                        .header("content-type", "application/json")
                        .header("x-api-key", API_KEY)
                        .body(body)
                        .send()
                        .await;
                }));
            }
            for t in inflight {
                let _ = t.await;
            }
        })
    };
    let prober = {
        let (http, url, probes_sent) = (http.clone(), url.clone(), probes_sent.clone());
        tokio::spawn(async move {
            let deadline = Instant::now() + LATENCY_PHASE;
            let mut i = 0;
            while Instant::now() < deadline {
                let e = gateway_event(i, "bench-probe");
                let id = e["event_id"].as_str().expect("id").to_string();
                i += 1;
                let sent = Instant::now();
                probes_sent.lock().expect("probes").push((id, sent));
                let _ = http
                    .post(&url)
                    .header("content-type", "application/json")
                    .header("x-api-key", API_KEY)
                    .body(e.to_string())
                    .send()
                    .await;
                tokio::time::sleep_until((sent + PROBE_EVERY).into()).await;
            }
        })
    };
    let mut seen: std::collections::HashMap<String, Instant> = Default::default();
    let watch_until = Instant::now() + LATENCY_PHASE + Duration::from_secs(30);
    loop {
        let ids: Vec<String> = client
            .query(&format!("SELECT event_id FROM {db}.events WHERE source = 'bench-probe'"))
            .fetch_all()
            .await
            .unwrap_or_default();
        let now = Instant::now();
        for id in ids {
            seen.entry(id).or_insert(now);
        }
        let sent = probes_sent.lock().expect("probes").len();
        if (prober.is_finished() && seen.len() >= sent) || now > watch_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    loader.await.expect("loader");
    let _ = prober.await;
    let sent = probes_sent.lock().expect("probes").clone();
    let mut latencies: Vec<f64> = sent
        .iter()
        .filter_map(|(id, at)| seen.get(id).map(|s| s.duration_since(*at).as_secs_f64() * 1e3))
        .collect();
    latencies.sort_by(f64::total_cmp);
    let missing = sent.len() - latencies.len();
    let (p50, p99, max) = (
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        latencies.last().copied().unwrap_or(f64::NAN),
    );
    eprintln!(
        "latency at {rate:.0} events/s: p50 {p50:.0} ms, p99 {p99:.0} ms, max {max:.0} ms ({} probes, {missing} missing)",
        sent.len()
    );

    // Nothing lost, nothing twice.
    let expected = target + (n_batches * BATCH) as u64 + sent.len() as u64;
    let deadline = Instant::now() + Duration::from_secs(60);
    let (mut final_rows, mut distinct) = (0, 0);
    while Instant::now() < deadline {
        (final_rows, distinct, _) = pipeline.counts().await;
        if distinct >= expected {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("rows: {final_rows} (FINAL), {distinct} distinct ids, {expected} events sent");
    let ingest_rss = pipeline.ingest.child.as_ref().map_or(f64::NAN, |c| vm_hwm_mib(c.id()));
    let processor_rss = pipeline.processor.child.as_ref().map_or(f64::NAN, |c| vm_hwm_mib(c.id()));

    let report = json!({
        "event_bytes": sample.len(),
        "batch": BATCH,
        "senders": senders,
        "processor_batch_size": pipeline.setup.batch_size,
        "flush_interval": pipeline.setup.flush_interval,
        "baseline_produce_per_sec": produce_rate,
        "baseline_produce_array_per_sec": produce_array_rate,
        "baseline_insert_per_sec": insert_rate,
        "baseline_events": BASELINE_EVENTS,
        "sustained_events": SUSTAINED_EVENTS,
        "sustained_per_sec": sustained,
        "accepted_per_sec": accepted,
        "sustained_seconds": queryable_time.as_secs_f64(),
        "sender_retries": retries,
        "cpu_cores": cpu_cores,
        "settings": extra,
        "latency_rate_per_sec": rate,
        "latency_load_share": LATENCY_LOAD,
        "latency_probes": sent.len(),
        "latency_missing": missing,
        "latency_p50_ms": p50,
        "latency_p99_ms": p99,
        "latency_max_ms": max,
        "rows_expected": expected,
        "rows_final": final_rows,
        "rows_distinct": distinct,
        "ingest_rss_mib": ingest_rss,
        "processor_rss_mib": processor_rss,
    });
    println!("{report:#}");
    if let Some(path) = out {
        std::fs::write(&path, report.to_string()).expect("write results");
    }
}
