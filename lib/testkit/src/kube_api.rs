//! An in-memory Kubernetes API server on loopback, for testing code that talks to Kubernetes
//! through the real `kube` client stack (HTTP/1.1, list + streaming watch, server-side apply).
//!
//! No Kubernetes API server can be installed on our machines, so operator and gateway tests
//! point a `kube::Client` at [`FakeApiServer`] instead ([`FakeApiServer::client`], or a
//! kubeconfig file from [`FakeApiServer::write_kubeconfig`] for code that builds its own client).
//!
//! What it implements, for any resource in its table ([`FakeApiServer::resources`]):
//! - `GET` one object, `LIST` (all namespaces or one; equality `labelSelector`s and
//!   `metadata.name` / `metadata.namespace` `fieldSelector`s) and `WATCH` (`watch=true`, from a
//!   `resourceVersion`, honouring `timeoutSeconds`; without a version it first sends `ADDED` for
//!   what exists, as the real server does).
//! - `POST` (409 when the object exists), `PUT` (409 on a stale `resourceVersion`), `DELETE`
//!   (finalizers respected; owner-reference garbage collection emulated at once: dependents
//!   whose owners are all gone are deleted too).
//! - `PATCH` as server-side apply (`application/apply-patch+yaml`, JSON body): the applied
//!   object replaces the previous content outside `metadata` and `status` (one field manager
//!   owns everything it applies); labels and annotations are merged; a Service keeps its
//!   allocated `clusterIP`. JSON merge patches (`merge-patch+json`, `strategic-merge-patch+json`
//!   treated alike). Both on the object and on its `status` subresource, which are separate:
//!   writes to the object never change `status`, writes to `/status` change nothing else.
//! - A write that changes nothing is a no-op: same `resourceVersion`, no watch event (so a
//!   controller that re-applies identical objects does not wake itself up).
//! - `metadata.generation` moves when anything outside `metadata` and `status` changes;
//!   Services get a cluster IP on creation; `GET /version` answers.
//!
//! Tests can seed and inspect objects directly ([`FakeApiServer::put`], [`FakeApiServer::get`]),
//! read every request the server answered ([`FakeApiServer::requests`]: verb, resource, name,
//! body, status; enough to check RBAC rules against), and inject failures ([`Fault`]).
//!
//! What it does not do: authentication or authorization (every request is allowed), admission,
//! schema validation or defaulting, field ownership between several managers, pagination,
//! bookmarks, `410 Gone`.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A resource the server knows: API group, plural name, kind, and whether it is namespaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceType {
    /// API group (`""` for the core group).
    pub group: &'static str,
    /// Version served (`v1`, `v1alpha1`, ...).
    pub version: &'static str,
    /// Plural resource name, as in URLs.
    pub plural: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Namespaced (else cluster-scoped).
    pub namespaced: bool,
}

impl ResourceType {
    /// `v1` or `<group>/<version>`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }
}

const fn res(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
) -> ResourceType {
    ResourceType { group, version, plural, kind, namespaced }
}

/// Every resource the server serves.
const RESOURCES: &[ResourceType] = &[
    res("", "v1", "configmaps", "ConfigMap", true),
    res("", "v1", "secrets", "Secret", true),
    res("", "v1", "services", "Service", true),
    res("", "v1", "serviceaccounts", "ServiceAccount", true),
    res("", "v1", "pods", "Pod", true),
    res("", "v1", "events", "Event", true),
    res("", "v1", "namespaces", "Namespace", false),
    res("", "v1", "resourcequotas", "ResourceQuota", true),
    res("", "v1", "limitranges", "LimitRange", true),
    res("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true),
    res("events.k8s.io", "v1", "events", "Event", true),
    res("apps", "v1", "deployments", "Deployment", true),
    res("apps", "v1", "statefulsets", "StatefulSet", true),
    res("apps", "v1", "daemonsets", "DaemonSet", true),
    res("batch", "v1", "jobs", "Job", true),
    res("batch", "v1", "cronjobs", "CronJob", true),
    res("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true),
    res("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true),
    res("networking.k8s.io", "v1", "ingressclasses", "IngressClass", false),
    res("storage.k8s.io", "v1", "storageclasses", "StorageClass", false),
    res("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", false),
    res("networking.k8s.io", "v1", "ingresses", "Ingress", true),
    res("rbac.authorization.k8s.io", "v1", "roles", "Role", true),
    res("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true),
    res("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false),
    res("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false),
    res("coordination.k8s.io", "v1", "leases", "Lease", true),
    res(
        "admissionregistration.k8s.io",
        "v1",
        "validatingwebhookconfigurations",
        "ValidatingWebhookConfiguration",
        false,
    ),
    res(
        "admissionregistration.k8s.io",
        "v1",
        "mutatingwebhookconfigurations",
        "MutatingWebhookConfiguration",
        false,
    ),
    res("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false),
    res("mcpruntime.org", "v1alpha1", "mcpservers", "MCPServer", true),
    res("mcpruntime.org", "v1alpha1", "mcpaccessgrants", "MCPAccessGrant", true),
    res("mcpruntime.org", "v1alpha1", "mcpagentsessions", "MCPAgentSession", true),
];

fn resource_by_plural(group: &str, plural: &str) -> Option<ResourceType> {
    RESOURCES.iter().copied().find(|r| r.group == group && r.plural == plural)
}

fn resource_by_kind(api_version: &str, kind: &str) -> Option<ResourceType> {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    RESOURCES.iter().copied().find(|r| r.group == group && r.kind == kind)
}

/// One request the server answered.
#[derive(Clone, Debug, PartialEq)]
pub struct Recorded {
    /// HTTP method.
    pub method: String,
    /// Kubernetes verb: `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, or `other`.
    pub verb: &'static str,
    /// API group of the resource (`""` for core).
    pub group: String,
    /// Plural resource name (empty for non-resource paths such as `/version`).
    pub resource: String,
    /// Subresource (`status`), if any.
    pub subresource: Option<String>,
    /// Namespace in the path, if any.
    pub namespace: Option<String>,
    /// Object name in the path, if any.
    pub name: Option<String>,
    /// Raw query string.
    pub query: String,
    /// `Content-Type` of the request.
    pub content_type: Option<String>,
    /// Parsed JSON body, if any.
    pub body: Option<Value>,
    /// Status code answered.
    pub status: u16,
}

impl Recorded {
    /// A request that changes state (create, update, patch, delete).
    pub fn is_write(&self) -> bool {
        matches!(self.verb, "create" | "update" | "patch" | "delete")
    }

    /// `field_manager` query parameter, if any.
    pub fn query_param(&self, key: &str) -> Option<String> {
        parse_query(&self.query).remove(key)
    }
}

/// A failure to inject: the next `times` requests that match answer `status` instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Kubernetes verb to match (`get`, `list`, `watch`, `create`, `update`, `patch`, `delete`);
    /// `None` matches any.
    pub verb: Option<&'static str>,
    /// Plural resource to match; `None` matches any.
    pub resource: Option<String>,
    /// Object name to match; `None` matches any.
    pub name: Option<String>,
    /// Status code to answer.
    pub status: u16,
    /// How many matching requests fail (`usize::MAX`: until cleared).
    pub times: usize,
}

impl Fault {
    /// Fails requests with `verb` (or any verb, for `"*"`) on `resource` (or any, for `"*"`).
    pub fn on(verb: &'static str, resource: &str) -> Fault {
        Fault {
            verb: (verb != "*").then_some(verb),
            resource: (resource != "*").then(|| resource.to_string()),
            name: None,
            status: 500,
            times: usize::MAX,
        }
    }

    /// Only requests for this object name.
    pub fn named(mut self, name: &str) -> Fault {
        self.name = Some(name.to_string());
        self
    }

    /// The status code answered (default 500).
    pub fn status(mut self, status: u16) -> Fault {
        self.status = status;
        self
    }

    /// How many matching requests fail (default: all, until [`FakeApiServer::clear_faults`]).
    pub fn times(mut self, times: usize) -> Fault {
        self.times = times;
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    group: String,
    plural: String,
    namespace: String,
    name: String,
}

#[derive(Clone, Debug)]
struct Event {
    rv: u64,
    group: String,
    plural: String,
    kind: &'static str,
    object: Value,
}

#[derive(Debug, Default)]
struct Inner {
    rv: u64,
    uid: u64,
    cluster_ip: u32,
    objects: BTreeMap<Key, Value>,
    events: Vec<Event>,
    requests: Vec<Recorded>,
    faults: Vec<Fault>,
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    changed: watch::Sender<u64>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// An API failure: status code, reason and message, answered as a `Status` object.
#[derive(Debug)]
struct ApiError {
    code: u16,
    reason: &'static str,
    message: String,
}

fn err(code: u16, message: impl Into<String>) -> ApiError {
    let reason = match code {
        400 => "BadRequest",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        409 => "Conflict",
        410 => "Gone",
        415 => "UnsupportedMediaType",
        422 => "Invalid",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        504 => "Timeout",
        _ => "InternalError",
    };
    ApiError { code, reason, message: message.into() }
}

/// The in-memory API server. Dropping it stops the listener and every open watch.
#[derive(Debug)]
pub struct FakeApiServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    accept: JoinHandle<()>,
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        self.accept.abort();
    }
}

impl FakeApiServer {
    /// Starts the server on an ephemeral loopback port.
    pub async fn start() -> std::io::Result<FakeApiServer> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (changed, _) = watch::channel(0);
        let shared = Arc::new(Shared { inner: Mutex::new(Inner::default()), changed });
        let (stop, _) = watch::channel(false);
        let (s, stop_rx) = (shared.clone(), stop.subscribe());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let _ = stream.set_nodelay(true);
                let (s, stop_rx) = (s.clone(), stop_rx.clone());
                tokio::spawn(async move {
                    let mut stopped = stop_rx.clone();
                    let service = hyper::service::service_fn(move |req| {
                        let (s, stop_rx) = (s.clone(), stop_rx.clone());
                        async move { Ok::<_, Infallible>(handle(s, stop_rx, req).await) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    // A dropped server closes its kept-alive connections too, as a dead API server would.
                    tokio::select! {
                        _ = conn => {}
                        _ = stopped.wait_for(|stop| *stop) => {}
                    }
                });
            }
        });
        Ok(FakeApiServer { addr, shared, stop, accept })
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A `kube::Client` for this server (default namespace `default`). Building a plain-HTTP
    /// client for a loopback URL does no I/O and cannot fail in practice; it panics if it does.
    pub fn client(&self) -> kube::Client {
        let url: http::Uri = self.url().parse().unwrap_or_default();
        let config = kube::Config::new(url);
        // Building a plain-HTTP client cannot fail for a well-formed loopback URL.
        kube::Client::try_from(config).unwrap_or_else(|e| panic!("kube client for the fake API: {e}"))
    }

    /// Writes a kubeconfig file that points at this server (no credentials) into `dir` and
    /// returns its path.
    pub fn write_kubeconfig(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let path = dir.join("kubeconfig");
        let text = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {}\ncontexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n    namespace: default\ncurrent-context: fake\nusers:\n- name: fake\n  user: {{}}\n",
            self.url()
        );
        std::fs::write(&path, text)?;
        Ok(path)
    }

    /// Every resource the server knows.
    pub fn resources() -> &'static [ResourceType] {
        RESOURCES
    }

    /// Creates or replaces an object (it must carry `apiVersion`, `kind`, `metadata.name`, and
    /// `metadata.namespace` when namespaced), as a client write would: watchers see it. Returns
    /// the stored object.
    ///
    /// Panics when the server does not serve the object's kind (a mistake in the test).
    pub fn put(&self, object: Value) -> Value {
        let api_version = object["apiVersion"].as_str().unwrap_or_default().to_string();
        let kind = object["kind"].as_str().unwrap_or_default().to_string();
        let Some(rt) = resource_by_kind(&api_version, &kind) else {
            panic!("the fake API does not serve {api_version} {kind}");
        };
        let key = key_of(&rt, &object);
        let mut inner = self.shared.lock();
        let stored = match inner.objects.get(&key).cloned() {
            Some(existing) => {
                let mut next = object.clone();
                keep_server_fields(&existing, &mut next);
                write(&mut inner, &rt, key, Some(&existing), next)
            }
            None => create(&mut inner, &rt, key, object),
        };
        drop(inner);
        self.notify();
        stored
    }

    /// Replaces the `status` of an object (as a controller such as the Deployment controller
    /// would), returning the stored object; `None` when it does not exist.
    pub fn set_status(&self, plural: &str, namespace: &str, name: &str, status: Value) -> Option<Value> {
        let rt = RESOURCES.iter().copied().find(|r| r.plural == plural)?;
        let key = Key {
            group: rt.group.to_string(),
            plural: plural.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        let mut inner = self.shared.lock();
        let existing = inner.objects.get(&key).cloned()?;
        let mut next = existing.clone();
        next["status"] = status;
        let stored = write(&mut inner, &rt, key, Some(&existing), next);
        drop(inner);
        self.notify();
        Some(stored)
    }

    /// Deletes an object as a client would (finalizers respected, dependents collected).
    pub fn delete(&self, plural: &str, namespace: &str, name: &str) -> bool {
        let Some(rt) = RESOURCES.iter().copied().find(|r| r.plural == plural) else { return false };
        let key = Key {
            group: rt.group.to_string(),
            plural: plural.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        };
        let mut inner = self.shared.lock();
        let deleted = delete(&mut inner, &key).is_ok();
        drop(inner);
        self.notify();
        deleted
    }

    /// The stored object (plural resource name; `""` namespace for cluster-scoped ones).
    pub fn get(&self, plural: &str, namespace: &str, name: &str) -> Option<Value> {
        let inner = self.shared.lock();
        inner
            .objects
            .iter()
            .find(|(k, _)| k.plural == plural && k.namespace == namespace && k.name == name)
            .map(|(_, v)| v.clone())
    }

    /// Every stored object of a resource, in namespace and name order.
    pub fn list(&self, plural: &str) -> Vec<Value> {
        let inner = self.shared.lock();
        inner.objects.iter().filter(|(k, _)| k.plural == plural).map(|(_, v)| v.clone()).collect()
    }

    /// Every stored object, as `(plural, namespace, name)`.
    pub fn keys(&self) -> Vec<(String, String, String)> {
        let inner = self.shared.lock();
        inner.objects.keys().map(|k| (k.plural.clone(), k.namespace.clone(), k.name.clone())).collect()
    }

    /// Every request answered so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Adds a failure rule (checked before any request is served, in the order added).
    pub fn fail(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    /// Removes every failure rule.
    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// The latest resource version.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().rv
    }

    /// Waits until `check` returns `Some` (re-checked after every change, and every 50 ms),
    /// or `timeout` passes.
    pub async fn eventually<T>(
        &self,
        timeout: Duration,
        mut check: impl FnMut(&FakeApiServer) -> Option<T>,
    ) -> Option<T> {
        let mut changed = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(value) = check(self) {
                return Some(value);
            }
            if tokio::time::Instant::now() >= deadline {
                return None;
            }
            let _ = tokio::time::timeout(Duration::from_millis(50), changed.changed()).await;
        }
    }

    fn notify(&self) {
        let rv = self.shared.lock().rv;
        self.shared.changed.send_replace(rv);
    }
}

fn key_of(rt: &ResourceType, object: &Value) -> Key {
    Key {
        group: rt.group.to_string(),
        plural: rt.plural.to_string(),
        namespace: if rt.namespaced {
            object["metadata"]["namespace"].as_str().unwrap_or("default").to_string()
        } else {
            String::new()
        },
        name: object["metadata"]["name"].as_str().unwrap_or_default().to_string(),
    }
}

fn now() -> String {
    jiff::Timestamp::now().round(jiff::Unit::Second).map(|t| t.to_string()).unwrap_or_default()
}

/// Stores a new object, filling the server-set metadata; returns it.
fn create(inner: &mut Inner, rt: &ResourceType, key: Key, mut object: Value) -> Value {
    inner.rv += 1;
    inner.uid += 1;
    if !object.is_object() {
        object = json!({});
    }
    object["apiVersion"] = Value::from(rt.api_version());
    object["kind"] = Value::from(rt.kind);
    if !object["metadata"].is_object() {
        object["metadata"] = json!({});
    }
    let meta = &mut object["metadata"];
    meta["name"] = Value::from(key.name.clone());
    if rt.namespaced {
        meta["namespace"] = Value::from(key.namespace.clone());
    }
    meta["uid"] = Value::from(format!("00000000-0000-4000-8000-{:012}", inner.uid));
    meta["resourceVersion"] = Value::from(inner.rv.to_string());
    meta["creationTimestamp"] = Value::from(now());
    meta["generation"] = Value::from(1);
    if let Some(m) = meta.as_object_mut() {
        m.remove("deletionTimestamp");
        m.remove("managedFields");
    }
    if rt.kind == "Service"
        && object["spec"]["clusterIP"].is_null()
        && object["spec"]["type"] != "ExternalName"
    {
        inner.cluster_ip += 1;
        let n = inner.cluster_ip;
        object["spec"]["clusterIP"] = Value::from(format!("10.96.{}.{}", n / 250, n % 250 + 1));
    }
    if let Some(o) = object.as_object_mut() {
        // Writes to the object never set its status on creation, except through `put`.
        o.entry("status").or_insert(Value::Null);
        if o["status"].is_null() {
            o.remove("status");
        }
    }
    record_event(inner, rt, "ADDED", &object);
    inner.objects.insert(key, object.clone());
    object
}

/// Replaces an existing object with `next` unless nothing changed; returns what is stored.
fn write(inner: &mut Inner, rt: &ResourceType, key: Key, existing: Option<&Value>, mut next: Value) -> Value {
    let Some(existing) = existing else { return create(inner, rt, key, next) };
    next["apiVersion"] = Value::from(rt.api_version());
    next["kind"] = Value::from(rt.kind);
    keep_server_fields(existing, &mut next);
    if &next == existing {
        return next;
    }
    if spec_part(&next) != spec_part(existing) {
        let generation = existing["metadata"]["generation"].as_i64().unwrap_or(1) + 1;
        next["metadata"]["generation"] = Value::from(generation);
    }
    inner.rv += 1;
    next["metadata"]["resourceVersion"] = Value::from(inner.rv.to_string());
    // A deleting object whose last finalizer was removed goes away now.
    let finalizers_empty = next["metadata"]["finalizers"].as_array().is_none_or(Vec::is_empty);
    if !next["metadata"]["deletionTimestamp"].is_null() && finalizers_empty {
        inner.objects.insert(key.clone(), next.clone());
        let _ = delete(inner, &key);
        return next;
    }
    record_event(inner, rt, "MODIFIED", &next);
    inner.objects.insert(key, next.clone());
    next
}

/// Everything outside `metadata` and `status`.
fn spec_part(object: &Value) -> Value {
    let mut v = object.clone();
    if let Some(o) = v.as_object_mut() {
        o.remove("metadata");
        o.remove("status");
    }
    v
}

/// Copies what only the server sets (uid, creation time, generation, version, deletion time)
/// from `existing`.
fn keep_server_fields(existing: &Value, next: &mut Value) {
    if !next["metadata"].is_object() {
        next["metadata"] = json!({});
    }
    for field in [
        "name",
        "namespace",
        "uid",
        "creationTimestamp",
        "generation",
        "resourceVersion",
        "deletionTimestamp",
    ] {
        match existing["metadata"].get(field) {
            Some(v) => next["metadata"][field] = v.clone(),
            None => {
                if let Some(m) = next["metadata"].as_object_mut() {
                    m.remove(field);
                }
            }
        }
    }
    if let Some(m) = next["metadata"].as_object_mut() {
        m.remove("managedFields");
    }
}

fn record_event(inner: &mut Inner, rt: &ResourceType, kind: &'static str, object: &Value) {
    let rv = inner.rv;
    inner.events.push(Event {
        rv,
        group: rt.group.to_string(),
        plural: rt.plural.to_string(),
        kind,
        object: object.clone(),
    });
}

/// Deletes (or, with finalizers, marks for deletion) and collects orphaned dependents.
fn delete(inner: &mut Inner, key: &Key) -> Result<Value, ApiError> {
    let Some(existing) = inner.objects.get(key).cloned() else {
        return Err(err(404, format!("{} {:?} not found", key.plural, key.name)));
    };
    let rt = resource_by_plural(&key.group, &key.plural).ok_or_else(|| err(404, "unknown resource"))?;
    let has_finalizers = existing["metadata"]["finalizers"].as_array().is_some_and(|f| !f.is_empty());
    if has_finalizers {
        if existing["metadata"]["deletionTimestamp"].is_null() {
            let mut next = existing.clone();
            inner.rv += 1;
            next["metadata"]["deletionTimestamp"] = Value::from(now());
            next["metadata"]["resourceVersion"] = Value::from(inner.rv.to_string());
            record_event(inner, &rt, "MODIFIED", &next);
            inner.objects.insert(key.clone(), next.clone());
            return Ok(next);
        }
        return Ok(existing);
    }
    inner.objects.remove(key);
    inner.rv += 1;
    let mut gone = existing.clone();
    gone["metadata"]["resourceVersion"] = Value::from(inner.rv.to_string());
    record_event(inner, &rt, "DELETED", &gone);
    collect_garbage(inner);
    Ok(gone)
}

/// Deletes every object whose owner references all point at objects that no longer exist.
fn collect_garbage(inner: &mut Inner) {
    loop {
        let uids: std::collections::BTreeSet<String> = inner
            .objects
            .values()
            .filter_map(|o| o["metadata"]["uid"].as_str().map(str::to_string))
            .collect();
        let orphan = inner.objects.iter().find_map(|(k, o)| {
            let owners = o["metadata"]["ownerReferences"].as_array()?;
            let orphaned = !owners.is_empty()
                && owners.iter().all(|r| r["uid"].as_str().is_none_or(|uid| !uids.contains(uid)));
            orphaned.then(|| k.clone())
        });
        match orphan {
            Some(key) => {
                // Dependents with finalizers are only marked; the loop must still end.
                let before = inner.objects.len();
                let _ = delete(inner, &key);
                if inner.objects.len() == before
                    && let Some(o) = inner.objects.get_mut(&key)
                    && let Some(m) = o["metadata"].as_object_mut()
                {
                    m.remove("ownerReferences");
                }
            }
            None => return,
        }
    }
}

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(fields) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in fields {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Server-side apply of `applied` onto `existing`, one field manager owning everything.
fn apply(existing: &Value, applied: &Value, rt: &ResourceType) -> Value {
    let mut next = applied.clone();
    if !next["metadata"].is_object() {
        next["metadata"] = json!({});
    }
    for map in ["labels", "annotations"] {
        let mut merged = existing["metadata"][map].as_object().cloned().unwrap_or_default();
        if let Some(given) = applied["metadata"][map].as_object() {
            merged.extend(given.clone());
        }
        if merged.is_empty() {
            if let Some(m) = next["metadata"].as_object_mut() {
                m.remove(map);
            }
        } else {
            next["metadata"][map] = Value::Object(merged);
        }
    }
    for list in ["ownerReferences", "finalizers"] {
        if applied["metadata"].get(list).is_none()
            && let Some(v) = existing["metadata"].get(list)
        {
            next["metadata"][list] = v.clone();
        }
    }
    if rt.kind == "Service" && next["spec"]["clusterIP"].is_null() && !existing["spec"]["clusterIP"].is_null()
    {
        next["spec"]["clusterIP"] = existing["spec"]["clusterIP"].clone();
    }
    match existing.get("status") {
        Some(status) => next["status"] = status.clone(),
        None => {
            if let Some(o) = next.as_object_mut() {
                o.remove("status");
            }
        }
    }
    next
}

#[derive(Debug)]
struct Target {
    rt: ResourceType,
    namespace: Option<String>,
    name: Option<String>,
    sub: Option<String>,
}

/// Parses `/api/v1/...` and `/apis/<group>/<version>/...` paths.
fn parse_path(path: &str) -> Result<Target, ApiError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').filter(|s| !s.is_empty()).collect();
    let (group, rest) = match segments.as_slice() {
        ["api", "v1", rest @ ..] => ("", rest),
        ["apis", group, _version, rest @ ..] => (*group, rest),
        _ => return Err(err(404, format!("the server could not find the requested resource ({path})"))),
    };
    let (namespace, plural, tail) = match rest {
        ["namespaces"] => (None, "namespaces", &[][..]),
        ["namespaces", ns] if group.is_empty() => (None, "namespaces", &rest[1..2]),
        ["namespaces", ns, plural, tail @ ..] => (Some((*ns).to_string()), *plural, tail),
        [plural, tail @ ..] => (None, *plural, tail),
        [] => return Err(err(404, "no resource in the path")),
    };
    let rt = resource_by_plural(group, plural)
        .ok_or_else(|| err(404, format!("the server could not find the requested resource ({path})")))?;
    let (name, sub) = match tail {
        [] => (None, None),
        [name] => (Some((*name).to_string()), None),
        [name, sub] => (Some((*name).to_string()), Some((*sub).to_string())),
        _ => return Err(err(404, format!("unsupported path {path}"))),
    };
    if rt.namespaced && name.is_some() && namespace.is_none() {
        return Err(err(404, format!("{plural} is namespaced: {path}")));
    }
    Ok(Target { rt, namespace, name, sub })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(pair), String::new()),
        })
        .collect()
}

/// A parsed label or field selector: every requirement must hold.
#[derive(Debug, Default)]
struct Selector {
    labels: Vec<(String, Option<String>, bool)>,
    fields: Vec<(String, String, bool)>,
}

impl Selector {
    fn parse(query: &BTreeMap<String, String>) -> Result<Selector, ApiError> {
        let mut s = Selector::default();
        if let Some(labels) = query.get("labelSelector").filter(|v| !v.is_empty()) {
            for req in labels.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                if req.contains(" in ") || req.contains(" notin ") || req.contains('(') {
                    return Err(err(400, format!("set-based label selectors are not supported: {req}")));
                }
                if let Some((k, v)) = req.split_once("!=") {
                    s.labels.push((k.trim().into(), Some(v.trim().into()), false));
                } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
                    s.labels.push((k.trim().into(), Some(v.trim().into()), true));
                } else if let Some(k) = req.strip_prefix('!') {
                    s.labels.push((k.trim().into(), None, false));
                } else {
                    s.labels.push((req.into(), None, true));
                }
            }
        }
        if let Some(fields) = query.get("fieldSelector").filter(|v| !v.is_empty()) {
            for req in fields.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                let (k, v, eq) = if let Some((k, v)) = req.split_once("!=") {
                    (k, v, false)
                } else if let Some((k, v)) = req.split_once("==").or_else(|| req.split_once('=')) {
                    (k, v, true)
                } else {
                    return Err(err(400, format!("invalid field selector {req}")));
                };
                if !matches!(k.trim(), "metadata.name" | "metadata.namespace") {
                    return Err(err(400, format!("field label not supported: {k}")));
                }
                s.fields.push((k.trim().into(), v.trim().into(), eq));
            }
        }
        Ok(s)
    }

    fn matches(&self, object: &Value) -> bool {
        let labels = &object["metadata"]["labels"];
        let labels_ok = self.labels.iter().all(|(k, v, eq)| {
            let actual = labels.get(k).and_then(Value::as_str);
            match (v, eq) {
                (Some(v), true) => actual == Some(v.as_str()),
                (Some(v), false) => actual != Some(v.as_str()),
                (None, true) => actual.is_some(),
                (None, false) => actual.is_none(),
            }
        });
        let fields_ok = self.fields.iter().all(|(k, v, eq)| {
            let actual = match k.as_str() {
                "metadata.name" => object["metadata"]["name"].as_str(),
                _ => object["metadata"]["namespace"].as_str(),
            }
            .unwrap_or_default();
            (actual == v) == *eq
        });
        labels_ok && fields_ok
    }
}

fn respond(status: u16, value: &Value) -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::from(value.to_string())).boxed_unsync());
    *res.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    res.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    res
}

fn status_body(e: &ApiError) -> Value {
    json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure", "message": e.message, "reason": e.reason, "code": e.code,
    })
}

fn verb_of(method: &Method, has_name: bool, watch: bool) -> &'static str {
    match *method {
        Method::GET if watch => "watch",
        Method::GET if has_name => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE => "delete",
        _ => "other",
    }
}

/// A streamed response body fed by a channel (watch events).
struct ChannelBody(mpsc::Receiver<Bytes>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|chunk| chunk.map(|bytes| Ok(Frame::data(bytes))))
    }
}

async fn handle(shared: Arc<Shared>, stop: watch::Receiver<bool>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let raw_query = req.uri().query().unwrap_or_default().to_string();
    let query = parse_query(&raw_query);
    let content_type =
        req.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let bytes = req.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body: Option<Value> = if bytes.is_empty() { None } else { serde_json::from_slice(&bytes).ok() };
    let watch_requested = matches!(query.get("watch").map(String::as_str), Some("true" | "1"));

    let mut recorded = Recorded {
        method: method.to_string(),
        verb: "other",
        group: String::new(),
        resource: String::new(),
        subresource: None,
        namespace: None,
        name: None,
        query: raw_query.clone(),
        content_type: content_type.clone(),
        body: body.clone(),
        status: 200,
    };

    if path == "/version" {
        let info = json!({
            "major": "1", "minor": "33", "gitVersion": "v1.33.0-fake", "gitCommit": "fake",
            "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "none",
            "compiler": "none", "platform": "linux/amd64",
        });
        recorded.verb = "get";
        shared.lock().requests.push(recorded);
        return respond(200, &info);
    }

    let target = match parse_path(&path) {
        Ok(t) => t,
        Err(e) => {
            recorded.status = e.code;
            shared.lock().requests.push(recorded);
            return respond(e.code, &status_body(&e));
        }
    };
    recorded.verb = verb_of(&method, target.name.is_some(), watch_requested);
    recorded.group = target.rt.group.to_string();
    recorded.resource = target.rt.plural.to_string();
    recorded.subresource = target.sub.clone();
    recorded.namespace = target.namespace.clone();
    recorded.name = target.name.clone();

    // Injected failures come first.
    {
        let mut inner = shared.lock();
        let verb = recorded.verb;
        let hit = inner.faults.iter_mut().find(|f| {
            f.times > 0
                && f.verb.is_none_or(|v| v == verb)
                && f.resource.as_deref().is_none_or(|r| r == target.rt.plural)
                && f.name.as_deref().is_none_or(|n| Some(n) == target.name.as_deref())
        });
        if let Some(fault) = hit {
            if fault.times != usize::MAX {
                fault.times -= 1;
            }
            let e = err(fault.status, format!("injected failure ({})", fault.status));
            recorded.status = e.code;
            inner.requests.push(recorded);
            return respond(e.code, &status_body(&e));
        }
    }

    if recorded.verb == "watch" {
        recorded.status = 200;
        shared.lock().requests.push(recorded);
        return match start_watch(shared, stop, &target, &query) {
            Ok(res) => res,
            Err(e) => respond(e.code, &status_body(&e)),
        };
    }

    let result = {
        let mut inner = shared.lock();
        let result = serve(&mut inner, &method, &target, &query, content_type.as_deref(), body);
        recorded.status = result.as_ref().map_or_else(|e| e.code, |(code, _)| *code);
        inner.requests.push(recorded);
        result
    };
    let rv = shared.lock().rv;
    shared.changed.send_replace(rv);
    match result {
        Ok((code, value)) => respond(code, &value),
        Err(e) => respond(e.code, &status_body(&e)),
    }
}

fn serve(
    inner: &mut Inner,
    method: &Method,
    target: &Target,
    query: &BTreeMap<String, String>,
    content_type: Option<&str>,
    body: Option<Value>,
) -> Result<(u16, Value), ApiError> {
    let rt = target.rt;
    if let Some(sub) = target.sub.as_deref()
        && sub != "status"
    {
        return Err(err(404, format!("subresource {sub} is not served")));
    }
    let key_for = |name: &str, body_ns: Option<&str>| Key {
        group: rt.group.to_string(),
        plural: rt.plural.to_string(),
        namespace: if rt.namespaced {
            target.namespace.clone().or(body_ns.map(str::to_string)).unwrap_or_else(|| "default".into())
        } else {
            String::new()
        },
        name: name.to_string(),
    };
    match (method.clone(), target.name.as_deref()) {
        (Method::GET, None) => {
            let selector = Selector::parse(query)?;
            let items: Vec<Value> = inner
                .objects
                .iter()
                .filter(|(k, _)| k.group == rt.group && k.plural == rt.plural)
                .filter(|(k, _)| target.namespace.as_deref().is_none_or(|ns| ns == k.namespace))
                .map(|(_, v)| v)
                .filter(|v| selector.matches(v))
                .cloned()
                .collect();
            Ok((
                200,
                json!({
                    "apiVersion": rt.api_version(), "kind": format!("{}List", rt.kind),
                    "metadata": {"resourceVersion": inner.rv.to_string()}, "items": items,
                }),
            ))
        }
        (Method::GET, Some(name)) => {
            let key = key_for(name, None);
            inner.objects.get(&key).map(|v| (200, v.clone())).ok_or_else(|| not_found(&rt, name))
        }
        (Method::POST, None) => {
            let body = body.ok_or_else(|| err(400, "a body is required"))?;
            let name = body["metadata"]["name"]
                .as_str()
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .or_else(|| {
                    body["metadata"]["generateName"].as_str().map(|p| format!("{p}{:05}", inner.uid + 1))
                })
                .ok_or_else(|| err(422, "metadata.name: Required value"))?;
            let key = key_for(&name, body["metadata"]["namespace"].as_str());
            if inner.objects.contains_key(&key) {
                return Err(err(409, format!("{} {name:?} already exists", rt.plural)));
            }
            let mut body = body;
            if let Some(o) = body.as_object_mut() {
                o.remove("status");
            }
            Ok((201, create(inner, &rt, key, body)))
        }
        (Method::PUT, Some(name)) => {
            let body = body.ok_or_else(|| err(400, "a body is required"))?;
            let key = key_for(name, None);
            let existing = inner.objects.get(&key).cloned().ok_or_else(|| not_found(&rt, name))?;
            if let Some(rv) = body["metadata"]["resourceVersion"].as_str().filter(|v| !v.is_empty())
                && Some(rv) != existing["metadata"]["resourceVersion"].as_str()
            {
                return Err(err(
                    409,
                    format!(
                        "Operation cannot be fulfilled on {} {name:?}: the object has been modified; please apply your changes to the latest version and try again",
                        rt.plural
                    ),
                ));
            }
            let next = if target.sub.is_some() {
                let mut next = existing.clone();
                next["status"] = body.get("status").cloned().unwrap_or(Value::Null);
                next
            } else {
                let mut next = body;
                match existing.get("status") {
                    Some(s) => next["status"] = s.clone(),
                    None => {
                        if let Some(o) = next.as_object_mut() {
                            o.remove("status");
                        }
                    }
                }
                next
            };
            Ok((200, write(inner, &rt, key, Some(&existing), next)))
        }
        (Method::PATCH, Some(name)) => {
            let body = body.ok_or_else(|| err(400, "a JSON body is required"))?;
            let key = key_for(name, None);
            let existing = inner.objects.get(&key).cloned();
            let content_type = content_type.unwrap_or_default();
            if content_type.starts_with("application/apply-patch") {
                if query.get("fieldManager").is_none_or(String::is_empty) {
                    return Err(err(400, "fieldManager is required for apply patch"));
                }
                let Some(existing) = existing else {
                    if target.sub.is_some() {
                        return Err(not_found(&rt, name));
                    }
                    let mut body = body;
                    if let Some(o) = body.as_object_mut() {
                        o.remove("status");
                    }
                    return Ok((201, create(inner, &rt, key, body)));
                };
                let next = if target.sub.is_some() {
                    let mut next = existing.clone();
                    next["status"] = body.get("status").cloned().unwrap_or(Value::Null);
                    next
                } else {
                    apply(&existing, &body, &rt)
                };
                Ok((200, write(inner, &rt, key, Some(&existing), next)))
            } else if content_type.starts_with("application/merge-patch+json")
                || content_type.starts_with("application/strategic-merge-patch+json")
            {
                let existing = existing.ok_or_else(|| not_found(&rt, name))?;
                let mut next = existing.clone();
                if target.sub.is_some() {
                    if let Some(status) = body.get("status") {
                        merge_patch(&mut next["status"], status);
                    }
                } else {
                    let mut patch = body;
                    if let Some(o) = patch.as_object_mut() {
                        o.remove("status");
                    }
                    merge_patch(&mut next, &patch);
                }
                Ok((200, write(inner, &rt, key, Some(&existing), next)))
            } else {
                Err(err(415, format!("unsupported patch type {content_type:?}")))
            }
        }
        (Method::DELETE, Some(name)) => {
            let key = key_for(name, None);
            if !inner.objects.contains_key(&key) {
                return Err(not_found(&rt, name));
            }
            let result = delete(inner, &key)?;
            if inner.objects.contains_key(&key) {
                // Finalizers hold it: the object is answered with its deletion timestamp.
                return Ok((200, result));
            }
            Ok((
                200,
                json!({
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": {"name": name, "kind": rt.plural, "uid": result["metadata"]["uid"]},
                }),
            ))
        }
        _ => Err(err(405, format!("{method} is not allowed here"))),
    }
}

fn not_found(rt: &ResourceType, name: &str) -> ApiError {
    let group = if rt.group.is_empty() { String::new() } else { format!(".{}", rt.group) };
    err(404, format!("{}{group} {name:?} not found", rt.plural))
}

fn start_watch(
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    target: &Target,
    query: &BTreeMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    let selector = Selector::parse(query)?;
    let rt = target.rt;
    let namespace = target.namespace.clone();
    let timeout = query.get("timeoutSeconds").and_then(|t| t.parse::<u64>().ok()).map(Duration::from_secs);
    let from: Option<u64> = query.get("resourceVersion").and_then(|v| v.parse().ok()).filter(|v| *v > 0);
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut changed = shared.changed.subscribe();
    let matches = move |group: &str, plural: &str, object: &Value| {
        group == rt.group
            && plural == rt.plural
            && namespace.as_deref().is_none_or(|ns| object["metadata"]["namespace"].as_str() == Some(ns))
            && selector.matches(object)
    };
    tokio::spawn(async move {
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let mut lines: Vec<Bytes> = Vec::new();
        let mut last = {
            let inner = shared.lock();
            match from {
                Some(rv) => rv,
                None => {
                    // No version: the current state first, as ADDED events.
                    for (k, v) in &inner.objects {
                        if matches(&k.group, &k.plural, v) {
                            lines.push(event_line("ADDED", v));
                        }
                    }
                    inner.rv
                }
            }
        };
        loop {
            {
                let inner = shared.lock();
                for e in inner.events.iter().filter(|e| e.rv > last) {
                    if matches(&e.group, &e.plural, &e.object) {
                        lines.push(event_line(e.kind, &e.object));
                    }
                }
                last = inner.rv;
            }
            for line in lines.drain(..) {
                if tx.send(line).await.is_err() {
                    return;
                }
            }
            let sleep = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                r = changed.changed() => if r.is_err() { return },
                () = sleep => return,
                _ = stop.changed() => return,
                () = tx.closed() => return,
            }
        }
    });
    let mut res = Response::new(ChannelBody(rx).boxed_unsync());
    res.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("application/json"));
    Ok(res)
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = json!({"type": kind, "object": object}).to_string();
    line.push('\n');
    Bytes::from(line)
}

#[cfg(test)]
mod tests;
