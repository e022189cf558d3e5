//! `cargo xtask services install|up|down|status`: the real servers the analytics pipeline needs
//! for tests and local runs — a Kafka-protocol broker (`tansu`, durable SQLite storage) and
//! ClickHouse — installed when missing and run on loopback ports with data under
//! `target/services/`, their PIDs recorded next to the data.
//!
//! Installing is idempotent and skips what is present: Debian packages (`clickhouse-server`,
//! `clickhouse-client`, and `g++ make zlib1g-dev` for rdkafka's bundled librdkafka) through
//! apt-get, and tansu through one cached `cargo install` into `/var/tmp/mcp-runtime-tools`
//! (about 17 minutes on 2 cores the first time; never rebuilt once the binary exists).
//! The paths match `mcp_testkit::services`, which the tests use to start their own servers.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use duct::cmd;

use crate::util::project_root;

/// Where the durable tansu build is installed (its `bin/tansu`).
const TANSU_ROOT: &str = "/var/tmp/mcp-runtime-tools/tansu-0.6.0-libsql";
/// Its cargo target directory, kept so an interrupted build resumes.
const TANSU_TARGET: &str = "/var/tmp/mcp-runtime-tools/tansu-build";
const TANSU_VERSION: &str = "0.6.0";
const CLICKHOUSE_BIN: &str = "/usr/sbin/clickhouse-server";
/// Debian packages: ClickHouse 18.16, the C toolchain the bundled librdkafka build needs, and
/// PostgreSQL for the platform store tests (`mcp_testkit::postgres` installs it too when missing).
/// What the test suite's real servers need: ClickHouse, the C toolchain of the bundled
/// librdkafka, PostgreSQL, the distribution registry (`docker-registry`) and skopeo (an
/// independent registry client).
const APT_PACKAGES: &[&str] = &[
    "clickhouse-server",
    "clickhouse-client",
    "g++",
    "make",
    "zlib1g-dev",
    "postgresql",
    "docker-registry",
    "skopeo",
];

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// Install what is missing: ClickHouse and the C toolchain (apt-get), tansu (cargo install, cached).
    Install,
    /// Start the broker and ClickHouse on loopback (installing first when needed).
    Up(UpArgs),
    /// Stop what `up` started, by the recorded PIDs.
    Down,
    /// Show what runs, where, and whether it answers.
    Status,
}

#[derive(Debug, clap::Args)]
struct UpArgs {
    /// Broker port (Kafka protocol).
    #[arg(long, default_value_t = 19092)]
    broker_port: u16,
    /// ClickHouse HTTP port.
    #[arg(long, default_value_t = 18123)]
    clickhouse_http_port: u16,
    /// ClickHouse native-protocol port.
    #[arg(long, default_value_t = 19000)]
    clickhouse_tcp_port: u16,
}

pub fn run(args: &Args) -> Result<()> {
    match &args.cmd {
        Cmd::Install => install(),
        Cmd::Up(up_args) => up(up_args),
        Cmd::Down => down(),
        Cmd::Status => status(),
    }
}

/// The tansu binary: `MCP_TANSU_BIN` when set, else the cached install.
pub fn tansu_bin() -> PathBuf {
    std::env::var_os("MCP_TANSU_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(TANSU_ROOT).join("bin/tansu"))
}

fn clickhouse_bin() -> PathBuf {
    std::env::var_os("MCP_CLICKHOUSE_BIN").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(CLICKHOUSE_BIN))
}

fn installed(package: &str) -> bool {
    cmd!("dpkg-query", "-W", "-f=${Status}", package)
        .stderr_null()
        .unchecked()
        .read()
        .is_ok_and(|s| s.contains("install ok installed"))
}

/// Installs whatever is missing; does nothing when everything is there.
pub fn install() -> Result<()> {
    install_packages()?;
    install_tansu()
}

/// Installs the missing Debian packages (ClickHouse, and the C toolchain of rdkafka's build).
pub fn install_packages() -> Result<()> {
    let missing: Vec<&str> = APT_PACKAGES
        .iter()
        .copied()
        .filter(|p| !installed(p))
        .filter(|p| !(p.starts_with("clickhouse-server") && clickhouse_bin().is_file()))
        .collect();
    if missing.is_empty() {
        eprintln!("services install: system packages present");
    } else {
        let uid = cmd!("id", "-u").read().unwrap_or_default();
        if uid.trim() != "0" {
            bail!(
                "services install: missing packages {}; run as root, or: sudo apt-get install -y --no-install-recommends {}",
                missing.join(" "),
                missing.join(" ")
            );
        }
        eprintln!("services install: apt-get install {}", missing.join(" "));
        cmd!("apt-get", "update", "-qq").run().context("services install: apt-get update")?;
        let mut args = vec!["install", "-y", "-qq", "--no-install-recommends"];
        args.extend(&missing);
        cmd("apt-get", args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .run()
            .context("services install: apt-get install")?;
    }
    if !clickhouse_bin().is_file() {
        bail!("services install: {} is still missing after apt-get", clickhouse_bin().display());
    }
    Ok(())
}

/// Builds tansu with SQLite storage into the cache, unless it is there already.
pub fn install_tansu() -> Result<()> {
    let tansu = tansu_bin();
    if tansu.is_file() {
        eprintln!("services install: tansu present ({})", tansu.display());
    } else {
        eprintln!(
            "services install: building tansu {TANSU_VERSION} with SQLite storage into {TANSU_ROOT} \
             (about 17 minutes on 2 cores; cached afterwards)"
        );
        cmd!(
            "cargo",
            "install",
            "tansu",
            "--version",
            TANSU_VERSION,
            "--locked",
            "--no-default-features",
            "--features",
            "libsql",
            "--root",
            TANSU_ROOT,
            "--target-dir",
            TANSU_TARGET
        )
        .env_remove("CARGO_TARGET_DIR")
        .run()
        .context("services install: cargo install tansu")?;
        if !tansu.is_file() {
            bail!("services install: cargo install finished but {} is missing", tansu.display());
        }
    }
    Ok(())
}

fn services_dir() -> PathBuf {
    project_root().join("target/services")
}

/// A server `up` manages.
struct Service {
    name: &'static str,
    port: u16,
}

fn pid_file(name: &str) -> PathBuf {
    services_dir().join(format!("{name}.pid"))
}

fn read_pid(name: &str) -> Option<u32> {
    std::fs::read_to_string(pid_file(name)).ok()?.trim().parse().ok()
}

fn alive(pid: u32) -> bool {
    cmd!("kill", "-0", pid.to_string()).stderr_null().unchecked().run().is_ok_and(|o| o.status.success())
}

/// Starts `program` in its own process group (so Ctrl-C in this terminal does not stop it),
/// output to `log`, and records its PID.
fn spawn(name: &str, program: &Path, args: Vec<String>, dir: &Path, log: &Path) -> Result<u32> {
    let handle = cmd(program, args)
        .dir(dir)
        .stdin_null()
        // Redirections apply outside in: stderr joins stdout after stdout went to the log.
        .stderr_to_stdout()
        .stdout_path(log)
        .unchecked()
        .before_spawn(|c| {
            std::os::unix::process::CommandExt::process_group(c, 0);
            Ok(())
        })
        .start()
        .with_context(|| format!("services up: start {name} ({})", program.display()))?;
    let pid = *handle.pids().first().context("services up: no pid")?;
    std::fs::write(pid_file(name), format!("{pid}\n")).context("services up: write pid file")?;
    // The handle is dropped without waiting: the server outlives this command.
    Ok(pid)
}

// The same configuration the tests start ClickHouse with (one source, no testkit dependency).
#[path = "../../lib/testkit/src/services/clickhouse_config.rs"]
mod clickhouse_config;
use clickhouse_config::{CLICKHOUSE_USERS, clickhouse_config};

fn up(args: &UpArgs) -> Result<()> {
    install()?;
    std::fs::create_dir_all(services_dir()).context("services up: create target/services")?;

    let broker = Service { name: "broker", port: args.broker_port };
    if let Some(pid) = read_pid(broker.name).filter(|p| alive(*p)) {
        eprintln!("services up: broker already running (pid {pid})");
    } else {
        let dir = services_dir().join("broker");
        std::fs::create_dir_all(&dir).context("services up: create broker dir")?;
        let url = format!("tcp://127.0.0.1:{}", broker.port);
        let log = dir.join("broker.log");
        let args = [
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
            "--storage-engine",
            "sqlite://tansu.db",
        ]
        .map(String::from)
        .to_vec();
        let pid = spawn(broker.name, &tansu_bin(), args, &dir, &log)?;
        crate::util::wait_port("services up: broker", broker.port, &log)?;
        eprintln!("services up: broker pid {pid}, data {}", dir.display());
    }

    let clickhouse = Service { name: "clickhouse", port: args.clickhouse_http_port };
    if let Some(pid) = read_pid(clickhouse.name).filter(|p| alive(*p)) {
        eprintln!("services up: clickhouse already running (pid {pid})");
    } else {
        let dir = services_dir().join("clickhouse");
        for sub in ["data", "tmp", "user_files", "log"] {
            std::fs::create_dir_all(dir.join(sub)).context("services up: create clickhouse dirs")?;
        }
        std::fs::write(
            dir.join("config.xml"),
            clickhouse_config(&dir, clickhouse.port, args.clickhouse_tcp_port),
        )
        .context("services up: write clickhouse config")?;
        std::fs::write(dir.join("users.xml"), CLICKHOUSE_USERS).context("services up: write users.xml")?;
        let log = dir.join("log/stdout.log");
        let config = format!("--config-file={}", dir.join("config.xml").display());
        let pid = spawn(clickhouse.name, &clickhouse_bin(), vec![config], &dir, &log)?;
        crate::util::wait_port("services up: clickhouse", clickhouse.port, &log)?;
        eprintln!("services up: clickhouse pid {pid}, data {}", dir.display());
    }
    println!("KAFKA_BROKERS=127.0.0.1:{}", args.broker_port);
    println!("CLICKHOUSE_URL=http://127.0.0.1:{}", args.clickhouse_http_port);
    Ok(())
}

fn down() -> Result<()> {
    for name in ["broker", "clickhouse"] {
        let Some(pid) = read_pid(name) else {
            eprintln!("services down: {name} not started by `services up`");
            continue;
        };
        if alive(pid) {
            cmd!("kill", "-TERM", pid.to_string()).unchecked().run().context("services down: kill -TERM")?;
            let deadline = Instant::now() + Duration::from_secs(10);
            while alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            if alive(pid) {
                cmd!("kill", "-KILL", pid.to_string())
                    .unchecked()
                    .run()
                    .context("services down: kill -KILL")?;
            }
            eprintln!("services down: {name} (pid {pid}) stopped");
        } else {
            eprintln!("services down: {name} (pid {pid}) was not running");
        }
        let _ = std::fs::remove_file(pid_file(name));
    }
    Ok(())
}

fn status() -> Result<()> {
    let tansu = tansu_bin();
    println!("tansu:      {} ({})", tansu.display(), if tansu.is_file() { "installed" } else { "missing" });
    let ch = clickhouse_bin();
    println!("clickhouse: {} ({})", ch.display(), if ch.is_file() { "installed" } else { "missing" });
    for name in ["broker", "clickhouse"] {
        match read_pid(name) {
            Some(pid) if alive(pid) => println!("{name}: running, pid {pid}"),
            Some(pid) => println!("{name}: not running (stale pid {pid})"),
            None => println!("{name}: not started"),
        }
    }
    println!("data: {}", services_dir().display());
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The tests start servers from the same paths this command installs to.
    #[test]
    fn paths_match_the_testkit() {
        let testkit =
            std::fs::read_to_string(crate::util::project_root().join("lib/testkit/src/services.rs"))
                .expect("read testkit services");
        assert!(testkit.contains(&format!("\"{}/bin/tansu\"", super::TANSU_ROOT)));
        assert!(testkit.contains(&format!("\"{}\"", super::CLICKHOUSE_BIN)));
    }
}
