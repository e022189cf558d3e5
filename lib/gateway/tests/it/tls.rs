//! A remote upstream over TLS: `UPSTREAM_URL=https://…` is reached through rustls, its
//! certificate verified (against `UPSTREAM_CA_FILE` here, a private CA); a certificate the
//! gateway cannot verify fails closed with `upstream_error`, and nothing reaches the app.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::json;
use tokio::net::TcpListener;

use crate::support::*;

/// A TLS terminator for `localhost` (certificate from a fresh CA) in front of `upstream`;
/// returns its port and the CA's PEM.
async fn tls_front(upstream: std::net::SocketAddr) -> (u16, String) {
    let ca_key = KeyPair::generate().expect("ca key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("ca params");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca.self_signed(&ca_key).expect("ca cert");
    let issuer = Issuer::new(ca, ca_key);
    let key = KeyPair::generate().expect("key");
    let leaf = CertificateParams::new(vec!["localhost".to_string()]).expect("leaf params");
    let cert = leaf.signed_by(&key, &issuer).expect("leaf cert");
    let certs = vec![CertificateDer::from_pem_slice(cert.pem().as_bytes()).expect("cert der")];
    let private = PrivateKeyDer::from_pem_slice(key.serialize_pem().as_bytes()).expect("key der");
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(certs, private)
            .expect("server config");
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind tls");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                let Ok(mut app) = tokio::net::TcpStream::connect(upstream).await else { return };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut app).await;
            });
        }
    });
    (port, ca_cert.pem())
}

#[tokio::test]
async fn an_https_upstream_is_verified_and_reached() {
    let upstream = Upstream::start().await;
    let (port, ca) = tls_front(upstream.addr).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca).expect("write ca");
    let key = SigningKey::from_seed("platform-1", [7; 32]);
    let policy = policy_json(&resources(), &[&key]);
    let url = format!("https://localhost:{port}/v1/mcp");
    let ca_path = ca_file.display().to_string();
    let gw = Running::start(
        upstream.addr,
        Some(&policy),
        &[("UPSTREAM_URL", &url), ("UPSTREAM_CA_FILE", &ca_path), ("STRIP_PREFIX", "/policy-mcp-server/mcp")],
    )
    .await;
    let r =
        rpc(gw.addr, Some(&key.token(ops_claims())), &[], call(1, "echo", json!({"text": "over tls"}))).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let seen = upstream.last();
    assert_eq!(seen.path, "/v1/mcp", "the route maps onto the URL's own path");
    assert_eq!(seen.headers.get("host").map(String::as_str), Some(format!("localhost:{port}").as_str()));
    assert!(!seen.headers.contains_key("authorization"), "the caller's token never goes upstream");
}

#[tokio::test]
async fn an_unverifiable_https_upstream_fails_closed() {
    let upstream = Upstream::start().await;
    let (port, _) = tls_front(upstream.addr).await;
    let key = SigningKey::from_seed("platform-1", [7; 32]);
    let policy = policy_json(&resources(), &[&key]);
    let url = format!("https://localhost:{port}");
    let gw = Running::start(upstream.addr, Some(&policy), &[("UPSTREAM_URL", &url)]).await;
    let r = rpc(gw.addr, Some(&key.token(ops_claims())), &[], call(1, "echo", json!({"text": "x"}))).await;
    assert_eq!((r.status, r.reason()), (502, "upstream_error".to_string()), "{}", r.body);
    assert_eq!(upstream.hits(), 0, "nothing reached the app through an unverified connection");
}
