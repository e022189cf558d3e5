//! Faults under load, each ending with exactly N distinct rows and no duplicate in query
//! results: the processor killed with SIGKILL mid-batch, the broker stopped for 10 s, ClickHouse
//! stopped for 10 s.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{Pipeline, SendStats, Servers, Setup, event, metric, send_all};

/// Sends `n` events in batches of `batch`, one batch every `every`, retrying like the gateway.
fn paced_sender(
    url: String,
    n: usize,
    batch: usize,
    every: Duration,
) -> (tokio::task::JoinHandle<()>, Arc<SendStats>) {
    let stats = Arc::new(SendStats::default());
    let events: Vec<Value> = (0..n).map(event).collect();
    let st = stats.clone();
    let task = tokio::spawn(async move {
        let client = reqwest::Client::new();
        let mut next = tokio::time::Instant::now();
        for chunk in events.chunks(batch) {
            tokio::time::sleep_until(next).await;
            next += every;
            send_all(&client, &url, vec![chunk.to_vec()], st.clone()).await;
        }
    });
    (task, stats)
}

async fn check_no_duplicates(pipeline: &Pipeline, n: u64) {
    pipeline.expect_exactly(n, Duration::from_secs(120)).await;
    let ids = pipeline.all_event_ids(1_000).await;
    assert_eq!(ids.len() as u64, n, "the event list shows every event once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processor_killed_with_sigkill_mid_batch_then_restarted() {
    let servers = Servers::start();
    let mut setup = Setup::new("sigkill");
    setup.batch_size = 1_000;
    setup.flush_interval = "1s";
    let mut pipeline = Pipeline::start(&servers, setup);
    let n = 12_000;
    let (sender, _stats) = paced_sender(pipeline.url("/events"), n, 200, Duration::from_millis(40));

    // Kill as soon as some rows are in, while the rest is still arriving.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, distinct, _) = pipeline.counts().await;
        if distinct > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no row arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pipeline.processor.kill();
    let (_, at_kill, _) = pipeline.counts().await;
    eprintln!("processor killed with {at_kill} rows in");
    tokio::time::sleep(Duration::from_secs(1)).await;
    pipeline.processor.start();
    // Kill it once more while it catches up, then let it finish.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    pipeline.processor.kill();
    pipeline.processor.start();
    sender.await.expect("sender");
    check_no_duplicates(&pipeline, n as u64).await;
    assert!(pipeline.processor.stop(), "processor exits cleanly on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_stopped_for_ten_seconds_under_load() {
    let mut servers = Servers::start();
    let pipeline = Pipeline::start(&servers, Setup::new("broker-down"));
    let n = 12_000;
    let (sender, stats) = paced_sender(pipeline.url("/events"), n, 100, Duration::from_millis(100));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let broker = tokio::task::spawn_blocking(move || {
        servers.broker.kill();
        std::thread::sleep(Duration::from_secs(10));
        servers.broker.start_again().unwrap_or_else(|e| panic!("{e}"));
        servers
    });
    // While the broker is down, ingest refuses with 5xx and is not ready.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let ready = mcp_testkit::services::http_get(pipeline.ingest_port, "/ready").unwrap_or_default();
    assert!(ready.contains(" 503 ") && ready.contains("kafka_unavailable"), "ready while down: {ready}");
    let _servers = broker.await.expect("broker restart");
    sender.await.expect("sender");
    let refused = stats.server_errors.load(Ordering::Relaxed);
    eprintln!("ingest answered 5xx {refused} times while the broker was down");
    assert!(refused > 0, "ingest must answer 5xx while the broker is down");
    assert_eq!(stats.accepted.load(Ordering::Relaxed), n as u64);
    check_no_duplicates(&pipeline, n as u64).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clickhouse_stopped_for_ten_seconds_under_load() {
    let mut servers = Servers::start();
    let pipeline = Pipeline::start(&servers, Setup::new("clickhouse-down"));
    let n = 12_000;
    let (sender, stats) = paced_sender(pipeline.url("/events"), n, 100, Duration::from_millis(100));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let clickhouse = tokio::task::spawn_blocking(move || {
        servers.clickhouse.stop();
        std::thread::sleep(Duration::from_secs(10));
        servers.clickhouse.start_again().unwrap_or_else(|e| panic!("{e}"));
        servers
    });
    // While ClickHouse is down the processor holds its batch and pauses intake.
    let mut paused = false;
    let deadline = Instant::now() + Duration::from_secs(9);
    while Instant::now() < deadline && !paused {
        paused = metric(&pipeline.processor_metrics(), "processor_intake_paused") == 1.0;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(paused, "intake must pause while ClickHouse is down");
    let _servers = clickhouse.await.expect("clickhouse restart");
    sender.await.expect("sender");
    assert_eq!(stats.server_errors.load(Ordering::Relaxed), 0, "ingest does not depend on ClickHouse");
    check_no_duplicates(&pipeline, n as u64).await;
    let metrics = pipeline.processor_metrics();
    assert_eq!(metric(&metrics, "processor_intake_paused"), 0.0, "intake resumed");
    assert!(metric(&metrics, "processor_intake_pause_transitions_total") >= 1.0);
    assert!(metric(&metrics, "sentinel_processor_inserts_total{outcome=\"failed\"}") >= 1.0);
}
