//! `mcp-operator`: parses flags and environment into `mcp_operator::run::Settings`, connects to
//! the Kubernetes API (bounded by `--connect-timeout-seconds`), and runs until SIGINT/SIGTERM.
//!
//! Exit status: 0 after a graceful shutdown, 64 for unusable settings, 1 when the API cannot
//! be reached, the CRDs are missing, or the leader lease was lost (so the pod restarts).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use clap::builder::BoolishValueParser;
use mcp_operator::config::{IngressReadiness, ObjectName, OperatorConfig};
use mcp_operator::leader::LeaseSettings;
use mcp_operator::run::{self, CertSource, Settings, WebhookSettings};
use tracing::error;

/// Exit status for unusable settings (EX_USAGE).
const EX_USAGE: u8 = 64;

/// The MCP Runtime operator: reconciles MCPServer, MCPAccessGrant and MCPAgentSession resources
/// into Deployments (app + mcp-gateway sidecar), Services, Ingresses and rendered policies.
///
/// Every flag can also be set through the environment variable shown with it. The API client
/// uses the in-cluster service account, or KUBECONFIG / ~/.kube/config outside a cluster.
#[derive(Debug, Parser)]
#[command(name = "mcp-operator", version, max_term_width = 100)]
pub struct Cli {
    /// Host of servers that set neither ingressHost nor publicPathPrefix, and the public host of
    /// hostless routes (also read from DEFAULT_INGRESS_HOST)
    #[arg(long, env = "MCP_DEFAULT_INGRESS_HOST", value_name = "HOST", help_heading = "Routing")]
    default_ingress_host: Option<String>,
    /// Ingress class of servers that set none
    #[arg(
        long,
        env = "DEFAULT_INGRESS_CLASS",
        default_value = "traefik",
        value_name = "CLASS",
        help_heading = "Routing"
    )]
    default_ingress_class: String,
    /// Traefik entrypoints of every route (annotation router.entrypoints)
    #[arg(
        long,
        env = "MCP_DEFAULT_INGRESS_ENTRYPOINTS",
        default_value = "web",
        value_name = "LIST",
        help_heading = "Routing"
    )]
    ingress_entrypoints: String,
    /// Public URLs use https; Traefik routes get router.tls, Ingresses with a host a tls block
    #[arg(long, env = "MCP_DEFAULT_INGRESS_TLS", value_parser = BoolishValueParser::new(), num_args = 0..=1,
          default_value = "false", default_missing_value = "true", value_name = "BOOL", help_heading = "Routing")]
    ingress_tls: bool,
    /// Certificate Secret for the Ingress tls block (else the controller's default certificate)
    #[arg(long, env = "MCP_DEFAULT_INGRESS_TLS_SECRET", value_name = "SECRET", help_heading = "Routing")]
    ingress_tls_secret: Option<String>,
    /// When an Ingress counts as ready: strict (an address was published) or permissive (it exists)
    #[arg(
        long,
        env = "MCP_INGRESS_READINESS_MODE",
        default_value = "strict",
        value_name = "MODE",
        help_heading = "Routing"
    )]
    ingress_readiness: IngressReadiness,

    /// The mcp-gateway sidecar image (required for servers with the gateway, unless they name one)
    #[arg(long, env = "MCP_GATEWAY_PROXY_IMAGE", value_name = "IMAGE", help_heading = "Workloads")]
    gateway_image: Option<String>,
    /// Where gateways send audit events unless a server says otherwise (also read from
    /// MCP_ANALYTICS_INGEST_URL); without one audit is off
    #[arg(long, env = "MCP_SENTINEL_INGEST_URL", value_name = "URL", help_heading = "Workloads")]
    ingest_url: Option<String>,
    /// Registry host that useProvisionedRegistry rewrites images to
    #[arg(long, env = "PROVISIONED_REGISTRY_URL", value_name = "HOST", help_heading = "Workloads")]
    provisioned_registry: Option<String>,
    /// Host nodes pull the provisioned registry through (when PROVISIONED_REGISTRY_URL is unset)
    #[arg(long, env = "MCP_REGISTRY_PULL_HOST", value_name = "HOST", help_heading = "Workloads")]
    registry_pull_host: Option<String>,
    /// Image pull secret attached to servers that list none
    #[arg(long, env = "PROVISIONED_REGISTRY_SECRET_NAME", value_name = "SECRET", help_heading = "Workloads")]
    provisioned_pull_secret: Option<String>,
    /// How tool pins reach status: pods (read each gateway's /config/status) or off
    #[arg(long, env = "MCP_TOOL_PINS", default_value = "pods", value_parser = ["pods", "off"], value_name = "SOURCE", help_heading = "Workloads")]
    tool_pins: String,

    /// Cluster name stamped into every policy
    #[arg(
        long,
        env = "MCP_CLUSTER_NAME",
        default_value = "local",
        value_name = "NAME",
        help_heading = "Policy"
    )]
    cluster_name: String,
    /// ConfigMap (<namespace>/<name>) with the platform's token issuer (key issuer) and public
    /// keys (key jwks.json), copied into every policy
    #[arg(
        long,
        env = "MCP_PLATFORM_TRUST_CONFIGMAP",
        value_name = "NAMESPACE/NAME",
        help_heading = "Policy"
    )]
    platform_trust_configmap: Option<String>,

    /// Seconds before a server that is not ready is looked at again
    #[arg(
        long,
        env = "REQUEUE_DELAY_SECONDS",
        default_value_t = 10,
        value_name = "SECONDS",
        help_heading = "Runtime"
    )]
    requeue_delay_seconds: u64,
    /// Seconds between re-checks of a ready server
    #[arg(
        long,
        env = "MCP_RESYNC_SECONDS",
        default_value_t = 300,
        value_name = "SECONDS",
        help_heading = "Runtime"
    )]
    resync_seconds: u64,
    /// Give up reaching the Kubernetes API at start after this many seconds
    #[arg(
        long,
        env = "MCP_CONNECT_TIMEOUT_SECONDS",
        default_value_t = 10,
        value_name = "SECONDS",
        help_heading = "Runtime"
    )]
    connect_timeout_seconds: u64,
    /// Address of /metrics, /healthz and /readyz
    #[arg(
        long,
        env = "MCP_METRICS_BIND_ADDRESS",
        default_value = "0.0.0.0:8080",
        value_name = "ADDR",
        help_heading = "Runtime"
    )]
    metrics_bind_address: SocketAddr,
    /// Log format: text or json
    #[arg(long, env = "MCP_LOG_FORMAT", default_value = "text", value_parser = ["text", "json"], value_name = "FORMAT", help_heading = "Runtime")]
    log_format: String,
    /// Reconcile only while holding a Lease, so several replicas can run
    #[arg(long, env = "MCP_LEADER_ELECT", value_parser = BoolishValueParser::new(), num_args = 0..=1,
          default_value = "false", default_missing_value = "true", value_name = "BOOL", help_heading = "Runtime")]
    leader_elect: bool,
    /// Name of the leader Lease
    #[arg(
        long,
        env = "MCP_LEASE_NAME",
        default_value = "mcp-runtime-operator",
        value_name = "NAME",
        help_heading = "Runtime"
    )]
    lease_name: String,
    /// The operator's namespace (Lease, webhook Secret and Service)
    #[arg(
        long,
        env = "POD_NAMESPACE",
        default_value = "mcp-runtime",
        value_name = "NAMESPACE",
        help_heading = "Runtime"
    )]
    namespace: String,
    /// This replica's identity in the Lease (default: the host name)
    #[arg(long, env = "POD_NAME", value_name = "NAME", help_heading = "Runtime")]
    identity: Option<String>,

    /// Serve the admission webhooks (validation of all three kinds, MCPServer defaulting)
    #[arg(long, env = "MCP_ENABLE_WEBHOOKS", value_parser = BoolishValueParser::new(), num_args = 0..=1,
          default_value = "false", default_missing_value = "true", value_name = "BOOL", help_heading = "Webhooks")]
    enable_webhooks: bool,
    /// Address the webhooks listen on (TLS)
    #[arg(
        long,
        env = "MCP_WEBHOOK_BIND_ADDRESS",
        default_value = "0.0.0.0:9443",
        value_name = "ADDR",
        help_heading = "Webhooks"
    )]
    webhook_bind_address: SocketAddr,
    /// Service the API server calls the webhooks through (the certificate's DNS names)
    #[arg(
        long,
        env = "MCP_WEBHOOK_SERVICE",
        default_value = "mcp-runtime-operator-webhook",
        value_name = "NAME",
        help_heading = "Webhooks"
    )]
    webhook_service: String,
    /// Secret that holds the generated webhook certificate, shared by every replica
    #[arg(
        long,
        env = "MCP_WEBHOOK_SECRET",
        default_value = "mcp-runtime-operator-webhook-tls",
        value_name = "NAME",
        help_heading = "Webhooks"
    )]
    webhook_secret: String,
    /// Use tls.crt/tls.key from this directory (a Secret mounted by cert-manager, whose
    /// cainjector sets the CA bundle) instead of generating a certificate
    #[arg(long, env = "MCP_WEBHOOK_CERT_DIR", value_name = "DIR", help_heading = "Webhooks")]
    webhook_cert_dir: Option<PathBuf>,
    /// Name of the Validating- and MutatingWebhookConfiguration to patch the CA bundle into
    #[arg(
        long,
        env = "MCP_WEBHOOK_CONFIGURATION",
        default_value = "mcp-runtime-operator",
        value_name = "NAME",
        help_heading = "Webhooks"
    )]
    webhook_configuration: String,
}

impl Cli {
    /// Validated settings, or one line saying what is wrong.
    pub fn settings(self) -> Result<(Settings, String), String> {
        let fallback = |primary: Option<String>, alias: &str| {
            primary
                .or_else(|| std::env::var(alias).ok())
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let platform_trust = self
            .platform_trust_configmap
            .as_deref()
            .filter(|v| !v.trim().is_empty())
            .map(ObjectName::parse)
            .transpose()
            .map_err(|e| format!("--platform-trust-configmap: {e}"))?;
        if self.requeue_delay_seconds == 0 || self.resync_seconds == 0 || self.connect_timeout_seconds == 0 {
            return Err(
                "--requeue-delay-seconds, --resync-seconds and --connect-timeout-seconds must be positive"
                    .into(),
            );
        }
        let nonblank = |v: Option<String>| v.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let operator = OperatorConfig {
            default_ingress_host: fallback(self.default_ingress_host, "DEFAULT_INGRESS_HOST"),
            default_ingress_class: self.default_ingress_class,
            ingress_entrypoints: self.ingress_entrypoints,
            ingress_tls: self.ingress_tls,
            ingress_tls_secret: nonblank(self.ingress_tls_secret),
            ingress_readiness: self.ingress_readiness,
            gateway_image: nonblank(self.gateway_image),
            cluster_name: self.cluster_name,
            ingest_url: fallback(self.ingest_url, "MCP_ANALYTICS_INGEST_URL"),
            provisioned_registry: nonblank(self.provisioned_registry),
            registry_pull_host: nonblank(self.registry_pull_host),
            provisioned_pull_secret: nonblank(self.provisioned_pull_secret),
            platform_trust,
            requeue_delay: Duration::from_secs(self.requeue_delay_seconds),
            resync: Duration::from_secs(self.resync_seconds),
        };
        let identity = nonblank(self.identity)
            .or_else(|| std::env::var("HOSTNAME").ok())
            .unwrap_or_else(|| format!("mcp-operator-{}", std::process::id()));
        let webhooks = self.enable_webhooks.then(|| WebhookSettings {
            addr: self.webhook_bind_address,
            certs: match self.webhook_cert_dir {
                Some(dir) => CertSource::Dir(dir),
                None => CertSource::SelfSigned {
                    namespace: self.namespace.clone(),
                    secret: self.webhook_secret,
                    service: self.webhook_service,
                },
            },
            configuration: self.webhook_configuration,
        });
        let settings = Settings {
            operator,
            connect_timeout: Duration::from_secs(self.connect_timeout_seconds),
            metrics_addr: self.metrics_bind_address,
            leader: self
                .leader_elect
                .then(|| LeaseSettings::new(&self.namespace, &self.lease_name, &identity)),
            webhooks,
            pod_pins: self.tool_pins == "pods",
        };
        Ok((settings, self.log_format))
    }
}

fn init_logs(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if format == "json" {
        builder.json().flatten_event(true).init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (settings, log_format) = match cli.settings() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("mcp-operator: invalid settings: {err}");
            return ExitCode::from(EX_USAGE);
        }
    };
    init_logs(&log_format);
    // One TLS crypto provider for the whole process (ring, as everywhere in the workspace).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("mcp-operator: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let client = match run::connect(settings.connect_timeout).await {
            Ok(client) => client,
            Err(err) => {
                eprintln!("mcp-operator: {err}");
                return ExitCode::FAILURE;
            }
        };
        match run::run(settings, client, mcp_shutdown::requested()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                error!(error = %err, "stopped");
                eprintln!("mcp-operator: {err}");
                ExitCode::FAILURE
            }
        }
    })
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
    fn flags_become_settings() {
        let cli = Cli::try_parse_from([
            "mcp-operator",
            "--default-ingress-host=mcp.example.com",
            "--ingress-tls",
            "--leader-elect=true",
            "--enable-webhooks",
            "--platform-trust-configmap=mcp-platform/platform-trust",
            "--namespace=ops",
            "--identity=pod-1",
        ])
        .expect("parses");
        let (s, format) = cli.settings().expect("valid");
        assert_eq!(format, "text");
        assert!(s.operator.ingress_tls);
        assert_eq!(s.operator.default_ingress_host.as_deref(), Some("mcp.example.com"));
        assert_eq!(
            s.leader.as_ref().map(|l| (l.namespace.as_str(), l.identity.as_str())),
            Some(("ops", "pod-1"))
        );
        let webhooks = s.webhooks.expect("webhooks");
        assert_eq!(
            webhooks.certs,
            CertSource::SelfSigned {
                namespace: "ops".into(),
                secret: "mcp-runtime-operator-webhook-tls".into(),
                service: "mcp-runtime-operator-webhook".into(),
            }
        );
        let bad = Cli::try_parse_from(["mcp-operator", "--platform-trust-configmap=nope"]).expect("parses");
        assert!(bad.settings().expect_err("invalid").contains("--platform-trust-configmap"));
    }
}
