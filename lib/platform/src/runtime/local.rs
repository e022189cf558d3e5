//! The Local backend: servers, grants and sessions kept in the platform store (one row per
//! object, the object as JSON), each server's policy rendered with `mcp_policy::render` exactly
//! as the operator renders it, with the platform's JWKS, and written atomically (a temporary
//! file, then a rename) to `<policy dir>/<namespace>/<name>.json`, where gateways watch it. A document
//! whose revision equals the one on disk is never rewritten.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use futures::FutureExt;
use mcp_api::{
    DefaultingOptions, MCPAccessGrant, MCPAgentSession, MCPServer, MCPServerStatus, Phase, default_server,
    validate_grant, validate_server, validate_session,
};
use mcp_policy::{Document, PlatformTrust, RenderContext, render};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::Row;

use super::kube_meta::{Condition, ObjectMeta, Time};
use super::{ListFilter, RenderedPolicy, RuntimeBackend, RuntimeError, RuntimeFuture, RuntimeResult};
use crate::store::{Store, StoreError, Team, map_err, now};

/// How the Local backend renders and where it writes.
#[derive(Debug, Clone, Default)]
pub struct LocalSettings {
    /// `PLATFORM_POLICY_DIR`: one policy file per server under it.
    pub policy_dir: PathBuf,
    /// Cluster name stamped into documents (`local`).
    pub cluster: String,
    /// Default ingress host (`PLATFORM_MCP_HOST`): the host of servers' public URLs.
    pub defaults: DefaultingOptions,
    /// Public URLs use `https`.
    pub tls: bool,
}

impl LocalSettings {
    /// The settings of a platform configuration.
    pub fn from_config(c: &crate::config::RuntimeConfig) -> LocalSettings {
        LocalSettings {
            policy_dir: c.policy_dir.clone(),
            cluster: c.cluster.clone(),
            defaults: DefaultingOptions {
                default_ingress_host: Some(c.mcp_host.clone()).filter(|h| !h.is_empty()),
                default_ingress_class: None,
            },
            tls: c.mcp_tls,
        }
    }
}

/// The Local backend.
#[derive(Debug, Clone)]
pub struct LocalBackend {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    store: Store,
    settings: LocalSettings,
    trust: RwLock<Option<PlatformTrust>>,
    /// Serialises writes so a render always sees a consistent set of objects.
    write: tokio::sync::Mutex<()>,
    /// Revision on disk, by policy file (a cache of what the file holds).
    written: std::sync::Mutex<HashMap<PathBuf, String>>,
}

/// The policy file of a server under `dir`.
pub fn policy_path(dir: &Path, namespace: &str, name: &str) -> PathBuf {
    dir.join(namespace).join(format!("{name}.json"))
}

fn store_err(e: StoreError) -> RuntimeError {
    match e {
        StoreError::Conflict(m) => RuntimeError::Conflict(m),
        StoreError::Unavailable(m) => RuntimeError::Unavailable(m),
        StoreError::Other(m) => RuntimeError::Other(m),
    }
}

fn sql_err(e: sqlx::Error) -> RuntimeError {
    store_err(map_err(e))
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

/// Checks an object's name and namespace (DNS-1123 labels / subdomains as Kubernetes does).
pub fn check_meta(meta: &ObjectMeta) -> RuntimeResult<(String, String)> {
    let name = meta.name.clone().unwrap_or_default();
    let namespace = meta.namespace.clone().unwrap_or_default();
    if !is_dns_subdomain(&name) {
        return Err(RuntimeError::invalid(
            "metadata.name",
            serde_json::to_string(&name).unwrap_or_default(),
            "must be a DNS-1123 name (lower-case letters, digits, '-' and '.', at most 253 characters)",
        ));
    }
    if !is_dns_label(&namespace) {
        return Err(RuntimeError::invalid(
            "metadata.namespace",
            serde_json::to_string(&namespace).unwrap_or_default(),
            "must be a DNS-1123 label",
        ));
    }
    Ok((namespace, name))
}

/// A DNS-1123 label: 1–63 of `[a-z0-9-]`, alphanumeric at both ends.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A DNS-1123 subdomain: dot-separated labels, at most 253 characters.
pub fn is_dns_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns_label)
}

fn rfc3339(at: i64) -> Option<Time> {
    jiff::Timestamp::from_second(at).ok().map(Time)
}

fn to_json<T: Serialize>(v: &T) -> RuntimeResult<String> {
    serde_json::to_string(v).map_err(|e| RuntimeError::Other(e.to_string()))
}

fn from_json<T: DeserializeOwned>(s: &str) -> RuntimeResult<T> {
    serde_json::from_str(s).map_err(|e| RuntimeError::Other(format!("stored object does not parse: {e}")))
}

/// Writes `bytes` to `path` atomically (temporary file in the same directory, then rename).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("policy"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

struct Row_ {
    body: String,
    generation: i64,
    created_at: i64,
}

impl LocalBackend {
    /// A backend over `store` (migrated) writing policies under `settings.policy_dir`.
    pub fn new(store: Store, settings: LocalSettings) -> LocalBackend {
        LocalBackend {
            inner: Arc::new(Inner {
                store,
                settings,
                trust: RwLock::new(None),
                write: tokio::sync::Mutex::new(()),
                written: Default::default(),
            }),
        }
    }

    /// The directory policies are written to.
    pub fn policy_dir(&self) -> &Path {
        &self.inner.settings.policy_dir
    }

    fn trust(&self) -> Option<PlatformTrust> {
        self.inner.trust.read().map(|t| t.clone()).unwrap_or_else(|p| p.into_inner().clone())
    }

    async fn row(&self, kind: &str, namespace: &str, name: &str) -> RuntimeResult<Option<Row_>> {
        let row = sqlx::query(
            "SELECT body, generation, created_at FROM runtime_objects WHERE kind = $1 AND namespace = $2 AND name = $3",
        )
        .bind(kind)
        .bind(namespace)
        .bind(name)
        .fetch_optional(self.inner.store.pool())
        .await
        .map_err(sql_err)?;
        row.map(|r| {
            Ok(Row_ {
                body: r.try_get("body").map_err(sql_err)?,
                generation: r.try_get("generation").map_err(sql_err)?,
                created_at: r.try_get("created_at").map_err(sql_err)?,
            })
        })
        .transpose()
    }

    async fn list_rows(&self, kind: &str, filter: &ListFilter) -> RuntimeResult<Vec<String>> {
        let mut sql = String::from("SELECT body FROM runtime_objects WHERE kind = $1");
        let mut binds: Vec<String> = vec![kind.to_string()];
        let mut add = |col: &str, v: &Option<String>| {
            if let Some(v) = v {
                binds.push(v.clone());
                sql.push_str(&format!(" AND {col} = ${}", binds.len()));
            }
        };
        add("namespace", &filter.namespace);
        add("server", &filter.server);
        if kind == "session" {
            add("grant_name", &filter.grant_name);
        }
        if kind != "server" {
            add("agent_id", &filter.agent_id);
        }
        sql.push_str(" ORDER BY namespace, name");
        let mut q = sqlx::query(&sql);
        for b in &binds {
            q = q.bind(b);
        }
        let rows = q.fetch_all(self.inner.store.pool()).await.map_err(sql_err)?;
        rows.iter().map(|r| r.try_get::<String, _>("body").map_err(sql_err)).collect()
    }

    /// Upserts one object row; returns `(generation, created_at)` as stored.
    #[allow(clippy::too_many_arguments)]
    async fn put_row(
        &self,
        kind: &str,
        namespace: &str,
        name: &str,
        server: &str,
        grant_name: Option<&str>,
        agent_id: Option<&str>,
        body: &str,
        generation: i64,
        created_at: i64,
    ) -> RuntimeResult<()> {
        sqlx::query(
            "INSERT INTO runtime_objects (kind, namespace, name, server, grant_name, agent_id, body, generation, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (kind, namespace, name) DO UPDATE SET server = $4, grant_name = $5, agent_id = $6, \
             body = $7, generation = $8, updated_at = $10",
        )
        .bind(kind)
        .bind(namespace)
        .bind(name)
        .bind(server)
        .bind(grant_name)
        .bind(agent_id)
        .bind(body)
        .bind(generation)
        .bind(created_at)
        .bind(now())
        .execute(self.inner.store.pool())
        .await
        .map(|_| ())
        .map_err(sql_err)
    }

    async fn delete_row(&self, kind: &str, namespace: &str, name: &str) -> RuntimeResult<bool> {
        sqlx::query("DELETE FROM runtime_objects WHERE kind = $1 AND namespace = $2 AND name = $3")
            .bind(kind)
            .bind(namespace)
            .bind(name)
            .execute(self.inner.store.pool())
            .await
            .map(|r| r.rows_affected() > 0)
            .map_err(sql_err)
    }

    async fn namespace_provisioned(&self, namespace: &str) -> RuntimeResult<()> {
        let n: i64 = sqlx::query("SELECT COUNT(*) AS n FROM runtime_teams WHERE namespace = $1")
            .bind(namespace)
            .fetch_one(self.inner.store.pool())
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(sql_err)?;
        if n == 0 {
            return Err(RuntimeError::NotFound(format!("namespace {namespace:?} is not provisioned")));
        }
        Ok(())
    }

    async fn server_exists(&self, namespace: &str, name: &str) -> RuntimeResult<bool> {
        Ok(self.row("server", namespace, name).await?.is_some())
    }

    /// Stamps metadata for a stored object.
    fn stamp(meta: &mut ObjectMeta, namespace: &str, generation: i64, created_at: i64, uid_seed: &str) {
        meta.namespace = Some(namespace.to_string());
        meta.generation = Some(generation);
        meta.creation_timestamp = rfc3339(created_at);
        meta.resource_version = Some(format!("{}", now()));
        if meta.uid.is_none() {
            meta.uid = Some(uid_seed.to_string());
        }
        meta.managed_fields = None;
    }

    /// Re-renders one server's policy and its status; writes the file when the revision
    /// changed. Call with the write lock held.
    async fn rerender(&self, namespace: &str, name: &str) -> RuntimeResult<()> {
        let path = policy_path(&self.inner.settings.policy_dir, namespace, name);
        let Some(row) = self.row("server", namespace, name).await? else {
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(RuntimeError::Unavailable(format!("remove {}: {e}", path.display()))),
            }
            self.written_cache().remove(&path);
            return Ok(());
        };
        let mut server: MCPServer = from_json(&row.body)?;
        let filter = ListFilter::server(namespace, name);
        let grants: Vec<MCPAccessGrant> =
            self.list_rows("grant", &filter).await?.iter().map(|b| from_json(b)).collect::<Result<_, _>>()?;
        let sessions: Vec<MCPAgentSession> = self
            .list_rows("session", &filter)
            .await?
            .iter()
            .map(|b| from_json(b))
            .collect::<Result<_, _>>()?;
        let ctx = RenderContext {
            cluster: if self.inner.settings.cluster.is_empty() {
                "local".into()
            } else {
                self.inner.settings.cluster.clone()
            },
            defaults: self.inner.settings.defaults.clone(),
            tls: self.inner.settings.tls,
            platform: self.trust(),
            generated_at: Some(jiff::Timestamp::now().to_string()),
        };
        let previous = server.status.clone().unwrap_or_default();
        let mut status =
            MCPServerStatus { tool_pins: previous.tool_pins.clone(), ..MCPServerStatus::default() };
        status.observed_generation = Some(row.generation);
        let (ready, reason, message) = match render(&server, &grants, &sessions, &ctx) {
            Ok(doc) => {
                self.write_policy(&path, &doc)?;
                status.url = Some(doc.server.url.clone()).filter(|u| !u.is_empty());
                status.policy_revision = Some(doc.revision.clone());
                status.policy_ready = true;
                status.phase = Some(Phase::Ready);
                status.message = Some(format!("policy {} written to {}", doc.revision, path.display()));
                (true, "PolicyWritten", "the rendered policy is in the policy directory".to_string())
            }
            Err(e) => {
                status.url = previous.url.clone();
                status.policy_revision = previous.policy_revision.clone();
                status.phase = Some(Phase::Error);
                status.message = Some(format!("policy not rendered: {e}"));
                (false, "RenderFailed", e.to_string())
            }
        };
        let flag = if ready { "True" } else { "False" };
        let since = previous
            .conditions
            .iter()
            .find(|c| c.type_ == "PolicyReady" && c.status == flag)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| Time(jiff::Timestamp::from_second(now()).unwrap_or_default()));
        status.conditions = vec![Condition {
            type_: "PolicyReady".into(),
            status: flag.into(),
            reason: reason.into(),
            message,
            observed_generation: Some(row.generation),
            last_transition_time: since,
        }];
        if Some(&status) != server.status.as_ref() {
            server.status = Some(status);
            self.put_row(
                "server",
                namespace,
                name,
                name,
                None,
                None,
                &to_json(&server)?,
                row.generation,
                row.created_at,
            )
            .await?;
        }
        Ok(())
    }

    fn written_cache(&self) -> std::sync::MutexGuard<'_, HashMap<PathBuf, String>> {
        self.inner.written.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write_policy(&self, path: &Path, doc: &Document) -> RuntimeResult<()> {
        let cached = self.written_cache().get(path).cloned();
        let on_disk = match cached {
            Some(rev) => Some(rev),
            None => std::fs::read(path).ok().and_then(|b| Document::from_json(&b).ok()).map(|d| d.revision),
        };
        if on_disk.as_deref() == Some(doc.revision.as_str()) && path.exists() {
            self.written_cache().insert(path.to_path_buf(), doc.revision.clone());
            return Ok(());
        }
        write_atomically(path, doc.to_json_pretty().as_bytes())
            .map_err(|e| RuntimeError::Unavailable(format!("write {}: {e}", path.display())))?;
        self.written_cache().insert(path.to_path_buf(), doc.revision.clone());
        Ok(())
    }

    async fn server_names(&self) -> RuntimeResult<Vec<(String, String)>> {
        let rows = sqlx::query(
            "SELECT namespace, name FROM runtime_objects WHERE kind = 'server' ORDER BY namespace, name",
        )
        .fetch_all(self.inner.store.pool())
        .await
        .map_err(sql_err)?;
        rows.iter()
            .map(|r| Ok((r.try_get("namespace").map_err(sql_err)?, r.try_get("name").map_err(sql_err)?)))
            .collect()
    }

    /// Re-renders every server (at start, after a JWKS change).
    pub async fn rerender_all(&self) -> RuntimeResult<()> {
        let _guard = self.inner.write.lock().await;
        for (ns, name) in self.server_names().await? {
            self.rerender(&ns, &name).await?;
        }
        Ok(())
    }

    async fn apply_server_inner(&self, mut server: MCPServer) -> RuntimeResult<MCPServer> {
        let (namespace, name) = check_meta(&server.metadata)?;
        // Validated as the operator does: after defaulting (prefix, path, gateway settings).
        let defaulted = default_server(&name, &server.spec, &self.inner.settings.defaults);
        first_error(validate_server(&defaulted, "spec"))?;
        let _guard = self.inner.write.lock().await;
        self.namespace_provisioned(&namespace).await?;
        let existing = self.row("server", &namespace, &name).await?;
        let (generation, created_at, status) = match &existing {
            Some(row) => {
                let old: MCPServer = from_json(&row.body)?;
                let generation = if old.spec == server.spec { row.generation } else { row.generation + 1 };
                server.metadata.uid = old.metadata.uid.clone();
                (generation, row.created_at, old.status)
            }
            None => (1, now(), None),
        };
        server.status = status;
        Self::stamp(
            &mut server.metadata,
            &namespace,
            generation,
            created_at,
            &uuid::Uuid::now_v7().to_string(),
        );
        self.put_row(
            "server",
            &namespace,
            &name,
            &name,
            None,
            None,
            &to_json(&server)?,
            generation,
            created_at,
        )
        .await?;
        self.rerender(&namespace, &name).await?;
        let row = self.row("server", &namespace, &name).await?.ok_or_else(|| {
            RuntimeError::Other(format!("server {namespace}/{name} vanished while being applied"))
        })?;
        from_json(&row.body)
    }

    async fn check_ref(&self, namespace: &str, server_ref: &mcp_api::ServerRef) -> RuntimeResult<()> {
        super::check_ref_namespace(namespace, server_ref)?;
        match self.server_exists(namespace, &server_ref.name).await? {
            true => Ok(()),
            false => Err(super::no_such_server(server_ref)),
        }
    }

    async fn apply_access<T>(
        &self,
        kind: &'static str,
        mut obj: T,
        meta: fn(&mut T) -> &mut ObjectMeta,
        links: fn(&T) -> Links,
        validate: fn(&T) -> mcp_api::Findings,
    ) -> RuntimeResult<T>
    where
        T: Serialize + DeserializeOwned + PartialEq + Clone,
    {
        let (namespace, name) = check_meta(meta(&mut obj))?;
        first_error(validate(&obj))?;
        let (server_ref, grant_name, agent_id) = links(&obj);
        let server = server_ref.name.clone();
        let _guard = self.inner.write.lock().await;
        self.namespace_provisioned(&namespace).await?;
        self.check_ref(&namespace, &server_ref).await?;
        let existing = self.row(kind, &namespace, &name).await?;
        let (generation, created_at, old_server) = match &existing {
            Some(row) => {
                let mut old: T = from_json(&row.body)?;
                let old_meta = meta(&mut old).clone();
                meta(&mut obj).uid = old_meta.uid;
                let old_server = links(&old).0.name;
                let same = {
                    let mut a = old.clone();
                    let mut b = obj.clone();
                    *meta(&mut a) = ObjectMeta::default();
                    *meta(&mut b) = ObjectMeta::default();
                    a == b
                };
                (if same { row.generation } else { row.generation + 1 }, row.created_at, Some(old_server))
            }
            None => (1, now(), None),
        };
        Self::stamp(meta(&mut obj), &namespace, generation, created_at, &uuid::Uuid::now_v7().to_string());
        self.put_row(
            kind,
            &namespace,
            &name,
            &server,
            grant_name.as_deref(),
            agent_id.as_deref(),
            &to_json(&obj)?,
            generation,
            created_at,
        )
        .await?;
        self.rerender(&namespace, &server).await?;
        if let Some(old) = old_server.filter(|o| *o != server) {
            self.rerender(&namespace, &old).await?;
        }
        Ok(obj)
    }

    async fn delete_access(&self, kind: &'static str, namespace: &str, name: &str) -> RuntimeResult<bool> {
        let _guard = self.inner.write.lock().await;
        let Some(row) = self.row(kind, namespace, name).await? else { return Ok(false) };
        let server = match kind {
            "grant" => from_json::<MCPAccessGrant>(&row.body)?.spec.server_ref.name,
            _ => from_json::<MCPAgentSession>(&row.body)?.spec.server_ref.name,
        };
        let deleted = self.delete_row(kind, namespace, name).await?;
        self.rerender(namespace, &server).await?;
        Ok(deleted)
    }
}

/// What a grant or session links to: its server, its grant (sessions) and its agent.
type Links = (mcp_api::ServerRef, Option<String>, Option<String>);

fn grant_links(g: &MCPAccessGrant) -> Links {
    (g.spec.server_ref.clone(), None, g.spec.subject.agent_id.clone().filter(|a| !a.is_empty()))
}

fn session_links(s: &MCPAgentSession) -> Links {
    (
        s.spec.server_ref.clone(),
        s.spec.grant_name.clone().filter(|g| !g.is_empty()),
        s.spec.subject.agent_id.clone().filter(|a| !a.is_empty()),
    )
}

impl RuntimeBackend for LocalBackend {
    fn kind(&self) -> &'static str {
        "local"
    }

    fn ready(&self) -> RuntimeFuture<'_, ()> {
        async move {
            self.inner.store.ping().await.map_err(store_err)?;
            std::fs::create_dir_all(&self.inner.settings.policy_dir).map_err(|e| {
                RuntimeError::Unavailable(format!(
                    "policy directory {}: {e}",
                    self.inner.settings.policy_dir.display()
                ))
            })
        }
        .boxed()
    }

    fn provision_team<'a>(&'a self, team: &'a Team) -> RuntimeFuture<'a, ()> {
        async move {
            std::fs::create_dir_all(self.inner.settings.policy_dir.join(&team.namespace))
                .map_err(|e| RuntimeError::Unavailable(format!("policy directory: {e}")))?;
            sqlx::query(
                "INSERT INTO runtime_teams (namespace, team_id, provisioned_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (namespace) DO NOTHING",
            )
            .bind(&team.namespace)
            .bind(&team.id)
            .bind(now())
            .execute(self.inner.store.pool())
            .await
            .map(|_| ())
            .map_err(sql_err)
        }
        .boxed()
    }

    fn deprovision_team<'a>(&'a self, team: &'a Team) -> RuntimeFuture<'a, ()> {
        async move {
            let _guard = self.inner.write.lock().await;
            let n: i64 = sqlx::query(
                "SELECT COUNT(*) AS n FROM runtime_objects WHERE kind = 'server' AND namespace = $1",
            )
            .bind(&team.namespace)
            .fetch_one(self.inner.store.pool())
            .await
            .and_then(|r| r.try_get("n"))
            .map_err(sql_err)?;
            if n > 0 {
                return Err(RuntimeError::Conflict(format!(
                    "team {} still has {n} server(s); delete them first",
                    team.name
                )));
            }
            sqlx::query("DELETE FROM runtime_objects WHERE namespace = $1")
                .bind(&team.namespace)
                .execute(self.inner.store.pool())
                .await
                .map_err(sql_err)?;
            sqlx::query("DELETE FROM runtime_teams WHERE namespace = $1")
                .bind(&team.namespace)
                .execute(self.inner.store.pool())
                .await
                .map_err(sql_err)?;
            let dir = self.inner.settings.policy_dir.join(&team.namespace);
            let _ = std::fs::remove_dir_all(&dir);
            Ok(())
        }
        .boxed()
    }

    fn apply_server(&self, server: MCPServer) -> RuntimeFuture<'_, MCPServer> {
        self.apply_server_inner(server).boxed()
    }

    fn get_server<'a>(&'a self, namespace: &'a str, name: &'a str) -> RuntimeFuture<'a, Option<MCPServer>> {
        async move { self.row("server", namespace, name).await?.map(|r| from_json(&r.body)).transpose() }
            .boxed()
    }

    fn list_servers<'a>(&'a self, filter: &'a ListFilter) -> RuntimeFuture<'a, Vec<MCPServer>> {
        async move { self.list_rows("server", filter).await?.iter().map(|b| from_json(b)).collect() }.boxed()
    }

    fn delete_server<'a>(&'a self, namespace: &'a str, name: &'a str) -> RuntimeFuture<'a, bool> {
        async move {
            let _guard = self.inner.write.lock().await;
            let deleted = self.delete_row("server", namespace, name).await?;
            self.rerender(namespace, name).await?;
            Ok(deleted)
        }
        .boxed()
    }

    fn apply_grant(&self, grant: MCPAccessGrant) -> RuntimeFuture<'_, MCPAccessGrant> {
        self.apply_access(
            "grant",
            grant,
            |g| &mut g.metadata,
            grant_links,
            |g| validate_grant(&g.spec, "spec"),
        )
        .boxed()
    }

    fn get_grant<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> RuntimeFuture<'a, Option<MCPAccessGrant>> {
        async move { self.row("grant", namespace, name).await?.map(|r| from_json(&r.body)).transpose() }
            .boxed()
    }

    fn list_grants<'a>(&'a self, filter: &'a ListFilter) -> RuntimeFuture<'a, Vec<MCPAccessGrant>> {
        async move { self.list_rows("grant", filter).await?.iter().map(|b| from_json(b)).collect() }.boxed()
    }

    fn delete_grant<'a>(&'a self, namespace: &'a str, name: &'a str) -> RuntimeFuture<'a, bool> {
        self.delete_access("grant", namespace, name).boxed()
    }

    fn apply_session(&self, session: MCPAgentSession) -> RuntimeFuture<'_, MCPAgentSession> {
        self.apply_access(
            "session",
            session,
            |s| &mut s.metadata,
            session_links,
            |s| validate_session(&s.spec, "spec"),
        )
        .boxed()
    }

    fn get_session<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> RuntimeFuture<'a, Option<MCPAgentSession>> {
        async move { self.row("session", namespace, name).await?.map(|r| from_json(&r.body)).transpose() }
            .boxed()
    }

    fn list_sessions<'a>(&'a self, filter: &'a ListFilter) -> RuntimeFuture<'a, Vec<MCPAgentSession>> {
        async move { self.list_rows("session", filter).await?.iter().map(|b| from_json(b)).collect() }.boxed()
    }

    fn delete_session<'a>(&'a self, namespace: &'a str, name: &'a str) -> RuntimeFuture<'a, bool> {
        self.delete_access("session", namespace, name).boxed()
    }

    fn server_policy<'a>(
        &'a self,
        namespace: &'a str,
        name: &'a str,
    ) -> RuntimeFuture<'a, Option<RenderedPolicy>> {
        async move {
            if !self.server_exists(namespace, name).await? {
                return Ok(None);
            }
            let path = policy_path(&self.inner.settings.policy_dir, namespace, name);
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(RuntimeError::Unavailable(format!("read {}: {e}", path.display()))),
            };
            let document = Document::from_json(&bytes)
                .map_err(|e| RuntimeError::Other(format!("{}: {e}", path.display())))?;
            Ok(Some(RenderedPolicy { revision: document.revision.clone(), document }))
        }
        .boxed()
    }

    fn publish_jwks<'a>(&'a self, trust: &'a PlatformTrust) -> RuntimeFuture<'a, ()> {
        async move {
            let mut sorted = trust.clone();
            sorted.jwks.keys.sort_by(|a, b| a.kid.cmp(&b.kid));
            {
                let mut slot = self.inner.trust.write().unwrap_or_else(|p| p.into_inner());
                if slot.as_ref() == Some(&sorted) {
                    return Ok(());
                }
                *slot = Some(sorted);
            }
            self.rerender_all().await
        }
        .boxed()
    }
}
