//! [`Caller`]: one signed JSON POST to the backend, bounded in time, tried again when it
//! failed in a way another try may mend.
//!
//! A backend's answer is one of: a decision (a 2xx with a JSON object), a refusal (403), a
//! mistake (another 4xx: the URL or the backend is wrong, and trying again will not help),
//! or no answer (a timeout, a refused connection, a 5xx) — tried again up to `retries`
//! times. Answers are read up to [`MAX_ANSWER`] bytes.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::sign::{Signer, SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// Largest answer read from the backend.
pub(crate) const MAX_ANSWER: usize = 64 * 1024;
/// Most requests to the backend under way at once, from the whole server: past that a
/// request waits for one to finish (within its timeout), so a slow backend costs at most
/// this many sockets and never the descriptors clients need.
pub(crate) const MAX_IN_FLIGHT: usize = 256;
/// Most idle keep-alive connections kept to the backend.
const MAX_IDLE: usize = 64;

type Https = hyper_rustls::HttpsConnector<HttpConnector>;

/// What the backend answered, when it did.
#[derive(Debug)]
pub(crate) enum Answer {
    /// A 2xx, with its body.
    Ok(Bytes),
    /// A 403, with its body (it may say why).
    Refused(Bytes),
}

/// Why there is no answer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    #[error("no answer within {0} ms")]
    Timeout(u64),
    #[error("{0}")]
    Transport(String),
    #[error("the backend answered {0}")]
    Status(StatusCode),
}

impl Failure {
    /// Whether another try may succeed.
    fn transient(&self) -> bool {
        match self {
            Failure::Timeout(_) | Failure::Transport(_) => true,
            Failure::Status(status) => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS
            }
        }
    }
}

/// The client that calls the backend.
pub(crate) struct Caller {
    client: Client<Https, Full<Bytes>>,
    base: String,
    signer: Signer,
    timeout: Duration,
    retries: u32,
    in_flight: tokio::sync::Semaphore,
}

impl std::fmt::Debug for Caller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caller")
            .field("base", &self.base)
            .field("timeout", &self.timeout)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

impl Caller {
    /// A client of the backend at `base` (`http://` or `https://`, checked by the
    /// configuration). HTTPS trusts the platform's roots.
    pub(crate) fn new(
        base: &str,
        secret: &str,
        timeout: Duration,
        retries: u32,
    ) -> Result<Self, std::io::Error> {
        let provider = std::sync::Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = match builder.with_provider_and_native_roots(provider.clone()) {
            Ok(builder) => builder,
            // No roots on this machine: plain HTTP still works, HTTPS cannot.
            Err(_) if base.starts_with("http://") => {
                let tls = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
                    .with_safe_default_protocol_versions()
                    .map_err(std::io::Error::other)?
                    .with_root_certificates(tokio_rustls::rustls::RootCertStore::empty())
                    .with_no_client_auth();
                hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(tls)
            }
            Err(err) => return Err(err),
        };
        let connector = builder.https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(MAX_IDLE)
            .build(connector);
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            signer: Signer::new(secret),
            timeout,
            retries,
            in_flight: tokio::sync::Semaphore::new(MAX_IN_FLIGHT),
        })
    }

    /// How many times a failed request is tried again.
    pub(crate) fn retries(&self) -> u32 {
        self.retries
    }

    /// POSTs `body` to `<base>/<path>`, trying again at once after a transient failure.
    pub(crate) async fn post(&self, path: &str, body: Bytes) -> Result<Answer, Failure> {
        let mut tries = 0;
        loop {
            match self.post_once(path, body.clone()).await {
                Err(failure) if failure.transient() && tries < self.retries => tries += 1,
                done => return done,
            }
        }
    }

    /// One signed POST, within the timeout.
    pub(crate) async fn post_once(&self, path: &str, body: Bytes) -> Result<Answer, Failure> {
        let timestamp = crate::auth::unix_now();
        let request = Request::post(format!("{}/{path}", self.base))
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("chorus/", env!("CARGO_PKG_VERSION")),
            )
            .header(TIMESTAMP_HEADER, timestamp)
            .header(SIGNATURE_HEADER, self.signer.sign(timestamp, &body))
            .body(Full::new(body))
            .map_err(|err| Failure::Transport(err.to_string()))?;
        let started = Instant::now();
        let exchange = async {
            let _permit = self
                .in_flight
                .acquire()
                .await
                .map_err(|_| Failure::Transport("the hooks' client is closed".into()))?;
            let response = self
                .client
                .request(request)
                .await
                .map_err(|err| Failure::Transport(transport_error(&err)))?;
            let status = response.status();
            // The answer is read whole before the status decides, so the connection can
            // be kept for the next request.
            let answer = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|err| Failure::Transport(format!("reading the answer: {err}")))?
                .to_bytes();
            match status {
                s if s.is_success() => Ok(Answer::Ok(answer)),
                StatusCode::FORBIDDEN => Ok(Answer::Refused(answer)),
                s => Err(Failure::Status(s)),
            }
        };
        match tokio::time::timeout(self.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(Failure::Timeout(
                u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            )),
        }
    }
}

/// A client error with its cause (hyper's own says only "client error (Connect)").
fn transport_error(err: &hyper_util::client::legacy::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
