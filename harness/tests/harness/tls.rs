//! HTTPS targets: a server whose certificate chains to the target's `ca_file` is trusted,
//! the same server without it is refused, and a `ca_file` that is not a PEM certificate is
//! a setup error naming the file.

use std::sync::Arc;

use tokenlife_harness::http::{Http, HttpConfig, HttpError, Request};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio_rustls::rustls;

/// A CA (its PEM) and a TLS server on 127.0.0.1 whose certificate it signed; the server
/// answers every request with 200 "ok".
async fn https_server() -> (String, String) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tokenlife test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let _ = tls
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (format!("https://{addr}/"), ca.pem())
}

#[tokio::test]
async fn an_https_target_is_trusted_through_its_ca_file_only() {
    let (url, ca_pem) = https_server().await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca_pem).unwrap();

    let trusting = Http::new(HttpConfig {
        ca_file: Some(ca_file),
        ..HttpConfig::default()
    })
    .unwrap();
    let r = trusting.send(&Request::get(&url)).await.unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, b"ok");

    let plain = Http::new(HttpConfig::default()).unwrap();
    let e = plain.send(&Request::get(&url)).await.unwrap_err();
    assert!(!matches!(e, HttpError::Setup(_)), "{e}");
}

#[tokio::test]
async fn a_ca_file_that_is_not_a_certificate_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("not-a-cert.pem");
    std::fs::write(&bad, "hello").unwrap();
    let e = Http::new(HttpConfig {
        ca_file: Some(bad),
        ..HttpConfig::default()
    })
    .unwrap_err();
    assert!(matches!(e, HttpError::Setup(_)), "{e}");
    assert!(e.to_string().contains("not-a-cert.pem"), "{e}");
    let missing = dir.path().join("missing.pem");
    let e = Http::new(HttpConfig {
        ca_file: Some(missing),
        ..HttpConfig::default()
    })
    .unwrap_err();
    assert!(e.to_string().contains("missing.pem"), "{e}");
}
