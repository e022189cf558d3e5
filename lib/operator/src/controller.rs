//! The MCPServer controller: watches servers, the objects they own, and every grant and
//! session (mapped to the server their `serverRef` names, in any namespace), and reconciles
//! each server into its desired objects.
//!
//! One reconcile, in order (stop at the first failure; the server is retried with backoff):
//! 1. Default and validate the spec; an invalid one gets phase `Error` with every problem and
//!    nothing is applied.
//! 2. Render the policy from the cached grants and sessions and write the ConfigMap only when
//!    the revision changed (or delete it when the gateway is off).
//! 3. Server-side apply the workload service account, the gateway's Role and RoleBinding, the
//!    Deployment(s), the Service and the Ingress (none when an older server owns the route).
//! 4. Read readiness from the applied objects and the tool pins from the gateways, and write
//!    status through the status subresource when it changed.
//!
//! Reconcile is a function of the current state, never of the event that triggered it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures::{Stream, StreamExt};
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event, watcher};
use kube::runtime::{WatchStreamExt, reflector::store::Writer};
use kube::{Client, Resource, ResourceExt};
use mcp_api::{MCPAccessGrant, MCPAgentSession, MCPServer, MCPServerStatus};
use mcp_policy::PlatformTrust;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::{mpsc, watch as tokio_watch};
use tracing::{debug, info, warn};

use crate::build::{self, PolicyPlan, ServerView};
use crate::config::{ObjectName, OperatorConfig};
use crate::error::{Error, is_not_found};
use crate::metrics::{ErrorLabels, Metrics, Outcome, PolicyLabels, PolicyOutcome};
use crate::names::{
    FIELD_MANAGER, MANAGED_SELECTOR, POLICY_KEY, canary_name, policy_name, upstream_egress_name,
};
use crate::pins::PinSource;
use crate::routes::{Claim, conflict_message, owner_of};
use crate::status::{self, Observed, Pins};

/// How long a reconcile waits for the caches (servers, grants, sessions, platform trust)
/// before it gives up and retries.
const CACHE_WAIT: Duration = Duration::from_secs(30);
/// Largest `policy.json` written: a ConfigMap (all its data and metadata) holds at most 1 MiB.
pub const MAX_POLICY_BYTES: usize = 1_000_000;
/// Shortest and longest retry delay after a failed reconcile.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Everything a reconcile needs.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// Cluster-level defaults.
    pub cfg: OperatorConfig,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Where tool pins come from.
    pub pins: Arc<dyn PinSource>,
    servers: Store<MCPServer>,
    grants: Store<MCPAccessGrant>,
    sessions: Store<MCPAgentSession>,
    platform: RwLock<Option<PlatformTrust>>,
    platform_ready: tokio_watch::Receiver<bool>,
    /// Failed attempts per server, for the retry backoff.
    failures: Mutex<HashMap<ObjectRef<MCPServer>, u32>>,
    /// Verified policy revisions by ConfigMap (namespace, name) and resource version, so an
    /// unchanged 10k-grant policy is not re-hashed on every pass.
    verified: Mutex<HashMap<(String, String), (String, String)>>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("cfg", &self.cfg).finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Server-side apply under the operator's field manager, forcing ownership of the fields.
async fn apply<K>(client: &Client, namespace: &str, object: &K) -> Result<K, Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + Serialize
        + DeserializeOwned
        + std::fmt::Debug,
{
    let name = object.meta().name.clone().unwrap_or_default();
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    api.patch(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(object))
        .await
        .map_err(|e| Error::api(format!("apply {} {namespace}/{name}", K::kind(&())), e))
}

/// Deletes an object; a missing one is fine. Returns whether something was deleted.
async fn delete_if_exists<K>(client: &Client, namespace: &str, name: &str) -> Result<bool, Error>
where
    K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(client.clone(), namespace);
    match api.delete(name, &DeleteParams::background()).await {
        Ok(_) => Ok(true),
        Err(e) if is_not_found(&e) => Ok(false),
        Err(e) => Err(Error::api(format!("delete {} {namespace}/{name}", K::kind(&())), e)),
    }
}

fn now() -> Time {
    let now = jiff::Timestamp::now();
    Time(jiff::Timestamp::from_second(now.as_second()).unwrap_or(now))
}

impl Context {
    async fn wait_ready(&self) -> Result<(), Error> {
        async fn wait<E>(fut: impl std::future::Future<Output = Result<(), E>>) -> bool {
            matches!(tokio::time::timeout(CACHE_WAIT, fut).await, Ok(Ok(())))
        }
        if !wait(self.servers.wait_until_ready()).await {
            return Err(Error::CacheNotReady("MCPServer"));
        }
        if !wait(self.grants.wait_until_ready()).await {
            return Err(Error::CacheNotReady("MCPAccessGrant"));
        }
        if !wait(self.sessions.wait_until_ready()).await {
            return Err(Error::CacheNotReady("MCPAgentSession"));
        }
        let mut platform = self.platform_ready.clone();
        if tokio::time::timeout(CACHE_WAIT, platform.wait_for(|ready| *ready)).await.is_err() {
            return Err(Error::CacheNotReady("platform trust ConfigMap"));
        }
        Ok(())
    }

    /// The server's route owner when it is not this server.
    fn route_conflict(&self, server: &MCPServer) -> Option<String> {
        let mine = Claim::of(server, &self.cfg)?;
        let claims: Vec<Claim> = self
            .servers
            .state()
            .iter()
            .filter(|s| {
                // Cheap pre-filter: only servers whose route could be the same.
                s.spec.effective_path(&s.name_any()) == mine.route.1
            })
            .filter_map(|s| Claim::of(s, &self.cfg))
            .collect();
        owner_of(&mine, &claims).map(|owner| conflict_message(&mine, owner))
    }

    /// Renders the server's policy and writes it when its revision changed. Returns the
    /// revision in force.
    async fn sync_policy(&self, server: &MCPServer, view: &ServerView) -> Result<String, Error> {
        let (grants, sessions) = policy_inputs(view, &self.grants.state(), &self.sessions.state());
        let platform = self.platform.read().unwrap_or_else(|p| p.into_inner()).clone();
        let generated_at = jiff::Timestamp::now().round(jiff::Unit::Second).ok().map(|t| t.to_string());
        let doc =
            mcp_policy::render(server, &grants, &sessions, &self.cfg.render_context(platform, generated_at))?;

        let name = policy_name(&view.name);
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), &view.namespace);
        let existing = api
            .get_opt(&name)
            .await
            .map_err(|e| Error::api(format!("get ConfigMap {}/{name}", view.namespace), e))?;
        let key = (view.namespace.clone(), name.clone());
        let cached = existing.as_ref().and_then(|cm| {
            let rv = cm.metadata.resource_version.as_deref()?;
            lock(&self.verified).get(&key).filter(|(v, _)| v == rv).map(|(_, revision)| revision.clone())
        });
        match build::plan_policy(view, existing.as_ref(), cached, &doc) {
            PolicyPlan::Unchanged => {
                self.metrics.policy.get_or_create(&PolicyLabels { outcome: PolicyOutcome::Unchanged }).inc();
                if let Some(rv) = existing.and_then(|cm| cm.metadata.resource_version) {
                    lock(&self.verified).insert(key, (rv, doc.revision.clone()));
                }
            }
            PolicyPlan::Write { config_map, previous } => {
                let bytes = config_map.data.as_ref().and_then(|d| d.get(POLICY_KEY)).map_or(0, String::len);
                if bytes > MAX_POLICY_BYTES {
                    return Err(Error::PolicyTooLarge {
                        bytes,
                        limit: MAX_POLICY_BYTES,
                        grants: grants.len(),
                        sessions: sessions.len(),
                    });
                }
                let written = apply(&self.client, &view.namespace, &*config_map).await?;
                info!(
                    server = %view.name, namespace = %view.namespace, revision = %doc.revision,
                    previous = previous.as_deref().unwrap_or("none"), grants = grants.len(),
                    sessions = sessions.len(), "policy written"
                );
                self.metrics.policy.get_or_create(&PolicyLabels { outcome: PolicyOutcome::Written }).inc();
                if let Some(rv) = written.metadata.resource_version {
                    lock(&self.verified).insert(key, (rv, doc.revision.clone()));
                }
            }
        }
        Ok(doc.revision)
    }

    /// Removes the policy ConfigMap and the gateway's RBAC (the gateway was turned off).
    async fn remove_gateway_objects(&self, view: &ServerView) -> Result<(), Error> {
        let name = policy_name(&view.name);
        if delete_if_exists::<ConfigMap>(&self.client, &view.namespace, &name).await? {
            self.metrics.policy.get_or_create(&PolicyLabels { outcome: PolicyOutcome::Deleted }).inc();
        }
        lock(&self.verified).remove(&(view.namespace.clone(), name.clone()));
        delete_if_exists::<RoleBinding>(&self.client, &view.namespace, &name).await?;
        delete_if_exists::<Role>(&self.client, &view.namespace, &name).await?;
        Ok(())
    }

    async fn write_status(&self, server: &MCPServer, status: MCPServerStatus) -> Result<(), Error> {
        if server.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let (name, namespace) = (server.name_any(), server.namespace().unwrap_or_default());
        let api: Api<MCPServer> = Api::namespaced(self.client.clone(), &namespace);
        let patch = serde_json::json!({
            "apiVersion": "mcpruntime.org/v1alpha1",
            "kind": "MCPServer",
            "status": status,
        });
        api.patch_status(&name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&patch))
            .await
            .map_err(|e| Error::api(format!("write status of MCPServer {namespace}/{name}"), e))?;
        Ok(())
    }
}

/// The grants and sessions (from the caches) whose `serverRef` resolves to `view`'s server:
/// by name, in the given namespace or, without one, the referring object's own.
pub fn policy_inputs(
    view: &ServerView,
    grants: &[Arc<MCPAccessGrant>],
    sessions: &[Arc<MCPAgentSession>],
) -> (Vec<MCPAccessGrant>, Vec<MCPAgentSession>) {
    let refers = |r: &mcp_api::ServerRef, ns: Option<&str>| {
        r.name == view.name && r.namespace_or(ns.unwrap_or_default()) == view.namespace
    };
    let grants = grants
        .iter()
        .filter(|g| refers(&g.spec.server_ref, g.metadata.namespace.as_deref()))
        .map(|g| (**g).clone())
        .collect();
    let sessions = sessions
        .iter()
        .filter(|s| refers(&s.spec.server_ref, s.metadata.namespace.as_deref()))
        .map(|s| (**s).clone())
        .collect();
    (grants, sessions)
}

/// One reconcile of one server (see the module docs for the steps).
pub async fn reconcile(server: Arc<MCPServer>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = Instant::now();
    let result = reconcile_inner(&server, &ctx).await;
    let seconds = started.elapsed().as_secs_f64();
    match &result {
        Ok((_, outcome)) => {
            ctx.metrics.reconciled(*outcome, seconds);
            lock(&ctx.failures).remove(&ObjectRef::from_obj(&*server));
        }
        Err(err) => {
            ctx.metrics.reconciled(Outcome::Error, seconds);
            ctx.metrics.errors.get_or_create(&ErrorLabels { error: err.kind() }).inc();
        }
    }
    result.map(|(action, _)| action)
}

async fn reconcile_inner(server: &MCPServer, ctx: &Context) -> Result<(Action, Outcome), Error> {
    ctx.wait_ready().await?;
    let generation = server.metadata.generation;
    let view = match ServerView::new(server, &ctx.cfg) {
        Ok(view) => view,
        Err(err) => {
            warn!(server = %server.name_any(), namespace = server.namespace().unwrap_or_default(), error = %err, "cannot reconcile");
            ctx.write_status(server, status::failed(server.status.as_ref(), generation, &err.to_string()))
                .await?;
            return Ok((Action::await_change(), Outcome::Invalid));
        }
    };
    match reconcile_view(server, &view, ctx).await {
        Ok(done) => Ok(done),
        Err(err) => {
            // Best effort: say what failed in status; the retry comes from the error policy.
            let failed = status::failed(server.status.as_ref(), generation, &err.to_string());
            if let Err(status_err) = ctx.write_status(server, failed).await {
                debug!(server = %view.name, error = %status_err, "cannot record the failure in status");
            }
            Err(err)
        }
    }
}

async fn reconcile_view(
    server: &MCPServer,
    view: &ServerView,
    ctx: &Context,
) -> Result<(Action, Outcome), Error> {
    let (client, ns) = (&ctx.client, view.namespace.as_str());
    let gateway = view.spec.gateway_enabled();
    let conflict = ctx.route_conflict(server);
    let desired = build::desired(view, &ctx.cfg, conflict.is_none());

    let policy_revision = if gateway {
        let revision = ctx.sync_policy(server, view).await?;
        Some(Some(revision))
    } else {
        ctx.remove_gateway_objects(view).await?;
        None
    };

    apply::<ServiceAccount>(client, ns, &desired.service_account).await?;
    if let (Some(role), Some(binding)) = (&desired.gateway_role, &desired.gateway_role_binding) {
        apply(client, ns, role).await?;
        apply(client, ns, binding).await?;
    }
    let deployment = apply(client, ns, &desired.deployment).await?;
    let canary = match &desired.canary {
        Some(canary) => Some(apply(client, ns, canary).await?),
        None => {
            delete_if_exists::<Deployment>(client, ns, &canary_name(&view.name)).await?;
            None
        }
    };
    let service = apply(client, ns, &desired.service).await?;
    match &desired.upstream_egress {
        Some(policy) => {
            apply(client, ns, policy).await?;
        }
        None => {
            delete_if_exists::<NetworkPolicy>(client, ns, &upstream_egress_name(&view.name)).await?;
        }
    }
    let ingress = match &desired.ingress {
        Some(ingress) => Some(apply(client, ns, ingress).await?),
        None => {
            if delete_if_exists::<Ingress>(client, ns, &view.name).await? {
                warn!(server = %view.name, namespace = ns, "route owned by another server: Ingress removed");
            }
            None
        }
    };

    let deployment_ready = status::deployment_readiness(Some(&deployment));
    let pins = if gateway && deployment_ready.ready {
        Some(ctx.pins.pins(view).await)
    } else {
        gateway.then_some(Pins::Unknown)
    };
    let observed = Observed {
        deployment: deployment_ready,
        canary: desired.canary.is_some().then(|| status::deployment_readiness(canary.as_ref())),
        service: status::service_readiness(service.spec.as_ref().and_then(|s| s.cluster_ip.as_deref())),
        ingress: match conflict {
            Some(message) => Err(message),
            None => Ok(status::ingress_readiness(ingress.as_ref(), ctx.cfg.ingress_readiness)),
        },
        policy_revision,
        pins,
        url: build::public_url(view, &ctx.cfg),
    };
    let next = status::compute(server.status.as_ref(), server.metadata.generation, &observed, &now());
    let ready = next.phase == Some(mcp_api::Phase::Ready);
    if server.status.as_ref().and_then(|s| s.phase) != next.phase {
        info!(server = %view.name, namespace = ns, phase = ?next.phase, message = next.message.as_deref().unwrap_or(""), "phase changed");
    }
    ctx.write_status(server, next).await?;
    let action = if ready { Action::requeue(ctx.cfg.resync) } else { Action::requeue(ctx.cfg.requeue_delay) };
    Ok((action, Outcome::Success))
}

/// The retry policy after a failed reconcile: exponential per server, from 0.5 s up to
/// 5 minutes, reset by the next success.
pub fn error_policy(server: Arc<MCPServer>, err: &Error, ctx: Arc<Context>) -> Action {
    let attempts = {
        let mut failures = lock(&ctx.failures);
        let n = failures.entry(ObjectRef::from_obj(&*server)).or_insert(0);
        *n = n.saturating_add(1);
        *n
    };
    let delay = backoff(attempts);
    warn!(
        server = %server.name_any(), namespace = server.namespace().unwrap_or_default(),
        error = %err, kind = ?err.kind(), attempts, retry_in_ms = delay.as_millis() as u64,
        "reconcile failed"
    );
    Action::requeue(delay)
}

/// The delay before attempt `attempts + 1`.
pub fn backoff(attempts: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempts.saturating_sub(1).min(20));
    BACKOFF_MIN.saturating_mul(factor).min(BACKOFF_MAX)
}

/// Maps a grant or session to the server it references, and to the server it referenced
/// before when its `serverRef` moved (so the old server drops it).
fn referenced_servers<K: ResourceExt>(
    seen: &Mutex<HashMap<String, ObjectRef<MCPServer>>>,
    object: &K,
    server_ref: &mcp_api::ServerRef,
) -> Vec<ObjectRef<MCPServer>> {
    let own_ns = object.namespace().unwrap_or_default();
    let target = ObjectRef::new(&server_ref.name).within(server_ref.namespace_or(&own_ns));
    let mut out = vec![target.clone()];
    if let Some(uid) = object.uid() {
        let previous = lock(seen).insert(uid, target.clone());
        if let Some(previous) = previous.filter(|p| *p != target) {
            out.push(previous);
        }
    }
    out
}

/// A reflector over `api` feeding `writer`, as a stream of touched objects for
/// `Controller::watches_stream`.
fn cached<K>(api: Api<K>, writer: Writer<K>) -> impl Stream<Item = Result<K, watcher::Error>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    reflector::reflector(writer, watcher(api, watcher::Config::default()).default_backoff()).touched_objects()
}

pub use mcp_operator_core::trust::parse_platform_trust;

/// Watches the platform trust ConfigMap: keeps `ctx.platform` current, marks it loaded after
/// the first list, and asks for every server to be reconciled when the trust changes.
async fn watch_platform_trust(
    client: Client,
    name: ObjectName,
    ctx: Arc<Context>,
    ready: tokio_watch::Sender<bool>,
    changed: mpsc::Sender<()>,
) {
    let api: Api<ConfigMap> = Api::namespaced(client, &name.namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={}", name.name));
    let mut events = watcher(api, config).default_backoff().boxed();
    let set = |trust: Option<PlatformTrust>| {
        let mut slot = ctx.platform.write().unwrap_or_else(|p| p.into_inner());
        if *slot != trust {
            *slot = trust;
            let _ = changed.try_send(());
        }
    };
    let mut seen = false;
    while let Some(event) = events.next().await {
        match event {
            Ok(Event::Init) => seen = false,
            Ok(Event::InitApply(cm) | Event::Apply(cm)) => {
                seen = true;
                match parse_platform_trust(&cm) {
                    Ok(trust) => set(Some(trust)),
                    Err(reason) => {
                        warn!(configmap = %name, %reason, "invalid platform trust; keeping the previous one")
                    }
                }
            }
            Ok(Event::Delete(_)) => {
                warn!(configmap = %name, "platform trust ConfigMap deleted: policies no longer carry platform keys");
                set(None);
            }
            Ok(Event::InitDone) => {
                if !seen {
                    warn!(configmap = %name, "platform trust ConfigMap not found: policies carry no platform keys until it exists");
                    set(None);
                }
                let _ = ready.send(true);
            }
            Err(err) => warn!(configmap = %name, error = %err, "watching the platform trust ConfigMap"),
        }
    }
}

/// Runs the controller until `shutdown` resolves (finishing reconciles in flight).
pub async fn run(
    client: Client,
    cfg: OperatorConfig,
    metrics: Arc<Metrics>,
    pins: Arc<dyn PinSource>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) {
    let (grants, grant_writer) = reflector::store();
    let (sessions, session_writer) = reflector::store();
    let (platform_ready_tx, platform_ready) = tokio_watch::channel(cfg.platform_trust.is_none());
    let (resync_tx, mut resync_rx) = mpsc::channel::<()>(1);

    let servers_api: Api<MCPServer> = Api::all(client.clone());
    let owned = watcher::Config::default().labels(MANAGED_SELECTOR);
    let controller = Controller::new(servers_api, watcher::Config::default())
        .with_config(ControllerConfig::default().debounce(Duration::from_millis(100)).concurrency(8));
    let ctx = Arc::new(Context {
        client: client.clone(),
        metrics,
        pins,
        servers: controller.store(),
        grants,
        sessions,
        platform: RwLock::new(None),
        platform_ready,
        failures: Mutex::new(HashMap::new()),
        verified: Mutex::new(HashMap::new()),
        cfg,
    });
    if let Some(name) = ctx.cfg.platform_trust.clone() {
        tokio::spawn(watch_platform_trust(client.clone(), name, ctx.clone(), platform_ready_tx, resync_tx));
    } else {
        drop(resync_tx);
    }

    let grant_seen = Arc::new(Mutex::new(HashMap::new()));
    let session_seen = Arc::new(Mutex::new(HashMap::new()));
    let resync = futures::stream::poll_fn(move |cx| resync_rx.poll_recv(cx));
    info!("controller started");
    controller
        .owns(Api::<Deployment>::all(client.clone()), owned.clone())
        .owns(Api::<Service>::all(client.clone()), owned.clone())
        .owns(Api::<Ingress>::all(client.clone()), owned.clone())
        .owns(Api::<ConfigMap>::all(client.clone()), owned)
        .watches_stream(cached(Api::<MCPAccessGrant>::all(client.clone()), grant_writer), move |g| {
            referenced_servers(&grant_seen, &g, &g.spec.server_ref)
        })
        .watches_stream(cached(Api::<MCPAgentSession>::all(client.clone()), session_writer), move |s| {
            referenced_servers(&session_seen, &s, &s.spec.server_ref)
        })
        .reconcile_all_on(resync)
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                debug!(error = %err, "controller event");
            }
        })
        .await;
    info!("controller stopped");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_five_minutes() {
        assert_eq!(backoff(1), Duration::from_millis(500));
        assert_eq!(backoff(2), Duration::from_secs(1));
        assert_eq!(backoff(4), Duration::from_secs(4));
        assert_eq!(backoff(40), Duration::from_secs(300));
    }

    #[test]
    fn platform_trust_parses_from_its_configmap() {
        let mut cm = ConfigMap::default();
        assert!(parse_platform_trust(&cm).is_err());
        cm.data = Some(
            [
                ("issuer".to_string(), "https://platform.example.com".to_string()),
                ("jwks.json".to_string(), r#"{"keys": []}"#.to_string()),
            ]
            .into(),
        );
        let trust = parse_platform_trust(&cm).expect("valid");
        assert_eq!(trust.issuer, "https://platform.example.com");
        cm.data.as_mut().expect("data").insert("jwks.json".into(), "nope".into());
        assert!(parse_platform_trust(&cm).expect_err("invalid").contains("jwks.json"));
    }
}
