//! MCP method names and the bounded metric label.

pub(crate) const TOOLS_CALL: &str = "tools/call";
/// The pre-2025 spelling of `tools/call`, still treated as a tool call.
pub(crate) const LEGACY_CALL_TOOL: &str = "call_tool";
pub(crate) const RESOURCES_READ: &str = "resources/read";
pub(crate) const PROMPTS_GET: &str = "prompts/get";

/// Every value [`method_label`] can return.
pub const METHOD_LABELS: &[&str] = &[
    "initialize",
    "notifications/initialized",
    "ping",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "server/discover",
    "subscriptions/listen",
    "other",
    "none",
];

/// The `rpc_method` metric label for `method`: the method itself when it is one of the
/// well-known ones, `none` when empty, otherwise `other`. Never returns a client string.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "" => "none",
        "initialize" => "initialize",
        "notifications/initialized" => "notifications/initialized",
        "ping" => "ping",
        "tools/list" => "tools/list",
        "tools/call" => "tools/call",
        "resources/list" => "resources/list",
        "resources/read" => "resources/read",
        "resources/subscribe" => "resources/subscribe",
        "resources/unsubscribe" => "resources/unsubscribe",
        "prompts/list" => "prompts/list",
        "prompts/get" => "prompts/get",
        "completion/complete" => "completion/complete",
        "logging/setLevel" => "logging/setLevel",
        "server/discover" => "server/discover",
        "subscriptions/listen" => "subscriptions/listen",
        _ => "other",
    }
}
