//! Desired objects: pure functions from an `MCPServer` (plus the operator configuration, and
//! for the policy the rendered document) to the Kubernetes objects that run it.
//!
//! Nothing here does I/O or reads a clock; the same inputs always give the same objects, which
//! is what the insta snapshots in `tests.rs` pin down. Every object carries the managed-by and
//! server labels and a controller owner reference to its MCPServer, so deleting the server
//! garbage-collects everything.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use mcp_api::{MCPServer, MCPServerSpec, default_server, validate_server};

use crate::config::OperatorConfig;
use crate::names::{APP_LABEL, MANAGED_BY, MANAGED_BY_LABEL, SERVER_LABEL};

mod deployment;
mod image;
mod ingress;
mod network;
mod policy;
mod rbac;
mod service;

pub use deployment::{Track, deployment};
pub use image::resolve_image;
pub use ingress::{ingress, public_url, route};
pub use network::upstream_egress;
pub use policy::{PolicyPlan, plan_policy, policy_config_map, verified_revision};
pub use rbac::{gateway_role, gateway_role_binding, workload_service_account};
pub use service::service;

/// Why the desired objects of a server cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The server has no name.
    #[error("the MCPServer has no metadata.name")]
    MissingName,
    /// The server has no namespace.
    #[error("the MCPServer has no metadata.namespace")]
    MissingNamespace,
    /// The server has no uid (it was not read from the API), so children cannot point at it.
    #[error("the MCPServer has no metadata.uid")]
    MissingUid,
    /// The spec fails validation; the message lists every problem.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// The gateway is enabled but no image is known for it.
    #[error(
        "spec.gateway.image is not set and the operator has no gateway image (set MCP_GATEWAY_PROXY_IMAGE)"
    )]
    MissingGatewayImage,
}

/// A server as the builders see it: identity, the owner reference children carry, and the spec
/// with every default applied and validated.
#[derive(Clone, Debug, PartialEq)]
pub struct ServerView {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// Controller owner reference to the MCPServer.
    pub owner: OwnerReference,
    /// The defaulted, validated spec.
    pub spec: MCPServerSpec,
}

impl ServerView {
    /// Defaults and validates `server` with the operator's defaults.
    pub fn new(server: &MCPServer, cfg: &OperatorConfig) -> Result<ServerView, BuildError> {
        let name = server.metadata.name.clone().filter(|n| !n.is_empty()).ok_or(BuildError::MissingName)?;
        let namespace = server
            .metadata
            .namespace
            .clone()
            .filter(|n| !n.is_empty())
            .ok_or(BuildError::MissingNamespace)?;
        let owner = controller_owner_ref(server).ok_or(BuildError::MissingUid)?;
        let spec = default_server(&name, &server.spec, &cfg.defaulting());
        let findings = validate_server(&spec, "spec");
        if !findings.is_valid() {
            let errors: Vec<String> = findings.errors.iter().map(ToString::to_string).collect();
            return Err(BuildError::InvalidSpec(errors.join("; ")));
        }
        if spec.gateway_enabled() && gateway_image(&spec, cfg).is_none() {
            return Err(BuildError::MissingGatewayImage);
        }
        Ok(ServerView { name, namespace, owner, spec })
    }

    /// Labels every object of this server carries.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (APP_LABEL.to_string(), self.name.clone()),
            (MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string()),
            (SERVER_LABEL.to_string(), self.name.clone()),
        ])
    }

    /// Metadata of a child object called `name`: namespace, labels and the owner reference.
    pub fn child_meta(&self, name: impl Into<String>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(self.namespace.clone()),
            labels: Some(self.labels()),
            owner_references: Some(vec![self.owner.clone()]),
            ..ObjectMeta::default()
        }
    }
}

/// The controller owner reference children of `server` carry (what `kube::Resource`'s
/// `controller_owner_ref` gives, written out so this crate needs no kube dependency): `None`
/// without a name or uid.
pub fn controller_owner_ref(server: &MCPServer) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: format!("{}/{}", mcp_api::GROUP, mcp_api::VERSION),
        kind: "MCPServer".to_string(),
        name: server.metadata.name.clone()?,
        uid: server.metadata.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: None,
    })
}

/// The sidecar image: the server's own, else the operator's.
pub(crate) fn gateway_image(spec: &MCPServerSpec, cfg: &OperatorConfig) -> Option<String> {
    spec.gateway
        .as_ref()
        .and_then(|g| g.image.clone())
        .or_else(|| cfg.gateway_image.clone())
        .map(|i| i.trim().to_string())
        .filter(|i| !i.is_empty())
}

/// Every object a server needs, except the policy ConfigMap (which needs the grants and
/// sessions; see [`policy_config_map`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    /// The stable Deployment `<name>`.
    pub deployment: Deployment,
    /// The canary Deployment `<name>-canary` (Canary strategy only).
    pub canary: Option<Deployment>,
    /// The Service `<name>`.
    pub service: Service,
    /// The Ingress `<name>` (absent when another server owns the route).
    pub ingress: Option<Ingress>,
    /// The Role letting the gateway watch its policy ConfigMap (gateway only).
    pub gateway_role: Option<Role>,
    /// Binds [`Desired::gateway_role`] to the workload service account (gateway only).
    pub gateway_role_binding: Option<RoleBinding>,
    /// The namespace's shared workload service account (not owned by any one server).
    pub service_account: ServiceAccount,
    /// Egress to the remote URL's port (`spec.upstream` only).
    pub upstream_egress: Option<NetworkPolicy>,
}

/// Builds every object of `view`; `route_owned` is false when another server owns its route.
pub fn desired(view: &ServerView, cfg: &OperatorConfig, route_owned: bool) -> Desired {
    let gateway = view.spec.gateway_enabled();
    Desired {
        deployment: deployment(view, cfg, Track::Stable),
        canary: is_canary(&view.spec).then(|| deployment(view, cfg, Track::Canary)),
        service: service(view),
        ingress: route_owned.then(|| ingress(view, cfg)),
        gateway_role: gateway.then(|| gateway_role(view)),
        gateway_role_binding: gateway.then(|| gateway_role_binding(view)),
        service_account: workload_service_account(&view.namespace),
        upstream_egress: upstream_egress(view),
    }
}

/// The policy ConfigMap too, for snapshots and the benchmark: everything in apply order.
pub fn all_objects(desired: &Desired, policy: Option<&ConfigMap>) -> Vec<serde_json::Value> {
    fn v<T: serde::Serialize>(o: &T) -> serde_json::Value {
        serde_json::to_value(o).unwrap_or_default()
    }
    let mut out = vec![v(&desired.service_account)];
    out.extend(desired.gateway_role.iter().map(v));
    out.extend(desired.gateway_role_binding.iter().map(v));
    out.extend(policy.map(v));
    out.push(v(&desired.deployment));
    out.extend(desired.canary.iter().map(v));
    out.push(v(&desired.service));
    out.extend(desired.ingress.iter().map(v));
    out.extend(desired.upstream_egress.iter().map(v));
    out
}

/// True for the Canary rollout strategy.
pub fn is_canary(spec: &MCPServerSpec) -> bool {
    spec.rollout.as_ref().and_then(|r| r.strategy) == Some(mcp_api::RolloutStrategy::Canary)
}

#[cfg(test)]
mod tests;
