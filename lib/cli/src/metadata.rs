//! `.mcp/*.yaml` server metadata (`{version: v1, servers: [...]}`): the types, how a metadata
//! entry becomes an `MCPServer`, loading a directory or file, and the checks `server
//! validate`, `server generate` and `server init` share.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mcp_api::{
    AnalyticsConfig, AuthConfig, DefaultingOptions, EnvVar, GatewayConfig, InventoryItem, MCPServer,
    MCPServerSpec, PolicyConfig, ResourceRequirements, Scope, SecretEnvVar, SessionConfig, ToolConfig,
    default_server, route_for_prefix, validate_server,
};
use serde::{Deserialize, Serialize};

use crate::cli::Ctx;
use crate::error::CliError;
use crate::report::{Report, Source};
use crate::yaml::{self, Document, Problem};
use crate::{fsio, names};

/// The only metadata format version.
pub(crate) const VERSION: &str = "v1";
/// The file `server init` writes new servers to.
pub(crate) const DEFAULT_FILE: &str = "servers.yaml";
/// Registry host of default images.
pub(crate) const DEFAULT_REGISTRY: &str = "registry.local";

/// One metadata document: `{version: v1, servers: [...]}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct MetadataDoc {
    /// Format version; `v1` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The servers.
    #[serde(default)]
    pub servers: Vec<ServerMetadata>,
}

/// One server's metadata: a subset of the MCPServer spec plus `name`, `scope`, `namespace`
/// and `route`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ServerMetadata {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "teamID", default, skip_serializing_if = "Option::is_none")]
    pub team_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_tag: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub image_pull_secrets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_port: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_path_prefix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_host: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env_vars: Vec<EnvVar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub secret_env_vars: Vec<SecretEnvVar>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolConfig>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub prompts: Vec<InventoryItem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mcp_resources: Vec<InventoryItem>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<InventoryItem>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<PolicyConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<SessionConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<GatewayConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analytics: Option<AnalyticsConfig>,
}

/// The prefix `p` of a route `/p/mcp`, if it has that shape.
fn prefix_of_route(route: &str) -> Option<String> {
    let inner = route.trim().strip_prefix('/')?.strip_suffix("/mcp")?.trim_matches('/');
    (!inner.is_empty()).then(|| inner.to_string())
}

/// `registry.local/<name>`, under `org/` or `public/` for those scopes.
pub(crate) fn default_image(name: &str, scope: Scope) -> String {
    match scope {
        Scope::Tenant => format!("{DEFAULT_REGISTRY}/{name}"),
        Scope::Org => format!("{DEFAULT_REGISTRY}/org/{name}"),
        Scope::Public => format!("{DEFAULT_REGISTRY}/public/{name}"),
    }
}

impl ServerMetadata {
    pub(crate) fn scope(&self) -> Scope {
        self.scope.unwrap_or(Scope::Tenant)
    }

    /// The namespace given, else the scope's default.
    pub(crate) fn namespace(&self) -> String {
        match self.namespace.as_deref().map(str::trim).filter(|ns| !ns.is_empty()) {
            Some(ns) => ns.to_string(),
            None => self.scope().default_namespace().to_string(),
        }
    }

    /// The MCPServer spec this entry stands for, before defaulting. The route is carried by
    /// `publicPathPrefix`: the one given, else the `p` of a `route: /p/mcp`, else the name. A
    /// route of any other shape becomes `ingressPath` (and then needs `ingressHost`).
    pub(crate) fn spec(&self) -> MCPServerSpec {
        let prefix = self.public_path_prefix.clone().filter(|p| !p.trim().is_empty());
        let route = self.route.clone().filter(|r| !r.trim().is_empty());
        let (public_path_prefix, ingress_path) = match (prefix, route) {
            (Some(prefix), _) => (Some(prefix), None),
            (None, Some(route)) => match prefix_of_route(&route) {
                Some(prefix) => (Some(prefix), None),
                None => (None, Some(route)),
            },
            (None, None) => (Some(self.name.clone()), None),
        };
        MCPServerSpec {
            team_id: self.team_id.clone(),
            description: self.description.clone(),
            image: self.image.clone().unwrap_or_else(|| default_image(&self.name, self.scope())),
            image_tag: self.image_tag.clone(),
            image_pull_secrets: self.image_pull_secrets.clone(),
            replicas: self.replicas,
            port: self.port,
            service_port: self.service_port,
            ingress_path,
            ingress_host: self.ingress_host.clone(),
            public_path_prefix,
            resources: self.resources.clone(),
            env_vars: self.env_vars.clone(),
            secret_env_vars: self.secret_env_vars.clone(),
            tools: self.tools.clone(),
            prompts: self.prompts.clone(),
            mcp_resources: self.mcp_resources.clone(),
            tasks: self.tasks.clone(),
            auth: self.auth.clone(),
            policy: self.policy.clone(),
            session: self.session.clone(),
            gateway: self.gateway.clone(),
            analytics: self.analytics.clone(),
            ..MCPServerSpec::default()
        }
    }

    /// The MCPServer object (`metadata.name`, `metadata.namespace`, undefaulted spec).
    pub(crate) fn to_server(&self) -> MCPServer {
        let mut server = MCPServer::new(&self.name, self.spec());
        server.metadata.namespace = Some(self.namespace());
        server
    }

    /// The spec as the operator will see it.
    pub(crate) fn defaulted_spec(&self) -> MCPServerSpec {
        default_server(&self.name, &self.spec(), &DefaultingOptions::default())
    }

    /// Every problem with this entry on its own; `at` is its path, e.g. `servers[0]`.
    pub(crate) fn check(&self, at: &str) -> Vec<(bool, Problem)> {
        let mut problems = Vec::new();
        let mut error = |p: Problem| problems.push((true, p));
        if let Err(reason) = names::check_label(&self.name) {
            error(Problem::new(format!("{at}.name"), reason, Some(&self.name)));
        }
        if let Some(ns) = self.namespace.as_deref()
            && let Err(reason) = names::check_label(ns)
        {
            error(Problem::new(format!("{at}.namespace"), reason, Some(ns)));
        }
        if let (Some(prefix), Some(route)) = (self.public_path_prefix.as_deref(), self.route.as_deref()) {
            let served = route_for_prefix(prefix);
            if !prefix.trim().trim_matches('/').is_empty() && !route.trim().is_empty() && route != served {
                error(Problem::new(
                    format!("{at}.route"),
                    format!("does not match publicPathPrefix, which serves {served}"),
                    Some(route),
                ));
            }
        }
        let findings = validate_server(&self.defaulted_spec(), at);
        problems.extend(findings.errors.into_iter().map(|e| (true, Problem::from(e))));
        problems.extend(findings.warnings.into_iter().map(|w| (false, Problem::from(w))));
        problems
    }
}

impl From<mcp_api::FieldError> for Problem {
    fn from(e: mcp_api::FieldError) -> Self {
        Problem { field: e.field, message: e.message, value: e.value }
    }
}

/// Where metadata is read from.
#[derive(Clone, Debug)]
pub(crate) enum Location {
    /// Every `*.yaml`/`*.yml` file in a directory.
    Dir(PathBuf),
    /// One file.
    File(PathBuf),
}

impl Location {
    pub(crate) fn new(dir: &Path, file: Option<&Path>) -> Self {
        match file {
            Some(file) => Location::File(file.to_path_buf()),
            None => Location::Dir(dir.to_path_buf()),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        match self {
            Location::Dir(p) | Location::File(p) => p,
        }
    }

    /// Whether anything is there.
    pub(crate) fn exists(&self, ctx: &Ctx<'_>) -> bool {
        ctx.path(self.path()).exists()
    }

    /// The files to read, as the user would name them. A missing location is an error.
    pub(crate) fn files(&self, ctx: &Ctx<'_>) -> Result<Vec<PathBuf>, CliError> {
        match self {
            Location::File(file) => Ok(vec![file.clone()]),
            Location::Dir(dir) => {
                let full = ctx.path(dir);
                if !full.is_dir() {
                    return Err(CliError::NoMetadata { path: dir.clone() });
                }
                let files = fsio::yaml_files(&full, dir)?;
                if files.is_empty() {
                    return Err(CliError::NoMetadata { path: dir.clone() });
                }
                Ok(files)
            }
        }
    }
}

/// A metadata file, read and split into documents.
#[derive(Debug)]
pub(crate) struct MetadataFile {
    /// As the user would name it.
    pub path: PathBuf,
    /// The documents, or the syntax error that stopped parsing.
    pub docs: Result<Vec<Document>, serde_saphyr::Error>,
}

impl MetadataFile {
    pub(crate) fn read(ctx: &Ctx<'_>, path: &Path) -> Result<Self, CliError> {
        let text = fsio::read(&ctx.path(path), path)?;
        Ok(MetadataFile { path: path.to_path_buf(), docs: yaml::parse_documents(&text) })
    }

    fn several(&self) -> bool {
        self.docs.as_ref().is_ok_and(|d| d.len() > 1)
    }

    pub(crate) fn source(&self, doc: &Document) -> Source {
        Source::new(&self.path, doc.index, self.several())
    }
}

/// One decoded server entry and where it came from.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub source: Source,
    /// `servers[i]`.
    pub at: String,
    pub server: ServerMetadata,
}

/// The result of checking metadata files: every finding, and the entries that decoded.
#[derive(Clone, Debug, Default)]
pub(crate) struct Checked {
    pub report: Report,
    pub entries: Vec<Entry>,
}

impl Checked {
    /// Entries by server name (the first one wins when names repeat).
    pub(crate) fn by_name(&self) -> BTreeMap<&str, &ServerMetadata> {
        let mut map = BTreeMap::new();
        for entry in &self.entries {
            map.entry(entry.server.name.as_str()).or_insert(&entry.server);
        }
        map
    }
}

/// Decodes one metadata document; unknown fields come back separately.
pub(crate) fn decode_doc(value: &serde_json::Value) -> Result<(MetadataDoc, Vec<Problem>), Problem> {
    let (doc, unknown): (MetadataDoc, _) = yaml::decode(value)?;
    match doc.version.as_deref() {
        None | Some(VERSION) => Ok((doc, unknown)),
        Some(other) => Err(Problem::new(
            "version",
            format!("unsupported metadata version (expected {VERSION})"),
            Some(other),
        )),
    }
}

/// Reads and checks every metadata file: shape, then each server, then what servers must
/// not share (names and routes).
/// The servers at `location` for commands that act on them (`server generate`, `server
/// deploy`): every file read and checked, the findings printed; any error, or no server at
/// all, fails before the caller does anything.
pub(crate) fn read_valid(ctx: &mut Ctx<'_>, location: &Location) -> Result<Vec<Entry>, CliError> {
    let files = location.files(ctx)?;
    let checked = check(ctx, &files)?;
    checked.report.print(ctx.err)?;
    if checked.report.errors() > 0 {
        let what = format!("metadata in {}", location.path().display());
        return Err(CliError::Invalid { what, errors: checked.report.errors() });
    }
    if checked.entries.is_empty() {
        return Err(CliError::NoMetadata { path: location.path().to_path_buf() });
    }
    Ok(checked.entries)
}

pub(crate) fn check(ctx: &Ctx<'_>, files: &[PathBuf]) -> Result<Checked, CliError> {
    let mut checked = Checked::default();
    for path in files {
        let file = MetadataFile::read(ctx, path)?;
        let docs = match &file.docs {
            Ok(docs) => docs,
            Err(err) => {
                checked
                    .report
                    .error(&Source::file(path), Problem::new("", format!("invalid YAML: {err}"), None));
                continue;
            }
        };
        if docs.is_empty() {
            checked.report.warning(&Source::file(path), Problem::new("", "holds no servers", None));
        }
        for doc in docs {
            let source = file.source(doc);
            match decode_doc(&doc.value) {
                Ok((decoded, unknown)) => {
                    for problem in unknown {
                        checked.report.error(&source, problem);
                    }
                    for (i, server) in decoded.servers.into_iter().enumerate() {
                        let at = format!("servers[{i}]");
                        for (is_error, problem) in server.check(&at) {
                            checked.report.push(severity(is_error), &source, problem);
                        }
                        checked.entries.push(Entry { source: source.clone(), at, server });
                    }
                }
                Err(problem) => checked.report.error(&source, problem),
            }
        }
    }

    let mut names: BTreeMap<&str, &Entry> = BTreeMap::new();
    let mut routes: BTreeMap<(String, String), &Entry> = BTreeMap::new();
    let mut conflicts = Vec::new();
    for entry in &checked.entries {
        let name = entry.server.name.as_str();
        if let Some(first) = names.get(name) {
            conflicts.push((
                entry.source.clone(),
                Problem::new(
                    format!("{}.name", entry.at),
                    format!(
                        "duplicate server name (first declared in {} at {})",
                        first.source.label(),
                        first.at
                    ),
                    Some(name),
                ),
            ));
            continue;
        }
        names.insert(name, entry);
        let spec = entry.server.defaulted_spec();
        let host = spec.ingress_host.clone().unwrap_or_default();
        let route = spec.effective_path(name);
        if let Some(first) = routes.get(&(host.clone(), route.clone())) {
            conflicts.push((
                entry.source.clone(),
                Problem::new(
                    format!("{}.route", entry.at),
                    format!("route already served by server {:?}", first.server.name),
                    Some(&route),
                ),
            ));
        } else {
            routes.insert((host, route), entry);
        }
    }
    for (source, problem) in conflicts {
        checked.report.error(&source, problem);
    }
    Ok(checked)
}

/// The tools of a server, by name.
pub(crate) fn tools(server: &ServerMetadata) -> BTreeMap<&str, &ToolConfig> {
    server.tools.iter().map(|t| (t.name.as_str(), t)).collect()
}

fn severity(is_error: bool) -> crate::report::Severity {
    if is_error { crate::report::Severity::Error } else { crate::report::Severity::Warning }
}

#[cfg(test)]
mod tests;
