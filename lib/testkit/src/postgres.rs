//! A real PostgreSQL server for tests: Debian's `postgresql` package (installed with apt-get
//! when missing and running as root), a fresh cluster (`initdb`) in a directory the caller
//! owns, `postgres` on a free loopback port with no Unix socket, stopped by PID.
//!
//! PostgreSQL refuses to run as root: when the tests run as root (CI does), the cluster
//! directory is given to the `postgres` system user (created by the package) and the server
//! runs as that user through `setpriv` (util-linux), which execs in place, so the PID we hold
//! is the server's own. Authentication is `trust` on 127.0.0.1 only; durability settings are
//! off (fsync, full-page writes): a test cluster is disposable.
//!
//! Binaries: `MCP_POSTGRES_BIN_DIR`, else the newest `/usr/lib/postgresql/<version>/bin`.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::services::{ServiceError, free_port};

fn err(msg: impl Into<String>) -> ServiceError {
    ServiceError::new(msg)
}

const READY_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// The directory holding `postgres`, `initdb`, `pg_isready` and `psql`.
pub fn bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("MCP_POSTGRES_BIN_DIR").map(PathBuf::from) {
        return dir.join("postgres").is_file().then_some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("postgres").is_file() && bin.join("initdb").is_file()).then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

pub(crate) fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Installs Debian's `postgresql` when no server binaries are found (root only; idempotent).
pub fn install() -> Result<PathBuf, ServiceError> {
    if let Some(dir) = bin_dir() {
        return Ok(dir);
    }
    if !is_root() {
        return Err(err(
            "PostgreSQL is not installed; run `sudo apt-get install -y --no-install-recommends postgresql` \
             (or set MCP_POSTGRES_BIN_DIR)",
        ));
    }
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .map_err(|e| err(format!("run apt-get: {e}")))
    };
    let install = ["install", "-y", "-qq", "--no-install-recommends", "postgresql"];
    if !apt(&install)?.success() {
        apt(&["update", "-qq"])?;
        if !apt(&install)?.success() {
            return Err(err("apt-get install postgresql failed"));
        }
    }
    bin_dir().ok_or_else(|| err("postgresql installed, but no /usr/lib/postgresql/<version>/bin found"))
}

/// A running PostgreSQL server.
#[derive(Debug)]
pub struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    data: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Postgres {
    /// Installs PostgreSQL when needed, creates a cluster in `<dir>/data` and starts it on a
    /// free loopback port (superuser `postgres`, trust authentication).
    pub fn start(dir: &Path) -> Result<Postgres, ServiceError> {
        let bin = install()?;
        let root = is_root();
        std::fs::create_dir_all(dir).map_err(|e| err(format!("create {}: {e}", dir.display())))?;
        let data = dir.join("data");
        std::fs::create_dir_all(&data).map_err(|e| err(format!("create {}: {e}", data.display())))?;
        if root {
            // The server user must reach its directory: open the caller's directory for
            // traversal and hand the cluster directory over.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755));
            }
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&data)
                .status()
                .map_err(|e| err(format!("run chown: {e}")))?;
            if !status.success() {
                return Err(err(
                    "chown of the cluster directory to the postgres user failed (is the `postgres` user there?)",
                ));
            }
        }
        let log = dir.join("postgres.log");
        let as_server = |program: &Path| -> Command {
            if root {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"]).arg(program);
                c
            } else {
                Command::new(program)
            }
        };
        let out = std::fs::File::create(&log).map_err(|e| err(format!("create {}: {e}", log.display())))?;
        let out2 = out.try_clone().map_err(|e| err(format!("dup log: {e}")))?;
        let status = as_server(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions"])
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(out2)
            .status()
            .map_err(|e| err(format!("run initdb: {e}")))?;
        if !status.success() {
            return Err(err(format!("initdb failed; log {}:\n{}", log.display(), tail(&log))));
        }
        let mut server = Postgres { bin, dir: dir.to_path_buf(), data, port: free_port()?, child: None };
        server.spawn(root, &log)?;
        Ok(server)
    }

    fn spawn(&mut self, root: bool, log: &Path) -> Result<(), ServiceError> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .open(log)
            .map_err(|e| err(format!("open {}: {e}", log.display())))?;
        let file2 = file.try_clone().map_err(|e| err(format!("dup log: {e}")))?;
        let mut cmd = if root {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=postgres", "--regid=postgres", "--init-groups", "--"])
                .arg(self.bin.join("postgres"));
            c
        } else {
            Command::new(self.bin.join("postgres"))
        };
        let mut child = cmd
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string(), "-k", ""])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=300", "-c", "shared_buffers=32MB"])
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(file2)
            .spawn()
            .map_err(|e| err(format!("start postgres: {e}")))?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(err(format!(
                    "postgres exited during start ({status}); log {}:\n{}",
                    log.display(),
                    tail(log)
                )));
            }
            if self.answers() {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(err(format!("postgres not ready within {READY_TIMEOUT:?}; log:\n{}", tail(log))));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Some(child);
        Ok(())
    }

    fn answers(&self) -> bool {
        let open = TcpStream::connect_timeout(
            &SocketAddr::from((Ipv4Addr::LOCALHOST, self.port)),
            Duration::from_millis(200),
        )
        .is_ok();
        open && Command::new(self.bin.join("pg_isready"))
            .args(["-q", "-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres"])
            .status()
            .is_ok_and(|s| s.success())
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Creates a fresh database with a unique name (`<prefix>_<pid>_<n>`) and returns its URL.
    pub fn create_database(&self, prefix: &str) -> Result<String, ServiceError> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let name = format!("{prefix}_{}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(self.url(&name))
    }

    /// Runs one SQL command with `psql` against `database`; its output.
    pub fn psql(&self, database: &str, sql: &str) -> Result<String, ServiceError> {
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", database])
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| err(format!("run psql: {e}")))?;
        if !out.status.success() {
            return Err(err(format!("psql {sql:?}: {}", String::from_utf8_lossy(&out.stderr).trim())));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Stops the server and removes its directory when process `pid` (the test binary) exits,
    /// even if it never drops this value (a server shared through a `static`): a small `sh`
    /// watchdog polls `pid`, then sends the server SIGINT (fast shutdown) by PID, SIGKILL
    /// if it is still there 10 s later, and deletes the directory given to [`Postgres::start`].
    pub fn stop_and_remove_when_process_exits(&self, pid: u32) -> Result<(), ServiceError> {
        let Some(server) = self.pid() else { return Ok(()) };
        crate::services::watchdog("postgres", pid, server, "INT", &self.dir)
    }

    /// Stops the server (SIGINT, fast shutdown; SIGKILL after 10 s).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        let _ = crate::services::signal(child.id(), "INT");
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
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
