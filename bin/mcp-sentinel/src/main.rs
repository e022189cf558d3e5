//! `mcp-sentinel`: the analytics pipeline's processes. `ingest` serves `POST /events` and writes
//! to Kafka; `processor` moves events from Kafka to ClickHouse; `migrate` brings the ClickHouse
//! schema up to date. Every flag can also be set by the environment variable named in `--help`.

use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use mcp_sentinel::config::parse_duration;
use mcp_sentinel::{
    ClickHouseConfig, ConfigError, Database, IngestConfig, KafkaConfig, OidcConfig, ProcessorConfig,
};
use tracing::{error, info};

/// Exit status for unusable configuration (EX_USAGE).
const EX_USAGE: u8 = 64;

/// MCP Runtime analytics pipeline: ingest → Kafka → processor → ClickHouse.
#[derive(Debug, Parser)]
#[command(name = "mcp-sentinel", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Serve `POST /events`: authenticate, validate, write to Kafka, answer 202 once acknowledged.
    Ingest(IngestArgs),
    /// Move events from Kafka to ClickHouse: batch, insert, then commit offsets.
    Processor(ProcessorArgs),
    /// Create or upgrade the ClickHouse schema (idempotent) and exit.
    Migrate(ClickHouseArgs),
}

#[derive(Debug, Args)]
struct KafkaArgs {
    /// Kafka bootstrap servers, comma-separated host:port.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "kafka:9092")]
    kafka_brokers: String,
    /// Topic that carries the events.
    #[arg(long, env = "KAFKA_TOPIC", default_value = mcp_events::TOPIC)]
    kafka_topic: String,
    /// Dead-letter topic for messages the processor cannot turn into rows.
    #[arg(long, env = "KAFKA_DLQ_TOPIC", default_value = mcp_events::DLQ_TOPIC)]
    kafka_dlq_topic: String,
    /// Create both topics at start when they are missing (true or false).
    #[arg(long, env = "KAFKA_CREATE_TOPICS", default_value_t = true, action = clap::ArgAction::Set)]
    kafka_create_topics: bool,
    /// Partitions of the events topic when this process creates it.
    #[arg(long, env = "KAFKA_TOPIC_PARTITIONS", default_value_t = 3)]
    kafka_topic_partitions: i32,
    /// Replication factor of a topic this process creates.
    #[arg(long, env = "KAFKA_REPLICATION_FACTOR", default_value_t = 1)]
    kafka_replication_factor: i32,
    /// How long a producer keeps retrying one write while the broker is unreachable (e.g. 60s).
    #[arg(long, env = "KAFKA_MESSAGE_TIMEOUT", default_value = "60s")]
    kafka_message_timeout: String,
    /// How long a producer waits to fill a batch before sending it (e.g. 5ms, 20ms).
    #[arg(long, env = "KAFKA_LINGER", default_value = "20ms")]
    kafka_linger: String,
    /// Compression of produced batches: none, gzip, snappy or lz4.
    #[arg(long, env = "KAFKA_COMPRESSION", default_value = "none")]
    kafka_compression: String,
    /// librdkafka debug contexts to log (e.g. cgrp,fetch,protocol); needs RUST_LOG=debug.
    #[arg(long, env = "KAFKA_DEBUG")]
    kafka_debug: Option<String>,
}

impl KafkaArgs {
    fn config(&self) -> Result<KafkaConfig, ConfigError> {
        Ok(KafkaConfig {
            brokers: self.kafka_brokers.clone(),
            topic: self.kafka_topic.clone(),
            dlq_topic: self.kafka_dlq_topic.clone(),
            create_topics: self.kafka_create_topics,
            partitions: self.kafka_topic_partitions,
            replication: self.kafka_replication_factor,
            message_timeout: parse_duration("KAFKA_MESSAGE_TIMEOUT", &self.kafka_message_timeout)?,
            linger: parse_duration("KAFKA_LINGER", &self.kafka_linger)?,
            compression: self.kafka_compression.clone(),
            debug: self.kafka_debug.clone(),
        })
    }
}

#[derive(Debug, Args)]
struct IngestArgs {
    /// Address to listen on.
    #[arg(long, env = "BIND_ADDRESS", default_value = "0.0.0.0")]
    bind: IpAddr,
    /// Port to listen on (also serves /live, /health, /ready, /metrics).
    #[arg(long, env = "PORT", default_value_t = 8081)]
    port: u16,
    #[command(flatten)]
    kafka: KafkaArgs,
    /// Accepted `x-api-key` values, comma-separated (falls back to API_KEYS). With no keys and no
    /// OIDC issuer, ingest accepts anyone.
    #[arg(long, env = "INGEST_API_KEYS", hide_env_values = true)]
    api_keys: Option<String>,
    /// Required `iss` of bearer tokens (needs --oidc-audience and --oidc-jwks-url).
    #[arg(long, env = "OIDC_ISSUER")]
    oidc_issuer: Option<String>,
    /// Required `aud` of bearer tokens.
    #[arg(long, env = "OIDC_AUDIENCE")]
    oidc_audience: Option<String>,
    /// URL of the issuer's JSON Web Key Set.
    #[arg(long, env = "OIDC_JWKS_URL")]
    oidc_jwks_url: Option<String>,
    /// Largest request body in bytes.
    #[arg(long, env = "INGEST_MAX_BODY_BYTES", default_value_t = 1 << 20)]
    max_body_bytes: usize,
    /// Most envelopes in one JSON array.
    #[arg(long, env = "INGEST_MAX_BATCH", default_value_t = 500)]
    max_batch: usize,
    /// How long a request waits for the broker's acknowledgements before it fails with 500
    /// enqueue_failed (e.g. 500ms, 5s); at most KAFKA_MESSAGE_TIMEOUT.
    #[arg(long, env = "KAFKA_DELIVERY_TIMEOUT", default_value = "5s")]
    delivery_timeout: String,
}

impl IngestArgs {
    fn config(&self) -> Result<IngestConfig, ConfigError> {
        let keys = self.api_keys.clone().or_else(|| std::env::var("API_KEYS").ok()).unwrap_or_default();
        let config = IngestConfig {
            listen: SocketAddr::new(self.bind, self.port),
            kafka: self.kafka.config()?,
            api_keys: keys.split(',').map(str::trim).filter(|k| !k.is_empty()).map(str::to_string).collect(),
            oidc: OidcConfig::from_parts(
                self.oidc_issuer.clone(),
                self.oidc_audience.clone(),
                self.oidc_jwks_url.clone(),
            )?,
            max_body_bytes: self.max_body_bytes,
            max_batch: self.max_batch,
            delivery_timeout: parse_duration("KAFKA_DELIVERY_TIMEOUT", &self.delivery_timeout)?,
        };
        config.validate()?;
        Ok(config)
    }
}

#[derive(Debug, Args)]
struct ClickHouseArgs {
    /// ClickHouse HTTP interface.
    #[arg(long, env = "CLICKHOUSE_URL", default_value = "http://clickhouse:8123")]
    clickhouse_url: String,
    /// ClickHouse user.
    #[arg(long, env = "CLICKHOUSE_USER", default_value = "default")]
    clickhouse_user: String,
    /// ClickHouse password.
    #[arg(
        long,
        env = "CLICKHOUSE_PASSWORD",
        default_value = "",
        hide_env_values = true,
        hide_default_value = true
    )]
    clickhouse_password: String,
    /// Database that holds the `events` table.
    #[arg(long, env = "CLICKHOUSE_DB", default_value = "mcp")]
    clickhouse_db: String,
}

impl ClickHouseArgs {
    fn config(&self) -> Result<ClickHouseConfig, ConfigError> {
        let config = ClickHouseConfig {
            url: self.clickhouse_url.clone(),
            user: self.clickhouse_user.clone(),
            password: self.clickhouse_password.clone(),
            database: Database::new(&self.clickhouse_db)?,
        };
        config.validate()?;
        Ok(config)
    }
}

#[derive(Debug, Args)]
struct ProcessorArgs {
    #[command(flatten)]
    kafka: KafkaArgs,
    /// Consumer group.
    #[arg(long, env = "KAFKA_GROUP", default_value = "mcp-sentinel-processor")]
    kafka_group: String,
    /// Static group membership id (e.g. the pod name): a restarted processor with the same id
    /// gets its partitions back at once instead of waiting for the dead member to expire.
    #[arg(long, env = "KAFKA_GROUP_INSTANCE_ID")]
    kafka_group_instance_id: Option<String>,
    #[command(flatten)]
    clickhouse: ClickHouseArgs,
    /// Envelopes per batch, i.e. rows per insert (exceeded by at most the rest of one message).
    #[arg(long, env = "BATCH_SIZE", default_value_t = 5_000)]
    batch_size: usize,
    /// Longest time an event waits before its batch is written (e.g. 500ms, 1s).
    #[arg(long, env = "FLUSH_INTERVAL", default_value = "1s")]
    flush_interval: String,
    /// Port of /metrics, /live and /ready (0 turns the listener off).
    #[arg(long, env = "METRICS_PORT", default_value_t = 9102)]
    metrics_port: u16,
    /// Address of the metrics listener.
    #[arg(long, env = "METRICS_BIND_ADDRESS", default_value = "0.0.0.0")]
    metrics_bind: IpAddr,
    /// Drop day partitions older than this many days, checked hourly (0 keeps everything).
    #[arg(long, env = "RETENTION_DAYS", default_value_t = 30)]
    retention_days: u32,
    /// Time allowed to flush the current batch on SIGTERM (e.g. 10s).
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "10s")]
    shutdown_timeout: String,
    /// Longest wait between retries of a failed insert (e.g. 2s).
    #[arg(long, env = "MAX_BACKOFF", default_value = "2s")]
    max_backoff: String,
    /// Do not run the schema migrations at start.
    #[arg(long, env = "SKIP_MIGRATIONS", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    skip_migrations: bool,
}

impl ProcessorArgs {
    fn config(&self) -> Result<ProcessorConfig, ConfigError> {
        let config = ProcessorConfig {
            kafka: self.kafka.config()?,
            group: self.kafka_group.clone(),
            group_instance_id: self.kafka_group_instance_id.clone(),
            clickhouse: self.clickhouse.config()?,
            batch_size: self.batch_size,
            flush_interval: parse_duration("FLUSH_INTERVAL", &self.flush_interval)?,
            metrics_listen: (self.metrics_port != 0)
                .then(|| SocketAddr::new(self.metrics_bind, self.metrics_port)),
            retention_days: self.retention_days,
            retention_interval: Duration::from_secs(3600),
            shutdown_timeout: parse_duration("SHUTDOWN_TIMEOUT", &self.shutdown_timeout)?,
            migrate: !self.skip_migrations,
            max_backoff: parse_duration("MAX_BACKOFF", &self.max_backoff)?,
        };
        config.validate()?;
        Ok(config)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("mcp-sentinel: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let invalid = |err: ConfigError| {
        eprintln!("mcp-sentinel: invalid configuration: {err}");
        ExitCode::from(EX_USAGE)
    };
    match cli.cmd {
        Cmd::Ingest(args) => match args.config() {
            Ok(config) => runtime.block_on(ingest(config)),
            Err(err) => invalid(err),
        },
        Cmd::Processor(args) => match args.config() {
            Ok(config) => runtime.block_on(processor(config)),
            Err(err) => invalid(err),
        },
        Cmd::Migrate(args) => match args.config() {
            Ok(config) => runtime.block_on(migrate(config)),
            Err(err) => invalid(err),
        },
    }
}

async fn ingest(config: IngestConfig) -> ExitCode {
    let listen = config.listen;
    let service = match mcp_sentinel::ingest::Ingest::new(config) {
        Ok(service) => service,
        Err(err) => {
            eprintln!("mcp-sentinel: {err}");
            return ExitCode::from(EX_USAGE);
        }
    };
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(listener) => listener,
        Err(err) => {
            error!(addr = %listen, error = %err, "cannot bind");
            return ExitCode::FAILURE;
        }
    };
    match mcp_sentinel::ingest::serve(service, listener, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!(error = %err, "ingest failed");
            ExitCode::FAILURE
        }
    }
}

async fn processor(config: ProcessorConfig) -> ExitCode {
    match mcp_sentinel::processor::run(config, shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error!(error = %err, "processor failed");
            ExitCode::FAILURE
        }
    }
}

async fn migrate(config: ClickHouseConfig) -> ExitCode {
    let client = config.client();
    match mcp_sentinel::schema::migrate(&client, &config.database).await {
        Ok(report) => {
            info!(version = report.current, applied = ?report.applied, database = %config.database, "schema up to date");
            ExitCode::SUCCESS
        }
        Err(err) => {
            error!(error = %err, "migration failed");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    mcp_shutdown::requested().await;
    info!("shutdown requested");
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn partial_oidc_settings_are_refused() {
        let cli = Cli::try_parse_from(["mcp-sentinel", "ingest", "--oidc-issuer", "https://issuer"])
            .expect("valid");
        let Cmd::Ingest(args) = cli.cmd else { panic!("ingest expected") };
        let err = args.config().expect_err("invalid");
        assert!(err.to_string().contains("OIDC_AUDIENCE, OIDC_JWKS_URL"), "{err}");
    }

    #[test]
    fn processor_flags_become_a_validated_config() {
        let cli = Cli::try_parse_from([
            "mcp-sentinel",
            "processor",
            "--kafka-brokers",
            "127.0.0.1:1",
            "--clickhouse-url",
            "http://127.0.0.1:2",
            "--clickhouse-db",
            "analytics_1",
            "--batch-size",
            "10",
            "--flush-interval",
            "250ms",
            "--metrics-port",
            "0",
            "--skip-migrations",
        ])
        .expect("valid");
        let Cmd::Processor(args) = cli.cmd else { panic!("processor expected") };
        let config = args.config().expect("valid");
        assert_eq!(config.batch_size, 10);
        assert_eq!(config.flush_interval, Duration::from_millis(250));
        assert_eq!(config.clickhouse.database.as_str(), "analytics_1");
        assert!(config.metrics_listen.is_none());
        assert!(!config.migrate);

        let cli =
            Cli::try_parse_from(["mcp-sentinel", "migrate", "--clickhouse-db", "bad-name"]).expect("valid");
        let Cmd::Migrate(args) = cli.cmd else { panic!("migrate expected") };
        assert!(matches!(args.config(), Err(ConfigError::BadDatabase(_))));
    }
}
