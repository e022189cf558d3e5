//! Platform configuration: read from a [`Source`] (the environment, with command-line flags on
//! top) and validated in full before anything binds a port or opens the store, so a bad value is
//! reported as one line naming the variable.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Where settings are read from.
pub trait Source {
    /// The value of `key`, when set and not empty.
    fn get(&self, key: &str) -> Option<String>;
}

/// The process environment.
#[derive(Debug, Default, Clone, Copy)]
pub struct Environment;

impl Source for Environment {
    fn get(&self, key: &str) -> Option<String> {
        std::env::var(key).ok().filter(|v| !v.trim().is_empty())
    }
}

impl Source for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<String> {
        HashMap::get(self, key).cloned().filter(|v| !v.trim().is_empty())
    }
}

/// A setting that could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}={value:?}: {reason}")]
pub struct ConfigError {
    /// The variable.
    pub key: &'static str,
    /// Its value.
    pub value: String,
    /// Why it was refused.
    pub reason: String,
}

/// An IP network (`10.0.0.0/8`, `::1/128`, or a single address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    /// Whether `ip` is inside this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

impl std::str::FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr.trim().parse().map_err(|_| format!("{s:?} is not an IP address or CIDR"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: prefix length must be 0..={max}"))?,
        };
        Ok(IpNet { addr, prefix })
    }
}

/// How a first OpenID Connect sign-in of an unknown subject is handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OidcProvisioning {
    /// Create an account for the verified email (the default).
    Create,
    /// Link to an existing account with the same verified email; refuse otherwise.
    LinkOnly,
}

/// An external OpenID Connect issuer people sign in with.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// `PLATFORM_OIDC_ISSUER`: the issuer URL (its discovery document names the endpoints).
    pub issuer: String,
    /// `PLATFORM_OIDC_CLIENT_ID`.
    pub client_id: String,
    /// `PLATFORM_OIDC_CLIENT_SECRET` (confidential clients; PKCE is used either way).
    pub client_secret: Option<String>,
    /// `PLATFORM_OIDC_REDIRECT_URL`: this service's callback as registered at the issuer
    /// (`https://<host>/api/v1/auth/oidc/callback`).
    pub redirect_url: String,
    /// `PLATFORM_OIDC_AUDIENCES`: extra `aud` values accepted on exchanged id_tokens (the CLI's
    /// client id), comma-separated; the client id is always accepted.
    pub extra_audiences: Vec<String>,
    /// `PLATFORM_OIDC_PROVISIONING`: `create` (default) or `link-only`.
    pub provisioning: OidcProvisioning,
}

/// Everything the platform needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PLATFORM_LISTEN_ADDR`, or `PORT` on all addresses (default `0.0.0.0:8090`).
    pub listen: SocketAddr,
    /// `PLATFORM_DATA_DIR` (default `./mcp-platform-data`): the embedded store, signing keys,
    /// the hashing secret and the audit spool live here unless set elsewhere.
    pub data_dir: PathBuf,
    /// `PLATFORM_DATABASE_URL`: `postgres://…` (cluster) or `sqlite://…` (default
    /// `sqlite://<data dir>/platform.db`).
    pub database_url: String,
    /// `PLATFORM_DB_MAX_CONNECTIONS` (default 10).
    pub db_max_connections: u32,
    /// `PLATFORM_AUTO_MIGRATE` (default `true`): `serve` applies pending migrations at start;
    /// with `false` it refuses to start on an outdated schema (run `mcp-platform migrate`).
    pub auto_migrate: bool,
    /// `PLATFORM_ISSUER` (default `mcp-platform`): `iss` of every token the platform signs.
    pub issuer: String,
    /// `PLATFORM_AUDIENCE` (default `mcp-platform`): `aud` of access tokens.
    pub audience: String,
    /// `PLATFORM_ACCESS_TOKEN_TTL_SECS` (default 900, 60..=3600).
    pub access_ttl: Duration,
    /// `PLATFORM_REFRESH_TOKEN_TTL_SECS` (default 30 days, at least 5 minutes).
    pub refresh_ttl: Duration,
    /// `PLATFORM_KEYS_FILE` (default `<data dir>/signing-keys.json`): the Ed25519 signing keys
    /// (a mounted Secret in a cluster).
    pub keys_file: PathBuf,
    /// `PLATFORM_KEY_PUBLISH_DELAY_SECS` (default 600): after `keys rotate`, how long a new key
    /// is published before tokens are signed with it.
    pub key_publish_delay: Duration,
    /// `PLATFORM_SECRET_FILE` (default `<data dir>/hash-secret`): at least 32 bytes, the key of
    /// the HMAC that API keys and refresh tokens are stored under.
    pub secret_file: PathBuf,
    /// `PLATFORM_TRUSTED_PROXIES`: comma-separated addresses or CIDRs whose `X-Forwarded-For`
    /// is believed; the client address of anyone else is the peer address.
    pub trusted_proxies: Vec<IpNet>,
    /// `PLATFORM_LOCKOUT_THRESHOLD` (default 5): failed sign-ins (per account and client
    /// address) allowed before a lockout.
    pub lockout_threshold: u32,
    /// `PLATFORM_LOCKOUT_BASE_SECS` (default 15): the first lockout; doubles with each further
    /// failure.
    pub lockout_base: Duration,
    /// `PLATFORM_LOCKOUT_MAX_SECS` (default 300): the longest lockout.
    pub lockout_max: Duration,
    /// `PLATFORM_MAX_BODY_BYTES` (default 64 KiB): larger request bodies are refused with 413.
    pub max_body: usize,
    /// Platform audit delivery (`ANALYTICS_INGEST_URL`, `ANALYTICS_API_KEY`, `AUDIT_SPOOL_DIR`).
    pub audit: crate::audit::AuditConfig,
    /// OpenID Connect sign-in, when `PLATFORM_OIDC_ISSUER` is set.
    pub oidc: Option<OidcConfig>,
    /// Grace period for in-flight requests on shutdown (`PLATFORM_SHUTDOWN_GRACE_MS`, default 10 s).
    pub shutdown_grace: Duration,
    /// The runtime: where servers, grants and sessions live.
    pub runtime: RuntimeConfig,
    /// The ClickHouse event store of the analytics routes (`PLATFORM_CLICKHOUSE_URL`, `_DB`,
    /// `_USER`, `_PASSWORD`); unset, those routes answer 503.
    pub clickhouse: Option<mcp_sentinel::ClickHouseConfig>,
    /// The embedded event store (`PLATFORM_EVENTS_DB`: a SQLite file, created when missing), the
    /// alternative to ClickHouse for a single node (`mcp-runtime dev`); not with
    /// `PLATFORM_CLICKHOUSE_URL`.
    pub events_db: Option<PathBuf>,
    /// The container registry images are pushed to (`PLATFORM_REGISTRY_URL`, …; see
    /// [`crate::registry_push`]).
    pub registry: Option<crate::registry_push::RegistryConfig>,
}

/// Which runtime backend holds servers, grants and sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    /// Objects in the platform store, policies written as files (`local`, the default).
    Local,
    /// Objects written into team namespaces of a Kubernetes cluster (`kubernetes`).
    Kubernetes,
}

/// Runtime settings.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// `PLATFORM_RUNTIME`: `local` (default) or `kubernetes`.
    pub kind: RuntimeKind,
    /// `PLATFORM_POLICY_DIR` (default `<data dir>/policies`): Local backend, one policy file
    /// per server at `<dir>/<namespace>/<name>.json`, watched by the gateways.
    pub policy_dir: PathBuf,
    /// `PLATFORM_MCP_HOST` (default `localhost`): host of servers' public MCP URLs when a
    /// server names none (the `aud` of session tokens).
    pub mcp_host: String,
    /// `PLATFORM_MCP_TLS` (default `false`): public MCP URLs use `https`.
    pub mcp_tls: bool,
    /// `PLATFORM_CLUSTER_NAME` (default `local`): stamped into rendered policies.
    pub cluster: String,
    /// `PLATFORM_MCP_ACTIVE_SERVER_LIMIT` (default 5, 0 = no limit): servers per team.
    pub active_server_limit: u32,
    /// `PLATFORM_MCP_PUSH_COOLDOWN` (default `0s`; `30s`, `5m`, `1h` or seconds): least time
    /// between two publishes of one team.
    pub push_cooldown: Duration,
    /// `PLATFORM_CROSS_TEAM_GRANT_MAX_TTL` (default `7d`): a grant for another team's subjects
    /// (delegation) must expire within this.
    pub cross_team_grant_max_ttl: Duration,
}

/// Parses `90`, `90s`, `5m`, `1h`, `1h30m` (Go-style durations of whole seconds; a bare number
/// is seconds).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    if let Ok(secs) = t.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    mcp_api::parse_duration_secs(t).map(Duration::from_secs)
}

fn parse_num<T: std::str::FromStr>(key: &'static str, value: String) -> Result<T, ConfigError> {
    value.trim().parse::<T>().map_err(|_| ConfigError { key, value, reason: "not a number".into() })
}

fn num_in<T>(
    src: &dyn Source,
    key: &'static str,
    default: T,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    let value = src.get(key).map(|v| parse_num::<T>(key, v)).transpose()?.unwrap_or(default);
    if !range.contains(&value) {
        return Err(ConfigError {
            key,
            value: value.to_string(),
            reason: format!("must be between {} and {}", range.start(), range.end()),
        });
    }
    Ok(value)
}

fn url_like(key: &'static str, value: String) -> Result<String, ConfigError> {
    let value = value.trim().trim_end_matches('/').to_string();
    if value.starts_with("http://") || value.starts_with("https://") {
        Ok(value)
    } else {
        Err(ConfigError { key, value, reason: "must be an http:// or https:// URL".into() })
    }
}

impl Config {
    /// Reads and validates every setting.
    pub fn from_source(src: &dyn Source) -> Result<Config, ConfigError> {
        let listen = match (src.get("PLATFORM_LISTEN_ADDR"), src.get("PORT")) {
            (Some(addr), _) => addr.trim().parse().map_err(|_| ConfigError {
                key: "PLATFORM_LISTEN_ADDR",
                value: addr.clone(),
                reason: "not a socket address such as 0.0.0.0:8090".into(),
            })?,
            (None, Some(port)) => SocketAddr::from(([0, 0, 0, 0], parse_num::<u16>("PORT", port)?)),
            (None, None) => SocketAddr::from(([0, 0, 0, 0], 8090)),
        };
        let data_dir =
            PathBuf::from(src.get("PLATFORM_DATA_DIR").unwrap_or_else(|| "./mcp-platform-data".into()));
        let database_url = match src.get("PLATFORM_DATABASE_URL") {
            Some(url) => {
                let url = url.trim().to_string();
                if !["postgres://", "postgresql://", "sqlite:"].iter().any(|p| url.starts_with(p)) {
                    return Err(ConfigError {
                        key: "PLATFORM_DATABASE_URL",
                        value: redact_url(&url),
                        reason: "must start with postgres://, postgresql:// or sqlite:".into(),
                    });
                }
                url
            }
            None => format!("sqlite://{}?mode=rwc", data_dir.join("platform.db").display()),
        };
        let db_max_connections = num_in(src, "PLATFORM_DB_MAX_CONNECTIONS", 10u32, 1..=200)?;
        let auto_migrate = match src.get("PLATFORM_AUTO_MIGRATE").as_deref().map(str::trim) {
            None | Some("true") | Some("1") => true,
            Some("false") | Some("0") => false,
            Some(other) => {
                return Err(ConfigError {
                    key: "PLATFORM_AUTO_MIGRATE",
                    value: other.to_string(),
                    reason: "must be true or false".into(),
                });
            }
        };
        let issuer = src.get("PLATFORM_ISSUER").unwrap_or_else(|| "mcp-platform".into()).trim().to_string();
        let audience =
            src.get("PLATFORM_AUDIENCE").unwrap_or_else(|| "mcp-platform".into()).trim().to_string();
        let access_ttl =
            Duration::from_secs(num_in(src, "PLATFORM_ACCESS_TOKEN_TTL_SECS", 900u64, 60..=3600)?);
        let refresh_ttl = Duration::from_secs(num_in(
            src,
            "PLATFORM_REFRESH_TOKEN_TTL_SECS",
            30 * 86_400u64,
            300..=365 * 86_400,
        )?);
        let keys_file = src
            .get("PLATFORM_KEYS_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("signing-keys.json"));
        let key_publish_delay =
            Duration::from_secs(num_in(src, "PLATFORM_KEY_PUBLISH_DELAY_SECS", 600u64, 0..=7 * 86_400)?);
        let secret_file = src
            .get("PLATFORM_SECRET_FILE")
            .map(PathBuf::from)
            .unwrap_or_else(|| data_dir.join("hash-secret"));
        let trusted_proxies = match src.get("PLATFORM_TRUSTED_PROXIES") {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| {
                    s.parse::<IpNet>().map_err(|reason| ConfigError {
                        key: "PLATFORM_TRUSTED_PROXIES",
                        value: list.clone(),
                        reason,
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let lockout_threshold = num_in(src, "PLATFORM_LOCKOUT_THRESHOLD", 5u32, 1..=1000)?;
        let lockout_base = Duration::from_secs(num_in(src, "PLATFORM_LOCKOUT_BASE_SECS", 15u64, 1..=3600)?);
        let lockout_max = Duration::from_secs(num_in(src, "PLATFORM_LOCKOUT_MAX_SECS", 300u64, 1..=86_400)?);
        if lockout_max < lockout_base {
            return Err(ConfigError {
                key: "PLATFORM_LOCKOUT_MAX_SECS",
                value: lockout_max.as_secs().to_string(),
                reason: "must not be less than PLATFORM_LOCKOUT_BASE_SECS".into(),
            });
        }
        let max_body = num_in(src, "PLATFORM_MAX_BODY_BYTES", 64 * 1024usize, 1024..=16 << 20)?;
        let audit = crate::audit::AuditConfig::from_source(src, &data_dir)?;
        let oidc = match src.get("PLATFORM_OIDC_ISSUER") {
            None => None,
            Some(issuer) => {
                let issuer = url_like("PLATFORM_OIDC_ISSUER", issuer)?;
                let client_id = src.get("PLATFORM_OIDC_CLIENT_ID").ok_or_else(|| ConfigError {
                    key: "PLATFORM_OIDC_CLIENT_ID",
                    value: String::new(),
                    reason: "is required when PLATFORM_OIDC_ISSUER is set".into(),
                })?;
                let redirect_url = url_like(
                    "PLATFORM_OIDC_REDIRECT_URL",
                    src.get("PLATFORM_OIDC_REDIRECT_URL").unwrap_or_default(),
                )?;
                let provisioning = match src.get("PLATFORM_OIDC_PROVISIONING").as_deref().map(str::trim) {
                    None | Some("create") => OidcProvisioning::Create,
                    Some("link-only") => OidcProvisioning::LinkOnly,
                    Some(other) => {
                        return Err(ConfigError {
                            key: "PLATFORM_OIDC_PROVISIONING",
                            value: other.to_string(),
                            reason: "must be `create` or `link-only`".into(),
                        });
                    }
                };
                Some(OidcConfig {
                    issuer,
                    client_id: client_id.trim().to_string(),
                    client_secret: src.get("PLATFORM_OIDC_CLIENT_SECRET"),
                    redirect_url,
                    extra_audiences: src
                        .get("PLATFORM_OIDC_AUDIENCES")
                        .map(|v| {
                            v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(String::from).collect()
                        })
                        .unwrap_or_default(),
                    provisioning,
                })
            }
        };
        let shutdown_grace =
            Duration::from_millis(num_in(src, "PLATFORM_SHUTDOWN_GRACE_MS", 10_000u64, 0..=600_000)?);
        let runtime = RuntimeConfig {
            kind: match src.get("PLATFORM_RUNTIME").as_deref().map(str::trim) {
                None | Some("local") => RuntimeKind::Local,
                Some("kubernetes") => RuntimeKind::Kubernetes,
                Some(other) => {
                    return Err(ConfigError {
                        key: "PLATFORM_RUNTIME",
                        value: other.to_string(),
                        reason: "must be `local` or `kubernetes`".into(),
                    });
                }
            },
            policy_dir: src
                .get("PLATFORM_POLICY_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("policies")),
            mcp_host: src.get("PLATFORM_MCP_HOST").unwrap_or_else(|| "localhost".into()).trim().to_string(),
            mcp_tls: match src.get("PLATFORM_MCP_TLS").as_deref().map(str::trim) {
                None | Some("false") | Some("0") => false,
                Some("true") | Some("1") => true,
                Some(other) => {
                    return Err(ConfigError {
                        key: "PLATFORM_MCP_TLS",
                        value: other.to_string(),
                        reason: "must be `true` or `false`".into(),
                    });
                }
            },
            cluster: src.get("PLATFORM_CLUSTER_NAME").unwrap_or_else(|| "local".into()).trim().to_string(),
            active_server_limit: num_in(src, "PLATFORM_MCP_ACTIVE_SERVER_LIMIT", 5u32, 0..=100_000)?,
            push_cooldown: match src.get("PLATFORM_MCP_PUSH_COOLDOWN") {
                None => Duration::ZERO,
                Some(v) => parse_duration(&v).ok_or_else(|| ConfigError {
                    key: "PLATFORM_MCP_PUSH_COOLDOWN",
                    value: v.clone(),
                    reason: "must be a duration such as 30s, 5m or 1h".into(),
                })?,
            },
            cross_team_grant_max_ttl: match src.get("PLATFORM_CROSS_TEAM_GRANT_MAX_TTL") {
                None => Duration::from_secs(7 * 86_400),
                Some(v) => parse_duration(&v).filter(|d| !d.is_zero()).ok_or_else(|| ConfigError {
                    key: "PLATFORM_CROSS_TEAM_GRANT_MAX_TTL",
                    value: v.clone(),
                    reason: "must be a positive duration such as 24h or 7d".into(),
                })?,
            },
        };
        let clickhouse = crate::analytics::clickhouse_config(src)?;
        let events_db = src
            .get("PLATFORM_EVENTS_DB")
            .map(|p| PathBuf::from(p.trim()))
            .filter(|p| !p.as_os_str().is_empty());
        if let (Some(path), Some(_)) = (&events_db, &clickhouse) {
            return Err(ConfigError {
                key: "PLATFORM_EVENTS_DB",
                value: path.display().to_string(),
                reason: "set either PLATFORM_EVENTS_DB (embedded) or PLATFORM_CLICKHOUSE_URL, not both"
                    .into(),
            });
        }
        let registry = crate::registry_push::RegistryConfig::from_source(src)?;
        Ok(Config {
            registry,
            listen,
            data_dir,
            database_url,
            db_max_connections,
            auto_migrate,
            issuer,
            audience,
            access_ttl,
            refresh_ttl,
            keys_file,
            key_publish_delay,
            secret_file,
            trusted_proxies,
            lockout_threshold,
            lockout_base,
            lockout_max,
            max_body,
            audit,
            oidc,
            shutdown_grace,
            runtime,
            events_db,
            clickhouse,
        })
    }

    /// Whether the store is PostgreSQL (else SQLite).
    pub fn is_postgres(&self) -> bool {
        self.database_url.starts_with("postgres")
    }
}

/// A database URL with its password replaced by `***` (for messages and logs).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let Some((userinfo, host)) = rest.split_once('@') else { return url.to_string() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_are_embedded_sqlite_in_the_data_dir() {
        let c = Config::from_source(&src(&[("PLATFORM_DATA_DIR", "/d")])).expect("valid");
        assert_eq!(c.database_url, "sqlite:///d/platform.db?mode=rwc");
        assert_eq!(c.keys_file, PathBuf::from("/d/signing-keys.json"));
        assert_eq!(c.access_ttl, Duration::from_secs(900));
        assert_eq!(c.listen.port(), 8090);
        assert!(!c.is_postgres());
        assert!(c.oidc.is_none());
        assert_eq!(c.runtime.kind, RuntimeKind::Local);
        assert_eq!(c.runtime.policy_dir, PathBuf::from("/d/policies"));
        assert_eq!(c.runtime.active_server_limit, 5);
        assert_eq!(c.runtime.push_cooldown, Duration::ZERO);
    }

    #[test]
    fn durations_read_like_go() {
        assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("5m3"), None);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (pairs, key) in [
            (vec![("PLATFORM_DATABASE_URL", "mysql://x")], "PLATFORM_DATABASE_URL"),
            (vec![("PLATFORM_ACCESS_TOKEN_TTL_SECS", "5")], "PLATFORM_ACCESS_TOKEN_TTL_SECS"),
            (vec![("PLATFORM_TRUSTED_PROXIES", "10.0.0.0/33")], "PLATFORM_TRUSTED_PROXIES"),
            (vec![("PORT", "http")], "PORT"),
            (
                vec![("PLATFORM_LOCKOUT_BASE_SECS", "60"), ("PLATFORM_LOCKOUT_MAX_SECS", "10")],
                "PLATFORM_LOCKOUT_MAX_SECS",
            ),
            (vec![("PLATFORM_OIDC_ISSUER", "http://idp")], "PLATFORM_OIDC_CLIENT_ID"),
            (vec![("ANALYTICS_INGEST_URL", "ftp://x")], "ANALYTICS_INGEST_URL"),
            (vec![("PLATFORM_RUNTIME", "docker")], "PLATFORM_RUNTIME"),
            (vec![("PLATFORM_MCP_PUSH_COOLDOWN", "5 minutes")], "PLATFORM_MCP_PUSH_COOLDOWN"),
            (vec![("PLATFORM_MCP_ACTIVE_SERVER_LIMIT", "-1")], "PLATFORM_MCP_ACTIVE_SERVER_LIMIT"),
        ] {
            let e = Config::from_source(&src(&pairs)).expect_err("refused");
            assert_eq!(e.key, key, "{e}");
        }
    }

    #[test]
    fn database_passwords_are_not_echoed() {
        let e = Config::from_source(&src(&[("PLATFORM_DATABASE_URL", "mongodb://u:secret@h/db")]))
            .expect_err("refused");
        assert!(!e.to_string().contains("secret"), "{e}");
        assert_eq!(redact_url("postgres://u:pw@h:5432/db"), "postgres://u:***@h:5432/db");
    }

    #[test]
    fn cidrs_match_v4_v6_and_mapped() {
        let net: IpNet = "10.1.0.0/16".parse().expect("cidr");
        assert!(net.contains("10.1.2.3".parse().expect("ip")));
        assert!(net.contains("::ffff:10.1.2.3".parse().expect("ip")));
        assert!(!net.contains("10.2.0.1".parse().expect("ip")));
        let all: IpNet = "0.0.0.0/0".parse().expect("cidr");
        assert!(all.contains("1.2.3.4".parse().expect("ip")));
        let one: IpNet = "::1".parse().expect("ip");
        assert!(one.contains("::1".parse().expect("ip")));
        assert!(!one.contains("::2".parse().expect("ip")));
    }
}
