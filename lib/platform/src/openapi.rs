//! The OpenAPI 3.1 document of the API, served at `/api/openapi.json` and committed as
//! `docs/platform-openapi.json`.

/// The document, pretty-printed JSON with a trailing newline.
pub fn document() -> String {
    let (_, routes) = crate::api::routes();
    let mut paths = serde_json::Map::new();
    for r in routes {
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| serde_json::json!({}));
        entry[r.method.as_str().to_ascii_lowercase()] = serde_json::json!({"operationId": r.action, "responses": {"default": {"description": "see docs/platform.md"}}});
    }
    let doc = serde_json::json!({"openapi": "3.1.0", "info": {"title": "mcp-platform", "version": env!("CARGO_PKG_VERSION")}, "paths": paths});
    let mut text = serde_json::to_string_pretty(&doc).unwrap_or_default();
    text.push('\n');
    text
}
