//! The platform part of the local stack: `mcp-platform` on a real PostgreSQL server with the
//! Local runtime backend, its policy directory feeding the gateways of the stack's slots, its
//! analytics reading the stack's ClickHouse and its own audit going to the stack's ingest.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mcp_testkit::postgres::Postgres;

use crate::client::Client;
use crate::scenario::PlatformSpec;

/// The running platform.
pub struct PlatformRun {
    /// Base URL (`http://127.0.0.1:<port>`).
    pub url: String,
    /// Where the Local backend writes one policy file per server.
    pub policy_dir: PathBuf,
    /// The registry the platform pushes to (`platform.registry`): its URL, and the server.
    pub registry: Option<(String, mcp_testkit::registry::Registry)>,
    /// The database server of a local platform (stopped when dropped, after the platform
    /// process).
    _postgres: Option<Postgres>,
}

impl PlatformRun {
    /// A platform running elsewhere (the cluster's, port-forwarded).
    pub fn remote(url: String) -> PlatformRun {
        PlatformRun { url, policy_dir: PathBuf::new(), registry: None, _postgres: None }
    }

    /// The policy file the Local backend writes for `server` of team `team`.
    pub fn policy_file(&self, team: &str, server: &str) -> PathBuf {
        self.policy_dir.join(format!("mcp-team-{team}")).join(format!("{server}.json"))
    }
}

/// Where the analytics pipeline is, when it runs.
pub struct PipelineLinks<'a> {
    /// ClickHouse's HTTP interface (the platform's event store).
    pub clickhouse_url: &'a str,
    /// `POST /events` of ingest, and its key (the platform's own audit).
    pub ingest: (&'a str, &'a str),
}

/// Starts PostgreSQL, creates the administrator, then serves the platform and waits until it
/// is ready. `spawn` starts (and keeps) a process of the stack.
pub async fn start(
    spec: &PlatformSpec,
    platform_bin: &Path,
    artifacts: &Path,
    pipeline: Option<PipelineLinks<'_>>,
    spawn: &mut dyn FnMut(&str, &mut Command) -> Result<()>,
) -> Result<PlatformRun> {
    if !platform_bin.is_file() {
        bail!(
            "mcp-platform not found at {} (build it: cargo build -p mcp-platform-bin)",
            platform_bin.display()
        );
    }
    let postgres =
        Postgres::start(&artifacts.join("postgres")).context("start PostgreSQL for the platform")?;
    let database = postgres.create_database("e2e_platform").context("create the platform database")?;
    let port = mcp_testkit::services::free_port()?;
    let listen = SocketAddr::from(([127, 0, 0, 1], port));
    let data = artifacts.join("platform");
    let policy_dir = artifacts.join("platform-policies");
    for slot in &spec.slots {
        // The gateways watch these directories from the start (inotify needs them to exist).
        std::fs::create_dir_all(policy_dir.join(format!("mcp-team-{}", slot.team)))?;
    }
    let registry = if spec.registry {
        let server = mcp_testkit::registry::Registry::start(&artifacts.join("registry"))
            .context("start the registry (apt-get install docker-registry)")?;
        Some((server.url(), server))
    } else {
        None
    };
    let env = |cmd: &mut Command| {
        cmd.env("PLATFORM_LISTEN_ADDR", listen.to_string())
            .env("PLATFORM_DATABASE_URL", &database)
            .env("PLATFORM_DATA_DIR", &data)
            .env("PLATFORM_RUNTIME", "local")
            .env("PLATFORM_POLICY_DIR", &policy_dir)
            .env("PLATFORM_MCP_HOST", &spec.mcp_host)
            .env("PLATFORM_KEY_PUBLISH_DELAY_SECS", "0")
            .env("RUST_LOG", "info");
        if let Some((url, server)) = &registry {
            cmd.env("PLATFORM_REGISTRY_URL", url).env("PLATFORM_REGISTRY_HOST", server.host());
        }
        if let Some(links) = &pipeline {
            cmd.env("PLATFORM_CLICKHOUSE_URL", links.clickhouse_url)
                .env("ANALYTICS_INGEST_URL", links.ingest.0)
                .env("ANALYTICS_API_KEY", links.ingest.1);
        }
    };
    let mut admin = Command::new(platform_bin);
    admin
        .args(["admin", "create", "--email", &spec.admin.email])
        .env("MCP_PLATFORM_ADMIN_PASSWORD", &spec.admin.password);
    env(&mut admin);
    let out = admin.output().context("run mcp-platform admin create")?;
    if !out.status.success() {
        bail!(
            "mcp-platform admin create failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let mut serve = Command::new(platform_bin);
    serve.arg("serve");
    env(&mut serve);
    spawn("platform", &mut serve)?;
    let url = format!("http://{listen}");
    let client = Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if matches!(client.get(&format!("{url}/ready")).await, Ok((200, _))) {
            break;
        }
        if Instant::now() > deadline {
            bail!("the platform is not ready after 60 s; see logs/platform.log");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(PlatformRun { url, policy_dir, registry, _postgres: Some(postgres) })
}
