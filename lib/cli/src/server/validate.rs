//! `server validate`: checks metadata, grant and session files, one line per finding.
//!
//! Every check of lib/api's `validate_*` runs, plus what only the CLI can see: files that do
//! not decode, unknown fields, duplicate and conflicting servers, and grants and sessions
//! that name servers or tools the metadata does not declare.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use jiff::Timestamp;
use mcp_api::{
    MCPAccessGrant, MCPAgentSession, PolicyDecision, ServerRef, parse_rfc3339, validate_grant,
    validate_session,
};

use crate::cli::Ctx;
use crate::error::{CliError, count};
use crate::fsio;
use crate::manifests::{Object, decode_objects};
use crate::metadata::{self, Location, ServerMetadata};
use crate::report::{Report, Severity, Source};
use crate::yaml::{self, Problem};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Directory holding the metadata files
    #[arg(long, value_name = "DIR", default_value = ".mcp")]
    metadata_dir: PathBuf,
    /// Metadata file to check instead of the metadata directory
    #[arg(long, value_name = "FILE", conflicts_with = "metadata_dir")]
    metadata_file: Option<PathBuf>,
    /// MCPAccessGrant manifest to check against the metadata (repeatable)
    #[arg(long = "grant-file", value_name = "FILE")]
    grant_files: Vec<PathBuf>,
    /// MCPAgentSession manifest to check against the metadata (repeatable)
    #[arg(long = "session-file", value_name = "FILE")]
    session_files: Vec<PathBuf>,
}

pub(crate) fn run(args: Args, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let location = Location::new(&args.metadata_dir, args.metadata_file.as_deref());
    let mut report = Report::default();
    let mut files = 0;

    // Metadata. Without a metadata directory, grant and session files are still checked on
    // their own.
    let only_manifests = !(args.grant_files.is_empty() && args.session_files.is_empty());
    let checked = if matches!(location, Location::Dir(_)) && only_manifests && !location.exists(ctx) {
        report.warning(
            &Source::file(location.path()),
            Problem::new("", "not found: grants and sessions are not checked against server metadata", None),
        );
        None
    } else {
        let paths = location.files(ctx)?;
        files += paths.len();
        let checked = metadata::check(ctx, &paths)?;
        report.findings.extend(checked.report.findings.iter().cloned());
        Some(checked)
    };
    let servers = checked.as_ref().map(|c| c.by_name());

    let now = ctx.now;
    let mut grants: Vec<(Source, String, MCPAccessGrant)> = Vec::new();
    for path in &args.grant_files {
        files += 1;
        each_object(ctx, path, &mut report, |report, source, at, object| match object {
            Object::Grant(grant) => {
                for (severity, problem) in check_grant(&grant, servers.as_ref(), now) {
                    report.push(severity, source, problem.under(at));
                }
                grants.push((source.clone(), at.to_string(), *grant));
            }
            other => report.error(source, wrong_kind(at, "MCPAccessGrant", "grant", &other)),
        })?;
    }
    let known_grants = (!args.grant_files.is_empty()).then_some(grants.as_slice());
    let mut sessions: Vec<(Source, String, MCPAgentSession)> = Vec::new();
    for path in &args.session_files {
        files += 1;
        each_object(ctx, path, &mut report, |report, source, at, object| match object {
            Object::Session(session) => {
                for (severity, problem) in check_session(&session, servers.as_ref(), known_grants, now) {
                    report.push(severity, source, problem.under(at));
                }
                sessions.push((source.clone(), at.to_string(), *session));
            }
            other => report.error(source, wrong_kind(at, "MCPAgentSession", "session", &other)),
        })?;
    }
    let grant_ids =
        grants.iter().map(|(s, at, g)| (s, at, g.metadata.namespace.as_deref(), g.metadata.name.as_deref()));
    duplicates(&mut report, "MCPAccessGrant", grant_ids);
    let session_ids = sessions
        .iter()
        .map(|(s, at, x)| (s, at, x.metadata.namespace.as_deref(), x.metadata.name.as_deref()));
    duplicates(&mut report, "MCPAgentSession", session_ids);

    report.print(ctx.out)?;
    let server_count = checked.as_ref().map_or(0, |c| c.entries.len());
    writeln!(
        ctx.out,
        "checked {} ({}, {}, {}): {}",
        count(files, "file"),
        count(server_count, "server"),
        count(grants.len(), "grant"),
        count(sessions.len(), "session"),
        report.tally()
    )?;
    match report.errors() {
        0 => Ok(()),
        errors => Err(CliError::ValidationFailed { errors }),
    }
}

/// Reads a manifest file and hands each object to `check`, in file order; YAML and decoding
/// problems become findings.
fn each_object(
    ctx: &Ctx<'_>,
    path: &Path,
    report: &mut Report,
    mut check: impl FnMut(&mut Report, &Source, &str, Object),
) -> Result<(), CliError> {
    let text = fsio::read(&ctx.path(path), path)?;
    let docs = match yaml::parse_documents(&text) {
        Ok(docs) => docs,
        Err(err) => {
            report.error(&Source::file(path), Problem::new("", format!("invalid YAML: {err}"), None));
            return Ok(());
        }
    };
    if docs.is_empty() {
        report.warning(&Source::file(path), Problem::new("", "holds no objects", None));
    }
    let several = docs.len() > 1;
    for doc in docs {
        let source = Source::new(path, doc.index, several);
        match decode_objects(&doc.value) {
            Ok(objects) => {
                for (at, object, unknown) in objects {
                    for problem in unknown {
                        report.error(&source, problem);
                    }
                    check(report, &source, &at, object);
                }
            }
            Err(problem) => report.error(&source, problem),
        }
    }
    Ok(())
}

fn wrong_kind(at: &str, expected: &str, file_kind: &str, got: &Object) -> Problem {
    Problem::new(
        yaml::join(at, "kind"),
        format!("expected {expected} in a {file_kind} file"),
        Some(got.kind()),
    )
}

type Servers<'a> = BTreeMap<&'a str, &'a ServerMetadata>;

/// lib/api's grant rules, then the grant against the metadata.
pub(crate) fn check_grant(
    grant: &MCPAccessGrant,
    servers: Option<&Servers<'_>>,
    now: Timestamp,
) -> Vec<(Severity, Problem)> {
    let spec = &grant.spec;
    let mut out = from_findings(validate_grant(spec, "spec"));
    if let Some(server) =
        referenced_server(&mut out, &spec.server_ref, grant.metadata.namespace.as_deref(), servers)
    {
        let tools = metadata::tools(server);
        let max_trust = spec.max_trust.unwrap_or_default();
        for (i, rule) in spec.tool_rules.iter().enumerate() {
            if rule.name.trim().is_empty() {
                continue;
            }
            let at = format!("spec.toolRules[{i}]");
            let Some(tool) = tools.get(rule.name.as_str()) else {
                let message = format!("names a tool that server {:?} does not declare", server.name);
                out.push((Severity::Error, Problem::new(format!("{at}.name"), message, Some(&rule.name))));
                continue;
            };
            if rule.decision != Some(PolicyDecision::Allow) {
                continue;
            }
            if let Some(effect) = tool.side_effect
                && !spec.allowed_side_effects.contains(&effect)
            {
                let message = format!(
                    "allows a {effect} tool, but allowedSideEffects does not permit {effect}: the rule can never allow it"
                );
                out.push((Severity::Warning, Problem::new(at.clone(), message, Some(&rule.name))));
            }
            let needed = tool.required_trust.unwrap_or_default().max(rule.required_trust.unwrap_or_default());
            if needed > max_trust {
                let message = format!(
                    "needs {needed} trust, above the grant's maxTrust {max_trust}: the rule can never allow it"
                );
                out.push((Severity::Warning, Problem::new(at, message, Some(&rule.name))));
            }
        }
    }
    if let Some(at) = spec.expires_at.as_deref()
        && parse_rfc3339(at).is_ok_and(|t| t <= now)
    {
        out.push((
            Severity::Warning,
            Problem::new("spec.expiresAt", "has passed: the grant allows nothing", Some(at)),
        ));
    }
    out
}

/// lib/api's session rules, then the session against the metadata and the grants given.
pub(crate) fn check_session(
    session: &MCPAgentSession,
    servers: Option<&Servers<'_>>,
    grants: Option<&[(Source, String, MCPAccessGrant)]>,
    now: Timestamp,
) -> Vec<(Severity, Problem)> {
    let spec = &session.spec;
    let namespace = session.metadata.namespace.as_deref();
    let mut out = from_findings(validate_session(spec, "spec"));
    referenced_server(&mut out, &spec.server_ref, namespace, servers);
    match spec.expires_at.as_deref() {
        None => out.push((
            Severity::Warning,
            Problem::new("spec.expiresAt", "is not set: the session stays valid until it is revoked", None),
        )),
        Some(at) if parse_rfc3339(at).is_ok_and(|t| t <= now) => {
            out.push((
                Severity::Warning,
                Problem::new("spec.expiresAt", "has passed: the session is expired", Some(at)),
            ));
        }
        Some(_) => {}
    }
    if let (Some(grants), Some(name)) = (grants, spec.grant_name.as_deref()) {
        let found = grants.iter().any(|(_, _, g)| {
            g.metadata.name.as_deref() == Some(name)
                && (namespace.is_none()
                    || g.metadata.namespace.is_none()
                    || g.metadata.namespace.as_deref() == namespace)
        });
        if !found {
            out.push((
                Severity::Warning,
                Problem::new("spec.grantName", "names a grant that is not in the grant files", Some(name)),
            ));
        }
    }
    out
}

/// Checks that `server_ref` names a server of the metadata, in the right namespace, and
/// returns it.
fn referenced_server<'a>(
    out: &mut Vec<(Severity, Problem)>,
    server_ref: &ServerRef,
    own_namespace: Option<&str>,
    servers: Option<&Servers<'a>>,
) -> Option<&'a ServerMetadata> {
    let servers = servers?;
    let name = server_ref.name.trim();
    if name.is_empty() {
        return None;
    }
    let Some(server) = servers.get(name).copied() else {
        let message = "names a server that is not in the metadata";
        out.push((Severity::Error, Problem::new("spec.serverRef.name", message, Some(name))));
        return None;
    };
    let explicit = server_ref.namespace.as_deref().filter(|ns| !ns.is_empty());
    let (field, namespace) = match (explicit, own_namespace) {
        (Some(ns), _) => ("spec.serverRef.namespace", ns),
        (None, Some(ns)) => ("metadata.namespace", ns),
        (None, None) => return Some(server),
    };
    let server_namespace = server.namespace();
    if namespace != server_namespace {
        let message = format!("server {name:?} is in namespace {server_namespace:?}");
        out.push((Severity::Error, Problem::new(field, message, Some(namespace))));
    }
    Some(server)
}

fn from_findings(findings: mcp_api::Findings) -> Vec<(Severity, Problem)> {
    let errors = findings.errors.into_iter().map(|e| (Severity::Error, Problem::from(e)));
    let warnings = findings.warnings.into_iter().map(|w| (Severity::Warning, Problem::from(w)));
    errors.chain(warnings).collect()
}

/// Two objects of a kind with the same namespace and name: the second is an error.
fn duplicates<'a>(
    report: &mut Report,
    kind: &str,
    objects: impl Iterator<Item = (&'a Source, &'a String, Option<&'a str>, Option<&'a str>)>,
) {
    let mut seen: BTreeMap<(&str, &str), &Source> = BTreeMap::new();
    for (source, at, namespace, name) in objects {
        let Some(name) = name else { continue };
        let key = (namespace.unwrap_or_default(), name);
        match seen.get(&key) {
            Some(first) => {
                let message = format!("duplicate {kind} (first in {})", first.label());
                report.error(source, Problem::new(yaml::join(at, "metadata.name"), message, Some(name)));
            }
            None => {
                seen.insert(key, source);
            }
        }
    }
}
