//! The conformance fixture: an MCP server with the tools, resources, prompts and completions the
//! official conformance suite (`@modelcontextprotocol/conformance`, `server` mode) expects of the
//! server under test, so the suite can be run against it directly and through the gateway.
//!
//! Everything is our own implementation on rmcp's `ServerHandler`; the names and payloads follow
//! the suite's published scenario requirements:
//!
//! - tools ([`CONFORMANCE_TOOL_NAMES`]): content types (`test_simple_text`, `test_image_content`,
//!   `test_audio_content`, `test_embedded_resource`, `test_multiple_content_types`), errors
//!   (`test_error_handling`), notifications (`test_tool_with_logging`, `test_tool_with_progress`),
//!   server-to-client requests (`test_sampling`, `test_elicitation`,
//!   `test_elicitation_sep1034_defaults`, `test_elicitation_sep1330_enums`) and a JSON Schema
//!   2020-12 input schema that must survive listing (`json_schema_2020_12_tool`);
//! - resources `test://static-text`, `test://static-binary`, `test://watched-resource`
//!   (subscribe/unsubscribe) and the template `test://template/{id}/data`;
//! - prompts `test_simple_prompt`, `test_prompt_with_arguments`,
//!   `test_prompt_with_embedded_resource`, `test_prompt_with_image`;
//! - `completion/complete` for prompt arguments and the template's `id`; `logging/setLevel`.
//!
//! Definitions are written as JSON (the suite checks exact wire shapes) and parsed into rmcp's
//! types; unit tests make sure every one of them parses.

// Logging, sampling and resource subscriptions are deprecated by rmcp (SEP-2577) but the
// 2025-11-25 suite still tests them, so this fixture implements them on purpose.
#![allow(deprecated)]

use std::collections::BTreeSet;
use std::io;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::http::request::Parts;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ClientResult, CompleteRequestParams,
    CompleteResult, ContentBlock, CreateMessageRequest, ElicitRequest, GetPromptRequestParams,
    GetPromptResponse, GetPromptResult, Implementation, InitializeResult, ListPromptsResult,
    ListResourceTemplatesResult, ListResourcesResult, ListToolsResult, LoggingLevel,
    LoggingMessageNotificationParam, PaginatedRequestParams, ProgressNotificationParam,
    ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult, ServerConfig, ServerRequest,
    SetLevelRequestParams, SubscribeRequestParams, Tool, UnsubscribeRequestParams,
};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::{ErrorData, Peer, RoleServer, ServerHandler};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ServeOptions;
use crate::serve::serve_handler;

/// Names of every tool the conformance fixture lists, in `tools/list` order.
pub const CONFORMANCE_TOOL_NAMES: [&str; 14] = [
    "test_simple_text",
    "test_image_content",
    "test_audio_content",
    "test_embedded_resource",
    "test_multiple_content_types",
    "test_tool_with_logging",
    "test_error_handling",
    "test_tool_with_progress",
    "test_sampling",
    "test_elicitation",
    "test_elicitation_sep1034_defaults",
    "test_elicitation_sep1330_enums",
    "json_schema_2020_12_tool",
    "test_reconnection",
];

/// A 1×1 red PNG.
const PNG_BASE64: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC";

/// Eight samples of 8-bit mono silence at 8 kHz, as a WAV file.
const WAV_BASE64: &str = "UklGRiwAAABXQVZFZm10IBAAAAABAAEAQB8AAEAfAAABAAgAZGF0YQgAAACAgICAgICAgA==";

/// Pause between the notifications of `test_tool_with_logging` and `test_tool_with_progress`.
const NOTIFICATION_PAUSE: Duration = Duration::from_millis(50);

/// How long `test_reconnection` waits after closing its stream before it answers.
const RECONNECTION_PAUSE: Duration = Duration::from_millis(200);

/// How many per-request stream ids `test_reconnection` tries in its session (rmcp numbers a
/// session's POST streams from 0).
const MAX_RECONNECTION_STREAMS: u64 = 64;

/// How long a server-to-client request (sampling, elicitation) may take.
const CLIENT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

const STATIC_TEXT: &str = "This is the content of the static text resource.";
const WATCHED_TEXT: &str = "This resource can be subscribed to.";
const TEMPLATE_PREFIX: &str = "test://template/";
const TEMPLATE_SUFFIX: &str = "/data";

/// Values `completion/complete` offers for prompt arguments, filtered by the typed prefix.
const ARGUMENT_COMPLETIONS: [&str; 6] = ["paris", "park", "party", "test", "testValue1", "testValue2"];
/// Values offered for the `id` of `test://template/{id}/data`.
const ID_COMPLETIONS: [&str; 4] = ["1", "2", "3", "123"];

/// The conformance fixture server: one value per MCP session (or per request when stateless).
#[derive(Debug, Clone)]
pub struct ConformanceServer {
    /// Least severe level a `notifications/message` must have to be sent (`logging/setLevel`).
    log_level: Arc<Mutex<LoggingLevel>>,
    /// URIs subscribed with `resources/subscribe`.
    subscriptions: Arc<Mutex<BTreeSet<String>>>,
    /// The server's sessions, so `test_reconnection` can close its caller's SSE streams.
    sessions: Option<Arc<LocalSessionManager>>,
}

impl Default for ConformanceServer {
    fn default() -> Self {
        Self::new()
    }
}

impl ConformanceServer {
    /// A fresh session: log level `debug` (everything is sent), no subscriptions.
    pub fn new() -> Self {
        Self {
            log_level: Arc::new(Mutex::new(LoggingLevel::Debug)),
            subscriptions: Arc::new(Mutex::new(BTreeSet::new())),
            sessions: None,
        }
    }

    /// A fresh session of a server whose sessions live in `sessions`.
    fn with_sessions(sessions: Arc<LocalSessionManager>) -> Self {
        Self { sessions: Some(sessions), ..Self::new() }
    }

    /// Ends the caller's open POST SSE streams (SEP-1699 polling), keeping their event caches,
    /// so the client must resume with `GET` + `Last-Event-ID` to receive what follows.
    ///
    /// rmcp does not tell a handler which stream carries its request, so every open request
    /// stream of the caller's session is closed; the suite's scenario has only this one.
    async fn close_request_streams(&self, context: &RequestContext<RoleServer>) -> bool {
        let Some(sessions) = &self.sessions else { return false };
        let Some(session_id) = context
            .extensions
            .get::<Parts>()
            .and_then(|parts| parts.headers.get("mcp-session-id"))
            .and_then(|value| value.to_str().ok())
        else {
            return false;
        };
        let Some(handle) = sessions.sessions.read().await.get(session_id).cloned() else {
            return false;
        };
        let mut closed = false;
        for http_request_id in 0..MAX_RECONNECTION_STREAMS {
            closed |= handle.close_sse_stream(http_request_id, None).await.is_ok();
        }
        closed
    }

    /// The URIs this session is subscribed to.
    pub fn subscriptions(&self) -> Vec<String> {
        self.subscriptions.lock().map(|s| s.iter().cloned().collect()).unwrap_or_default()
    }

    async fn log(&self, peer: &Peer<RoleServer>, level: LoggingLevel, message: &str) {
        let threshold = self.log_level.lock().map(|l| *l).unwrap_or(LoggingLevel::Debug);
        if severity(level) < severity(threshold) {
            return;
        }
        let mut param = LoggingMessageNotificationParam::new(level, Value::from(message));
        param.logger = Some("conformance-fixture".to_owned());
        if let Err(err) = peer.notify_logging_message(param).await {
            tracing::debug!(error = %err, "log notification not delivered");
        }
    }

    async fn call(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let args = request.arguments.unwrap_or_default();
        let peer = &context.peer;
        match request.name.as_ref() {
            "test_simple_text" => {
                Ok(success(vec![ContentBlock::text("This is a simple text response for testing.")]))
            }
            "test_image_content" => Ok(success(vec![ContentBlock::image(PNG_BASE64, "image/png")])),
            "test_audio_content" => Ok(success(vec![ContentBlock::audio(WAV_BASE64, "audio/wav")])),
            "test_embedded_resource" => Ok(success(vec![parse::<ContentBlock>(json!({
                "type": "resource",
                "resource": {
                    "uri": "test://embedded-resource",
                    "mimeType": "text/plain",
                    "text": "This is an embedded resource content."
                }
            }))?])),
            "test_multiple_content_types" => Ok(success(vec![
                ContentBlock::text("Multiple content types test:"),
                ContentBlock::image(PNG_BASE64, "image/png"),
                parse::<ContentBlock>(json!({
                    "type": "resource",
                    "resource": {
                        "uri": "test://mixed-content-resource",
                        "mimeType": "application/json",
                        "text": json!({"test": "data", "value": 123}).to_string()
                    }
                }))?,
            ])),
            "test_tool_with_logging" => {
                self.log(peer, LoggingLevel::Info, "Tool execution started").await;
                tokio::time::sleep(NOTIFICATION_PAUSE).await;
                self.log(peer, LoggingLevel::Info, "Tool processing data").await;
                tokio::time::sleep(NOTIFICATION_PAUSE).await;
                self.log(peer, LoggingLevel::Info, "Tool execution completed").await;
                Ok(success(vec![ContentBlock::text("Tool with logging executed successfully")]))
            }
            "test_error_handling" => Ok(CallToolResult::error(vec![ContentBlock::text(
                "This tool intentionally returns an error for testing",
            )])),
            "test_tool_with_progress" => {
                let token = context.meta.get_progress_token();
                for (i, progress) in [0.0, 50.0, 100.0].into_iter().enumerate() {
                    if i > 0 {
                        tokio::time::sleep(NOTIFICATION_PAUSE).await;
                    }
                    if let Some(token) = &token {
                        let param = ProgressNotificationParam::new(token.clone(), progress)
                            .with_total(100.0)
                            .with_message(format!("{progress}/100"));
                        if let Err(err) = peer.notify_progress(param).await {
                            tracing::debug!(error = %err, "progress notification not delivered");
                        }
                    }
                }
                Ok(success(vec![ContentBlock::text("Tool with progress executed successfully")]))
            }
            "test_sampling" => {
                let prompt = string_arg(&args, "prompt")?;
                if !client_has_capability(peer, "sampling") {
                    return Ok(CallToolResult::error(vec![ContentBlock::text(
                        "the client does not support sampling",
                    )]));
                }
                let params = parse(json!({
                    "messages": [{"role": "user", "content": {"type": "text", "text": prompt}}],
                    "maxTokens": 100
                }))?;
                let result = client_request(
                    peer,
                    ServerRequest::CreateMessageRequest(CreateMessageRequest::new(params)),
                )
                .await?;
                let text = result
                    .pointer("/content/text")
                    .and_then(Value::as_str)
                    .map_or_else(|| result["content"].to_string(), str::to_owned);
                Ok(success(vec![ContentBlock::text(format!("LLM response: {text}"))]))
            }
            "test_elicitation" => {
                let message = string_arg(&args, "message")?;
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "username": {"type": "string", "description": "User's response"},
                        "email": {"type": "string", "description": "User's email address"}
                    },
                    "required": ["username", "email"]
                });
                let result = self.elicit(peer, &message, schema).await?;
                Ok(success(vec![ContentBlock::text(format!("User response: {}", elicit_summary(&result)))]))
            }
            "test_elicitation_sep1034_defaults" => {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "name": {"type": "string", "description": "User name", "default": "John Doe"},
                        "age": {"type": "integer", "description": "User age", "default": 30},
                        "score": {"type": "number", "description": "User score", "default": 95.5},
                        "status": {
                            "type": "string",
                            "description": "User status",
                            "enum": ["active", "inactive", "pending"],
                            "default": "active"
                        },
                        "verified": {"type": "boolean", "description": "Verified user", "default": true}
                    }
                });
                let result = self
                    .elicit(peer, "Please review and update the form fields with defaults", schema)
                    .await?;
                Ok(success(vec![ContentBlock::text(format!(
                    "Elicitation completed: {}",
                    elicit_summary(&result)
                ))]))
            }
            "test_elicitation_sep1330_enums" => {
                let schema = json!({
                    "type": "object",
                    "properties": {
                        "untitledSingle": {
                            "type": "string",
                            "description": "Untitled single-select",
                            "enum": ["option1", "option2", "option3"]
                        },
                        "titledSingle": {
                            "type": "string",
                            "description": "Titled single-select",
                            "oneOf": [
                                {"const": "value1", "title": "First Option"},
                                {"const": "value2", "title": "Second Option"},
                                {"const": "value3", "title": "Third Option"}
                            ]
                        },
                        "legacyEnum": {
                            "type": "string",
                            "description": "Legacy titled enum",
                            "enum": ["opt1", "opt2", "opt3"],
                            "enumNames": ["Option One", "Option Two", "Option Three"]
                        },
                        "untitledMulti": {
                            "type": "array",
                            "description": "Untitled multi-select",
                            "items": {"type": "string", "enum": ["option1", "option2", "option3"]}
                        },
                        "titledMulti": {
                            "type": "array",
                            "description": "Titled multi-select",
                            "items": {"anyOf": [
                                {"const": "value1", "title": "First Choice"},
                                {"const": "value2", "title": "Second Choice"},
                                {"const": "value3", "title": "Third Choice"}
                            ]}
                        }
                    }
                });
                let result = self.elicit(peer, "Please choose from the enum fields", schema).await?;
                Ok(success(vec![ContentBlock::text(format!(
                    "Elicitation completed: {}",
                    elicit_summary(&result)
                ))]))
            }
            "test_reconnection" => {
                let closed = self.close_request_streams(&context).await;
                tokio::time::sleep(RECONNECTION_PAUSE).await;
                let how = if closed { "after the client reconnected" } else { "without a reconnection" };
                Ok(success(vec![ContentBlock::text(format!("Reconnection test completed {how}"))]))
            }
            "json_schema_2020_12_tool" => {
                Ok(success(vec![ContentBlock::text(format!("Received: {}", Value::Object(args)))]))
            }
            other => Err(ErrorData::invalid_params(format!("tool not found: {other}"), None)),
        }
    }

    async fn elicit(
        &self,
        peer: &Peer<RoleServer>,
        message: &str,
        schema: Value,
    ) -> Result<Value, ErrorData> {
        if !client_has_capability(peer, "elicitation") {
            return Err(ErrorData::invalid_params("the client does not support elicitation", None));
        }
        let params = parse(json!({"mode": "form", "message": message, "requestedSchema": schema}))?;
        client_request(peer, ServerRequest::ElicitRequest(ElicitRequest::new(params))).await
    }
}

impl ServerHandler for ConformanceServer {
    fn get_info(&self) -> ServerConfig {
        let capabilities = match parse(json!({
            "tools": {},
            "resources": {"subscribe": true},
            "prompts": {},
            "logging": {},
            "completions": {}
        })) {
            Ok(capabilities) => capabilities,
            Err(err) => {
                tracing::error!(error = ?err, "conformance capabilities do not parse");
                Default::default()
            }
        };
        InitializeResult::new(capabilities)
            .with_server_info(Implementation::new(
                "mcp-runtime-conformance-fixture",
                env!("CARGO_PKG_VERSION"),
            ))
            .with_instructions(
                "Conformance fixture of MCP Runtime: implements the official suite's server requirements.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        parse_result(json!({"tools": tool_definitions()}))
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        conformance_tools().into_iter().find(|tool| tool.name == name)
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        self.call(request, context).await.map(CallToolResponse::from)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        parse_result(json!({"resources": [
            {
                "uri": "test://static-text",
                "name": "static-text",
                "description": "A static text resource",
                "mimeType": "text/plain"
            },
            {
                "uri": "test://static-binary",
                "name": "static-binary",
                "description": "A static binary resource (a PNG image)",
                "mimeType": "image/png"
            },
            {
                "uri": "test://watched-resource",
                "name": "watched-resource",
                "description": "A resource clients can subscribe to",
                "mimeType": "text/plain"
            }
        ]}))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        parse_result(json!({"resourceTemplates": [{
            "uriTemplate": "test://template/{id}/data",
            "name": "template-data",
            "description": "Data for one id, substituted into the URI",
            "mimeType": "application/json"
        }]}))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        read_resource(&request.uri).map(ReadResourceResponse::from)
    }

    async fn subscribe(
        &self,
        request: SubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if let Ok(mut subscriptions) = self.subscriptions.lock() {
            subscriptions.insert(request.uri);
        }
        Ok(())
    }

    async fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if let Ok(mut subscriptions) = self.subscriptions.lock() {
            subscriptions.remove(&request.uri);
        }
        Ok(())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        parse_result(json!({"prompts": [
            {"name": "test_simple_prompt", "description": "A simple prompt without arguments"},
            {
                "name": "test_prompt_with_arguments",
                "description": "A prompt with two required arguments",
                "arguments": [
                    {"name": "arg1", "description": "First test argument", "required": true},
                    {"name": "arg2", "description": "Second test argument", "required": true}
                ]
            },
            {
                "name": "test_prompt_with_embedded_resource",
                "description": "A prompt that embeds a resource",
                "arguments": [
                    {"name": "resourceUri", "description": "URI of the resource to embed", "required": true}
                ]
            },
            {"name": "test_prompt_with_image", "description": "A prompt with image content"}
        ]}))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        get_prompt(&request.name, &request.arguments.unwrap_or_default()).map(GetPromptResponse::from)
    }

    async fn complete(
        &self,
        request: CompleteRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CompleteResult, ErrorData> {
        let reference = serde_json::to_value(&request.r#ref)
            .map_err(|err| ErrorData::internal_error(format!("cannot encode the reference: {err}"), None))?;
        complete(&reference, &request.argument.name, &request.argument.value)
    }

    async fn set_level(
        &self,
        request: SetLevelRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<(), ErrorData> {
        if let Ok(mut level) = self.log_level.lock() {
            *level = request.level;
        }
        Ok(())
    }
}

/// Serves the conformance fixture on `listener` until `shutdown` is cancelled, like
/// [`crate::serve`] serves the workspace assistant.
pub async fn serve_conformance(
    listener: TcpListener,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let sessions = Arc::new(LocalSessionManager::default());
    let handlers = sessions.clone();
    serve_handler(listener, options, shutdown, sessions, move || {
        Ok(ConformanceServer::with_sessions(handlers.clone()))
    })
    .await
}

/// The definitions of every fixture tool, in [`CONFORMANCE_TOOL_NAMES`] order.
pub fn conformance_tools() -> Vec<Tool> {
    tool_definitions()
        .into_iter()
        .filter_map(|definition| match serde_json::from_value(definition) {
            Ok(tool) => Some(tool),
            Err(err) => {
                tracing::error!(error = %err, "conformance tool definition does not parse");
                None
            }
        })
        .collect()
}

fn no_arguments() -> Value {
    json!({"type": "object", "properties": {}})
}

fn tool_definitions() -> Vec<Value> {
    let simple = |name: &str, description: &str| json!({"name": name, "description": description, "inputSchema": no_arguments()});
    vec![
        simple("test_simple_text", "Returns a simple text response"),
        simple("test_image_content", "Returns a 1x1 PNG image"),
        simple("test_audio_content", "Returns a short WAV clip"),
        simple("test_embedded_resource", "Returns an embedded text resource"),
        simple("test_multiple_content_types", "Returns text, image and resource content"),
        simple("test_tool_with_logging", "Sends three info log notifications while it runs"),
        simple("test_error_handling", "Always fails with isError: true"),
        simple("test_tool_with_progress", "Reports progress 0, 50 and 100 of 100"),
        json!({
            "name": "test_sampling",
            "description": "Asks the client to sample an LLM with the prompt",
            "inputSchema": {
                "type": "object",
                "properties": {"prompt": {"type": "string", "description": "The prompt to send to the LLM"}},
                "required": ["prompt"]
            }
        }),
        json!({
            "name": "test_elicitation",
            "description": "Asks the client for a username and an email",
            "inputSchema": {
                "type": "object",
                "properties": {"message": {"type": "string", "description": "The message to show the user"}},
                "required": ["message"]
            }
        }),
        simple(
            "test_elicitation_sep1034_defaults",
            "Elicits a form whose fields all have defaults (SEP-1034)",
        ),
        simple("test_elicitation_sep1330_enums", "Elicits a form with every enum variant (SEP-1330)"),
        json!({
            "name": "json_schema_2020_12_tool",
            "description": "Tool with JSON Schema 2020-12 features",
            "inputSchema": {
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "type": "object",
                "$defs": {
                    "address": {
                        "type": "object",
                        "properties": {"street": {"type": "string"}, "city": {"type": "string"}}
                    }
                },
                "properties": {
                    "name": {"type": "string"},
                    "address": {"$ref": "#/$defs/address"}
                },
                "additionalProperties": false
            }
        }),
        simple(
            "test_reconnection",
            "Closes the caller's SSE stream mid-call; the result arrives after the client resumes",
        ),
    ]
}

fn read_resource(uri: &str) -> Result<ReadResourceResult, ErrorData> {
    let content = match uri {
        "test://static-text" => json!({"uri": uri, "mimeType": "text/plain", "text": STATIC_TEXT}),
        "test://static-binary" => json!({"uri": uri, "mimeType": "image/png", "blob": PNG_BASE64}),
        "test://watched-resource" => json!({"uri": uri, "mimeType": "text/plain", "text": WATCHED_TEXT}),
        _ => match template_id(uri) {
            Some(id) => json!({
                "uri": uri,
                "mimeType": "application/json",
                "text": json!({"id": id, "templateTest": true, "data": format!("Data for ID: {id}")}).to_string()
            }),
            None => {
                return Err(ErrorData::resource_not_found(
                    format!("resource not found: {uri}"),
                    Some(json!({"uri": uri})),
                ));
            }
        },
    };
    parse_result(json!({"contents": [content]}))
}

/// The `{id}` of `test://template/{id}/data`: one non-empty path segment.
fn template_id(uri: &str) -> Option<&str> {
    let id = uri.strip_prefix(TEMPLATE_PREFIX)?.strip_suffix(TEMPLATE_SUFFIX)?;
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

fn get_prompt(name: &str, args: &serde_json::Map<String, Value>) -> Result<GetPromptResult, ErrorData> {
    let messages = match name {
        "test_simple_prompt" => json!([
            {"role": "user", "content": {"type": "text", "text": "This is a simple prompt for testing."}}
        ]),
        "test_prompt_with_arguments" => {
            let arg1 = string_arg(args, "arg1")?;
            let arg2 = string_arg(args, "arg2")?;
            json!([{"role": "user", "content": {
                "type": "text",
                "text": format!("Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")
            }}])
        }
        "test_prompt_with_embedded_resource" => {
            let uri = string_arg(args, "resourceUri")?;
            json!([
                {"role": "user", "content": {"type": "resource", "resource": {
                    "uri": uri,
                    "mimeType": "text/plain",
                    "text": "Embedded resource content for testing."
                }}},
                {"role": "user", "content": {"type": "text", "text": "Please process the embedded resource above."}}
            ])
        }
        "test_prompt_with_image" => json!([
            {"role": "user", "content": {"type": "image", "data": PNG_BASE64, "mimeType": "image/png"}},
            {"role": "user", "content": {"type": "text", "text": "Please analyze the image above."}}
        ]),
        other => return Err(ErrorData::invalid_params(format!("prompt not found: {other}"), None)),
    };
    parse_result(json!({"messages": messages}))
}

fn complete(reference: &Value, argument: &str, typed: &str) -> Result<CompleteResult, ErrorData> {
    let candidates: &[&str] = match (reference["type"].as_str(), argument) {
        (Some("ref/prompt"), _) => &ARGUMENT_COMPLETIONS,
        (Some("ref/resource"), "id") => &ID_COMPLETIONS,
        _ => &[],
    };
    let values: Vec<&str> = candidates.iter().copied().filter(|value| value.starts_with(typed)).collect();
    parse_result(json!({"completion": {"values": values, "total": values.len(), "hasMore": false}}))
}

/// `logging/setLevel` order: `debug` is the least severe.
fn severity(level: LoggingLevel) -> u8 {
    match level {
        LoggingLevel::Debug => 0,
        LoggingLevel::Info => 1,
        LoggingLevel::Notice => 2,
        LoggingLevel::Warning => 3,
        LoggingLevel::Error => 4,
        LoggingLevel::Critical => 5,
        LoggingLevel::Alert => 6,
        LoggingLevel::Emergency => 7,
    }
}

fn success(content: Vec<ContentBlock>) -> CallToolResult {
    CallToolResult::success(content)
}

/// Parses a JSON value into an rmcp type; a failure is a bug in this fixture.
fn parse<T: DeserializeOwned>(value: Value) -> Result<T, ErrorData> {
    serde_json::from_value(value)
        .map_err(|err| ErrorData::internal_error(format!("conformance fixture: bad definition: {err}"), None))
}

/// Parses a result, marked `resultType: complete` (required from 2026-07-28; rmcp strips it again
/// for peers on older protocol versions).
fn parse_result<T: DeserializeOwned>(mut value: Value) -> Result<T, ErrorData> {
    if let Some(object) = value.as_object_mut() {
        object.entry("resultType").or_insert_with(|| Value::from("complete"));
    }
    parse(value)
}

fn string_arg(args: &serde_json::Map<String, Value>, name: &str) -> Result<String, ErrorData> {
    args.get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ErrorData::invalid_params(format!("missing string argument `{name}`"), None))
}

/// Whether the client declared `capability` (`sampling`, `elicitation`) when it initialized.
fn client_has_capability(peer: &Peer<RoleServer>, capability: &str) -> bool {
    peer.peer_info()
        .and_then(|info| serde_json::to_value(&info.capabilities).ok())
        .is_some_and(|capabilities| capabilities.get(capability).is_some_and(|c| !c.is_null()))
}

/// Sends a server-to-client request and returns the client's result as JSON.
async fn client_request(peer: &Peer<RoleServer>, request: ServerRequest) -> Result<Value, ErrorData> {
    let result: ClientResult = tokio::time::timeout(CLIENT_REQUEST_TIMEOUT, peer.send_request(request))
        .await
        .map_err(|_| ErrorData::internal_error("the client did not answer in time", None))?
        .map_err(|err| ErrorData::internal_error(format!("client request failed: {err}"), None))?;
    serde_json::to_value(&result)
        .map_err(|err| ErrorData::internal_error(format!("cannot encode the client result: {err}"), None))
}

/// `action=accept, content={...}` for an elicitation result.
fn elicit_summary(result: &Value) -> String {
    let action = result["action"].as_str().unwrap_or("unknown");
    let content = result.get("content").cloned().unwrap_or(Value::Null);
    format!("action={action}, content={content}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_definition_parses_in_order() {
        let names: Vec<String> = conformance_tools().iter().map(|tool| tool.name.to_string()).collect();
        assert_eq!(names, CONFORMANCE_TOOL_NAMES);
    }

    #[test]
    fn json_schema_2020_12_keywords_survive_parsing() {
        let tools = conformance_tools();
        let tool = tools.iter().find(|t| t.name == "json_schema_2020_12_tool").expect("tool");
        let schema = serde_json::to_value(tool.input_schema.as_ref()).expect("schema");
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
        assert!(schema["$defs"]["address"].is_object());
        assert_eq!(schema["additionalProperties"], false);
    }

    #[test]
    fn resources_read_with_the_required_payloads() {
        let text = serde_json::to_value(read_resource("test://static-text").expect("text")).expect("json");
        assert_eq!(text["contents"][0]["text"], STATIC_TEXT);
        assert_eq!(text["contents"][0]["mimeType"], "text/plain");
        let blob = serde_json::to_value(read_resource("test://static-binary").expect("blob")).expect("json");
        assert_eq!(blob["contents"][0]["blob"], PNG_BASE64);
        let templated =
            serde_json::to_value(read_resource("test://template/123/data").expect("template")).expect("json");
        let body: Value = serde_json::from_str(templated["contents"][0]["text"].as_str().expect("text"))
            .expect("json text");
        assert_eq!(body, json!({"id": "123", "templateTest": true, "data": "Data for ID: 123"}));
        assert!(read_resource("test://template//data").is_err());
        assert!(read_resource("test://nope").is_err());
    }

    #[test]
    fn prompts_substitute_arguments() {
        let mut args = serde_json::Map::new();
        args.insert("arg1".into(), "hello".into());
        args.insert("arg2".into(), "world".into());
        let prompt = serde_json::to_value(get_prompt("test_prompt_with_arguments", &args).expect("prompt"))
            .expect("json");
        assert_eq!(
            prompt["messages"][0]["content"]["text"],
            "Prompt with arguments: arg1='hello', arg2='world'"
        );
        assert!(get_prompt("test_prompt_with_arguments", &serde_json::Map::new()).is_err());
        for name in ["test_simple_prompt", "test_prompt_with_image"] {
            get_prompt(name, &serde_json::Map::new()).expect(name);
        }
    }

    #[test]
    fn completions_filter_by_prefix() {
        let result =
            complete(&json!({"type": "ref/prompt", "name": "test_prompt_with_arguments"}), "arg1", "par")
                .expect("complete");
        assert_eq!(result.completion.values, ["paris", "park", "party"]);
        let result =
            complete(&json!({"type": "ref/resource", "uri": "test://template/{id}/data"}), "id", "1")
                .expect("complete");
        assert_eq!(result.completion.values, ["1", "123"]);
    }

    #[test]
    fn elicitation_schemas_keep_their_wire_shape() {
        // The suite inspects these keywords; rmcp's typed schema must carry them through.
        let params: rmcp::model::ElicitRequestParams = parse(json!({
            "mode": "form",
            "message": "m",
            "requestedSchema": {"type": "object", "properties": {
                "status": {"type": "string", "enum": ["a", "b"], "default": "a"},
                "age": {"type": "integer", "default": 30},
                "legacy": {"type": "string", "enum": ["x"], "enumNames": ["X"]},
                "titled": {"type": "string", "oneOf": [{"const": "v", "title": "V"}]},
                "multi": {"type": "array", "items": {"anyOf": [{"const": "v", "title": "V"}]}}
            }}
        }))
        .expect("params");
        let wire = serde_json::to_value(&params).expect("json");
        let properties = &wire["requestedSchema"]["properties"];
        assert_eq!(properties["status"]["default"], "a");
        assert_eq!(properties["age"]["default"], 30);
        assert_eq!(properties["legacy"]["enumNames"], json!(["X"]));
        assert_eq!(properties["titled"]["oneOf"][0]["const"], "v");
        assert_eq!(properties["multi"]["items"]["anyOf"][0]["title"], "V");
    }
}
