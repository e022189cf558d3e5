//! The admission webhooks over real TLS, with the certificate flow the operator uses at start:
//! generated once, shared through a Secret, CA bundle patched into the webhook configurations.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use mcp_api::DefaultingOptions;
use mcp_operator::certs::{self, WebhookCerts};
use mcp_operator::install::{WEBHOOK_CONFIGURATION, manifests};
use mcp_operator::metrics::Metrics;
use mcp_operator::webhook::{VALIDATE_GRANT_PATH, VALIDATE_SERVER_PATH};
use mcp_testkit::kube_api::FakeApiServer;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};

use crate::support::assert_rbac_allows;

async fn post(addr: std::net::SocketAddr, ca_pem: &str, path: &str, body: Value) -> Value {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.expect("CA PEM")).expect("add CA");
    }
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let name = ServerName::try_from("mcp-runtime-operator-webhook.mcp-runtime.svc").expect("name");
    let tls = connector.connect(name, tcp).await.expect("TLS handshake with the generated CA");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(tls)).await.expect("http handshake");
    tokio::spawn(conn);
    let req = http::Request::post(path)
        .header("content-type", "application/json")
        .header("host", "mcp-runtime-operator-webhook.mcp-runtime.svc")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let res = sender.send_request(req).await.expect("response");
    assert_eq!(res.status(), 200);
    serde_json::from_slice(&res.into_body().collect().await.expect("body").to_bytes()).expect("json")
}

fn review(kind: &str, object: Value) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": "u-1", "kind": {"group": "mcpruntime.org", "version": "v1alpha1", "kind": kind},
                    "operation": "CREATE", "name": object["metadata"]["name"], "object": object},
    })
}

#[tokio::test]
async fn webhooks_answer_over_tls_with_the_shared_certificate() {
    let api = FakeApiServer::start().await.expect("fake API");
    for (_, objects) in manifests().into_iter().filter(|(file, _)| file.ends_with("webhooks.yaml")) {
        for object in objects {
            api.put(object);
        }
    }
    let client = api.client();
    let names = certs::dns_names("mcp-runtime-operator-webhook", "mcp-runtime");
    let first: WebhookCerts =
        certs::ensure_secret(&client, "mcp-runtime", "webhook-tls", &names).await.expect("certs");
    let again = certs::ensure_secret(&client, "mcp-runtime", "webhook-tls", &names).await.expect("certs");
    assert_eq!(first, again, "a second replica reuses the stored certificate");
    certs::patch_ca_bundles(&client, WEBHOOK_CONFIGURATION, &first.ca_pem).await.expect("CA bundle");
    for plural in ["validatingwebhookconfigurations", "mutatingwebhookconfigurations"] {
        let config = api.get(plural, "", WEBHOOK_CONFIGURATION).expect("configuration");
        for hook in config["webhooks"].as_array().expect("webhooks") {
            assert!(hook["clientConfig"]["caBundle"].as_str().is_some_and(|b| !b.is_empty()), "{plural}");
        }
    }
    api.clear_requests();
    certs::patch_ca_bundles(&client, WEBHOOK_CONFIGURATION, &first.ca_pem).await.expect("CA bundle");
    assert!(api.requests().iter().all(|r| !r.is_write()), "an unchanged bundle is not rewritten");
    assert_rbac_allows(&api.requests());

    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let tls = certs::server_config(&first).expect("TLS config");
    let metrics = Arc::new(Metrics::new());
    tokio::spawn(mcp_operator::webhook::serve(
        listener,
        tls,
        DefaultingOptions::default(),
        metrics.clone(),
        stop,
    ));

    let server = json!({"metadata": {"name": "notes"}, "spec": {"image": ""}});
    let answer = post(addr, &first.ca_pem, VALIDATE_SERVER_PATH, review("MCPServer", server)).await;
    assert_eq!(answer["response"]["uid"], "u-1");
    assert_eq!(answer["response"]["allowed"], false);
    assert!(
        answer["response"]["status"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("spec.image: is required"))
    );

    let grant = json!({"metadata": {"name": "g"}, "spec": {"serverRef": {"name": "notes"}, "subject": {"agentID": "a"}, "allowedSideEffects": ["read"]}});
    let answer = post(addr, &first.ca_pem, VALIDATE_GRANT_PATH, review("MCPAccessGrant", grant)).await;
    assert_eq!(answer["response"]["allowed"], true);
    assert!(
        metrics
            .encode()
            .contains("mcp_operator_admission_reviews_total{kind=\"ValidateServer\",allowed=\"false\"} 1")
    );
    let _ = stop_tx.send(true);
}
