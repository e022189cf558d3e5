//! Differential test of "one view of the body": for every body the inspector accepts, the
//! gateway's view (method, id, tool name, target, arguments, params, progress token, task id)
//! must equal the view of three independent readers applied to the bytes the gateway forwards
//! ([`Inspected::canonical`]):
//!
//! 1. serde_json (`Value`),
//! 2. a last-duplicate-wins reader (written here: a small JSON parser that keeps every object
//!    member in order and numbers as their source text),
//! 3. a case-insensitive reader like Go's `encoding/json` decoding into a struct: protocol
//!    fields are matched with ASCII + Unicode simple case folding, the last match wins.
//!
//! The corpus is hand-written (duplicate keys, case and fold variants, escaped keys, big
//! integers, long decimals, nested arrays, BOMs, trailing data, charsets, ids `1`, `1.0`,
//! `1e0`, `"1"`) plus bodies generated with proptest from the same ingredients.

use mcp_protocol::{InspectOptions, Inspected, Message, RequestHeaders, inspect};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::Value;

/// A JSON value as the test's own reader sees it: members in source order (duplicates kept),
/// numbers as their source text.
#[derive(Clone, Debug, PartialEq)]
enum J {
    Null,
    Bool(bool),
    Num(String),
    Str(String),
    Arr(Vec<J>),
    Obj(Vec<(String, J)>),
}

/// A strict RFC 8259 parser, written independently of serde_json.
struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn parse(s: &[u8]) -> Option<J> {
        let mut p = Parser { s, i: 0 };
        let v = p.value(0)?;
        p.ws();
        (p.i == s.len()).then_some(v)
    }

    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Option<()> {
        self.ws();
        (self.s.get(self.i) == Some(&b)).then(|| self.i += 1)
    }

    fn lit(&mut self, word: &str, v: J) -> Option<J> {
        self.s[self.i..].starts_with(word.as_bytes()).then(|| {
            self.i += word.len();
            v
        })
    }

    fn value(&mut self, depth: usize) -> Option<J> {
        if depth > 200 {
            return None;
        }
        self.ws();
        match *self.s.get(self.i)? {
            b'n' => self.lit("null", J::Null),
            b't' => self.lit("true", J::Bool(true)),
            b'f' => self.lit("false", J::Bool(false)),
            b'"' => self.string().map(J::Str),
            b'[' => {
                self.i += 1;
                let mut items = Vec::new();
                if self.eat(b']').is_some() {
                    return Some(J::Arr(items));
                }
                loop {
                    items.push(self.value(depth + 1)?);
                    if self.eat(b',').is_some() {
                        continue;
                    }
                    self.eat(b']')?;
                    return Some(J::Arr(items));
                }
            }
            b'{' => {
                self.i += 1;
                let mut members = Vec::new();
                if self.eat(b'}').is_some() {
                    return Some(J::Obj(members));
                }
                loop {
                    self.ws();
                    let key = self.string()?;
                    self.eat(b':')?;
                    members.push((key, self.value(depth + 1)?));
                    if self.eat(b',').is_some() {
                        continue;
                    }
                    self.eat(b'}')?;
                    return Some(J::Obj(members));
                }
            }
            _ => self.number(),
        }
    }

    fn number(&mut self) -> Option<J> {
        let start = self.i;
        let digits = |p: &mut Parser<'_>| {
            let from = p.i;
            while p.s.get(p.i).is_some_and(u8::is_ascii_digit) {
                p.i += 1;
            }
            p.i > from
        };
        if self.s.get(self.i) == Some(&b'-') {
            self.i += 1;
        }
        if self.s.get(self.i) == Some(&b'0') {
            self.i += 1;
        } else if !digits(self) {
            return None;
        }
        if self.s.get(self.i) == Some(&b'.') {
            self.i += 1;
            if !digits(self) {
                return None;
            }
        }
        if matches!(self.s.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.s.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !digits(self) {
                return None;
            }
        }
        Some(J::Num(std::str::from_utf8(&self.s[start..self.i]).ok()?.to_string()))
    }

    fn hex4(&mut self) -> Option<u32> {
        let text = std::str::from_utf8(self.s.get(self.i..self.i + 4)?).ok()?;
        self.i += 4;
        u32::from_str_radix(text, 16).ok()
    }

    fn string(&mut self) -> Option<String> {
        if self.s.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        let mut out = Vec::new();
        loop {
            let b = *self.s.get(self.i)?;
            self.i += 1;
            match b {
                b'"' => return String::from_utf8(out).ok(),
                b'\\' => {
                    let e = *self.s.get(self.i)?;
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => {
                            let hi = self.hex4()?;
                            if (0xD800..0xDC00).contains(&hi) {
                                if self.s.get(self.i..self.i + 2) != Some(b"\\u") {
                                    return None;
                                }
                                self.i += 2;
                                let lo = self.hex4()?;
                                if !(0xDC00..0xE000).contains(&lo) {
                                    return None;
                                }
                                char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))?
                            } else {
                                char::from_u32(hi)?
                            }
                        }
                        _ => return None,
                    };
                    let mut buf = [0; 4];
                    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
                0..0x20 => return None,
                _ => out.push(b),
            }
        }
    }
}

/// Go-style folding, written independently of the crate's: ASCII letters to upper case, other
/// characters to the smallest character reachable through single-character case mappings.
fn fold(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii() {
                return c.to_ascii_uppercase();
            }
            let mut seen = vec![c];
            let mut k = 0;
            while k < seen.len() && seen.len() < 8 {
                let x = seen[k];
                for mapped in [x.to_uppercase().collect::<Vec<_>>(), x.to_lowercase().collect::<Vec<_>>()] {
                    if let [single] = mapped[..]
                        && !seen.contains(&single)
                    {
                        seen.push(single);
                    }
                }
                k += 1;
            }
            seen.into_iter().min().unwrap_or(c)
        })
        .collect()
}

/// How a reader picks a protocol field out of an object.
#[derive(Clone, Copy, Debug)]
enum Lookup {
    /// Exact key, last duplicate wins.
    LastWins,
    /// Exact key, first duplicate wins (a streaming reader that stops at the first match).
    FirstWins,
    /// Folded key (Go struct decoding), last match wins.
    Folded,
}

fn get<'a>(members: &'a [(String, J)], key: &str, how: Lookup) -> Option<&'a J> {
    match how {
        Lookup::LastWins => members.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v),
        Lookup::FirstWins => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
        Lookup::Folded => {
            let folded = fold(key);
            members.iter().rev().find(|(k, _)| fold(k) == folded).map(|(_, v)| v)
        }
    }
}

/// A generic value (a Go `map[string]any`, a `serde_json::Value`): exact keys, the lookup's
/// duplicate rule, members sorted for comparison.
fn plain(v: &J, how: Lookup) -> J {
    match v {
        J::Arr(items) => J::Arr(items.iter().map(|i| plain(i, how)).collect()),
        J::Obj(members) => {
            let mut keys: Vec<&String> = members.iter().map(|(k, _)| k).collect();
            keys.sort();
            keys.dedup();
            let pick = match how {
                Lookup::FirstWins => Lookup::FirstWins,
                _ => Lookup::LastWins,
            };
            J::Obj(
                keys.into_iter()
                    .filter_map(|k| get(members, k, pick).map(|v| (k.clone(), plain(v, how))))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

/// serde_json's value in the same shape (numbers as serde_json prints them).
fn from_value(v: &Value) -> J {
    match v {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Number(n) => J::Num(n.to_string()),
        Value::String(s) => J::Str(s.clone()),
        Value::Array(items) => J::Arr(items.iter().map(from_value).collect()),
        Value::Object(map) => J::Obj(map.iter().map(|(k, v)| (k.clone(), from_value(v))).collect()),
    }
}

/// What the gateway judges a message by, as any reader sees it.
#[derive(Clone, Debug, PartialEq)]
struct View {
    method: Option<String>,
    id: Option<J>,
    tool: Option<String>,
    target: Option<String>,
    arguments: Option<J>,
    params: Option<J>,
    progress_token: Option<J>,
    task_id: Option<String>,
}

fn string(v: Option<&J>) -> Option<String> {
    match v {
        Some(J::Str(s)) => Some(s.clone()),
        _ => None,
    }
}

/// A reader's view of one message object.
fn reader_view(message: &J, how: Lookup) -> View {
    let J::Obj(members) = message else { panic!("a message is an object: {message:?}") };
    let method = string(get(members, "method", how));
    let params = get(members, "params", how);
    let param = |key: &str| match params {
        Some(J::Obj(p)) => get(p, key, how),
        _ => None,
    };
    let meta = |key: &str| match param("_meta") {
        Some(J::Obj(m)) => get(m, key, how),
        _ => None,
    };
    let is_tool = matches!(method.as_deref(), Some("tools/call" | "call_tool"));
    let target = match method.as_deref() {
        Some("tools/call" | "call_tool" | "prompts/get") => string(param("name")),
        Some("resources/read") => string(param("uri")),
        _ => None,
    };
    let task_id = match method.as_deref() {
        Some("tasks/get" | "tasks/result" | "tasks/cancel") => string(param("taskId")),
        _ => None,
    };
    View {
        tool: if is_tool { string(param("name")) } else { None },
        arguments: if is_tool { param("arguments").map(|a| plain(a, how)) } else { None },
        id: get(members, "id", how).map(|v| plain(v, how)),
        params: params.map(|p| plain(p, how)),
        progress_token: meta("progressToken").map(|v| plain(v, how)),
        method,
        target,
        task_id,
    }
}

/// The gateway's own view: what `inspect` reported, plus `params` as it parsed them.
fn gateway_view(m: &Message, parsed: &Value) -> View {
    View {
        method: m.method.clone(),
        id: m.id.as_ref().map(from_value),
        tool: m.tool.clone(),
        target: m.target.clone(),
        arguments: m.arguments.as_ref().map(from_value),
        params: parsed.get("params").map(from_value),
        progress_token: m.progress_token.as_ref().map(from_value),
        task_id: m.task_id.clone(),
    }
}

/// Checks one body. Returns whether the inspector accepted it.
fn check(body: &[u8], content_type: Option<&str>, allow_batch: bool) -> bool {
    let headers = RequestHeaders { content_type, ..RequestHeaders::default() };
    let Ok(inspected) = inspect(body, &headers, &InspectOptions { allow_batch, ..InspectOptions::default() })
    else {
        return false;
    };
    check_inspected(body, &inspected);
    true
}

fn check_inspected(body: &[u8], inspected: &Inspected) {
    // The gateway's parse: an accepted body has no duplicate keys, so serde_json's `Value`
    // of the original bytes is exactly what the inspector built.
    let original: Value = serde_json::from_slice(body).expect("accepted bodies are JSON");
    let originals: Vec<&Value> = match &original {
        Value::Array(items) => items.iter().collect(),
        single => vec![single],
    };
    let gateway: Vec<View> =
        inspected.messages.iter().zip(&originals).map(|(m, o)| gateway_view(m, o)).collect();
    assert_eq!(gateway.len(), originals.len());

    let forwarded = &inspected.canonical;
    let text = String::from_utf8_lossy(forwarded);
    // 1. serde_json.
    let serde: Value = serde_json::from_slice(forwarded).expect("canonical bytes are JSON");
    assert_eq!(serde, original, "serde_json reads the forwarded bytes as the original: {text}");
    let serde_messages: Vec<J> = match &serde {
        Value::Array(items) => items.iter().map(from_value).collect(),
        single => vec![from_value(single)],
    };
    // 2 and 3: the test's own parser with three lookup rules.
    let own = Parser::parse(forwarded).unwrap_or_else(|| panic!("own parser reads {text}"));
    let own_messages = match &own {
        J::Arr(items) => items.clone(),
        single => vec![single.clone()],
    };
    assert_eq!(own_messages.len(), gateway.len());
    for (i, view) in gateway.iter().enumerate() {
        assert_eq!(&reader_view(&serde_messages[i], Lookup::LastWins), view, "serde_json view of {text}");
        for how in [Lookup::LastWins, Lookup::FirstWins, Lookup::Folded] {
            assert_eq!(&reader_view(&own_messages[i], how), view, "{how:?} view of {text}");
        }
    }
    // A subset of a batch forwards as the messages' own bytes.
    for (m, o) in inspected.messages.iter().zip(&originals) {
        assert_eq!(&serde_json::from_slice::<Value>(&m.canonical).expect("message bytes"), *o);
    }
}

const CT: Option<&str> = Some("application/json");

/// Bodies the inspector must accept, each checked against the three readers.
const ACCEPTED: &[&str] = &[
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#,
    r#"{"jsonrpc":"2.0","id":1.0,"method":"tools/list"}"#,
    r#"{"jsonrpc":"2.0","id":1e0,"method":"tools/list"}"#,
    r#"{"jsonrpc":"2.0","id":"1","method":"tools/list"}"#,
    r#"{"jsonrpc":"2.0","id":-0,"method":"ping"}"#,
    r#"{"jsonrpc":"2.0","id":9007199254740993,"method":"tools/call","params":{"name":"pay","arguments":{"amount":9007199254740993}}}"#,
    r#"{"jsonrpc":"2.0","id":18446744073709551615,"method":"ping"}"#,
    r#"{"jsonrpc":"2.0","id":18446744073709551616,"method":"ping"}"#,
    r#"{"jsonrpc":"2.0","id":-9223372036854775808,"method":"ping"}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pay","arguments":{"amount":0.1000000000000000055511151231257827,"big":1e308,"tiny":5e-324,"neg":-1.5E+3}}}"#,
    r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"n","arguments":{"a":[[[[[[1]]]]],[{"b":[2,{"c":[]}]}]]}}}"#,
    "{\"\\u006asonrpc\":\"2.0\",\"\\u0069d\":2,\"\\u006dethod\":\"tools/call\",\"params\":{\"n\\u0061me\":\"echo\"}}",
    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":\"\\u0065cho\\ud83d\\ude00\",\"arguments\":{\"\\u00e9\":\"\\u212a\"}}}",
    r#"{"jsonrpc":"2.0","id":4,"method":"resources/read","params":{"uri":"file:///x","_meta":{"progressToken":7}}}"#,
    r#"{"jsonrpc":"2.0","id":5,"method":"prompts/get","params":{"name":"review","arguments":{"Lang":"rust"}}}"#,
    r#"{"jsonrpc":"2.0","id":6,"method":"tasks/get","params":{"taskId":"t-1"}}"#,
    r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"p","progress":0.5}}"#,
    r#"{"jsonrpc":"2.0","id":"s-1","result":{"content":[{"type":"text","text":"ok"}]}}"#,
    r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"x","arguments":{"Name":"not a protocol level","METHOD":"neither"}}}"#,
    "  {\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"ping\"}\r\n\t ",
];

/// Bodies the inspector must refuse (each would be read differently by some reader).
const REFUSED: &[&[u8]] = &[
    br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"rm"}}"#,
    br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","Method":"tools/call","params":{"name":"rm"}}"#,
    br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","NAME":"rm"}}"#,
    br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","PARAMS":{"name":"rm"},"params":{"name":"echo"}}"#,
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"nam\\u0065\":\"rm\"}}".as_bytes(),
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"arguments\":{},\"argument\u{17f}\":{\"p\":\"/\"}}}".as_bytes(),
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"echo\",\"_meta\":{\"progressTo\u{212a}en\":1}}}".as_bytes(),
    br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"pay","arguments":{"amount":1,"Amount":1000000}}}"#,
    b"\xef\xbb\xbf{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
    br#"{"jsonrpc":"2.0","id":1,"method":"ping"}{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"rm"}}"#,
    br#"{"jsonrpc":"2.0","id":1,"method":"ping"} x"#,
];

#[test]
fn hand_written_bodies_read_the_same_everywhere() {
    for body in ACCEPTED {
        assert!(check(body.as_bytes(), CT, false), "must be accepted: {body}");
        assert!(check(body.as_bytes(), None, false), "must be accepted without a content type: {body}");
    }
    for body in REFUSED {
        assert!(!check(body, CT, false), "must be refused: {}", String::from_utf8_lossy(body));
    }
    let batch = format!("[{}]", ACCEPTED[..6].join(","));
    assert!(check(batch.as_bytes(), CT, true));
    for ct in [
        "application/json; charset=utf-7",
        "application/json; charset=iso-8859-1",
        "application/json;charset=utf-16",
    ] {
        assert!(!check(ACCEPTED[0].as_bytes(), Some(ct), false), "{ct}");
    }
    assert!(check(ACCEPTED[0].as_bytes(), Some("application/json; charset=\"UTF-8\""), false));
}

#[test]
fn the_readers_disagree_on_what_the_inspector_refuses() {
    // The emulated readers are not trivially equal: on refused bodies they do differ.
    let body = REFUSED[0];
    let own = Parser::parse(body).expect("valid JSON");
    let J::Obj(members) = &own else { panic!("object") };
    assert_ne!(get(members, "method", Lookup::LastWins), get(members, "method", Lookup::FirstWins));
    let own = Parser::parse(REFUSED[2]).expect("valid JSON");
    assert_ne!(reader_view(&own, Lookup::LastWins), reader_view(&own, Lookup::Folded));
    assert_eq!(fold("\u{17f}"), fold("s"));
    assert_eq!(fold("\u{212a}"), fold("k"));
    assert_eq!(fold("paramS"), fold("PARAMS"));
}

/// Key spellings: the real key, case and fold variants, and escapes.
fn key(name: &'static str) -> impl Strategy<Value = String> {
    let upper = name.to_ascii_uppercase();
    let first_upper = {
        let mut c = name.chars();
        c.next().map(|f| f.to_ascii_uppercase().to_string() + c.as_str()).unwrap_or_default()
    };
    let escaped = name
        .chars()
        .next()
        .map(|f| format!("\\u{:04x}{}", f as u32, &name[f.len_utf8()..]))
        .unwrap_or_default();
    let long_s = name.replacen('s', "\u{17f}", 1);
    let kelvin = name.replacen('k', "\u{212a}", 1);
    let variants = vec![upper, first_upper, long_s, kelvin];
    prop_oneof![
        12 => Just(name.to_string()),
        2 => Just(escaped),
        1 => prop::sample::select(variants),
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "1",
        "1.0",
        "1e0",
        "1E+0",
        "10e-1",
        "-0",
        "0.1",
        "0.30000000000000004",
        "0.1000000000000000055511151231257827",
        "9007199254740992",
        "9007199254740993",
        "-9007199254740993",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "1e308",
        "-1e308",
        "5e-324",
        "123456789012345678901234567890",
        "3.141592653589793238462643383279",
    ])
    .prop_map(str::to_string)
}

fn scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        number(),
        prop::sample::select(vec![
            "\"1\"",
            "\"x\"",
            "true",
            "null",
            "\"\\u0041\"",
            "\"\u{212a}\"",
            "[]",
            "{}"
        ])
        .prop_map(str::to_string),
    ]
}

/// A nested value up to a small depth.
fn value() -> impl Strategy<Value = String> {
    scalar().prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(
                (prop::sample::select(vec!["a", "A", "b", "amount", "Amount", "name"]), inner),
                0..3
            )
            .prop_map(|m| format!(
                "{{{}}}",
                m.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect::<Vec<_>>().join(",")
            )),
        ]
    })
}

/// The value of a `params` member, by its (real) name.
fn member_value(name: &'static str) -> BoxedStrategy<String> {
    match name {
        "name" | "uri" | "taskId" => prop_oneof![
            8 => prop::sample::select(vec!["\"echo\"", "\"rm\"", "\"file:///x\"", "\"t-1\"", "\"\\u0065cho\""]).prop_map(str::to_string),
            1 => value(),
        ]
        .boxed(),
        "arguments" => prop_oneof![
            8 => prop::collection::vec((prop::sample::select(vec!["a", "amount", "b", "to", "\u{17f}"]), value()), 0..3).prop_map(|m| {
                let mut keys = std::collections::BTreeSet::new();
                let members: Vec<String> =
                    m.into_iter().filter(|(k, _)| keys.insert(*k)).map(|(k, v)| format!("\"{k}\":{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
            1 => value(),
        ]
        .boxed(),
        "_meta" => prop::sample::select(vec![
            "{\"progressToken\":1}",
            "{\"progressToken\":\"p\"}",
            "{\"progressToken\":\"p\",\"progre\u{17f}\u{17f}Token\":2}",
            "{\"ProgressToken\":3}",
            "{}",
        ])
        .prop_map(str::to_string)
        .boxed(),
        _ => value().boxed(),
    }
}

/// `params` members: distinct names, each spelled as [`key`] chooses.
fn params() -> impl Strategy<Value = Vec<String>> {
    prop::sample::subsequence(vec!["name", "arguments", "_meta", "uri", "taskId", "cursor"], 0..5)
        .prop_flat_map(|names| {
            names
                .into_iter()
                .map(|name| (key(name), member_value(name)).prop_map(|(k, v)| format!("\"{k}\":{v}")))
                .collect::<Vec<_>>()
        })
}

prop_compose! {
    fn message()(
        jsonrpc in key("jsonrpc"),
        id_key in key("id"),
        id in prop_oneof![number(), Just("\"1\"".to_string()), Just("\"a\"".to_string())],
        method_key in key("method"),
        method in prop::sample::select(vec!["tools/call", "call_tool", "tools/list", "resources/read", "prompts/get", "tasks/get", "ping", "notifications/x"]),
        params_key in key("params"),
        params in params(),
        extra in prop::option::weighted(0.1, (prop_oneof![key("method"), key("params"), key("id")], scalar())),
        order in any::<bool>(),
    ) -> String {
        let mut members = vec![
            format!("\"{jsonrpc}\":\"2.0\""),
            format!("\"{id_key}\":{id}"),
            format!("\"{method_key}\":\"{method}\""),
            format!("\"{params_key}\":{{{}}}", params.join(",")),
        ];
        if let Some((k, v)) = extra {
            members.push(format!("\"{k}\":{v}"));
        }
        if order {
            members.reverse();
        }
        format!("{{{}}}", members.join(","))
    }
}

fn body() -> impl Strategy<Value = (Vec<u8>, bool)> {
    (
        prop::collection::vec(message(), 1..3),
        prop_oneof![12 => Just(""), 1 => Just("\u{feff}")],
        prop_oneof![12 => Just(""), 2 => Just(" \n"), 1 => prop::sample::select(vec!["\n{}", " x", "]"])],
    )
        .prop_map(|(messages, bom, trailing)| {
            let batch = messages.len() > 1;
            let core = if batch { format!("[{}]", messages.join(",")) } else { messages[0].clone() };
            (format!("{bom}{core}{trailing}").into_bytes(), batch)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn generated_bodies_read_the_same_everywhere(
        (bytes, batch) in body(),
        ct in prop::sample::select(vec![Some("application/json"), None, Some("application/json; charset=utf-8"), Some("application/json; charset=utf-7")]),
    ) {
        check(&bytes, ct, batch);
    }
}

/// The generator is not vacuous: a good share of generated bodies is accepted.
#[test]
fn the_generator_produces_accepted_bodies() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = body();
    let (mut accepted, total) = (0, 2000);
    for _ in 0..total {
        let (bytes, batch) = strategy.new_tree(&mut runner).expect("generate").current();
        accepted += usize::from(check(&bytes, CT, batch));
    }
    eprintln!("accepted {accepted} of {total}");
    assert!(accepted * 10 > total, "only {accepted} of {total} generated bodies were accepted");
}
