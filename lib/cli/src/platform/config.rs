//! Saved sign-ins: `$MCP_RUNTIME_CONFIG_DIR/config.json` (default `~/.mcpruntime/config.json`),
//! one profile per platform account, written atomically with mode 0600 in a 0700 directory.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::CliError;

/// The file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ConfigFile {
    /// The profile commands use unless told otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// Profiles by name.
    pub profiles: BTreeMap<String, Profile>,
}

/// One saved sign-in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Profile {
    /// The platform, `http(s)://host[:port]`.
    pub api_url: String,
    /// How it signed in: `password`, `oidc` or `api_key`.
    pub method: String,
    /// The account.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    pub is_admin: bool,
    /// Access token of a password or OIDC sign-in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    /// Its refresh token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// An API key (`mcpk_…`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// OIDC issuer and client used by `auth login --oidc`, reused by the next one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc_issuer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc_client_id: Option<String>,
    /// When it was last written (RFC 3339).
    pub updated_at: String,
}

impl Profile {
    /// Whether it holds any credential.
    pub(crate) fn signed_in(&self) -> bool {
        self.access_token.is_some() || self.api_key.is_some()
    }
}

/// Where the file lives.
pub(crate) fn path(config_dir: Option<&str>, home: Option<&str>) -> Option<PathBuf> {
    match (config_dir.filter(|d| !d.is_empty()), home.filter(|h| !h.is_empty())) {
        (Some(dir), _) => Some(Path::new(dir).join("config.json")),
        (None, Some(home)) => Some(Path::new(home).join(".mcpruntime").join("config.json")),
        (None, None) => None,
    }
}

/// Reads the file; a missing file is an empty configuration.
pub(crate) fn load(path: &Path) -> Result<ConfigFile, CliError> {
    match fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text).map_err(|e| CliError::Config {
            path: path.to_path_buf(),
            message: format!("not a configuration file ({e}); remove it and sign in again"),
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(CliError::read(path, e)),
    }
}

/// Writes the file atomically (temporary file, mode 0600, then rename); the directory is
/// created with mode 0700.
pub(crate) fn save(path: &Path, config: &ConfigFile) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(config)
        .map_err(|e| CliError::Config { path: path.to_path_buf(), message: e.to_string() })?;
    text.push('\n');
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    create_private_dir(dir).map_err(|e| CliError::write(dir, e))?;
    let tmp = dir.join(format!(".config.json.{}.tmp", std::process::id()));
    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&tmp)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(0o600))?;
        }
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| CliError::write(path, e))
}

fn create_private_dir(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}
