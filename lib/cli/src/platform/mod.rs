//! What the platform commands share: the environment they read, the signed-in client (with
//! tokens refreshed and saved transparently), the async runtime (built only by commands that
//! talk to the platform, never for `--help`), output formats and tables.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use mcp_platform_client::{Client, ClientError, Credential, TokenResponse};
use serde::Serialize;

use crate::cli::Ctx;
use crate::error::CliError;

pub(crate) mod config;

use config::{ConfigFile, Profile};

/// The environment variables the platform commands read, captured once at start.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// `MCP_RUNTIME_CONFIG_DIR`: the directory of `config.json`.
    pub config_dir: Option<String>,
    /// `HOME`.
    pub home: Option<String>,
    /// `MCP_PLATFORM_API_URL`: overrides the profile's URL.
    pub api_url: Option<String>,
    /// `MCP_PLATFORM_API_PROFILE`: the profile to use.
    pub profile: Option<String>,
    /// `MCP_PLATFORM_API_TOKEN`: a bearer token (API key or access token) used instead of the
    /// saved credential.
    pub token: Option<String>,
    /// `SOURCE_DATE_EPOCH`: the time stamped into images `server build` assembles.
    pub source_date_epoch: Option<String>,
    /// `PATH`: where `server build --dockerfile` looks for a container builder.
    pub path: Option<String>,
}

impl Env {
    /// From the process environment.
    pub fn from_process() -> Env {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Env {
            config_dir: get("MCP_RUNTIME_CONFIG_DIR"),
            home: get("HOME"),
            api_url: get("MCP_PLATFORM_API_URL"),
            profile: get("MCP_PLATFORM_API_PROFILE"),
            token: get("MCP_PLATFORM_API_TOKEN"),
            source_date_epoch: get("SOURCE_DATE_EPOCH"),
            path: get("PATH"),
        }
    }
}

/// Where the configuration lives, and the profile in use.
pub(crate) struct Settings {
    pub path: PathBuf,
    pub config: ConfigFile,
    pub profile: String,
}

impl Settings {
    pub(crate) fn load(ctx: &Ctx<'_>) -> Result<Settings, CliError> {
        let path = config::path(ctx.env.config_dir.as_deref(), ctx.env.home.as_deref())
            .ok_or(CliError::NoConfigDir)?;
        let path = ctx.path(&path);
        let config = config::load(&path)?;
        let profile = ctx
            .profile
            .clone()
            .or_else(|| ctx.env.profile.clone())
            .or_else(|| config.current.clone())
            .unwrap_or_else(|| "default".to_string());
        Ok(Settings { path, config, profile })
    }

    pub(crate) fn current(&self) -> Option<&Profile> {
        self.config.profiles.get(&self.profile)
    }

    pub(crate) fn save(&self) -> Result<(), CliError> {
        config::save(&self.path, &self.config)
    }
}

/// A runtime for one command (current thread: a CLI call is a handful of requests).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(CliError::Runtime)
}

/// The signed-in platform of one command.
pub(crate) struct Platform {
    pub client: Client,
    pub rt: tokio::runtime::Runtime,
    pub profile: String,
}

impl Platform {
    /// The platform and credential of the profile in use (environment overrides applied);
    /// fails with "not signed in" when there is no credential.
    pub(crate) fn connect(ctx: &Ctx<'_>) -> Result<Platform, CliError> {
        let settings = Settings::load(ctx)?;
        let profile = settings.current().cloned().unwrap_or_default();
        let api_url = ctx.env.api_url.clone().unwrap_or_else(|| profile.api_url.clone());
        let name = settings.profile.clone();
        if api_url.is_empty() {
            return Err(CliError::NotSignedIn { profile: name });
        }
        let credential = if let Some(token) = &ctx.env.token {
            Credential::Bearer(token.clone())
        } else if let Some(key) = &profile.api_key {
            Credential::Bearer(key.clone())
        } else if let (Some(a), Some(r)) = (&profile.access_token, &profile.refresh_token) {
            Credential::Session { access_token: a.clone(), refresh_token: r.clone() }
        } else if let Some(a) = &profile.access_token {
            Credential::Bearer(a.clone())
        } else {
            return Err(CliError::NotSignedIn { profile: name });
        };
        let mut client = Client::new(&api_url, credential).map_err(CliError::Platform)?;
        if ctx.env.token.is_none() {
            // Save each refreshed pair at once: refresh tokens are single-use.
            let path = settings.path.clone();
            let profile_name = name.clone();
            client = client.on_refresh(Arc::new(move |t: &TokenResponse| {
                let Ok(mut config) = config::load(&path) else { return };
                if let Some(p) = config.profiles.get_mut(&profile_name) {
                    p.access_token = Some(t.access_token.clone());
                    p.refresh_token = Some(t.refresh_token.clone());
                    p.updated_at = jiff::Timestamp::now().to_string();
                    let _ = config::save(&path, &config);
                }
            }));
        }
        Ok(Platform { client, rt: runtime()?, profile: name })
    }

    /// Runs one call to completion.
    pub(crate) fn run<T>(&self, f: impl Future<Output = Result<T, ClientError>>) -> Result<T, CliError> {
        self.rt.block_on(f).map_err(CliError::Platform)
    }

    /// `team` if given, else the caller's only team.
    pub(crate) fn team(&self, team: Option<&str>) -> Result<String, CliError> {
        if let Some(t) = team.filter(|t| !t.is_empty()) {
            return Ok(t.to_string());
        }
        let me = self.run(self.client.me())?;
        match me.teams.as_slice() {
            [one] => Ok(one.name.clone()),
            [] => Err(CliError::NoTeam { teams: String::new() }),
            many => Err(CliError::NoTeam {
                teams: many.iter().map(|t| t.name.as_str()).collect::<Vec<_>>().join(", "),
            }),
        }
    }
}

/// `-o table|json|yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Format {
    /// Aligned columns for people
    Table,
    /// JSON, the API's objects
    Json,
    /// YAML, the API's objects
    Yaml,
}

/// The output format flag of commands that print objects.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct OutputArgs {
    /// Output format
    #[arg(short = 'o', long = "output", value_enum, value_name = "FORMAT", default_value = "table")]
    pub format: Format,
}

/// A table: a header row and rows, printed as aligned columns.
#[derive(Debug, Default)]
pub(crate) struct Table {
    pub header: Vec<&'static str>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&'static str]) -> Table {
        Table { header: header.to_vec(), rows: Vec::new() }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub(crate) fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.len()).collect();
        for row in &self.rows {
            for (i, c) in row.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(c.chars().count());
                }
            }
        }
        let mut out = String::new();
        let mut line = |cells: Vec<&str>| {
            let mut s = String::new();
            for (i, c) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    s.push_str(c);
                } else {
                    s.push_str(&format!("{c:<w$}  ", w = widths[i]));
                }
            }
            out.push_str(s.trim_end());
            out.push('\n');
        };
        line(self.header.clone());
        for row in &self.rows {
            line(row.iter().map(String::as_str).collect());
        }
        out
    }
}

/// Prints `value` as JSON or YAML, or `table()` as a table.
pub(crate) fn print<T: Serialize>(
    ctx: &mut Ctx<'_>,
    format: Format,
    value: &T,
    table: impl FnOnce() -> Table,
) -> Result<(), CliError> {
    let text = match format {
        Format::Table => table().render(),
        Format::Json => {
            let mut s = serde_json::to_string_pretty(value)
                .map_err(|e| CliError::Encode { what: "the answer".into(), message: e.to_string() })?;
            s.push('\n');
            s
        }
        Format::Yaml => serde_saphyr::to_string(value)
            .map_err(|e| CliError::Encode { what: "the answer".into(), message: e.to_string() })?,
    };
    ctx.out.write_all(text.as_bytes())?;
    Ok(())
}

/// A string field of a JSON object, by path (`spec.serverRef.name`); empty when absent.
pub(crate) fn field(value: &serde_json::Value, path: &str) -> String {
    let mut v = value;
    for part in path.split('.') {
        match v.get(part) {
            Some(next) => v = next,
            None => return String::new(),
        }
    }
    match v {
        serde_json::Value::Null => String::new(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `-` for an empty cell.
pub(crate) fn cell(s: impl Into<String>) -> String {
    let s = s.into();
    if s.is_empty() { "-".to_string() } else { s }
}

/// A Unix time as RFC 3339 (seconds).
pub(crate) fn unix(t: i64) -> String {
    jiff::Timestamp::from_second(t).map(|t| t.to_string()).unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests;
