//! `mcp-runtime agent …`: a team's managed agents (the `agentID` of grants and sessions).

use clap::Subcommand;
use mcp_platform_client::Agent;

use crate::cli::Ctx;
use crate::error::CliError;
use crate::platform::{OutputArgs, Platform, Table, cell, print, unix};

/// Agent commands.
#[derive(Debug, Subcommand)]
pub(crate) enum AgentCommand {
    /// Register an agent in a team
    #[command(
        after_help = "Example:\n  mcp-runtime agent create release-bot --team payments --description \"CI releases\""
    )]
    Create(CreateArgs),
    /// List a team's agents
    #[command(after_help = "Example:\n  mcp-runtime agent list --team payments --status active -o json")]
    List(ListArgs),
    /// Show one agent
    #[command(after_help = "Example:\n  mcp-runtime agent get agt_01j…")]
    Get(IdArgs),
    /// Rename an agent (its id stays)
    #[command(after_help = "Example:\n  mcp-runtime agent rename agt_01j… deploy-bot")]
    Rename(RenameArgs),
    /// Deactivate an agent: no new sessions, and its live sessions are revoked
    #[command(after_help = "Example:\n  mcp-runtime agent deactivate agt_01j…")]
    Deactivate(IdArgs),
    /// Reactivate an agent
    #[command(after_help = "Example:\n  mcp-runtime agent reactivate agt_01j…")]
    Reactivate(IdArgs),
}

impl AgentCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
        match self {
            AgentCommand::Create(args) => create(args, ctx),
            AgentCommand::List(args) => list(args, ctx),
            AgentCommand::Get(args) => get(args, ctx),
            AgentCommand::Rename(args) => rename(args, ctx),
            AgentCommand::Deactivate(args) => state(args, false, ctx),
            AgentCommand::Reactivate(args) => state(args, true, ctx),
        }
    }
}

const HEADER: &[&str] = &["ID", "NAME", "STATUS", "DESCRIPTION", "CREATED"];

fn row(a: &Agent) -> Vec<String> {
    vec![a.id.clone(), a.name.clone(), a.status.clone(), cell(a.description.clone()), unix(a.created_at)]
}

fn one(a: &Agent) -> Table {
    let mut t = Table::new(HEADER);
    t.row(row(a));
    t
}

#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// Name, unique in the team (case-insensitively)
    #[arg(value_name = "NAME")]
    name: String,
    /// The team (default: your only team)
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
    /// What the agent is for
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

fn create(args: CreateArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let team = platform.team(args.team.as_deref())?;
    let agent = platform.run(platform.client.create_agent(&team, &args.name, args.description.as_deref()))?;
    print(ctx, args.output.format, &agent, || one(&agent))
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// The team (default: your only team)
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
    /// Only active or inactive agents
    #[arg(long, value_parser = ["active", "inactive"])]
    status: Option<String>,
    /// Only agents whose name contains this (case-insensitive)
    #[arg(short = 'q', long, value_name = "TEXT")]
    query: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

fn list(args: ListArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let team = platform.team(args.team.as_deref())?;
    let page = platform.run(platform.client.agents(&team, args.status.as_deref(), args.query.as_deref()))?;
    print(ctx, args.output.format, &page, || {
        let mut t = Table::new(HEADER);
        page.items.iter().for_each(|a| t.row(row(a)));
        t
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct IdArgs {
    /// Agent id (agt_…)
    #[arg(value_name = "ID")]
    id: String,
    #[command(flatten)]
    output: OutputArgs,
}

fn get(args: IdArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let agent = platform.run(platform.client.agent(&args.id))?;
    print(ctx, args.output.format, &agent, || one(&agent))
}

#[derive(Debug, clap::Args)]
pub(crate) struct RenameArgs {
    /// Agent id (agt_…)
    #[arg(value_name = "ID")]
    id: String,
    /// The new name
    #[arg(value_name = "NAME")]
    name: String,
    /// Also change the description
    #[arg(long, value_name = "TEXT")]
    description: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

fn rename(args: RenameArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let agent = platform.run(platform.client.update_agent(
        &args.id,
        Some(&args.name),
        args.description.as_deref(),
    ))?;
    print(ctx, args.output.format, &agent, || one(&agent))
}

fn state(args: IdArgs, active: bool, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let c = &platform.client;
    let state = if active {
        platform.run(c.reactivate_agent(&args.id))?
    } else {
        platform.run(c.deactivate_agent(&args.id))?
    };
    print(ctx, args.output.format, &state, || {
        let mut t = Table::new(&["ID", "NAME", "STATUS", "SESSIONS REVOKED"]);
        t.row(vec![
            state.agent.id.clone(),
            state.agent.name.clone(),
            state.agent.status.clone(),
            state.revoked.revoked.to_string(),
        ]);
        t
    })
}
