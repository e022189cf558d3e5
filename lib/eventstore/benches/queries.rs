//! Analytics query times of the embedded event store with 1,000,000 events, next to the same
//! queries on 10,000 events (the baseline, same run): the dashboard's analytics page (usage
//! rollup, latency per tool, deny reasons) and the event explorer (a page, a filtered page,
//! stats). Also the write rate of group-committed inserts.
//!
//! `cargo bench -p mcp-eventstore --bench queries` (release); `MCP_BENCH_OUT=<file>` writes the
//! results as JSON for `cargo xtask bench dev`; `MCP_BENCH_EVENTS` overrides the large size.

use std::time::{Duration, Instant};

use mcp_eventstore::EventStore;
use mcp_sentinel::query::{EventFilter, EventQuery, UsageQuery};
use serde_json::{Value, json};

/// Timed runs per query: 20 on the baseline, 5 on the large store (a run there takes seconds).
const RUNS_SMALL: usize = 20;
const RUNS_LARGE: usize = 5;
const DAY_MS: u64 = 86_400_000;

/// A deterministic generator (xorshift): the same data every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn rows(n: usize, now_ms: u64, seed: u64) -> Vec<mcp_sentinel::EventRow> {
    let mut rng = Rng(seed | 1);
    let reasons = [
        "tool_not_granted",
        "session_revoked",
        "trust_too_low",
        "side_effect_not_allowed",
        "session_expired",
    ];
    (0..n)
        .map(|i| {
            let ts = now_ms - rng.below(30 * DAY_MS);
            let server = rng.below(20);
            let tool = rng.below(50);
            let deny = rng.below(100) < 15;
            let latency = 0.2 + (rng.below(10_000) as f64 / 100.0) * if rng.below(10) == 0 { 10.0 } else { 1.0 };
            let envelope = json!({
                "event_id": format!("{:016x}-{i:08}", seed),
                "timestamp": jiff::Timestamp::from_millisecond(ts as i64).map(|t| format!("{t:.3}")).unwrap_or_default(),
                "source": "mcp-gateway", "event_type": "mcp.request",
                "payload": {
                    "method": "POST", "path": format!("/srv-{server}/mcp"), "status": if deny { 403 } else { 200 },
                    "latency_ms": latency, "server": format!("srv-{server}"), "namespace": format!("mcp-team-{}", server % 5),
                    "team_id": format!("team-{}", server % 5), "human_id": format!("human-{}", rng.below(10)),
                    "agent_id": format!("agt-{}", rng.below(200)), "subject_team_id": format!("team-{}", server % 5),
                    "session_id": format!("sess-{}", rng.below(500)),
                    "decision": if deny { "deny" } else { "allow" },
                    "reason": if deny { reasons[rng.below(5) as usize] } else { "allowed" },
                    "policy_version": "sha256:x", "rpc_method": "tools/call", "tool_name": format!("tool-{tool}"),
                }
            });
            mcp_sentinel::row::extract(envelope.to_string().as_bytes()).expect("row")
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

async fn time<F, Fut, T>(runs: usize, mut f: F) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    f().await; // warm-up
    let mut samples = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        std::hint::black_box(f().await);
        samples.push(started.elapsed());
    }
    samples.sort();
    json!({"p50_ms": percentile(&samples, 0.5), "p95_ms": percentile(&samples, 0.95), "max_ms": percentile(&samples, 1.0)})
}

async fn measure(n: usize) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = EventStore::open(&dir.path().join("events.db")).await.expect("open");
    let now = u64::try_from(jiff::Timestamp::now().as_millisecond()).expect("now");
    let data = rows(n, now, 0x5eed);
    let started = Instant::now();
    // Writers as the gateways send them: many small writes in flight, group-committed.
    let mut writes = tokio::task::JoinSet::new();
    for chunk in data.chunks(500) {
        let (store, chunk) = (store.clone(), chunk.to_vec());
        writes.spawn(async move { store.insert(chunk).await.expect("insert") });
        if writes.len() >= 16 {
            writes.join_next().await;
        }
    }
    while writes.join_next().await.is_some() {}
    let insert_s = started.elapsed().as_secs_f64();
    assert_eq!(store.count().await.expect("count"), n as u64);
    let usage = UsageQuery { window_days: Some(30), ..UsageQuery::default() };
    let week = UsageQuery { window_days: Some(7), ..UsageQuery::default() };
    let page = EventQuery { limit: Some(100), ..EventQuery::default() };
    let filtered = EventQuery {
        filter: EventFilter::default().with("server", "srv-3").with("decision", "deny"),
        limit: Some(100),
        ..EventQuery::default()
    };
    let team = EventFilter { namespaces: vec!["mcp-team-2".into()], ..EventFilter::default() };
    let runs = if n > 100_000 { RUNS_LARGE } else { RUNS_SMALL };
    let mut out = serde_json::Map::new();
    out.insert("runs".into(), json!(runs));
    out.insert("events".into(), json!(n));
    out.insert("insert_events_per_s".into(), json!(n as f64 / insert_s));
    out.insert("usage_30d".into(), time(runs, || store.usage(&usage)).await);
    out.insert("usage_7d".into(), time(runs, || store.usage(&week)).await);
    out.insert("latency_30d".into(), time(runs, || store.tool_latency(&usage)).await);
    out.insert("deny_reasons_30d".into(), time(runs, || store.deny_reasons(&usage)).await);
    out.insert("events_page".into(), time(runs, || store.events(&page)).await);
    out.insert("events_filtered".into(), time(runs, || store.events(&filtered)).await);
    out.insert("stats_team".into(), time(runs, || store.stats(&team)).await);
    let page_time = time(runs, || async {
        let a = store.usage(&usage).await;
        let b = store.tool_latency(&usage).await;
        let c = store.deny_reasons(&usage).await;
        (a.is_ok(), b.is_ok(), c.is_ok())
    })
    .await;
    out.insert("analytics_page".into(), page_time);
    Value::Object(out)
}

fn main() {
    let large: usize =
        std::env::var("MCP_BENCH_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let baseline = rt.block_on(measure(10_000));
    let big = rt.block_on(measure(large));
    let report = json!({"baseline": baseline, "large": big});
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
    if let Ok(path) = std::env::var("MCP_BENCH_OUT") {
        std::fs::write(path, report.to_string()).expect("write results");
    }
}
