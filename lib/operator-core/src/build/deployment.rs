//! The Deployment(s): the app container and, when the gateway is enabled, the `mcp-gateway`
//! sidecar in front of it, with a restricted security context. A remote server
//! (`spec.upstream`) runs the gateway alone, forwarding to the remote URL.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapProjection, ConfigMapVolumeSource, Container, ContainerPort,
    DownwardAPIProjection, DownwardAPIVolumeFile, EmptyDirVolumeSource, EnvVar, EnvVarSource, HTTPGetAction,
    KeyToPath, LocalObjectReference, ObjectFieldSelector, PodSecurityContext, PodSpec, PodTemplateSpec,
    Probe, ProjectedVolumeSource, ResourceRequirements, SeccompProfile, SecretKeySelector,
    SecretVolumeSource, SecurityContext, ServiceAccountTokenProjection, TCPSocketAction, Volume, VolumeMount,
    VolumeProjection,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use mcp_api::{DEFAULT_GATEWAY_PORT, DEFAULT_PORT, RolloutStrategy};

use super::{ServerView, gateway_image, ingress::public_host, is_canary, resolve_image};
use crate::config::OperatorConfig;
use crate::names::{
    ADMIN_PORT, ADMIN_PORT_NAME, APP_LABEL, GATEWAY_CONTAINER, GATEWAY_PORT_NAME, HTTP_PORT_NAME, POLICY_KEY,
    POLICY_MOUNT, RUN_AS_USER, SPOOL_MOUNT, TOKEN_MOUNT, TRACK_LABEL, UPSTREAM_CREDENTIAL_FILE,
    UPSTREAM_CREDENTIAL_MOUNT, WORKLOAD_SERVICE_ACCOUNT, canary_name, policy_name,
};

/// Which rollout track a Deployment runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Track {
    /// `<name>`: every replica outside the canary.
    Stable,
    /// `<name>-canary`: `rollout.canaryReplicas` replicas.
    Canary,
}

impl Track {
    /// Value of the `mcpruntime.org/rollout-track` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Track::Stable => "stable",
            Track::Canary => "canary",
        }
    }
}

fn env(name: &str, value: impl Into<String>) -> EnvVar {
    EnvVar { name: name.to_string(), value: Some(value.into()), value_from: None }
}

fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_string(),
        value: None,
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_string(),
                key: key.to_string(),
                optional: None,
            }),
            ..EnvVarSource::default()
        }),
    }
}

fn resources(r: Option<&mcp_api::ResourceRequirements>) -> ResourceRequirements {
    let list = |l: Option<&mcp_api::ResourceList>| {
        let mut map = BTreeMap::new();
        if let Some(l) = l {
            if let Some(cpu) = l.cpu.as_deref().filter(|v| !v.trim().is_empty()) {
                map.insert("cpu".to_string(), Quantity(cpu.trim().to_string()));
            }
            if let Some(memory) = l.memory.as_deref().filter(|v| !v.trim().is_empty()) {
                map.insert("memory".to_string(), Quantity(memory.trim().to_string()));
            }
        }
        (!map.is_empty()).then_some(map)
    };
    ResourceRequirements {
        requests: list(r.and_then(|r| r.requests.as_ref())),
        limits: list(r.and_then(|r| r.limits.as_ref())),
        ..ResourceRequirements::default()
    }
}

/// Dropped capabilities, no privilege escalation; a read-only root file system when asked.
fn restricted(read_only_root: bool) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities { drop: Some(vec!["ALL".to_string()]), add: None }),
        read_only_root_filesystem: read_only_root.then_some(true),
        run_as_non_root: Some(true),
        ..SecurityContext::default()
    }
}

fn tcp_probe(port: &str, initial: i32, period: i32) -> Probe {
    Probe {
        tcp_socket: Some(TCPSocketAction { port: IntOrString::String(port.to_string()), host: None }),
        initial_delay_seconds: Some(initial),
        period_seconds: Some(period),
        ..Probe::default()
    }
}

fn http_probe(path: &str, port: &str, initial: i32, period: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_string()),
            port: IntOrString::String(port.to_string()),
            ..HTTPGetAction::default()
        }),
        initial_delay_seconds: Some(initial),
        period_seconds: Some(period),
        ..Probe::default()
    }
}

/// The route path the app serves: the public path minus the gateway's strip prefix.
fn app_path(view: &ServerView) -> String {
    let path = view.spec.effective_path(&view.name);
    let strip = view
        .spec
        .gateway
        .as_ref()
        .and_then(|g| g.strip_prefix.as_deref())
        .filter(|_| view.spec.gateway_enabled());
    match strip.map(|s| s.trim_end_matches('/')).filter(|s| !s.is_empty()) {
        Some(prefix) => match path.strip_prefix(prefix) {
            Some("") => "/".to_string(),
            Some(rest) if rest.starts_with('/') => rest.to_string(),
            _ => path,
        },
        None => path,
    }
}

fn app_container(view: &ServerView, cfg: &OperatorConfig) -> Container {
    let spec = &view.spec;
    let mut env_vars = vec![env("MCP_PATH", app_path(view))];
    env_vars
        .extend(spec.env_vars.iter().filter(|e| e.name != "MCP_PATH").map(|e| env(&e.name, e.value.clone())));
    env_vars.extend(
        spec.secret_env_vars
            .iter()
            .filter(|e| e.name != "MCP_PATH")
            .map(|e| secret_env(&e.name, &e.secret_key_ref.name, &e.secret_key_ref.key)),
    );
    Container {
        name: view.name.clone(),
        image: Some(resolve_image(spec, cfg)),
        image_pull_policy: Some("IfNotPresent".to_string()),
        ports: Some(vec![ContainerPort {
            name: Some(HTTP_PORT_NAME.to_string()),
            container_port: spec.port.unwrap_or(DEFAULT_PORT),
            protocol: Some("TCP".to_string()),
            ..ContainerPort::default()
        }]),
        env: Some(env_vars),
        resources: Some(resources(spec.resources.as_ref())),
        liveness_probe: Some(tcp_probe(HTTP_PORT_NAME, 5, 10)),
        readiness_probe: Some(tcp_probe(HTTP_PORT_NAME, 3, 5)),
        security_context: Some(restricted(false)),
        ..Container::default()
    }
}

fn gateway_container(view: &ServerView, cfg: &OperatorConfig) -> Container {
    let spec = &view.spec;
    let gw = spec.gateway.clone().unwrap_or_default();
    let port = gw.port.unwrap_or(DEFAULT_GATEWAY_PORT);
    let app_port = spec.port.unwrap_or(DEFAULT_PORT);
    // A remote server: forward to its URL, and strip the whole public route so the route maps
    // onto the URL's own path (the gateway treats a prefix equal to the path as the URL's path).
    let (upstream_url, strip_prefix) = match &spec.upstream {
        Some(upstream) => (upstream.url.trim().to_string(), Some(spec.effective_path(&view.name))),
        None => (
            gw.upstream_url.clone().unwrap_or_else(|| format!("http://127.0.0.1:{app_port}")),
            gw.strip_prefix.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string),
        ),
    };
    let mut env_vars = vec![
        env("PORT", port.to_string()),
        env("ADMIN_LISTEN_ADDR", format!("0.0.0.0:{ADMIN_PORT}")),
        env("UPSTREAM_URL", upstream_url),
        env("POLICY_FILE", format!("{POLICY_MOUNT}/{POLICY_KEY}")),
        env("AUDIT_SPOOL_DIR", SPOOL_MOUNT),
    ];
    if let Some(strip) = strip_prefix {
        env_vars.push(env("STRIP_PREFIX", strip));
    }
    let credential = upstream_credential(spec);
    if credential.is_some() {
        env_vars.push(env(
            "UPSTREAM_TOKEN_FILE",
            format!("{UPSTREAM_CREDENTIAL_MOUNT}/{UPSTREAM_CREDENTIAL_FILE}"),
        ));
    }
    if let Some(host) = public_host(view, cfg) {
        let (name, ns) = (&view.name, &view.namespace);
        let hosts = [
            host,
            name.clone(),
            format!("{name}.{ns}"),
            format!("{name}.{ns}.svc"),
            format!("{name}.{ns}.svc.cluster.local"),
            "localhost".to_string(),
            "127.0.0.1".to_string(),
        ];
        env_vars.push(env("ALLOWED_HOSTS", hosts.join(",")));
    }
    let analytics = spec.analytics.clone().unwrap_or_default();
    let ingest =
        analytics.ingest_url.clone().or_else(|| cfg.ingest_url.clone()).filter(|u| !u.trim().is_empty());
    if analytics.disabled != Some(true)
        && let Some(url) = ingest
    {
        env_vars.push(env("ANALYTICS_INGEST_URL", url.trim()));
        if let Some(source) = &analytics.source {
            env_vars.push(env("ANALYTICS_SOURCE", source.clone()));
        }
        if let Some(event_type) = &analytics.event_type {
            env_vars.push(env("ANALYTICS_EVENT_TYPE", event_type.clone()));
        }
        if let Some(key) = &analytics.api_key_secret_ref {
            env_vars.push(secret_env("ANALYTICS_API_KEY", &key.name, &key.key));
        }
    }
    let mut mounts = vec![
        VolumeMount {
            name: "policy".to_string(),
            mount_path: POLICY_MOUNT.to_string(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
        VolumeMount {
            name: "spool".to_string(),
            mount_path: SPOOL_MOUNT.to_string(),
            ..VolumeMount::default()
        },
        VolumeMount {
            name: "kube-api-access".to_string(),
            mount_path: TOKEN_MOUNT.to_string(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
    ];
    if credential.is_some() {
        mounts.push(VolumeMount {
            name: UPSTREAM_CREDENTIAL_VOLUME.to_string(),
            mount_path: UPSTREAM_CREDENTIAL_MOUNT.to_string(),
            read_only: Some(true),
            ..VolumeMount::default()
        });
    }
    Container {
        name: GATEWAY_CONTAINER.to_string(),
        image: gateway_image(spec, cfg),
        image_pull_policy: Some("IfNotPresent".to_string()),
        args: Some(vec![
            "--policy-configmap".to_string(),
            format!("{}/{}", view.namespace, policy_name(&view.name)),
        ]),
        ports: Some(vec![
            ContainerPort {
                name: Some(GATEWAY_PORT_NAME.to_string()),
                container_port: port,
                protocol: Some("TCP".to_string()),
                ..ContainerPort::default()
            },
            ContainerPort {
                name: Some(ADMIN_PORT_NAME.to_string()),
                container_port: ADMIN_PORT,
                protocol: Some("TCP".to_string()),
                ..ContainerPort::default()
            },
        ]),
        env: Some(env_vars),
        resources: Some(resources(gw.resources.as_ref())),
        // Probes go to the admin listener: the public one answers only `/health`, the RFC 9728
        // metadata and the MCP endpoint.
        liveness_probe: Some(http_probe("/health", ADMIN_PORT_NAME, 5, 10)),
        readiness_probe: Some(http_probe("/ready", ADMIN_PORT_NAME, 1, 5)),
        security_context: Some(restricted(true)),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

/// Volume holding an upstream server's credential.
const UPSTREAM_CREDENTIAL_VOLUME: &str = "upstream-credential";

/// The Secret key of a remote server's credential, when it names one.
fn upstream_credential(spec: &mcp_api::MCPServerSpec) -> Option<&mcp_api::SecretKeyRef> {
    spec.upstream.as_ref().and_then(|u| u.credential_secret_ref.as_ref())
}

/// The remote server's credential: only its one key, as [`UPSTREAM_CREDENTIAL_FILE`], readable
/// by the pod's group (the gateway runs as [`RUN_AS_USER`] with that `fsGroup`).
fn upstream_credential_volume(secret: &mcp_api::SecretKeyRef) -> Volume {
    Volume {
        name: UPSTREAM_CREDENTIAL_VOLUME.to_string(),
        secret: Some(SecretVolumeSource {
            secret_name: Some(secret.name.trim().to_string()),
            items: Some(vec![KeyToPath {
                key: secret.key.trim().to_string(),
                path: UPSTREAM_CREDENTIAL_FILE.to_string(),
                mode: None,
            }]),
            default_mode: Some(0o440),
            optional: None,
        }),
        ..Volume::default()
    }
}

/// The gateway's volumes: the projected policy ConfigMap (its file fallback), an audit spool,
/// and a service-account token mounted into the gateway only (the pod does not automount one,
/// so the app never sees it).
fn gateway_volumes(view: &ServerView) -> Vec<Volume> {
    vec![
        Volume {
            name: "policy".to_string(),
            config_map: Some(ConfigMapVolumeSource {
                name: policy_name(&view.name),
                // The pod starts before the first policy is written; the gateway answers 503 until
                // one arrives (through the API watch or this file).
                optional: Some(true),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "spool".to_string(),
            empty_dir: Some(EmptyDirVolumeSource {
                size_limit: Some(Quantity("128Mi".to_string())),
                ..EmptyDirVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "kube-api-access".to_string(),
            projected: Some(ProjectedVolumeSource {
                default_mode: Some(0o444),
                sources: Some(vec![
                    VolumeProjection {
                        service_account_token: Some(ServiceAccountTokenProjection {
                            path: "token".to_string(),
                            expiration_seconds: Some(3607),
                            audience: None,
                        }),
                        ..VolumeProjection::default()
                    },
                    VolumeProjection {
                        config_map: Some(ConfigMapProjection {
                            name: "kube-root-ca.crt".to_string(),
                            items: Some(vec![KeyToPath {
                                key: "ca.crt".to_string(),
                                path: "ca.crt".to_string(),
                                mode: None,
                            }]),
                            optional: None,
                        }),
                        ..VolumeProjection::default()
                    },
                    VolumeProjection {
                        downward_api: Some(DownwardAPIProjection {
                            items: Some(vec![DownwardAPIVolumeFile {
                                path: "namespace".to_string(),
                                field_ref: Some(ObjectFieldSelector {
                                    api_version: Some("v1".to_string()),
                                    field_path: "metadata.namespace".to_string(),
                                }),
                                ..DownwardAPIVolumeFile::default()
                            }]),
                        }),
                        ..VolumeProjection::default()
                    },
                ]),
            }),
            ..Volume::default()
        },
    ]
}

/// The Deployment of one rollout track.
pub fn deployment(view: &ServerView, cfg: &OperatorConfig, track: Track) -> Deployment {
    let spec = &view.spec;
    let replicas = spec.replicas.unwrap_or(1).max(0);
    let canary = spec.rollout.as_ref().and_then(|r| r.canary_replicas).unwrap_or(0).max(0);
    let (name, replicas) = match track {
        Track::Stable if is_canary(spec) => (view.name.clone(), (replicas - canary).max(0)),
        Track::Stable => (view.name.clone(), replicas),
        Track::Canary => (canary_name(&view.name), canary),
    };
    let mut labels = view.labels();
    labels.insert(TRACK_LABEL.to_string(), track.as_str().to_string());
    let selector = BTreeMap::from([
        (APP_LABEL.to_string(), view.name.clone()),
        (TRACK_LABEL.to_string(), track.as_str().to_string()),
    ]);

    let rollout = spec.rollout.clone().unwrap_or_default();
    let strategy = match rollout.strategy.unwrap_or(RolloutStrategy::RollingUpdate) {
        RolloutStrategy::Recreate => {
            DeploymentStrategy { type_: Some("Recreate".to_string()), rolling_update: None }
        }
        RolloutStrategy::RollingUpdate | RolloutStrategy::Canary => DeploymentStrategy {
            type_: Some("RollingUpdate".to_string()),
            rolling_update: Some(RollingUpdateDeployment {
                max_unavailable: rollout.max_unavailable.clone(),
                max_surge: rollout.max_surge.clone(),
            }),
        },
    };

    let gateway = spec.gateway_enabled();
    // A remote server has no app container: the gateway alone forwards to `spec.upstream.url`.
    let mut containers = if spec.is_upstream() { Vec::new() } else { vec![app_container(view, cfg)] };
    let mut volumes = Vec::new();
    if gateway {
        containers.push(gateway_container(view, cfg));
        volumes = gateway_volumes(view);
        volumes.extend(upstream_credential(spec).map(upstream_credential_volume));
    }
    let pull_secrets: Vec<String> = if spec.image_pull_secrets.is_empty() {
        cfg.provisioned_pull_secret.iter().cloned().collect()
    } else {
        spec.image_pull_secrets.clone()
    };

    let mut meta = view.child_meta(name);
    meta.labels = Some(labels.clone());
    Deployment {
        metadata: meta,
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector { match_labels: Some(selector), match_expressions: None },
            strategy: Some(strategy),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta { labels: Some(labels), ..ObjectMeta::default() }),
                spec: Some(PodSpec {
                    service_account_name: Some(WORKLOAD_SERVICE_ACCOUNT.to_string()),
                    automount_service_account_token: Some(false),
                    security_context: Some(PodSecurityContext {
                        run_as_non_root: Some(true),
                        run_as_user: Some(RUN_AS_USER),
                        run_as_group: Some(RUN_AS_USER),
                        fs_group: Some(RUN_AS_USER),
                        seccomp_profile: Some(SeccompProfile {
                            type_: "RuntimeDefault".to_string(),
                            localhost_profile: None,
                        }),
                        ..PodSecurityContext::default()
                    }),
                    image_pull_secrets: (!pull_secrets.is_empty()).then(|| {
                        pull_secrets.into_iter().map(|name| LocalObjectReference { name }).collect()
                    }),
                    containers,
                    volumes: (!volumes.is_empty()).then_some(volumes),
                    ..PodSpec::default()
                }),
            },
            ..DeploymentSpec::default()
        }),
        status: None,
    }
}
