//! The workspace-assistant tool set (reference §11.2) plus `progress` and `debug_headers`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use hyper::http::request::Parts;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ProgressNotificationParam, RequestMetaObject, Tool};
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler, tool, tool_handler, tool_router};
use schemars::JsonSchema;
use serde::Deserialize;

/// Names of every tool the example server lists, in `tools/list` order.
pub const TOOL_NAMES: [&str; 10] = [
    "aaa-ping",
    "add",
    "create_task",
    "debug_headers",
    "draft_release_note",
    "echo",
    "lower",
    "progress",
    "slugify",
    "upper",
];

/// Most progress steps one `progress` call may ask for.
pub const MAX_PROGRESS_STEPS: u32 = 100;

/// Pause between two progress notifications, so a client sees them arrive one by one.
const PROGRESS_STEP_PAUSE: Duration = Duration::from_millis(5);

/// Arguments of `echo`, `upper`, `lower` and `slugify`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct TextArgs {
    /// The input text.
    pub text: String,
}

/// Arguments of `add`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct AddArgs {
    /// The first addend.
    pub a: f64,
    /// The second addend.
    pub b: f64,
}

/// Arguments of `create_task`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct CreateTaskArgs {
    /// Title of the task to create.
    pub title: String,
}

/// Arguments of `draft_release_note`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ReleaseNoteArgs {
    /// The version being released, for example `1.4.0`.
    pub version: String,
    /// One entry per change, in the order they should appear.
    pub changes: Vec<String>,
}

/// Arguments of `progress`.
#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProgressArgs {
    /// How many progress notifications to send before answering (at most 100).
    #[schemars(range(max = 100))]
    pub steps: u32,
}

/// The workspace-assistant MCP server: one value per MCP session.
///
/// Every session of one [`crate::ExampleServer`] shares the task counter, so task ids are
/// unique per server process.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceAssistant {
    tasks: Arc<AtomicU64>,
}

impl WorkspaceAssistant {
    /// A server whose `create_task` ids start at 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// A server sharing `tasks` as its task-id counter with other sessions.
    pub fn with_task_counter(tasks: Arc<AtomicU64>) -> Self {
        Self { tasks }
    }
}

#[tool_router(vis = "pub(crate)")]
impl WorkspaceAssistant {
    #[tool(name = "aaa-ping", description = "Answer `pong`.", annotations(read_only_hint = true))]
    async fn aaa_ping(&self) -> String {
        "pong".to_owned()
    }

    #[tool(description = "Return the text unchanged.", annotations(read_only_hint = true))]
    async fn echo(&self, Parameters(args): Parameters<TextArgs>) -> String {
        args.text
    }

    #[tool(description = "Add two numbers and return the sum.", annotations(read_only_hint = true))]
    async fn add(&self, Parameters(args): Parameters<AddArgs>) -> String {
        format_number(args.a + args.b)
    }

    #[tool(description = "Return the text in upper case.", annotations(read_only_hint = true))]
    async fn upper(&self, Parameters(args): Parameters<TextArgs>) -> String {
        args.text.to_uppercase()
    }

    #[tool(description = "Return the text in lower case.", annotations(read_only_hint = true))]
    async fn lower(&self, Parameters(args): Parameters<TextArgs>) -> String {
        args.text.to_lowercase()
    }

    #[tool(
        description = "Create a task in the workspace and return its id.",
        annotations(read_only_hint = false, destructive_hint = false)
    )]
    async fn create_task(&self, Parameters(args): Parameters<CreateTaskArgs>) -> String {
        let id = self.tasks.fetch_add(1, Ordering::Relaxed) + 1;
        format!("Created task TASK-{id}: {}", args.title)
    }

    #[tool(description = "Draft a short release note.", annotations(read_only_hint = true))]
    async fn draft_release_note(&self, Parameters(args): Parameters<ReleaseNoteArgs>) -> String {
        release_note(&args.version, &args.changes)
    }

    #[tool(description = "Turn the text into a URL slug.", annotations(read_only_hint = true))]
    async fn slugify(&self, Parameters(args): Parameters<TextArgs>) -> String {
        slugify(&args.text)
    }

    #[tool(
        description = "Send one progress notification per step (when the request carries a progress token), then answer.",
        annotations(read_only_hint = true)
    )]
    async fn progress(
        &self,
        meta: RequestMetaObject,
        peer: Peer<RoleServer>,
        Parameters(args): Parameters<ProgressArgs>,
    ) -> Result<String, ErrorData> {
        if args.steps > MAX_PROGRESS_STEPS {
            return Err(ErrorData::invalid_params(
                format!("steps must be at most {MAX_PROGRESS_STEPS}"),
                None,
            ));
        }
        let Some(token) = meta.get_progress_token() else {
            return Ok(format!("completed {} steps (no progress token)", args.steps));
        };
        for step in 1..=args.steps {
            let param = ProgressNotificationParam::new(token.clone(), f64::from(step))
                .with_total(f64::from(args.steps))
                .with_message(format!("step {step} of {}", args.steps));
            if let Err(err) = peer.notify_progress(param).await {
                tracing::debug!(error = %err, step, "progress notification not delivered");
            }
            tokio::time::sleep(PROGRESS_STEP_PAUSE).await;
        }
        Ok(format!("completed {} steps", args.steps))
    }

    #[tool(
        description = "Return the HTTP request headers this server received, as a JSON object.",
        annotations(read_only_hint = true)
    )]
    async fn debug_headers(&self, Extension(parts): Extension<Parts>) -> Result<String, ErrorData> {
        serde_json::to_string(&header_map(&parts))
            .map_err(|err| ErrorData::internal_error(format!("cannot encode headers: {err}"), None))
    }
}

#[tool_handler(
    name = "workspace-assistant",
    instructions = "Example MCP server of MCP Runtime: small text and task tools for tests."
)]
impl ServerHandler for WorkspaceAssistant {}

/// The definitions (name, description, input schema, annotations) of every tool, in
/// [`TOOL_NAMES`] order.
pub fn tools() -> Vec<Tool> {
    let mut tools = WorkspaceAssistant::tool_router().list_all();
    tools.sort_by(|a, b| a.name.cmp(&b.name));
    tools
}

/// Headers as a JSON-ready map: lower-case name → value; repeated headers are joined with
/// `, ` in arrival order, and bytes that are not UTF-8 are replaced.
fn header_map(parts: &Parts) -> BTreeMap<String, String> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in &parts.headers {
        let value = String::from_utf8_lossy(value.as_bytes());
        map.entry(name.as_str().to_owned())
            .and_modify(|joined| {
                joined.push_str(", ");
                joined.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    map
}

/// `12` for 12.0, `1.5` for 1.5: Rust's shortest round-trip form.
pub(crate) fn format_number(n: f64) -> String {
    n.to_string()
}

/// Lower-case ASCII letters and digits, every other run of characters becomes one `-`, no
/// leading or trailing `-`.
pub(crate) fn slugify(text: &str) -> String {
    let mut slug = String::with_capacity(text.len());
    let mut pending_dash = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_dash && !slug.is_empty() {
                slug.push('-');
            }
            pending_dash = false;
            slug.push(c.to_ascii_lowercase());
        } else {
            pending_dash = true;
        }
    }
    slug
}

pub(crate) fn release_note(version: &str, changes: &[String]) -> String {
    let mut note = format!("Release {version}\n");
    if changes.is_empty() {
        note.push_str("\n- No notable changes.");
    }
    for change in changes {
        note.push_str("\n- ");
        note.push_str(change.trim());
    }
    note
}
