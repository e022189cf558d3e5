//! Server-side apply of rendered objects, in order, and waiting for the workloads.

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use serde_json::Value;

use crate::manifests::{cluster_scoped, describe};

/// Why an object could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The object's `apiVersion` is malformed.
    #[error("{object}: apiVersion {api_version:?} is not <group>/<version> or <version>")]
    ApiVersion {
        /// The object.
        object: String,
        /// Its apiVersion.
        api_version: String,
    },
    /// The API server refused the object (the ones before it are applied; running setup again
    /// applies the rest, apply is idempotent).
    #[error("{object}: {message} ({applied} object(s) before it were applied; fix and run again)")]
    Refused {
        /// The object.
        object: String,
        /// The API server's message.
        message: String,
        /// How many objects were applied before it.
        applied: usize,
    },
}

/// One applied object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// `Kind namespace/name`.
    pub object: String,
    /// Created, changed or unchanged (by `resourceVersion`).
    pub outcome: &'static str,
}

fn resource(object: &Value) -> Result<ApiResource, ApplyError> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    let (group, version) = match api_version.split_once('/') {
        Some((g, v)) if !g.is_empty() && !v.is_empty() && !v.contains('/') => (g, v),
        None if !api_version.is_empty() => ("", api_version),
        _ => {
            return Err(ApplyError::ApiVersion {
                object: describe(object),
                api_version: api_version.to_string(),
            });
        }
    };
    Ok(ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind)))
}

fn api_for(client: &kube::Client, object: &Value, ar: &ApiResource) -> Api<DynamicObject> {
    let kind = object["kind"].as_str().unwrap_or_default();
    if cluster_scoped(kind) {
        Api::all_with(client.clone(), ar)
    } else {
        let ns = object["metadata"]["namespace"].as_str().unwrap_or(client.default_namespace());
        Api::namespaced_with(client.clone(), ns, ar)
    }
}

/// Applies `objects` (already in [`crate::order`]) one by one with server-side apply as
/// `field_manager`, taking ownership of conflicting fields (setup owns the installation).
/// Stops at the first refusal.
pub async fn apply(
    client: &kube::Client,
    objects: &[Value],
    field_manager: &str,
) -> Result<Vec<Applied>, ApplyError> {
    let params = PatchParams::apply(field_manager).force();
    let mut applied = Vec::new();
    for object in objects {
        let ar = resource(object)?;
        let api = api_for(client, object, &ar);
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let refused = |e: kube::Error, applied: usize| ApplyError::Refused {
            object: describe(object),
            message: match e {
                kube::Error::Api(status) => status.message,
                other => other.to_string(),
            },
            applied,
        };
        let before = api.get_opt(name).await.map_err(|e| refused(e, applied.len()))?;
        let after =
            api.patch(name, &params, &Patch::Apply(object)).await.map_err(|e| refused(e, applied.len()))?;
        let outcome = match before {
            None => "created",
            Some(b) if b.metadata.resource_version == after.metadata.resource_version => "unchanged",
            Some(_) => "configured",
        };
        applied.push(Applied { object: describe(object), outcome });
    }
    Ok(applied)
}

/// A workload of the installation that is not ready yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    /// `Kind namespace/name`.
    pub object: String,
    /// What its status says.
    pub message: String,
}

/// Waits until every Deployment and StatefulSet among `objects` is ready, or `timeout` passes;
/// returns the ones still not ready.
pub async fn wait_ready(
    client: &kube::Client,
    objects: &[Value],
    timeout: Duration,
) -> Result<Vec<NotReady>, kube::Error> {
    let deadline = Instant::now() + timeout;
    loop {
        let mut waiting = Vec::new();
        for object in objects {
            let (Some(ns), Some(name)) =
                (object["metadata"]["namespace"].as_str(), object["metadata"]["name"].as_str())
            else {
                continue;
            };
            let message = match object["kind"].as_str() {
                Some("Deployment") => {
                    let d = Api::<Deployment>::namespaced(client.clone(), ns).get_opt(name).await?;
                    let r = mcp_operator_core::status::deployment_readiness(d.as_ref());
                    (!r.ready).then_some(r.message)
                }
                Some("StatefulSet") => {
                    let s = Api::<StatefulSet>::namespaced(client.clone(), ns).get_opt(name).await?;
                    statefulset_readiness(s.as_ref()).err()
                }
                _ => None,
            };
            if let Some(message) = message {
                waiting.push(NotReady { object: describe(object), message });
            }
        }
        if waiting.is_empty() || Instant::now() >= deadline {
            return Ok(waiting);
        }
        tokio::time::sleep(Duration::from_secs(2).min(deadline.saturating_duration_since(Instant::now())))
            .await;
    }
}

/// Ready when the controller saw the current spec and every replica is ready.
pub fn statefulset_readiness(s: Option<&StatefulSet>) -> Result<String, String> {
    let Some(s) = s else { return Err("the StatefulSet does not exist".into()) };
    let desired = s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let status = s.status.clone().unwrap_or_default();
    let ready = status.ready_replicas.unwrap_or(0);
    let current = match (status.observed_generation, s.metadata.generation) {
        (Some(o), Some(g)) => o >= g,
        (None, Some(_)) => desired == 0,
        _ => true,
    };
    let text = format!("{ready}/{desired} replicas ready");
    if current && ready >= desired { Ok(text) } else { Err(text) }
}
