//! Status: what the operator observed, turned into `MCPServer.status` (phase, conditions,
//! readiness booleans, URL, policy revision, tool pins). Pure: the caller passes the observed
//! objects and the time.
//!
//! A condition keeps its `lastTransitionTime` while its status stays the same, so an unchanged
//! server produces an identical status and the controller can skip the write.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use mcp_api::{MCPServerStatus, Phase};

use crate::config::IngressReadiness;

/// Condition types, in the order they appear in status.
pub const CONDITION_TYPES: &[&str] = &[
    "DeploymentReady",
    "ServiceReady",
    "IngressReady",
    "GatewayReady",
    "PolicyReady",
    "CanaryReady",
    "ToolsPinned",
];

/// Readiness of one object, with a reason code and a human-readable message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Readiness {
    /// Ready or not.
    pub ready: bool,
    /// CamelCase reason.
    pub reason: String,
    /// Detail.
    pub message: String,
}

impl Readiness {
    fn new(ready: bool, reason: &str, message: impl Into<String>) -> Readiness {
        Readiness { ready, reason: reason.to_string(), message: message.into() }
    }
}

/// A Deployment is ready when its controller has seen the current spec and every desired
/// replica is ready.
pub fn deployment_readiness(d: Option<&Deployment>) -> Readiness {
    let Some(d) = d else { return Readiness::new(false, "NotFound", "the Deployment does not exist yet") };
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let status = d.status.clone().unwrap_or_default();
    let ready = status.ready_replicas.unwrap_or(0);
    let current = match (status.observed_generation, d.metadata.generation) {
        (Some(observed), Some(generation)) => observed >= generation,
        (None, Some(_)) => desired == 0,
        _ => true,
    };
    if current && ready >= desired {
        Readiness::new(true, "ReplicasReady", format!("{ready}/{desired} replicas ready"))
    } else {
        Readiness::new(false, "ReplicasNotReady", format!("{ready}/{desired} replicas ready"))
    }
}

/// A Service is ready once it has a cluster IP.
pub fn service_readiness(cluster_ip: Option<&str>) -> Readiness {
    match cluster_ip.filter(|ip| !ip.is_empty()) {
        Some(ip) => Readiness::new(true, "ClusterIPAssigned", format!("cluster IP {ip}")),
        None => Readiness::new(false, "ClusterIPPending", "no cluster IP assigned yet"),
    }
}

/// An Ingress is ready when the controller published an address (strict), or as soon as it
/// exists with rules (permissive).
pub fn ingress_readiness(ingress: Option<&Ingress>, mode: IngressReadiness) -> Readiness {
    let Some(ingress) = ingress else {
        return Readiness::new(false, "NotFound", "the Ingress does not exist yet");
    };
    let addresses = ingress
        .status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map_or(0, Vec::len);
    let has_rules = ingress.spec.as_ref().and_then(|s| s.rules.as_ref()).is_some_and(|r| !r.is_empty());
    match mode {
        _ if addresses > 0 => {
            Readiness::new(true, "AddressAssigned", "the ingress controller published an address")
        }
        IngressReadiness::Permissive if has_rules => {
            Readiness::new(true, "Admitted", "the Ingress exists (permissive readiness)")
        }
        _ => Readiness::new(
            false,
            "AddressPending",
            "waiting for the ingress controller to publish an address",
        ),
    }
}

/// What the gateways reported about tool definitions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Pins {
    /// No gateway has reported yet (not ready, unreachable, or no `tools/list` seen).
    #[default]
    Unknown,
    /// Pinned hash per tool; `drifted` lists tools whose definition changed since.
    Reported {
        /// `sha256:` of each tool's pinned definition, by name.
        pinned: BTreeMap<String, String>,
        /// Tools whose current definition differs from the pin (on any pod), sorted.
        drifted: Vec<String>,
    },
}

/// Everything observed in one reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The stable Deployment.
    pub deployment: Readiness,
    /// The canary Deployment (Canary strategy only).
    pub canary: Option<Readiness>,
    /// The Service.
    pub service: Readiness,
    /// The Ingress; `Err(message)` when another server owns the route.
    pub ingress: Result<Readiness, String>,
    /// The revision of the policy in force (gateway only; `None` when the gateway is off).
    pub policy_revision: Option<Option<String>>,
    /// Tool pins (gateway only).
    pub pins: Option<Pins>,
    /// The public MCP endpoint.
    pub url: Option<String>,
}

fn condition(
    type_: &str,
    r: &Readiness,
    generation: Option<i64>,
    prev: Option<&MCPServerStatus>,
    now: &Time,
) -> Condition {
    condition_with_status(type_, if r.ready { "True" } else { "False" }, r, generation, prev, now)
}

fn condition_with_status(
    type_: &str,
    status: &str,
    r: &Readiness,
    generation: Option<i64>,
    prev: Option<&MCPServerStatus>,
    now: &Time,
) -> Condition {
    let since = prev
        .and_then(|p| p.conditions.iter().find(|c| c.type_ == type_))
        .filter(|c| c.status == status)
        .map_or_else(|| now.clone(), |c| c.last_transition_time.clone());
    Condition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: r.reason.clone(),
        message: r.message.clone(),
        observed_generation: generation,
        last_transition_time: since,
    }
}

/// The status for what was observed. `prev` is the current status (for transition times and
/// to keep what this pass did not look at); `generation` is the server's `metadata.generation`.
pub fn compute(
    prev: Option<&MCPServerStatus>,
    generation: Option<i64>,
    obs: &Observed,
    now: &Time,
) -> MCPServerStatus {
    let gateway = obs.policy_revision.is_some();
    let mut conditions = vec![
        condition("DeploymentReady", &obs.deployment, generation, prev, now),
        condition("ServiceReady", &obs.service, generation, prev, now),
    ];
    let ingress = match &obs.ingress {
        Ok(r) => r.clone(),
        Err(message) => Readiness::new(false, "RouteConflict", message.clone()),
    };
    conditions.push(condition("IngressReady", &ingress, generation, prev, now));

    let gateway_ready = gateway && obs.deployment.ready;
    let policy = match &obs.policy_revision {
        Some(Some(revision)) => Readiness::new(true, "PolicyWritten", format!("revision {revision}")),
        _ => Readiness::new(false, "PolicyMissing", "the policy ConfigMap holds no valid policy yet"),
    };
    if gateway {
        let g = if gateway_ready {
            Readiness::new(true, "SidecarReady", "the mcp-gateway sidecar is ready in every replica")
        } else {
            Readiness::new(false, "SidecarNotReady", "waiting for the pods with the mcp-gateway sidecar")
        };
        conditions.push(condition("GatewayReady", &g, generation, prev, now));
        conditions.push(condition("PolicyReady", &policy, generation, prev, now));
    }
    if let Some(canary) = &obs.canary {
        conditions.push(condition("CanaryReady", canary, generation, prev, now));
    }
    let mut tool_pins = BTreeMap::new();
    if let Some(pins) = &obs.pins {
        let (status, r) = match pins {
            Pins::Unknown => {
                ("Unknown", Readiness::new(false, "NoReport", "no gateway has reported tool pins yet"))
            }
            Pins::Reported { pinned, drifted } if drifted.is_empty() => {
                tool_pins = pinned.clone();
                ("True", Readiness::new(true, "Pinned", format!("{} tool definitions pinned", pinned.len())))
            }
            Pins::Reported { pinned, drifted } => {
                tool_pins = pinned.clone();
                (
                    "False",
                    Readiness::new(
                        false,
                        "ToolDefinitionChanged",
                        format!("tool definitions changed since pinned: {}", drifted.join(", ")),
                    ),
                )
            }
        };
        conditions.push(condition_with_status("ToolsPinned", status, &r, generation, prev, now));
        if *pins == Pins::Unknown {
            // Keep what was last reported rather than forgetting it while pods restart.
            tool_pins = prev.map(|p| p.tool_pins.clone()).unwrap_or_default();
        }
    }

    let mut required = vec![("Deployment", obs.deployment.ready), ("Service", obs.service.ready)];
    required.push(("Ingress", ingress.ready));
    if gateway {
        required.push(("Gateway", gateway_ready));
        required.push(("Policy", policy.ready));
    }
    if let Some(canary) = &obs.canary {
        required.push(("Canary", canary.ready));
    }
    let waiting: Vec<&str> = required.iter().filter(|(_, ready)| !ready).map(|(name, _)| *name).collect();
    let (phase, message) = if let Err(conflict) = &obs.ingress {
        (Phase::Error, conflict.clone())
    } else if waiting.is_empty() {
        (Phase::Ready, "all objects are ready".to_string())
    } else if waiting.len() == required.len() {
        (Phase::Pending, format!("waiting for: {}", waiting.join(", ")))
    } else {
        (Phase::PartiallyReady, format!("waiting for: {}", waiting.join(", ")))
    };

    MCPServerStatus {
        phase: Some(phase),
        message: Some(message),
        observed_generation: generation,
        url: obs.url.clone(),
        policy_revision: obs.policy_revision.clone().flatten(),
        conditions,
        deployment_ready: obs.deployment.ready,
        service_ready: obs.service.ready,
        ingress_ready: ingress.ready,
        gateway_ready,
        policy_ready: gateway && policy.ready,
        canary_ready: obs.canary.as_ref().is_some_and(|c| c.ready),
        tool_pins,
    }
}

/// The status of a server that cannot be reconciled (invalid spec, or an error on the way):
/// phase `Error` with `message`; conditions and readiness as last observed.
pub fn failed(prev: Option<&MCPServerStatus>, generation: Option<i64>, message: &str) -> MCPServerStatus {
    let mut status = prev.cloned().unwrap_or_default();
    status.phase = Some(Phase::Error);
    status.message = Some(message.to_string());
    status.observed_generation = generation;
    status
}

#[cfg(test)]
mod tests;
