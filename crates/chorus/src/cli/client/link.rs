//! The WebSocket under `chorus client`: a `ws://` or `wss://` connection (yawc's client),
//! with the request headers the user gave and, for `wss://`, the platform's roots plus any
//! `--ca` certificate.

use std::sync::Arc;

use anyhow::{bail, Context};
use tokio_rustls::rustls::{self, pki_types::CertificateDer, RootCertStore};
use url::Url;

/// The connection.
pub(crate) type Ws = yawc::TcpWebSocket;

/// Opens a WebSocket to `url` with `headers` (`Name: value`).
pub(crate) async fn open(
    url: &Url,
    headers: &[String],
    ca: Option<&std::path::Path>,
) -> anyhow::Result<Ws> {
    let mut request = yawc::HttpRequestBuilder::new();
    for header in headers {
        let Some((name, value)) = header.split_once(':') else {
            bail!("a header is `Name: value`, not {header:?}");
        };
        request = request.header(name.trim(), value.trim());
    }
    let mut builder = yawc::WebSocket::connect(url.clone()).with_request(request);
    if url.scheme() == "wss" {
        builder = builder.with_connector(tls(ca)?);
    }
    match tokio::time::timeout(std::time::Duration::from_secs(15), builder).await {
        Err(_) => bail!("{url}: no answer to the handshake within 15 s"),
        Ok(Err(yawc::WebSocketError::InvalidStatusCode(status))) => bail!(
            "{url}: the server refused the connection with HTTP {status} \
             (`curl -i` the URL with the same headers to read why)"
        ),
        Ok(result) => result.with_context(|| format!("connecting to {url}")),
    }
}

/// A TLS client trusting the platform's roots and `ca`.
fn tls(ca: Option<&std::path::Path>) -> anyhow::Result<tokio_rustls::TlsConnector> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        // A platform certificate rustls cannot use is skipped, as browsers do.
        let _ = roots.add(cert);
    }
    if let Some(path) = ca {
        let pem = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let certs: Vec<CertificateDer<'static>> = rustls_pemfile(&pem)
            .with_context(|| format!("{}: not a PEM certificate", path.display()))?;
        for cert in certs {
            roots
                .add(cert)
                .with_context(|| format!("{}: a certificate rustls refuses", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// The certificates of a PEM file.
fn rustls_pemfile(pem: &[u8]) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem).collect::<Result<_, _>>()?;
    if certs.is_empty() {
        bail!("no CERTIFICATE block");
    }
    Ok(certs)
}
