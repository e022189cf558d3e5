//! Real servers for tests: a Kafka-protocol broker (`tansu` with durable SQLite storage) and a
//! ClickHouse server, each on free loopback ports with its data in a directory the caller owns,
//! stopped by PID when dropped.
//!
//! Binaries: `MCP_TANSU_BIN` (default [`TANSU_BIN`]) and `MCP_CLICKHOUSE_BIN` (default
//! [`CLICKHOUSE_BIN`]). When one is missing, starting fails with a message naming
//! `cargo xtask services install`, which installs both.
//!
//! Runtime: `MCP_TEST_SERVICES=local` (default) runs the installed binaries as child processes.
//! `MCP_TEST_SERVICES=testcontainers` runs the images of [`containers`] instead (Docker hosts;
//! needs the cargo feature `testcontainers`); see [`runtime`].

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Where `cargo xtask services install` puts the durable tansu build.
pub const TANSU_BIN: &str = "/var/tmp/mcp-runtime-tools/tansu-0.6.0-libsql/bin/tansu";
/// Where Debian's `clickhouse-server` package puts the server.
pub const CLICKHOUSE_BIN: &str = "/usr/sbin/clickhouse-server";

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A server that could not be started.
#[derive(Debug)]
pub struct ServiceError(String);

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ServiceError {}

impl ServiceError {
    /// An error with this message (for the other service helpers of this crate).
    pub(crate) fn new(msg: impl Into<String>) -> ServiceError {
        ServiceError(msg.into())
    }
}

fn err(msg: impl Into<String>) -> ServiceError {
    ServiceError(msg.into())
}

/// How tests get their servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// Installed binaries started as child processes (the default; what CI runs).
    Local,
    /// Docker images through `testcontainers` (Docker hosts only).
    Testcontainers,
}

/// The runtime chosen by `MCP_TEST_SERVICES` (`local`, the default, or `testcontainers`).
///
/// The container runtime is compiled only with the cargo feature `testcontainers` (our CI
/// machines have no Docker engine); without it, asking for it fails with a message that says
/// how to build it instead of silently falling back to the local servers.
pub fn runtime() -> Result<Runtime, ServiceError> {
    match std::env::var("MCP_TEST_SERVICES").as_deref() {
        Err(_) | Ok("") | Ok("local") => Ok(Runtime::Local),
        Ok("testcontainers") if cfg!(feature = "testcontainers") => Ok(Runtime::Testcontainers),
        Ok("testcontainers") => {
            Err(err("MCP_TEST_SERVICES=testcontainers: this build has no container runtime; \
             build the tests with `--features mcp-testkit/testcontainers` (a Docker engine is needed), \
             or unset it to use the local servers (`cargo xtask services install`)"))
        }
        Ok(other) => Err(err(format!("MCP_TEST_SERVICES={other:?}: expected `local` or `testcontainers`"))),
    }
}

#[cfg(feature = "testcontainers")]
pub mod containers;

/// The binary `env` names, else `default`; missing, an error naming `what` and `install` (how
/// to get it).
pub(crate) fn binary(env: &str, default: &str, what: &str, install: &str) -> Result<PathBuf, ServiceError> {
    let path = std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| PathBuf::from(default));
    if path.is_file() {
        Ok(path)
    } else {
        Err(err(format!(
            "{what} is not installed at {} (set {env} to use another path); {install}",
            path.display()
        )))
    }
}

/// How `cargo xtask services install` servers are installed.
const SERVICES_INSTALL: &str = "run `cargo xtask services install`";

/// A free TCP port on 127.0.0.1 (free when asked; bind it soon).
pub fn free_port() -> Result<u16, ServiceError> {
    let listener =
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(|e| err(format!("bind a free port: {e}")))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| err(format!("read a free port: {e}")))
}

/// Starts a small `sh` watchdog that polls process `owner` (a test binary) and, once it is
/// gone, sends `server` SIG`stop` by PID, SIGKILL if it is still there 10 s later, and deletes
/// `dir`: a server shared through a `static` (never dropped) still stops with its tests.
pub fn watchdog(what: &str, owner: u32, server: u32, stop: &str, dir: &Path) -> Result<(), ServiceError> {
    let script = "while kill -0 \"$1\" 2>/dev/null; do sleep 1; done; \
         kill -\"$4\" \"$2\" 2>/dev/null; i=0; \
         while kill -0 \"$2\" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; \
         kill -KILL \"$2\" 2>/dev/null; rm -rf -- \"$3\"";
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(format!("mcp-{what}-watchdog"))
        .arg(owner.to_string())
        .arg(server.to_string())
        .arg(dir)
        .arg(stop)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(|_| ())
        .map_err(|e| err(format!("start the {what} watchdog: {e}")))
}

/// Sends `signal` (`TERM`, `KILL`, `STOP`, `CONT`, …) to process `pid` with `kill(1)`.
pub fn signal(pid: u32, signal: &str) -> Result<(), ServiceError> {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .map_err(|e| err(format!("run kill: {e}")))?;
    if status.success() { Ok(()) } else { Err(err(format!("kill -{signal} {pid} failed"))) }
}

/// Stops `child`: SIGTERM, then SIGKILL if it has not exited within `STOP_TIMEOUT`.
pub fn terminate(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let _ = signal(child.id(), "TERM");
    let deadline = Instant::now() + STOP_TIMEOUT;
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

pub(crate) fn wait_ready(
    child: &mut Child,
    what: &str,
    log: &Path,
    mut ready: impl FnMut() -> bool,
) -> Result<(), ServiceError> {
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(err(format!(
                "{what} exited during start ({status}); log {}:\n{}",
                log.display(),
                tail(log)
            )));
        }
        if ready() {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(err(format!(
                "{what} not ready within {READY_TIMEOUT:?}; log {}:\n{}",
                log.display(),
                tail(log)
            )));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn port_open(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), Duration::from_millis(200))
        .is_ok()
}

/// `GET path` on 127.0.0.1:`port`; the response (headers and body) when it answered within
/// 5 s. Longer than the servers' own probe timeouts (ingest's `/ready` waits up to 2 s for the
/// broker before it answers 503), so a slow "not ready" is read rather than taken for silence.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect_timeout(
        &SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        Duration::from_millis(500),
    )
    .ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    stream.read_to_string(&mut out).ok()?;
    Some(out)
}

/// ClickHouse on 127.0.0.1:`port` answers its health check.
fn clickhouse_answers(port: u16) -> bool {
    http_get(port, "/ping").is_some_and(|r| r.contains("Ok."))
}

pub(crate) fn log_file(path: &Path) -> Result<(Stdio, Stdio), ServiceError> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| err(format!("open {}: {e}", path.display())))?;
    let copy = file.try_clone().map_err(|e| err(format!("dup {}: {e}", path.display())))?;
    Ok((Stdio::from(file), Stdio::from(copy)))
}

/// A tansu broker with SQLite storage (`<dir>/tansu.db`), so acknowledged messages survive a
/// restart.
#[derive(Debug)]
pub struct Broker {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    /// The stopped container of the container runtime (which keeps its data).
    #[cfg(feature = "testcontainers")]
    container: Option<containers::Running>,
}

impl Broker {
    /// Starts a broker on a free port with its data in `dir` (created when missing); with the
    /// container runtime, a Kafka container whose data stays in the container.
    pub fn start(dir: &Path) -> Result<Broker, ServiceError> {
        let runtime = runtime()?;
        std::fs::create_dir_all(dir).map_err(|e| err(format!("create {}: {e}", dir.display())))?;
        #[cfg(feature = "testcontainers")]
        if runtime == Runtime::Testcontainers {
            let port = free_port()?;
            let container = Some(containers::kafka(port)?);
            return Ok(Broker { bin: PathBuf::new(), dir: dir.to_path_buf(), port, child: None, container });
        }
        let _ = runtime;
        let bin = binary("MCP_TANSU_BIN", TANSU_BIN, "the tansu broker", SERVICES_INSTALL)?;
        let mut broker = Broker {
            bin,
            dir: dir.to_path_buf(),
            port: free_port()?,
            child: None,
            #[cfg(feature = "testcontainers")]
            container: None,
        };
        broker.start_again()?;
        Ok(broker)
    }

    /// Starts the broker again (same port, same data) after [`Broker::stop`] or [`Broker::kill`].
    pub fn start_again(&mut self) -> Result<(), ServiceError> {
        #[cfg(feature = "testcontainers")]
        if let Some(container) = &mut self.container {
            return container.start_again();
        }
        if self.child.is_some() {
            return Ok(());
        }
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = self.dir.join("broker.log");
        let (out, errs) = log_file(&log)?;
        let mut child = Command::new(&self.bin)
            .current_dir(&self.dir)
            .args(["broker", "--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "sqlite://tansu.db"])
            .env("RUST_LOG", std::env::var("MCP_TANSU_LOG").unwrap_or_else(|_| "warn".into()))
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(errs)
            .spawn()
            .map_err(|e| err(format!("start {}: {e}", self.bin.display())))?;
        let port = self.port;
        if let Err(e) = wait_ready(&mut child, "tansu", &log, || port_open(port)) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        self.child = Some(child);
        Ok(())
    }

    /// `127.0.0.1:<port>`, for `bootstrap.servers`.
    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Process id while running (`None` with the container runtime).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the broker with SIGTERM (SIGKILL after 10 s).
    pub fn stop(&mut self) {
        #[cfg(feature = "testcontainers")]
        if let Some(container) = &mut self.container {
            container.stop(STOP_TIMEOUT);
        }
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
    }

    /// Kills the broker with SIGKILL.
    pub fn kill(&mut self) {
        #[cfg(feature = "testcontainers")]
        if let Some(container) = &mut self.container {
            container.kill();
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A ClickHouse server with its configuration, data and logs in one directory.
#[derive(Debug)]
pub struct ClickHouse {
    bin: PathBuf,
    dir: PathBuf,
    http_port: u16,
    tcp_port: u16,
    child: Option<Child>,
    /// The container of the container runtime (kept while stopped: it holds the data).
    #[cfg(feature = "testcontainers")]
    container: Option<containers::Running>,
}

mod clickhouse_config;
pub use clickhouse_config::{CLICKHOUSE_USERS, clickhouse_config};

impl ClickHouse {
    /// Starts a server on free ports with everything in `dir` (created when missing).
    pub fn start(dir: &Path) -> Result<ClickHouse, ServiceError> {
        let runtime = runtime()?;
        #[cfg(feature = "testcontainers")]
        if runtime == Runtime::Testcontainers {
            let (http_port, tcp_port) = (free_port()?, free_port()?);
            let container = Some(containers::clickhouse(http_port, tcp_port)?);
            return Ok(ClickHouse {
                bin: PathBuf::new(),
                dir: dir.to_path_buf(),
                http_port,
                tcp_port,
                child: None,
                container,
            });
        }
        let _ = runtime;
        let bin = binary("MCP_CLICKHOUSE_BIN", CLICKHOUSE_BIN, "clickhouse-server", SERVICES_INSTALL)?;
        for sub in ["data", "tmp", "user_files", "log"] {
            std::fs::create_dir_all(dir.join(sub))
                .map_err(|e| err(format!("create {}: {e}", dir.display())))?;
        }
        let (http_port, tcp_port) = (free_port()?, free_port()?);
        let write = |name: &str, text: &str| {
            std::fs::write(dir.join(name), text).map_err(|e| err(format!("write {name}: {e}")))
        };
        write("config.xml", &clickhouse_config(dir, http_port, tcp_port))?;
        write("users.xml", CLICKHOUSE_USERS)?;
        let mut server = ClickHouse {
            bin,
            dir: dir.to_path_buf(),
            http_port,
            tcp_port,
            child: None,
            #[cfg(feature = "testcontainers")]
            container: None,
        };
        server.start_again()?;
        Ok(server)
    }

    /// Starts the server again (same ports, same data) after [`ClickHouse::stop`].
    pub fn start_again(&mut self) -> Result<(), ServiceError> {
        #[cfg(feature = "testcontainers")]
        if let Some(container) = &mut self.container {
            container.start_again()?;
            return containers::wait_clickhouse(self.http_port, READY_TIMEOUT);
        }
        if self.child.is_some() {
            return Ok(());
        }
        let log = self.dir.join("log/stdout.log");
        let (out, errs) = log_file(&log)?;
        let mut child = Command::new(&self.bin)
            .current_dir(&self.dir)
            .arg(format!("--config-file={}", self.dir.join("config.xml").display()))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(errs)
            .spawn()
            .map_err(|e| err(format!("start {}: {e}", self.bin.display())))?;
        let port = self.http_port;
        let ready = || clickhouse_answers(port);
        if let Err(e) =
            wait_ready(&mut child, "clickhouse-server", &self.dir.join("log/server.err.log"), ready)
        {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        self.child = Some(child);
        Ok(())
    }

    /// `http://127.0.0.1:<http port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The native-protocol port (for `clickhouse-client --port`).
    pub fn tcp_port(&self) -> u16 {
        self.tcp_port
    }

    /// Process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server and removes its directory when process `pid` (the test binary) exits,
    /// even if it never drops this value (a server shared through a `static`): a small `sh`
    /// watchdog polls `pid`, then sends the server SIGTERM by PID, SIGKILL if it is still there
    /// 10 s later, and deletes the directory given to [`ClickHouse::start`].
    pub fn stop_and_remove_when_process_exits(&self, pid: u32) -> Result<(), ServiceError> {
        let Some(server) = self.pid() else { return Ok(()) };
        watchdog("clickhouse", pid, server, "TERM", &self.dir)
    }

    /// Stops the server with SIGTERM (SIGKILL after 10 s).
    pub fn stop(&mut self) {
        #[cfg(feature = "testcontainers")]
        if let Some(container) = &mut self.container {
            container.stop(STOP_TIMEOUT);
        }
        if let Some(mut child) = self.child.take() {
            terminate(&mut child);
        }
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
