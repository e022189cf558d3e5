//! `mcp-runtime team …`: teams and their members.

use clap::Subcommand;
use mcp_platform_client::CreateTeam;

use crate::cli::Ctx;
use crate::error::CliError;
use crate::platform::{OutputArgs, Platform, Table, cell, print, unix};

/// Team commands.
#[derive(Debug, Subcommand)]
pub(crate) enum TeamCommand {
    /// List the teams you are in (administrators: all teams)
    #[command(after_help = "Example:\n  mcp-runtime team list -o json")]
    List(ListArgs),
    /// Create a team (administrators)
    #[command(after_help = "Example:\n  mcp-runtime team create payments --display-name \"Payments\"")]
    Create(CreateArgs),
    /// Manage a team's members
    #[command(subcommand)]
    Member(MemberCommand),
}

/// `team member …`.
#[derive(Debug, Subcommand)]
pub(crate) enum MemberCommand {
    /// Add a member, or change their role (team owners and administrators)
    #[command(after_help = "Example:\n  mcp-runtime team member add payments ada@example.com --role owner")]
    Add(AddArgs),
    /// Remove a member
    #[command(after_help = "Example:\n  mcp-runtime team member remove payments ada@example.com")]
    Remove(RemoveArgs),
    /// List a team's members
    #[command(after_help = "Example:\n  mcp-runtime team member list payments")]
    List(MembersArgs),
}

impl TeamCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
        match self {
            TeamCommand::List(args) => list(args, ctx),
            TeamCommand::Create(args) => create(args, ctx),
            TeamCommand::Member(MemberCommand::Add(args)) => add(args, ctx),
            TeamCommand::Member(MemberCommand::Remove(args)) => remove(args, ctx),
            TeamCommand::Member(MemberCommand::List(args)) => members(args, ctx),
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    output: OutputArgs,
}

fn list(args: ListArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let page = platform.run(platform.client.teams())?;
    print(ctx, args.output.format, &page, || {
        let mut t = Table::new(&["NAME", "DISPLAY NAME", "NAMESPACE", "YOUR ROLE", "CREATED"]);
        for team in &page.items {
            t.row(vec![
                team.name.clone(),
                team.display_name.clone(),
                team.namespace.clone(),
                cell(team.role.clone().unwrap_or_default()),
                unix(team.created_at),
            ]);
        }
        t
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct CreateArgs {
    /// Team name: a DNS-1123 label, at most 54 characters (immutable)
    #[arg(value_name = "NAME")]
    name: String,
    /// Name shown to people (default: NAME)
    #[arg(long, value_name = "TEXT")]
    display_name: Option<String>,
    /// Kubernetes namespace of the team's servers (default: mcp-team-NAME)
    #[arg(long, value_name = "NAMESPACE")]
    namespace: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

fn create(args: CreateArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let req = CreateTeam { name: args.name, display_name: args.display_name, namespace: args.namespace };
    let team = platform.run(platform.client.create_team(&req))?;
    print(ctx, args.output.format, &team, || {
        let mut t = Table::new(&["NAME", "DISPLAY NAME", "NAMESPACE", "ID"]);
        t.row(vec![team.name.clone(), team.display_name.clone(), team.namespace.clone(), team.id.clone()]);
        t
    })
}

/// A user id, or the id of the account with this email (looked up in the user list, which
/// only administrators may read).
fn user_id(platform: &Platform, user: &str) -> Result<String, CliError> {
    if !user.contains('@') {
        return Ok(user.to_string());
    }
    let wanted = user.to_ascii_lowercase();
    let mut cursor: Option<String> = None;
    loop {
        let page = platform.run(platform.client.users(cursor.as_deref()))?;
        if let Some(u) = page.items.iter().find(|u| u.email == wanted) {
            return Ok(u.id.clone());
        }
        match page.next_cursor {
            Some(next) if !page.items.is_empty() => cursor = Some(next),
            _ => return Err(CliError::NotFound { what: format!("account {user:?}") }),
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct AddArgs {
    /// The team
    #[arg(value_name = "TEAM")]
    team: String,
    /// The account: its id, or its email (administrators)
    #[arg(value_name = "USER")]
    user: String,
    /// Role in the team
    #[arg(long, default_value = "member", value_parser = ["viewer", "member", "owner"])]
    role: String,
    #[command(flatten)]
    output: OutputArgs,
}

fn member_table(m: &mcp_platform_client::Member) -> Table {
    let mut t = Table::new(&["USER", "EMAIL", "ROLE", "JOINED"]);
    t.row(vec![m.user_id.clone(), m.email.clone(), m.role.clone(), unix(m.joined_at)]);
    t
}

fn add(args: AddArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let id = user_id(&platform, &args.user)?;
    let member = platform.run(platform.client.put_member(&args.team, &id, &args.role))?;
    print(ctx, args.output.format, &member, || member_table(&member))
}

#[derive(Debug, clap::Args)]
pub(crate) struct RemoveArgs {
    /// The team
    #[arg(value_name = "TEAM")]
    team: String,
    /// The account: its id, or its email (administrators)
    #[arg(value_name = "USER")]
    user: String,
}

fn remove(args: RemoveArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let id = user_id(&platform, &args.user)?;
    platform.run(platform.client.remove_member(&args.team, &id))?;
    writeln!(ctx.out, "removed {} from team {}", args.user, args.team)?;
    Ok(())
}

#[derive(Debug, clap::Args)]
pub(crate) struct MembersArgs {
    /// The team
    #[arg(value_name = "TEAM")]
    team: String,
    #[command(flatten)]
    output: OutputArgs,
}

fn members(args: MembersArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let page = platform.run(platform.client.members(&args.team))?;
    print(ctx, args.output.format, &page, || {
        let mut t = Table::new(&["USER", "EMAIL", "ROLE", "JOINED"]);
        for m in &page.items {
            t.row(vec![m.user_id.clone(), m.email.clone(), m.role.clone(), unix(m.joined_at)]);
        }
        t
    })
}
