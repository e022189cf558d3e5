//! `server deploy|list|get|status|delete|policy|connect-config`: servers on the platform.

use std::collections::BTreeMap;
use std::path::PathBuf;

use mcp_platform_client::{PublishServer, ServerItem};
use serde_json::{Value, json};

use crate::cli::Ctx;
use crate::error::CliError;
use crate::metadata::{self, Location};
use crate::platform::{Format, OutputArgs, Platform, Table, cell, field, print};

/// `--team`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TeamArg {
    /// Team owning the server (default: your only team)
    #[arg(long, value_name = "TEAM")]
    pub team: Option<String>,
}

#[derive(Debug, clap::Args)]
pub(crate) struct DeployArgs {
    /// Server to deploy (default: every server in the metadata)
    #[arg(value_name = "NAME")]
    name: Option<String>,
    /// Directory holding the metadata files
    #[arg(long, value_name = "DIR", default_value = ".mcp")]
    metadata_dir: PathBuf,
    /// Metadata file to read instead of the metadata directory
    #[arg(long, value_name = "FILE", conflicts_with = "metadata_dir")]
    metadata_file: Option<PathBuf>,
    /// Replace the server if it exists (without it an existing server is a conflict)
    #[arg(long)]
    update: bool,
    #[command(flatten)]
    team: TeamArg,
    #[command(flatten)]
    output: OutputArgs,
}

pub(crate) fn deploy(args: DeployArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    // The same reading and checks as `server generate`; nothing is sent unless all pass.
    let location = Location::new(&args.metadata_dir, args.metadata_file.as_deref());
    let all = metadata::read_valid(ctx, &location)?;
    let entries: Vec<_> = match &args.name {
        Some(name) => {
            let found: Vec<_> = all.iter().filter(|e| &e.server.name == name).collect();
            if found.is_empty() {
                return Err(CliError::NotFound {
                    what: format!("server {name:?} in {}", location.path().display()),
                });
            }
            found
        }
        None => all.iter().collect(),
    };
    let platform = Platform::connect(ctx)?;
    let team = platform.team(args.team.team.as_deref())?;
    let mut deployed = Vec::new();
    for entry in entries {
        let server = entry.server.to_server();
        let spec = serde_json::to_value(&server.spec).map_err(|e| CliError::Encode {
            what: format!("server {:?}", entry.server.name),
            message: e.to_string(),
        })?;
        let req = PublishServer {
            team: team.clone(),
            name: entry.server.name.clone(),
            spec,
            update: args.update,
            labels: BTreeMap::new(),
        };
        let item = platform.run(platform.client.publish_server(&req))?;
        if args.output.format == Format::Table {
            writeln!(ctx.out, "deployed server {}/{}", item.team, entry.server.name)?;
        }
        deployed.push(item);
    }
    if args.output.format != Format::Table {
        print(ctx, args.output.format, &deployed, Table::default)?;
    }
    Ok(())
}

fn server_row(item: &ServerItem) -> Vec<String> {
    let s = &item.server;
    let tools = s["spec"]["tools"].as_array().map(Vec::len).unwrap_or(0);
    vec![
        item.team.clone(),
        field(s, "metadata.name"),
        cell(field(s, "status.phase")),
        tools.to_string(),
        cell(field(s, "status.url")),
    ]
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Only this team's servers
    #[arg(long, value_name = "TEAM")]
    team: Option<String>,
    #[command(flatten)]
    output: OutputArgs,
}

pub(crate) fn list(args: ListArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let list = platform.run(platform.client.servers(args.team.as_deref()))?;
    print(ctx, args.output.format, &list, || {
        let mut t = Table::new(&["TEAM", "NAME", "PHASE", "TOOLS", "URL"]);
        for item in &list.items {
            t.row(server_row(item));
        }
        t
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct GetArgs {
    /// The server
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    team: TeamArg,
    #[command(flatten)]
    output: OutputArgs,
}

pub(crate) fn get(args: GetArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let team = platform.team(args.team.team.as_deref())?;
    let item = platform.run(platform.client.server(&team, &args.name))?;
    print(ctx, args.output.format, &item, || {
        let mut t = Table::new(&["TEAM", "NAME", "PHASE", "TOOLS", "URL"]);
        t.row(server_row(&item));
        t
    })
}

pub(crate) fn status(args: GetArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let team = platform.team(args.team.team.as_deref())?;
    let item = platform.run(platform.client.server(&team, &args.name))?;
    let status = item.server.get("status").cloned().unwrap_or(Value::Null);
    print(ctx, args.output.format, &json!({ "team": item.team, "name": args.name, "status": status }), || {
        let mut t = Table::new(&["CONDITION", "STATUS", "REASON", "MESSAGE"]);
        t.row(vec!["Phase".into(), cell(field(&status, "phase")), "-".into(), cell(field(&status, "url"))]);
        t.row(vec!["PolicyRevision".into(), cell(field(&status, "policyRevision")), "-".into(), "-".into()]);
        for c in status["conditions"].as_array().into_iter().flatten() {
            t.row(vec![
                cell(field(c, "type")),
                cell(field(c, "status")),
                cell(field(c, "reason")),
                cell(field(c, "message")),
            ]);
        }
        t
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct DeleteArgs {
    /// The server
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    team: TeamArg,
}

pub(crate) fn delete(args: DeleteArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let team = platform.team(args.team.team.as_deref())?;
    platform.run(platform.client.delete_server(&team, &args.name))?;
    writeln!(ctx.out, "deleted server {team}/{}", args.name)?;
    Ok(())
}

pub(crate) fn policy(args: GetArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let team = platform.team(args.team.team.as_deref())?;
    let policy = platform.run(platform.client.server_policy(&team, &args.name))?;
    print(ctx, args.output.format, &policy, || {
        let doc = &policy.document;
        let mut t = Table::new(&["REVISION", "TOOLS", "GRANTS", "SESSIONS", "MODE"]);
        let len = |k: &str| {
            doc[k].as_array().map(Vec::len).or_else(|| doc[k].as_object().map(|o| o.len())).unwrap_or(0)
        };
        t.row(vec![
            policy.revision.clone(),
            len("tools").to_string(),
            len("grants").to_string(),
            len("sessions").to_string(),
            cell(field(doc, "mode")),
        ]);
        t
    })
}

/// Which client's configuration to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum ClientKind {
    /// Claude Desktop (claude_desktop_config.json)
    Claude,
    /// Cursor (.cursor/mcp.json)
    Cursor,
    /// VS Code (.vscode/mcp.json)
    Vscode,
    /// Generic JSON (stdio and local proxy)
    Json,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ConnectArgs {
    /// The server
    #[arg(value_name = "NAME")]
    name: String,
    /// The MCP client to configure
    #[arg(long, value_enum, default_value = "json")]
    client: ClientKind,
    /// Agent id the client runs as (agt_…); default: a placeholder to replace
    #[arg(long, value_name = "ID")]
    agent: Option<String>,
    #[command(flatten)]
    team: TeamArg,
    /// Output format (json or yaml; table prints JSON too, ready to paste)
    #[command(flatten)]
    output: OutputArgs,
}

pub(crate) fn connect_config(args: ConnectArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let team = platform.team(args.team.team.as_deref())?;
    let configs = platform.run(platform.client.connect_config(&team, &args.name, args.agent.as_deref()))?;
    let key = match args.client {
        ClientKind::Claude => "claude_desktop",
        ClientKind::Cursor => "cursor",
        ClientKind::Vscode => "vscode",
        ClientKind::Json => "json",
    };
    let config = configs.get(key).cloned().ok_or_else(|| CliError::NotFound {
        what: format!("a {key} configuration in the platform's answer"),
    })?;
    let format = if args.output.format == Format::Table { Format::Json } else { args.output.format };
    print(ctx, format, &config, Table::default)
}
