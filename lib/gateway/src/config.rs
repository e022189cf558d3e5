//! Gateway configuration: parsed and validated in full before anything binds a port.
//!
//! Settings come from a [`Source`] (the environment in production, a map in tests), so a bad
//! value is reported as one line naming the variable.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::Uri;

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

/// Everything the gateway needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    /// `PORT`-derived listen address (default `0.0.0.0:8091`), or `LISTEN_ADDR`: the public
    /// listener (MCP endpoint, `/health`, RFC 9728 metadata).
    pub listen: SocketAddr,
    /// `ADMIN_LISTEN_ADDR` (default `0.0.0.0:9103`): `/health`, `/ready`, `/config/status` and
    /// `/metrics`, never on the public listener.
    pub admin_listen: SocketAddr,
    /// Resource limits of the listeners and the upstream.
    pub limits: Limits,
    /// `TRUSTED_PROXY_CIDRS` (default loopback, `127.0.0.0/8,::1/128`): in `trusted-headers` mode
    /// identity headers are believed only on connections from these networks.
    pub trusted_proxies: Vec<Cidr>,
    /// `UPSTREAM_URL` (default `http://127.0.0.1:8088`): the app container, or a remote MCP
    /// server (`https://…`, its certificate verified against the Mozilla roots).
    pub upstream: Uri,
    /// `POLICY_FILE`: the rendered policy document.
    pub policy_file: PathBuf,
    /// How often the policy file is re-checked (`POLICY_RECHECK_MS`, default 500 ms, at most 1 s).
    pub policy_recheck: Duration,
    /// `STRIP_PREFIX`: removed from the path (at a segment boundary) before forwarding.
    pub strip_prefix: Option<String>,
    /// `MAX_BODY_BYTES` (default 1 MiB): larger POST bodies are refused.
    pub max_body: usize,
    /// `ALLOWED_ORIGINS`: comma-separated origins allowed to call; a request carrying any
    /// other `Origin` is refused with 403. Empty: only same-host origins.
    pub allowed_origins: Vec<String>,
    /// `ALLOWED_HOSTS`: comma-separated `Host` values accepted (`host` matches any port,
    /// `host:port` only that port). Unset: the policy's public host and loopback names; any host
    /// when the policy has no public URL. Guards against DNS rebinding.
    pub allowed_hosts: Option<Vec<String>>,
    /// `UPSTREAM_CA_FILE`: PEM certificates trusted for an `https://` upstream besides the
    /// Mozilla roots (a private CA).
    pub upstream_ca_file: Option<PathBuf>,
    /// `UPSTREAM_TOKEN_FILE`: a mounted credential sent upstream in the session's upstream token
    /// header, instead of the caller's token (which is never forwarded).
    pub upstream_token_file: Option<PathBuf>,
    /// `UPSTREAM_TOKEN_DIR`: where per-session upstream credentials are mounted, as
    /// `<dir>/<secret>/<key>` for a session whose `upstreamTokenSecretRef` is `secret/key`.
    pub upstream_token_dir: Option<PathBuf>,
    /// Time allowed for the upstream's response headers (`UPSTREAM_TIMEOUT_MS`, default 30 s).
    pub upstream_timeout: Duration,
    /// Grace period for in-flight requests on shutdown (`SHUTDOWN_GRACE_MS`, default 30 s).
    pub shutdown_grace: Duration,
    /// Audit delivery.
    pub audit: crate::audit::AuditConfig,
    /// `GATEWAY_WORKER_THREADS` (default 1): threads serving requests. A sidecar shares its pod's
    /// CPU with the app, so the default is one event loop (no cross-thread hand-offs or
    /// work-stealing wake-ups per request); raise it for gateways that need more than a core.
    pub worker_threads: usize,
    /// `POLICY_CONFIGMAP` (or `--policy-configmap`): `<namespace>/<name>` of the policy ConfigMap
    /// to watch through the Kubernetes API; the file stays the fallback (see `configmap`).
    pub policy_configmap: Option<ConfigMapRef>,
    /// `KUBECONFIG`: kubeconfig file for that watch (default: the pod's service account).
    pub kubeconfig: Option<PathBuf>,
    /// How long the API watch may fail before the policy file is read again
    /// (`POLICY_FILE_FALLBACK_MS`, default 120 s).
    pub policy_file_fallback: Duration,
}

/// Bounds on what callers can hold (each an env var; counted in metrics when hit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// `HEADER_READ_TIMEOUT_MS` (default 10 s): time a client has to send a request's headers.
    pub header_read_timeout: Duration,
    /// `BODY_READ_TIMEOUT_MS` (default 30 s): time a client has to send a request body.
    pub body_read_timeout: Duration,
    /// `MAX_CONNECTIONS` (default 4,096): client connections served at once; more wait in the
    /// listen backlog.
    pub max_connections: usize,
    /// `MAX_UPSTREAM_CONNECTIONS` (default 256): requests in flight to the app at once.
    pub max_upstream_connections: usize,
    /// `ANONYMOUS_STREAM_IDLE_TIMEOUT_MS` (default 60 s): a response stream of a request without
    /// an identity (observe mode) is closed after this long without a byte.
    pub anonymous_stream_idle: Duration,
}

/// An IP network, `address/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: std::net::IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Whether `ip` is in this network (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        use std::net::IpAddr;
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.network, ip) {
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

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let value = value.trim();
        let (addr, prefix) = match value.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (value, None),
        };
        let network: std::net::IpAddr =
            addr.parse().map_err(|_| format!("{value:?} is not an IP address or network"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => {
                p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("{value:?}: bad prefix"))?
            }
        };
        Ok(Cidr { network, prefix })
    }
}

/// A ConfigMap named `<namespace>/<name>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigMapRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

impl std::fmt::Display for ConfigMapRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl std::str::FromStr for ConfigMapRef {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let dns = |s: &str| {
            !s.is_empty()
                && s.len() <= 253
                && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
                && !s.starts_with(['-', '.'])
                && !s.ends_with(['-', '.'])
        };
        match value.trim().split_once('/') {
            Some((namespace, name)) if dns(namespace) && dns(name) => {
                Ok(ConfigMapRef { namespace: namespace.to_string(), name: name.to_string() })
            }
            _ => Err("must be <namespace>/<name> (lower-case DNS names)".to_string()),
        }
    }
}

fn parse_num<T: std::str::FromStr>(key: &'static str, value: String) -> Result<T, ConfigError> {
    value.trim().parse::<T>().map_err(|_| ConfigError { key, value, reason: "not a number".into() })
}

impl Config {
    /// Reads and validates every setting.
    pub fn from_source(src: &dyn Source) -> Result<Config, ConfigError> {
        let listen = match (src.get("LISTEN_ADDR"), src.get("PORT")) {
            (Some(addr), _) => addr.trim().parse().map_err(|_| ConfigError {
                key: "LISTEN_ADDR",
                value: addr.clone(),
                reason: "not a socket address such as 0.0.0.0:8091".into(),
            })?,
            (None, Some(port)) => SocketAddr::from(([0, 0, 0, 0], parse_num::<u16>("PORT", port)?)),
            (None, None) => SocketAddr::from(([0, 0, 0, 0], 8091)),
        };
        let admin_listen = match src.get("ADMIN_LISTEN_ADDR") {
            Some(addr) => addr.trim().parse().map_err(|_| ConfigError {
                key: "ADMIN_LISTEN_ADDR",
                value: addr.clone(),
                reason: "not a socket address such as 0.0.0.0:9103".into(),
            })?,
            None => SocketAddr::from(([0, 0, 0, 0], 9103)),
        };
        let trusted_proxies =
            src.get("TRUSTED_PROXY_CIDRS").unwrap_or_else(|| "127.0.0.0/8,::1/128".to_string());
        let trusted_proxies = trusted_proxies
            .split(',')
            .filter(|c| !c.trim().is_empty())
            .map(|c| c.parse::<Cidr>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| ConfigError {
                key: "TRUSTED_PROXY_CIDRS",
                value: trusted_proxies.clone(),
                reason,
            })?;
        let upstream_raw = src.get("UPSTREAM_URL").unwrap_or_else(|| "http://127.0.0.1:8088".into());
        let upstream: Uri = upstream_raw.trim().parse().map_err(|_| ConfigError {
            key: "UPSTREAM_URL",
            value: upstream_raw.clone(),
            reason: "not a URL".into(),
        })?;
        if !matches!(upstream.scheme_str(), Some("http" | "https")) || upstream.host().is_none() {
            return Err(ConfigError {
                key: "UPSTREAM_URL",
                value: upstream_raw,
                reason:
                    "must be an http:// URL with a host (the app container on localhost), or an https:// URL \
                         (a remote server, verified against the Mozilla root certificates)"
                        .into(),
            });
        }
        let policy_file = src.get("POLICY_FILE").map(PathBuf::from).ok_or_else(|| ConfigError {
            key: "POLICY_FILE",
            value: String::new(),
            reason: "is required (the rendered policy.json)".into(),
        })?;
        let recheck_ms =
            src.get("POLICY_RECHECK_MS").map(|v| parse_num::<u64>("POLICY_RECHECK_MS", v)).transpose()?;
        let recheck_ms = recheck_ms.unwrap_or(500);
        if !(10..=1000).contains(&recheck_ms) {
            return Err(ConfigError {
                key: "POLICY_RECHECK_MS",
                value: recheck_ms.to_string(),
                reason: "must be between 10 and 1000".into(),
            });
        }
        let strip_prefix = match src.get("STRIP_PREFIX") {
            None => None,
            Some(p) if p.starts_with('/') => {
                Some(p.trim_end_matches('/').to_string()).filter(|p| !p.is_empty())
            }
            Some(p) => {
                return Err(ConfigError {
                    key: "STRIP_PREFIX",
                    value: p,
                    reason: "must start with '/'".into(),
                });
            }
        };
        let max_body =
            src.get("MAX_BODY_BYTES").map(|v| parse_num::<usize>("MAX_BODY_BYTES", v)).transpose()?;
        let max_body = max_body.unwrap_or(1 << 20);
        if max_body == 0 {
            return Err(ConfigError {
                key: "MAX_BODY_BYTES",
                value: "0".into(),
                reason: "must be positive".into(),
            });
        }
        let allowed_origins = src
            .get("ALLOWED_ORIGINS")
            .map(|v| {
                v.split(',')
                    .map(|o| o.trim().trim_end_matches('/').to_string())
                    .filter(|o| !o.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let millis = |key: &'static str, default: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_millis(
                src.get(key).map(|v| parse_num::<u64>(key, v)).transpose()?.unwrap_or(default),
            ))
        };
        let ingest_url = match src.get("ANALYTICS_INGEST_URL") {
            None => None,
            Some(raw) => {
                let uri: Uri = raw.trim().parse().map_err(|_| ConfigError {
                    key: "ANALYTICS_INGEST_URL",
                    value: raw.clone(),
                    reason: "not a URL".into(),
                })?;
                if uri.scheme_str() != Some("http") || uri.host().is_none() {
                    return Err(ConfigError {
                        key: "ANALYTICS_INGEST_URL",
                        value: raw,
                        reason: "must be an http:// URL with a host".into(),
                    });
                }
                Some(uri)
            }
        };
        let spool_max_bytes = src
            .get("AUDIT_SPOOL_MAX_BYTES")
            .map(|v| parse_num::<u64>("AUDIT_SPOOL_MAX_BYTES", v))
            .transpose()?
            .unwrap_or(64 << 20);
        let audit = crate::audit::AuditConfig {
            ingest_url,
            api_key: src.get("ANALYTICS_API_KEY"),
            source: src.get("ANALYTICS_SOURCE").unwrap_or_else(|| mcp_events::GATEWAY_SOURCE.into()),
            event_type: src
                .get("ANALYTICS_EVENT_TYPE")
                .unwrap_or_else(|| mcp_events::REQUEST_EVENT_TYPE.into()),
            spool_dir: src
                .get("AUDIT_SPOOL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| std::env::temp_dir().join("mcp-gateway-spool")),
            spool_max_bytes,
        };
        let worker_threads = src
            .get("GATEWAY_WORKER_THREADS")
            .map(|v| parse_num::<usize>("GATEWAY_WORKER_THREADS", v))
            .transpose()?
            .unwrap_or(1);
        if !(1..=64).contains(&worker_threads) {
            return Err(ConfigError {
                key: "GATEWAY_WORKER_THREADS",
                value: worker_threads.to_string(),
                reason: "must be between 1 and 64".into(),
            });
        }
        let allowed_hosts = src
            .get("ALLOWED_HOSTS")
            .map(|v| v.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect());
        let policy_configmap = src
            .get("POLICY_CONFIGMAP")
            .map(|v| {
                v.parse::<ConfigMapRef>().map_err(|reason| ConfigError {
                    key: "POLICY_CONFIGMAP",
                    value: v,
                    reason,
                })
            })
            .transpose()?;
        let count = |key: &'static str, default: usize| -> Result<usize, ConfigError> {
            let n = src.get(key).map(|v| parse_num::<usize>(key, v)).transpose()?.unwrap_or(default);
            if n == 0 {
                return Err(ConfigError { key, value: "0".into(), reason: "must be positive".into() });
            }
            Ok(n)
        };
        let positive = |key: &'static str, default: u64| -> Result<Duration, ConfigError> {
            let d = millis(key, default)?;
            if d.is_zero() {
                return Err(ConfigError { key, value: "0".into(), reason: "must be positive".into() });
            }
            Ok(d)
        };
        let limits = Limits {
            header_read_timeout: positive("HEADER_READ_TIMEOUT_MS", 10_000)?,
            body_read_timeout: positive("BODY_READ_TIMEOUT_MS", 30_000)?,
            max_connections: count("MAX_CONNECTIONS", 4_096)?,
            max_upstream_connections: count("MAX_UPSTREAM_CONNECTIONS", 256)?,
            anonymous_stream_idle: positive("ANONYMOUS_STREAM_IDLE_TIMEOUT_MS", 60_000)?,
        };
        let upstream_ca_file = src.get("UPSTREAM_CA_FILE").map(PathBuf::from);
        Ok(Config {
            upstream_ca_file,
            admin_listen,
            limits,
            trusted_proxies,
            policy_configmap,
            kubeconfig: src.get("KUBECONFIG").map(PathBuf::from),
            policy_file_fallback: millis("POLICY_FILE_FALLBACK_MS", 120_000)?,
            worker_threads,
            allowed_hosts,
            audit,
            listen,
            upstream,
            policy_file,
            policy_recheck: Duration::from_millis(recheck_ms),
            strip_prefix,
            max_body,
            allowed_origins,
            upstream_token_file: src.get("UPSTREAM_TOKEN_FILE").map(PathBuf::from),
            upstream_token_dir: src.get("UPSTREAM_TOKEN_DIR").map(PathBuf::from),
            upstream_timeout: millis("UPSTREAM_TIMEOUT_MS", 30_000)?,
            shutdown_grace: millis("SHUTDOWN_GRACE_MS", 30_000)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let mut env: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.entry("POLICY_FILE".into()).or_insert_with(|| "/etc/mcp/policy.json".into());
        Config::from_source(&env)
    }

    #[test]
    fn defaults_fit_a_sidecar() {
        let c = config(&[]).expect("defaults");
        assert_eq!(c.listen, SocketAddr::from(([0, 0, 0, 0], 8091)));
        assert_eq!(c.worker_threads, 1);
        assert_eq!(c.policy_recheck, Duration::from_millis(500));
        assert_eq!(c.max_body, 1 << 20);
        assert_eq!(c.audit.source, "mcp-gateway");
        assert_eq!(c.audit.event_type, "mcp.request");
        assert!(c.audit.ingest_url.is_none());
        assert_eq!(c.admin_listen, SocketAddr::from(([0, 0, 0, 0], 9103)));
        assert_eq!(c.limits.max_connections, 4_096);
        assert_eq!(c.limits.header_read_timeout, Duration::from_secs(10));
        assert!(c.trusted_proxies.iter().any(|n| n.contains("127.0.0.1".parse().expect("ip"))));
        assert!(!c.trusted_proxies.iter().any(|n| n.contains("10.1.2.3".parse().expect("ip"))));
    }

    #[test]
    fn networks_contain_their_addresses() {
        let net: Cidr = "10.42.0.0/16".parse().expect("cidr");
        assert!(net.contains("10.42.7.1".parse().expect("ip")));
        assert!(net.contains("::ffff:10.42.7.1".parse().expect("ip")));
        assert!(!net.contains("10.43.0.1".parse().expect("ip")));
        let one: Cidr = "fd00::1".parse().expect("cidr");
        assert!(one.contains("fd00::1".parse().expect("ip")));
        assert!(!one.contains("fd00::2".parse().expect("ip")));
        let all: Cidr = "0.0.0.0/0".parse().expect("cidr");
        assert!(all.contains("192.0.2.1".parse().expect("ip")));
    }

    #[test]
    fn every_bad_value_names_its_variable() {
        for (key, value) in [
            ("GATEWAY_WORKER_THREADS", "0"),
            ("GATEWAY_WORKER_THREADS", "65"),
            ("GATEWAY_WORKER_THREADS", "many"),
            ("POLICY_RECHECK_MS", "5000"),
            ("UPSTREAM_URL", "ftp://app:8088"),
            ("UPSTREAM_URL", "https:///mcp"),
            ("MAX_BODY_BYTES", "0"),
            ("STRIP_PREFIX", "api"),
            ("ANALYTICS_INGEST_URL", "ftp://ingest"),
            ("LISTEN_ADDR", "everywhere"),
            ("ADMIN_LISTEN_ADDR", "9103"),
            ("TRUSTED_PROXY_CIDRS", "10.0.0.0/33"),
            ("TRUSTED_PROXY_CIDRS", "proxy"),
            ("MAX_CONNECTIONS", "0"),
            ("MAX_UPSTREAM_CONNECTIONS", "none"),
            ("HEADER_READ_TIMEOUT_MS", "0"),
            ("BODY_READ_TIMEOUT_MS", "-1"),
        ] {
            let err = config(&[(key, value)]).expect_err(key);
            assert_eq!(err.key, key, "{err}");
            assert!(err.to_string().starts_with(&format!("{key}=")), "{err}");
        }
        assert_eq!(config(&[("GATEWAY_WORKER_THREADS", "4")]).expect("4 threads").worker_threads, 4);
        let missing = Config::from_source(&HashMap::new()).expect_err("no policy file");
        assert_eq!(missing.key, "POLICY_FILE");
    }
}
