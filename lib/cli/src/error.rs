//! The crate's one error type and its exit-code convention.

use std::io;
use std::path::{Path, PathBuf};

/// Everything a command can fail with.
///
/// Messages are lower case without a final period and never repeat their source; the top level
/// prints the whole chain on one line (`error: cannot read x: No such file or directory`).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file, as the user named it.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// A file or directory could not be written or created.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file or directory, as the user named it.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// Writing to standard output or standard error failed.
    #[error("cannot write output")]
    Output(#[source] io::Error),
    /// The working directory could not be determined.
    #[error("cannot determine the current directory")]
    CurrentDir(#[source] io::Error),
    /// A file is not well-formed YAML.
    #[error("{}: invalid YAML", file.display())]
    Syntax {
        /// The file, as the user named it.
        file: PathBuf,
        /// The parser's message, with line and column.
        #[source]
        source: Box<serde_saphyr::Error>,
    },
    /// A YAML document does not have the expected shape (wrong type, unknown variant or field,
    /// missing field, unknown kind or apiVersion).
    #[error("{}", located(file, *document, field, message, value.as_deref()))]
    Decode {
        /// The file, as the user named it.
        file: PathBuf,
        /// Zero-based index of the document, when the file holds more than one.
        document: Option<usize>,
        /// Path of the offending field, e.g. `spec.toolRules[0].decision`; empty for the root.
        field: String,
        /// What is wrong.
        message: String,
        /// The offending value, when it is not already part of `message`.
        value: Option<String>,
    },
    /// A value could not be turned into YAML (a bug: our types always serialize).
    #[error("cannot serialize {what}")]
    Serialize {
        /// What was being serialized.
        what: String,
        /// The serializer's message.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No metadata was found where the command looked.
    #[error("no server metadata in {} (run `mcp-runtime server init` first)", path.display())]
    NoMetadata {
        /// The directory or file looked at.
        path: PathBuf,
    },
    /// `server init` found a server of that name and `--force` was not given.
    #[error("server {name:?} already exists in {} (use --force to replace it)", file.display())]
    ServerExists {
        /// The server name.
        name: String,
        /// The metadata file holding it.
        file: PathBuf,
    },
    /// The output file exists and `--force` was not given.
    #[error("{} already exists (use --force to overwrite it)", path.display())]
    OutputExists {
        /// The output file.
        path: PathBuf,
    },
    /// A command-line value is well-formed but unusable.
    #[error("invalid value {value:?} for {flag}: {reason}")]
    InvalidArgument {
        /// The flag or argument, e.g. `--tool-risk` or `NAME`.
        flag: &'static str,
        /// The value given.
        value: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// `mcp-runtime dev` could not start or stopped on an error.
    #[error("dev: {message}")]
    Dev {
        /// What went wrong.
        message: String,
    },
    /// An image could not be built, read or exported.
    #[error("image: {message}")]
    Image {
        /// What went wrong.
        message: String,
    },
    /// An agent adapter could not start or stopped on an error.
    #[error("adapter: {message}")]
    Adapter {
        /// What went wrong.
        message: String,
    },
    /// Validation found errors; they have been printed, one line each.
    #[error("{what}: {} (nothing written)", count(*errors, "error"))]
    Invalid {
        /// What was validated, e.g. `server "github"`.
        what: String,
        /// How many errors were printed.
        errors: usize,
    },
    /// `policy render` was given no MCPServer.
    #[error("no MCPServer in the {files} file(s) given (add the server manifest with -f)")]
    NoServer {
        /// How many files were read.
        files: usize,
    },
    /// `policy render` was given several MCPServers and no `--server`.
    #[error("several MCPServers given ({names}); choose one with --server")]
    AmbiguousServer {
        /// Their names, comma-separated.
        names: String,
    },
    /// `--server` names no MCPServer in the files.
    #[error("no MCPServer named {name:?} in the files given")]
    UnknownServer {
        /// The name asked for.
        name: String,
    },
    /// The platform JWKS file is not a key set.
    #[error("{}: not a JWKS document: {message}", path.display())]
    Jwks {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The policy could not be rendered.
    #[error("cannot render the policy of the MCPServer in {}", file.display())]
    Render {
        /// The server's manifest file.
        file: PathBuf,
        /// Why.
        #[source]
        source: mcp_policy::RenderError,
    },
    /// A policy document failed verification.
    #[error("{}", path.display())]
    Policy {
        /// The policy file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: mcp_policy::InvalidDocument,
    },
    /// `policy check` denied the call (the decision has been printed).
    #[error("the call is denied")]
    Denied,
    /// `server validate` found errors; they have been printed, one line each.
    #[error("validation failed with {}", count(*errors, "error"))]
    ValidationFailed {
        /// How many errors were printed.
        errors: usize,
    },
    /// A call to the platform failed.
    #[error("{}", platform_message(.0))]
    Platform(mcp_platform_client::ClientError),
    /// No saved credential for the profile (and no `MCP_PLATFORM_API_TOKEN`).
    #[error("not signed in (profile {profile:?}) — run `mcp-runtime auth login`")]
    NotSignedIn {
        /// The profile looked at.
        profile: String,
    },
    /// The command needs a team and the caller is in none or several.
    #[error("{}", if teams.is_empty() { "you are in no team — pass --team".to_string() } else { format!("you are in several teams ({teams}) — choose one with --team") })]
    NoTeam {
        /// The caller's teams, comma-separated.
        teams: String,
    },
    /// Neither `MCP_RUNTIME_CONFIG_DIR` nor `HOME` is set.
    #[error("cannot locate the configuration: set MCP_RUNTIME_CONFIG_DIR or HOME")]
    NoConfigDir,
    /// The configuration file is unusable.
    #[error("{}: {message}", path.display())]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The async runtime could not start.
    #[error("cannot start the async runtime")]
    Runtime(#[source] io::Error),
    /// An answer could not be printed in the format asked for.
    #[error("cannot encode {what}: {message}")]
    Encode {
        /// What.
        what: String,
        /// Why.
        message: String,
    },
    /// A manifest given to a platform command is malformed; nothing was sent.
    #[error("{}{}: {}{message} (nothing sent)", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default(), if field.is_empty() { String::new() } else { format!("{field}: ") })]
    BadManifest {
        /// The file, as the user named it.
        file: PathBuf,
        /// One-based line, when known.
        line: Option<usize>,
        /// Field path, e.g. `spec.toolRules[0].decision`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Something the command looked up locally in an answer is not there.
    #[error("{what} not found")]
    NotFound {
        /// What.
        what: String,
    },
    /// A sign-in step failed before the platform was asked (prompt, browser flow).
    #[error("{0}")]
    SignIn(String),
    /// `setup` could not render, apply or wait for the installation (`mcp_cluster`'s message
    /// names the object and what to do).
    #[error("{0}")]
    Cluster(String),
    /// `doctor` found failing checks (each printed with its hint).
    #[error("{failed} check(s) failed")]
    ChecksFailed {
        /// How many.
        failed: usize,
    },
    /// The platform refused the credentials given to `auth login` (same exit codes as
    /// [`CliError::Platform`]).
    #[error("{}", match .0 {
        mcp_platform_client::ClientError::Api { code, message, .. } => format!("sign-in refused: {message} ({code})"),
        other => platform_message(other),
    })]
    LoginRefused(mcp_platform_client::ClientError),
}

/// One line for a platform error: what happened, its stable code, and a hint.
fn platform_message(e: &mcp_platform_client::ClientError) -> String {
    use mcp_platform_client::ClientError as E;
    match e {
        E::Api { status: 401, code, message, .. } => {
            format!("{message} ({code}) — run `mcp-runtime auth login`")
        }
        E::Api { status: 403, code, message, .. } => {
            format!("{message} ({code}) — your account or team role does not allow this")
        }
        E::Api { code, message, retry_after: Some(s), .. } => format!("{message} ({code}) — retry in {s} s"),
        E::Api { code, message, details, .. } => {
            match details.as_ref().and_then(|d| d.get("field")).and_then(|f| f.as_str()) {
                Some(field) if !message.contains(field) => format!("{field}: {message} ({code})"),
                _ => format!("{message} ({code})"),
            }
        }
        E::LoginExpired(_) => "login expired — run `mcp-runtime auth login`".to_string(),
        E::Unreachable(url, cause) => {
            let base = url.split("/api/").next().unwrap_or(url);
            let short = cause.rsplit(": ").next().unwrap_or(cause);
            format!("platform unreachable at {base} ({short}) — check --api-url or MCP_PLATFORM_API_URL")
        }
        other => other.to_string(),
    }
}

impl CliError {
    /// The process exit code for this error (the table is [`crate::EXIT_CODES`]).
    pub fn exit_code(&self) -> i32 {
        use mcp_platform_client::ClientError as E;
        match self {
            CliError::Invalid { .. } | CliError::ValidationFailed { .. } | CliError::BadManifest { .. } => 1,
            CliError::SignIn(_) | CliError::Encode { .. } => 1,
            CliError::Cluster(_) | CliError::ChecksFailed { .. } | CliError::Dev { .. } => 1,
            CliError::Image { .. } => 1,
            CliError::Denied => 3,
            CliError::NotSignedIn { .. } => 4,
            CliError::NotFound { .. } => 6,
            CliError::Platform(e) | CliError::LoginRefused(e) => match e {
                E::LoginExpired(_) => 4,
                E::Unreachable(..) => 8,
                E::InvalidUrl(..) => 2,
                E::Api { status: 401, .. } => 4,
                E::Api { status: 403, .. } => 5,
                E::Api { status: 404, .. } => 6,
                E::Api { status: 409 | 429, .. } => 7,
                _ => 1,
            },
            _ => 2,
        }
    }

    pub(crate) fn read(path: &Path, source: io::Error) -> Self {
        CliError::Read { path: path.to_path_buf(), source }
    }

    pub(crate) fn write(path: &Path, source: io::Error) -> Self {
        CliError::Write { path: path.to_path_buf(), source }
    }
}

impl From<io::Error> for CliError {
    /// Only for writes to the command's output streams.
    fn from(source: io::Error) -> Self {
        CliError::Output(source)
    }
}

/// `file[ (document N)]: field: message[: "value"]`, the shape of every located problem.
pub(crate) fn located(
    file: &Path,
    document: Option<usize>,
    field: &str,
    message: &str,
    value: Option<&str>,
) -> String {
    let mut s = source_label(file, document);
    if !field.is_empty() {
        s.push_str(": ");
        s.push_str(field);
    }
    s.push_str(": ");
    s.push_str(message);
    if let Some(value) = value {
        s.push_str(&format!(": {value:?}"));
    }
    s
}

/// How a file (and a document inside it) is named in messages. Documents are numbered from 1
/// for people; [`crate::manifests::Loaded::index`] stays zero-based.
pub(crate) fn source_label(file: &Path, document: Option<usize>) -> String {
    match document {
        Some(index) => format!("{} (document {})", file.display(), index + 1),
        None => file.display().to_string(),
    }
}

/// `1 error`, `2 errors`.
pub(crate) fn count(n: usize, noun: &str) -> String {
    if n == 1 { format!("{n} {noun}") } else { format!("{n} {noun}s") }
}

/// The error and all its sources on one line, joined by `: `.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut s = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        s.push_str(": ");
        s.push_str(&e.to_string());
        source = e.source();
    }
    s.replace('\n', " ")
}
