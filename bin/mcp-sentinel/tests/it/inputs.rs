//! Bad inputs: every one gets its stated error (ingest) or the dead-letter topic (processor),
//! and neither process crashes.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use mcp_testkit::platform::SigningKey;
use mcp_testkit::services::http_get;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};

use crate::support::{API_KEY, Pipeline, Servers, Setup, event, metric, post};

const ISSUER: &str = "https://issuer.test";
const AUDIENCE: &str = "mcp-sentinel-ingest";

/// Serves `body` as JSON to every request, on a free port; returns the port.
fn serve_json(body: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

/// A raw chunked POST (no content-length), so the size limit applies while streaming.
fn post_chunked(port: u16, body: &[u8]) -> String {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    let head = format!(
        "POST /events HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\nx-api-key: {API_KEY}\r\n\
         transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).expect("write");
    for chunk in body.chunks(64 * 1024) {
        if write!(stream, "{:x}\r\n", chunk.len())
            .and_then(|()| stream.write_all(chunk))
            .and_then(|()| stream.write_all(b"\r\n"))
            .is_err()
        {
            break; // the server may answer and close before the whole body is sent
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n");
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_their_error_codes_and_ingest_keeps_serving() {
    let servers = Servers::start();
    let key = SigningKey::from_seed("ingest-test", [7; 32]);
    let jwks_port = serve_json(json!({"keys": [key.jwk()]}).to_string());
    let mut setup = Setup::new("inputs");
    setup.extra_ingest_env = vec![
        ("OIDC_ISSUER".into(), ISSUER.into()),
        ("OIDC_AUDIENCE".into(), AUDIENCE.into()),
        ("OIDC_JWKS_URL".into(), format!("http://127.0.0.1:{jwks_port}/jwks")),
    ];
    let mut pipeline = Pipeline::start(&servers, setup);
    let client = reqwest::Client::new();
    let url = pipeline.url("/events");
    let auth: &[(&str, &str)] = &[("x-api-key", API_KEY)];
    let one = serde_json::to_vec(&event(1)).expect("JSON");

    // (what, body, status, code)
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("malformed JSON", br#"{"source": "#.to_vec(), 400, "invalid_json"),
        ("not JSON at all", b"\xff\xfe".to_vec(), 400, "invalid_json"),
        ("missing event_type", br#"{"source":"s","payload":{}}"#.to_vec(), 400, "missing_fields"),
        (
            "null payload",
            br#"{"source":"s","event_type":"t","payload":null}"#.to_vec(),
            400,
            "missing_fields",
        ),
        (
            "one bad envelope in an array",
            serde_json::to_vec(&json!([event(1), {"source": "s"}])).expect("JSON"),
            400,
            "missing_fields",
        ),
        (
            "bad timestamp",
            serde_json::to_vec(&json!({"source":"s","event_type":"t","payload":{},"timestamp":"yesterday"}))
                .expect("JSON"),
            400,
            "invalid_timestamp",
        ),
        (
            "501 envelopes",
            serde_json::to_vec(&Value::Array(vec![event(1); 501])).expect("JSON"),
            413,
            "too_many_events",
        ),
        (
            "body over 1 MiB",
            {
                let mut e = event(1);
                e["payload"]["pad"] = Value::String("x".repeat(1 << 20));
                serde_json::to_vec(&e).expect("JSON")
            },
            413,
            "payload_too_large",
        ),
    ];
    for (what, body, status, code) in cases {
        let (got, answer) = post(&client, &url, auth, body).await;
        assert_eq!((got, answer["error"].as_str().unwrap_or_default()), (status, code), "{what}: {answer}");
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()), "{what}: a message explains it");
    }
    let chunked = post_chunked(pipeline.ingest_port, &vec![b' '; (1 << 20) + 10]);
    assert!(
        chunked.starts_with("HTTP/1.1 413") && chunked.contains("payload_too_large"),
        "streamed oversize: {chunked}"
    );

    // Credentials.
    let token = |claims: Value| key.token(&claims).expect("token");
    let valid = token(json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "gateway", "exp": now() + 300}));
    let expired = token(json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "gateway", "exp": now() - 600}));
    let wrong_aud =
        token(json!({"iss": ISSUER, "aud": "someone-else", "sub": "gateway", "exp": now() + 300}));
    let wrong_iss =
        token(json!({"iss": "https://evil.test", "aud": AUDIENCE, "sub": "gateway", "exp": now() + 300}));
    let other_key = SigningKey::from_seed("ingest-test", [8; 32])
        .token(&json!({"iss": ISSUER, "aud": AUDIENCE, "sub": "gateway", "exp": now() + 300}))
        .expect("token");
    let bearer = |t: &str| format!("Bearer {t}");
    type Headers = Vec<(&'static str, String)>;
    let auth_cases: Vec<(&str, Headers, u16, &str)> = vec![
        ("no credentials", vec![], 401, "unauthorized"),
        ("wrong API key", vec![("x-api-key", "nope".into())], 401, "unauthorized"),
        ("expired JWT", vec![("authorization", bearer(&expired))], 401, "invalid_token"),
        ("JWT for another audience", vec![("authorization", bearer(&wrong_aud))], 401, "invalid_token"),
        ("JWT from another issuer", vec![("authorization", bearer(&wrong_iss))], 401, "invalid_token"),
        ("JWT signed by another key", vec![("authorization", bearer(&other_key))], 401, "invalid_token"),
        ("garbage bearer", vec![("authorization", "Bearer abc.def".into())], 401, "invalid_token"),
    ];
    for (what, headers, status, code) in auth_cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (got, answer) = post(&client, &url, &headers, one.clone()).await;
        assert_eq!((got, answer["error"].as_str().unwrap_or_default()), (status, code), "{what}: {answer}");
    }
    let ok: Vec<(&str, String)> = vec![("authorization", bearer(&valid))];
    let headers: Vec<(&str, &str)> = ok.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (got, answer) = post(&client, &url, &headers, one.clone()).await;
    assert_eq!((got, answer["accepted"].as_u64()), (202, Some(1)), "valid JWT: {answer}");
    let (got, answer) = post(&client, &url, auth, one).await;
    assert_eq!((got, answer["ok"].as_bool()), (202, Some(true)), "valid API key: {answer}");
    let (got, answer) = post(&client, &url, auth, b"[]".to_vec()).await;
    assert_eq!((got, answer["accepted"].as_u64()), (202, Some(0)), "empty array: {answer}");

    // Only POST on /events; probes and metrics answer.
    let get = client.get(&url).send().await.expect("answer");
    assert_eq!(get.status().as_u16(), 405);
    for path in ["/live", "/health", "/ready"] {
        let answer = http_get(pipeline.ingest_port, path).unwrap_or_default();
        assert!(answer.starts_with("HTTP/1.0 200") && answer.contains(r#""ok":true"#), "{path}: {answer}");
    }
    let metrics = http_get(pipeline.ingest_port, "/metrics").unwrap_or_default();
    assert_eq!(
        metric(&metrics, "sentinel_ingest_requests_total{outcome=\"invalid_json\"}"),
        2.0,
        "{metrics}"
    );
    assert_eq!(metric(&metrics, "sentinel_ingest_requests_total{outcome=\"invalid_token\"}"), 5.0);
    assert_eq!(metric(&metrics, "sentinel_ingest_events_total{outcome=\"accepted\"}"), 2.0);

    assert!(
        pipeline.ingest.child.as_mut().expect("running").try_wait().expect("status").is_none(),
        "ingest is alive"
    );
    // The JWT and the API-key request carried the same envelope (same event_id): one row.
    pipeline.expect_exactly(1, Duration::from_secs(30)).await;
    assert!(pipeline.ingest.stop(), "ingest exits cleanly on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_kafka_messages_go_to_the_dead_letter_topic() {
    let servers = Servers::start();
    let mut pipeline = Pipeline::start(&servers, Setup::new("dlq"));
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &pipeline.brokers)
        .set("acks", "all")
        .create()
        .expect("producer");
    let envelope = |payload: Value, timestamp: &str, id: &str| {
        json!({"event_id": id, "timestamp": timestamp, "source": "direct", "event_type": "t", "payload": payload})
            .to_string()
            .into_bytes()
    };
    let ts = jiff::Timestamp::now().to_string();
    let bad: Vec<(&str, Vec<u8>)> = vec![
        ("not_json", b"\x00\x01 definitely not json".to_vec()),
        ("not_envelope", br#"{"hello": "world"}"#.to_vec()),
        ("invalid_timestamp", envelope(json!({}), "26/11/2026", "bad-ts")),
        ("invalid_payload", envelope(json!({"status": "two hundred"}), &ts, "bad-payload")),
        ("missing_event_id", envelope(json!({}), &ts, "")),
    ];
    let good: Vec<Vec<u8>> = (0..3).map(|i| serde_json::to_vec(&event(i)).expect("JSON")).collect();
    for (i, (_, value)) in bad.iter().enumerate() {
        let key = format!("bad-{i}");
        producer
            .send(FutureRecord::to(&pipeline.setup.topic).key(&key).payload(value), Duration::from_secs(10))
            .await
            .expect("produced");
    }
    for value in &good {
        producer
            .send(FutureRecord::<(), _>::to(&pipeline.setup.topic).payload(value), Duration::from_secs(10))
            .await
            .expect("produced");
    }
    pipeline.expect_exactly(3, Duration::from_secs(30)).await;

    // The dead-letter topic holds each bad message, unchanged, with its reason.
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &pipeline.brokers)
        .set("group.id", "dlq-reader")
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[&pipeline.setup.dlq_topic]).expect("subscribe");
    let mut got: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    while got.len() < bad.len() {
        let msg = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("dead letters arrive")
            .expect("message");
        let headers = msg.headers().expect("headers");
        let reason = headers
            .iter()
            .find(|h| h.key == "x-dlq-reason")
            .and_then(|h| h.value)
            .map(|v| String::from_utf8_lossy(v).to_string())
            .expect("x-dlq-reason");
        assert!(headers.iter().any(|h| h.key == "x-source-offset"));
        got.insert(reason, msg.payload().unwrap_or_default().to_vec());
    }
    let expected: BTreeMap<String, Vec<u8>> = bad.iter().map(|(r, v)| (r.to_string(), v.clone())).collect();
    assert_eq!(got, expected);

    let metrics = pipeline.processor_metrics();
    assert_eq!(
        metric(&metrics, "sentinel_processor_messages_total{outcome=\"dead_lettered\"}"),
        5.0,
        "{metrics}"
    );
    for (reason, _) in &bad {
        let series = format!("sentinel_processor_dead_letters_total{{outcome=\"{reason}\"}}");
        assert_eq!(metric(&metrics, &series), 1.0, "{series}");
    }
    assert!(
        pipeline.processor.child.as_mut().expect("running").try_wait().expect("status").is_none(),
        "processor is alive"
    );
    assert!(pipeline.processor.stop(), "processor exits cleanly on SIGTERM");
}

/// Reads `n` messages of `topic` from the start, with a fresh group.
async fn read_topic(brokers: &str, topic: &str, n: usize) -> Vec<rdkafka::message::OwnedMessage> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("reader-{}", uuid::Uuid::now_v7()))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let mut out = Vec::new();
    while out.len() < n {
        let msg = tokio::time::timeout(Duration::from_secs(30), consumer.recv())
            .await
            .expect("messages arrive")
            .expect("message");
        out.push(msg.detach());
    }
    out
}

fn header(msg: &rdkafka::message::OwnedMessage, key: &str) -> Option<String> {
    msg.headers()?
        .iter()
        .find(|h| h.key == key)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_one_array_message_and_array_messages_are_read_per_envelope() {
    let servers = Servers::start();
    let mut pipeline = Pipeline::start(&servers, Setup::new("arrays"));
    let client = reqwest::Client::new();

    // Ingest writes an accepted request as one message: the array of its envelopes, each with its
    // own event_id and trace_id.
    let posted: Vec<Value> = (0..3).map(event).collect();
    let (status, body) = post(
        &client,
        &pipeline.url("/events"),
        &[("x-api-key", API_KEY), ("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")],
        serde_json::to_vec(&posted).expect("JSON"),
    )
    .await;
    assert_eq!((status, &body["accepted"]), (202, &json!(3)), "{body}");
    let written = read_topic(&pipeline.brokers, &pipeline.setup.topic, 1).await;
    let array: Vec<Value> = serde_json::from_slice(written[0].payload().expect("value")).expect("an array");
    let ids: Vec<&str> = posted.iter().map(|e| e["event_id"].as_str().expect("id")).collect();
    assert_eq!(array.iter().map(|e| e["event_id"].as_str().expect("id")).collect::<Vec<_>>(), ids);
    assert!(array.iter().all(|e| e["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"));
    assert_eq!(written[0].key(), Some(ids[0].as_bytes()));
    pipeline.expect_exactly(3, Duration::from_secs(30)).await;

    // Written directly: a mixed array (valid, not an envelope, bad timestamp, valid) and an array
    // that is not JSON. The valid envelopes become rows; each invalid element is dead-lettered on
    // its own, unchanged, with its position; the broken array is dead-lettered whole.
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &pipeline.brokers)
        .set("acks", "all")
        .create()
        .expect("producer");
    let (good1, good2) = (event(10).to_string(), event(11).to_string());
    let not_envelope = r#"{"hello": "world"}"#;
    let bad_time = json!({"event_id": "bad-ts", "timestamp": "26/11/2026", "source": "direct", "event_type": "t", "payload": {}})
        .to_string();
    let mixed = format!("[{good1},{not_envelope}, {bad_time},{good2}]");
    let broken = format!("[{good1},{good2}");
    for (key, value) in [("mixed", &mixed), ("broken", &broken)] {
        producer
            .send(FutureRecord::to(&pipeline.setup.topic).key(key).payload(value), Duration::from_secs(10))
            .await
            .expect("produced");
    }
    pipeline.expect_exactly(5, Duration::from_secs(30)).await;
    let ids = pipeline.all_event_ids(100).await;
    for e in [&good1, &good2] {
        let id =
            serde_json::from_str::<Value>(e).expect("JSON")["event_id"].as_str().expect("id").to_string();
        assert!(ids.contains(&id), "{id} is a row");
    }

    let dead = read_topic(&pipeline.brokers, &pipeline.setup.dlq_topic, 3).await;
    // (reason, index, value, key) of each dead letter.
    type DeadLetter = (String, Option<String>, Vec<u8>, Option<Vec<u8>>);
    let mut got: Vec<DeadLetter> = dead
        .iter()
        .map(|m| {
            (
                header(m, "x-dlq-reason").expect("reason"),
                header(m, "x-source-index"),
                m.payload().unwrap_or_default().to_vec(),
                m.key().map(<[u8]>::to_vec),
            )
        })
        .collect();
    got.sort();
    let expected = vec![
        (
            "invalid_timestamp".to_string(),
            Some("2".to_string()),
            bad_time.into_bytes(),
            Some(b"mixed".to_vec()),
        ),
        (
            "not_envelope".to_string(),
            Some("1".to_string()),
            not_envelope.as_bytes().to_vec(),
            Some(b"mixed".to_vec()),
        ),
        ("not_json".to_string(), None, broken.into_bytes(), Some(b"broken".to_vec())),
    ];
    assert_eq!(got, expected);
    let metrics = pipeline.processor_metrics();
    assert_eq!(metric(&metrics, "sentinel_processor_messages_total{outcome=\"inserted\"}"), 5.0, "{metrics}");
    assert_eq!(
        metric(&metrics, "sentinel_processor_messages_total{outcome=\"dead_lettered\"}"),
        3.0,
        "{metrics}"
    );
    assert!(pipeline.processor.stop(), "processor exits cleanly on SIGTERM");
}
