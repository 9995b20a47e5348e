//! `https://` and `wss://` on one port, with a self-signed certificate made by the test.

mod common;

use std::sync::Arc;

use chorus::Config;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::{self, pki_types::ServerName, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

struct Certs {
    dir: std::path::PathBuf,
    der: rustls::pki_types::CertificateDer<'static>,
}

fn self_signed(tag: &str) -> Certs {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let dir = std::env::temp_dir().join(format!("chorus-tls-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    Certs {
        dir,
        der: cert.cert.der().clone(),
    }
}

fn connector(certs: &Certs) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(certs.der.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

async fn tls_request(addr: std::net::SocketAddr, certs: &Certs, request: &[u8]) -> String {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector(certs)
        .connect(name, tcp)
        .await
        .expect("TLS handshake");
    tls.write_all(request).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(TIMEOUT, tls.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn https_and_wss_on_one_port() {
    let certs = self_signed("ok");
    let (_, addr) = start_with(Config {
        tls_cert: Some(certs.dir.join("cert.pem")),
        tls_key: Some(certs.dir.join("key.pem")),
        ..config()
    })
    .await;
    let health = tls_request(
        addr,
        &certs,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");

    // A WebSocket over TLS: handshake, then a masked text frame echoed back by the raw room.
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let mut tls = connector(&certs).connect(name, tcp).await.unwrap();
    tls.write_all(
        b"GET /secure HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .await
    .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = tokio::time::timeout(TIMEOUT, tls.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    let head = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    tls.write_all(&RawClient::frame(true, 0x1, b"over tls", true))
        .await
        .unwrap();
    let n = tokio::time::timeout(TIMEOUT, tls.read(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"\x81\x08over tls");

    // Plain HTTP on a TLS port gets nowhere (and does not hurt the server).
    let plain = http_raw(addr, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(!plain.contains("200 OK"), "{plain}");
    let again = tls_request(
        addr,
        &certs,
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n",
    )
    .await;
    assert!(again.starts_with("HTTP/1.1 200"), "{again}");
    let _ = std::fs::remove_dir_all(&certs.dir);
}

#[tokio::test]
async fn unusable_certificates_are_explained() {
    let certs = self_signed("bad");
    std::fs::write(certs.dir.join("key.pem"), "not a key").unwrap();
    let server = chorus::Server::new(Config {
        tls_cert: Some(certs.dir.join("cert.pem")),
        tls_key: Some(certs.dir.join("key.pem")),
        ..config()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = server.serve(listener).await.unwrap_err();
    assert!(err.to_string().contains("private key"), "{err}");
    let err = Config::from_toml("tls_cert = \"/x.pem\"\n", "t").unwrap_err();
    assert!(err.to_string().contains("tls_key"), "{err}");
    let _ = std::fs::remove_dir_all(&certs.dir);
}
