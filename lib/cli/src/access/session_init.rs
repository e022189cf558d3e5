//! `access session init`: writes an MCPAgentSession manifest.

use std::path::PathBuf;

use clap::ArgGroup;
use mcp_api::{MCPAgentSession, MCPAgentSessionSpec, SecretKeyRef, ServerRef, TrustLevel, validate_session};

use super::{BudgetArgs, ExpiryArgs, SubjectArgs, check_namespace, expiry_findings, finish, object_name};
use crate::args::enum_parser;
use crate::cli::Ctx;
use crate::error::CliError;

#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("subject").args(["human_id", "agent_id", "team_id"]).required(true).multiple(true)))]
pub(crate) struct Args {
    #[arg(value_name = "NAME", help = "Session name [default: <SERVER>-<agent, human or team id>-session]")]
    name: Option<String>,
    /// MCPServer the session is for
    #[arg(long, value_name = "NAME")]
    server: String,
    /// Namespace of the MCPServer [default: the session's namespace]
    #[arg(long, value_name = "NAMESPACE")]
    server_namespace: Option<String>,
    /// Namespace of the session
    #[arg(long, value_name = "NAMESPACE", default_value = "mcp-servers")]
    namespace: String,
    #[command(flatten)]
    subject: SubjectArgs,
    /// Trust the human consented to (consentedTrust)
    #[arg(long, value_name = "TRUST", default_value = "low", value_parser = enum_parser::<TrustLevel>(TrustLevel::NAMES))]
    trust: TrustLevel,
    #[command(flatten)]
    expiry: ExpiryArgs,
    /// Write the session already revoked
    #[arg(long)]
    revoked: bool,
    /// Grant that authorises the session (grantName)
    #[arg(long, value_name = "NAME")]
    grant: Option<String>,
    /// Secret holding the credential the gateway sends upstream
    #[arg(long, value_name = "SECRET")]
    upstream_token_secret: Option<String>,
    /// Key of the upstream credential in that Secret
    #[arg(long, value_name = "KEY", default_value = "token", requires = "upstream_token_secret")]
    upstream_token_key: String,
    /// Policy version recorded in decisions made under the session
    #[arg(long, value_name = "VERSION")]
    policy_version: Option<String>,
    #[command(flatten)]
    budget: BudgetArgs,
    /// File to write, or - for standard output
    #[arg(long, short = 'o', value_name = "FILE", default_value = "session.yaml")]
    output: PathBuf,
    /// Overwrite the output file if it exists
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: Args, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let session = plan(&args, ctx)?;
    let mut findings = validate_session(&session.spec, "spec");
    expiry_findings(&mut findings, session.spec.expires_at.as_deref(), ctx, "session");
    if session.spec.expires_at.is_none() {
        findings.warnings.push(mcp_api::FieldError {
            field: "spec.expiresAt".to_string(),
            message: "is not set: the session stays valid until it is revoked".to_string(),
            value: None,
        });
    }
    let what = format!("session {:?}", session.metadata.name.as_deref().unwrap_or_default());
    finish(ctx, what, &session, findings, &args.output, args.force)
}

fn plan(args: &Args, ctx: &Ctx<'_>) -> Result<MCPAgentSession, CliError> {
    check_namespace("--namespace", &args.namespace)?;
    if let Some(ns) = &args.server_namespace {
        check_namespace("--server-namespace", ns)?;
    }
    let who = args.subject.most_specific().unwrap_or_default();
    let name = object_name(args.name.as_deref(), &format!("{}-{who}-session", args.server.trim()))?;
    let spec = MCPAgentSessionSpec {
        server_ref: ServerRef {
            name: args.server.trim().to_string(),
            namespace: args.server_namespace.clone(),
        },
        subject: args.subject.subject(),
        consented_trust: Some(args.trust),
        expires_at: args.expiry.resolve(ctx)?,
        revoked: args.revoked.then_some(true),
        upstream_token_secret_ref: args
            .upstream_token_secret
            .as_ref()
            .map(|name| SecretKeyRef { name: name.clone(), key: args.upstream_token_key.clone() }),
        policy_version: args.policy_version.clone(),
        grant_name: args.grant.clone(),
        max_calls: args.budget.max_calls,
        rate_per_minute: args.budget.rate_per_minute,
    };
    let mut session = MCPAgentSession::new(&name, spec);
    session.metadata.namespace = Some(args.namespace.clone());
    Ok(session)
}
