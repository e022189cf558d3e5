//! The local stack: one example MCP server and one `mcp-gateway` per MCPServer of the fixtures
//! (policy rendered by lib/policy, the operator's code path), and Traefik routing
//! `/<server>/…` to each gateway as the Ingress does. Every process is recorded (PID file and
//! log under the artifacts directory) and stopped when the stack is dropped.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mcp_api::{MCPAccessGrant, MCPAgentSession, MCPServer};
use mcp_policy::{Jwks, PlatformTrust, RenderContext, render};
use mcp_testkit::platform::SigningKey;
use serde_json::{Value, json};

use crate::client::Client;
use crate::cluster::{Cluster, merge_diff};
use crate::scenario::{IdentitySpec, StackFile};

/// Where the harness finds the binaries it starts.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `mcp-gateway`.
    pub gateway: PathBuf,
    /// `mcp-example-server`.
    pub example_server: PathBuf,
    /// `traefik`.
    pub traefik: PathBuf,
    /// Node (≥ 22), for the OpenID provider.
    pub node: Option<PathBuf>,
    /// A `node_modules` directory holding `oidc-provider`.
    pub oidc_modules: Option<PathBuf>,
    /// `mcp-sentinel`.
    pub sentinel: PathBuf,
    /// `mcp-platform`.
    pub platform: PathBuf,
}

/// The fixture objects as JSON (so merge patches apply to exactly what the YAML said).
#[derive(Debug, Clone, PartialEq)]
pub struct Fixtures {
    objects: Vec<Value>,
}

impl Fixtures {
    /// Reads every document of the fixture files, replacing `${NAME}` with `vars[NAME]`.
    pub fn load(dir: &Path, files: &[PathBuf], vars: &BTreeMap<&str, String>) -> Result<Fixtures> {
        let mut objects = Vec::new();
        for file in files {
            let path = dir.join(file);
            let mut text =
                std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
            for (name, value) in vars {
                text = text.replace(&format!("${{{name}}}"), value);
            }
            let docs = mcp_api::yaml::from_multiple::<Value>(&text)
                .with_context(|| format!("{}: not valid YAML", path.display()))?;
            for value in docs {
                if value.is_null() {
                    continue;
                }
                let fixtures = Fixtures { objects: vec![value.clone()] };
                fixtures.typed().with_context(|| format!("{}: not a valid fixture", path.display()))?;
                objects.push(value);
            }
        }
        Ok(Fixtures { objects })
    }

    fn typed(&self) -> Result<(Vec<MCPServer>, Vec<MCPAccessGrant>, Vec<MCPAgentSession>)> {
        let (mut servers, mut grants, mut sessions) = (Vec::new(), Vec::new(), Vec::new());
        for object in &self.objects {
            let kind = object["kind"].as_str().unwrap_or_default();
            let name = object["metadata"]["name"].as_str().unwrap_or_default();
            let ctx = || format!("{kind} {name}");
            match kind {
                "MCPServer" => servers.push(serde_json::from_value(object.clone()).with_context(ctx)?),
                "MCPAccessGrant" => grants.push(serde_json::from_value(object.clone()).with_context(ctx)?),
                "MCPAgentSession" => sessions.push(serde_json::from_value(object.clone()).with_context(ctx)?),
                other => bail!("unsupported kind {other:?} (MCPServer, MCPAccessGrant, MCPAgentSession)"),
            }
        }
        Ok((servers, grants, sessions))
    }

    /// Names of the MCPServers.
    pub fn server_names(&self) -> Vec<String> {
        self.objects
            .iter()
            .filter(|o| o["kind"] == "MCPServer")
            .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
            .collect()
    }

    /// Applies a JSON merge patch to one object.
    pub fn patch(&mut self, kind: &str, namespace: &str, name: &str, merge: &Value) -> Result<()> {
        let object = self
            .objects
            .iter_mut()
            .find(|o| {
                o["kind"] == kind && o["metadata"]["name"] == name && o["metadata"]["namespace"] == namespace
            })
            .with_context(|| format!("no {kind} {namespace}/{name} in the fixtures"))?;
        merge_patch(object, merge);
        Ok(())
    }

    /// The rendered policy of every server, by server name.
    pub fn render(&self, ctx: &RenderContext) -> Result<BTreeMap<String, mcp_policy::Document>> {
        let (servers, grants, sessions) = self.typed()?;
        let mut out = BTreeMap::new();
        for server in &servers {
            let name = server.metadata.name.clone().unwrap_or_default();
            let doc = render(server, &grants, &sessions, ctx).with_context(|| format!("render {name}"))?;
            out.insert(name, doc);
        }
        Ok(out)
    }
}

/// RFC 7386.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    if let Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

/// A started child process, stopped on drop (SIGTERM, then SIGKILL after 3 s).
struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    fn spawn(name: &str, cmd: &mut Command, artifacts: &Path) -> Result<Proc> {
        let logs = artifacts.join("logs");
        std::fs::create_dir_all(&logs)?;
        let log = std::fs::File::create(logs.join(format!("{name}.log")))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("start {name} ({:?})", cmd.get_program()))?;
        let pids = artifacts.join("pids");
        std::fs::create_dir_all(&pids)?;
        std::fs::write(pids.join(name), child.id().to_string())?;
        Ok(Proc { name: name.to_string(), child })
    }

    fn alive(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited early ({status}); see its log in the artifacts directory", self.name);
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).stderr(Stdio::null()).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts an example app and its gateway (policy from `policy_file`, routed under `prefix`),
/// audit to `audit` (ingest URL and key) when the pipeline runs.
fn start_server(
    name: &str,
    bins: &Binaries,
    artifacts: &Path,
    procs: &mut Vec<Proc>,
    audit: Option<&(String, String)>,
    policy_file: &Path,
    prefix: &str,
) -> Result<LocalServed> {
    let (app, gateway, admin) = (
        SocketAddr::from(([127, 0, 0, 1], free_port()?)),
        SocketAddr::from(([127, 0, 0, 1], free_port()?)),
        SocketAddr::from(([127, 0, 0, 1], free_port()?)),
    );
    procs.push(Proc::spawn(
        &format!("app-{name}"),
        Command::new(&bins.example_server).args(["--listen", &app.to_string()]),
        artifacts,
    )?);
    let spool = artifacts.join("spool").join(name);
    let mut gateway_cmd = Command::new(&bins.gateway);
    if let Some((ingest, key)) = audit {
        gateway_cmd.env("ANALYTICS_INGEST_URL", ingest).env("ANALYTICS_API_KEY", key);
    }
    procs.push(Proc::spawn(
        &format!("gateway-{name}"),
        gateway_cmd
            .env("LISTEN_ADDR", gateway.to_string())
            .env("ADMIN_LISTEN_ADDR", admin.to_string())
            .env("UPSTREAM_URL", format!("http://{app}"))
            .env("POLICY_FILE", policy_file)
            .env("POLICY_RECHECK_MS", "200")
            .env("STRIP_PREFIX", prefix)
            .env("AUDIT_SPOOL_DIR", &spool)
            .env("RUST_LOG", "info"),
        artifacts,
    )?);
    Ok(LocalServed { app, gateway, admin, policy_file: policy_file.to_path_buf() })
}

fn free_port() -> Result<u16> {
    Ok(mcp_testkit::services::free_port()?)
}

/// One governed server of the stack.
#[derive(Debug, Clone)]
pub struct Served {
    /// Its namespace.
    pub namespace: String,
    /// Public MCP URL (the token audience).
    pub url: String,
    /// Route prefix at the ingress (`/<name>`), followed by `/mcp`.
    pub prefix: String,
    /// The `Host` the ingress routes on (cluster target; the local ingress routes on paths).
    pub host: Option<String>,
    /// Revision currently served (the locally rendered one on a cluster: it tells which
    /// servers a patch changes).
    pub revision: String,
    /// The processes of the local target.
    pub local: Option<LocalServed>,
    /// Published through the platform (its policy comes from the platform, not the fixtures).
    pub published: bool,
}

impl Served {
    /// A server the platform publishes: routed under `/<server>` on the platform's MCP host, in
    /// the team's namespace, no processes yet (the local target starts them), no revision.
    fn slot(spec: &crate::scenario::PlatformSpec, slot: &crate::scenario::Slot) -> Served {
        let prefix = format!("/{}", slot.server);
        Served {
            namespace: format!("mcp-team-{}", slot.team),
            url: format!("http://{}{prefix}/mcp", spec.mcp_host),
            prefix,
            host: None,
            revision: String::new(),
            local: None,
            published: true,
        }
    }
}

/// Where the local target runs a server.
#[derive(Debug, Clone)]
pub struct LocalServed {
    /// The app (example server) address.
    pub app: SocketAddr,
    /// The gateway's public address (what Traefik routes to).
    pub gateway: SocketAddr,
    /// The gateway's admin listener (`/ready`, `/config/status`, `/metrics`).
    pub admin: SocketAddr,
    /// Where its policy file is.
    pub policy_file: PathBuf,
}

/// The running stack.
pub struct Stack {
    procs: Vec<Proc>,
    /// Servers by name.
    pub servers: BTreeMap<String, Served>,
    /// The ingress (`host:port`): local Traefik, or the cluster's Traefik port-forwarded.
    pub ingress: String,
    /// Fixture state now.
    pub fixtures: Fixtures,
    baseline: Fixtures,
    ctx: RenderContext,
    key: SigningKey,
    issuer: String,
    identities: BTreeMap<String, IdentitySpec>,
    client: Client,
    /// The OpenID provider's issuer URL and clients, when started.
    oidc: Option<(String, BTreeMap<String, String>)>,
    /// The analytics pipeline, when started.
    pub analytics: Option<Pipeline>,
    /// The platform service, when started (after `procs` in drop order: its database stops
    /// once every process is gone).
    pub platform: Option<crate::platform::PlatformRun>,
    /// The cluster target's connection and what it last applied.
    cluster: Option<(Cluster, Fixtures)>,
    /// See [`ClusterTarget::verify_gateways`].
    verify_gateways: bool,
    /// The example MCP server's binary (what `server build` packs in the publish scenario).
    pub example_server_bin: PathBuf,
}

/// The real analytics pipeline: broker and ClickHouse (stopped when dropped, after the
/// processes that use them), and the query library on top.
pub struct Pipeline {
    /// Queries through lib/sentinel.
    pub analytics: mcp_sentinel::Analytics,
    /// `POST /events` of ingest.
    pub ingest_url: String,
    /// ClickHouse's HTTP interface.
    pub clickhouse_url: String,
    /// The local servers (none on a cluster).
    servers: Option<(mcp_testkit::services::Broker, mcp_testkit::services::ClickHouse)>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Stack {
    /// Starts everything and waits until it is ready.
    pub async fn start(dir: &Path, file: &StackFile, bins: &Binaries, artifacts: &Path) -> Result<Stack> {
        for (what, path) in [("mcp-gateway", &bins.gateway), ("mcp-example-server", &bins.example_server)] {
            if !path.is_file() {
                bail!("{what} not found at {} (build it: cargo build -p {what})", path.display());
            }
        }
        if !bins.traefik.is_file() {
            bail!("traefik not found at {} (`cargo xtask e2e` installs it)", bins.traefik.display());
        }
        let mut procs = Vec::new();
        let mut vars = BTreeMap::new();
        let mut oidc = None;
        if let Some(spec) = &file.oidc {
            let issuer = start_oidc(dir, &spec.script, bins, artifacts, &mut procs).await?;
            vars.insert("OIDC_ISSUER", issuer.clone());
            oidc = Some((issuer, spec.clients.clone()));
        }
        let mut pipeline = None;
        if let Some(spec) = &file.sentinel {
            pipeline = Some(start_pipeline(&spec.api_key, bins, artifacts, &mut procs).await?);
        }
        let fixtures = Fixtures::load(dir, &file.fixtures, &vars)?;
        let (key, ctx) = platform(&file.issuer);
        let docs = fixtures.render(&ctx)?;
        let policies = artifacts.join("policies");
        std::fs::create_dir_all(&policies)?;
        let audit = match (&pipeline, &file.sentinel) {
            (Some(p), Some(spec)) => Some((p.ingest_url.clone(), spec.api_key.clone())),
            _ => None,
        };
        let mut servers = BTreeMap::new();
        for (name, doc) in &docs {
            let url = doc.server.url.clone();
            let path = url.split_once("://").and_then(|(_, rest)| rest.find('/').map(|i| &rest[i..]));
            let route = path.unwrap_or("/mcp").to_string();
            let prefix = route.strip_suffix("/mcp").unwrap_or(&route).to_string();
            // One directory per gateway: each watches its own policy directory.
            let policy_dir = policies.join(name);
            std::fs::create_dir_all(&policy_dir)?;
            let policy_file = policy_dir.join("policy.json");
            write_atomically(&policy_file, &doc.to_json_pretty())?;
            let local =
                start_server(name, bins, artifacts, &mut procs, audit.as_ref(), &policy_file, &prefix)?;
            servers.insert(
                name.clone(),
                Served {
                    namespace: doc.server.namespace.clone(),
                    url,
                    prefix,
                    host: None,
                    revision: doc.revision.clone(),
                    local: Some(local),
                    published: false,
                },
            );
        }
        let mut platform_run = None;
        if let Some(spec) = &file.platform {
            let links = match (&pipeline, &audit) {
                (Some(p), Some((ingest, key))) => Some(crate::platform::PipelineLinks {
                    clickhouse_url: &p.clickhouse_url,
                    ingest: (ingest, key),
                }),
                _ => None,
            };
            let mut spawn = |name: &str, cmd: &mut Command| -> Result<()> {
                procs.push(Proc::spawn(name, cmd, artifacts)?);
                Ok(())
            };
            let run = crate::platform::start(spec, &bins.platform, artifacts, links, &mut spawn).await?;
            // Published servers: the gateway is up before the platform writes its policy, and
            // stays closed (503 policy_unavailable) until then.
            for slot in &spec.slots {
                let mut served = Served::slot(spec, slot);
                let policy_file = run.policy_file(&slot.team, &slot.server);
                served.local = Some(start_server(
                    &slot.server,
                    bins,
                    artifacts,
                    &mut procs,
                    audit.as_ref(),
                    &policy_file,
                    &served.prefix,
                )?);
                servers.insert(slot.server.clone(), served);
            }
            platform_run = Some(run);
        }
        let ingress_addr = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let ping = SocketAddr::from(([127, 0, 0, 1], free_port()?));
        let traefik_dir = artifacts.join("traefik");
        std::fs::create_dir_all(&traefik_dir)?;
        let registry_route = platform_run.as_ref().and_then(|p| {
            p.registry.as_ref().map(|(url, _)| (format!("{}/api/v1/registry/authz", p.url), url.clone()))
        });
        write_traefik_config(&traefik_dir, ingress_addr, ping, &servers, registry_route.as_ref())?;
        procs.push(Proc::spawn(
            "traefik",
            Command::new(&bins.traefik)
                .arg(format!("--configFile={}", traefik_dir.join("traefik.yml").display())),
            artifacts,
        )?);
        let client = Client::new();
        let mut stack = Stack {
            procs,
            servers,
            ingress: ingress_addr.to_string(),
            baseline: fixtures.clone(),
            fixtures,
            ctx,
            key,
            issuer: file.issuer.clone(),
            identities: file.identities.clone(),
            client,
            oidc,
            analytics: pipeline,
            platform: platform_run,
            cluster: None,
            verify_gateways: true,
            example_server_bin: bins.example_server.clone(),
        };
        stack.wait_ready(ping).await?;
        Ok(stack)
    }

    /// The cluster target: applies the fixtures to the cluster `cluster` reaches (namespaces,
    /// the platform trust ConfigMap with the test key, then every object, MCPServers with the
    /// cluster's example image), waits until every MCPServer is Ready and its gateways serve
    /// its policy, and reads each server's public URL from its status.
    pub async fn start_cluster(
        dir: &Path,
        file: &StackFile,
        cluster: Cluster,
        target: &ClusterTarget,
    ) -> Result<Stack> {
        let spec = file.kind.as_ref().context("stack.yaml has no `kind:` section for the cluster target")?;
        let mut vars = BTreeMap::new();
        let mut oidc = None;
        if let Some(o) = &file.oidc {
            let issuer = spec.oidc_issuer.clone().context("stack.yaml: `oidc` needs `kind.oidc_issuer`")?;
            let local = target
                .oidc_url
                .clone()
                .context("the oauth fixtures need --oidc-url (port-forwarded provider)")?;
            vars.insert("OIDC_ISSUER", issuer);
            oidc = Some((local, o.clients.clone()));
        }
        let mut fixtures = Fixtures::load(dir, &file.fixtures, &vars)?;
        for object in &mut fixtures.objects {
            if object["kind"] == "MCPServer" {
                object["spec"]["image"] = json!(spec.image);
                let mut env: Vec<Value> = object["spec"]["envVars"].as_array().cloned().unwrap_or_default();
                env.extend(spec.env.iter().map(|(name, value)| json!({"name": name, "value": value})));
                if !env.is_empty() {
                    object["spec"]["envVars"] = Value::Array(env);
                }
            }
        }
        let (key, ctx) = platform(&file.issuer);
        let (trust_ns, trust_name) = spec
            .platform_trust
            .split_once('/')
            .context("kind.platform_trust: expected <namespace>/<name>")?;
        cluster
            .write_platform_trust(trust_ns, trust_name, &file.issuer, &json!({"keys": [key.jwk()]}))
            .await?;
        for ns in crate::cluster::namespaces(&fixtures.objects) {
            cluster.ensure_namespace(&ns).await?;
        }
        for object in &fixtures.objects {
            cluster.apply(object).await?;
        }
        let timeout = Duration::from_secs(spec.ready_timeout);
        let mut servers = BTreeMap::new();
        for (name, doc) in fixtures.render(&ctx)? {
            let ns = doc.server.namespace.clone();
            let state = cluster.wait_server(&ns, &name, None, timeout).await?;
            if let Some(revision) = state.revision.as_ref().filter(|_| target.verify_gateways) {
                cluster.wait_gateways(&ns, &name, revision, timeout).await?;
            }
            let (host, path) = split_url(&state.url)?;
            let prefix = path.strip_suffix("/mcp").unwrap_or(&path).to_string();
            servers.insert(
                name,
                Served {
                    namespace: ns,
                    url: state.url,
                    prefix,
                    host: Some(host),
                    revision: doc.revision,
                    local: None,
                    published: false,
                },
            );
        }
        let analytics = Pipeline {
            analytics: mcp_sentinel::Analytics::new(&mcp_sentinel::ClickHouseConfig {
                user: spec.clickhouse_user.clone(),
                password: spec.clickhouse_password.clone(),
                ..mcp_sentinel::ClickHouseConfig::new(target.clickhouse_url.clone())
            }),
            ingest_url: String::new(),
            clickhouse_url: target.clickhouse_url.clone(),
            servers: None,
        };
        // Published servers run where the platform's Kubernetes backend put them; the ingress
        // routes them on the platform's MCP host.
        let mut platform = None;
        if let Some(spec) = &file.platform {
            let url = target.platform_url.clone().context("the platform scenarios need --platform-url")?;
            for slot in &spec.slots {
                let served = Served { host: Some(spec.mcp_host.clone()), ..Served::slot(spec, slot) };
                servers.insert(slot.server.clone(), served);
            }
            platform = Some(crate::platform::PlatformRun::remote(url));
        }
        Ok(Stack {
            procs: Vec::new(),
            servers,
            ingress: target.ingress.clone(),
            baseline: fixtures.clone(),
            fixtures: fixtures.clone(),
            ctx,
            key,
            issuer: file.issuer.clone(),
            identities: file.identities.clone(),
            client: Client::new(),
            oidc,
            analytics: Some(analytics),
            platform,
            cluster: Some((cluster, fixtures)),
            verify_gateways: target.verify_gateways,
            example_server_bin: PathBuf::from("mcp-example-server"),
        })
    }

    /// Cluster target: sends each changed fixture object as a merge patch, then waits for the
    /// servers whose policy changes until the operator wrote it and every gateway serves it.
    async fn apply_cluster(&mut self) -> Result<Duration> {
        let started = Instant::now();
        let (cluster, applied) = self.cluster.clone().context("cluster target")?;
        // Which servers' policies change, and the revision each serves now (read before the
        // patch goes out: the operator may be quicker than the next read).
        let docs = self.fixtures.render(&self.ctx)?;
        let mut changing = Vec::new();
        for (name, doc) in docs {
            let served = self.servers.get(&name).context("a server was added by a patch")?;
            if served.revision != doc.revision {
                let before = cluster.server_state(&served.namespace, &name).await?.and_then(|s| s.revision);
                changing.push((name, served.namespace.clone(), before, doc.revision));
            }
        }
        for (new, old) in self.fixtures.objects.iter().zip(&applied.objects) {
            if new != old {
                cluster.merge(new, &merge_diff(old, new)).await?;
            }
        }
        self.cluster = Some((cluster.clone(), self.fixtures.clone()));
        let timeout = Duration::from_secs(30);
        for (name, namespace, before, local_revision) in changing {
            let state = cluster.wait_server(&namespace, &name, before.as_deref(), timeout).await?;
            if let Some(revision) = state.revision.as_ref().filter(|_| self.verify_gateways) {
                cluster.wait_gateways(&namespace, &name, revision, timeout).await?;
            }
            if let Some(served) = self.servers.get_mut(&name) {
                served.revision = local_revision;
            }
        }
        Ok(started.elapsed())
    }

    /// Headers every request through the ingress carries for `server` (its `Host` on a cluster).
    pub fn route_headers(&self, server: &str) -> Vec<(String, String)> {
        match self.servers.get(server).and_then(|s| s.host.clone()) {
            Some(host) => vec![("host".into(), host)],
            None => Vec::new(),
        }
    }

    /// Cluster target: deletes every fixture object the harness applied (the operator removes
    /// what it built for them). Nothing to do locally (processes stop on drop).
    pub async fn cleanup(&mut self) -> Result<()> {
        if let Some((cluster, applied)) = &self.cluster {
            for object in applied.objects.iter().rev() {
                cluster.delete(object).await?;
            }
        }
        Ok(())
    }

    async fn wait_ready(&mut self, ping: SocketAddr) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut pending: Vec<(String, String)> = self
            .servers
            .iter()
            .filter_map(|(name, s)| {
                let local = s.local.as_ref()?;
                // A gateway of a server not yet published is alive but closed (not ready).
                Some(match s.published {
                    true => (format!("gateway {name}"), format!("http://{}/health", local.gateway)),
                    false => (format!("gateway {name}"), format!("http://{}/ready", local.admin)),
                })
            })
            .chain(self.servers.iter().map(|(name, s)| {
                (format!("ingress route {name}"), format!("http://{}{}/mcp", self.ingress, s.prefix))
            }))
            .collect();
        pending.push(("traefik".into(), format!("http://{ping}/ping")));
        while !pending.is_empty() {
            for proc in &mut self.procs {
                proc.alive()?;
            }
            let mut still = Vec::new();
            for (what, url) in pending {
                let ok = match self.client.get(&url).await {
                    // A routed request reaches the gateway (any answer but Traefik's 404/502).
                    Ok((status, _)) if what.starts_with("ingress") => status != 404 && status != 502,
                    Ok((status, _)) => status == 200,
                    Err(_) => false,
                };
                if !ok {
                    still.push((what, url));
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            if Instant::now() > deadline {
                let names: Vec<&str> = pending.iter().map(|(w, _)| w.as_str()).collect();
                bail!("not ready after 30 s: {}", names.join(", "));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    /// Re-renders every policy; writes those whose revision changed and waits until each
    /// gateway serves its new revision. Returns how long activation took (slowest gateway).
    pub async fn apply(&mut self) -> Result<Duration> {
        if self.cluster.is_some() {
            return self.apply_cluster().await;
        }
        let started = Instant::now();
        let docs = self.fixtures.render(&self.ctx)?;
        let mut changed = Vec::new();
        for (name, doc) in docs {
            let served = self.servers.get_mut(&name).context("a server was added by a patch")?;
            if served.published {
                continue;
            }
            let local = served.local.as_ref().context("a local server")?;
            if served.revision != doc.revision {
                write_atomically(&local.policy_file, &doc.to_json_pretty())?;
                served.revision = doc.revision.clone();
                changed.push(name);
            }
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        for name in changed {
            let served = &self.servers[&name];
            let admin = served.local.as_ref().context("a local server")?.admin;
            let url = format!("http://{admin}/config/status");
            loop {
                let active = match self.client.get(&url).await {
                    Ok((200, body)) => serde_json::from_slice::<Value>(&body)
                        .ok()
                        .and_then(|v| v["revision"].as_str().map(str::to_string)),
                    _ => None,
                };
                if active.as_deref() == Some(served.revision.as_str()) {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("gateway {name} did not activate revision {} within 5 s", served.revision);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        Ok(started.elapsed())
    }

    /// Back to the baseline fixtures (before each scenario).
    pub async fn reset(&mut self) -> Result<()> {
        if self.fixtures != self.baseline {
            self.fixtures = self.baseline.clone();
            self.apply().await?;
        }
        Ok(())
    }

    /// A token for `identity` on `server` (`None` for `anonymous`): a platform session token,
    /// or an access token of the OpenID provider with the server's URL as resource.
    pub async fn token(&self, identity: &str, server: &str) -> Result<Option<String>> {
        self.token_for(identity, server, 600).await
    }

    /// [`Stack::token`] valid for `ttl` seconds.
    async fn token_for(&self, identity: &str, server: &str, ttl: i64) -> Result<Option<String>> {
        if identity == "anonymous" {
            return Ok(None);
        }
        let spec = self.identities.get(identity).with_context(|| format!("unknown identity {identity}"))?;
        let served = self.servers.get(server).with_context(|| format!("unknown server {server}"))?;
        if let Some(client_id) = &spec.oauth_client {
            return self.oauth_token(client_id, &served.url).await.map(Some);
        }
        let now = jiff::Timestamp::now().as_second();
        let mut claims = json!({
            "iss": self.issuer, "aud": served.url, "iat": now, "exp": now + ttl,
            "sub": spec.human, "agent": spec.agent, "team": spec.team,
        });
        if let Some(session) = &spec.session {
            claims["sid"] = json!(session);
        }
        Ok(Some(self.key.token(&claims)?))
    }

    /// Client credentials grant with an RFC 8707 `resource`.
    async fn oauth_token(&self, client_id: &str, resource: &str) -> Result<String> {
        let (issuer, clients) = self.oidc.as_ref().context("no OpenID provider in stack.yaml")?;
        let secret = clients.get(client_id).with_context(|| format!("unknown OAuth client {client_id}"))?;
        let form = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id),
            ("client_secret", secret),
            ("resource", resource),
            ("scope", "mcp"),
        ]
        .iter()
        .map(|(k, v)| format!("{k}={}", form_escape(v)))
        .collect::<Vec<_>>()
        .join("&");
        let headers = [("content-type".to_string(), "application/x-www-form-urlencoded".to_string())];
        let answer =
            self.client.send("POST", &format!("{issuer}/token"), &headers, Some(&form), false).await?;
        let body: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
        match body["access_token"].as_str() {
            Some(token) if answer.status == 200 => Ok(token.to_string()),
            _ => bail!("the OpenID provider refused a token: HTTP {} {}", answer.status, answer.excerpt()),
        }
    }

    /// Writes what a person needs to try the running stack by hand: a platform token per
    /// identity and server (valid 12 h) under `<dir>/tokens/<server>/<identity>.jwt`, and
    /// `<dir>/try.sh IDENTITY TOOL [ARGS-JSON] [SERVER]`, which makes one governed MCP call
    /// through the ingress with curl. Returns the script's path.
    pub async fn write_try_kit(&self, dir: &Path) -> Result<PathBuf> {
        for server in self.servers.keys() {
            let tokens = dir.join("tokens").join(server);
            std::fs::create_dir_all(&tokens)?;
            for (identity, spec) in &self.identities {
                if spec.oauth_client.is_some() {
                    continue;
                }
                if let Some(token) = self.token_for(identity, server, 12 * 3600).await? {
                    std::fs::write(tokens.join(format!("{identity}.jwt")), token)?;
                }
            }
        }
        // The first server of the first fixture file is the one scenarios govern most.
        let primary = self.baseline.server_names().into_iter().next().unwrap_or_default();
        let script = dir.join("try.sh");
        std::fs::write(
            &script,
            try_script(&format!("http://{}", self.ingress), &dir.join("tokens"), &primary),
        )?;
        Ok(script)
    }

    /// The ClickHouse HTTP URL of the analytics pipeline, when it runs.
    pub fn clickhouse_url(&self) -> Option<String> {
        self.analytics.as_ref().map(|p| p.clickhouse_url.clone())
    }

    /// The ingress URL of a server's MCP endpoint.
    pub fn mcp_url(&self, server: &str) -> Result<String> {
        let served = self.servers.get(server).with_context(|| format!("unknown server {server}"))?;
        Ok(format!("http://{}{}/mcp", self.ingress, served.prefix))
    }

    /// Fails if a process of the stack has died.
    pub fn check_alive(&mut self) -> Result<()> {
        self.procs.iter_mut().try_for_each(Proc::alive)
    }

    /// Stops every process, newest first (gateways flush their audit events before ingest
    /// stops), then the broker and ClickHouse. Also done on drop.
    pub fn stop(&mut self) {
        while let Some(proc) = self.procs.pop() {
            drop(proc);
        }
        if let Some((mut broker, mut clickhouse)) = self.analytics.take().and_then(|p| p.servers) {
            broker.stop();
            clickhouse.stop();
        }
    }
}

/// `application/x-www-form-urlencoded` value.
fn form_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Starts the broker (tansu, SQLite storage) and ClickHouse from lib/testkit, then
/// `mcp-sentinel ingest` and `processor`, and waits until ingest is ready and the schema exists.
async fn start_pipeline(
    api_key: &str,
    bins: &Binaries,
    artifacts: &Path,
    procs: &mut Vec<Proc>,
) -> Result<Pipeline> {
    if !bins.sentinel.is_file() {
        bail!(
            "mcp-sentinel not found at {} (build it: cargo build -p mcp-sentinel-bin)",
            bins.sentinel.display()
        );
    }
    let hint = match mcp_testkit::services::runtime() {
        Ok(mcp_testkit::services::Runtime::Testcontainers) => "the broker and ClickHouse as containers",
        _ => "`cargo xtask services install` installs the broker and ClickHouse",
    };
    let broker =
        mcp_testkit::services::Broker::start(&artifacts.join("broker")).with_context(|| hint.to_string())?;
    let clickhouse = mcp_testkit::services::ClickHouse::start(&artifacts.join("clickhouse"))
        .with_context(|| hint.to_string())?;
    let ingest_port = free_port()?;
    let metrics_port = free_port()?;
    let common = |cmd: &mut Command| {
        cmd.env("KAFKA_BROKERS", broker.bootstrap())
            .env("CLICKHOUSE_URL", clickhouse.url())
            .env("RUST_LOG", "info");
    };
    let mut ingest = Command::new(&bins.sentinel);
    ingest
        .arg("ingest")
        .env("BIND_ADDRESS", "127.0.0.1")
        .env("PORT", ingest_port.to_string())
        .env("INGEST_API_KEYS", api_key);
    common(&mut ingest);
    procs.push(Proc::spawn("sentinel-ingest", &mut ingest, artifacts)?);
    let mut processor = Command::new(&bins.sentinel);
    processor
        .arg("processor")
        .env("METRICS_BIND_ADDRESS", "127.0.0.1")
        .env("METRICS_PORT", metrics_port.to_string())
        .env("FLUSH_INTERVAL", "200ms");
    common(&mut processor);
    procs.push(Proc::spawn("sentinel-processor", &mut processor, artifacts)?);
    let client = Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let ready = format!("http://127.0.0.1:{ingest_port}/ready");
    let config = mcp_sentinel::ClickHouseConfig::new(clickhouse.url());
    let analytics = mcp_sentinel::Analytics::new(&config);
    loop {
        for proc in procs.iter_mut() {
            proc.alive()?;
        }
        let ingest_ready = matches!(client.get(&ready).await, Ok((200, _)));
        let schema = analytics.stats(&Default::default()).await.is_ok();
        if ingest_ready && schema {
            break;
        }
        if Instant::now() > deadline {
            bail!(
                "the analytics pipeline is not ready after 60 s (ingest ready: {ingest_ready}, schema: {schema}); see logs/sentinel-*.log"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(Pipeline {
        analytics,
        ingest_url: format!("http://127.0.0.1:{ingest_port}/events"),
        clickhouse_url: clickhouse.url(),
        servers: Some((broker, clickhouse)),
    })
}

/// Starts the OpenID provider (`node <script> <port>` next to a `node_modules` link) and
/// returns its issuer URL once its discovery document answers.
async fn start_oidc(
    dir: &Path,
    script: &Path,
    bins: &Binaries,
    artifacts: &Path,
    procs: &mut Vec<Proc>,
) -> Result<String> {
    let hint = "`cargo xtask e2e` installs Node 22 and oidc-provider";
    let node =
        bins.node.as_ref().filter(|n| n.is_file()).with_context(|| format!("no Node binary ({hint})"))?;
    let modules = bins
        .oidc_modules
        .as_ref()
        .filter(|m| m.join("oidc-provider").is_dir())
        .with_context(|| format!("no node_modules with oidc-provider ({hint})"))?;
    let work = artifacts.join("oidc");
    std::fs::create_dir_all(&work)?;
    let source = dir.join(script);
    let target = work.join(script.file_name().context("oidc.script has no file name")?);
    std::fs::copy(&source, &target).with_context(|| format!("copy {}", source.display()))?;
    let link = work.join("node_modules");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(modules, &link).with_context(|| format!("link {}", link.display()))?;
    let port = free_port()?;
    let issuer = format!("http://127.0.0.1:{port}");
    let mut proc = Proc::spawn(
        "oidc-provider",
        Command::new(node).arg(&target).arg(port.to_string()).current_dir(&work),
        artifacts,
    )?;
    let client = Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        proc.alive()?;
        if let Ok((200, _)) = client.get(&format!("{issuer}/.well-known/openid-configuration")).await {
            break;
        }
        if Instant::now() > deadline {
            bail!("the OpenID provider did not answer within 20 s (see logs/oidc-provider.log)");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    procs.push(proc);
    Ok(issuer)
}

/// `try.sh`: one MCP session through the ingress (initialize, initialized, tools/call) with
/// the token of an identity; prints the tool's answer or the gateway's denial.
fn try_script(ingress: &str, tokens: &Path, primary: &str) -> String {
    let tokens = tokens.display();
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"try.sh","version":"1"}}}"#;
    format!(
        r#"#!/usr/bin/env bash
# Written by mcp-e2e --keep-running: one governed MCP call through the local ingress.
# usage: try.sh IDENTITY TOOL [ARGS-JSON] [SERVER]
#   e.g. try.sh ops add '{{"a": 7, "b": 5}}'      (allowed: 12)
#        try.sh bob add '{{"a": 7, "b": 5}}'      (denied: bob has no grant on {primary})
set -euo pipefail
usage='usage: try.sh IDENTITY TOOL [ARGS-JSON] [SERVER]'
identity=${{1:?$usage}}
tool=${{2:?$usage}}
args=${{3:-'{{}}'}}
server=${{4:-{primary}}}
token_file="{tokens}/$server/$identity.jwt"
[ -f "$token_file" ] || {{ echo "no token for $identity on $server (see {tokens})" >&2; exit 2; }}
url="{ingress}/$server/mcp"
common=(-sS -H "authorization: Bearer $(cat "$token_file")" -H 'content-type: application/json'
        -H 'accept: application/json, text/event-stream')
headers=$(mktemp)
body=$(mktemp)
trap 'rm -f "$headers" "$body"' EXIT
curl "${{common[@]}}" -D "$headers" -o "$body" "$url" -d '{init}'
status=$(head -1 "$headers" | cut -d' ' -f2)
if [ "$status" != 200 ]; then
  echo "initialize refused: HTTP $status" >&2
  cat "$body" >&2
  echo >&2
  exit 1
fi
session=$(grep -i '^mcp-session-id:' "$headers" | cut -d' ' -f2 | tr -d '\r' || true)
common+=(-H 'mcp-protocol-version: 2025-06-18')
if [ -n "$session" ]; then common+=(-H "mcp-session-id: $session"); fi
curl "${{common[@]}}" -o /dev/null "$url" -d '{{"jsonrpc":"2.0","method":"notifications/initialized"}}'
call=$(printf '{{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{{"name":"%s","arguments":%s}}}}' "$tool" "$args")
curl "${{common[@]}}" -w '\n' "$url" -d "$call"
"#
    )
}

/// The test platform's signing key (its public half goes into every policy, or into the
/// cluster's trust ConfigMap) and the render context that trusts it.
fn platform(issuer: &str) -> (SigningKey, RenderContext) {
    let key = SigningKey::from_seed("e2e-platform", [42u8; 32]);
    let ctx = RenderContext {
        cluster: "e2e".into(),
        platform: Some(PlatformTrust { issuer: issuer.to_string(), jwks: Jwks { keys: vec![key.jwk()] } }),
        ..RenderContext::default()
    };
    (key, ctx)
}

/// `("host[:port]", "/path")` of an http(s) URL.
fn split_url(url: &str) -> Result<(String, String)> {
    let rest = url.split_once("://").map(|(_, r)| r).with_context(|| format!("not a URL: {url}"))?;
    Ok(match rest.find('/') {
        Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
        None => (rest.to_string(), "/".to_string()),
    })
}

/// Where the cluster target reaches the cluster's services (port-forwards `cargo xtask e2e
/// --kind` holds open).
#[derive(Debug, Clone)]
pub struct ClusterTarget {
    /// Traefik (`host:port`).
    pub ingress: String,
    /// ClickHouse's HTTP interface.
    pub clickhouse_url: String,
    /// The OpenID provider (token endpoint) as the harness reaches it.
    pub oidc_url: Option<String>,
    /// The platform API as the harness reaches it (for `api:` steps).
    pub platform_url: Option<String>,
    /// Wait for each gateway pod to serve a new policy (its `/config/status` through the pod
    /// proxy), not only for the operator to have written it. Always on but in tests: the
    /// in-memory API server has no pod proxy.
    pub verify_gateways: bool,
}

fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text).with_context(|| format!("write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("rename to {}", path.display()))?;
    Ok(())
}

/// Traefik's static and dynamic configuration: one router per server, `PathPrefix(/<name>)`
/// to its gateway, as the operator's Ingress routes.
fn write_traefik_config(
    dir: &Path,
    web: SocketAddr,
    ping: SocketAddr,
    servers: &BTreeMap<String, Served>,
    registry: Option<&(String, String)>,
) -> Result<()> {
    let dynamic = dir.join("dynamic.yml");
    // As deploy/base/ingress: the fast proxy (Traefik's default proxy truncates replies from
    // keep-alive backends, Traefik issue #11767; `MCP_E2E_TRAEFIK_PROXY=default` brings it back
    // to reproduce that), aliasing header names (`X_MCP_Human_Id`) removed at the entry point,
    // and idle connections to the gateways dropped after 5 s, before the gateway closes them
    // (HEADER_READ_TIMEOUT_MS, 10 s by default, also bounds a keep-alive connection's idle time).
    let default_proxy = std::env::var("MCP_E2E_TRAEFIK_PROXY").is_ok_and(|v| v == "default");
    let experimental = if default_proxy { "" } else { "experimental: {fastProxy: {}}\n" };
    let static_config = format!(
        "entryPoints:\n  web: {{address: \"{web}\", http: {{aliasHeadersStrategy: delete}}}}\n  \
         ping: {{address: \"{ping}\", http: {{aliasHeadersStrategy: delete}}}}\n\
         ping: {{entryPoint: ping}}\n\
         {experimental}\
         serversTransport: {{forwardingTimeouts: {{idleConnTimeout: 5s}}}}\n\
         providers:\n  file: {{filename: \"{}\", watch: false}}\n\
         global: {{checkNewVersion: false, sendAnonymousUsage: false}}\n\
         log: {{level: INFO}}\naccessLog: {{}}\n",
        dynamic.display()
    );
    let mut routers = String::new();
    let mut services = String::new();
    for (name, served) in servers {
        routers.push_str(&format!(
            "    {name}:\n      rule: \"PathPrefix(`{}/`)\"\n      entryPoints: [web]\n      service: {name}\n",
            served.prefix
        ));
        // RFC 9728 path insertion: the metadata of `<host>/<name>/mcp` lives at
        // `<host>/.well-known/oauth-protected-resource/<name>/mcp`.
        routers.push_str(&format!(
            "    {name}-metadata:\n      rule: \"Path(`/.well-known/oauth-protected-resource{}/mcp`)\"\n      entryPoints: [web]\n      service: {name}\n",
            served.prefix
        ));
        services.push_str(&format!(
            "    {name}:\n      loadBalancer:\n        passHostHeader: true\n        servers:\n          - url: \"http://{}\"\n",
            served.local.as_ref().map(|l| l.gateway.to_string()).unwrap_or_default()
        ));
    }
    // The registry as deploy/base/registry publishes it: every request first asks the
    // platform's forward-auth endpoint (with the caller's Authorization header).
    let mut middlewares = String::new();
    if let Some((authz, upstream)) = registry {
        routers.push_str(
            "    registry:\n      rule: \"PathPrefix(`/v2`)\"\n      entryPoints: [web]\n      middlewares: [registry-auth]\n      service: registry\n",
        );
        services.push_str(&format!(
            "    registry:\n      loadBalancer:\n        passHostHeader: true\n        servers:\n          - url: \"{upstream}\"\n"
        ));
        middlewares.push_str(&format!(
            "  middlewares:\n    registry-auth:\n      forwardAuth:\n        address: \"{authz}\"\n        trustForwardHeader: false\n        authRequestHeaders: [Authorization]\n"
        ));
    }
    let dynamic_config = format!("http:\n  routers:\n{routers}  services:\n{services}{middlewares}");
    std::fs::write(dir.join("traefik.yml"), static_config)?;
    std::fs::write(&dynamic, dynamic_config)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cluster target against the in-memory API server, with a stand-in for the operator
    /// that marks each MCPServer Ready with its URL and a revision that follows its grants.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn cluster_target_applies_patches_resets_and_cleans_up_through_the_api() {
        let api = std::sync::Arc::new(mcp_testkit::kube_api::FakeApiServer::start().await.expect("fake API"));
        let operator = {
            let api = api.clone();
            tokio::spawn(async move {
                loop {
                    for server in api.list("mcpservers") {
                        let (ns, name) = (
                            server["metadata"]["namespace"].as_str().unwrap_or_default().to_string(),
                            server["metadata"]["name"].as_str().unwrap_or_default().to_string(),
                        );
                        let grants: Vec<Value> = api
                            .list("mcpaccessgrants")
                            .into_iter()
                            .filter(|g| g["spec"]["serverRef"]["name"] == name.as_str())
                            .map(|g| g["spec"].clone())
                            .collect();
                        let revision =
                            format!("rev-{}", serde_json::to_string(&grants).unwrap_or_default().len());
                        let status = json!({"phase": "Ready", "url": format!("http://mcp.e2e.local/{name}/mcp"),
                                            "policyRevision": revision});
                        if server["status"] != status {
                            api.set_status("mcpservers", &ns, &name, status);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            })
        };
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let file = StackFile::load(dir).expect("stack.yaml");
        let target = ClusterTarget {
            ingress: "127.0.0.1:18080".into(),
            clickhouse_url: "http://127.0.0.1:18123".into(),
            oidc_url: Some("http://127.0.0.1:18081".into()),
            platform_url: Some("http://127.0.0.1:18090".into()),
            verify_gateways: false,
        };
        let mut stack = Stack::start_cluster(dir, &file, Cluster::with_client(api.client()), &target)
            .await
            .expect("start on the cluster");
        let spec = file.kind.as_ref().expect("kind section");
        let server = api.get("mcpservers", "mcp-servers", "policy-mcp-server").expect("applied");
        assert_eq!(server["spec"]["image"], json!(spec.image));
        assert!(server["spec"]["envVars"].to_string().contains("MCP_LISTEN"), "{server}");
        let trust = api.get("configmaps", "mcp-runtime", "platform-trust").expect("trust");
        assert_eq!(trust["data"]["issuer"], json!(file.issuer));
        assert!(trust["data"]["jwks.json"].as_str().unwrap_or_default().contains("OKP"));
        let oauth = api.get("mcpservers", "mcp-servers", "oauth-mcp-server").expect("oauth server");
        assert_eq!(oauth["spec"]["auth"]["issuerURL"], json!(spec.oidc_issuer.clone().unwrap_or_default()));
        assert!(api.get("namespaces", "", "mcp-servers").is_some());
        // Routes and tokens follow the status the operator wrote.
        assert_eq!(
            stack.mcp_url("policy-mcp-server").expect("url"),
            "http://127.0.0.1:18080/policy-mcp-server/mcp"
        );
        assert_eq!(
            stack.route_headers("policy-mcp-server"),
            [("host".to_string(), "mcp.e2e.local".to_string())]
        );
        assert_eq!(stack.servers["policy-mcp-server"].url, "http://mcp.e2e.local/policy-mcp-server/mcp");
        // A patch reaches the cluster as a merge patch and waits for the new revision.
        let before = api.get("mcpservers", "mcp-servers", "policy-mcp-server").expect("server")["status"]
            ["policyRevision"]
            .clone();
        let grant = json!({"spec": {"toolRules": [{"name": "add", "decision": "allow"}]}});
        stack.fixtures.patch("MCPAccessGrant", "mcp-servers", "ops-agent-grant", &grant).expect("patch");
        stack.apply().await.expect("apply the patch");
        let patched = api.get("mcpaccessgrants", "mcp-servers", "ops-agent-grant").expect("grant");
        assert_eq!(patched["spec"]["toolRules"], grant["spec"]["toolRules"]);
        let after = api.get("mcpservers", "mcp-servers", "policy-mcp-server").expect("server")["status"]
            ["policyRevision"]
            .clone();
        assert_ne!(before, after, "apply waited for the operator's new revision");
        // Reset brings the baseline back, fields the patch removed included.
        stack.reset().await.expect("reset");
        let reset = api.get("mcpaccessgrants", "mcp-servers", "ops-agent-grant").expect("grant");
        let baseline =
            stack.baseline.objects.iter().find(|o| o["metadata"]["name"] == "ops-agent-grant").expect("b");
        assert_eq!(reset["spec"], baseline["spec"]);
        // Cleanup deletes every fixture object.
        stack.cleanup().await.expect("cleanup");
        assert!(api.list("mcpservers").is_empty());
        assert!(api.list("mcpaccessgrants").is_empty());
        assert!(api.list("mcpagentsessions").is_empty());
        operator.abort();
    }

    #[test]
    fn merge_patch_follows_rfc_7386() {
        let mut target = json!({"a": "b", "c": {"d": "e", "f": "g"}, "list": [1, 2]});
        merge_patch(&mut target, &json!({"a": "z", "c": {"f": null}, "list": [3], "new": true}));
        assert_eq!(target, json!({"a": "z", "c": {"d": "e"}, "list": [3], "new": true}));
    }
}
