//! Accepted bodies in both eras: message kinds, ids, tool names, targets, batches.

use serde_json::json;

use super::{MODERN, json, modern, opts, run};
use crate::{Era, InspectOptions, Message, MessageKind, ProtocolVersion, RequestHeaders, inspect};

fn single(body: &str, headers: RequestHeaders<'_>) -> Message {
    let inspected = run(body, headers).unwrap_or_else(|e| panic!("{body}: {e}"));
    assert!(!inspected.batch);
    assert_eq!(inspected.messages.len(), 1);
    inspected.messages.into_iter().next().expect("one message")
}

#[test]
fn sessionful_tool_call() {
    let m = single(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"progressToken":"p-1"}}}"#,
        json(),
    );
    assert_eq!(
        m,
        Message {
            kind: MessageKind::Request,
            id: Some(json!(1)),
            method: Some("tools/call".into()),
            tool: Some("echo".into()),
            arguments: Some(json!({"text": "hi"})),
            target: Some("echo".into()),
            progress_token: Some(json!("p-1")),
            meta_protocol_version: None,
            task_id: None,
            canonical: br#"{"id":1,"jsonrpc":"2.0","method":"tools/call","params":{"_meta":{"progressToken":"p-1"},"arguments":{"text":"hi"},"name":"echo"}}"#.to_vec(),
        }
    );
    assert!(m.is_tool_call());
    assert_eq!(m.class(), crate::MethodClass::ToolCall);
}

#[test]
fn legacy_call_tool_is_a_tool_call() {
    let m = single(r#"{"jsonrpc":"2.0","id":"x","method":"call_tool","params":{"name":"add"}}"#, json());
    assert_eq!(m.tool.as_deref(), Some("add"));
    assert_eq!(m.arguments, None);
    assert!(m.is_tool_call());
}

#[test]
fn other_methods_have_no_tool() {
    for method in ["initialize", "tools/list", "ping", "notifications/initialized", "resources/list", "x/y"] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{{"name":"echo"}}}}"#);
        let m = single(&body, json());
        assert_eq!(m.method.as_deref(), Some(method));
        assert_eq!((m.tool, m.target, m.arguments), (None, None, None), "{method}");
    }
}

#[test]
fn resources_read_and_prompts_get_name_their_target() {
    let m = single(
        r#"{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///a b"}}"#,
        json(),
    );
    assert_eq!((m.tool, m.target.as_deref()), (None, Some("file:///a b")));
    let m = single(
        r#"{"jsonrpc":"2.0","id":3,"method":"prompts/get","params":{"name":"review","arguments":{"lang":"rust"}}}"#,
        json(),
    );
    assert_eq!((m.tool, m.target.as_deref(), m.arguments), (None, Some("review"), None));
}

#[test]
fn notifications_and_responses() {
    let m = single(r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#, json());
    assert_eq!((m.kind, m.id), (MessageKind::Notification, None));
    let m = single(r#"{"jsonrpc":"2.0","id":"s-1","result":{"content":[]}}"#, json());
    assert_eq!((m.kind, m.id, m.method), (MessageKind::Response, Some(json!("s-1")), None));
    let m = single(r#"{"jsonrpc":"2.0","id":4,"error":{"code":-1,"message":"no"}}"#, json());
    assert_eq!(m.kind, MessageKind::Response);
}

#[test]
fn ids_are_kept_exactly() {
    for id in
        [json!(0), json!(-5), json!(18446744073709551615u64), json!(1.5), json!(""), json!("é ✓"), json!("7")]
    {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": "ping"}).to_string();
        let m = single(&body, json());
        assert_eq!(m.id.as_ref(), Some(&id), "{body}");
        assert_eq!(m.kind, MessageKind::Request);
    }
}

#[test]
fn progress_tokens_may_be_numbers() {
    let m = single(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"progressToken":42}}}"#,
        json(),
    );
    assert_eq!(m.progress_token, Some(json!(42)));
}

#[test]
fn headers_are_optional_but_checked_in_the_sessionful_era() {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;
    for version in [None, Some("2024-11-05"), Some("2025-03-26"), Some("2025-06-18"), Some("2025-11-25")] {
        let bare = RequestHeaders { protocol_version: version, ..json() };
        let inspected = run(body, bare).expect("no mirrored headers needed");
        assert_eq!(inspected.version.era(), Era::Sessionful);
        let full = RequestHeaders { mcp_method: Some("tools/call"), mcp_name: Some("echo"), ..bare };
        assert!(run(body, full).is_ok(), "{version:?}");
    }
    let inspected = run(body, json()).expect("assumed version");
    assert_eq!(inspected.version, ProtocolVersion::V2025_03_26);
}

#[test]
fn stateless_requests_with_matching_headers() {
    let m = single(
        r#"{"jsonrpc":"2.0","id":"c","method":"tools/call","params":{"name":"echo","_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}}}"#,
        modern(Some("tools/call"), Some("echo")),
    );
    assert_eq!(m.meta_protocol_version.as_deref(), Some(MODERN));
    let inspected =
        run(r#"{"jsonrpc":"2.0","id":1,"method":"server/discover"}"#, modern(Some("server/discover"), None))
            .expect("discover");
    assert_eq!((inspected.version, inspected.version.era()), (ProtocolVersion::V2026_07_28, Era::Stateless));
    let m = single(
        r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///x"}}"#,
        modern(Some("resources/read"), Some("file:///x")),
    );
    assert_eq!(m.target.as_deref(), Some("file:///x"));
    let m = single(
        r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p"}}"#,
        modern(Some("prompts/get"), Some("p")),
    );
    assert_eq!(m.target.as_deref(), Some("p"));
}

#[test]
fn stateless_non_ascii_names_use_the_sentinel() {
    // "café ☕" in standard base64.
    let m = single(
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"café ☕"}}"#,
        modern(Some("tools/call"), Some("=?base64?Y2Fmw6kg4piV?=")),
    );
    assert_eq!(m.tool.as_deref(), Some("café ☕"));
    // A sentinel with an upper-case token, and an ASCII method sent through the sentinel.
    assert!(
        run(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":" padded "}}"#,
            modern(Some("=?BASE64?dG9vbHMvY2FsbA==?="), Some("=?base64?IHBhZGRlZCA=?=")),
        )
        .is_ok()
    );
}

#[test]
fn stateless_responses_need_no_method_header() {
    let m = single(r#"{"jsonrpc":"2.0","id":9,"result":{}}"#, modern(None, None));
    assert_eq!(m.kind, MessageKind::Response);
}

#[test]
fn batches_when_allowed() {
    let body = r#"[
        {"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"}},
        {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}},
        {"jsonrpc":"2.0","id":"s","result":{}}
    ]"#;
    let inspected = inspect(body.as_bytes(), &json(), &opts(true)).expect("batch allowed");
    assert!(inspected.batch);
    let kinds: Vec<_> = inspected.messages.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, [MessageKind::Request, MessageKind::Notification, MessageKind::Response]);
    assert_eq!(inspected.messages[0].tool.as_deref(), Some("a"));
    assert_eq!(inspected.messages[2].id, Some(json!("s")));

    let one = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#;
    let headers = RequestHeaders { protocol_version: Some("2025-03-26"), mcp_method: Some("ping"), ..json() };
    let inspected = inspect(one.as_bytes(), &headers, &opts(true)).expect("header matches every element");
    assert!(inspected.batch);

    let err = inspect(body.as_bytes(), &json(), &InspectOptions::default()).expect_err("batches off");
    assert_eq!(err.code(), "batch_not_allowed");
}

#[test]
fn a_single_object_is_accepted_when_batches_are_allowed() {
    let inspected = inspect(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, &json(), &opts(true))
        .expect("single message");
    assert!(!inspected.batch);
}

#[test]
fn absent_content_type_is_treated_as_json() {
    let headers = RequestHeaders::default();
    assert!(run(r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#, headers).is_ok());
}

/// The strict parser builds numbers itself: they must come out exactly as serde_json's own
/// `Value` would hold them (this fails if serde_json's `arbitrary_precision` is ever enabled).
#[test]
fn numbers_stay_numbers() {
    let body = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"add","arguments":{"a":1.5,"b":-3,"c":18446744073709551615,"d":[0,1e3,-0.25],"e":{"f":null,"g":true},"h":"\u00e9\n"}}}"#;
    let m = single(body, json());
    let expected: serde_json::Value = serde_json::from_str(body).expect("valid json");
    assert_eq!(m.arguments.as_ref(), expected["params"].get("arguments"));
    assert_eq!(m.id, Some(json!(7)));
}

/// Before: there was no method class; every non-tool method looked alike to the gateway.
#[test]
fn method_classes_fail_closed() {
    use crate::{MethodClass, method_class};
    let table = [
        (Some("tools/call"), MethodClass::ToolCall),
        (Some("call_tool"), MethodClass::ToolCall),
        (Some("tools/list"), MethodClass::Discovery),
        (Some("server/discover"), MethodClass::Discovery),
        (Some("initialize"), MethodClass::Session),
        (Some("ping"), MethodClass::Session),
        (Some("notifications/initialized"), MethodClass::Session),
        (Some("notifications/cancelled"), MethodClass::Session),
        (None, MethodClass::Response),
        (Some("resources/read"), MethodClass::Capability),
        (Some("resources/list"), MethodClass::Capability),
        (Some("resources/templates/list"), MethodClass::Capability),
        (Some("resources/subscribe"), MethodClass::Capability),
        (Some("resources/unsubscribe"), MethodClass::Capability),
        (Some("prompts/get"), MethodClass::Capability),
        (Some("prompts/list"), MethodClass::Capability),
        (Some("completion/complete"), MethodClass::Capability),
        (Some("tasks/get"), MethodClass::Capability),
        (Some("tasks/list"), MethodClass::Capability),
        (Some("logging/setLevel"), MethodClass::Capability),
        (Some("subscriptions/listen"), MethodClass::Capability),
        (Some("Tools/Call"), MethodClass::Capability),
        (Some("tools/list "), MethodClass::Capability),
        (Some("Initialize"), MethodClass::Capability),
        (Some("something/new"), MethodClass::Capability),
    ];
    for (method, class) in table {
        assert_eq!(method_class(method), class, "{method:?}");
    }
    assert_eq!(MethodClass::Capability.as_str(), "capability");
    let m = single(r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"a:b"}}"#, json());
    assert_eq!(m.class(), MethodClass::Capability);
}

/// Before: the task a `tasks/*` request names was not read, so the gateway could not check
/// its owner.
#[test]
fn task_requests_name_their_task() {
    for method in ["tasks/get", "tasks/result", "tasks/cancel"] {
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{{"taskId":"t-9"}}}}"#);
        assert_eq!(single(&body, json()).task_id(), Some("t-9"), "{method}");
        for bad in [r#"{}"#, r#"{"taskId":""}"#, r#"{"taskId":5}"#] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}","params":{bad}}}"#);
            let err = run(&body, json()).expect_err("taskId required");
            assert_eq!(err.code(), "invalid_params", "{body}");
        }
        let body = format!(r#"{{"jsonrpc":"2.0","id":1,"method":"{method}"}}"#);
        assert_eq!(run(&body, json()).expect_err("params required").code(), "invalid_params");
    }
    let m = single(r#"{"jsonrpc":"2.0","id":1,"method":"tasks/list","params":{"taskId":"x"}}"#, json());
    assert_eq!(m.task_id(), None);
}

/// Before: the gateway forwarded the bytes as received.
#[test]
fn canonical_bytes_are_the_compact_parse() {
    let body = "{ \"method\" : \"ping\",\n \"jsonrpc\":\"2.0\", \"id\": 1.0 ,\"params\":{\"b\":1e0,\"a\":\"\\u0041\"}}";
    let inspected = run(body, json()).expect("valid");
    let expected = br#"{"id":1.0,"jsonrpc":"2.0","method":"ping","params":{"a":"A","b":1.0}}"#;
    assert_eq!(inspected.canonical, expected.to_vec());
    assert_eq!(inspected.messages[0].canonical, expected.to_vec());
    let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}, {"jsonrpc":"2.0","method":"notifications/x"}]"#;
    let inspected = inspect(batch.as_bytes(), &json(), &opts(true)).expect("batch");
    assert_eq!(
        String::from_utf8(inspected.canonical).expect("utf-8"),
        r#"[{"id":1,"jsonrpc":"2.0","method":"ping"},{"jsonrpc":"2.0","method":"notifications/x"}]"#
    );
}
