//! `access grant init`: writes an MCPAccessGrant manifest.

use std::path::PathBuf;

use mcp_api::{
    DEFAULT_POLICY_VERSION, MCPAccessGrant, MCPAccessGrantSpec, PolicyDecision, ServerRef, SideEffect,
    ToolRule, TrustLevel, validate_grant,
};

use super::{BudgetArgs, ExpiryArgs, SubjectArgs, check_namespace, expiry_findings, finish, object_name};
use crate::args::{ToolArgArg, ToolRuleArg, enum_parser, parse_tool_arg, parse_tool_name, parse_tool_rule};
use crate::cli::Ctx;
use crate::error::CliError;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[arg(
        value_name = "NAME",
        help = "Grant name [default: <SERVER>-<agent, human or team id, or \"team\">]"
    )]
    name: Option<String>,
    /// MCPServer the grant applies to
    #[arg(long, value_name = "NAME")]
    server: String,
    /// Namespace of the MCPServer [default: the grant's namespace]
    #[arg(long, value_name = "NAMESPACE")]
    server_namespace: Option<String>,
    /// Namespace of the grant
    #[arg(long, value_name = "NAMESPACE", default_value = "mcp-servers")]
    namespace: String,
    #[command(flatten)]
    subject: SubjectArgs,
    /// Highest trust the grant confers (maxTrust)
    #[arg(long, value_name = "TRUST", default_value = "low", value_parser = enum_parser::<TrustLevel>(TrustLevel::NAMES))]
    trust: TrustLevel,
    /// Side effect the grant permits (repeatable) [default: read]
    #[arg(long = "side-effect", value_name = "SIDE_EFFECT", value_parser = enum_parser::<SideEffect>(SideEffect::NAMES))]
    side_effects: Vec<SideEffect>,
    /// Allow one tool by name; once any rule exists, only named tools are allowed (repeatable)
    #[arg(long = "tool", value_name = "NAME", value_parser = parse_tool_name)]
    tools: Vec<String>,
    /// Add a tool rule, optionally raising the trust it requires, e.g. delete_repo:deny (repeatable)
    #[arg(long = "tool-rule", value_name = "NAME:allow|deny[:TRUST]", value_parser = parse_tool_rule)]
    tool_rules: Vec<ToolRuleArg>,
    /// Constrain an argument of an allowed tool, e.g. transfer:amount:maximum=1000 or
    /// transfer:currency:enum=EUR,USD; keywords: const, enum, pattern, minimum, maximum, maxLength
    /// (repeatable; adds an allow rule for the tool when it has none)
    #[arg(long = "tool-arg", value_name = "TOOL:ARG:KEYWORD=VALUE", value_parser = parse_tool_arg)]
    tool_args: Vec<ToolArgArg>,
    /// Policy version recorded in decisions made under the grant
    #[arg(long, value_name = "VERSION", default_value = DEFAULT_POLICY_VERSION)]
    policy_version: String,
    #[command(flatten)]
    expiry: ExpiryArgs,
    #[command(flatten)]
    budget: BudgetArgs,
    /// File to write, or - for standard output
    #[arg(long, short = 'o', value_name = "FILE", default_value = "grant.yaml")]
    output: PathBuf,
    /// Overwrite the output file if it exists
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: Args, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let grant = plan(&args, ctx)?;
    let mut findings = validate_grant(&grant.spec, "spec");
    expiry_findings(&mut findings, grant.spec.expires_at.as_deref(), ctx, "grant");
    let what = format!("grant {:?}", grant.metadata.name.as_deref().unwrap_or_default());
    finish(ctx, what, &grant, findings, &args.output, args.force)
}

fn plan(args: &Args, ctx: &Ctx<'_>) -> Result<MCPAccessGrant, CliError> {
    check_namespace("--namespace", &args.namespace)?;
    if let Some(ns) = &args.server_namespace {
        check_namespace("--server-namespace", ns)?;
    }
    let who = args.subject.most_specific().unwrap_or_else(|| "team".to_string());
    let name = object_name(args.name.as_deref(), &format!("{}-{who}", args.server.trim()))?;

    let side_effects =
        if args.side_effects.is_empty() { vec![SideEffect::Read] } else { args.side_effects.clone() };
    let tool_rules = args
        .tools
        .iter()
        .map(|tool| ToolRule {
            name: tool.clone(),
            decision: Some(PolicyDecision::Allow),
            ..ToolRule::default()
        })
        .chain(args.tool_rules.iter().map(|rule| ToolRule {
            name: rule.name.clone(),
            decision: Some(rule.decision),
            required_trust: rule.trust,
            ..ToolRule::default()
        }))
        .collect::<Vec<_>>();
    let mut tool_rules = tool_rules;
    for arg in &args.tool_args {
        let index = match tool_rules.iter().position(|r| r.name == arg.tool) {
            Some(i) => i,
            None => {
                tool_rules.push(ToolRule {
                    name: arg.tool.clone(),
                    decision: Some(PolicyDecision::Allow),
                    ..ToolRule::default()
                });
                tool_rules.len() - 1
            }
        };
        let slot = tool_rules[index].arguments.entry(arg.argument.clone()).or_default();
        let c = &arg.constraint;
        // Several keywords for one argument add up; a repeated keyword keeps the last value.
        slot.const_ = c.const_.clone().or(slot.const_.take());
        slot.enum_ = c.enum_.clone().or(slot.enum_.take());
        slot.pattern = c.pattern.clone().or(slot.pattern.take());
        slot.minimum = c.minimum.or(slot.minimum);
        slot.maximum = c.maximum.or(slot.maximum);
        slot.max_length = c.max_length.or(slot.max_length);
    }
    let spec = MCPAccessGrantSpec {
        server_ref: ServerRef {
            name: args.server.trim().to_string(),
            namespace: args.server_namespace.clone(),
        },
        subject: args.subject.subject(),
        max_trust: Some(args.trust),
        allowed_side_effects: side_effects,
        policy_version: Some(args.policy_version.clone()),
        tool_rules,
        expires_at: args.expiry.resolve(ctx)?,
        max_calls: args.budget.max_calls,
        rate_per_minute: args.budget.rate_per_minute,
        ..MCPAccessGrantSpec::default()
    };
    let mut grant = MCPAccessGrant::new(&name, spec);
    grant.metadata.namespace = Some(args.namespace.clone());
    Ok(grant)
}
