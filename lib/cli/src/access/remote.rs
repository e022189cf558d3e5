//! `access grant|session apply|list|get|…`: grants and sessions on the platform.
//!
//! `apply -f FILE` reads the manifests `grant init` / `session init` write, checks them with
//! the same loader and lib/api validation as `server validate`, and sends nothing unless every
//! object in the file passes; a malformed file is one line naming file:line and field.

use std::path::{Path, PathBuf};

use mcp_api::{validate_grant, validate_session};
use mcp_platform_client::{GrantItem, SessionItem};
use serde_json::Value;

use crate::cli::Ctx;
use crate::error::CliError;
use crate::manifests::{self, Manifests};
use crate::platform::{Format, OutputArgs, Platform, Table, cell, field, print};
use crate::report::{Report, Source};
use crate::server::remote::TeamArg;

/// The first line (1-based) of document `document` in `text`.
fn document_start(text: &str, document: Option<usize>) -> usize {
    let Some(doc) = document else { return 1 };
    let mut seen = 0;
    for (i, line) in text.lines().enumerate() {
        if line.starts_with("---") {
            seen += 1;
            if seen == doc {
                return i + 2;
            }
        }
    }
    1
}

/// The line of `field` (`spec.toolRules[0].decision`) in `text`: each named segment is looked
/// for as a key after the previous one. Best effort: the deepest segment found.
pub(crate) fn field_line(text: &str, document: Option<usize>, field: &str) -> Option<usize> {
    let start = document_start(text, document);
    let lines: Vec<&str> = text.lines().collect();
    let mut at = start.saturating_sub(1);
    let mut found = None;
    for seg in field.split('.') {
        let key = seg.split('[').next().unwrap_or(seg);
        if key.is_empty() {
            continue;
        }
        let hit = (at..lines.len()).find(|&i| {
            let t = lines[i].trim_start().trim_start_matches("- ");
            t.starts_with(&format!("{key}:")) || t.starts_with(&format!("\"{key}\":"))
        });
        match hit {
            Some(i) => {
                found = Some(i + 1);
                at = i;
            }
            None => break,
        }
    }
    found.or(Some(start))
}

/// Loads `file` for `apply`; problems become [`CliError::BadManifest`].
pub(crate) fn load(ctx: &Ctx<'_>, file: &Path) -> Result<Manifests, CliError> {
    let text = crate::fsio::read(&ctx.path(file), file)?;
    match manifests::load_manifests_in(ctx.cwd, &[file.to_path_buf()]) {
        Ok(m) => Ok(m),
        Err(CliError::Syntax { file, source }) => {
            // The line goes into its own field; the message keeps what is wrong.
            let message = source.without_snippet().to_string();
            let message = format!("invalid YAML: {}", message.split(" at line ").next().unwrap_or_default());
            Err(CliError::BadManifest {
                file,
                line: source.location().and_then(|l| usize::try_from(l.line()).ok()),
                field: String::new(),
                message,
            })
        }
        Err(CliError::Decode { file, document, field, message, value }) => {
            let line = field_line(&text, document, &field);
            let message = match value {
                Some(v) => format!("{message}: {v:?}"),
                None => message,
            };
            Err(CliError::BadManifest { file, line, field, message })
        }
        Err(e) => Err(e),
    }
}

/// The team of an object: `--team`, else `mcp-team-<team>` namespaces, else the caller's only team.
fn team_of(platform: &Platform, given: Option<&str>, namespace: Option<&str>) -> Result<String, CliError> {
    if let Some(t) = given {
        return Ok(t.to_string());
    }
    if let Some(t) = namespace.and_then(|ns| ns.strip_prefix("mcp-team-")).filter(|t| !t.is_empty()) {
        return Ok(t.to_string());
    }
    platform.team(None)
}

#[derive(Debug, clap::Args)]
pub(crate) struct ApplyArgs {
    /// Manifest file (as written by `init`); every object in it is applied
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: PathBuf,
    #[command(flatten)]
    team: TeamArg,
    #[command(flatten)]
    output: OutputArgs,
}

fn validated(ctx: &mut Ctx<'_>, file: &Path, m: &Manifests, grants: bool) -> Result<(), CliError> {
    let mut report = Report::default();
    let several = m.grants.len() + m.sessions.len() + m.servers.len() > 1;
    if grants {
        for g in &m.grants {
            let source = Source::new(file, g.index, several);
            report.extend(&source, validate_grant(&g.object.spec, "spec"));
            human_id_warnings(&mut report, &source, g.object.spec.subject.human_id.as_deref());
        }
    } else {
        for s in &m.sessions {
            let source = Source::new(file, s.index, several);
            report.extend(&source, validate_session(&s.object.spec, "spec"));
            human_id_warnings(&mut report, &source, s.object.spec.subject.human_id.as_deref());
        }
    }
    report.print(ctx.err)?;
    if report.errors() > 0 {
        return Err(CliError::Invalid {
            what: format!("{} (nothing sent)", file.display()),
            errors: report.errors(),
        });
    }
    let (wanted, count) =
        if grants { ("MCPAccessGrant", m.grants.len()) } else { ("MCPAgentSession", m.sessions.len()) };
    if count == 0 {
        return Err(CliError::BadManifest {
            file: file.to_path_buf(),
            line: None,
            field: "kind".into(),
            message: format!("the file holds no {wanted}"),
        });
    }
    Ok(())
}

/// Advisory warnings (nothing blocks) on a `humanID` that is probably not what the platform
/// puts in tokens: a platform user id or a lower-case email.
fn human_id_warnings(report: &mut Report, source: &Source, human: Option<&str>) {
    let Some(h) = human else { return };
    let field = "spec.subject.humanID";
    let warn = |report: &mut Report, message: &str| {
        report.warning(source, crate::yaml::Problem::new(field, message, Some(h)));
    };
    if h.trim() != h || h.contains(char::is_whitespace) {
        warn(report, "contains whitespace; it will never match a caller");
    }
    if h.starts_with("mcp-team-") {
        warn(report, "looks like a team namespace, not a person (use subject.teamID for a team)");
    }
    if let Some((local, domain)) = h.split_once('@') {
        if h.chars().any(|c| c.is_ascii_uppercase()) {
            warn(report, "emails are lower-cased by the platform; this one has upper-case letters");
        }
        if local.is_empty() || !domain.contains('.') || domain.contains('@') || domain.ends_with('.') {
            warn(report, "is not a well-formed email");
        }
    }
}

pub(crate) fn grant_apply(args: ApplyArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let m = load(ctx, &args.file)?;
    validated(ctx, &args.file, &m, true)?;
    let platform = Platform::connect(ctx)?;
    let mut applied = Vec::new();
    for g in &m.grants {
        let team = team_of(&platform, args.team.team.as_deref(), g.object.metadata.namespace.as_deref())?;
        let name = g.object.metadata.name.clone().unwrap_or_default();
        let spec = serde_json::to_value(&g.object.spec)
            .map_err(|e| CliError::Encode { what: format!("grant {name:?}"), message: e.to_string() })?;
        let item = platform.run(platform.client.apply_grant(&team, &name, &spec))?;
        if args.output.format == Format::Table {
            writeln!(ctx.out, "applied grant {team}/{name}")?;
        }
        applied.push(item);
    }
    if args.output.format != Format::Table {
        print(ctx, args.output.format, &applied, Table::default)?;
    }
    Ok(())
}

pub(crate) fn session_apply(args: ApplyArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let m = load(ctx, &args.file)?;
    validated(ctx, &args.file, &m, false)?;
    let platform = Platform::connect(ctx)?;
    let mut applied = Vec::new();
    for s in &m.sessions {
        let team = team_of(&platform, args.team.team.as_deref(), s.object.metadata.namespace.as_deref())?;
        let name = s.object.metadata.name.clone().unwrap_or_default();
        let spec = serde_json::to_value(&s.object.spec)
            .map_err(|e| CliError::Encode { what: format!("session {name:?}"), message: e.to_string() })?;
        let item = platform.run(platform.client.apply_session(&team, &name, &spec))?;
        if args.output.format == Format::Table {
            writeln!(ctx.out, "applied session {team}/{name}")?;
        }
        applied.push(item);
    }
    if args.output.format != Format::Table {
        print(ctx, args.output.format, &applied, Table::default)?;
    }
    Ok(())
}

fn subject(spec: &Value) -> String {
    let s = &spec["subject"];
    for k in ["agentID", "humanID", "teamID"] {
        if let Some(v) = s[k].as_str().filter(|v| !v.is_empty()) {
            return format!("{}={v}", k.trim_end_matches("ID"));
        }
    }
    "-".into()
}

fn grant_row(item: &GrantItem) -> Vec<String> {
    let g = &item.grant;
    let disabled = g["spec"]["disabled"].as_bool().unwrap_or(false);
    vec![
        item.team.clone(),
        field(g, "metadata.name"),
        cell(field(g, "spec.serverRef.name")),
        subject(&g["spec"]),
        cell(field(g, "spec.maxTrust")),
        if disabled { "disabled".into() } else { "enabled".into() },
    ]
}

const GRANT_HEADER: &[&str] = &["TEAM", "NAME", "SERVER", "SUBJECT", "MAX TRUST", "STATE"];

fn session_row(item: &SessionItem) -> Vec<String> {
    let s = &item.session;
    let revoked = s["spec"]["revoked"].as_bool().unwrap_or(false);
    vec![
        item.team.clone(),
        field(s, "metadata.name"),
        cell(field(s, "spec.serverRef.name")),
        subject(&s["spec"]),
        cell(field(s, "spec.consentedTrust")),
        cell(field(s, "spec.expiresAt")),
        if revoked { "revoked".into() } else { "active".into() },
    ]
}

const SESSION_HEADER: &[&str] = &["TEAM", "NAME", "SERVER", "SUBJECT", "TRUST", "EXPIRES", "STATE"];

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Only this team
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
    /// Only this server
    #[arg(long, value_name = "NAME")]
    server: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

pub(crate) fn grant_list(args: ListArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let page = platform.run(platform.client.grants(args.team.as_deref(), args.server.as_deref()))?;
    print(ctx, args.output.format, &page, || {
        let mut t = Table::new(GRANT_HEADER);
        page.items.iter().for_each(|i| t.row(grant_row(i)));
        t
    })
}

pub(crate) fn session_list(args: ListArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let page = platform.run(platform.client.sessions(args.team.as_deref(), args.server.as_deref()))?;
    print(ctx, args.output.format, &page, || {
        let mut t = Table::new(SESSION_HEADER);
        page.items.iter().for_each(|i| t.row(session_row(i)));
        t
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct NameArgs {
    /// The object's name
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    team: TeamArg,
    #[command(flatten)]
    output: OutputArgs,
}

/// What to do to one grant.
#[derive(Debug, Clone, Copy)]
pub(crate) enum GrantAction {
    Get,
    Enable,
    Disable,
}

pub(crate) fn grant_one(args: NameArgs, action: GrantAction, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let team = platform.team(args.team.team.as_deref())?;
    let c = &platform.client;
    let item = match action {
        GrantAction::Get => platform.run(c.grant(&team, &args.name))?,
        GrantAction::Enable => platform.run(c.enable_grant(&team, &args.name))?,
        GrantAction::Disable => platform.run(c.disable_grant(&team, &args.name))?,
    };
    print(ctx, args.output.format, &item, || {
        let mut t = Table::new(GRANT_HEADER);
        t.row(grant_row(&item));
        t
    })
}

/// What to do to one session.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SessionAction {
    Get,
    Revoke,
    Unrevoke,
}

pub(crate) fn session_one(args: NameArgs, action: SessionAction, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let team = platform.team(args.team.team.as_deref())?;
    let c = &platform.client;
    let item = match action {
        SessionAction::Get => platform.run(c.session(&team, &args.name))?,
        SessionAction::Revoke => platform.run(c.revoke_session(&team, &args.name))?,
        SessionAction::Unrevoke => platform.run(c.unrevoke_session(&team, &args.name))?,
    };
    print(ctx, args.output.format, &item, || {
        let mut t = Table::new(SESSION_HEADER);
        t.row(session_row(&item));
        t
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct DeleteArgs {
    /// The object's name
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    team: TeamArg,
}

pub(crate) fn grant_delete(args: DeleteArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let team = platform.team(args.team.team.as_deref())?;
    platform.run(platform.client.delete_grant(&team, &args.name))?;
    writeln!(ctx.out, "deleted grant {team}/{}", args.name)?;
    Ok(())
}

pub(crate) fn session_delete(args: DeleteArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let team = platform.team(args.team.team.as_deref())?;
    platform.run(platform.client.delete_session(&team, &args.name))?;
    writeln!(ctx.out, "deleted session {team}/{}", args.name)?;
    Ok(())
}

pub(crate) fn grant_revoke_sessions(args: NameArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let team = platform.team(args.team.team.as_deref())?;
    let revoked = platform.run(platform.client.revoke_grant_sessions(&team, &args.name))?;
    print(ctx, args.output.format, &revoked, || {
        let mut t = Table::new(&["REVOKED", "SESSIONS"]);
        t.row(vec![revoked.revoked.to_string(), cell(revoked.sessions.join(","))]);
        t
    })
}

#[cfg(test)]
mod tests {
    use super::field_line;

    #[test]
    fn fields_are_located_by_line() {
        let text = "apiVersion: v\nkind: K\nmetadata:\n  name: x\nspec:\n  toolRules:\n    - name: a\n      decision: maybe\n";
        assert_eq!(field_line(text, None, "spec.toolRules[0].decision"), Some(8));
        assert_eq!(field_line(text, None, "metadata.name"), Some(4));
        // Unknown segments stop at the deepest one found.
        assert_eq!(field_line(text, None, "spec.nothing"), Some(5));
        let two = "kind: A\n---\nkind: B\nspec:\n  x: 1\n";
        assert_eq!(field_line(two, Some(1), "spec.x"), Some(5));
    }
}
