//! The Kubernetes runtime backend: servers, grants and sessions are written by server-side
//! apply (field manager `mcp-platform`) into the team's namespace `mcp-team-<slug>`, and the
//! operator does the rest (Deployments, routes, the rendered policy, status).
//!
//! - Team provisioning applies the objects of `mcp_operator_core::team` (Namespace, the
//!   platform's and the operator's RoleBindings first — the platform writes the rest through
//!   its own binding —, ResourceQuota, LimitRange, NetworkPolicies). Deprovisioning is refused
//!   while the namespace has servers; otherwise grants and sessions are deleted and the
//!   namespace with them.
//! - Objects are validated with `mcp_api` before they are sent (servers after defaulting, as
//!   the operator does); grants and sessions must name a server of their own namespace.
//! - The rendered policy is read back from the operator's policy ConfigMap
//!   (`<server>-gateway-policy`), and the JWKS is published to the trust ConfigMap the operator
//!   is configured with (`MCP_PLATFORM_TRUST_CONFIGMAP`, by default
//!   `mcp-runtime/platform-trust`), in the format `mcp_operator_core::trust` defines for both.
//! - Every request is covered by the platform's RBAC in `deploy/base/platform-rbac`
//!   (`mcp_operator_core::install::platform_allows`); the tests replay what they sent against it.

use std::fmt;

use ::kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams};
use ::kube::{Client, Resource};
use futures::FutureExt;
use k8s_openapi::NamespaceResourceScope;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use mcp_api::{
    DefaultingOptions, MCPAccessGrant, MCPAgentSession, MCPServer, default_server, validate_grant,
    validate_server, validate_session,
};
use mcp_operator_core::install::{TRUST_CONFIGMAP, TRUST_NAMESPACE};
use mcp_operator_core::names::{POLICY_KEY, policy_name};
use mcp_operator_core::team::{
    PLATFORM_FIELD_MANAGER, SCOPE_LABEL, SCOPE_TEAM, TeamNetwork, team_namespace, team_objects, team_slug,
};
use mcp_policy::{Document, PlatformTrust};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::kube_meta::ObjectMeta;
use super::local::check_meta;
use super::{ListFilter, RenderedPolicy, RuntimeBackend, RuntimeError, RuntimeFuture, RuntimeResult};
use crate::store::Team;

/// Settings of the Kubernetes backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubeSettings {
    /// Where the shared components run, for the team NetworkPolicies.
    pub network: TeamNetwork,
    /// Namespace of the trust ConfigMap (the operator's `MCP_PLATFORM_TRUST_CONFIGMAP`).
    pub trust_namespace: String,
    /// Name of the trust ConfigMap.
    pub trust_name: String,
    /// The operator's defaults, for validating servers as it will.
    pub defaults: DefaultingOptions,
}

impl KubeSettings {
    /// The defaults, with the platform's MCP host (`PLATFORM_MCP_HOST`) as the ingress host of
    /// servers published without one.
    pub fn from_config(runtime: &crate::config::RuntimeConfig) -> KubeSettings {
        let mut settings = KubeSettings::default();
        settings.defaults.default_ingress_host =
            Some(runtime.mcp_host.clone()).filter(|h| !h.trim().is_empty());
        settings
    }
}

impl Default for KubeSettings {
    fn default() -> Self {
        KubeSettings {
            network: TeamNetwork::default(),
            trust_namespace: TRUST_NAMESPACE.to_string(),
            trust_name: TRUST_CONFIGMAP.to_string(),
            defaults: DefaultingOptions {
                default_ingress_host: None,
                default_ingress_class: Some(mcp_api::DEFAULT_INGRESS_CLASS.to_string()),
            },
        }
    }
}

/// The Kubernetes backend.
#[derive(Clone)]
pub struct KubeBackend {
    client: Client,
    settings: KubeSettings,
}

impl fmt::Debug for KubeBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KubeBackend").field("settings", &self.settings).finish_non_exhaustive()
    }
}

/// Maps a Kubernetes API failure: 404 → not found, 409 → conflict, 400/422 → invalid, a
/// transport failure → unavailable.
fn kube_err(action: &str, e: ::kube::Error) -> RuntimeError {
    match e {
        ::kube::Error::Api(status) => match status.code {
            404 => RuntimeError::NotFound(format!("{action}: {}", status.message)),
            409 => RuntimeError::Conflict(format!("{action}: {}", status.message)),
            // Refused by the API server (schema) or the operator's admission webhook: name the
            // field it gave, else the spec.
            400 | 422 => {
                let field = status
                    .details
                    .as_ref()
                    .and_then(|d| d.causes.iter().map(|c| c.field.clone()).find(|f| !f.is_empty()))
                    .unwrap_or_else(|| "spec".to_string());
                RuntimeError::invalid(field, "null", format!("{action}: {}", status.message))
            }
            code @ (401 | 403) => RuntimeError::Other(format!("{action}: {code} {}", status.message)),
            code if code >= 500 => RuntimeError::Unavailable(format!("{action}: {code} {}", status.message)),
            code => RuntimeError::Other(format!("{action}: {code} {}", status.message)),
        },
        other => RuntimeError::Unavailable(format!("{action}: {other}")),
    }
}

fn is_not_found(e: &::kube::Error) -> bool {
    matches!(e, ::kube::Error::Api(status) if status.code == 404)
}

fn first_error(findings: mcp_api::Findings) -> RuntimeResult<()> {
    match findings.errors.into_iter().next() {
        None => Ok(()),
        Some(e) => Err(RuntimeError::invalid(
            e.field,
            e.value.map(|v| serde_json::to_string(&v).unwrap_or_default()).unwrap_or_else(|| "null".into()),
            e.message,
        )),
    }
}

/// What is applied of an object's metadata: name, namespace, labels and annotations (never
/// uid, resourceVersion, managed fields or status, which the API server owns).
fn applied_meta(meta: &ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        labels: meta.labels.clone(),
        annotations: meta.annotations.clone(),
        ..ObjectMeta::default()
    }
}

fn sort_by_key<K: Resource>(items: &mut [K]) {
    items.sort_by(|a, b| {
        (a.meta().namespace.as_deref(), a.meta().name.as_deref())
            .cmp(&(b.meta().namespace.as_deref(), b.meta().name.as_deref()))
    });
}

impl KubeBackend {
    /// A backend talking through `client`.
    pub fn new(client: Client, settings: KubeSettings) -> KubeBackend {
        KubeBackend { client, settings }
    }

    /// A backend on the in-cluster service account (or `KUBECONFIG`).
    pub async fn connect(settings: KubeSettings) -> RuntimeResult<KubeBackend> {
        let client = Client::try_default()
            .await
            .map_err(|e| RuntimeError::Unavailable(format!("no Kubernetes client configuration: {e}")))?;
        Ok(KubeBackend::new(client, settings))
    }

    /// The settings.
    pub fn settings(&self) -> &KubeSettings {
        &self.settings
    }

    fn namespaced<K>(&self, namespace: &str) -> Api<K>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), namespace)
    }

    /// Server-side apply of `object` (owned fields: everything it sets).
    async fn apply<K>(&self, api: &Api<K>, name: &str, object: &K) -> RuntimeResult<K>
    where
        K: Resource + Serialize + DeserializeOwned + Clone + fmt::Debug,
        K::DynamicType: Default,
    {
        let params = PatchParams::apply(PLATFORM_FIELD_MANAGER).force();
        api.patch(name, &params, &Patch::Apply(object))
            .await
            .map_err(|e| kube_err(&format!("apply {} {name}", K::kind(&Default::default())), e))
    }

    async fn get_opt<K>(&self, api: &Api<K>, name: &str) -> RuntimeResult<Option<K>>
    where
        K: Resource + DeserializeOwned + Clone + fmt::Debug,
        K::DynamicType: Default,
    {
        api.get_opt(name)
            .await
            .map_err(|e| kube_err(&format!("get {} {name}", K::kind(&Default::default())), e))
    }

    async fn delete<K>(&self, api: &Api<K>, name: &str) -> RuntimeResult<bool>
    where
        K: Resource + DeserializeOwned + Clone + fmt::Debug,
        K::DynamicType: Default,
    {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => Ok(true),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(kube_err(&format!("delete {} {name}", K::kind(&Default::default())), e)),
        }
    }

    /// Objects of one kind in team namespaces: one namespace's when the filter names one, else
    /// every team namespace's (one cluster-wide list), ordered by (namespace, name).
    async fn list<K>(&self, filter: &ListFilter) -> RuntimeResult<Vec<K>>
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()> + DeserializeOwned + Clone + fmt::Debug,
    {
        let api: Api<K> = match &filter.namespace {
            Some(ns) if team_slug(ns).is_none() => return Ok(Vec::new()),
            Some(ns) => self.namespaced(ns),
            None => Api::all(self.client.clone()),
        };
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| kube_err(&format!("list {}", K::plural(&())), e))?;
        let mut items: Vec<K> = list
            .items
            .into_iter()
            .filter(|o| o.meta().namespace.as_deref().and_then(team_slug).is_some())
            .collect();
        sort_by_key(&mut items);
        Ok(items)
    }

    /// `NotFound` unless `namespace` is a team namespace the platform provisioned.
    async fn provisioned(&self, namespace: &str) -> RuntimeResult<()> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let found = if team_slug(namespace).is_some() { self.get_opt(&api, namespace).await? } else { None };
        let is_team = found.as_ref().is_some_and(|ns| {
            ns.metadata.labels.as_ref().and_then(|l| l.get(SCOPE_LABEL)).map(String::as_str)
                == Some(SCOPE_TEAM)
        });
        if is_team {
            Ok(())
        } else {
            Err(RuntimeError::NotFound(format!("namespace {namespace} is not a provisioned team namespace")))
        }
    }

    async fn server_exists(&self, namespace: &str, name: &str) -> RuntimeResult<bool> {
        Ok(self.get_opt(&self.namespaced::<MCPServer>(namespace), name).await?.is_some())
    }

    async fn check_ref(&self, namespace: &str, server_ref: &mcp_api::ServerRef) -> RuntimeResult<()> {
        super::check_ref_namespace(namespace, server_ref)?;
        match self.server_exists(namespace, &server_ref.name).await? {
            true => Ok(()),
            false => Err(super::no_such_server(server_ref)),
        }
    }

    fn slug_of(team: &Team) -> RuntimeResult<&str> {
        let slug = team.name.as_str();
        if team_slug(&team.namespace) != Some(slug) || team_namespace(slug) != team.namespace {
            return Err(RuntimeError::invalid(
                "namespace",
                serde_json::to_string(&team.namespace).unwrap_or_default(),
                "a team's namespace must be mcp-team-<team name>",
            ));
        }
        Ok(slug)
    }

    async fn provision(&self, team: &Team) -> RuntimeResult<()> {
        let slug = Self::slug_of(team)?;
        let objects = team_objects(slug, &self.settings.network).map_err(|e| {
            RuntimeError::invalid("name", serde_json::to_string(slug).unwrap_or_default(), e.to_string())
        })?;
        let ns = team.namespace.as_str();
        self.apply(&Api::<Namespace>::all(self.client.clone()), ns, &objects.namespace).await?;
        for binding in &objects.role_bindings {
            let name = binding.metadata.name.clone().unwrap_or_default();
            self.apply(&self.namespaced(ns), &name, binding).await?;
        }
        let name = |m: &ObjectMeta| m.name.clone().unwrap_or_default();
        self.apply(&self.namespaced(ns), &name(&objects.quota.metadata), &objects.quota).await?;
        self.apply(&self.namespaced(ns), &name(&objects.limits.metadata), &objects.limits).await?;
        for policy in &objects.network_policies {
            self.apply(&self.namespaced(ns), &name(&policy.metadata), policy).await?;
        }
        Ok(())
    }

    async fn deprovision(&self, team: &Team) -> RuntimeResult<()> {
        Self::slug_of(team)?;
        let ns = team.namespace.as_str();
        let filter = ListFilter::namespace(ns);
        let servers: Vec<MCPServer> = self.list(&filter).await?;
        if !servers.is_empty() {
            return Err(RuntimeError::Conflict(format!(
                "team {} still has {} server(s); delete them first",
                team.name,
                servers.len()
            )));
        }
        // Deleted one by one rather than left to the namespace's deletion, which is
        // asynchronous: once this returns, the team has no grants or sessions anywhere.
        for session in self.list::<MCPAgentSession>(&filter).await? {
            self.delete(
                &self.namespaced::<MCPAgentSession>(ns),
                session.metadata.name.as_deref().unwrap_or_default(),
            )
            .await?;
        }
        for grant in self.list::<MCPAccessGrant>(&filter).await? {
            self.delete(
                &self.namespaced::<MCPAccessGrant>(ns),
                grant.metadata.name.as_deref().unwrap_or_default(),
            )
            .await?;
        }
        self.delete(&Api::<Namespace>::all(self.client.clone()), ns).await?;
        Ok(())
    }

    async fn apply_server_inner(&self, server: MCPServer) -> RuntimeResult<MCPServer> {
        let (namespace, name) = check_meta(&server.metadata)?;
        let mut spec = server.spec;
        // The operator renders the public URL (the session tokens' audience) from
        // `ingressHost`; a server published without one gets the platform's MCP host, so the
        // operator and the platform name the same URL whatever the operator's own default.
        if spec.ingress_host.as_deref().is_none_or(|h| h.trim().is_empty()) {
            spec.ingress_host = self.settings.defaults.default_ingress_host.clone();
        }
        let defaulted = default_server(&name, &spec, &self.settings.defaults);
        first_error(validate_server(&defaulted, "spec"))?;
        self.provisioned(&namespace).await?;
        let mut applied = MCPServer::new(&name, spec);
        applied.metadata = applied_meta(&server.metadata);
        self.apply(&self.namespaced(&namespace), &name, &applied).await
    }

    async fn apply_grant_inner(&self, grant: MCPAccessGrant) -> RuntimeResult<MCPAccessGrant> {
        let (namespace, name) = check_meta(&grant.metadata)?;
        first_error(validate_grant(&grant.spec, "spec"))?;
        self.provisioned(&namespace).await?;
        self.check_ref(&namespace, &grant.spec.server_ref).await?;
        let mut applied = MCPAccessGrant::new(&name, grant.spec);
        applied.metadata = applied_meta(&grant.metadata);
        self.apply(&self.namespaced(&namespace), &name, &applied).await
    }

    async fn apply_session_inner(&self, session: MCPAgentSession) -> RuntimeResult<MCPAgentSession> {
        let (namespace, name) = check_meta(&session.metadata)?;
        first_error(validate_session(&session.spec, "spec"))?;
        self.provisioned(&namespace).await?;
        self.check_ref(&namespace, &session.spec.server_ref).await?;
        let mut applied = MCPAgentSession::new(&name, session.spec);
        applied.metadata = applied_meta(&session.metadata);
        self.apply(&self.namespaced(&namespace), &name, &applied).await
    }

    async fn server_policy_inner(
        &self,
        namespace: &str,
        name: &str,
    ) -> RuntimeResult<Option<RenderedPolicy>> {
        if team_slug(namespace).is_none() || !self.server_exists(namespace, name).await? {
            return Ok(None);
        }
        let Some(cm) = self.get_opt(&self.namespaced::<ConfigMap>(namespace), &policy_name(name)).await?
        else {
            return Ok(None);
        };
        let Some(text) = cm.data.as_ref().and_then(|d| d.get(POLICY_KEY)) else { return Ok(None) };
        let document = Document::from_json(text.as_bytes())
            .map_err(|e| RuntimeError::Other(format!("policy of {namespace}/{name}: {e}")))?;
        Ok(Some(RenderedPolicy { revision: document.revision.clone(), document }))
    }

    async fn publish(&self, trust: &PlatformTrust) -> RuntimeResult<()> {
        let mut sorted = trust.clone();
        sorted.jwks.keys.sort_by(|a, b| a.kid.cmp(&b.kid));
        let (ns, name) = (&self.settings.trust_namespace, &self.settings.trust_name);
        let cm = mcp_operator_core::trust::trust_config_map(ns, name, &sorted);
        self.apply(&self.namespaced::<ConfigMap>(ns), name, &cm).await.map(|_| ())
    }

    fn filter_access<T>(items: Vec<T>, filter: &ListFilter, links: fn(&T) -> Links<'_>) -> Vec<T> {
        items
            .into_iter()
            .filter(|o| {
                let (server, grant, agent) = links(o);
                filter.server.as_deref().is_none_or(|s| s == server)
                    && filter.grant_name.as_deref().is_none_or(|g| Some(g) == grant)
                    && filter.agent_id.as_deref().is_none_or(|a| Some(a) == agent)
            })
            .collect()
    }
}

/// What a grant or session is filtered by: its server, its grant (sessions) and its agent.
type Links<'a> = (&'a str, Option<&'a str>, Option<&'a str>);

fn grant_links(g: &MCPAccessGrant) -> Links<'_> {
    (g.spec.server_ref.name.as_str(), None, g.spec.subject.agent_id.as_deref())
}

fn session_links(s: &MCPAgentSession) -> Links<'_> {
    (s.spec.server_ref.name.as_str(), s.spec.grant_name.as_deref(), s.spec.subject.agent_id.as_deref())
}

impl RuntimeBackend for KubeBackend {
    fn kind(&self) -> &'static str {
        "kubernetes"
    }

    fn ready(&self) -> RuntimeFuture<'_, ()> {
        async move {
            self.client
                .apiserver_version()
                .await
                .map(|_| ())
                .map_err(|e| RuntimeError::Unavailable(format!("Kubernetes API: {e}")))
        }
        .boxed()
    }

    fn provision_team<'a>(&'a self, team: &'a Team) -> RuntimeFuture<'a, ()> {
        self.provision(team).boxed()
    }

    fn apply_pull_secret<'a>(&'a self, team: &'a Team, docker_config: &'a [u8]) -> RuntimeFuture<'a, ()> {
        async move {
            Self::slug_of(team)?;
            let ns = team.namespace.as_str();
            let secret = mcp_operator_core::team::pull_secret(ns, docker_config);
            let api: Api<k8s_openapi::api::core::v1::Secret> = self.namespaced(ns);
            self.apply(&api, mcp_operator_core::team::PULL_SECRET_NAME, &secret).await?;
            Ok(())
        }
        .boxed()
    }

    fn deprovision_team<'a>(&'a self, team: &'a Team) -> RuntimeFuture<'a, ()> {
        self.deprovision(team).boxed()
    }

    fn apply_server(&self, server: MCPServer) -> RuntimeFuture<'_, MCPServer> {
        self.apply_server_inner(server).boxed()
    }

    fn get_server<'a>(&'a self, namespace: &'a str, name: &'a str) -> RuntimeFuture<'a, Option<MCPServer>> {
        async move {
            if team_slug(namespace).is_none() {
                return Ok(None);
            }
            self.get_opt(&self.namespaced(namespace), name).await
        }
        .boxed()
    }

    fn list_servers<'a>(&'a self, filter: &'a ListFilter) -> RuntimeFuture<'a, Vec<MCPServer>> {
        async move {
            let servers: Vec<MCPServer> = self.list(filter).await?;
            Ok(servers
                .into_iter()
                .filter(|s| filter.server.as_deref().is_none_or(|n| s.metadata.name.as_deref() == Some(n)))
                .collect())
        }
        .boxed()
    }

    fn delete_server<'a>(&'a self, namespace: &'a str, name: &'a str) -> RuntimeFuture<'a, bool> {
        async move {
            if team_slug(namespace).is_none() {
                return Ok(false);
            }
            self.delete(&self.namespaced::<MCPServer>(namespace), name).await
        }
        .boxed()
    }

    fn apply_grant(&self, grant: MCPAccessGrant) -> RuntimeFuture<'_, MCPAccessGrant> {
        self.apply_grant_inner(grant).boxed()
    }

    fn get_grant<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> RuntimeFuture<'a, Option<MCPAccessGrant>> {
        async move {
            if team_slug(namespace).is_none() {
                return Ok(None);
            }
            self.get_opt(&self.namespaced(namespace), name).await
        }
        .boxed()
    }

    fn list_grants<'a>(&'a self, filter: &'a ListFilter) -> RuntimeFuture<'a, Vec<MCPAccessGrant>> {
        async move { Ok(Self::filter_access(self.list(filter).await?, filter, grant_links)) }.boxed()
    }

    fn delete_grant<'a>(&'a self, namespace: &'a str, name: &'a str) -> RuntimeFuture<'a, bool> {
        async move {
            if team_slug(namespace).is_none() {
                return Ok(false);
            }
            self.delete(&self.namespaced::<MCPAccessGrant>(namespace), name).await
        }
        .boxed()
    }

    fn apply_session(&self, session: MCPAgentSession) -> RuntimeFuture<'_, MCPAgentSession> {
        self.apply_session_inner(session).boxed()
    }

    fn get_session<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> RuntimeFuture<'a, Option<MCPAgentSession>> {
        async move {
            if team_slug(namespace).is_none() {
                return Ok(None);
            }
            self.get_opt(&self.namespaced(namespace), name).await
        }
        .boxed()
    }

    fn list_sessions<'a>(&'a self, filter: &'a ListFilter) -> RuntimeFuture<'a, Vec<MCPAgentSession>> {
        async move { Ok(Self::filter_access(self.list(filter).await?, filter, session_links)) }.boxed()
    }

    fn delete_session<'a>(&'a self, namespace: &'a str, name: &'a str) -> RuntimeFuture<'a, bool> {
        async move {
            if team_slug(namespace).is_none() {
                return Ok(false);
            }
            self.delete(&self.namespaced::<MCPAgentSession>(namespace), name).await
        }
        .boxed()
    }

    fn server_policy<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> RuntimeFuture<'a, Option<RenderedPolicy>> {
        self.server_policy_inner(namespace, name).boxed()
    }

    fn publish_jwks<'a>(&'a self, trust: &'a PlatformTrust) -> RuntimeFuture<'a, ()> {
        self.publish(trust).boxed()
    }
}
