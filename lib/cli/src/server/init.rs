//! `server init`: adds a server to `.mcp/servers.yaml`, or replaces it with `--force`.
//!
//! Plan, then write: the new entry is built from the flags, checked on its own and against
//! the servers already in the metadata directory, and only then is one file rewritten
//! atomically. Files are merged as YAML values, so fields and documents this version does not
//! model survive (comments do not).

use std::path::{Path, PathBuf};

use clap::ArgAction;
use mcp_api::{
    AuthConfig, AuthMode, GatewayConfig, PolicyConfig, PolicyDecision, PolicyMode, Scope, SessionConfig,
    SideEffect, ToolConfig, TrustLevel, image_has_tag_or_digest, route_for_prefix,
};

use crate::args::{ToolRisk, ToolSpec, enum_parser, parse_tool_name, parse_tool_risk, parse_tool_spec};
use crate::cli::Ctx;
use crate::error::CliError;
use crate::metadata::{self, DEFAULT_FILE, MetadataFile, ServerMetadata, VERSION};
use crate::report::{Report, Severity, Source};
use crate::yaml::{Document, Ordered, Problem};
use crate::{fsio, names};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Server name, a DNS-1123 label [default: the current directory's name]
    #[arg(value_name = "NAME")]
    name: Option<String>,
    /// Directory holding the metadata files
    #[arg(long, value_name = "DIR", default_value = ".mcp")]
    metadata_dir: PathBuf,
    #[arg(
        long,
        value_name = "IMAGE",
        help = "Container image [default: registry.local/<NAME>, under org/ or public/ for those scopes]"
    )]
    image: Option<String>,
    /// Image tag [default: latest, unless --image already names a tag or digest]
    #[arg(long, value_name = "TAG")]
    tag: Option<String>,
    /// Who may see the server in the catalog; also picks the default namespace
    #[arg(long, value_name = "SCOPE", default_value = "tenant", value_parser = enum_parser::<Scope>(Scope::NAMES))]
    scope: Scope,
    /// Namespace of the server [default: mcp-servers, mcp-servers-org or mcp-servers-public, by scope]
    #[arg(long, value_name = "NAMESPACE")]
    namespace: Option<String>,
    /// Whether the gateway enforces grants or only records decisions
    #[arg(long, value_name = "MODE", default_value = "allow-list", value_parser = enum_parser::<PolicyMode>(PolicyMode::NAMES))]
    policy_mode: PolicyMode,
    /// Decision when no grant allows a call
    #[arg(long, value_name = "DECISION", default_value = "deny", value_parser = enum_parser::<PolicyDecision>(PolicyDecision::NAMES))]
    default_decision: PolicyDecision,
    /// Require a valid agent session on every tool call
    #[arg(
        long,
        value_name = "BOOL",
        default_value_t = true,
        num_args = 0..=1,
        default_missing_value = "true",
        action = ArgAction::Set
    )]
    session_required: bool,
    /// Port the app container listens on
    #[arg(long, value_name = "PORT", default_value_t = 8088, value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// Declare a tool that only reads and needs low trust (repeatable)
    #[arg(long = "tool", value_name = "NAME", value_parser = parse_tool_name)]
    tools: Vec<String>,
    /// Declare a tool with its required trust and side effect, e.g. delete_repo:high:destructive (repeatable)
    #[arg(long = "tool-spec", value_name = "NAME:TRUST:SIDE_EFFECT", value_parser = parse_tool_spec)]
    tool_specs: Vec<ToolSpec>,
    /// Set the risk level of a declared tool, e.g. delete_repo:high (repeatable)
    #[arg(long = "tool-risk", value_name = "NAME:RISK", value_parser = parse_tool_risk)]
    tool_risks: Vec<ToolRisk>,
    /// Owning platform team
    #[arg(long, value_name = "ID")]
    team_id: Option<String>,
    /// How the gateway identifies callers
    #[arg(long, value_name = "MODE", default_value = "platform-session", value_parser = enum_parser::<AuthMode>(AuthMode::NAMES))]
    auth_mode: AuthMode,
    /// Replace a server of the same name instead of failing
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: Args, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let server = plan(&args, ctx.cwd)?;
    let existing = Existing::load(ctx, &args.metadata_dir)?;

    // Where the entry goes: over the server of that name, or at the end of servers.yaml.
    let default_file = args.metadata_dir.join(DEFAULT_FILE);
    let (file, doc, index, replacing) = match existing.find(&server.name) {
        Some((found, _, _)) if !args.force => {
            return Err(CliError::ServerExists { name: server.name.clone(), file: found.path.clone() });
        }
        Some((found, doc, index)) => (found.path.clone(), Some(doc), index, true),
        None => {
            let target = existing.files.iter().find(|f| f.path == default_file);
            let doc = target.and_then(|f| f.docs.len().checked_sub(1));
            let index = match (target, doc) {
                (Some(f), Some(d)) => f.decoded.get(d).map_or(0, |decoded| decoded.servers.len()),
                _ => 0,
            };
            (default_file.clone(), doc, index, false)
        }
    };
    let several = existing.files.iter().find(|f| f.path == file).is_some_and(|f| f.docs.len() > 1);
    let source = Source::new(&file, doc.map_or(0, |d| existing.doc_index(&file, d)), several);

    // Check the entry on its own and against the other servers.
    let at = format!("servers[{index}]");
    let mut report = Report::default();
    for (is_error, problem) in server.check(&at) {
        report.push(if is_error { Severity::Error } else { Severity::Warning }, &source, problem);
    }
    let (host, route) = host_and_route(&server);
    for other in existing.servers().filter(|s| s.name != server.name) {
        if host_and_route(other) == (host.clone(), route.clone()) {
            let message = format!("route already served by server {:?}", other.name);
            report.error(&source, Problem::new(format!("{at}.route"), message, Some(&route)));
        }
    }
    report.print(ctx.err)?;
    if report.errors() > 0 {
        return Err(CliError::Invalid { what: format!("server {:?}", server.name), errors: report.errors() });
    }

    // Write the one file that changes.
    let entry = Ordered::from_serialize(&server).map_err(|source| serialize_error(&server.name, source))?;
    let mut docs: Vec<Ordered> = existing
        .files
        .iter()
        .find(|f| f.path == file)
        .map(|f| f.docs.iter().map(|d| d.ordered.clone()).collect())
        .unwrap_or_default();
    match doc.and_then(|d| docs.get_mut(d)) {
        Some(target) => place(target, index, entry, replacing),
        None => docs.push(new_doc(entry)),
    }
    let mut text = String::new();
    for (i, value) in docs.iter().enumerate() {
        if i > 0 {
            text.push_str("---\n");
        }
        text.push_str(
            &serde_saphyr::to_string(value).map_err(|source| serialize_error(&server.name, source.into()))?,
        );
    }
    fsio::create_dir(&ctx.path(&args.metadata_dir), &args.metadata_dir)?;
    fsio::write_atomic(&ctx.path(&file), &file, &text)?;
    let verb = if replacing { "replaced" } else { "added" };
    writeln!(ctx.out, "{verb} server {:?} in {}", server.name, file.display())?;
    Ok(())
}

/// Sets the image of the server `name` in the metadata under `dir` to `image` (a reference
/// with its tag or digest, so any `imageTag` is removed) and rewrites that one file
/// atomically; returns the file. Other fields and documents are kept as they are.
pub(crate) fn set_image(ctx: &Ctx<'_>, dir: &Path, name: &str, image: &str) -> Result<PathBuf, CliError> {
    let existing = Existing::load(ctx, dir)?;
    let Some((file, doc, index)) = existing.find(name) else {
        return Err(CliError::NotFound {
            what: format!("server {name:?} in the metadata under {}", dir.display()),
        });
    };
    let mut docs: Vec<Ordered> = file.docs.iter().map(|d| d.ordered.clone()).collect();
    let entry = docs.get_mut(doc).and_then(|d| d.entry("servers")).and_then(|servers| match servers {
        Ordered::Seq(list) => list.get_mut(index),
        _ => None,
    });
    let Some(Ordered::Map(fields)) = entry else {
        return Err(CliError::NotFound { what: format!("server {name:?} in {}", file.path.display()) });
    };
    fields.retain(|(k, _)| k != "imageTag");
    match fields.iter_mut().find(|(k, _)| k == "image") {
        Some((_, value)) => *value = Ordered::String(image.to_string()),
        None => fields.insert(1.min(fields.len()), ("image".to_string(), Ordered::String(image.to_string()))),
    }
    let mut text = String::new();
    for (i, value) in docs.iter().enumerate() {
        if i > 0 {
            text.push_str("---\n");
        }
        text.push_str(
            &serde_saphyr::to_string(value).map_err(|source| serialize_error(name, source.into()))?,
        );
    }
    fsio::write_atomic(&ctx.path(&file.path), &file.path, &text)?;
    Ok(file.path.clone())
}

/// The metadata entry the flags describe.
fn plan(args: &Args, cwd: &Path) -> Result<ServerMetadata, CliError> {
    let name = match &args.name {
        Some(name) => {
            names::check_label(name).map_err(|reason| CliError::InvalidArgument {
                flag: "NAME",
                value: name.clone(),
                reason,
            })?;
            name.clone()
        }
        None => {
            let dir = cwd.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            names::sanitize(&dir, false).ok_or_else(|| CliError::InvalidArgument {
                flag: "NAME",
                value: dir.clone(),
                reason: "cannot derive a server name from the current directory; pass NAME".to_string(),
            })?
        }
    };
    if let Some(ns) = &args.namespace {
        names::check_label(ns).map_err(|reason| CliError::InvalidArgument {
            flag: "--namespace",
            value: ns.clone(),
            reason,
        })?;
    }
    let image = args.image.clone().unwrap_or_else(|| metadata::default_image(&name, args.scope));
    let image_tag = match &args.tag {
        Some(tag) if image_has_tag_or_digest(&image) => {
            return Err(CliError::InvalidArgument {
                flag: "--tag",
                value: tag.clone(),
                reason: format!("the image {image:?} already names a tag or digest"),
            });
        }
        Some(tag) => Some(tag.clone()),
        None if image_has_tag_or_digest(&image) => None,
        None => Some(mcp_api::DEFAULT_IMAGE_TAG.to_string()),
    };

    let mut tools: Vec<ToolConfig> = args
        .tools
        .iter()
        .map(|name| tool(name, TrustLevel::Low, SideEffect::Read))
        .chain(args.tool_specs.iter().map(|s| tool(&s.name, s.trust, s.side_effect)))
        .collect();
    for risk in &args.tool_risks {
        let mut matched = false;
        for t in tools.iter_mut().filter(|t| t.name == risk.name) {
            t.risk_level = Some(risk.risk);
            matched = true;
        }
        if !matched {
            return Err(CliError::InvalidArgument {
                flag: "--tool-risk",
                value: format!("{}:{}", risk.name, risk.risk),
                reason: "names a tool not declared with --tool or --tool-spec".to_string(),
            });
        }
    }

    Ok(ServerMetadata {
        team_id: args.team_id.clone(),
        scope: Some(args.scope),
        namespace: Some(args.namespace.clone().unwrap_or_else(|| args.scope.default_namespace().to_string())),
        image: Some(image),
        image_tag,
        port: Some(i32::from(args.port)),
        route: Some(route_for_prefix(&name)),
        public_path_prefix: Some(name.clone()),
        tools,
        auth: Some(AuthConfig { mode: Some(args.auth_mode), ..AuthConfig::default() }),
        policy: Some(PolicyConfig {
            mode: Some(args.policy_mode),
            default_decision: Some(args.default_decision),
            ..PolicyConfig::default()
        }),
        session: Some(SessionConfig { required: Some(args.session_required), ..SessionConfig::default() }),
        gateway: Some(GatewayConfig { enabled: Some(true), ..GatewayConfig::default() }),
        name,
        ..ServerMetadata::default()
    })
}

/// Where a server is reached: ingress host (empty for hostless) and path.
fn host_and_route(server: &ServerMetadata) -> (String, String) {
    let spec = server.defaulted_spec();
    (spec.ingress_host.clone().unwrap_or_default(), spec.effective_path(&server.name))
}

fn tool(name: &str, trust: TrustLevel, side_effect: SideEffect) -> ToolConfig {
    ToolConfig {
        name: name.to_string(),
        required_trust: Some(trust),
        side_effect: Some(side_effect),
        ..ToolConfig::default()
    }
}

/// The metadata files already in the directory, parsed and decoded.
struct Existing {
    files: Vec<ExistingFile>,
}

struct ExistingFile {
    path: PathBuf,
    docs: Vec<Document>,
    decoded: Vec<metadata::MetadataDoc>,
}

impl Existing {
    /// Reads every metadata file; a file that does not parse or decode stops `init`, since it
    /// could not be merged safely.
    fn load(ctx: &Ctx<'_>, dir: &Path) -> Result<Self, CliError> {
        let full = ctx.path(dir);
        if !full.exists() {
            return Ok(Existing { files: Vec::new() });
        }
        let mut files = Vec::new();
        for path in fsio::yaml_files(&full, dir)? {
            let file = MetadataFile::read(ctx, &path)?;
            let docs = file
                .docs
                .map_err(|source| CliError::Syntax { file: path.clone(), source: Box::new(source) })?;
            let several = docs.len() > 1;
            let mut decoded = Vec::new();
            for doc in &docs {
                let (value, _unknown_fields_are_kept) =
                    metadata::decode_doc(&doc.value).map_err(|p| CliError::Decode {
                        file: path.clone(),
                        document: several.then_some(doc.index),
                        field: p.field,
                        message: p.message,
                        value: p.value,
                    })?;
                decoded.push(value);
            }
            files.push(ExistingFile { path, docs, decoded });
        }
        Ok(Existing { files })
    }

    /// The file, document (position in `docs`) and index of the server called `name`.
    fn find(&self, name: &str) -> Option<(&ExistingFile, usize, usize)> {
        self.files.iter().find_map(|f| {
            f.decoded
                .iter()
                .enumerate()
                .find_map(|(d, doc)| doc.servers.iter().position(|s| s.name == name).map(|i| (f, d, i)))
        })
    }

    /// The position of document `d` of `file` in the file, empty documents counted.
    fn doc_index(&self, file: &Path, d: usize) -> usize {
        self.files.iter().find(|f| f.path == file).and_then(|f| f.docs.get(d)).map_or(0, |doc| doc.index)
    }

    fn servers(&self) -> impl Iterator<Item = &ServerMetadata> {
        self.files.iter().flat_map(|f| f.decoded.iter().flat_map(|d| d.servers.iter()))
    }
}

/// Puts `entry` at `index` of the document's `servers`, replacing or appending.
fn place(doc: &mut Ordered, index: usize, entry: Ordered, replacing: bool) {
    let Some(servers) = doc.entry("servers") else {
        *doc = new_doc(entry);
        return;
    };
    if !matches!(servers, Ordered::Seq(_)) {
        *servers = Ordered::Seq(Vec::new());
    }
    if let Ordered::Seq(list) = servers {
        if replacing && index < list.len() {
            list[index] = entry;
        } else {
            list.push(entry);
        }
    }
}

fn new_doc(entry: Ordered) -> Ordered {
    Ordered::Map(vec![
        ("version".to_string(), Ordered::String(VERSION.to_string())),
        ("servers".to_string(), Ordered::Seq(vec![entry])),
    ])
}

fn serialize_error(name: &str, source: Box<dyn std::error::Error + Send + Sync>) -> CliError {
    CliError::Serialize { what: format!("server {name:?}"), source }
}
