//! Every failure code, produced by a real `inspect` call, in both eras.

use serde_json::{Value, json};

use super::{MODERN, json, modern, opts};
use crate::{InspectError, InspectOptions, RequestHeaders, inspect};

struct Case {
    name: &'static str,
    body: Vec<u8>,
    headers: RequestHeaders<'static>,
    opts: InspectOptions,
    code: &'static str,
    /// The id the error must carry (`None`: no id).
    id: Option<Value>,
}

fn case(name: &'static str, body: &str, headers: RequestHeaders<'static>, code: &'static str) -> Case {
    Case { name, body: body.as_bytes().to_vec(), headers, opts: InspectOptions::default(), code, id: None }
}

impl Case {
    fn id(mut self, id: Value) -> Case {
        self.id = Some(id);
        self
    }

    fn opts(mut self, opts: InspectOptions) -> Case {
        self.opts = opts;
        self
    }

    fn bytes(mut self, body: &[u8]) -> Case {
        self.body = body.to_vec();
        self
    }
}

const CALL: &str =
    r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"x":1}}}"#;

fn with_ct(ct: &'static str) -> RequestHeaders<'static> {
    RequestHeaders { content_type: Some(ct), ..RequestHeaders::default() }
}

fn with_version(v: &'static str) -> RequestHeaders<'static> {
    RequestHeaders { protocol_version: Some(v), ..json() }
}

fn sessionful(method: Option<&'static str>, name: Option<&'static str>) -> RequestHeaders<'static> {
    RequestHeaders { protocol_version: Some("2025-06-18"), mcp_method: method, mcp_name: name, ..json() }
}

fn cases() -> Vec<Case> {
    let small = InspectOptions { max_body: 16, allow_batch: false };
    vec![
        // Content type.
        case("form content type", CALL, with_ct("application/x-www-form-urlencoded"), "not_json"),
        case("text content type", CALL, with_ct("text/plain; charset=utf-8"), "not_json"),
        case("event-stream content type", CALL, with_ct("text/event-stream"), "not_json"),
        // Body size and emptiness.
        case("empty body", "", json(), "empty_body"),
        case("whitespace body", " \r\n\t ", json(), "empty_body"),
        case("empty body without content type", "", RequestHeaders::default(), "empty_body"),
        case("body over the limit", CALL, json(), "body_too_large").opts(small),
        case("body over the default limit", "", json(), "body_too_large")
            .bytes(&vec![b' '; InspectOptions::DEFAULT_MAX_BODY + 1]),
        // JSON syntax.
        case("not json", "hello", json(), "invalid_json"),
        case("truncated json", r#"{"jsonrpc":"2.0","id":1,"method":"pi"#, json(), "invalid_json"),
        case("trailing data", r#"{"jsonrpc":"2.0","id":1,"method":"ping"} {}"#, json(), "invalid_json"),
        case("invalid utf-8", "", json(), "invalid_json").bytes(b"{\"jsonrpc\":\"2.0\",\"method\":\"\xff\"}"),
        case("utf-8 bom", "", json(), "byte_order_mark")
            .bytes(b"\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"),
        case("utf-16 bom", "", json(), "byte_order_mark").bytes(b"\xff\xfe{\x00}\x00"),
        case("bom only", "", json(), "byte_order_mark").bytes(b"\xef\xbb\xbf"),
        // Charsets.
        case("utf-7 charset", CALL, with_ct("application/json; charset=utf-7"), "unsupported_charset"),
        case("latin-1 charset", CALL, with_ct("application/json;charset=\"ISO-8859-1\""), "unsupported_charset"),
        case("utf-16 charset", CALL, with_ct("application/json; CHARSET=utf-16"), "unsupported_charset"),
        case("utf8 spelled without dash", CALL, with_ct("application/json; charset=utf8"), "unsupported_charset"),
        case("charset without value", CALL, with_ct("application/json; charset"), "unsupported_charset"),
        case(
            "second charset",
            CALL,
            with_ct("application/json; charset=utf-8; charset=utf-7"),
            "unsupported_charset",
        ),
        // Keys case-insensitive readers would confuse.
        case("Method", r#"{"jsonrpc":"2.0","id":1,"method":"ping","Method":"tools/call"}"#, json(), "ambiguous_key")
            .id(json!(1)),
        case("METHOD alone", r#"{"jsonrpc":"2.0","id":1,"METHOD":"tools/call"}"#, json(), "ambiguous_key").id(json!(1)),
        case(
            "PARAMS",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","PARAMS":{"name":"rm"}}"#,
            json(),
            "ambiguous_key",
        )
        .id(json!(1)),
        case(
            "naMe in params",
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","naMe":"rm"}}"#,
            json(),
            "ambiguous_key",
        )
        .id(json!(2)),
        case(
            "long s in params",
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","argument\u017f":{}}}"#,
            json(),
            "ambiguous_key",
        )
        .id(json!(2)),
        case(
            "Kelvin sign in _meta",
            r#"{"jsonrpc":"2.0","id":2,"method":"ping","params":{"_meta":{"progressTo\u212aen":"x"}}}"#,
            json(),
            "ambiguous_key",
        )
        .id(json!(2)),
        case("Id", r#"{"jsonrpc":"2.0","Id":3,"method":"ping"}"#, json(), "ambiguous_key"),
        case("JSONRPC", r#"{"JSONRPC":"2.0","jsonrpc":"2.0","method":"ping"}"#, json(), "ambiguous_key"),
        case(
            "folded argument names",
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"pay","arguments":{"amount":5,"AMOUNT":5000}}}"#,
            json(),
            "ambiguous_key",
        )
        .id(json!(4)),
        case(
            "folded nested keys",
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"pay","arguments":{"to":[{"iban":"a","IBAN":"b"}]}}}"#,
            json(),
            "ambiguous_key",
        )
        .id(json!(4)),
        case(
            "folded keys in a batch element",
            r#"[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2,"method":"ping","paramſ":{}}]"#,
            json(),
            "ambiguous_key",
        )
        .opts(opts(true))
        .id(json!(2)),
        case(
            "duplicate method key",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"x"}}"#,
            json(),
            "invalid_json",
        ),
        case(
            "duplicate key through an escape",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","m\u0065thod":"tools/call"}"#,
            json(),
            "invalid_json",
        ),
        case(
            "duplicate nested argument",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"rm","arguments":{"p":"/tmp","p":"/"}}}"#,
            json(),
            "invalid_json",
        ),
        case(
            "duplicate argument among many keys",
            &format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"rm","arguments":{{{}"k3":0}}}}}}"#,
                (0..40).map(|i| format!(r#""k{i}":{i},"#)).collect::<String>()
            ),
            json(),
            "invalid_json",
        ),
        case(
            "duplicate escaped key among many keys",
            &format!(
                r#"{{"jsonrpc":"2.0","id":1,"method":"ping","params":{{{}"k7":0}}}}"#,
                (0..20).map(|i| format!(r#""k{i}":{i},"#)).collect::<String>()
            ),
            json(),
            "invalid_json",
        ),
        case("too deep", &format!("{}{}", "[".repeat(200), "]".repeat(200)), json(), "invalid_json"),
        // JSON-RPC shape.
        case("a string", r#""tools/call""#, json(), "invalid_request"),
        case("a number", "42", json(), "invalid_request"),
        case("null", "null", json(), "invalid_request"),
        case("wrong jsonrpc", r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, json(), "invalid_request").id(json!(1)),
        case("missing jsonrpc", r#"{"id":"a","method":"ping"}"#, json(), "invalid_request").id(json!("a")),
        case("method not a string", r#"{"jsonrpc":"2.0","id":1,"method":5}"#, json(), "invalid_request")
            .id(json!(1)),
        case("empty method", r#"{"jsonrpc":"2.0","id":1,"method":""}"#, json(), "invalid_request").id(json!(1)),
        case(
            "method and result",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}"#,
            json(),
            "invalid_request",
        )
        .id(json!(1)),
        case(
            "result and error",
            r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}"#,
            json(),
            "invalid_request",
        )
        .id(json!(1)),
        case("response without id", r#"{"jsonrpc":"2.0","result":{}}"#, json(), "invalid_request"),
        case("empty batch", "[]", json(), "invalid_request").opts(opts(true)),
        case("batch of a number", "[1]", json(), "invalid_request").opts(opts(true)),
        // Ids.
        case("null id", r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#, json(), "invalid_id"),
        case("boolean id", r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#, json(), "invalid_id"),
        case("array id", r#"{"jsonrpc":"2.0","id":[1],"method":"ping"}"#, json(), "invalid_id"),
        case("object id", r#"{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}"#, json(), "invalid_id"),
        case("null id on a response", r#"{"jsonrpc":"2.0","id":null,"error":{}}"#, json(), "invalid_id"),
        // Missing method.
        case("empty object", "{}", json(), "missing_method"),
        case("id only", r#"{"jsonrpc":"2.0","id":3}"#, json(), "missing_method").id(json!(3)),
        case("params only", r#"{"jsonrpc":"2.0","params":{}}"#, json(), "missing_method"),
        // Batches.
        case("batch not allowed", &format!("[{CALL}]"), json(), "batch_not_allowed"),
        case("empty batch not allowed", "[]", json(), "batch_not_allowed"),
        case("batch in the stateless era", &format!("[{CALL}]"), modern(Some("tools/call"), None), "batch_not_allowed")
            .opts(opts(true)),
        // Params.
        case("params an array", r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":[]}"#, json(), "invalid_params")
            .id(json!(1)),
        case("params null", r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":null}"#, json(), "invalid_params")
            .id(json!(1)),
        case("tool call without params", r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#, json(), "invalid_params")
            .id(json!(1)),
        case(
            "tool call without name",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#,
            json(),
            "invalid_params",
        )
        .id(json!(1)),
        case(
            "tool name empty",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":""}}"#,
            json(),
            "invalid_params",
        )
        .id(json!(1)),
        case(
            "tool name a number",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}"#,
            json(),
            "invalid_params",
        )
        .id(json!(1)),
        case(
            "legacy call_tool without name",
            r#"{"jsonrpc":"2.0","id":1,"method":"call_tool","params":{"arguments":{}}}"#,
            json(),
            "invalid_params",
        )
        .id(json!(1)),
        case(
            "arguments an array",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":[1]}}"#,
            json(),
            "invalid_params",
        )
        .id(json!(1)),
        case(
            "arguments null",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":null}}"#,
            json(),
            "invalid_params",
        )
        .id(json!(1)),
        case(
            "resources/read without uri",
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{}}"#,
            json(),
            "invalid_params",
        )
        .id(json!(1)),
        case(
            "prompts/get without params",
            r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get"}"#,
            json(),
            "invalid_params",
        )
        .id(json!(1)),
        case(
            "_meta a string",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":"x"}}"#,
            json(),
            "invalid_params",
        )
        .id(json!(1)),
        case(
            "progress token an object",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"progressToken":{}}}}"#,
            json(),
            "invalid_params",
        )
        .id(json!(1)),
        case(
            "meta version a number",
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":2026}}}"#,
            json(),
            "invalid_params",
        )
        .id(json!(1)),
        // Missing headers (stateless era).
        case("stateless without Mcp-Method", CALL, modern(None, Some("echo")), "missing_header").id(json!(7)),
        case("stateless tool call without Mcp-Name", CALL, modern(Some("tools/call"), None), "missing_header")
            .id(json!(7)),
        case(
            "stateless resources/read without Mcp-Name",
            r#"{"jsonrpc":"2.0","id":"r","method":"resources/read","params":{"uri":"file:///a"}}"#,
            modern(Some("resources/read"), None),
            "missing_header",
        )
        .id(json!("r")),
        case(
            "stateless notification without Mcp-Method",
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{}}"#,
            modern(None, None),
            "missing_header",
        ),
        case(
            "meta version without the header",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
            json(),
            "missing_header",
        )
        .id(json!(1)),
        // Header mismatches, both eras.
        case("stateless method mismatch", CALL, modern(Some("tools/list"), Some("echo")), "header_mismatch")
            .id(json!(7)),
        case("stateless name mismatch", CALL, modern(Some("tools/call"), Some("other")), "header_mismatch")
            .id(json!(7)),
        case("stateless method case differs", CALL, modern(Some("Tools/Call"), Some("echo")), "header_mismatch")
            .id(json!(7)),
        case(
            "stateless name on a method without a target",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
            modern(Some("tools/list"), Some("echo")),
            "header_mismatch",
        )
        .id(json!(1)),
        case(
            "stateless resource uri mismatch",
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a"}}"#,
            modern(Some("resources/read"), Some("file:///b")),
            "header_mismatch",
        )
        .id(json!(1)),
        case(
            "stateless response with Mcp-Method",
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#,
            modern(Some("tools/call"), None),
            "header_mismatch",
        )
        .id(json!(1)),
        case("sessionful method mismatch", CALL, sessionful(Some("tools/list"), None), "header_mismatch").id(json!(7)),
        case("sessionful name mismatch", CALL, sessionful(None, Some("admin")), "header_mismatch").id(json!(7)),
        case(
            "sessionful name mismatch, sentinel",
            CALL,
            sessionful(Some("tools/call"), Some("=?base64?YWRtaW4=?=")),
            "header_mismatch",
        )
        .id(json!(7)),
        case(
            "assumed version, name mismatch",
            CALL,
            RequestHeaders { mcp_name: Some("admin"), ..json() },
            "header_mismatch",
        )
        .id(json!(7)),
        case(
            "batch element disagrees with Mcp-Method",
            &format!(r#"[{CALL},{{"jsonrpc":"2.0","id":8,"method":"tools/list"}}]"#),
            RequestHeaders { mcp_method: Some("tools/call"), ..json() },
            "header_mismatch",
        )
        .opts(opts(true))
        .id(json!(8)),
        case(
            "meta version differs from the header",
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-11-25"}}}"#,
            modern(Some("tools/list"), None),
            "header_mismatch",
        )
        .id(json!(1)),
        // Malformed header values.
        case("sentinel not terminated", CALL, modern(Some("tools/call"), Some("=?base64?ZWNobw==")), "malformed_header")
            .id(json!(7)),
        case("sentinel bad base64", CALL, modern(Some("tools/call"), Some("=?base64?ec*o?=")), "malformed_header")
            .id(json!(7)),
        case(
            "sentinel unpadded base64",
            CALL,
            modern(Some("tools/call"), Some("=?base64?ZWNobw?=")),
            "malformed_header",
        )
        .id(json!(7)),
        case(
            "sentinel not utf-8",
            CALL,
            modern(Some("tools/call"), Some("=?base64?/w==?=")),
            "malformed_header",
        )
        .id(json!(7)),
        case("raw non-ascii name", CALL, modern(Some("tools/call"), Some("échо")), "malformed_header").id(json!(7)),
        case("control character", CALL, modern(Some("tools/call\n"), Some("echo")), "malformed_header").id(json!(7)),
        case(
            "sessionful malformed sentinel",
            CALL,
            sessionful(Some("=?base64?!!?="), None),
            "malformed_header",
        )
        .id(json!(7)),
        // Protocol version.
        case("unknown version", CALL, with_version("2099-01-01"), "unsupported_protocol_version").id(json!(7)),
        case("empty version", CALL, with_version(""), "unsupported_protocol_version").id(json!(7)),
        case("version with junk", CALL, with_version("2025-06-18,2026-07-28"), "unsupported_protocol_version")
            .id(json!(7)),
        case("unknown version, unreadable body", "{", with_version("1.0"), "unsupported_protocol_version"),
        case(
            "unknown version, batch body",
            &format!("[{CALL}]"),
            with_version("draft"),
            "unsupported_protocol_version",
        ),
    ]
}

#[test]
fn every_failure_case_yields_its_code() {
    for c in cases() {
        let err = match inspect(&c.body, &c.headers, &c.opts) {
            Ok(ok) => panic!("{}: expected {}, got {ok:?}", c.name, c.code),
            Err(err) => err,
        };
        assert_eq!(err.code(), c.code, "{}: {err}", c.name);
        assert_eq!(err.request_id(), c.id.as_ref(), "{}: id", c.name);
    }
}

#[test]
fn the_failure_table_covers_every_code() {
    let table = cases();
    for code in InspectError::CODES {
        assert!(table.iter().any(|c| c.code == *code), "no failure case for {code}");
    }
}

#[test]
fn content_type_checks_come_first_and_are_not_rpc_attempts() {
    let bad = RequestHeaders {
        content_type: Some("multipart/form-data; boundary=x"),
        protocol_version: Some("nope"),
        ..RequestHeaders::default()
    };
    let err = inspect(b"", &bad, &InspectOptions::default()).expect_err("not json");
    assert_eq!(err.code(), "not_json");
    assert!(!err.is_rpc_attempt());
    assert_eq!(err.http_status(), 403);
    assert_eq!(err.jsonrpc_code(), None);
    assert_eq!(err.to_jsonrpc_error(), None);
}

#[test]
fn json_content_types_are_recognised() {
    for ct in [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        " application/json ;charset=UTF-8",
        "application/vnd.api+json",
        "",
    ] {
        let headers = RequestHeaders { content_type: Some(ct), ..RequestHeaders::default() };
        assert!(inspect(CALL.as_bytes(), &headers, &InspectOptions::default()).is_ok(), "{ct:?}");
    }
    for ct in ["application/jsonx", "text/json", "application/x-json-stream", "json"] {
        let headers = RequestHeaders { content_type: Some(ct), ..RequestHeaders::default() };
        let err = inspect(CALL.as_bytes(), &headers, &InspectOptions::default()).expect_err(ct);
        assert_eq!(err.code(), "not_json", "{ct:?}");
    }
}

#[test]
fn the_body_limit_is_inclusive_and_configurable() {
    let exact = InspectOptions { max_body: CALL.len(), allow_batch: false };
    assert!(inspect(CALL.as_bytes(), &json(), &exact).is_ok());
    let under = InspectOptions { max_body: CALL.len() - 1, allow_batch: false };
    let err = inspect(CALL.as_bytes(), &json(), &under).expect_err("too large");
    assert_eq!(err, InspectError::BodyTooLarge { limit: CALL.len() - 1 });
}

#[test]
fn stateless_errors_carry_the_request_id_in_the_error_body() {
    let err = inspect(CALL.as_bytes(), &modern(Some("tools/call"), Some("nope")), &InspectOptions::default())
        .expect_err("mismatch");
    let body = err.to_jsonrpc_error().expect("a JSON-RPC error");
    assert_eq!(
        body,
        json!({
            "jsonrpc": "2.0",
            "id": 7,
            "error": {
                "code": -32020,
                "message": "the Mcp-Name header does not match the request body",
                "data": { "reason": "header_mismatch", "header": "Mcp-Name" },
            },
        })
    );
}

#[test]
fn unsupported_version_body_lists_the_supported_versions() {
    let headers = RequestHeaders { protocol_version: Some("2099-01-01"), ..json() };
    let err = inspect(CALL.as_bytes(), &headers, &InspectOptions::default()).expect_err("unsupported");
    let body = err.to_jsonrpc_error().expect("a JSON-RPC error");
    assert_eq!(body["id"], json!(7));
    assert_eq!(body["error"]["code"], json!(-32022));
    assert_eq!(body["error"]["data"]["requested"], json!("2099-01-01"));
    assert_eq!(
        body["error"]["data"]["supported"],
        json!(["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", MODERN])
    );
    let long = "x".repeat(500);
    let err = crate::ProtocolVersion::from_header(Some(&long)).expect_err("unsupported");
    assert!(
        matches!(err, InspectError::UnsupportedProtocolVersion { ref requested, .. } if requested.len() == 64)
    );
}
