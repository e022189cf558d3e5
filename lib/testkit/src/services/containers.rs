//! The container runtime (`MCP_TEST_SERVICES=testcontainers`, cargo feature `testcontainers`):
//! the broker and ClickHouse as Docker containers through `testcontainers`, for hosts with a
//! Docker engine. The callers keep their synchronous API, so every container call runs on a
//! runtime of its own, on a scoped thread (never inside the caller's runtime, which may be a
//! tokio test's).
//!
//! Host ports are chosen before the container starts and mapped fixed, so the broker can
//! advertise its address and a stopped container comes back on the same ports.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use testcontainers::core::{ContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use super::{ServiceError, err};

/// The Kafka image (KRaft, single node).
pub const KAFKA_IMAGE: (&str, &str) = ("apache/kafka", "3.9.1");
/// The ClickHouse image.
pub const CLICKHOUSE_IMAGE: (&str, &str) = ("clickhouse/clickhouse-server", "24.8");

/// One running (or stopped) container and the runtime its calls run on.
pub struct Running {
    /// Always `Some` until dropped (then shut down in the background: dropping a runtime
    /// inside the caller's async context would panic).
    runtime: Option<tokio::runtime::Runtime>,
    container: Option<ContainerAsync<GenericImage>>,
    what: &'static str,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let id = self.container.as_ref().map(|c| c.id().to_string());
        f.debug_struct("Running").field("what", &self.what).field("id", &id).finish()
    }
}

/// Runs `fut` to completion on `runtime` from a fresh thread.
fn block<T: Send>(runtime: &tokio::runtime::Runtime, fut: impl Future<Output = T> + Send) -> T {
    std::thread::scope(|scope| {
        scope.spawn(|| runtime.block_on(fut)).join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

impl Running {
    fn start(
        what: &'static str,
        image: (&str, &str),
        wait: WaitFor,
        ports: &[(u16, u16)],
        env: &BTreeMap<&str, String>,
    ) -> Result<Running, ServiceError> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| err(format!("{what}: start a runtime for testcontainers: {e}")))?;
        let mut base = GenericImage::new(image.0, image.1).with_wait_for(wait);
        for (_, container) in ports {
            base = base.with_exposed_port(ContainerPort::Tcp(*container));
        }
        let mut request = base.with_startup_timeout(Duration::from_secs(180));
        for (host, container) in ports {
            request = request.with_mapped_port(*host, ContainerPort::Tcp(*container));
        }
        for (name, value) in env {
            request = request.with_env_var(*name, value.clone());
        }
        match block(&runtime, request.start()) {
            Ok(container) => Ok(Running { runtime: Some(runtime), container: Some(container), what }),
            Err(e) => {
                runtime.shutdown_background();
                Err(err(format!(
                    "{what}: cannot start {}:{} with testcontainers (is a Docker engine running?): {e}",
                    image.0, image.1
                )))
            }
        }
    }

    /// Stops the container (SIGTERM, SIGKILL after `grace`); it can be started again.
    pub fn stop(&mut self, grace: Duration) {
        if let (Some(c), Some(rt)) = (&self.container, &self.runtime) {
            let seconds = i32::try_from(grace.as_secs()).unwrap_or(10);
            let _ = block(rt, c.stop_with_timeout(Some(seconds)));
        }
    }

    /// Kills the container at once; it can be started again.
    pub fn kill(&mut self) {
        self.stop(Duration::ZERO);
    }

    /// Starts the stopped container again (same ports, same data).
    pub fn start_again(&mut self) -> Result<(), ServiceError> {
        let (Some(c), Some(rt)) = (&self.container, &self.runtime) else {
            return Err(err(format!("{}: the container is gone", self.what)));
        };
        block(rt, c.start()).map_err(|e| err(format!("{}: restart the container: {e}", self.what)))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let (Some(c), Some(rt)) = (self.container.take(), &self.runtime) {
            let _ = block(rt, c.rm());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// A single-node KRaft Kafka advertising `127.0.0.1:<port>`, with `num.partitions` 3 as the
/// deployment's topic has.
pub fn kafka(port: u16) -> Result<Running, ServiceError> {
    let env: BTreeMap<&str, String> = [
        ("KAFKA_NODE_ID", "1".to_string()),
        ("KAFKA_PROCESS_ROLES", "broker,controller".into()),
        ("KAFKA_LISTENERS", "PLAINTEXT://0.0.0.0:9092,CONTROLLER://localhost:9093".into()),
        ("KAFKA_ADVERTISED_LISTENERS", format!("PLAINTEXT://127.0.0.1:{port}")),
        ("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER".into()),
        ("KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT".into()),
        ("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093".into()),
        ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1".into()),
        ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1".into()),
        ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1".into()),
        ("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0".into()),
        ("KAFKA_NUM_PARTITIONS", "3".into()),
    ]
    .into();
    Running::start(
        "kafka",
        KAFKA_IMAGE,
        WaitFor::message_on_stdout("Kafka Server started"),
        &[(port, 9092)],
        &env,
    )
}

/// ClickHouse with the `default` user open to the host (no password), HTTP on `http_port` and
/// the native protocol on `tcp_port`; returns once `/ping` answers.
pub fn clickhouse(http_port: u16, tcp_port: u16) -> Result<Running, ServiceError> {
    let env: BTreeMap<&str, String> = [("CLICKHOUSE_SKIP_USER_SETUP", "1".to_string())].into();
    let running = Running::start(
        "clickhouse",
        CLICKHOUSE_IMAGE,
        WaitFor::millis(200),
        &[(http_port, 8123), (tcp_port, 9000)],
        &env,
    )?;
    wait_clickhouse(http_port, Duration::from_secs(60))?;
    Ok(running)
}

/// Waits until the ClickHouse container on `http_port` answers `/ping` (after a start or a
/// restart).
pub fn wait_clickhouse(http_port: u16, timeout: Duration) -> Result<(), ServiceError> {
    let deadline = Instant::now() + timeout;
    while !super::clickhouse_answers(http_port) {
        if Instant::now() > deadline {
            return Err(err(format!("clickhouse: the container did not answer /ping within {timeout:?}")));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
