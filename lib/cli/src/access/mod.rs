//! `mcp-runtime access …`: writes MCPAccessGrant and MCPAgentSession manifests locally
//! (`init`), and applies and manages them on the platform ([`remote`]).

use std::path::Path;

use clap::Subcommand;
use jiff::SignedDuration;
use serde::Serialize;

use crate::args::{expiry_after, parse_duration, parse_timestamp};
use crate::cli::Ctx;
use crate::error::CliError;
use crate::report::{Report, Source};
use crate::yaml::Problem;
use crate::{fsio, names};

mod grant_init;
pub(crate) mod remote;
mod session_init;

use remote::{GrantAction, SessionAction};

/// Access commands.
#[derive(Debug, Subcommand)]
pub(crate) enum AccessCommand {
    /// Write, apply and manage access grants
    #[command(subcommand)]
    Grant(GrantCommand),
    /// Write, apply and manage agent sessions
    #[command(subcommand)]
    Session(SessionCommand),
}

/// `access grant …`.
#[derive(Debug, Subcommand)]
pub(crate) enum GrantCommand {
    /// Write an MCPAccessGrant manifest
    Init(Box<grant_init::Args>),
    /// Create or replace the grants of a manifest file on the platform
    #[command(
        after_help = "Example:\n  mcp-runtime access grant init --server github --agent-id agt_01j… -o grant.yaml\n  \
mcp-runtime access grant apply -f grant.yaml --team payments"
    )]
    Apply(remote::ApplyArgs),
    /// List the grants of the servers you administer
    #[command(after_help = "Example:\n  mcp-runtime access grant list --team payments --server github")]
    List(remote::ListArgs),
    /// Show one grant
    #[command(after_help = "Example:\n  mcp-runtime access grant get github-agent -o yaml")]
    Get(remote::NameArgs),
    /// Enable a grant
    #[command(after_help = "Example:\n  mcp-runtime access grant enable github-agent")]
    Enable(remote::NameArgs),
    /// Disable a grant (its calls are denied from the next policy reload)
    #[command(after_help = "Example:\n  mcp-runtime access grant disable github-agent")]
    Disable(remote::NameArgs),
    /// Delete a grant
    #[command(after_help = "Example:\n  mcp-runtime access grant delete github-agent --team payments")]
    Delete(remote::DeleteArgs),
    /// Revoke every session the grant authorised
    #[command(after_help = "Example:\n  mcp-runtime access grant revoke-sessions github-agent")]
    RevokeSessions(remote::NameArgs),
}

/// `access session …`.
#[derive(Debug, Subcommand)]
pub(crate) enum SessionCommand {
    /// Write an MCPAgentSession manifest
    Init(Box<session_init::Args>),
    /// Create or replace the sessions of a manifest file on the platform (administrators)
    #[command(after_help = "Example:\n  mcp-runtime access session apply -f session.yaml --team payments")]
    Apply(remote::ApplyArgs),
    /// List the sessions of the servers you administer
    #[command(after_help = "Example:\n  mcp-runtime access session list --server github -o json")]
    List(remote::ListArgs),
    /// Show one session
    #[command(after_help = "Example:\n  mcp-runtime access session get adapter-0123456789abcdef")]
    Get(remote::NameArgs),
    /// Revoke a session (gateways refuse its token from the next policy reload)
    #[command(after_help = "Example:\n  mcp-runtime access session revoke adapter-0123456789abcdef")]
    Revoke(remote::NameArgs),
    /// Reinstate a revoked session
    #[command(after_help = "Example:\n  mcp-runtime access session unrevoke adapter-0123456789abcdef")]
    Unrevoke(remote::NameArgs),
    /// Delete a session
    #[command(after_help = "Example:\n  mcp-runtime access session delete adapter-0123456789abcdef")]
    Delete(remote::DeleteArgs),
}

impl AccessCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
        match self {
            AccessCommand::Grant(cmd) => match cmd {
                GrantCommand::Init(args) => grant_init::run(*args, ctx),
                GrantCommand::Apply(args) => remote::grant_apply(args, ctx),
                GrantCommand::List(args) => remote::grant_list(args, ctx),
                GrantCommand::Get(args) => remote::grant_one(args, GrantAction::Get, ctx),
                GrantCommand::Enable(args) => remote::grant_one(args, GrantAction::Enable, ctx),
                GrantCommand::Disable(args) => remote::grant_one(args, GrantAction::Disable, ctx),
                GrantCommand::Delete(args) => remote::grant_delete(args, ctx),
                GrantCommand::RevokeSessions(args) => remote::grant_revoke_sessions(args, ctx),
            },
            AccessCommand::Session(cmd) => match cmd {
                SessionCommand::Init(args) => session_init::run(*args, ctx),
                SessionCommand::Apply(args) => remote::session_apply(args, ctx),
                SessionCommand::List(args) => remote::session_list(args, ctx),
                SessionCommand::Get(args) => remote::session_one(args, SessionAction::Get, ctx),
                SessionCommand::Revoke(args) => remote::session_one(args, SessionAction::Revoke, ctx),
                SessionCommand::Unrevoke(args) => remote::session_one(args, SessionAction::Unrevoke, ctx),
                SessionCommand::Delete(args) => remote::session_delete(args, ctx),
            },
        }
    }
}

/// Who a grant or session is for.
#[derive(Debug, clap::Args)]
pub(crate) struct SubjectArgs {
    /// Human the agent acts for (platform user id or email)
    #[arg(long, value_name = "ID")]
    human_id: Option<String>,
    /// Agent (platform agent id, e.g. agt_…)
    #[arg(long, value_name = "ID")]
    agent_id: Option<String>,
    /// Team of the caller
    #[arg(long, value_name = "ID")]
    team_id: Option<String>,
}

impl SubjectArgs {
    pub(crate) fn subject(&self) -> mcp_api::Subject {
        let clean =
            |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_string);
        mcp_api::Subject {
            human_id: clean(&self.human_id),
            agent_id: clean(&self.agent_id),
            team_id: clean(&self.team_id),
        }
    }

    /// The most specific subject field: agent, then human, then team.
    pub(crate) fn most_specific(&self) -> Option<String> {
        let s = self.subject();
        s.agent_id.or(s.human_id).or(s.team_id)
    }
}

/// When a grant or session expires.
#[derive(Debug, clap::Args)]
pub(crate) struct ExpiryArgs {
    /// Expiry time, RFC 3339 (e.g. 2026-12-01T12:00:00Z)
    #[arg(long, value_name = "TIME", value_parser = parse_timestamp, conflicts_with = "expires_in")]
    expires_at: Option<String>,
    /// Expiry as a duration from now (e.g. 4h, 30m, 7d)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    expires_in: Option<SignedDuration>,
}

impl ExpiryArgs {
    pub(crate) fn resolve(&self, ctx: &Ctx<'_>) -> Result<Option<String>, CliError> {
        match (&self.expires_at, self.expires_in) {
            (Some(at), _) => Ok(Some(at.clone())),
            (None, Some(duration)) => expiry_after(ctx.now, duration).map(Some).map_err(|reason| {
                CliError::InvalidArgument { flag: "--expires-in", value: duration.to_string(), reason }
            }),
            (None, None) => Ok(None),
        }
    }
}

/// Call budget of a grant or session.
#[derive(Debug, clap::Args)]
pub(crate) struct BudgetArgs {
    /// Total tool calls allowed
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    max_calls: Option<u64>,
    /// Tool calls allowed per minute
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    rate_per_minute: Option<u32>,
}

/// The object name: `NAME` if given (must be a DNS-1123 subdomain), else `fallback` sanitised.
pub(crate) fn object_name(given: Option<&str>, fallback: &str) -> Result<String, CliError> {
    match given {
        Some(name) => {
            names::check_subdomain(name).map_err(|reason| CliError::InvalidArgument {
                flag: "NAME",
                value: name.to_string(),
                reason,
            })?;
            Ok(name.to_string())
        }
        None => names::sanitize(fallback, true).ok_or_else(|| CliError::InvalidArgument {
            flag: "NAME",
            value: fallback.to_string(),
            reason: "cannot derive a name from it; pass NAME".to_string(),
        }),
    }
}

pub(crate) fn check_namespace(flag: &'static str, ns: &str) -> Result<(), CliError> {
    names::check_label(ns).map_err(|reason| CliError::InvalidArgument { flag, value: ns.to_string(), reason })
}

/// Prints lib/api's findings for a new object (to stderr) and fails on errors; then writes
/// the manifest to `output` (`-` for standard output), refusing to overwrite without `force`.
pub(crate) fn finish<T: Serialize>(
    ctx: &mut Ctx<'_>,
    what: String,
    object: &T,
    findings: mcp_api::Findings,
    output: &Path,
    force: bool,
) -> Result<(), CliError> {
    let stdout = output == Path::new("-");
    let mut report = Report::default();
    report.extend(&Source::file(if stdout { Path::new("<stdout>") } else { output }), findings);
    report.print(ctx.err)?;
    if report.errors() > 0 {
        return Err(CliError::Invalid { what, errors: report.errors() });
    }
    let text = serde_saphyr::to_string(object)
        .map_err(|source| CliError::Serialize { what: what.clone(), source: source.into() })?;
    if stdout {
        ctx.out.write_all(text.as_bytes())?;
        return Ok(());
    }
    let path = ctx.path(output);
    if !force && path.exists() {
        return Err(CliError::OutputExists { path: output.to_path_buf() });
    }
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        fsio::create_dir(&ctx.path(parent), parent)?;
    }
    fsio::write_atomic(&path, output, &text)?;
    writeln!(ctx.out, "wrote {what} to {}", output.display())?;
    Ok(())
}

/// Warnings the CLI adds for a new object (lib/api reports none for these).
pub(crate) fn expiry_findings(
    findings: &mut mcp_api::Findings,
    expires_at: Option<&str>,
    ctx: &Ctx<'_>,
    what: &str,
) {
    if let Some(at) = expires_at
        && mcp_api::parse_rfc3339(at).is_ok_and(|t| t <= ctx.now)
    {
        let p =
            Problem::new("spec.expiresAt", format!("has passed: the {what} is already expired"), Some(at));
        findings.warnings.push(mcp_api::FieldError { field: p.field, message: p.message, value: p.value });
    }
}
