//! The harness: real servers (tansu, ClickHouse) from `mcp_testkit::services`, the real
//! `mcp-sentinel` binary as child processes, a sender that retries like the gateway, and
//! helpers to read ClickHouse.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mcp_sentinel::{Analytics, ClickHouseConfig, Database};
use mcp_testkit::services::{Broker, ClickHouse, free_port, http_get, terminate};
use serde_json::{Value, json};

pub const API_KEY: &str = "test-ingest-key";

/// One test's servers and data directory.
pub struct Servers {
    pub dir: tempfile::TempDir,
    pub broker: Broker,
    pub clickhouse: ClickHouse,
}

impl Servers {
    /// Starts a broker and a ClickHouse server (each on free loopback ports).
    pub fn start() -> Servers {
        let dir = tempfile::Builder::new().prefix("mcp-sentinel-it-").tempdir().expect("temp dir");
        let broker = Broker::start(&dir.path().join("broker")).unwrap_or_else(|e| panic!("{e}"));
        let clickhouse = ClickHouse::start(&dir.path().join("clickhouse")).unwrap_or_else(|e| panic!("{e}"));
        Servers { dir, broker, clickhouse }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Settings of one pipeline (its own topics, group and database).
#[derive(Clone, Debug)]
pub struct Setup {
    pub name: String,
    pub topic: String,
    pub dlq_topic: String,
    pub group: String,
    pub db: String,
    pub batch_size: usize,
    pub flush_interval: &'static str,
    pub extra_ingest_env: Vec<(String, String)>,
}

impl Setup {
    pub fn new(name: &str) -> Setup {
        Setup {
            name: name.to_string(),
            topic: format!("{name}.events"),
            dlq_topic: format!("{name}.events.dlq"),
            group: format!("{name}-processor"),
            db: name.replace(['-', '.'], "_"),
            batch_size: 5_000,
            flush_interval: "200ms",
            extra_ingest_env: Vec::new(),
        }
    }
}

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_mcp-sentinel")
}

fn log_stdio(path: &Path) -> (Stdio, Stdio) {
    let file = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("log file");
    let copy = file.try_clone().expect("log file");
    (Stdio::from(file), Stdio::from(copy))
}

/// A running `mcp-sentinel` child process.
pub struct Proc {
    pub child: Option<Child>,
    pub log: PathBuf,
    cmd: Vec<(String, String)>,
    sub: &'static str,
}

impl Proc {
    fn spawn(sub: &'static str, env: Vec<(String, String)>, log: PathBuf) -> Proc {
        let mut p = Proc { child: None, log, cmd: env, sub };
        p.start();
        p
    }

    /// Starts it (again) with the same settings.
    pub fn start(&mut self) {
        let (out, err) = log_stdio(&self.log);
        let child = Command::new(bin())
            .arg(self.sub)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .envs(self.cmd.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .expect("start mcp-sentinel");
        self.child = Some(child);
    }

    /// SIGKILL: no flush, no commit.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then wait for a clean exit; returns whether it exited successfully.
    pub fn stop(&mut self) -> bool {
        match self.child.take() {
            Some(mut child) => {
                terminate(&mut child);
                child.wait().map(|s| s.success()).unwrap_or(false)
            }
            None => true,
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Ingest and processor wired to a [`Servers`].
pub struct Pipeline {
    pub setup: Setup,
    pub ingest: Proc,
    pub processor: Proc,
    pub ingest_port: u16,
    pub metrics_port: u16,
    pub ch_url: String,
    pub brokers: String,
}

impl Pipeline {
    pub fn start(servers: &Servers, setup: Setup) -> Pipeline {
        let p = Pipeline::start_without_processor(servers, setup);
        p.wait_processor_ready();
        p
    }

    /// Ingest running; the processor is started but may still be joining its group.
    pub fn start_without_processor(servers: &Servers, setup: Setup) -> Pipeline {
        let ingest_port = free_port().expect("port");
        let metrics_port = free_port().expect("port");
        let brokers = servers.broker.bootstrap();
        let ch_url = servers.clickhouse.url();
        let kafka = vec![
            ("KAFKA_BROKERS".to_string(), brokers.clone()),
            ("KAFKA_TOPIC".into(), setup.topic.clone()),
            ("KAFKA_DLQ_TOPIC".into(), setup.dlq_topic.clone()),
            ("RUST_LOG".into(), "info,librdkafka=warn,rdkafka=warn".into()),
        ];
        let mut ingest_env = kafka.clone();
        ingest_env.extend([
            ("BIND_ADDRESS".to_string(), "127.0.0.1".to_string()),
            ("PORT".into(), ingest_port.to_string()),
            ("INGEST_API_KEYS".into(), format!("other-key,{API_KEY}")),
            ("KAFKA_DELIVERY_TIMEOUT".into(), "3s".into()),
        ]);
        ingest_env.extend(setup.extra_ingest_env.iter().cloned());
        let mut processor_env = kafka;
        processor_env.extend([
            ("KAFKA_GROUP".to_string(), setup.group.clone()),
            // Static membership: a restarted processor takes its partitions back at once.
            ("KAFKA_GROUP_INSTANCE_ID".into(), format!("{}-0", setup.group)),
            ("CLICKHOUSE_URL".into(), ch_url.clone()),
            ("CLICKHOUSE_DB".into(), setup.db.clone()),
            ("BATCH_SIZE".into(), setup.batch_size.to_string()),
            ("FLUSH_INTERVAL".into(), setup.flush_interval.to_string()),
            ("METRICS_BIND_ADDRESS".into(), "127.0.0.1".into()),
            ("METRICS_PORT".into(), metrics_port.to_string()),
            ("MAX_BACKOFF".into(), "1s".into()),
        ]);
        let ingest =
            Proc::spawn("ingest", ingest_env, servers.path().join(format!("{}-ingest.log", setup.name)));
        let processor = Proc::spawn(
            "processor",
            processor_env,
            servers.path().join(format!("{}-processor.log", setup.name)),
        );
        let p = Pipeline { setup, ingest, processor, ingest_port, metrics_port, ch_url, brokers };
        wait_for("ingest /live", Duration::from_secs(20), || http_get(ingest_port, "/live").is_some());
        p
    }

    pub fn wait_processor_ready(&self) {
        let port = self.metrics_port;
        wait_for("processor /ready", Duration::from_secs(30), || {
            http_get(port, "/ready")
                .is_some_and(|r| r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.0 200"))
        });
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.ingest_port)
    }

    pub fn clickhouse(&self) -> ClickHouseConfig {
        let mut config = ClickHouseConfig::new(&self.ch_url);
        config.database = Database::new(&self.setup.db).expect("database name");
        config
    }

    pub fn analytics(&self) -> Analytics {
        Analytics::new(&self.clickhouse())
    }

    /// The processor's metrics text.
    pub fn processor_metrics(&self) -> String {
        http_get(self.metrics_port, "/metrics").unwrap_or_default()
    }

    /// Counts in ClickHouse: (rows with FINAL, distinct event ids, raw rows).
    pub async fn counts(&self) -> (u64, u64, u64) {
        let client = self.clickhouse().client();
        let db = &self.setup.db;
        let q = |sql: String| {
            let client = client.clone();
            async move { client.query(&sql).fetch_one::<u64>().await.unwrap_or(0) }
        };
        (
            q(format!("SELECT count() FROM {db}.events FINAL")).await,
            q(format!("SELECT uniqExact(event_id) FROM {db}.events")).await,
            q(format!("SELECT count() FROM {db}.events")).await,
        )
    }

    /// Waits until `n` distinct events are queryable, then checks nothing more arrives.
    pub async fn expect_exactly(&self, n: u64, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let (final_rows, distinct, raw) = self.counts().await;
            if distinct >= n {
                // Let late copies (redelivery) land, then check again.
                tokio::time::sleep(Duration::from_millis(1500)).await;
                let (final_rows, distinct, raw) = self.counts().await;
                assert_eq!(distinct, n, "distinct event ids (raw rows {raw})");
                assert_eq!(final_rows, n, "rows read with FINAL (raw rows {raw})");
                let stats = self.analytics().stats(&Default::default()).await.expect("stats");
                assert_eq!(stats.count, n, "query library count");
                eprintln!("{}: {n} distinct rows ({raw} raw rows before merges)", self.setup.name);
                return;
            }
            if Instant::now() > deadline {
                self.dump_logs();
                panic!(
                    "only {distinct} of {n} events queryable after {within:?} (FINAL {final_rows}, raw {raw})"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Reads every page of the event list; panics on a duplicate id.
    pub async fn all_event_ids(&self, page: u32) -> HashSet<String> {
        let analytics = self.analytics();
        let mut seen = HashSet::new();
        let mut query = mcp_sentinel::query::EventQuery { limit: Some(page), ..Default::default() };
        loop {
            let result = analytics.events(&query).await.expect("event page");
            for e in &result.events {
                assert!(seen.insert(e.event_id.clone()), "event {} listed twice", e.event_id);
            }
            match result.meta.next_cursor {
                Some(cursor) => query.cursor = Some(cursor),
                None => return seen,
            }
        }
    }

    pub fn dump_logs(&self) {
        for p in [&self.ingest, &self.processor] {
            let text = p.log_text();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("---- {} (last 40 lines) ----", p.log.display());
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{line}");
            }
        }
    }
}

pub fn wait_for(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "{what}: not ready within {within:?}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A gateway-shaped event with a fresh UUIDv7 id.
pub fn event(i: usize) -> Value {
    json!({
        "event_id": uuid::Uuid::now_v7().to_string(),
        "timestamp": jiff::Timestamp::now().to_string(),
        "source": "mcp-gateway",
        "event_type": "mcp.request",
        "payload": {
            "method": "POST", "path": "/ws/mcp", "status": 200, "latency_ms": (i % 50) as f64,
            "bytes_in": 100, "bytes_out": 200, "server": format!("server-{}", i % 3),
            "namespace": "team-a", "team_id": "team-a", "cluster": "test",
            "human_id": format!("user-{}", i % 7), "agent_id": "agent", "subject_team_id": "team-a",
            "session_id": "sess", "decision": if i.is_multiple_of(5) { "deny" } else { "allow" },
            "reason": if i.is_multiple_of(5) { "trust_too_low" } else { "allowed" }, "policy_version": "sha256:x",
            "rpc_method": "tools/call", "tool_name": "add"
        }
    })
}

/// What a sender saw.
#[derive(Debug, Default)]
pub struct SendStats {
    pub accepted: AtomicU64,
    pub server_errors: AtomicU64,
    pub connect_errors: AtomicU64,
    pub attempts: AtomicU64,
}

/// POSTs batches like the gateway does: retries on 5xx and connection errors with backoff
/// until ingest accepts (same events, same ids). Panics on any other refusal.
pub async fn send_all(client: &reqwest::Client, url: &str, batches: Vec<Vec<Value>>, stats: Arc<SendStats>) {
    for batch in batches {
        let body = serde_json::to_string(&batch).expect("JSON");
        let mut backoff = Duration::from_millis(50);
        loop {
            stats.attempts.fetch_add(1, Ordering::Relaxed);
            let res = client
                .post(url)
                .header("content-type", "application/json")
                .header("x-api-key", API_KEY)
                .body(body.clone())
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            match res {
                Ok(r) if r.status().as_u16() == 202 => {
                    stats.accepted.fetch_add(batch.len() as u64, Ordering::Relaxed);
                    break;
                }
                Ok(r) if r.status().is_server_error() => {
                    stats.server_errors.fetch_add(1, Ordering::Relaxed);
                }
                Ok(r) => {
                    let status = r.status();
                    panic!("ingest refused a valid batch: {status} {}", r.text().await.unwrap_or_default());
                }
                Err(_) => {
                    stats.connect_errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_millis(1000));
        }
    }
}

/// Sends `events` in batches of `batch` over `senders` concurrent connections.
pub async fn send_concurrently(
    url: &str,
    events: Vec<Value>,
    batch: usize,
    senders: usize,
) -> Arc<SendStats> {
    let stats = Arc::new(SendStats::default());
    let client = reqwest::Client::new();
    let batches: Vec<Vec<Value>> = events.chunks(batch).map(<[Value]>::to_vec).collect();
    let mut lanes: Vec<Vec<Vec<Value>>> = (0..senders).map(|_| Vec::new()).collect();
    for (i, b) in batches.into_iter().enumerate() {
        lanes[i % senders].push(b);
    }
    let mut tasks = Vec::new();
    for lane in lanes {
        let (client, url, stats) = (client.clone(), url.to_string(), stats.clone());
        tasks.push(tokio::spawn(async move { send_all(&client, &url, lane, stats).await }));
    }
    for t in tasks {
        t.await.expect("sender");
    }
    stats
}

/// One POST; returns (status, parsed JSON body).
pub async fn post(
    client: &reqwest::Client,
    url: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> (u16, Value) {
    let mut req = client.post(url).header("content-type", "application/json").body(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("ingest answers");
    let status = res.status().as_u16();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A counter value from Prometheus text (`name{labels} value`); 0 when absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}
