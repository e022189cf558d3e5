//! A real `mcp-platform` (SQLite or PostgreSQL, Local runtime, ClickHouse events) and the real
//! `mcp-runtime` binary, for the platform-command tests.
//!
//! Both binaries are built once per test binary with `cargo build` (same target directory as
//! the tests) and found beside the test executable. PostgreSQL and ClickHouse are started once
//! per test binary and stopped by a watchdog when it exits; each stack gets fresh databases.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use mcp_testkit::postgres::Postgres;
use mcp_testkit::services::{ClickHouse, free_port, http_get};

/// Which store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const ADMIN: &str = "admin@example.org";
pub const ADMIN_PASSWORD: &str = "admin-password-123";

struct Bins {
    platform: PathBuf,
    runtime: PathBuf,
}

fn bins() -> &'static Bins {
    static BINS: OnceLock<Bins> = OnceLock::new();
    BINS.get_or_init(|| {
        // target/<profile>/deps/it-… → target/<profile>/, built with the same profile.
        let exe = std::env::current_exe().expect("test executable");
        let dir = exe.parent().and_then(Path::parent).expect("target dir").to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut build = Command::new(cargo);
        build.args(["build", "--locked", "-p", "mcp-platform-bin", "-p", "mcp-runtime"]).current_dir(&root);
        match dir.file_name().and_then(|n| n.to_str()) {
            Some("debug") | None => {}
            Some("release") => {
                build.arg("--release");
            }
            Some(profile) => {
                build.args(["--profile", profile]);
            }
        }
        let status = build.status().expect("run cargo build");
        assert!(status.success(), "cargo build -p mcp-platform-bin -p mcp-runtime failed");
        let bins = Bins { platform: dir.join("mcp-platform"), runtime: dir.join("mcp-runtime") };
        assert!(bins.platform.is_file() && bins.runtime.is_file(), "binaries not in {}", dir.display());
        bins
    })
}

/// The `mcp-runtime` binary.
pub fn runtime_bin() -> &'static Path {
    &bins().runtime
}

fn postgres() -> &'static Postgres {
    static PG: OnceLock<Postgres> = OnceLock::new();
    PG.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("mcp-cli-pg-").tempdir().expect("tempdir").keep();
        let server = Postgres::start(&dir).unwrap_or_else(|e| panic!("start PostgreSQL: {e}"));
        server.stop_and_remove_when_process_exits(std::process::id()).expect("watchdog");
        server
    })
}

fn clickhouse() -> &'static ClickHouse {
    static CH: OnceLock<ClickHouse> = OnceLock::new();
    CH.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("mcp-cli-ch-").tempdir().expect("tempdir").keep();
        let server = ClickHouse::start(&dir).unwrap_or_else(|e| panic!("start ClickHouse: {e}"));
        server.stop_and_remove_when_process_exits(std::process::id()).expect("watchdog");
        server
    })
}

/// A fresh, migrated events database: (url, database).
fn events_database() -> mcp_sentinel::ClickHouseConfig {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let url = clickhouse().url();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = format!("cli_{}_{n}", std::process::id());
    let mut config = mcp_sentinel::ClickHouseConfig::new(url);
    config.database = mcp_sentinel::Database::new(&name).expect("database name");
    rt().block_on(mcp_sentinel::schema::migrate(&config.client(), &config.database))
        .expect("migrate ClickHouse");
    config
}

/// A small runtime for the few direct API calls of the tests.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// A running platform.
pub struct Stack {
    pub url: String,
    events: mcp_sentinel::ClickHouseConfig,
    child: Child,
    pub dir: tempfile::TempDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        mcp_testkit::services::terminate(&mut self.child);
    }
}

impl Stack {
    /// Creates the administrator, then serves the platform and waits until it is ready.
    pub fn start(backend: Backend, extra: &[(&str, String)]) -> Stack {
        Stack::start_on(backend, free_port().expect("port"), extra)
    }

    /// [`Stack::start`] on a given port (for settings that must name the URL in advance).
    pub fn start_on(backend: Backend, port: u16, extra: &[(&str, String)]) -> Stack {
        let dir = tempfile::Builder::new().prefix("mcp-cli-platform-").tempdir().expect("tempdir");
        let database = match backend {
            Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.path().join("platform.db").display()),
            Backend::Postgres => postgres().create_database("cli").expect("create database"),
        };
        let events = events_database();
        let (ch_url, ch_db) = (events.url.clone(), events.database.as_str().to_string());
        let env = |cmd: &mut Command| {
            cmd.env("PLATFORM_LISTEN_ADDR", format!("127.0.0.1:{port}"))
                .env("PLATFORM_DATABASE_URL", &database)
                .env("PLATFORM_DATA_DIR", dir.path().join("data"))
                .env("PLATFORM_RUNTIME", "local")
                .env("PLATFORM_POLICY_DIR", dir.path().join("policies"))
                .env("PLATFORM_KEY_PUBLISH_DELAY_SECS", "0")
                .env("PLATFORM_CLICKHOUSE_URL", &ch_url)
                .env("PLATFORM_CLICKHOUSE_DB", &ch_db)
                .env("RUST_LOG", "warn");
            for (k, v) in extra {
                cmd.env(k, v);
            }
        };
        let mut admin = Command::new(&bins().platform);
        admin.args(["admin", "create", "--email", ADMIN]).env("MCP_PLATFORM_ADMIN_PASSWORD", ADMIN_PASSWORD);
        env(&mut admin);
        let out = admin.output().expect("run mcp-platform admin create");
        assert!(out.status.success(), "admin create: {}", String::from_utf8_lossy(&out.stderr));
        let log = std::fs::File::create(dir.path().join("platform.log")).expect("log");
        let mut serve = Command::new(&bins().platform);
        serve.arg("serve").stdin(Stdio::null()).stdout(log.try_clone().expect("log")).stderr(log);
        env(&mut serve);
        let child = serve.spawn().expect("start mcp-platform");
        let stack = Stack { url: format!("http://127.0.0.1:{port}"), events, child, dir };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !http_get(port, "/ready")
            .is_some_and(|r| r.starts_with("HTTP/1.1 200") || r.starts_with("HTTP/1.0 200"))
        {
            assert!(Instant::now() < deadline, "platform not ready: {}", stack.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        stack
    }

    /// Writes gateway events into the platform's event store, as the processor would: one
    /// `tools/call` per `(event id, namespace, server, agent, tool, decision, reason)`, a minute ago.
    pub fn insert_events(&self, events: &[(&str, &str, &str, &str, &str, &str, &str)]) {
        let now = jiff::Timestamp::now().as_millisecond() - 60_000;
        let rows: Vec<mcp_sentinel::EventRow> = events
            .iter()
            .enumerate()
            .map(|(i, (id, namespace, server, agent, tool, decision, reason))| {
                let envelope = serde_json::json!({
                    "event_id": id,
                    "timestamp": format!("{:.3}", jiff::Timestamp::from_millisecond(now + i as i64).expect("time")),
                    "source": "mcp-gateway", "event_type": "mcp.request",
                    "payload": {
                        "method": "POST", "path": "/mcp", "status": if *decision == "deny" { 403 } else { 200 },
                        "latency_ms": 1.0, "server": server, "namespace": namespace, "team_id": namespace,
                        "human_id": "alice", "agent_id": agent, "subject_team_id": namespace, "session_id": "",
                        "decision": decision, "reason": reason, "policy_version": "sha256:x",
                        "rpc_method": "tools/call", "tool_name": tool,
                    },
                });
                mcp_sentinel::row::extract(envelope.to_string().as_bytes()).expect("row")
            })
            .collect();
        let client = self.events.client().with_database(self.events.database.as_str());
        rt().block_on(async {
            let mut insert = client.insert::<mcp_sentinel::EventRow>("events").await.expect("insert");
            for r in &rows {
                insert.write(r).await.expect("write");
            }
            insert.end().await.expect("end");
        });
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("platform.log")).unwrap_or_default()
    }

    /// An API client signed in as `email`.
    pub fn client(&self, email: &str, password: &str) -> mcp_platform_client::Client {
        let anon = mcp_platform_client::Client::new(&self.url, mcp_platform_client::Credential::None)
            .expect("client");
        let t = rt().block_on(anon.login(email, password)).expect("login");
        mcp_platform_client::Client::new(&self.url, mcp_platform_client::Credential::Bearer(t.access_token))
            .expect("client")
    }
}

/// What one run of the binary printed and returned.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub out: String,
    pub err: String,
}

impl Out {
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, 0, "expected success\nstdout:\n{}\nstderr:\n{}", self.out, self.err);
        &self.out
    }

    /// Asserts exit `code` and exactly one `error:` line on stderr; returns it.
    #[track_caller]
    pub fn fails(&self, code: i32) -> &str {
        assert_eq!(self.code, code, "unexpected exit code\nstdout:\n{}\nstderr:\n{}", self.out, self.err);
        let lines: Vec<&str> = self.err.lines().collect();
        assert_eq!(lines.len(), 1, "expected one line on stderr:\n{}", self.err);
        assert!(lines[0].starts_with("error: "), "{}", self.err);
        lines[0]
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", self.out))
    }
}

/// A user of the CLI: a home directory (configuration and working directory) and extra env.
pub struct User {
    pub home: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl User {
    pub fn new() -> User {
        User { home: tempfile::tempdir().expect("home"), env: Vec::new() }
    }

    pub fn config_dir(&self) -> PathBuf {
        self.home.path().join("config")
    }

    pub fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, None, &[])
    }

    pub fn run_with(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Out {
        let mut cmd = Command::new(runtime_bin());
        cmd.args(args)
            .current_dir(self.home.path())
            .env("MCP_RUNTIME_CONFIG_DIR", self.config_dir())
            .env("HOME", self.home.path())
            .env_remove("MCP_PLATFORM_API_URL")
            .env_remove("MCP_PLATFORM_API_PROFILE")
            .env_remove("MCP_PLATFORM_API_TOKEN")
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("run mcp-runtime");
        if let Some(input) = stdin {
            child.stdin.take().expect("stdin").write_all(input.as_bytes()).expect("write stdin");
        }
        let out = child.wait_with_output().expect("wait mcp-runtime");
        Out {
            code: out.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&out.stdout).into_owned(),
            err: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Starts `mcp-runtime <args>` with stdout piped (for commands that keep running).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new(runtime_bin())
            .args(args)
            .current_dir(self.home.path())
            .env("MCP_RUNTIME_CONFIG_DIR", self.config_dir())
            .env("HOME", self.home.path())
            .env_remove("MCP_PLATFORM_API_URL")
            .env_remove("MCP_PLATFORM_API_PROFILE")
            .env_remove("MCP_PLATFORM_API_TOKEN")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run mcp-runtime")
    }

    pub fn write(&self, rel: &str, text: &str) {
        std::fs::write(self.home.path().join(rel), text).expect("write");
    }

    pub fn config(&self) -> serde_json::Value {
        let text = std::fs::read_to_string(self.config_dir().join("config.json")).expect("config");
        serde_json::from_str(&text).expect("config JSON")
    }

    pub fn write_config(&self, value: &serde_json::Value) {
        std::fs::create_dir_all(self.config_dir()).expect("mkdir");
        std::fs::write(self.config_dir().join("config.json"), value.to_string()).expect("write config");
    }
}
