//! The operator's installation manifests (`deploy/base/operator`, `deploy/base/workload`),
//! built from the same names and permission table the operator itself uses, so RBAC cannot
//! drift from what it does. `cargo xtask manifests` writes them; `--check` (run by CI) fails
//! on any difference. The operator's tests check every request they see against
//! [`cluster_rules`] and [`namespace_rules`] ([`allows`]).

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations, ServiceReference, ValidatingWebhook,
    ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, Container, ContainerPort, EnvVar, EnvVarSource, HTTPGetAction, Namespace,
    ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec, Probe, ResourceRequirements,
    SeccompProfile, SecurityContext, Service, ServiceAccount, ServicePort, ServiceSpec,
};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::Value;

use crate::names::{
    MANAGED_BY, MANAGED_BY_LABEL, MUTATE_SERVER_PATH, VALIDATE_GRANT_PATH, VALIDATE_SERVER_PATH,
    VALIDATE_SESSION_PATH, WORKLOAD_SERVICE_ACCOUNT,
};
use crate::team::{
    DEFAULT_DENY_POLICY, LIMITS_NAME, OPERATOR_TEAM_BINDING, PLATFORM_TEAM_BINDING, PULL_SECRET_NAME,
    QUOTA_NAME, SERVERS_POLICY,
};

/// One permission the operator needs, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Permission {
    /// API group (`""` for core).
    pub group: &'static str,
    /// Resources (with `/subresource` where needed).
    pub resources: &'static [&'static str],
    /// Verbs.
    pub verbs: &'static [&'static str],
    /// Only these object names (empty: any).
    pub names: &'static [&'static str],
    /// Why the operator needs it.
    pub why: &'static str,
}

const WRITE: &[&str] = &["get", "list", "watch", "create", "patch", "delete"];

/// Cluster-wide permissions (MCP servers live in any namespace).
pub const CLUSTER_PERMISSIONS: &[Permission] = &[
    Permission {
        group: "mcpruntime.org",
        resources: &["mcpservers"],
        verbs: &["get", "list", "watch"],
        names: &[],
        why: "the controller's main watch",
    },
    Permission {
        group: "mcpruntime.org",
        resources: &["mcpservers/status"],
        verbs: &["get", "patch", "update"],
        names: &[],
        why: "phase, conditions, URL and tool pins",
    },
    Permission {
        group: "mcpruntime.org",
        resources: &["mcpaccessgrants", "mcpagentsessions"],
        verbs: &["get", "list", "watch"],
        names: &[],
        why: "grants and sessions rendered into each server's policy",
    },
    Permission {
        group: "apps",
        resources: &["deployments"],
        verbs: WRITE,
        names: &[],
        why: "each server's Deployment(s), applied server-side and watched",
    },
    Permission {
        group: "",
        resources: &["services", "configmaps"],
        verbs: WRITE,
        names: &[],
        why: "each server's Service and policy ConfigMap; the platform trust ConfigMap (read); \
              holding configmaps get/list/watch also lets the operator grant it to gateways",
    },
    Permission {
        group: "networking.k8s.io",
        resources: &["ingresses"],
        verbs: WRITE,
        names: &[],
        why: "each server's route",
    },
    Permission {
        group: "",
        resources: &["serviceaccounts"],
        verbs: &["get", "create", "patch"],
        names: &[],
        why: "the mcp-workload service account of every server namespace",
    },
    Permission {
        group: "rbac.authorization.k8s.io",
        resources: &["roles", "rolebindings"],
        verbs: &["get", "create", "patch", "delete"],
        names: &[],
        why: "each gateway's read access to exactly its own policy ConfigMap",
    },
    Permission {
        group: "",
        resources: &["pods"],
        verbs: &["get", "list"],
        names: &[],
        why: "finding the gateways whose tool pins go into status",
    },
    Permission {
        group: "networking.k8s.io",
        resources: &["networkpolicies"],
        verbs: &["get", "create", "patch", "delete"],
        names: &[],
        why: "a remote server's egress to its upstream URL's port (spec.upstream)",
    },
    Permission {
        group: "admissionregistration.k8s.io",
        resources: &["validatingwebhookconfigurations", "mutatingwebhookconfigurations"],
        verbs: &["get", "update"],
        names: &[WEBHOOK_CONFIGURATION],
        why: "patching the generated CA bundle into the operator's own webhook configurations",
    },
];

/// Permissions in the operator's own namespace.
pub const NAMESPACE_PERMISSIONS: &[Permission] = &[
    Permission {
        group: "coordination.k8s.io",
        resources: &["leases"],
        verbs: &["get", "create", "update"],
        names: &[],
        why: "leader election",
    },
    Permission {
        group: "",
        resources: &["secrets"],
        verbs: &["get", "create", "update"],
        names: &[],
        why: "the webhook certificate every replica shares",
    },
];

/// The namespaced resources the operator writes into a server's namespace: the part of
/// [`CLUSTER_PERMISSIONS`] a team namespace's `mcp-runtime-operator` binding grants there
/// (so a team namespace is self-contained should the cluster-wide grant be narrowed).
pub const OPERATOR_TEAM_RESOURCES: &[&str] = &[
    "mcpservers",
    "mcpservers/status",
    "mcpaccessgrants",
    "mcpagentsessions",
    "deployments",
    "services",
    "configmaps",
    "ingresses",
    "serviceaccounts",
    "roles",
    "rolebindings",
    "pods",
    "networkpolicies",
];

/// What the platform's Kubernetes runtime backend does cluster-wide: create and delete team
/// namespaces, bootstrap the two bindings of a new team namespace (it can bind only the two
/// team ClusterRoles, and only under the two binding names), and read the three resources.
pub const PLATFORM_CLUSTER_PERMISSIONS: &[Permission] = &[
    Permission {
        group: "",
        resources: &["namespaces"],
        verbs: &["get", "create", "patch", "delete"],
        names: &[],
        why: "team namespaces mcp-team-<slug>, applied server-side and deleted with the team",
    },
    Permission {
        group: "rbac.authorization.k8s.io",
        resources: &["rolebindings"],
        verbs: &["get", "create", "patch"],
        names: &[PLATFORM_TEAM_BINDING, OPERATOR_TEAM_BINDING],
        why: "the platform's and the operator's bindings in a new team namespace",
    },
    Permission {
        group: "mcpruntime.org",
        resources: &["mcpservers", "mcpaccessgrants", "mcpagentsessions"],
        verbs: &["get", "list"],
        names: &[],
        why: "catalogs and agent filters across teams in one request (read-only; writes only via team bindings)",
    },
    Permission {
        group: "rbac.authorization.k8s.io",
        resources: &["clusterroles"],
        verbs: &["bind"],
        names: &[PLATFORM_TEAM_ROLE, OPERATOR_TEAM_ROLE],
        why: "binding exactly the two team roles",
    },
];

/// What the platform does inside a team namespace (granted there by its binding to
/// [`PLATFORM_TEAM_ROLE`]).
pub const PLATFORM_TEAM_PERMISSIONS: &[Permission] = &[
    Permission {
        group: "mcpruntime.org",
        resources: &["mcpservers", "mcpaccessgrants", "mcpagentsessions"],
        verbs: &["create", "patch", "delete"],
        names: &[],
        why: "servers, grants and sessions, applied server-side and deleted",
    },
    Permission {
        group: "",
        resources: &["resourcequotas", "limitranges"],
        verbs: &["get", "create", "patch"],
        names: &[QUOTA_NAME, LIMITS_NAME],
        why: "the team's quota and default limits",
    },
    Permission {
        group: "networking.k8s.io",
        resources: &["networkpolicies"],
        verbs: &["get", "create", "patch"],
        names: &[DEFAULT_DENY_POLICY, SERVERS_POLICY],
        why: "the team's default-deny and MCP server network policies",
    },
    Permission {
        group: "",
        resources: &["configmaps"],
        verbs: &["get"],
        names: &[],
        why: "reading back the policy the operator rendered for a server",
    },
    Permission {
        group: "",
        resources: &["secrets"],
        verbs: &["get", "create", "patch"],
        names: &[PULL_SECRET_NAME],
        why: "the team's pull secret for the platform's registry (a pull-only credential of the team)",
    },
];

/// What the platform does in the trust ConfigMap's namespace: publish its JWKS.
pub const PLATFORM_TRUST_PERMISSIONS: &[Permission] = &[Permission {
    group: "",
    resources: &["configmaps"],
    verbs: &["get", "create", "patch"],
    names: &[TRUST_CONFIGMAP],
    why: "publishing the platform's token issuer and JWKS for the operator to copy into policies",
}];

/// Namespace the platform runs in (`deploy/base/platform`).
pub const PLATFORM_NAMESPACE: &str = "mcp-platform";
/// The platform's service account (`deploy/base/platform/platform.yaml`).
pub const PLATFORM_SERVICE_ACCOUNT: &str = "mcp-platform";
/// The platform's ClusterRole and ClusterRoleBinding, and its trust Role and RoleBinding.
pub const PLATFORM_NAME: &str = "mcp-platform";
/// ClusterRole the platform is bound to in each team namespace.
pub const PLATFORM_TEAM_ROLE: &str = "mcp-platform-team";
/// ClusterRole the operator is bound to in each team namespace.
pub const OPERATOR_TEAM_ROLE: &str = "mcp-runtime-operator-team";
/// Namespace of the trust ConfigMap (the operator's `MCP_PLATFORM_TRUST_CONFIGMAP`).
pub const TRUST_NAMESPACE: &str = OPERATOR_NAMESPACE;
/// Name of the trust ConfigMap.
pub const TRUST_CONFIGMAP: &str = "platform-trust";

/// Namespace the operator is installed in.
pub const OPERATOR_NAMESPACE: &str = "mcp-runtime";
/// Name of the operator's Deployment, service account, roles and bindings.
pub const OPERATOR_NAME: &str = "mcp-runtime-operator";
/// `app.kubernetes.io/name` of the operator's pods.
pub const OPERATOR_APP: &str = "mcp-operator";
/// Name of the webhook configurations.
pub const WEBHOOK_CONFIGURATION: &str = "mcp-runtime-operator";
/// Name of the webhook Service.
pub const WEBHOOK_SERVICE: &str = "mcp-runtime-operator-webhook";
/// Namespace the workload template (the `mcp-workload` service account) is shipped for.
pub const WORKLOAD_NAMESPACE: &str = "mcp-servers";
/// Operator image in the base (overlays replace it).
pub const OPERATOR_IMAGE: &str = "mcp-runtime/mcp-operator:latest";
/// Gateway image in the base.
pub const GATEWAY_IMAGE: &str = "mcp-runtime/mcp-gateway:latest";

fn rules(permissions: &[Permission]) -> Vec<PolicyRule> {
    permissions
        .iter()
        .map(|p| PolicyRule {
            api_groups: Some(vec![p.group.to_string()]),
            resources: Some(p.resources.iter().map(|r| r.to_string()).collect()),
            verbs: p.verbs.iter().map(|v| v.to_string()).collect(),
            resource_names: (!p.names.is_empty()).then(|| p.names.iter().map(|n| n.to_string()).collect()),
            non_resource_urls: None,
        })
        .collect()
}

/// The ClusterRole rules.
pub fn cluster_rules() -> Vec<PolicyRule> {
    rules(CLUSTER_PERMISSIONS)
}

/// The Role rules in the operator's namespace.
pub fn namespace_rules() -> Vec<PolicyRule> {
    rules(NAMESPACE_PERMISSIONS)
}

/// The rules of [`OPERATOR_TEAM_ROLE`]: the operator's cluster rules on
/// [`OPERATOR_TEAM_RESOURCES`].
pub fn operator_team_rules() -> Vec<PolicyRule> {
    CLUSTER_PERMISSIONS
        .iter()
        .filter_map(|p| {
            let resources: Vec<String> = p
                .resources
                .iter()
                .filter(|r| OPERATOR_TEAM_RESOURCES.contains(r))
                .map(|r| r.to_string())
                .collect();
            (!resources.is_empty()).then(|| PolicyRule {
                api_groups: Some(vec![p.group.to_string()]),
                resources: Some(resources),
                verbs: p.verbs.iter().map(|v| v.to_string()).collect(),
                resource_names: (!p.names.is_empty())
                    .then(|| p.names.iter().map(|n| n.to_string()).collect()),
                non_resource_urls: None,
            })
        })
        .collect()
}

/// Whether the platform's RBAC allows `verb` on `group`/`resource` (`name` as in [`allows`])
/// in `namespace` (`None`: cluster-scoped): its ClusterRole everywhere, its team ClusterRole in
/// team namespaces (where the platform binds it), its trust Role in [`TRUST_NAMESPACE`].
pub fn platform_allows(
    namespace: Option<&str>,
    verb: &str,
    group: &str,
    resource: &str,
    name: Option<&str>,
) -> bool {
    allows(&rules(PLATFORM_CLUSTER_PERMISSIONS), verb, group, resource, name)
        || (namespace.is_some_and(|ns| crate::team::team_slug(ns).is_some())
            && allows(&rules(PLATFORM_TEAM_PERMISSIONS), verb, group, resource, name))
        || (namespace == Some(TRUST_NAMESPACE)
            && allows(&rules(PLATFORM_TRUST_PERMISSIONS), verb, group, resource, name))
}

/// Whether `rules` allow `verb` on `group`/`resource` (`resource/subresource` form) for the
/// object `name` (`None` for list, watch and create, which cannot be limited by name, except
/// list and watch with a `metadata.name` field selector, passed as the name).
pub fn allows(rules: &[PolicyRule], verb: &str, group: &str, resource: &str, name: Option<&str>) -> bool {
    rules.iter().any(|r| {
        let has = |list: &Option<Vec<String>>, v: &str| {
            list.as_ref().is_some_and(|l| l.iter().any(|x| x == v || x == "*"))
        };
        has(&r.api_groups, group)
            && has(&r.resources, resource)
            && (r.verbs.iter().any(|v| v == verb || v == "*"))
            && match (&r.resource_names, name) {
                (None, _) => true,
                (Some(names), _) if names.is_empty() => true,
                (Some(names), Some(name)) => names.iter().any(|n| n == name),
                (Some(_), None) => false,
            }
    })
}

fn labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        ("app.kubernetes.io/name".to_string(), OPERATOR_APP.to_string()),
        ("app.kubernetes.io/part-of".to_string(), "mcp-runtime".to_string()),
        (MANAGED_BY_LABEL.to_string(), "kustomize".to_string()),
    ])
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        labels: Some(labels()),
        ..ObjectMeta::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar { name: name.to_string(), value: Some(value.to_string()), value_from: None }
}

fn field_env(name: &str, path: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            field_ref: Some(ObjectFieldSelector {
                api_version: Some("v1".to_string()),
                field_path: path.to_string(),
            }),
            ..EnvVarSource::default()
        }),
    }
}

fn probe(path: &str) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String("metrics".to_string()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(10),
        ..Probe::default()
    }
}

fn operator_deployment() -> Deployment {
    let selector = BTreeMap::from([("app.kubernetes.io/name".to_string(), OPERATOR_APP.to_string())]);
    let quantity = |v: &str| Quantity(v.to_string());
    Deployment {
        metadata: meta(OPERATOR_NAME, Some(OPERATOR_NAMESPACE)),
        spec: Some(DeploymentSpec {
            // Two replicas: both serve the webhooks, the Lease holder reconciles.
            replicas: Some(2),
            selector: LabelSelector { match_labels: Some(selector), match_expressions: None },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels()), ..ObjectMeta::default() }),
                spec: Some(PodSpec {
                    service_account_name: Some(OPERATOR_NAME.to_string()),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(65532),
                        run_as_group: Some(65532),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_string(),
                            localhost_profile: None,
                        }),
                        ..PodSecurityContext::default()
                    }),
                    containers: vec![Container {
                        name: "operator".to_string(),
                        image: Some(OPERATOR_IMAGE.to_string()),
                        image_pull_policy: Some("IfNotPresent".to_string()),
                        env: Some(vec![
                            field_env("POD_NAMESPACE", "metadata.namespace"),
                            field_env("POD_NAME", "metadata.name"),
                            env("MCP_LEADER_ELECT", "true"),
                            env("MCP_ENABLE_WEBHOOKS", "true"),
                            env("MCP_WEBHOOK_SERVICE", WEBHOOK_SERVICE),
                            env("MCP_WEBHOOK_CONFIGURATION", WEBHOOK_CONFIGURATION),
                            env("MCP_GATEWAY_PROXY_IMAGE", GATEWAY_IMAGE),
                            env("MCP_LOG_FORMAT", "json"),
                        ]),
                        ports: Some(vec![
                            ContainerPort {
                                name: Some("metrics".to_string()),
                                container_port: 8080,
                                protocol: Some("TCP".to_string()),
                                ..ContainerPort::default()
                            },
                            ContainerPort {
                                name: Some("webhook".to_string()),
                                container_port: 9443,
                                protocol: Some("TCP".to_string()),
                                ..ContainerPort::default()
                            },
                        ]),
                        liveness_probe: Some(probe("/healthz")),
                        readiness_probe: Some(probe("/readyz")),
                        resources: Some(ResourceRequirements {
                            requests: Some(BTreeMap::from([
                                ("cpu".to_string(), quantity("50m")),
                                ("memory".to_string(), quantity("64Mi")),
                            ])),
                            limits: Some(BTreeMap::from([
                                ("cpu".to_string(), quantity("500m")),
                                ("memory".to_string(), quantity("256Mi")),
                            ])),
                            ..ResourceRequirements::default()
                        }),
                        security_context: Some(SecurityContext {
                            allow_privilege_escalation: Some(false),
                            capabilities: Some(Capabilities {
                                drop: Some(vec!["ALL".to_string()]),
                                add: None,
                            }),
                            read_only_root_filesystem: Some(true),
                            run_as_non_root: Some(true),
                            ..SecurityContext::default()
                        }),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}

fn service(name: &str, port: i32, target: &str, annotations: Option<BTreeMap<String, String>>) -> Service {
    let mut metadata = meta(name, Some(OPERATOR_NAMESPACE));
    metadata.annotations = annotations;
    Service {
        metadata,
        spec: Some(ServiceSpec {
            selector: Some(BTreeMap::from([(
                "app.kubernetes.io/name".to_string(),
                OPERATOR_APP.to_string(),
            )])),
            ports: Some(vec![ServicePort {
                name: Some(target.to_string()),
                port,
                target_port: Some(IntOrString::String(target.to_string())),
                protocol: Some("TCP".to_string()),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        status: None,
    }
}

fn client_config(path: &str) -> WebhookClientConfig {
    WebhookClientConfig {
        // Filled in by the operator at start (self-signed) or by cert-manager's cainjector.
        ca_bundle: None,
        service: Some(ServiceReference {
            name: WEBHOOK_SERVICE.to_string(),
            namespace: OPERATOR_NAMESPACE.to_string(),
            path: Some(path.to_string()),
            port: Some(443),
        }),
        url: None,
    }
}

fn rule(resource: &str) -> RuleWithOperations {
    RuleWithOperations {
        api_groups: Some(vec![mcp_api::GROUP.to_string()]),
        api_versions: Some(vec![mcp_api::VERSION.to_string()]),
        operations: Some(vec!["CREATE".to_string(), "UPDATE".to_string()]),
        resources: Some(vec![resource.to_string()]),
        scope: Some("Namespaced".to_string()),
    }
}

fn validating(name: &str, path: &str, resource: &str) -> ValidatingWebhook {
    ValidatingWebhook {
        name: name.to_string(),
        admission_review_versions: vec!["v1".to_string()],
        client_config: client_config(path),
        failure_policy: Some("Fail".to_string()),
        side_effects: "None".to_string(),
        timeout_seconds: Some(10),
        rules: Some(vec![rule(resource)]),
        ..ValidatingWebhook::default()
    }
}

fn webhooks() -> (ValidatingWebhookConfiguration, MutatingWebhookConfiguration) {
    let validating = ValidatingWebhookConfiguration {
        metadata: meta(WEBHOOK_CONFIGURATION, None),
        webhooks: Some(vec![
            validating("vmcpserver.mcpruntime.org", VALIDATE_SERVER_PATH, "mcpservers"),
            validating("vmcpaccessgrant.mcpruntime.org", VALIDATE_GRANT_PATH, "mcpaccessgrants"),
            validating("vmcpagentsession.mcpruntime.org", VALIDATE_SESSION_PATH, "mcpagentsessions"),
        ]),
    };
    let mutating = MutatingWebhookConfiguration {
        metadata: meta(WEBHOOK_CONFIGURATION, None),
        webhooks: Some(vec![MutatingWebhook {
            name: "mmcpserver.mcpruntime.org".to_string(),
            admission_review_versions: vec!["v1".to_string()],
            client_config: client_config(MUTATE_SERVER_PATH),
            // Defaulting is repeated in memory by the reconciler, so an unavailable webhook
            // must not block writes.
            failure_policy: Some("Ignore".to_string()),
            side_effects: "None".to_string(),
            timeout_seconds: Some(10),
            reinvocation_policy: Some("Never".to_string()),
            rules: Some(vec![rule("mcpservers")]),
            ..MutatingWebhook::default()
        }]),
    };
    (validating, mutating)
}

fn rbac() -> Vec<Value> {
    let subject = Subject {
        kind: "ServiceAccount".to_string(),
        name: OPERATOR_NAME.to_string(),
        namespace: Some(OPERATOR_NAMESPACE.to_string()),
        api_group: None,
    };
    let role_ref = |kind: &str| RoleRef {
        api_group: "rbac.authorization.k8s.io".to_string(),
        kind: kind.to_string(),
        name: OPERATOR_NAME.to_string(),
    };
    vec![
        json(&ServiceAccount {
            metadata: meta(OPERATOR_NAME, Some(OPERATOR_NAMESPACE)),
            ..ServiceAccount::default()
        }),
        json(&ClusterRole {
            metadata: meta(OPERATOR_NAME, None),
            rules: Some(cluster_rules()),
            aggregation_rule: None,
        }),
        json(&ClusterRoleBinding {
            metadata: meta(OPERATOR_NAME, None),
            role_ref: role_ref("ClusterRole"),
            subjects: Some(vec![subject.clone()]),
        }),
        json(&Role {
            metadata: meta(OPERATOR_NAME, Some(OPERATOR_NAMESPACE)),
            rules: Some(namespace_rules()),
        }),
        json(&RoleBinding {
            metadata: meta(OPERATOR_NAME, Some(OPERATOR_NAMESPACE)),
            role_ref: role_ref("Role"),
            subjects: Some(vec![subject]),
        }),
    ]
}

fn platform_meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        labels: Some(BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), PLATFORM_NAME.to_string()),
            ("app.kubernetes.io/part-of".to_string(), "mcp-runtime".to_string()),
            (MANAGED_BY_LABEL.to_string(), "kustomize".to_string()),
        ])),
        ..ObjectMeta::default()
    }
}

/// The platform's RBAC (`deploy/base/platform-rbac`): its ClusterRole and binding, the two
/// team ClusterRoles it binds in every team namespace, and its Role on the trust ConfigMap.
fn platform_rbac() -> Vec<Value> {
    let subject = Subject {
        kind: "ServiceAccount".to_string(),
        name: PLATFORM_SERVICE_ACCOUNT.to_string(),
        namespace: Some(PLATFORM_NAMESPACE.to_string()),
        api_group: None,
    };
    let role_ref = |kind: &str| RoleRef {
        api_group: "rbac.authorization.k8s.io".to_string(),
        kind: kind.to_string(),
        name: PLATFORM_NAME.to_string(),
    };
    let cluster_role = |name: &str, rules: Vec<PolicyRule>| ClusterRole {
        metadata: platform_meta(name, None),
        rules: Some(rules),
        aggregation_rule: None,
    };
    vec![
        json(&cluster_role(PLATFORM_NAME, rules(PLATFORM_CLUSTER_PERMISSIONS))),
        json(&ClusterRoleBinding {
            metadata: platform_meta(PLATFORM_NAME, None),
            role_ref: role_ref("ClusterRole"),
            subjects: Some(vec![subject.clone()]),
        }),
        json(&cluster_role(PLATFORM_TEAM_ROLE, rules(PLATFORM_TEAM_PERMISSIONS))),
        json(&cluster_role(OPERATOR_TEAM_ROLE, operator_team_rules())),
        json(&Role {
            metadata: platform_meta(PLATFORM_NAME, Some(TRUST_NAMESPACE)),
            rules: Some(rules(PLATFORM_TRUST_PERMISSIONS)),
        }),
        json(&RoleBinding {
            metadata: platform_meta(PLATFORM_NAME, Some(TRUST_NAMESPACE)),
            role_ref: role_ref("Role"),
            subjects: Some(vec![subject]),
        }),
    ]
}

fn json<T: serde::Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}

fn namespace(name: &str) -> Value {
    let mut metadata = meta(name, None);
    // Server pods run under the restricted Pod Security Standard.
    metadata
        .labels
        .get_or_insert_with(BTreeMap::new)
        .extend([("pod-security.kubernetes.io/enforce".to_string(), "restricted".to_string())]);
    json(&Namespace { metadata, ..Namespace::default() })
}

/// Every manifest file: path under `deploy/base`, and the objects in it (in order).
pub fn manifests() -> Vec<(&'static str, Vec<Value>)> {
    let (validating, mutating) = webhooks();
    let workload_sa = ServiceAccount {
        metadata: ObjectMeta {
            name: Some(WORKLOAD_SERVICE_ACCOUNT.to_string()),
            namespace: Some(WORKLOAD_NAMESPACE.to_string()),
            labels: Some(BTreeMap::from([(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string())])),
            ..ObjectMeta::default()
        },
        automount_service_account_token: Some(false),
        ..ServiceAccount::default()
    };
    let scrape = BTreeMap::from([
        ("prometheus.io/scrape".to_string(), "true".to_string()),
        ("prometheus.io/port".to_string(), "8080".to_string()),
        ("prometheus.io/path".to_string(), "/metrics".to_string()),
    ]);
    vec![
        ("operator/namespace.yaml", vec![namespace(OPERATOR_NAMESPACE)]),
        ("operator/rbac.yaml", rbac()),
        ("operator/deployment.yaml", vec![json(&operator_deployment())]),
        (
            "operator/service.yaml",
            vec![
                json(&service(WEBHOOK_SERVICE, 443, "webhook", None)),
                json(&service("mcp-runtime-operator-metrics", 8080, "metrics", Some(scrape))),
            ],
        ),
        ("operator/webhooks.yaml", vec![json(&validating), json(&mutating)]),
        ("workload/namespace.yaml", vec![namespace(WORKLOAD_NAMESPACE)]),
        ("workload/serviceaccount.yaml", vec![json(&workload_sa)]),
        ("platform-rbac/rbac.yaml", platform_rbac()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_allow_what_they_list_and_nothing_else() {
        let rules = cluster_rules();
        assert!(allows(&rules, "patch", "apps", "deployments", Some("x")));
        assert!(allows(&rules, "patch", "mcpruntime.org", "mcpservers/status", Some("x")));
        assert!(!allows(&rules, "patch", "mcpruntime.org", "mcpservers", Some("x")), "spec is never written");
        assert!(!allows(&rules, "get", "", "secrets", Some("x")), "no Secret access cluster-wide");
        assert!(allows(
            &rules,
            "update",
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            Some(WEBHOOK_CONFIGURATION)
        ));
        assert!(!allows(
            &rules,
            "update",
            "admissionregistration.k8s.io",
            "validatingwebhookconfigurations",
            Some("other")
        ));
        assert!(allows(&namespace_rules(), "update", "coordination.k8s.io", "leases", Some("l")));
    }

    #[test]
    fn every_manifest_is_a_valid_kubernetes_object() {
        for (file, objects) in manifests() {
            for object in objects {
                let kind = object["kind"].as_str().unwrap_or_default();
                let ok = match kind {
                    "Namespace" => serde_json::from_value::<Namespace>(object.clone()).is_ok(),
                    "ServiceAccount" => serde_json::from_value::<ServiceAccount>(object.clone()).is_ok(),
                    "ClusterRole" => serde_json::from_value::<ClusterRole>(object.clone()).is_ok(),
                    "ClusterRoleBinding" => {
                        serde_json::from_value::<ClusterRoleBinding>(object.clone()).is_ok()
                    }
                    "Role" => serde_json::from_value::<Role>(object.clone()).is_ok(),
                    "RoleBinding" => serde_json::from_value::<RoleBinding>(object.clone()).is_ok(),
                    "Deployment" => serde_json::from_value::<Deployment>(object.clone()).is_ok(),
                    "Service" => serde_json::from_value::<Service>(object.clone()).is_ok(),
                    "ValidatingWebhookConfiguration" => {
                        serde_json::from_value::<ValidatingWebhookConfiguration>(object.clone()).is_ok()
                    }
                    "MutatingWebhookConfiguration" => {
                        serde_json::from_value::<MutatingWebhookConfiguration>(object.clone()).is_ok()
                    }
                    _ => false,
                };
                assert!(ok, "{file}: {kind} does not parse as a Kubernetes object");
                assert!(object["metadata"]["name"].is_string(), "{file}: {kind} has no name");
            }
        }
    }
}
