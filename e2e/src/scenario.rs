//! The scenario files: what the stack holds (`e2e/stack.yaml`) and what each scenario does
//! (`e2e/scenarios/*.yaml`). Every file is checked in full when loaded, so a typo fails before
//! anything starts, naming the file and the step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::Value;

/// `e2e/stack.yaml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackFile {
    /// `iss` of the platform session tokens the harness mints.
    pub issuer: String,
    /// CRD YAML files (relative to the e2e directory): the baseline every scenario starts from.
    pub fixtures: Vec<PathBuf>,
    /// Who scenarios call as; `anonymous` (no token) is built in.
    pub identities: BTreeMap<String, IdentitySpec>,
    /// Scenario order when all run (others follow by name).
    #[serde(default)]
    pub order: Vec<String>,
    /// The external OpenID provider, when scenarios need one.
    #[serde(default)]
    pub oidc: Option<OidcSpec>,
    /// The analytics pipeline (broker, ClickHouse, `mcp-sentinel ingest` and `processor`);
    /// every gateway then delivers its audit events to ingest.
    #[serde(default)]
    pub sentinel: Option<SentinelSpec>,
    /// What differs on the cluster target (`mcp-e2e --kind`).
    #[serde(default)]
    pub kind: Option<KindSpec>,
    /// The platform service (`mcp-platform` on PostgreSQL with the Local runtime backend), for
    /// scenarios that drive it through its API (`api:` steps).
    #[serde(default)]
    pub platform: Option<PlatformSpec>,
}

/// `platform:` in stack.yaml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformSpec {
    /// The administrator the harness creates (`mcp-platform admin create`) before serving.
    pub admin: Credentials,
    /// The host of the public MCP URLs the platform renders (`PLATFORM_MCP_HOST`): the
    /// audience of the session tokens it issues.
    pub mcp_host: String,
    /// A container registry (Debian's `docker-registry`) the platform pushes team images to
    /// (`PLATFORM_REGISTRY_URL`), reached through the ingress at `/v2/…` behind forward-auth to
    /// the platform's `/api/v1/registry/authz`, as `deploy/base/registry` is.
    #[serde(default)]
    pub registry: bool,
    /// Servers published through the API: for each, an example app and a gateway start with
    /// the stack, the gateway watching the policy file the Local backend writes for that
    /// server (closed, 503 `policy_unavailable`, until it is published).
    pub slots: Vec<Slot>,
}

/// An email and a password.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A server the platform may publish (see [`PlatformSpec::slots`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Slot {
    /// Team slug (namespace `mcp-team-<team>`).
    pub team: String,
    /// Server name; served at `/<server>/mcp` through the ingress.
    pub server: String,
}

/// `kind:` in stack.yaml: the cluster target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KindSpec {
    /// Replaces `spec.image` of every MCPServer of the fixtures (the example server image the
    /// cluster pulls).
    pub image: String,
    /// Environment added to every MCPServer's app container (`spec.envVars`).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// The platform trust ConfigMap (`<namespace>/<name>`) the operator reads; the harness
    /// writes the test key's public half and the issuer into it.
    pub platform_trust: String,
    /// The OpenID provider's issuer as the cluster's gateways reach it (in-cluster Service).
    #[serde(default)]
    pub oidc_issuer: Option<String>,
    /// ClickHouse user and database of the audit rows.
    pub clickhouse_user: String,
    /// The `clickhouse_user`'s password (the test overlay's generated secret).
    pub clickhouse_password: String,
    /// How long MCPServers may take to become Ready (seconds).
    #[serde(default = "default_ready_timeout")]
    pub ready_timeout: u64,
}

fn default_ready_timeout() -> u64 {
    300
}

/// `sentinel:` in stack.yaml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SentinelSpec {
    /// The ingest API key the gateways present.
    pub api_key: String,
}

/// `oidc:` in stack.yaml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcSpec {
    /// The provider's Node script (relative to the e2e directory); started as
    /// `node <script> <port>`, its issuer is `http://127.0.0.1:<port>`.
    pub script: PathBuf,
    /// Registered clients: id → secret (client credentials grant).
    pub clients: BTreeMap<String, String>,
}

/// A caller: the claims of the platform session token minted for it, or a client of the
/// external OpenID provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    /// `sub`.
    #[serde(default)]
    pub human: String,
    /// `agent`.
    #[serde(default)]
    pub agent: String,
    /// `team`.
    #[serde(default)]
    pub team: String,
    /// `sid`; absent: a token without a session.
    #[serde(default)]
    pub session: Option<String>,
    /// Get the token from the OpenID provider as this client instead.
    #[serde(default)]
    pub oauth_client: Option<String>,
}

/// One scenario file.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// Scenario name (the file's `name`, also its file stem).
    pub name: String,
    /// What it proves.
    pub description: String,
    /// Its steps, in order.
    pub steps: Vec<Step>,
    /// Where it was read from.
    pub file: PathBuf,
    /// Runs on the local stack only (`--kind` skips it, saying why).
    pub local_only: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScenario {
    name: String,
    description: String,
    /// Why the scenario cannot run on the cluster target, when it cannot.
    #[serde(default)]
    local_only: Option<String>,
    steps: Vec<RawStep>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    name: String,
    #[serde(default)]
    call: Option<Call>,
    #[serde(default)]
    http: Option<Http>,
    #[serde(default)]
    patch: Option<Patch>,
    #[serde(default)]
    events: Option<Events>,
    #[serde(default)]
    load: Option<Load>,
    #[serde(default)]
    rpc: Option<Rpc>,
    #[serde(default)]
    api: Option<Api>,
    #[serde(default)]
    cli: Option<CliStep>,
    #[serde(default)]
    expect: Option<Expect>,
}

/// One step: an action and, for calls, what must come back.
#[derive(Debug, Clone)]
pub struct Step {
    /// Shown in the report.
    pub name: String,
    /// What to do.
    pub action: Action,
    /// What must come back (calls and raw requests).
    pub expect: Expect,
}

/// What a step does.
#[derive(Debug, Clone)]
pub enum Action {
    /// An MCP session (`initialize`, `notifications/initialized`) then one `tools/call`.
    Call(Call),
    /// An MCP session then one request of any method, with any id.
    Rpc(Rpc),
    /// One raw HTTP request.
    Http(Http),
    /// A JSON merge patch on a fixture object; the affected policies are re-rendered and the
    /// step waits until every gateway serves the new revision.
    Patch(Patch),
    /// Audit events in ClickHouse, read through the sentinel query library; retried until the
    /// expectation holds or `within` passes (events take a moment to become queryable).
    Events(Events),
    /// Many `tools/call`s through the ingress from concurrent keep-alive clients; every call
    /// must come back whole with the tool's result (no transport error, no wrong answer).
    Load(Load),
    /// One request to the platform API; values of the JSON answer can be saved for later steps.
    Api(Api),
    /// The real `mcp-runtime` binary, run to completion (or left running in the background).
    Cli(CliStep),
}

/// `cli:`: one run of the real `mcp-runtime` binary.
///
/// Every scenario has its own working directory and credentials directory
/// (`MCP_RUNTIME_CONFIG_DIR`), so a login lasts for the scenario; `MCP_PLATFORM_API_URL` points
/// at the stack's platform. `${name}` in `args`, `stdin`, `files` and `expect.json` is replaced by
/// saved values, as in `api` steps; `${platform_url}`, `${ingress}`, `${mcp_url:<server>}` and
/// `${route_host:<server>}` (the `Host` its route answers to) are always known.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CliStep {
    /// The arguments after `mcp-runtime`.
    pub args: Vec<String>,
    /// Text written to its standard input (none: standard input is empty).
    #[serde(default)]
    pub stdin: Option<String>,
    /// Files written into the scenario's working directory first: relative path → content.
    #[serde(default)]
    pub files: BTreeMap<String, String>,
    /// Values to save from its standard output, read as JSON: name → JSON pointer.
    #[serde(default)]
    pub save: BTreeMap<String, String>,
    /// Run again until the expectation holds or this many seconds pass [default: once].
    #[serde(default)]
    pub within: Option<u64>,
    /// Leave it running under this name until the scenario ends (an adapter); the step waits
    /// until `ready` answers. It is stopped (SIGTERM, then SIGKILL) when the scenario ends.
    #[serde(default)]
    pub background: Option<String>,
    /// Background runs: pick a free loopback port first and save it under this name (use it
    /// in `args` as `${name}`).
    #[serde(default)]
    pub port: Option<String>,
    /// Background runs: the URL that answers 2xx once it is ready (`http://127.0.0.1:${p}/healthz`).
    #[serde(default)]
    pub ready: Option<String>,
}

/// `api:`: one request to the platform API.
///
/// `${name}` in `path`, in the strings of `body` and of `expect.json` is replaced by the value a
/// previous step of the scenario saved under `name`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Api {
    /// HTTP method (default GET).
    #[serde(default = "default_get")]
    pub method: String,
    /// Path from the platform's root (`/api/v1/...`).
    pub path: String,
    /// A saved value sent as `Authorization: Bearer <value>` (none: anonymous).
    #[serde(default, rename = "as")]
    pub bearer: Option<String>,
    /// JSON body.
    #[serde(default)]
    pub body: Option<Value>,
    /// Values to save from the JSON answer: name → JSON pointer (`/access_token`).
    #[serde(default)]
    pub save: BTreeMap<String, String>,
    /// Ask again until the expectation holds or this many seconds pass (data that takes a
    /// moment to arrive, such as analytics) [default: once].
    #[serde(default)]
    pub within: Option<u64>,
}

fn default_get() -> String {
    "GET".into()
}

/// `rpc:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rpc {
    /// Target server.
    pub server: String,
    /// Identity name from stack.yaml, or `anonymous`.
    #[serde(rename = "as")]
    pub caller: String,
    /// The JSON-RPC method.
    pub method: String,
    /// Its params.
    #[serde(default)]
    pub params: Option<Value>,
    /// The request id as written (`1.0` and `1e0` are the id `1` in JSON-RPC terms) [default 2].
    #[serde(default)]
    pub id: Option<Value>,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// `load:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Target server.
    pub server: String,
    /// Identity name from stack.yaml (one MCP session per client).
    #[serde(rename = "as")]
    pub caller: String,
    /// Tool to call.
    pub tool: String,
    /// Its arguments.
    #[serde(default)]
    pub arguments: Option<Value>,
    /// The text every reply's first content must be.
    pub text: String,
    /// Calls in all.
    pub calls: usize,
    /// Concurrent clients, each on its own keep-alive connection.
    pub clients: usize,
}

/// `events:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Events {
    /// Column filters (the event list's: server, decision, reason, tool_name, human_id, …).
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, String>,
    /// How long to keep asking, in seconds (default 30).
    #[serde(default = "default_within")]
    pub within: u64,
    /// At least this many matching events (default 1).
    #[serde(default = "default_min")]
    pub min: usize,
    /// Some matching event's payload has these values.
    #[serde(default)]
    pub payload: BTreeMap<String, Value>,
    /// Every matching event's payload has these fields as numbers ≥ 0.
    #[serde(default)]
    pub nonnegative: Vec<String>,
    /// These values all occur in this payload field among the matching events.
    #[serde(default)]
    pub includes: BTreeMap<String, Vec<String>>,
}

fn default_within() -> u64 {
    30
}

fn default_min() -> usize {
    1
}

/// The filters `events.where` accepts: the filterable columns of the one column table
/// (`mcp_events::columns`, re-exported by the sentinel schema).
pub fn event_filters() -> Vec<&'static str> {
    mcp_sentinel::schema::EVENT_COLUMNS.iter().filter(|c| c.filter).map(|c| c.name).collect()
}

/// `call:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// Target server (an MCPServer of the fixtures).
    pub server: String,
    /// Identity name from stack.yaml, or `anonymous`.
    #[serde(rename = "as")]
    pub caller: String,
    /// Tool to call.
    pub tool: String,
    /// Its arguments.
    #[serde(default)]
    pub arguments: Option<Value>,
    /// Extra request headers (e.g. forged identity headers).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Mint the token for this other server's audience instead of the target's.
    #[serde(default)]
    pub audience_of: Option<String>,
    /// Send the call to this URL instead of the server's ingress route (`${name}` replaced by
    /// saved values): a local agent adapter in front of the route.
    #[serde(default)]
    pub url: Option<String>,
    /// Call again until the expectation holds or this many seconds (fractions allowed) pass
    /// — a change made through the platform reaches the gateway a moment later [default: once].
    #[serde(default)]
    pub within: Option<f64>,
}

/// `http:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Http {
    /// Target server.
    pub server: String,
    /// Identity whose token is sent (none: no `Authorization`).
    #[serde(default, rename = "as")]
    pub caller: Option<String>,
    /// Path from the ingress root instead of the server's MCP endpoint.
    #[serde(default)]
    pub path: Option<String>,
    /// HTTP method (default POST).
    #[serde(default = "default_method")]
    pub method: String,
    /// Request headers; `Content-Type: application/json` and the MCP `Accept` are sent unless
    /// given here.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body.
    #[serde(default)]
    pub body: Option<String>,
    /// Send the body with chunked transfer encoding.
    #[serde(default)]
    pub chunked: bool,
}

fn default_method() -> String {
    "POST".into()
}

/// `patch:`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Patch {
    /// `MCPServer`, `MCPAccessGrant` or `MCPAgentSession`.
    pub kind: String,
    /// Object namespace.
    pub namespace: String,
    /// Object name.
    pub name: String,
    /// RFC 7386 JSON merge patch.
    pub merge: Value,
}

/// `expect:`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// HTTP status.
    #[serde(default)]
    pub status: Option<u16>,
    /// Denial reason (`error.data.reason`, or `error` of a non-JSON-RPC denial).
    #[serde(default)]
    pub reason: Option<String>,
    /// The tool result's first text content.
    #[serde(default)]
    pub text: Option<String>,
    /// Text the response body must contain.
    #[serde(default)]
    pub body_contains: Option<String>,
    /// Response headers that must contain a text: name → text.
    #[serde(default)]
    pub header_contains: BTreeMap<String, String>,
    /// Texts the response body must not contain.
    #[serde(default)]
    pub body_lacks: Vec<String>,
    /// The names of the tools a `tools/list` reply lists, in any order.
    #[serde(default)]
    pub tools: Option<Vec<String>>,
    /// Values in the JSON answer: JSON pointer → value (`api` steps; `cli` steps: standard
    /// output read as JSON).
    #[serde(default)]
    pub json: BTreeMap<String, Value>,
    /// `cli` steps: the exit code.
    #[serde(default)]
    pub exit: Option<i32>,
    /// `cli` steps: texts standard output must contain.
    #[serde(default)]
    pub stdout_contains: Vec<String>,
    /// `cli` steps: texts standard error must contain.
    #[serde(default)]
    pub stderr_contains: Vec<String>,
    /// `cli` steps: standard error has exactly this many lines (one clear line per error).
    #[serde(default)]
    pub stderr_lines: Option<usize>,
}

impl StackFile {
    /// Reads `stack.yaml` from the e2e directory.
    pub fn load(dir: &Path) -> Result<StackFile> {
        let path = dir.join("stack.yaml");
        let text = std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
        let stack: StackFile = mcp_api::yaml::from_str(&text)
            .with_context(|| format!("{}: not a valid stack file", path.display()))?;
        if stack.identities.contains_key("anonymous") {
            bail!("{}: `anonymous` is built in (no token); do not define it", path.display());
        }
        for (name, id) in &stack.identities {
            match &id.oauth_client {
                Some(client) => {
                    let known = stack.oidc.as_ref().is_some_and(|o| o.clients.contains_key(client));
                    if !known {
                        bail!(
                            "{}: identity {name}: client {client:?} is not in `oidc.clients`",
                            path.display()
                        );
                    }
                }
                None if id.human.is_empty() || id.agent.is_empty() => {
                    bail!("{}: identity {name} needs `human` and `agent` (or `oauth_client`)", path.display())
                }
                None => {}
            }
        }
        Ok(stack)
    }
}

const ONE_ACTION: &str =
    "needs exactly one of `call`, `http`, `patch`, `events`, `load`, `rpc`, `api` or `cli`";

/// Reads every `*.yaml` under `dir`, checked against the stack's identities.
pub fn load_scenarios(dir: &Path, stack: &StackFile, servers: &[String]) -> Result<Vec<Scenario>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("read {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    let mut scenarios = Vec::new();
    for file in files {
        let scenario = load_one(&file, stack, servers)?;
        if scenarios.iter().any(|s: &Scenario| s.name == scenario.name) {
            bail!("{}: scenario {:?} is defined twice", file.display(), scenario.name);
        }
        scenarios.push(scenario);
    }
    let rank = |name: &str| stack.order.iter().position(|o| o == name).unwrap_or(usize::MAX);
    scenarios.sort_by(|a, b| rank(&a.name).cmp(&rank(&b.name)).then(a.name.cmp(&b.name)));
    Ok(scenarios)
}

fn load_one(file: &Path, stack: &StackFile, servers: &[String]) -> Result<Scenario> {
    let text = std::fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
    let raw: RawScenario = mcp_api::yaml::from_str(&text)
        .with_context(|| format!("{}: not a valid scenario", file.display()))?;
    // `$name`: the session token a previous `api` step saved under `name`.
    let known_identity =
        |name: &str| name == "anonymous" || name.starts_with('$') || stack.identities.contains_key(name);
    let known_server = |name: &str| servers.iter().any(|s| s == name);
    let mut steps = Vec::new();
    for (i, step) in raw.steps.into_iter().enumerate() {
        let at = || format!("{}: step {} ({:?})", file.display(), i + 1, step.name);
        if let Some(cli) = step.cli {
            let others = [step.call.is_some(), step.http.is_some(), step.patch.is_some(), step.rpc.is_some()];
            if others.into_iter().any(|o| o)
                || step.events.is_some()
                || step.load.is_some()
                || step.api.is_some()
            {
                bail!("{}: {ONE_ACTION}", at());
            }
            if stack.platform.is_none() {
                bail!("{}: `cli` needs `platform:` in stack.yaml", at());
            }
            if cli.args.is_empty() {
                bail!("{}: `args` is empty", at());
            }
            if cli.within.is_some_and(|w| w > 300) {
                bail!("{}: `within` must be at most 300 seconds", at());
            }
            if let Some(bad) = cli.save.values().find(|p| !p.is_empty() && !p.starts_with('/')) {
                bail!("{}: `save` takes JSON pointers (\"/field\"), not {bad:?}", at());
            }
            if let Some(bad) =
                cli.files.keys().find(|f| f.starts_with('/') || f.split('/').any(|c| c == ".."))
            {
                bail!("{}: `files` takes paths inside the working directory, not {bad:?}", at());
            }
            let expect = step.expect.unwrap_or_default();
            match &cli.background {
                Some(_) if cli.ready.is_none() => bail!("{}: `background` needs `ready`", at()),
                Some(_) if expect != Expect::default() => {
                    bail!("{}: a background run takes no `expect` (later steps check it)", at())
                }
                None if cli.port.is_some() || cli.ready.is_some() => {
                    bail!("{}: `port` and `ready` only go with `background`", at())
                }
                None if expect.exit.is_none() => bail!("{}: `expect.exit` is required", at()),
                _ => {}
            }
            steps.push(Step { name: step.name, action: Action::Cli(cli), expect });
            continue;
        }
        if let Some(api) = step.api {
            if step.call.is_some() || step.http.is_some() || step.patch.is_some() || step.rpc.is_some() {
                bail!("{}: {ONE_ACTION}", at());
            }
            if step.events.is_some() || step.load.is_some() {
                bail!("{}: {ONE_ACTION}", at());
            }
            if stack.platform.is_none() {
                bail!("{}: `api` needs `platform:` in stack.yaml", at());
            }
            if !api.path.starts_with('/') {
                bail!("{}: `path` must start with '/'", at());
            }
            if http::Method::from_bytes(api.method.as_bytes()).is_err() {
                bail!("{}: {:?} is not an HTTP method", at(), api.method);
            }
            if api.within.is_some_and(|w| w > 300) {
                bail!("{}: `within` must be at most 300 seconds", at());
            }
            if let Some(bad) = api.save.values().find(|p| !p.is_empty() && !p.starts_with('/')) {
                bail!("{}: `save` takes JSON pointers (\"/field\"), not {bad:?}", at());
            }
            let expect = step.expect.unwrap_or_default();
            if expect.status.is_none() {
                bail!("{}: `expect.status` is required", at());
            }
            steps.push(Step { name: step.name, action: Action::Api(api), expect });
            continue;
        }
        if let Some(rpc) = step.rpc {
            if step.call.is_some() || step.http.is_some() || step.patch.is_some() {
                bail!("{}: {ONE_ACTION}", at());
            }
            if step.events.is_some() || step.load.is_some() {
                bail!("{}: {ONE_ACTION}", at());
            }
            if !known_identity(&rpc.caller) {
                bail!("{}: unknown identity {:?}", at(), rpc.caller);
            }
            if !known_server(&rpc.server) {
                bail!("{}: unknown server {:?} (known: {})", at(), rpc.server, servers.join(", "));
            }
            let expect = step.expect.unwrap_or_default();
            if expect.status.is_none() {
                bail!("{}: `expect.status` is required", at());
            }
            steps.push(Step { name: step.name, action: Action::Rpc(rpc), expect });
            continue;
        }
        let action = match (step.call, step.http, step.patch, step.events, step.load) {
            (None, None, None, None, Some(load)) => {
                if !known_identity(&load.caller) {
                    bail!("{}: unknown identity {:?}", at(), load.caller);
                }
                if !known_server(&load.server) {
                    bail!("{}: unknown server {:?} (known: {})", at(), load.server, servers.join(", "));
                }
                if load.clients == 0 || load.calls < load.clients {
                    bail!("{}: `load` needs clients >= 1 and calls >= clients", at());
                }
                Action::Load(load)
            }
            (None, None, None, Some(events), None) => {
                if stack.sentinel.is_none() {
                    bail!("{}: `events` needs `sentinel:` in stack.yaml", at());
                }
                let filters = event_filters();
                if let Some(bad) = events.filter.keys().find(|k| !filters.contains(&k.as_str())) {
                    bail!("{}: cannot filter events by {bad:?} (one of {})", at(), filters.join(", "));
                }
                Action::Events(events)
            }
            (Some(call), None, None, None, None) => {
                if call.within.is_some_and(|w| !(0.0..=60.0).contains(&w)) {
                    bail!("{}: `within` must be between 0 and 60 seconds", at());
                }
                if !known_identity(&call.caller) {
                    bail!("{}: unknown identity {:?}", at(), call.caller);
                }
                for server in std::iter::once(&call.server).chain(call.audience_of.iter()) {
                    if !known_server(server) {
                        bail!("{}: unknown server {server:?} (known: {})", at(), servers.join(", "));
                    }
                }
                Action::Call(call)
            }
            (None, Some(http), None, None, None) => {
                if let Some(caller) = &http.caller
                    && !known_identity(caller)
                {
                    bail!("{}: unknown identity {caller:?}", at());
                }
                if !known_server(&http.server) {
                    bail!("{}: unknown server {:?} (known: {})", at(), http.server, servers.join(", "));
                }
                if http.path.as_deref().is_some_and(|p| !p.starts_with('/')) {
                    bail!("{}: `path` must start with '/'", at());
                }
                if http::Method::from_bytes(http.method.as_bytes()).is_err() {
                    bail!("{}: {:?} is not an HTTP method", at(), http.method);
                }
                Action::Http(http)
            }
            (None, None, Some(patch), None, None) => {
                if !["MCPServer", "MCPAccessGrant", "MCPAgentSession"].contains(&patch.kind.as_str()) {
                    bail!("{}: cannot patch kind {:?}", at(), patch.kind);
                }
                if !patch.merge.is_object() {
                    bail!("{}: `merge` must be an object (a JSON merge patch)", at());
                }
                Action::Patch(patch)
            }
            _ => bail!("{}: {ONE_ACTION}", at()),
        };
        let expect = step.expect.unwrap_or_default();
        match &action {
            Action::Patch(_) | Action::Events(_) | Action::Load(_) if expect != Expect::default() => {
                bail!(
                    "{}: a patch, events or load step takes no `expect` (events and load carry their own checks)",
                    at()
                )
            }
            Action::Call(_) | Action::Http(_) if expect.status.is_none() => {
                bail!("{}: `expect.status` is required", at())
            }
            _ => {}
        }
        steps.push(Step { name: step.name, action, expect });
    }
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
    if raw.name != stem {
        bail!("{}: name {:?} must match the file name", file.display(), raw.name);
    }
    Ok(Scenario {
        name: raw.name,
        description: raw.description,
        steps,
        file: file.to_path_buf(),
        local_only: raw.local_only,
    })
}
