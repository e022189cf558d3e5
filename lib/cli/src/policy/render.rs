//! `policy render`: MCPServer + MCPAccessGrant + MCPAgentSession manifests → policy.json, the
//! same document the operator writes to the server's policy ConfigMap.

use std::path::PathBuf;

use mcp_api::{DefaultingOptions, validate_grant, validate_session};
use mcp_policy::{Jwks, PlatformTrust, RenderContext, render};

use crate::cli::Ctx;
use crate::error::CliError;
use crate::fsio;
use crate::manifests::load_manifests_in;
use crate::report::{Report, Source};

#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example:\n  mcp-runtime policy render -f manifests/echo.yaml -f grant.yaml -f session.yaml -o policy.json"
)]
pub(crate) struct Args {
    /// Manifest file holding MCPServer, MCPAccessGrant and MCPAgentSession documents (repeatable)
    #[arg(short = 'f', long = "file", value_name = "FILE", required = true)]
    files: Vec<PathBuf>,
    /// Server to render when the files hold several MCPServers
    #[arg(long, value_name = "NAME")]
    server: Option<String>,
    /// Cluster name stamped into the policy
    #[arg(long, value_name = "NAME", default_value = "local")]
    cluster: String,
    /// Public MCP host for servers without their own ingressHost (the operator's
    /// MCP_DEFAULT_INGRESS_HOST); it makes the policy's public URL, the audience of session tokens
    #[arg(long, value_name = "HOST")]
    ingress_host: Option<String>,
    /// Public URLs use https
    #[arg(long)]
    tls: bool,
    /// Issuer of platform session tokens (with --platform-jwks)
    #[arg(long, value_name = "URL", requires = "platform_jwks")]
    platform_issuer: Option<String>,
    /// JWKS file with the platform's public session-token keys (with --platform-issuer)
    #[arg(long, value_name = "FILE", requires = "platform_issuer")]
    platform_jwks: Option<PathBuf>,
    /// Write the policy to FILE instead of standard output
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Overwrite the output file if it exists
    #[arg(long)]
    force: bool,
}

pub(crate) fn run(args: Args, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let manifests = load_manifests_in(ctx.cwd, &args.files)?;

    let server = match (&args.server, manifests.servers.as_slice()) {
        (None, [only]) => only,
        (None, []) => return Err(CliError::NoServer { files: args.files.len() }),
        (None, several) => {
            let names = several.iter().filter_map(|s| s.object.metadata.name.clone()).collect::<Vec<_>>();
            return Err(CliError::AmbiguousServer { names: names.join(", ") });
        }
        (Some(name), servers) => servers
            .iter()
            .find(|s| s.object.metadata.name.as_deref() == Some(name.as_str()))
            .ok_or_else(|| CliError::UnknownServer { name: name.clone() })?,
    };

    // Grants and sessions are checked like the admission webhook would, so a bad object is
    // named by file and field instead of silently shaping the policy.
    let mut report = Report::default();
    for g in &manifests.grants {
        report.extend(&Source::new(&g.file, g.index, true), validate_grant(&g.object.spec, "spec"));
    }
    for s in &manifests.sessions {
        report.extend(&Source::new(&s.file, s.index, true), validate_session(&s.object.spec, "spec"));
    }
    report.findings.retain(|f| f.severity == crate::report::Severity::Error);
    if report.errors() > 0 {
        report.print(ctx.err)?;
        return Err(CliError::Invalid { what: "grants and sessions".into(), errors: report.errors() });
    }

    let platform = match (&args.platform_issuer, &args.platform_jwks) {
        (Some(issuer), Some(path)) => {
            let text = fsio::read(&ctx.path(path), path)?;
            let jwks: Jwks = serde_json::from_str(&text)
                .map_err(|e| CliError::Jwks { path: path.clone(), message: e.to_string() })?;
            Some(PlatformTrust { issuer: issuer.clone(), jwks })
        }
        _ => None,
    };
    let render_ctx = RenderContext {
        cluster: args.cluster.clone(),
        defaults: DefaultingOptions { default_ingress_host: args.ingress_host.clone(), ..Default::default() },
        tls: args.tls,
        platform,
        generated_at: None,
    };
    let grants: Vec<_> = manifests.grants.iter().map(|g| g.object.clone()).collect();
    let sessions: Vec<_> = manifests.sessions.iter().map(|s| s.object.clone()).collect();
    let doc = render(&server.object, &grants, &sessions, &render_ctx)
        .map_err(|source| CliError::Render { file: server.file.clone(), source })?;
    let text = doc.to_json_pretty();

    match &args.output {
        None => ctx.out.write_all(text.as_bytes())?,
        Some(path) => {
            let full = ctx.path(path);
            if full.exists() && !args.force {
                return Err(CliError::OutputExists { path: path.clone() });
            }
            fsio::write_atomic(&full, path, &text)?;
            writeln!(
                ctx.err,
                "wrote {} ({} grants, {} sessions, revision {})",
                path.display(),
                doc.grants.len(),
                doc.sessions.len(),
                doc.revision
            )?;
        }
    }
    Ok(())
}
