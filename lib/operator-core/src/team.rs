//! Team provisioning: the objects that make `mcp-team-<slug>` a governed team namespace — the
//! Namespace (restricted Pod Security), a ResourceQuota and LimitRange, NetworkPolicies that
//! deny everything except what a governed server needs, and the RoleBindings that let the
//! platform and the operator work there. The platform's Kubernetes backend applies them by
//! server-side apply; these functions only build them (pure, snapshot-tested in `tests.rs`).
//!
//! Network allowances (everything else is denied, both directions):
//!
//! | policy | direction | peer | ports |
//! |---|---|---|---|
//! | `platform-default-deny` (every pod) | in + out | pods of the same namespace | all but the gateway admin port (in) |
//! | `platform-default-deny` | out | kube-dns in `kube-system` | 53 UDP + TCP |
//! | `platform-mcp-servers` (MCP server pods) | in | the ingress controller | the gateway's public port (named `gateway`) |
//! | `platform-mcp-servers` | in | Prometheus | the gateway admin port (9103) |
//! | `platform-mcp-servers` | in | the operator | the gateway admin port (tool pins for status) |
//! | `platform-mcp-servers` | out | Sentinel ingest | its HTTP port |
//! | `platform-mcp-servers` | out | the Kubernetes API | 443, 6443 (the gateway's policy watch) |
//!
//! Nothing else reaches the admin port: not other namespaces, and not other pods of the team
//! (the same-namespace rule lists every port around it).

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{
    LimitRange, LimitRangeItem, LimitRangeSpec, Namespace, ResourceQuota, ResourceQuotaSpec, Secret,
};
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::install::{
    OPERATOR_APP, OPERATOR_NAME, OPERATOR_NAMESPACE, OPERATOR_TEAM_ROLE, PLATFORM_NAMESPACE,
    PLATFORM_SERVICE_ACCOUNT, PLATFORM_TEAM_ROLE,
};
use crate::names::{ADMIN_PORT, GATEWAY_PORT_NAME, MANAGED_BY, MANAGED_BY_LABEL};

/// Prefix of every team namespace: `mcp-team-<slug>`.
pub const TEAM_NAMESPACE_PREFIX: &str = "mcp-team-";
/// `mcpruntime.org/scope`: `team` on team namespaces.
pub const SCOPE_LABEL: &str = "mcpruntime.org/scope";
/// Value of [`SCOPE_LABEL`] on team namespaces.
pub const SCOPE_TEAM: &str = "team";
/// `mcpruntime.org/team-slug=<slug>`.
pub const TEAM_SLUG_LABEL: &str = "mcpruntime.org/team-slug";
/// The Pod Security admission label.
pub const POD_SECURITY_LABEL: &str = "pod-security.kubernetes.io/enforce";
/// Field manager of every server-side apply the platform makes.
pub const PLATFORM_FIELD_MANAGER: &str = "mcp-platform";
/// Value of the managed-by label on what the platform provisions.
pub const PLATFORM_MANAGED_BY: &str = "mcp-platform";

/// The team's ResourceQuota.
pub const QUOTA_NAME: &str = "platform-default-quota";
/// The team's LimitRange.
pub const LIMITS_NAME: &str = "platform-default-limits";
/// The namespace-wide default-deny NetworkPolicy.
pub const DEFAULT_DENY_POLICY: &str = "platform-default-deny";
/// The NetworkPolicy of the MCP server pods (gateway traffic).
pub const SERVERS_POLICY: &str = "platform-mcp-servers";
/// The team's image pull secret for the platform's registry (`kubernetes.io/dockerconfigjson`);
/// the operator attaches it to servers that list no pull secret of their own
/// (`PROVISIONED_REGISTRY_SECRET_NAME`).
pub const PULL_SECRET_NAME: &str = "mcp-runtime-registry-pull";
/// RoleBinding of the platform in a team namespace.
pub const PLATFORM_TEAM_BINDING: &str = "mcp-platform-team";
/// RoleBinding of the operator in a team namespace.
pub const OPERATOR_TEAM_BINDING: &str = "mcp-runtime-operator-team";

/// Where the ingress controller runs (`deploy/base/ingress`).
pub const INGRESS_NAMESPACE: &str = "mcp-ingress";
/// `app.kubernetes.io/name` of the ingress controller's pods.
pub const INGRESS_CONTROLLER_APP: &str = "traefik";
/// Where Prometheus runs (`deploy/base/observability`).
pub const OBSERVABILITY_NAMESPACE: &str = "mcp-observability";
/// `app.kubernetes.io/name` of the Prometheus pods.
pub const PROMETHEUS_APP: &str = "prometheus";
/// Where Sentinel runs (`deploy/base/sentinel`).
pub const SENTINEL_NAMESPACE: &str = "mcp-sentinel";
/// `app.kubernetes.io/name` of the ingest pods.
pub const INGEST_APP: &str = "mcp-sentinel-ingest";
/// Ingest's HTTP port (`mcp-sentinel ingest --port`).
pub const INGEST_PORT: i32 = 8081;
/// Ports the Kubernetes API is reached on (Service port, and the API server's own after DNAT).
pub const API_SERVER_PORTS: &[i32] = &[443, 6443];

const NAME_LABEL: &str = "app.kubernetes.io/name";
const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// Why a slug cannot name a team namespace.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    /// Empty, or too long for a namespace name once prefixed.
    #[error("team slug {0:?} must be 1 to {max} characters", max = MAX_SLUG_LEN)]
    Length(String),
    /// Not a DNS label (lower-case letters, digits, `-`; alphanumeric at both ends).
    #[error(
        "team slug {0:?} must be lower-case letters, digits and '-', starting and ending with a letter or digit"
    )]
    Charset(String),
}

/// Longest slug: a namespace name is a DNS label (63) and carries [`TEAM_NAMESPACE_PREFIX`].
pub const MAX_SLUG_LEN: usize = 63 - TEAM_NAMESPACE_PREFIX.len();

/// Checks that `slug` can name a team namespace.
pub fn validate_slug(slug: &str) -> Result<(), SlugError> {
    if slug.is_empty() || slug.len() > MAX_SLUG_LEN {
        return Err(SlugError::Length(slug.to_string()));
    }
    let ok = slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok { Ok(()) } else { Err(SlugError::Charset(slug.to_string())) }
}

/// `mcp-team-<slug>`.
pub fn team_namespace(slug: &str) -> String {
    format!("{TEAM_NAMESPACE_PREFIX}{slug}")
}

/// The slug of a team namespace, `None` for any other namespace.
pub fn team_slug(namespace: &str) -> Option<&str> {
    namespace.strip_prefix(TEAM_NAMESPACE_PREFIX).filter(|s| validate_slug(s).is_ok())
}

/// Pods a NetworkPolicy rule admits: those labelled `app.kubernetes.io/name=<app>` in
/// `namespace` (any pod there when `app` is `None`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Peer {
    /// Namespace name (matched by its `kubernetes.io/metadata.name` label).
    pub namespace: String,
    /// Pod labels (empty: every pod of the namespace).
    pub pod_labels: BTreeMap<String, String>,
}

impl Peer {
    fn app(namespace: &str, app: &str) -> Peer {
        Peer {
            namespace: namespace.to_string(),
            pod_labels: BTreeMap::from([(NAME_LABEL.to_string(), app.to_string())]),
        }
    }

    fn to_peer(&self) -> NetworkPolicyPeer {
        NetworkPolicyPeer {
            namespace_selector: Some(selector([(NAMESPACE_NAME_LABEL.to_string(), self.namespace.clone())])),
            pod_selector: (!self.pod_labels.is_empty()).then(|| selector(self.pod_labels.clone())),
            ip_block: None,
        }
    }
}

/// Where the cluster's shared components run, for the team NetworkPolicies. The default is
/// `deploy/base` (a test in xtask checks the two agree).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TeamNetwork {
    /// The ingress controller (reaches the gateway's public port).
    pub ingress_controller: Peer,
    /// Prometheus (scrapes the gateway's admin port).
    pub prometheus: Peer,
    /// The operator (reads tool pins from the gateway's admin port).
    pub operator: Peer,
    /// Sentinel ingest (the gateways send audit events there) and its port.
    pub ingest: Peer,
    /// Ingest's port.
    pub ingest_port: i32,
    /// Cluster DNS.
    pub dns: Peer,
    /// CIDRs of the Kubernetes API server; empty: any address on [`API_SERVER_PORTS`] (the
    /// address is cluster-specific; set it to keep MCP servers off other HTTPS endpoints).
    pub api_server_cidrs: Vec<String>,
}

impl Default for TeamNetwork {
    fn default() -> Self {
        TeamNetwork {
            ingress_controller: Peer::app(INGRESS_NAMESPACE, INGRESS_CONTROLLER_APP),
            prometheus: Peer::app(OBSERVABILITY_NAMESPACE, PROMETHEUS_APP),
            operator: Peer::app(OPERATOR_NAMESPACE, OPERATOR_APP),
            ingest: Peer::app(SENTINEL_NAMESPACE, INGEST_APP),
            ingest_port: INGEST_PORT,
            dns: Peer {
                namespace: "kube-system".to_string(),
                pod_labels: BTreeMap::from([("k8s-app".to_string(), "kube-dns".to_string())]),
            },
            api_server_cidrs: Vec::new(),
        }
    }
}

/// Every object of a team namespace, in apply order.
#[derive(Clone, Debug, PartialEq)]
pub struct TeamObjects {
    /// `mcp-team-<slug>`.
    pub namespace: Namespace,
    /// The bindings of the platform and the operator (applied before the rest: the platform
    /// writes the other objects through its own binding).
    pub role_bindings: Vec<RoleBinding>,
    /// [`QUOTA_NAME`].
    pub quota: ResourceQuota,
    /// [`LIMITS_NAME`].
    pub limits: LimitRange,
    /// [`DEFAULT_DENY_POLICY`] and [`SERVERS_POLICY`].
    pub network_policies: Vec<NetworkPolicy>,
}

impl TeamObjects {
    /// Every object as JSON, in apply order (snapshots, and the backend's apply loop).
    pub fn all(&self) -> Vec<Value> {
        fn v<T: serde::Serialize>(o: &T) -> Value {
            serde_json::to_value(o).unwrap_or_default()
        }
        let mut out = vec![v(&self.namespace)];
        out.extend(self.role_bindings.iter().map(v));
        out.push(v(&self.quota));
        out.push(v(&self.limits));
        out.extend(self.network_policies.iter().map(v));
        out
    }
}

/// The objects of team `slug` (validated), with the cluster's components in `network`.
pub fn team_objects(slug: &str, network: &TeamNetwork) -> Result<TeamObjects, SlugError> {
    validate_slug(slug)?;
    let ns = team_namespace(slug);
    Ok(TeamObjects {
        namespace: namespace(slug),
        role_bindings: role_bindings(&ns),
        quota: quota(&ns),
        limits: limits(&ns),
        network_policies: vec![default_deny(&ns, network), servers_policy(&ns, network)],
    })
}

/// Labels of everything the platform provisions for team `slug`.
pub fn team_labels(slug: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (MANAGED_BY_LABEL.to_string(), PLATFORM_MANAGED_BY.to_string()),
        (SCOPE_LABEL.to_string(), SCOPE_TEAM.to_string()),
        (TEAM_SLUG_LABEL.to_string(), slug.to_string()),
    ])
}

fn meta(name: &str, namespace: &str) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: Some(namespace.to_string()),
        labels: Some(BTreeMap::from([(MANAGED_BY_LABEL.to_string(), PLATFORM_MANAGED_BY.to_string())])),
        ..ObjectMeta::default()
    }
}

/// The `.dockerconfigjson` of one registry credential.
pub fn docker_config(registry_host: &str, username: &str, password: &str) -> Vec<u8> {
    use base64::Engine;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    let config = serde_json::json!({
        "auths": { registry_host: { "username": username, "password": password, "auth": auth } }
    });
    serde_json::to_vec(&config).unwrap_or_default()
}

/// [`PULL_SECRET_NAME`] in `namespace` holding `docker_config` ([`docker_config`]).
pub fn pull_secret(namespace: &str, docker_config: &[u8]) -> Secret {
    Secret {
        metadata: meta(PULL_SECRET_NAME, namespace),
        type_: Some("kubernetes.io/dockerconfigjson".to_string()),
        data: Some(BTreeMap::from([(".dockerconfigjson".to_string(), ByteString(docker_config.to_vec()))])),
        ..Secret::default()
    }
}

fn selector(labels: impl IntoIterator<Item = (String, String)>) -> LabelSelector {
    LabelSelector { match_labels: Some(labels.into_iter().collect()), match_expressions: None }
}

/// The team Namespace: team labels and the restricted Pod Security Standard.
pub fn namespace(slug: &str) -> Namespace {
    let mut labels = team_labels(slug);
    labels.insert(POD_SECURITY_LABEL.to_string(), "restricted".to_string());
    Namespace {
        metadata: ObjectMeta {
            name: Some(team_namespace(slug)),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

fn quantities(pairs: &[(&str, &str)]) -> BTreeMap<String, Quantity> {
    pairs.iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect()
}

/// [`QUOTA_NAME`]: 20 pods, 4 CPUs / 8 GiB requested, 8 CPUs / 16 GiB limits, 4 claims.
pub fn quota(namespace: &str) -> ResourceQuota {
    ResourceQuota {
        metadata: meta(QUOTA_NAME, namespace),
        spec: Some(ResourceQuotaSpec {
            hard: Some(quantities(&[
                ("pods", "20"),
                ("requests.cpu", "4"),
                ("requests.memory", "8Gi"),
                ("limits.cpu", "8"),
                ("limits.memory", "16Gi"),
                ("persistentvolumeclaims", "4"),
            ])),
            ..ResourceQuotaSpec::default()
        }),
        status: None,
    }
}

/// [`LIMITS_NAME`]: containers without resources get 100m/128Mi requests, 500m/512Mi limits
/// (the quota needs every container to declare them).
pub fn limits(namespace: &str) -> LimitRange {
    LimitRange {
        metadata: meta(LIMITS_NAME, namespace),
        spec: Some(LimitRangeSpec {
            limits: vec![LimitRangeItem {
                type_: "Container".to_string(),
                default_request: Some(quantities(&[("cpu", "100m"), ("memory", "128Mi")])),
                default: Some(quantities(&[("cpu", "500m"), ("memory", "512Mi")])),
                ..LimitRangeItem::default()
            }],
        }),
    }
}

fn port(protocol: &str, port: IntOrString, end: Option<i32>) -> NetworkPolicyPort {
    NetworkPolicyPort { protocol: Some(protocol.to_string()), port: Some(port), end_port: end }
}

fn tcp(number: i32) -> NetworkPolicyPort {
    port("TCP", IntOrString::Int(number), None)
}

/// Every port of the namespace's own pods except the gateway admin port.
fn all_but_admin() -> Vec<NetworkPolicyPort> {
    vec![
        port("TCP", IntOrString::Int(1), Some(ADMIN_PORT - 1)),
        port("TCP", IntOrString::Int(ADMIN_PORT + 1), Some(65535)),
        port("UDP", IntOrString::Int(1), Some(65535)),
    ]
}

fn same_namespace() -> NetworkPolicyPeer {
    NetworkPolicyPeer { pod_selector: Some(LabelSelector::default()), ..NetworkPolicyPeer::default() }
}

/// [`DEFAULT_DENY_POLICY`]: every pod of the namespace; only same-namespace traffic (not to the
/// admin port) and DNS.
pub fn default_deny(namespace: &str, network: &TeamNetwork) -> NetworkPolicy {
    NetworkPolicy {
        metadata: meta(DEFAULT_DENY_POLICY, namespace),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector::default()),
            policy_types: Some(vec!["Ingress".to_string(), "Egress".to_string()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![same_namespace()]),
                ports: Some(all_but_admin()),
            }]),
            egress: Some(vec![
                NetworkPolicyEgressRule { to: Some(vec![same_namespace()]), ports: None },
                NetworkPolicyEgressRule {
                    to: Some(vec![network.dns.to_peer()]),
                    ports: Some(vec![
                        port("UDP", IntOrString::Int(53), None),
                        port("TCP", IntOrString::Int(53), None),
                    ]),
                },
            ]),
        }),
    }
}

/// [`SERVERS_POLICY`]: the MCP server pods (the operator's managed-by label); the gateway's
/// public port from the ingress controller, its admin port from Prometheus and the operator,
/// and out to ingest and the Kubernetes API.
pub fn servers_policy(namespace: &str, network: &TeamNetwork) -> NetworkPolicy {
    let api_peers = (!network.api_server_cidrs.is_empty()).then(|| {
        network
            .api_server_cidrs
            .iter()
            .map(|cidr| NetworkPolicyPeer {
                ip_block: Some(IPBlock { cidr: cidr.clone(), except: None }),
                ..NetworkPolicyPeer::default()
            })
            .collect()
    });
    NetworkPolicy {
        metadata: meta(SERVERS_POLICY, namespace),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(selector([(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string())])),
            policy_types: Some(vec!["Ingress".to_string(), "Egress".to_string()]),
            ingress: Some(vec![
                NetworkPolicyIngressRule {
                    from: Some(vec![network.ingress_controller.to_peer()]),
                    ports: Some(vec![port("TCP", IntOrString::String(GATEWAY_PORT_NAME.to_string()), None)]),
                },
                NetworkPolicyIngressRule {
                    from: Some(vec![network.prometheus.to_peer(), network.operator.to_peer()]),
                    ports: Some(vec![tcp(ADMIN_PORT)]),
                },
            ]),
            egress: Some(vec![
                NetworkPolicyEgressRule {
                    to: Some(vec![network.ingest.to_peer()]),
                    ports: Some(vec![tcp(network.ingest_port)]),
                },
                NetworkPolicyEgressRule {
                    to: api_peers,
                    ports: Some(API_SERVER_PORTS.iter().copied().map(tcp).collect()),
                },
            ]),
        }),
    }
}

fn binding(namespace: &str, name: &str, role: &str, sa: &str, sa_namespace: &str) -> RoleBinding {
    RoleBinding {
        metadata: meta(name, namespace),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_string(),
            kind: "ClusterRole".to_string(),
            name: role.to_string(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_string(),
            name: sa.to_string(),
            namespace: Some(sa_namespace.to_string()),
            api_group: None,
        }]),
    }
}

/// The platform's binding (to [`PLATFORM_TEAM_ROLE`]) and the operator's (to
/// [`OPERATOR_TEAM_ROLE`]) in `namespace`.
pub fn role_bindings(namespace: &str) -> Vec<RoleBinding> {
    vec![
        binding(
            namespace,
            PLATFORM_TEAM_BINDING,
            PLATFORM_TEAM_ROLE,
            PLATFORM_SERVICE_ACCOUNT,
            PLATFORM_NAMESPACE,
        ),
        binding(namespace, OPERATOR_TEAM_BINDING, OPERATOR_TEAM_ROLE, OPERATOR_NAME, OPERATOR_NAMESPACE),
    ]
}

#[cfg(test)]
mod tests;
