//! Typed settings of the three commands, validated before anything connects or binds.
//!
//! The binary fills these from flags and environment variables (`mcp-sentinel --help` lists
//! them); tests build them directly.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// A setting that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The ClickHouse database name is not a plain identifier.
    #[error("database name {0:?} must match [A-Za-z_][A-Za-z0-9_]* (at most 64 characters)")]
    BadDatabase(String),
    /// OIDC settings are incomplete: issuer, audience and JWKS URL go together.
    #[error("OIDC_ISSUER, OIDC_AUDIENCE and OIDC_JWKS_URL must be set together (missing: {0})")]
    PartialOidc(String),
    /// A URL that does not parse.
    #[error("{name}: {value:?} is not an http(s) URL")]
    BadUrl {
        /// Setting name.
        name: &'static str,
        /// Value given.
        value: String,
    },
    /// A number out of its range.
    #[error("{name} must be between {min} and {max} (got {value})")]
    OutOfRange {
        /// Setting name.
        name: &'static str,
        /// Value given.
        value: u64,
        /// Smallest allowed.
        min: u64,
        /// Largest allowed.
        max: u64,
    },
    /// A duration that does not parse.
    #[error("{name}: {value:?} is not a duration (examples: 500ms, 1s, 2m)")]
    BadDuration {
        /// Setting name.
        name: &'static str,
        /// Value given.
        value: String,
    },
    /// A value outside its fixed set.
    #[error("{name}: {value:?} is not one of {allowed}")]
    BadChoice {
        /// Setting name.
        name: &'static str,
        /// Value given.
        value: String,
        /// The accepted values.
        allowed: &'static str,
    },
    /// A required value is empty.
    #[error("{0} must not be empty")]
    Empty(&'static str),
}

/// A validated ClickHouse database name, safe to splice into SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database(String);

impl Database {
    /// Checks that `name` is a plain identifier.
    pub fn new(name: &str) -> Result<Database, ConfigError> {
        let mut chars = name.chars();
        let ok = name.len() <= 64
            && chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if ok { Ok(Database(name.to_string())) } else { Err(ConfigError::BadDatabase(name.to_string())) }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses `500ms`, `1s`, `2m`, `1h`, or a bare number of milliseconds.
pub fn parse_duration(name: &'static str, value: &str) -> Result<Duration, ConfigError> {
    let bad = || ConfigError::BadDuration { name, value: value.to_string() };
    let v = value.trim();
    let split = v.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(v.len());
    let (number, unit) = v.split_at(split);
    let number: f64 = number.parse().map_err(|_| bad())?;
    let millis = match unit.trim() {
        "" | "ms" => number,
        "s" => number * 1e3,
        "m" => number * 60e3,
        "h" => number * 3_600e3,
        _ => return Err(bad()),
    };
    if !(0.0..=1e12).contains(&millis) {
        return Err(bad());
    }
    Ok(Duration::from_micros((millis * 1e3) as u64))
}

/// Checks that `value` lies in `min..=max`.
pub fn in_range(name: &'static str, value: u64, min: u64, max: u64) -> Result<u64, ConfigError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(ConfigError::OutOfRange { name, value, min, max })
    }
}

fn check_url(name: &'static str, value: &str) -> Result<(), ConfigError> {
    let ok =
        (value.starts_with("http://") || value.starts_with("https://")) && value.parse::<http::Uri>().is_ok();
    if ok { Ok(()) } else { Err(ConfigError::BadUrl { name, value: value.to_string() }) }
}

/// Where Kafka is and which topics to use.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// `KAFKA_BROKERS`: comma-separated `host:port` list.
    pub brokers: String,
    /// `KAFKA_TOPIC`: events topic.
    pub topic: String,
    /// `KAFKA_DLQ_TOPIC`: dead-letter topic.
    pub dlq_topic: String,
    /// `KAFKA_CREATE_TOPICS`: create both topics when missing.
    pub create_topics: bool,
    /// `KAFKA_TOPIC_PARTITIONS`: partitions of a topic this service creates.
    pub partitions: i32,
    /// `KAFKA_REPLICATION_FACTOR`: replication of a topic this service creates.
    pub replication: i32,
    /// `KAFKA_MESSAGE_TIMEOUT`: how long a producer keeps retrying one write (default 60 s).
    pub message_timeout: Duration,
    /// `KAFKA_LINGER`: how long a producer waits to fill a batch (default 20 ms). Larger batches
    /// mean fewer produce requests; with the idempotent producer (at most 5 requests in flight
    /// per partition) small batches against a slow broker also make librdkafka spin.
    pub linger: Duration,
    /// `KAFKA_COMPRESSION`: `none`, `gzip`, `snappy` or `lz4` (default `none`).
    pub compression: String,
    /// `KAFKA_DEBUG`: librdkafka debug contexts (e.g. `cgrp,fetch`), logged at debug level.
    pub debug: Option<String>,
}

impl KafkaConfig {
    /// Defaults for `brokers`: topics `mcp.events` and `mcp.events.dlq`, created with 3 partitions.
    pub fn new(brokers: impl Into<String>) -> KafkaConfig {
        KafkaConfig {
            brokers: brokers.into(),
            topic: mcp_events::TOPIC.to_string(),
            dlq_topic: mcp_events::DLQ_TOPIC.to_string(),
            create_topics: true,
            partitions: 3,
            replication: 1,
            message_timeout: Duration::from_secs(60),
            linger: Duration::from_millis(20),
            compression: "none".into(),
            debug: None,
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.brokers.trim().is_empty() {
            return Err(ConfigError::Empty("KAFKA_BROKERS"));
        }
        if self.topic.trim().is_empty() {
            return Err(ConfigError::Empty("KAFKA_TOPIC"));
        }
        if self.dlq_topic.trim().is_empty() {
            return Err(ConfigError::Empty("KAFKA_DLQ_TOPIC"));
        }
        in_range("KAFKA_TOPIC_PARTITIONS", self.partitions.max(0) as u64, 1, 10_000)?;
        in_range("KAFKA_REPLICATION_FACTOR", self.replication.max(0) as u64, 1, 100)?;
        in_range("KAFKA_MESSAGE_TIMEOUT (ms)", self.message_timeout.as_millis() as u64, 1_000, 3_600_000)?;
        in_range("KAFKA_LINGER (ms)", self.linger.as_millis() as u64, 0, 1_000)?;
        if !["none", "gzip", "snappy", "lz4"].contains(&self.compression.as_str()) {
            return Err(ConfigError::BadChoice {
                name: "KAFKA_COMPRESSION",
                value: self.compression.clone(),
                allowed: "none, gzip, snappy, lz4",
            });
        }
        Ok(())
    }
}

/// Where ClickHouse is.
#[derive(Clone)]
pub struct ClickHouseConfig {
    /// `CLICKHOUSE_URL`: HTTP interface, e.g. `http://clickhouse:8123`.
    pub url: String,
    /// `CLICKHOUSE_USER`.
    pub user: String,
    /// `CLICKHOUSE_PASSWORD`.
    pub password: String,
    /// `CLICKHOUSE_DB`.
    pub database: Database,
}

impl fmt::Debug for ClickHouseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClickHouseConfig")
            .field("url", &self.url)
            .field("user", &self.user)
            .field("password", &if self.password.is_empty() { "" } else { "<redacted>" })
            .field("database", &self.database)
            .finish()
    }
}

impl ClickHouseConfig {
    /// User `default`, no password, database `mcp`.
    pub fn new(url: impl Into<String>) -> ClickHouseConfig {
        ClickHouseConfig {
            url: url.into(),
            user: "default".into(),
            password: String::new(),
            database: Database("mcp".into()),
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_url("CLICKHOUSE_URL", &self.url)
    }

    /// A client for this server. Schema validation is off: it needs server features newer than
    /// ClickHouse 18.16, and RowBinary without it is also the fastest path.
    pub fn client(&self) -> clickhouse::Client {
        let mut client = clickhouse::Client::default().with_url(&self.url).with_validation(false);
        if !self.user.is_empty() {
            client = client.with_user(&self.user);
        }
        if !self.password.is_empty() {
            client = client.with_password(&self.password);
        }
        client
    }
}

/// Bearer-token authentication against an OpenID issuer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcConfig {
    /// `OIDC_ISSUER`: required `iss`.
    pub issuer: String,
    /// `OIDC_AUDIENCE`: required `aud`.
    pub audience: String,
    /// `OIDC_JWKS_URL`: the issuer's keys.
    pub jwks_url: String,
}

impl OidcConfig {
    /// All three or none: anything in between is an error.
    pub fn from_parts(
        issuer: Option<String>,
        audience: Option<String>,
        jwks_url: Option<String>,
    ) -> Result<Option<OidcConfig>, ConfigError> {
        let clean = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
        match (clean(issuer), clean(audience), clean(jwks_url)) {
            (None, None, None) => Ok(None),
            (Some(issuer), Some(audience), Some(jwks_url)) => {
                check_url("OIDC_JWKS_URL", &jwks_url)?;
                Ok(Some(OidcConfig { issuer, audience, jwks_url }))
            }
            (i, a, j) => {
                let missing: Vec<&str> = [
                    ("OIDC_ISSUER", i.is_none()),
                    ("OIDC_AUDIENCE", a.is_none()),
                    ("OIDC_JWKS_URL", j.is_none()),
                ]
                .into_iter()
                .filter_map(|(name, missing)| missing.then_some(name))
                .collect();
                Err(ConfigError::PartialOidc(missing.join(", ")))
            }
        }
    }
}

/// Settings of `mcp-sentinel ingest`.
#[derive(Clone)]
pub struct IngestConfig {
    /// Address to serve on (`BIND_ADDRESS`:`PORT`).
    pub listen: SocketAddr,
    /// Broker and topics.
    pub kafka: KafkaConfig,
    /// `INGEST_API_KEYS` (or `API_KEYS`): accepted `x-api-key` values.
    pub api_keys: Vec<String>,
    /// Bearer-token authentication, when configured.
    pub oidc: Option<OidcConfig>,
    /// `INGEST_MAX_BODY_BYTES`: largest request body (default 1 MiB).
    pub max_body_bytes: usize,
    /// `INGEST_MAX_BATCH`: most envelopes in one array (default 500).
    pub max_batch: usize,
    /// `KAFKA_DELIVERY_TIMEOUT`: how long a request waits for the broker's acknowledgements
    /// before ingest answers `enqueue_failed` (default 5 s). Writes not acknowledged by then
    /// go on in the background until `KAFKA_MESSAGE_TIMEOUT`; the sender's retry may then land
    /// a second copy, which collapses downstream on `event_id`.
    pub delivery_timeout: Duration,
}

impl fmt::Debug for IngestConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IngestConfig")
            .field("listen", &self.listen)
            .field("kafka", &self.kafka)
            .field("api_keys", &format_args!("<{} redacted>", self.api_keys.len()))
            .field("oidc", &self.oidc)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("max_batch", &self.max_batch)
            .field("delivery_timeout", &self.delivery_timeout)
            .finish()
    }
}

impl IngestConfig {
    /// Defaults around a listen address and a broker list.
    pub fn new(listen: SocketAddr, brokers: impl Into<String>) -> IngestConfig {
        IngestConfig {
            listen,
            kafka: KafkaConfig::new(brokers),
            api_keys: Vec::new(),
            oidc: None,
            max_body_bytes: 1 << 20,
            max_batch: 500,
            delivery_timeout: Duration::from_secs(5),
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.kafka.validate()?;
        in_range("INGEST_MAX_BODY_BYTES", self.max_body_bytes as u64, 1024, 64 << 20)?;
        in_range("INGEST_MAX_BATCH", self.max_batch as u64, 1, 100_000)?;
        in_range("KAFKA_DELIVERY_TIMEOUT (ms)", self.delivery_timeout.as_millis() as u64, 100, 600_000)?;
        if self.delivery_timeout > self.kafka.message_timeout {
            return Err(ConfigError::OutOfRange {
                name: "KAFKA_DELIVERY_TIMEOUT (ms, at most KAFKA_MESSAGE_TIMEOUT)",
                value: self.delivery_timeout.as_millis() as u64,
                min: 100,
                max: self.kafka.message_timeout.as_millis() as u64,
            });
        }
        if self.api_keys.iter().any(|k| k.is_empty()) {
            return Err(ConfigError::Empty("an entry of INGEST_API_KEYS"));
        }
        Ok(())
    }
}

/// Settings of `mcp-sentinel processor`.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// Broker and topics.
    pub kafka: KafkaConfig,
    /// `KAFKA_GROUP`: consumer group.
    pub group: String,
    /// `KAFKA_GROUP_INSTANCE_ID`: static group membership. A processor restarted with the same
    /// id takes its partitions back at once instead of waiting for the broker to expire the
    /// dead member.
    pub group_instance_id: Option<String>,
    /// Where rows go.
    pub clickhouse: ClickHouseConfig,
    /// `BATCH_SIZE`: envelopes per batch, i.e. rows per insert (default 5,000); a message holding
    /// an array is read whole, so a batch may exceed it by the rest of one message.
    pub batch_size: usize,
    /// `FLUSH_INTERVAL`: longest time a message waits before its batch is written (default 1 s).
    pub flush_interval: Duration,
    /// Address of `/metrics`, `/live`, `/ready` (`METRICS_PORT`, default 9102).
    pub metrics_listen: Option<SocketAddr>,
    /// `RETENTION_DAYS`: day partitions older than this are dropped (0 keeps everything).
    pub retention_days: u32,
    /// How often retention runs.
    pub retention_interval: Duration,
    /// `SHUTDOWN_TIMEOUT`: time allowed to flush on SIGTERM (default 10 s).
    pub shutdown_timeout: Duration,
    /// Run migrations at start (default on).
    pub migrate: bool,
    /// Longest wait between insert retries.
    pub max_backoff: Duration,
}

impl ProcessorConfig {
    /// Defaults around a broker list and a ClickHouse URL.
    pub fn new(brokers: impl Into<String>, clickhouse_url: impl Into<String>) -> ProcessorConfig {
        ProcessorConfig {
            kafka: KafkaConfig::new(brokers),
            group: "mcp-sentinel-processor".into(),
            group_instance_id: None,
            clickhouse: ClickHouseConfig::new(clickhouse_url),
            batch_size: 5_000,
            flush_interval: Duration::from_secs(1),
            metrics_listen: None,
            retention_days: 30,
            retention_interval: Duration::from_secs(3600),
            shutdown_timeout: Duration::from_secs(10),
            migrate: true,
            max_backoff: Duration::from_secs(5),
        }
    }

    /// Checks the settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.kafka.validate()?;
        self.clickhouse.validate()?;
        if self.group.trim().is_empty() {
            return Err(ConfigError::Empty("KAFKA_GROUP"));
        }
        in_range("BATCH_SIZE", self.batch_size as u64, 1, 1_000_000)?;
        in_range("FLUSH_INTERVAL (ms)", self.flush_interval.as_millis() as u64, 1, 600_000)?;
        in_range("RETENTION_DAYS", u64::from(self.retention_days), 0, 36_500)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests;
