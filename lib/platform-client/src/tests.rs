//! The client against the OpenAPI document (routes and field names), path building, error
//! decoding, and a real refused connection.

use std::collections::BTreeSet;

use serde::de::{self, Deserialize, Deserializer, Visitor};
use serde_json::Value;

use super::*;

fn openapi() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/platform-openapi.json");
    let text = std::fs::read_to_string(path).expect("read docs/platform-openapi.json");
    serde_json::from_str(&text).expect("OpenAPI JSON")
}

#[test]
fn every_endpoint_is_in_the_openapi_document() {
    let doc = openapi();
    let mut missing = Vec::new();
    for e in endpoints::ALL {
        let found = doc["paths"][e.path].get(e.method.to_ascii_lowercase()).is_some();
        if !found {
            missing.push(format!("{} {}", e.method, e.path));
        }
    }
    assert!(missing.is_empty(), "routes the client calls but the API does not document: {missing:?}");
    let unique: BTreeSet<_> = endpoints::ALL.iter().map(|e| (e.method, e.path)).collect();
    assert_eq!(unique.len(), endpoints::ALL.len(), "an endpoint is listed twice");
}

/// A deserializer that records the field names a `#[derive(Deserialize)]` struct asks for,
/// then stops.
struct FieldNames<'a>(&'a mut Vec<&'static str>);

impl<'de> Deserializer<'de> for FieldNames<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.0.extend_from_slice(fields);
        Err(de::Error::custom("recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier ignored_any
    }
}

fn fields_of<T: for<'de> Deserialize<'de>>() -> Vec<&'static str> {
    let mut fields = Vec::new();
    let _ = T::deserialize(FieldNames(&mut fields));
    assert!(!fields.is_empty(), "{} is not a plain struct", std::any::type_name::<T>());
    fields
}

/// The property names of a schema, following `$ref` and `allOf`.
fn schema_properties(doc: &Value, schema: &Value, out: &mut BTreeSet<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        schema_properties(doc, &doc["components"]["schemas"][name], out);
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for s in all {
            schema_properties(doc, s, out);
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        out.extend(props.keys().cloned());
    }
}

fn check_fields<T: for<'de> Deserialize<'de>>(doc: &Value, schema: &str, problems: &mut Vec<String>) {
    let s = &doc["components"]["schemas"][schema];
    assert!(s.is_object(), "no schema {schema} in the OpenAPI document");
    let mut props = BTreeSet::new();
    schema_properties(doc, s, &mut props);
    for f in fields_of::<T>() {
        if !props.contains(f) {
            problems.push(format!("{} reads {f:?}, not in schema {schema}", std::any::type_name::<T>()));
        }
    }
}

#[test]
fn every_field_the_response_types_read_is_in_their_schema() {
    let doc = openapi();
    let mut problems = Vec::new();
    check_fields::<TokenResponse>(&doc, "TokenResponse", &mut problems);
    check_fields::<User>(&doc, "User", &mut problems);
    check_fields::<Me>(&doc, "Me", &mut problems);
    check_fields::<TeamView>(&doc, "TeamView", &mut problems);
    check_fields::<Member>(&doc, "Member", &mut problems);
    check_fields::<ApiKey>(&doc, "ApiKey", &mut problems);
    check_fields::<CreatedKey>(&doc, "CreatedKey", &mut problems);
    check_fields::<Page<Agent>>(&doc, "List_Agent", &mut problems);
    check_fields::<Page<GrantItem>>(&doc, "List_GrantItem", &mut problems);
    check_fields::<ServerItem>(&doc, "ServerItem", &mut problems);
    check_fields::<ServerList>(&doc, "ServerList", &mut problems);
    check_fields::<GrantItem>(&doc, "GrantItem", &mut problems);
    check_fields::<SessionItem>(&doc, "SessionItem", &mut problems);
    check_fields::<RenderedPolicy>(&doc, "RenderedPolicy", &mut problems);
    check_fields::<Revoked>(&doc, "Revoked", &mut problems);
    check_fields::<Agent>(&doc, "Agent", &mut problems);
    check_fields::<AgentState>(&doc, "AgentState", &mut problems);
    check_fields::<AdapterSession>(&doc, "AdapterSession", &mut problems);
    check_fields::<AdapterSessionRequest>(&doc, "AdapterSessionRequest", &mut problems);
    check_fields::<Changes>(&doc, "Changes", &mut problems);
    check_fields::<Sample>(&doc, "Sample", &mut problems);
    check_fields::<ReplayReport>(&doc, "Report", &mut problems);
    check_fields::<ReplayRequest>(&doc, "ReplayRequest", &mut problems);
    check_fields::<PublishServer>(&doc, "PublishServer", &mut problems);
    check_fields::<CreateTeam>(&doc, "CreateTeam", &mut problems);
    check_fields::<CreateUser>(&doc, "CreateUser", &mut problems);
    check_fields::<CreateKey>(&doc, "CreateKey", &mut problems);
    assert!(problems.is_empty(), "{problems:#?}");
}

#[test]
fn the_field_check_catches_a_misspelled_field() {
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Wrong {
        revision: String,
        documnet: Value,
    }
    let mut problems = Vec::new();
    check_fields::<Wrong>(&openapi(), "RenderedPolicy", &mut problems);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("documnet"));
}

#[test]
fn paths_are_filled_and_encoded() {
    assert_eq!(
        endpoints::GRANT_GET.fill(&["team-a", "g 1/x"]).as_deref(),
        Some("/api/v1/runtime/grants/team-a/g%201%2Fx")
    );
    assert_eq!(endpoints::ME.fill(&[]).as_deref(), Some("/api/v1/me"));
    assert_eq!(endpoints::GRANT_GET.fill(&["only-one"]), None);
    assert_eq!(endpoints::ME.fill(&["extra"]), None);
}

#[test]
fn urls_carry_the_base_path_and_query() {
    let c = Client::new("http://127.0.0.1:9/prefix/", Credential::None).expect("client");
    assert_eq!(c.base_url(), "http://127.0.0.1:9/prefix");
    let url = c.url(&endpoints::SERVERS, &[], &[("team", "a b&c".into())]).expect("url");
    assert_eq!(url, "http://127.0.0.1:9/prefix/api/v1/runtime/servers?team=a%20b%26c");
    assert!(matches!(Client::new("ftp://x", Credential::None), Err(ClientError::InvalidUrl(..))));
    assert!(matches!(Client::new("not a url", Credential::None), Err(ClientError::InvalidUrl(..))));
}

#[test]
fn error_bodies_become_typed_errors() {
    let body = br#"{"error":{"code":"forbidden","message":"not a member","details":{"field":"team"}}}"#;
    let e = check(403, body.to_vec(), None, "u").expect_err("403");
    assert_eq!(e.status(), Some(403));
    assert_eq!(e.code(), Some("forbidden"));
    assert_eq!(e.to_string(), "not a member (forbidden)");
    assert!(matches!(&e, ClientError::Api { details: Some(d), .. } if d["field"] == "team"));

    let e = check(429, br#"{"error":{"code":"too_many_requests","message":"slow"}}"#.to_vec(), Some(7), "u")
        .expect_err("429");
    assert!(matches!(e, ClientError::Api { retry_after: Some(7), .. }));

    // The older shape, and a body that is not JSON at all.
    let e = check(404, br#"{"error":"not_found","message":"gone"}"#.to_vec(), None, "u").expect_err("404");
    assert_eq!((e.code(), e.to_string().as_str()), (Some("not_found"), "gone (not_found)"));
    let e = check(502, b"Bad Gateway".to_vec(), None, "u").expect_err("502");
    assert_eq!((e.code(), e.to_string().as_str()), (Some("http_502"), "Bad Gateway (http_502)"));

    assert_eq!(
        error_code(br#"{"error":{"code":"invalid_token","message":"token expired"}}"#).as_deref(),
        Some("invalid_token")
    );
    assert!(check(204, Vec::new(), None, "u").is_ok());
}

#[test]
fn responses_are_lenient() {
    // Unknown fields ignored, missing ones defaulted.
    let s: AdapterSession =
        serde_json::from_str(r#"{"name":"adapter-1","token":"t","teamID":"tid","extra":1}"#).expect("decode");
    assert_eq!(
        (s.name.as_str(), s.token.as_str(), s.team_id.as_str(), s.reused),
        ("adapter-1", "t", "tid", false)
    );
    let req = AdapterSessionRequest {
        server_name: "gh".into(),
        agent_id: "agt_1".into(),
        requested_ttl: Some("5m".into()),
        ..Default::default()
    };
    assert_eq!(
        serde_json::to_value(&req).expect("encode"),
        serde_json::json!({"serverName": "gh", "agentID": "agt_1", "requestedTTL": "5m"})
    );
}

#[test]
fn credentials_are_not_printed() {
    let c = Credential::Session { access_token: "secret-a".into(), refresh_token: "secret-r".into() };
    assert!(!format!("{c:?}").contains("secret"));
    assert!(!format!("{:?}", Credential::Bearer("secret".into())).contains("secret"));
}

#[tokio::test]
async fn a_refused_connection_is_unreachable() {
    // A port that was free a moment ago: nothing listens there.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let c = Client::new(&format!("http://127.0.0.1:{port}"), Credential::None).expect("client");
    let e = c.me().await.expect_err("refused");
    assert!(matches!(&e, ClientError::Unreachable(url, _) if url.ends_with("/api/v1/me")), "{e:?}");
}

/// A one-shot HTTP/1.1 responder on a loopback port: answers each connection with the next
/// canned response and records the request heads. Only for the refresh sequence, which the
/// CLI tests also run against the real platform.
async fn canned(responses: Vec<(u16, &'static str)>) -> (String, tokio::task::JoinHandle<Vec<String>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let task = tokio::spawn(async move {
        let mut heads = Vec::new();
        for (status, body) in responses {
            let (mut sock, _) = listener.accept().await.expect("accept");
            let mut buf = vec![0u8; 16384];
            let mut n = 0;
            loop {
                let m = sock.read(&mut buf[n..]).await.expect("read");
                n += m;
                let text = String::from_utf8_lossy(&buf[..n]).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if n >= end + 4 + len || m == 0 {
                        heads.push(text);
                        break;
                    }
                }
                if m == 0 {
                    break;
                }
            }
            let resp = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            sock.write_all(resp.as_bytes()).await.expect("write");
        }
        heads
    });
    (base, task)
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_once_and_saved() {
    let tokens = r#"{"access_token":"new-a","token_type":"Bearer","expires_in":900,"refresh_token":"new-r","user":{"id":"u","email":"a@b.c"}}"#;
    let me = r#"{"user":{"id":"u","email":"a@b.c"},"teams":[],"auth":"access_token"}"#;
    let (base, task) = canned(vec![
        (401, r#"{"error":{"code":"invalid_token","message":"token expired"}}"#),
        (200, tokens),
        (200, me),
    ])
    .await;
    let saved = Arc::new(Mutex::new(None));
    let hook_saved = saved.clone();
    let c = Client::new(
        &base,
        Credential::Session { access_token: "old-a".into(), refresh_token: "old-r".into() },
    )
    .expect("client")
    .on_refresh(Arc::new(move |t: &TokenResponse| {
        *hook_saved.lock().expect("lock") = Some(t.refresh_token.clone());
    }));
    let got = c.me().await.expect("me after refresh");
    assert_eq!(got.user.email, "a@b.c");
    assert_eq!(saved.lock().expect("lock").as_deref(), Some("new-r"));
    assert_eq!(
        c.credential(),
        Credential::Session { access_token: "new-a".into(), refresh_token: "new-r".into() }
    );
    let heads = task.await.expect("server");
    assert!(heads[0].contains("authorization: Bearer old-a"), "{}", heads[0]);
    assert!(
        heads[1].starts_with("POST /api/v1/auth/refresh") && heads[1].contains("\"refresh_token\":\"old-r\"")
    );
    assert!(heads[2].contains("authorization: Bearer new-a"), "{}", heads[2]);
}

#[tokio::test]
async fn a_refused_refresh_is_login_expired() {
    let (base, task) = canned(vec![
        (401, r#"{"error":{"code":"invalid_token","message":"token expired"}}"#),
        (401, r#"{"error":{"code":"invalid_token","message":"refresh token expired"}}"#),
    ])
    .await;
    let c = Client::new(&base, Credential::Session { access_token: "a".into(), refresh_token: "r".into() })
        .expect("client");
    let e = c.me().await.expect_err("expired");
    assert!(matches!(&e, ClientError::LoginExpired(m) if m == "refresh token expired"), "{e:?}");
    assert_eq!(e.status(), Some(401));
    task.await.expect("server");
}

#[tokio::test]
async fn adapter_sessions_post_the_request_and_decode_the_session() {
    let session = r#"{"name":"adapter-0123456789abcdef","team":"a","namespace":"mcp-team-a","humanID":"u","agentID":"agt_1","teamID":"t","serverName":"gh","grantName":"g","consentedTrust":"low","policyVersion":"v1","expiresAt":"2026-12-06T18:00:00Z","reused":false,"token":"tok","tokenExpiresAt":"2026-12-06T17:00:00Z","audience":"http://localhost/a/gh/mcp"}"#;
    let (base, task) = canned(vec![(200, session), (200, session)]).await;
    let c = Client::new(&base, Credential::Bearer("k".into())).expect("client");
    let req = AdapterSessionRequest {
        server_name: "gh".into(),
        team: Some("a".into()),
        agent_id: "agt_1".into(),
        ..Default::default()
    };
    let s = c.issue_adapter_session(&req).await.expect("issue");
    assert_eq!(
        (s.name.as_str(), s.token.as_str(), s.audience.as_str()),
        ("adapter-0123456789abcdef", "tok", "http://localhost/a/gh/mcp")
    );
    let t = c.refresh_adapter_token(&s.team, &s.name).await.expect("refresh");
    assert_eq!(t.token_expires_at, "2026-12-06T17:00:00Z");
    let heads = task.await.expect("server");
    assert!(heads[0].starts_with("POST /api/v1/runtime/adapter/sessions HTTP/1.1"), "{}", heads[0]);
    assert!(heads[0].contains(r#"{"serverName":"gh","team":"a","agentID":"agt_1"}"#), "{}", heads[0]);
    assert!(
        heads[1]
            .starts_with("POST /api/v1/runtime/adapter/sessions/a/adapter-0123456789abcdef/token HTTP/1.1")
    );
}

#[tokio::test]
async fn concurrent_expiries_refresh_once() {
    let tokens = r#"{"access_token":"new-a","token_type":"Bearer","expires_in":900,"refresh_token":"new-r","user":{"id":"u","email":"a@b.c"}}"#;
    let me = r#"{"user":{"id":"u","email":"a@b.c"},"teams":[],"auth":"access_token"}"#;
    let expired = r#"{"error":{"code":"invalid_token","message":"token expired"}}"#;
    // Both calls meet the expiry; exactly one refresh follows, then both retries succeed.
    let (base, task) =
        canned(vec![(401, expired), (401, expired), (200, tokens), (200, me), (200, me)]).await;
    let refreshes = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = refreshes.clone();
    let c = Client::new(
        &base,
        Credential::Session { access_token: "old-a".into(), refresh_token: "old-r".into() },
    )
    .expect("client")
    .on_refresh(Arc::new(move |_: &TokenResponse| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }));
    let (a, b) = tokio::join!(c.me(), c.me());
    a.expect("first");
    b.expect("second");
    assert_eq!(refreshes.load(std::sync::atomic::Ordering::SeqCst), 1);
    let heads = task.await.expect("server");
    assert_eq!(heads.iter().filter(|h| h.starts_with("POST /api/v1/auth/refresh")).count(), 1, "{heads:#?}");
}
