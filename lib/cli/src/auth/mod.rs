//! `mcp-runtime auth …`: sign in (password, API key, OpenID Connect), show, switch and sign
//! out of saved profiles.

use std::io::{BufRead, IsTerminal};

use clap::Subcommand;
use mcp_platform_client::{Client, Credential, Me, TokenResponse};
use serde_json::json;

use crate::cli::Ctx;
use crate::error::CliError;
use crate::platform::config::Profile;
use crate::platform::{OutputArgs, Platform, Settings, Table, cell, print, runtime};

mod oidc;

/// Sign-in commands.
#[derive(Debug, Subcommand)]
pub(crate) enum AuthCommand {
    /// Sign in to a platform and save the credential in a profile
    #[command(after_help = "Examples:\n  \
mcp-runtime auth login --api-url https://platform.example.com --email ada@example.com\n  \
printf '%s' \"$PASSWORD\" | mcp-runtime auth login --api-url http://127.0.0.1:8090 --email ada@example.com --password-stdin\n  \
mcp-runtime auth login --api-url http://127.0.0.1:8090 --token-stdin < key.txt\n  \
mcp-runtime auth login --api-url https://platform.example.com --oidc --oidc-issuer https://id.example.com")]
    Login(LoginArgs),
    /// Show the profile in use and check its credential against the platform
    #[command(after_help = "Example:\n  mcp-runtime auth status -o json")]
    Status(StatusArgs),
    /// Make a saved profile the current one
    #[command(after_help = "Example:\n  mcp-runtime auth use staging")]
    Use(UseArgs),
    /// Sign out: revoke the refresh token at the platform and forget the credential
    #[command(after_help = "Example:\n  mcp-runtime auth logout --profile staging")]
    Logout,
}

impl AuthCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
        match self {
            AuthCommand::Login(args) => login(args, ctx),
            AuthCommand::Status(args) => status(args, ctx),
            AuthCommand::Use(args) => use_profile(args, ctx),
            AuthCommand::Logout => logout(ctx),
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct LoginArgs {
    /// The platform, http(s)://host[:port] (default: MCP_PLATFORM_API_URL, then the profile's)
    #[arg(long, value_name = "URL")]
    api_url: Option<String>,
    /// Account email, for a password sign-in
    #[arg(long, value_name = "EMAIL", conflicts_with_all = ["token", "token_stdin", "oidc"])]
    email: Option<String>,
    /// Read the password from the first line of standard input (otherwise it is prompted for
    /// without echo)
    #[arg(long, requires = "email")]
    password_stdin: bool,
    /// Sign in with an API key (mcpk_…), checked against the platform
    #[arg(long, value_name = "KEY", conflicts_with_all = ["token_stdin", "oidc"])]
    token: Option<String>,
    /// Read the API key from standard input
    #[arg(long, conflicts_with = "oidc")]
    token_stdin: bool,
    /// Sign in at the OpenID Connect issuer in a browser (authorization code + PKCE, loopback
    /// redirect) and exchange its id_token at the platform
    #[arg(long)]
    oidc: bool,
    /// The issuer URL (default: the profile's)
    #[arg(long, value_name = "URL", requires = "oidc")]
    oidc_issuer: Option<String>,
    /// The CLI's client id at the issuer (default: the profile's, else mcp-runtime)
    #[arg(long, value_name = "ID", requires = "oidc")]
    oidc_client_id: Option<String>,
    /// Print the sign-in URL instead of opening a browser
    #[arg(long, requires = "oidc")]
    no_browser: bool,
}

fn read_stdin_line(what: &str) -> Result<String, CliError> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| CliError::SignIn(format!("cannot read {what}: {e}")))?;
    let value = line.trim_end_matches(['\n', '\r']).to_string();
    if value.is_empty() {
        return Err(CliError::SignIn(format!("no {what} on standard input")));
    }
    Ok(value)
}

fn login(args: LoginArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let mut settings = Settings::load(ctx)?;
    let existing = settings.current().cloned().unwrap_or_default();
    let api_url = args
        .api_url
        .clone()
        .or_else(|| ctx.env.api_url.clone())
        .or_else(|| (!existing.api_url.is_empty()).then(|| existing.api_url.clone()))
        .ok_or_else(|| CliError::InvalidArgument {
            flag: "--api-url",
            value: String::new(),
            reason: "no platform URL: pass --api-url or set MCP_PLATFORM_API_URL".into(),
        })?;
    let api_url = api_url.trim().trim_end_matches('/').to_string();
    let rt = runtime()?;
    let anonymous = Client::new(&api_url, Credential::None).map_err(CliError::Platform)?;
    let mut profile = Profile { api_url: api_url.clone(), ..Profile::default() };

    let me: Me = if args.token.is_some() || args.token_stdin {
        let key = match args.token {
            Some(k) => k,
            None => read_stdin_line("API key")?,
        };
        let client = Client::new(&api_url, Credential::Bearer(key.clone())).map_err(CliError::Platform)?;
        let me = rt.block_on(client.me()).map_err(CliError::LoginRefused)?;
        profile.method = "api_key".into();
        profile.api_key = Some(key);
        me
    } else if args.oidc {
        let issuer = args.oidc_issuer.clone().or(existing.oidc_issuer.clone()).ok_or_else(|| {
            CliError::InvalidArgument {
                flag: "--oidc-issuer",
                value: String::new(),
                reason: "no issuer: pass --oidc-issuer".into(),
            }
        })?;
        let client_id = args
            .oidc_client_id
            .clone()
            .or(existing.oidc_client_id.clone())
            .unwrap_or_else(|| "mcp-runtime".into());
        let id_token = rt.block_on(oidc::id_token(ctx, &issuer, &client_id, !args.no_browser))?;
        let tokens = rt.block_on(anonymous.oidc_token(&id_token)).map_err(CliError::LoginRefused)?;
        profile.method = "oidc".into();
        profile.oidc_issuer = Some(issuer);
        profile.oidc_client_id = Some(client_id);
        session(&rt, &api_url, &mut profile, tokens)?
    } else {
        let email = args.email.clone().ok_or_else(|| CliError::InvalidArgument {
            flag: "--email",
            value: String::new(),
            reason: "choose a sign-in: --email (password), --token/--token-stdin (API key) or --oidc".into(),
        })?;
        let password = if args.password_stdin {
            read_stdin_line("password")?
        } else if std::io::stdin().is_terminal() {
            rpassword::prompt_password(format!("Password for {email}: "))
                .map_err(|e| CliError::SignIn(format!("cannot read the password: {e}")))?
        } else {
            return Err(CliError::SignIn(
                "standard input is not a terminal: pass the password with --password-stdin".into(),
            ));
        };
        let tokens = rt.block_on(anonymous.login(&email, &password)).map_err(CliError::LoginRefused)?;
        profile.method = "password".into();
        session(&rt, &api_url, &mut profile, tokens)?
    };

    profile.email = Some(me.user.email.clone());
    profile.user_id = Some(me.user.id.clone());
    profile.is_admin = me.user.is_admin;
    profile.updated_at = ctx.now.to_string();
    let name = settings.profile.clone();
    settings.config.profiles.insert(name.clone(), profile);
    settings.config.current = Some(name.clone());
    settings.save()?;
    let role = if me.user.is_admin { "administrator" } else { "user" };
    writeln!(ctx.out, "signed in to {api_url} as {} ({role}); profile {name:?}", me.user.email)?;
    Ok(())
}

/// Stores a token pair in `profile` and returns the account it signs in.
fn session(
    rt: &tokio::runtime::Runtime,
    api_url: &str,
    profile: &mut Profile,
    tokens: TokenResponse,
) -> Result<Me, CliError> {
    profile.access_token = Some(tokens.access_token.clone());
    profile.refresh_token = Some(tokens.refresh_token.clone());
    let client = Client::new(
        api_url,
        Credential::Session { access_token: tokens.access_token, refresh_token: tokens.refresh_token },
    )
    .map_err(CliError::Platform)?;
    rt.block_on(client.me()).map_err(CliError::Platform)
}

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    output: OutputArgs,
}

fn status(args: StatusArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let platform = Platform::connect(ctx)?;
    let settings = Settings::load(ctx)?;
    let saved = settings.current().cloned().unwrap_or_default();
    let me = platform.run(platform.client.me())?;
    let source =
        if ctx.env.token.is_some() { "MCP_PLATFORM_API_TOKEN".to_string() } else { saved.method.clone() };
    let teams: Vec<String> =
        me.teams.iter().map(|t| format!("{}({})", t.name, t.role.as_deref().unwrap_or("-"))).collect();
    let value = json!({
        "profile": platform.profile,
        "api_url": platform.client.base_url(),
        "credential": source,
        "user": me.user,
        "teams": me.teams,
        "auth": me.auth,
    });
    print(ctx, args.output.format, &value, || {
        let mut t = Table::new(&["PROFILE", "PLATFORM", "ACCOUNT", "ROLE", "CREDENTIAL", "TEAMS"]);
        t.row(vec![
            platform.profile.clone(),
            platform.client.base_url().to_string(),
            me.user.email.clone(),
            if me.user.is_admin { "admin".into() } else { "user".into() },
            cell(source.clone()),
            cell(teams.join(",")),
        ]);
        t
    })
}

#[derive(Debug, clap::Args)]
pub(crate) struct UseArgs {
    /// The profile
    #[arg(value_name = "PROFILE")]
    name: String,
}

fn use_profile(args: UseArgs, ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let mut settings = Settings::load(ctx)?;
    if !settings.config.profiles.contains_key(&args.name) {
        return Err(CliError::NotFound { what: format!("profile {:?}", args.name) });
    }
    settings.config.current = Some(args.name.clone());
    settings.save()?;
    writeln!(ctx.out, "using profile {:?}", args.name)?;
    Ok(())
}

fn logout(ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let mut settings = Settings::load(ctx)?;
    let name = settings.profile.clone();
    let Some(profile) = settings.config.profiles.get(&name).cloned().filter(Profile::signed_in) else {
        return Err(CliError::NotSignedIn { profile: name });
    };
    // Revoke the refresh token first; a platform that cannot be reached does not keep the
    // credential on this machine.
    let mut warning = None;
    if let Some(refresh) = &profile.refresh_token {
        let client = Client::new(&profile.api_url, Credential::None).map_err(CliError::Platform)?;
        if let Err(e) = runtime()?.block_on(client.logout(refresh)) {
            warning = Some(CliError::Platform(e).to_string());
        }
    }
    if let Some(p) = settings.config.profiles.get_mut(&name) {
        p.access_token = None;
        p.refresh_token = None;
        p.api_key = None;
        p.updated_at = ctx.now.to_string();
    }
    settings.save()?;
    if let Some(w) = warning {
        writeln!(ctx.err, "warning: the platform did not revoke the session: {w}")?;
    }
    writeln!(ctx.out, "signed out of profile {name:?}")?;
    Ok(())
}
