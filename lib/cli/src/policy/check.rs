//! `policy check`: one decision from a policy document, exactly as the gateway makes it.

use std::path::PathBuf;

use jiff::Timestamp;
use mcp_policy::{Call, Decision, Identity, MemoryBudgets, Request, Snapshot};
use serde_json::Value;

use crate::cli::Ctx;
use crate::error::CliError;
use crate::fsio;

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned lines for people
    Text,
    /// One JSON object, with the audit payload's field names
    Json,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Exit status: 0 when the call is allowed, 3 when it is denied, 2 on bad input.\n\n\
Example:\n  mcp-runtime policy check --policy policy.json --human user-123 --agent ops-agent \\\n    \
--team team-a --session sess-ops-agent --tool add --args '{\"a\": 7, \"b\": 5}'")]
pub(crate) struct Args {
    /// Policy document (policy.json) to decide with
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// Human the agent acts for
    #[arg(long, value_name = "ID")]
    human: Option<String>,
    /// Agent making the call
    #[arg(long, value_name = "ID")]
    agent: Option<String>,
    /// Caller's team
    #[arg(long, value_name = "ID")]
    team: Option<String>,
    /// Agent session presented with the call
    #[arg(long, value_name = "NAME")]
    session: Option<String>,
    /// Tool to call
    #[arg(long, value_name = "NAME")]
    tool: String,
    /// Tool arguments as a JSON object
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
    /// Decide at this RFC 3339 time instead of now
    #[arg(long, value_name = "TIME")]
    at: Option<String>,
    /// Output format
    #[arg(short, long, value_name = "FORMAT", value_enum, default_value_t = Format::Text)]
    output: Format,
}

pub(crate) fn run(args: Args, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let text = fsio::read(&ctx.path(&args.policy), &args.policy)?;
    let snapshot = Snapshot::from_json(text.as_bytes())
        .map_err(|source| CliError::Policy { path: args.policy.clone(), source })?;
    let arguments: Option<Value> = match &args.args {
        None => None,
        Some(raw) => {
            let value: Value = serde_json::from_str(raw).map_err(|e| CliError::InvalidArgument {
                flag: "--args",
                value: raw.clone(),
                reason: format!("not JSON: {e}"),
            })?;
            if !value.is_object() {
                return Err(CliError::InvalidArgument {
                    flag: "--args",
                    value: raw.clone(),
                    reason: "must be a JSON object".into(),
                });
            }
            Some(value)
        }
    };
    let now = match &args.at {
        None => ctx.now,
        Some(at) => mcp_api::parse_rfc3339(at).map_err(|e| CliError::InvalidArgument {
            flag: "--at",
            value: at.clone(),
            reason: format!("not an RFC 3339 time: {e}"),
        })?,
    };
    let identity = Identity {
        human: args.human.unwrap_or_default(),
        agent: args.agent.unwrap_or_default(),
        team: args.team.unwrap_or_default(),
        session: args.session.unwrap_or_default(),
    };
    let call = Call::Tool { name: &args.tool, arguments: arguments.as_ref(), drifted: false };
    // A tools/call as the gateway judges it: charged against (fresh) budgets.
    let request = Request { identity: &identity, call, now, charge: true };
    let decision = snapshot.evaluate(&request, &MemoryBudgets::new());

    match args.output {
        Format::Json => {
            let mut fields = decision.attribution();
            fields.insert("status".into(), Value::from(decision.http_status()));
            fields.insert("message".into(), Value::from(decision.reason.message()));
            fields.insert("tool".into(), Value::from(args.tool.as_str()));
            fields.insert("revision".into(), Value::from(snapshot.document().revision.as_str()));
            let text = serde_json::to_string_pretty(&Value::Object(fields)).unwrap_or_default();
            writeln!(ctx.out, "{text}")?;
        }
        Format::Text => print_text(ctx, &args.tool, &decision, now)?,
    }
    if decision.allowed { Ok(()) } else { Err(CliError::Denied) }
}

fn print_text(ctx: &mut Ctx<'_>, tool: &str, d: &Decision, now: Timestamp) -> Result<(), CliError> {
    let out = &mut *ctx.out;
    let verdict = if d.allowed { "allow" } else { "deny" };
    writeln!(out, "decision:  {verdict} (HTTP {})", d.http_status())?;
    writeln!(out, "reason:    {} ({})", d.reason, d.reason.message())?;
    let mut line = format!("tool:      {tool}");
    if let Some(se) = d.required_side_effect {
        line.push_str(&format!(", side effect {se}"));
    }
    if let Some(risk) = d.risk_level {
        line.push_str(&format!(", risk {risk}"));
    }
    writeln!(out, "{line}")?;
    if let Some(required) = d.required_trust {
        let show = |t: Option<mcp_api::TrustLevel>| t.map_or("-".to_string(), |t| t.to_string());
        writeln!(
            out,
            "trust:     required {required}, grant {}, consented {}, effective {}",
            show(d.admin_trust),
            show(d.consented_trust),
            show(d.effective_trust)
        )?;
    }
    if let Some(g) = &d.matched_grant {
        writeln!(out, "grant:     {}/{}", g.namespace, g.name)?;
    }
    if let Some(s) = &d.matched_session {
        writeln!(out, "session:   {}/{}", s.namespace, s.name)?;
    }
    if !d.policy_version.is_empty() {
        writeln!(out, "version:   {}", d.policy_version)?;
    }
    if let Some(a) = &d.argument {
        writeln!(out, "argument:  {} breaks {}", a.argument, a.rule)?;
    }
    if let Some(budget) = d.attribution().get("budget").and_then(Value::as_str) {
        writeln!(out, "budget:    {budget}")?;
    }
    // Whole seconds are enough for people; `--at` and `-o json` keep full precision.
    writeln!(out, "at:        {}", Timestamp::from_second(now.as_second()).unwrap_or(now))?;
    Ok(())
}
