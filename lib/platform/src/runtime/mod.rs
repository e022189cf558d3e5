//! Runtime backends: where the platform keeps the objects that make servers run and governs
//! them — `MCPServer`, `MCPAccessGrant` and `MCPAgentSession` (the `mcp_api` types) — and
//! where the public keys of session tokens are published.
//!
//! One trait, [`RuntimeBackend`], two implementations:
//! - **Local** ([`local::LocalBackend`]): the objects live in the platform store; every change
//!   re-renders the server's policy with `mcp_policy::render` (as the operator does) and writes
//!   it atomically to one file per server, which gateways watch.
//! - **Kubernetes** (`kube`): the objects are written by server-side apply into the team's
//!   namespace and the operator does the rest.
//!
//! Contract (checked for every backend by the generic suite in `tests/it/runtime_contract.rs`):
//! - Objects are addressed by `(namespace, name)`; the namespace is the team's
//!   ([`crate::store::Team::namespace`]). `apply_*` creates or replaces the spec (labels and
//!   annotations given are kept) and returns the stored object; `metadata.namespace` of what is
//!   returned is always set.
//! - `apply_*` into a namespace that is not provisioned answers [`RuntimeError::NotFound`].
//! - Servers are validated after defaulting (`mcp_api::default_server`), as the operator does.
//! - `apply_*` validates the spec with `mcp_api` first and answers [`RuntimeError::Invalid`]
//!   naming the first bad field and its value.
//! - Grants and sessions must reference a server in their own namespace that exists
//!   ([`RuntimeError::Invalid`] on `spec.serverRef` otherwise).
//! - Sessions are linked to the grant that authorised them by `spec.grantName`.
//! - `delete_*` answers whether something was deleted; deleting a server deletes nothing else
//!   (its grants and sessions stay, and render again if it comes back).
//! - `deprovision_team` refuses ([`RuntimeError::Conflict`]) while the team has servers.
//! - `server_policy` is the document gateways enforce for that server, as last rendered, with
//!   the platform's JWKS (the last [`RuntimeBackend::publish_jwks`]) in `auth.platform`.
//! - A change is visible to `get_*`/`list_*` as soon as the call returns.

pub mod agents;
pub mod api;
pub mod kube;
pub mod local;

use std::fmt;

use futures::future::BoxFuture;
use mcp_api::{MCPAccessGrant, MCPAgentSession, MCPServer};
use mcp_policy::{Document, PlatformTrust};
use serde::Serialize;

use crate::store::Team;

/// What a backend call returns.
pub type RuntimeResult<T> = Result<T, RuntimeError>;

/// A boxed future of a backend call (keeps [`RuntimeBackend`] object-safe).
pub type RuntimeFuture<'a, T> = BoxFuture<'a, RuntimeResult<T>>;

/// A backend call that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuntimeError {
    /// The object (or the namespace) does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The call conflicts with the state (e.g. deprovisioning a team that has servers).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The object is invalid: `field` (a JSON path such as `spec.tools[0].sideEffect`) and
    /// the refused value.
    #[error("{field}: {message} (value {value})")]
    Invalid {
        /// Path of the offending field.
        field: String,
        /// The value found (JSON text, `null` when absent).
        value: String,
        /// Why it was refused.
        message: String,
    },
    /// The backend (database, Kubernetes API, policy directory) could not be reached.
    #[error("runtime backend unavailable: {0}")]
    Unavailable(String),
    /// Any other failure.
    #[error("runtime backend error: {0}")]
    Other(String),
}

impl RuntimeError {
    /// An [`RuntimeError::Invalid`] for `field` holding `value`.
    pub fn invalid(field: impl Into<String>, value: impl Into<String>, message: impl Into<String>) -> Self {
        RuntimeError::Invalid { field: field.into(), value: value.into(), message: message.into() }
    }
}

/// Which objects a list call returns. Every set field must match; an empty filter lists all.
/// Every backend serves every field, across namespaces when `namespace` is unset (the platform
/// revokes an agent's sessions in every team with `agent_id` alone); a Kubernetes backend can
/// keep `serverRef.name`, `grantName` and `subject.agentID` as labels to select on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Only objects in this namespace.
    pub namespace: Option<String>,
    /// Only grants/sessions whose `spec.serverRef.name` is this (servers: the server name).
    pub server: Option<String>,
    /// Only sessions whose `spec.grantName` is this (ignored for servers and grants).
    pub grant_name: Option<String>,
    /// Only grants/sessions whose `spec.subject.agentID` is this (ignored for servers).
    pub agent_id: Option<String>,
}

impl ListFilter {
    /// Everything in `namespace`.
    pub fn namespace(namespace: impl Into<String>) -> Self {
        ListFilter { namespace: Some(namespace.into()), ..ListFilter::default() }
    }

    /// Everything of server `server` in `namespace`.
    pub fn server(namespace: impl Into<String>, server: impl Into<String>) -> Self {
        ListFilter { namespace: Some(namespace.into()), server: Some(server.into()), ..ListFilter::default() }
    }
}

/// The policy document of one server as gateways get it.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RenderedPolicy {
    /// `sha256:` revision of the document.
    pub revision: String,
    /// The document (`policy.json`).
    #[schema(value_type = Object)]
    pub document: Document,
}

/// Where the platform's servers, grants and sessions live and how policies reach gateways.
///
/// Object-safe: the platform holds an `Arc<dyn RuntimeBackend>`. Every method is cancel-safe
/// in the sense that a dropped call leaves either the old or the new state, never a mix.
pub trait RuntimeBackend: Send + Sync + fmt::Debug {
    /// `local` or `kubernetes`.
    fn kind(&self) -> &'static str;

    /// Whether the backend can serve (store / API server reachable).
    fn ready(&self) -> RuntimeFuture<'_, ()>;

    // ---- teams ----------------------------------------------------------------------------

    /// Makes `team`'s namespace ready to hold servers (idempotent).
    fn provision_team<'a>(&'a self, team: &'a Team) -> RuntimeFuture<'a, ()>;

    /// Writes the team's image pull secret for the platform's registry
    /// (`mcp_operator_core::team::PULL_SECRET_NAME`, `.dockerconfigjson` = `docker_config`)
    /// into its namespace, so its servers pull the images pushed under its path. Backends
    /// without pods (Local) have nothing to write.
    fn apply_pull_secret<'a>(&'a self, _team: &'a Team, _docker_config: &'a [u8]) -> RuntimeFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }

    /// Removes what [`RuntimeBackend::provision_team`] made, with every grant and session left
    /// in the namespace. Refused with [`RuntimeError::Conflict`] while the team has servers.
    fn deprovision_team<'a>(&'a self, team: &'a Team) -> RuntimeFuture<'a, ()>;

    // ---- servers --------------------------------------------------------------------------

    /// Creates or replaces a server (`metadata.name` and `metadata.namespace` required). The
    /// returned object carries the stored metadata and the current status.
    fn apply_server(&self, server: MCPServer) -> RuntimeFuture<'_, MCPServer>;

    /// One server with its status (phase, conditions, `url`, `policyRevision`, `toolPins`).
    fn get_server<'a>(&'a self, namespace: &'a str, name: &'a str) -> RuntimeFuture<'a, Option<MCPServer>>;

    /// Servers matching `filter`, ordered by (namespace, name).
    fn list_servers<'a>(&'a self, filter: &'a ListFilter) -> RuntimeFuture<'a, Vec<MCPServer>>;

    /// Deletes a server; whether one was deleted.
    fn delete_server<'a>(&'a self, namespace: &'a str, name: &'a str) -> RuntimeFuture<'a, bool>;

    // ---- grants ---------------------------------------------------------------------------

    /// Creates or replaces a grant.
    fn apply_grant(&self, grant: MCPAccessGrant) -> RuntimeFuture<'_, MCPAccessGrant>;

    /// One grant.
    fn get_grant<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> RuntimeFuture<'a, Option<MCPAccessGrant>>;

    /// Grants matching `filter`, ordered by (namespace, name).
    fn list_grants<'a>(&'a self, filter: &'a ListFilter) -> RuntimeFuture<'a, Vec<MCPAccessGrant>>;

    /// Deletes a grant; whether one was deleted.
    fn delete_grant<'a>(&'a self, namespace: &'a str, name: &'a str) -> RuntimeFuture<'a, bool>;

    // ---- sessions -------------------------------------------------------------------------

    /// Creates or replaces a session.
    fn apply_session(&self, session: MCPAgentSession) -> RuntimeFuture<'_, MCPAgentSession>;

    /// One session.
    fn get_session<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> RuntimeFuture<'a, Option<MCPAgentSession>>;

    /// Sessions matching `filter`, ordered by (namespace, name).
    fn list_sessions<'a>(&'a self, filter: &'a ListFilter) -> RuntimeFuture<'a, Vec<MCPAgentSession>>;

    /// Deletes a session; whether one was deleted.
    fn delete_session<'a>(&'a self, namespace: &'a str, name: &'a str) -> RuntimeFuture<'a, bool>;

    // ---- policies and keys ----------------------------------------------------------------

    /// The policy gateways enforce for a server (`None` when the server does not exist or no
    /// policy has been rendered for it yet).
    fn server_policy<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> RuntimeFuture<'a, Option<RenderedPolicy>>;

    /// Publishes the issuer and public keys of session tokens to every gateway (Local: into
    /// every rendered policy; Kubernetes: the trust ConfigMap the operator reads). Publishing
    /// the same trust again changes nothing.
    fn publish_jwks<'a>(&'a self, trust: &'a PlatformTrust) -> RuntimeFuture<'a, ()>;
}

/// A grant or session may only reference a server of its own namespace.
pub(crate) fn check_ref_namespace(namespace: &str, server_ref: &mcp_api::ServerRef) -> RuntimeResult<()> {
    if server_ref.namespace_or(namespace) == namespace {
        return Ok(());
    }
    Err(RuntimeError::invalid(
        "spec.serverRef.namespace",
        serde_json::to_string(&server_ref.namespace).unwrap_or_default(),
        "must be the object's own namespace",
    ))
}

/// The refusal of a `serverRef` naming a server that is not there.
pub(crate) fn no_such_server(server_ref: &mcp_api::ServerRef) -> RuntimeError {
    RuntimeError::invalid(
        "spec.serverRef.name",
        serde_json::to_string(&server_ref.name).unwrap_or_default(),
        "no such server in this namespace",
    )
}

/// The name of an object (empty when unset).
pub fn name_of(meta: &kube_meta::ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or_default()
}

/// The namespace of an object (empty when unset).
pub fn namespace_of(meta: &kube_meta::ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or_default()
}

/// Kubernetes object metadata (re-exported so backends and callers name one type).
pub mod kube_meta {
    pub use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta, Time};
}
