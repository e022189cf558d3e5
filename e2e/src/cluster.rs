//! The cluster target (`mcp-e2e --kind`): the same scenarios against a cluster that
//! `cargo xtask kind up --test-mode` installed. Fixtures are applied through the Kubernetes
//! API (server-side apply, field manager `mcp-e2e`), the operator renders the policies, and a
//! patch step is done when every gateway pod of the affected servers serves the new revision
//! (read from each pod's `/config/status` on the gateway's admin port, through the API server's
//! pod proxy).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

/// Field manager of everything the harness writes.
pub const FIELD_MANAGER: &str = "mcp-e2e";
/// The gateway's admin port (`/config/status`; the operator's container port `admin`).
const GATEWAY_ADMIN_PORT: i32 = mcp_api::GATEWAY_ADMIN_PORT;

/// A connection to the cluster.
#[derive(Clone)]
pub struct Cluster {
    client: kube::Client,
}

/// What the harness reads of a ready MCPServer.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerState {
    /// `status.url`: the public MCP URL (token audience).
    pub url: String,
    /// `status.policyRevision`.
    pub revision: Option<String>,
}

impl Cluster {
    /// Connects with the kubeconfig context `context` (the current one when `None`).
    pub async fn connect(context: Option<&str>) -> Result<Cluster> {
        let options = KubeConfigOptions { context: context.map(str::to_string), ..Default::default() };
        let kubeconfig = Kubeconfig::read().context("read the kubeconfig (KUBECONFIG or ~/.kube/config)")?;
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .with_context(|| format!("kubeconfig context {:?}", context.unwrap_or("(current)")))?;
        let client = kube::Client::try_from(config).context("Kubernetes client")?;
        Ok(Cluster { client })
    }

    /// A cluster reached through `client` (tests use the in-memory API server).
    #[cfg(test)]
    pub fn with_client(client: kube::Client) -> Cluster {
        Cluster { client }
    }

    fn api(&self, object: &Value) -> Result<(Api<DynamicObject>, String)> {
        let (group, version) = match object["apiVersion"].as_str().unwrap_or_default().split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), object["apiVersion"].as_str().unwrap_or_default().to_string()),
        };
        let kind = object["kind"].as_str().context("object without kind")?;
        let name = object["metadata"]["name"].as_str().context("object without metadata.name")?;
        let resource = ApiResource::from_gvk(&GroupVersionKind::gvk(&group, &version, kind));
        let api = match object["metadata"]["namespace"].as_str() {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, &resource),
            None => Api::all_with(self.client.clone(), &resource),
        };
        Ok((api, name.to_string()))
    }

    /// Creates the namespace when missing.
    pub async fn ensure_namespace(&self, name: &str) -> Result<()> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
        api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&ns))
            .await
            .with_context(|| format!("apply namespace {name}"))?;
        Ok(())
    }

    /// Server-side applies `object` as the harness's field manager.
    pub async fn apply(&self, object: &Value) -> Result<()> {
        let (api, name) = self.api(object)?;
        api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(object))
            .await
            .with_context(|| format!("apply {} {name}", object["kind"].as_str().unwrap_or_default()))?;
        Ok(())
    }

    /// Applies an RFC 7386 merge patch to `object` (identified by its apiVersion, kind,
    /// namespace and name).
    pub async fn merge(&self, object: &Value, patch: &Value) -> Result<()> {
        let (api, name) = self.api(object)?;
        api.patch(&name, &PatchParams::default(), &Patch::Merge(patch))
            .await
            .with_context(|| format!("patch {} {name}", object["kind"].as_str().unwrap_or_default()))?;
        Ok(())
    }

    /// Deletes `object`; gone already is fine.
    pub async fn delete(&self, object: &Value) -> Result<()> {
        let (api, name) = self.api(object)?;
        match api.delete(&name, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(err) => Err(err).with_context(|| format!("delete {name}")),
        }
    }

    /// Writes the platform trust ConfigMap (`issuer`, `jwks.json`) the operator reads. Keys
    /// already there under other key ids (the platform's own, published by its Kubernetes
    /// backend) are kept, so tokens the platform issues stay valid beside the test key's.
    pub async fn write_platform_trust(
        &self,
        namespace: &str,
        name: &str,
        issuer: &str,
        jwks: &Value,
    ) -> Result<()> {
        self.ensure_namespace(namespace).await?;
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        let existing =
            api.get_opt(name).await.with_context(|| format!("get ConfigMap {namespace}/{name}"))?;
        let jwks =
            merge_keys(existing.as_ref().and_then(|cm| cm.data.as_ref()?.get("jwks.json").cloned()), jwks);
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"issuer": issuer, "jwks.json": jwks.to_string()},
        });
        api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&cm))
            .await
            .with_context(|| format!("apply ConfigMap {namespace}/{name}"))?;
        Ok(())
    }

    /// The MCPServer's URL and revision once its phase is `Ready`.
    pub async fn server_state(&self, namespace: &str, name: &str) -> Result<Option<ServerState>> {
        let resource =
            ApiResource::from_gvk(&GroupVersionKind::gvk("mcpruntime.org", "v1alpha1", "MCPServer"));
        let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &resource);
        let Some(server) =
            api.get_opt(name).await.with_context(|| format!("get MCPServer {namespace}/{name}"))?
        else {
            return Ok(None);
        };
        let status = &server.data["status"];
        if status["phase"] == "Error" {
            bail!(
                "MCPServer {namespace}/{name} is in Error: {}",
                status["message"].as_str().unwrap_or("(no message)")
            );
        }
        if status["phase"] != "Ready" {
            return Ok(None);
        }
        let Some(url) = status["url"].as_str() else { return Ok(None) };
        Ok(Some(ServerState {
            url: url.to_string(),
            revision: status["policyRevision"].as_str().map(str::to_string),
        }))
    }

    /// Waits until the MCPServer is `Ready` (and, with `not_revision`, reports a revision other
    /// than that one).
    pub async fn wait_server(
        &self,
        namespace: &str,
        name: &str,
        not_revision: Option<&str>,
        timeout: Duration,
    ) -> Result<ServerState> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(state) = self.server_state(namespace, name).await?
                && (not_revision.is_none() || state.revision.as_deref() != not_revision)
            {
                return Ok(state);
            }
            if Instant::now() > deadline {
                bail!("MCPServer {namespace}/{name} not Ready with a new policy within {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The policy revision each running gateway of `server` serves (`/config/status` on the
    /// admin port, through the pod proxy); `None` for a pod that did not answer.
    pub async fn gateway_revisions(&self, namespace: &str, server: &str) -> Result<Vec<Option<String>>> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let selector = format!("mcpruntime.org/server={server}");
        let list = pods.list(&ListParams::default().labels(&selector)).await.context("list gateway pods")?;
        let mut out = Vec::new();
        for pod in list.items {
            let running = pod.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running");
            let Some(name) = pod.metadata.name.filter(|_| running) else { continue };
            let path = format!(
                "/api/v1/namespaces/{namespace}/pods/{name}:{GATEWAY_ADMIN_PORT}/proxy/config/status"
            );
            let request = http::Request::get(path).body(Vec::new()).context("proxy request")?;
            let revision = match self.client.request_text(request).await {
                Ok(text) => serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["revision"].as_str().map(str::to_string)),
                Err(_) => None,
            };
            out.push(revision);
        }
        Ok(out)
    }

    /// Waits until every running gateway pod of `server` serves `revision`.
    pub async fn wait_gateways(
        &self,
        namespace: &str,
        server: &str,
        revision: &str,
        timeout: Duration,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let seen = self.gateway_revisions(namespace, server).await?;
            if !seen.is_empty() && seen.iter().all(|r| r.as_deref() == Some(revision)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "the gateways of {namespace}/{server} serve {seen:?}, not {revision}, after {timeout:?}"
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The RFC 7386 merge patch that turns `from` into `to`.
pub fn merge_diff(from: &Value, to: &Value) -> Value {
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut out = serde_json::Map::new();
            for (key, value) in b {
                match a.get(key) {
                    Some(old) if old == value => {}
                    Some(old) => {
                        out.insert(key.clone(), merge_diff(old, value));
                    }
                    None => {
                        out.insert(key.clone(), value.clone());
                    }
                }
            }
            for key in a.keys() {
                if !b.contains_key(key) {
                    out.insert(key.clone(), Value::Null);
                }
            }
            Value::Object(out)
        }
        _ => to.clone(),
    }
}

/// The namespaces of `objects`, each once.
pub fn namespaces(objects: &[Value]) -> Vec<String> {
    let names: BTreeSet<&str> = objects.iter().filter_map(|o| o["metadata"]["namespace"].as_str()).collect();
    names.into_iter().map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_diff_undoes_a_patch() {
        let before = json!({"spec": {"a": 1, "rules": [1, 2], "gone": "x"}, "keep": true});
        let after = json!({"spec": {"a": 2, "rules": [3], "new": {"b": 1}}, "keep": true});
        let diff = merge_diff(&before, &after);
        assert_eq!(diff, json!({"spec": {"a": 2, "rules": [3], "new": {"b": 1}, "gone": null}}));
        let mut patched = before.clone();
        crate::stack::merge_patch(&mut patched, &diff);
        assert_eq!(patched, after);
    }
}

/// `ours` plus the keys of `existing` (a `jwks.json` text) whose `kid` `ours` does not have.
fn merge_keys(existing: Option<String>, ours: &Value) -> Value {
    let mine: Vec<Value> = ours["keys"].as_array().cloned().unwrap_or_default();
    let kid = |k: &Value| k["kid"].as_str().map(str::to_string);
    let taken: Vec<Option<String>> = mine.iter().map(kid).collect();
    let others: Vec<Value> = existing
        .and_then(|text| serde_json::from_str::<Value>(&text).ok())
        .and_then(|v| v["keys"].as_array().cloned())
        .unwrap_or_default()
        .into_iter()
        .filter(|k| !taken.contains(&kid(k)))
        .collect();
    json!({"keys": mine.into_iter().chain(others).collect::<Vec<_>>()})
}

#[cfg(test)]
mod trust_tests {
    use super::*;

    #[test]
    fn the_platform_keys_already_published_are_kept_beside_the_test_key() {
        let existing =
            json!({"keys": [{"kid": "platform-1", "x": "a"}, {"kid": "e2e", "x": "old"}]}).to_string();
        let merged = merge_keys(Some(existing), &json!({"keys": [{"kid": "e2e", "x": "new"}]}));
        assert_eq!(merged, json!({"keys": [{"kid": "e2e", "x": "new"}, {"kid": "platform-1", "x": "a"}]}));
        assert_eq!(merge_keys(None, &json!({"keys": []})), json!({"keys": []}));
        assert_eq!(
            merge_keys(Some("not json".into()), &json!({"keys": [{"kid": "e2e"}]}))["keys"]
                .as_array()
                .map(Vec::len),
            Some(1)
        );
    }
}
