//! MCP method names and the bounded metric label.

pub(crate) const TOOLS_CALL: &str = "tools/call";
/// The pre-2025 spelling of `tools/call`, still treated as a tool call.
pub(crate) const LEGACY_CALL_TOOL: &str = "call_tool";
pub(crate) const RESOURCES_READ: &str = "resources/read";
pub(crate) const PROMPTS_GET: &str = "prompts/get";
pub(crate) const TASKS_GET: &str = "tasks/get";
pub(crate) const TASKS_RESULT: &str = "tasks/result";
pub(crate) const TASKS_CANCEL: &str = "tasks/cancel";

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

/// How the gateway governs a message, by its method. See [`method_class`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MethodClass {
    /// `tools/call` and legacy `call_tool`: the full tool check sequence.
    ToolCall,
    /// `tools/list` and `server/discover` (2026-07-28): identity only; the reply is filtered to
    /// the tools the caller may call.
    Discovery,
    /// Every other method that reaches a server capability (`resources/*`, `prompts/*`,
    /// `completion/complete`, `tasks/*`, `logging/setLevel`, `subscriptions/listen`,
    /// subscribe/unsubscribe) and every unknown method: identity, session and a matching grant.
    Capability,
    /// `initialize`, `ping` and every `notifications/*`: identity only.
    Session,
    /// A response from the client to a server request (no method): identity only.
    Response,
}

impl MethodClass {
    /// A stable lower-case name, e.g. `capability`.
    pub const fn as_str(self) -> &'static str {
        match self {
            MethodClass::ToolCall => "tool_call",
            MethodClass::Discovery => "discovery",
            MethodClass::Capability => "capability",
            MethodClass::Session => "session",
            MethodClass::Response => "response",
        }
    }
}

/// The class of a message with `method` (`None`: a response). Matching is exact and
/// case-sensitive (JSON-RPC method names are); anything not listed is
/// [`MethodClass::Capability`], so a method added by a future spec revision is governed by
/// grants until it is classified here (fail closed).
pub fn method_class(method: Option<&str>) -> MethodClass {
    let Some(method) = method else {
        return MethodClass::Response;
    };
    match method {
        TOOLS_CALL | LEGACY_CALL_TOOL => MethodClass::ToolCall,
        "tools/list" | "server/discover" => MethodClass::Discovery,
        "initialize" | "ping" => MethodClass::Session,
        m if m.starts_with("notifications/") => MethodClass::Session,
        _ => MethodClass::Capability,
    }
}
