//! The accept loop: TCP connections in, HTTP/1.1 out, WebSocket upgrades allowed.
//!
//! Ours rather than `axum::serve` because the server must decide things axum does not let
//! it: how many connections it holds in all and per client address (counted for the life
//! of a WebSocket, not just of the HTTP exchange that opened it), how long a client may take
//! to send its request headers (slowloris), and what happens when `accept` itself fails
//! (out of file descriptors: wait and retry rather than spin or die).

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::metrics::{Event, Metrics};

/// Connections the kernel may hold for us before we accept them. Tokio's default (128)
/// overflows when thousands of clients connect at once — a reconnect storm after a restart —
/// and each overflow costs that client a SYN retransmit, a second or more. The kernel caps
/// it at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Binds `addr` for serving: address reuse on (a restart does not wait out TIME_WAIT) and
/// a listen backlog of [`LISTEN_BACKLOG`].
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Counts open connections, in all and per client address.
#[derive(Debug)]
pub(crate) struct Admission {
    max_total: usize,
    max_per_ip: usize,
    total: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// Why a connection was turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The server holds `max_connections` already.
    Full,
    /// This address holds `max_connections_per_ip` already.
    PerIp,
}

/// One admitted connection; dropping the last clone gives its place back. The HTTP task
/// holds one, and a WebSocket task takes another, so an upgraded connection counts until
/// the WebSocket closes.
#[derive(Debug)]
pub(crate) struct ConnSlot {
    admission: Arc<Admission>,
    ip: IpAddr,
}

impl Admission {
    pub(crate) fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            total: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        })
    }

    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<Arc<ConnSlot>, Refusal> {
        let mut per_ip = self.per_ip.lock();
        if self.total.load(Ordering::Relaxed) >= self.max_total {
            return Err(Refusal::Full);
        }
        let count = per_ip.entry(ip).or_insert(0);
        if *count >= self.max_per_ip {
            return Err(Refusal::PerIp);
        }
        *count += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Ok(Arc::new(ConnSlot {
            admission: self.clone(),
            ip,
        }))
    }

    /// Connections open now.
    pub(crate) fn open(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        let mut per_ip = self.admission.per_ip.lock();
        if let Some(count) = per_ip.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                per_ip.remove(&self.ip);
            }
        }
        self.admission.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What the accept loop enforces and offers.
pub(crate) struct Settings {
    /// Connection limits.
    pub(crate) admission: Arc<Admission>,
    /// Deadline for the TLS handshake and for each request's headers.
    pub(crate) header_timeout: Duration,
    /// Where refusals are counted.
    pub(crate) metrics: Arc<Metrics>,
    /// TLS, when configured.
    pub(crate) tls: Option<TlsAcceptor>,
}

/// Accepts connections on `listener` and serves `router` on each, until `shutdown` turns
/// true: then it stops accepting, and each HTTP connection finishes the request it is
/// serving and closes (WebSocket connections are closed by the server's drain).
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    settings: Settings,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let Settings {
        admission,
        header_timeout,
        metrics,
        tls,
    } = settings;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stopped(&mut shutdown) => return Ok(()),
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(err) => {
                // EMFILE, ENFILE, ECONNABORTED...: none of them is a reason to stop serving
                // the connections we have. Back off briefly so a full table is not a spin.
                tracing::warn!(%err, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Small messages should leave at once, not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let slot = match admission.admit(addr.ip()) {
            Ok(slot) => slot,
            Err(refusal) => {
                metrics.count(match refusal {
                    Refusal::Full => Event::RefusedFull,
                    Refusal::PerIp => Event::RefusedPerIp,
                });
                tokio::spawn(refuse(stream, refusal));
                continue;
            }
        };
        let router = router.clone();
        let shutdown = shutdown.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve_http(stream, addr, slot, router, header_timeout, shutdown).await,
                Some(acceptor) => {
                    let handshake = tokio::time::timeout(header_timeout, acceptor.accept(stream));
                    match handshake.await {
                        Ok(Ok(stream)) => {
                            serve_http(stream, addr, slot, router, header_timeout, shutdown).await
                        }
                        Ok(Err(err)) => tracing::debug!(%err, %addr, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                }
            }
        });
    }
}

/// Serves HTTP/1.1 (with upgrades) on one accepted connection, plain or TLS.
async fn serve_http<I>(
    io: I,
    addr: SocketAddr,
    slot: Arc<ConnSlot>,
    router: Router,
    header_timeout: Duration,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service_slot = slot.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(addr));
        req.extensions_mut().insert(service_slot.clone());
        let router = router.clone();
        async move {
            let response = router.oneshot(req.map(Body::new)).await;
            Ok::<_, Infallible>(response.unwrap_or_else(|never| match never {}))
        }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    let result = tokio::select! {
        result = connection.as_mut() => result,
        () = stopped(&mut shutdown) => {
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(err) = result {
        tracing::debug!(%err, %addr, "http connection ended with an error");
    }
    drop(slot);
}

/// Resolves once the server is shutting down (or its handle is gone).
async fn stopped(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Answers a connection over a limit with a short HTTP error and closes it.
async fn refuse(mut stream: tokio::net::TcpStream, refusal: Refusal) {
    let response: &[u8] = match refusal {
        Refusal::Full => {
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 32\r\nConnection: close\r\n\r\nserver at its connection limit\r\n"
        }
        Refusal::PerIp => {
            b"HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nContent-Length: 40\r\nConnection: close\r\n\r\ntoo many connections from this address\r\n"
        }
    };
    tracing::debug!(?refusal, "connection refused");
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(response)).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_count_in_all_and_per_address() {
        let admission = Admission::new(3, 2);
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        let a1 = admission.admit(a).unwrap();
        let a2 = admission.admit(a).unwrap();
        assert_eq!(admission.admit(a).unwrap_err(), Refusal::PerIp);
        let b1 = admission.admit(b).unwrap();
        assert_eq!(admission.admit(b).unwrap_err(), Refusal::Full);
        let a2_clone = a2.clone();
        drop(a2);
        assert_eq!(admission.open(), 3, "a clone keeps the place");
        drop(a2_clone);
        assert_eq!(admission.open(), 2);
        assert!(admission.admit(b).is_ok());
        drop((a1, b1));
        assert_eq!(admission.open(), 0);
        assert!(admission.per_ip.lock().is_empty());
    }
}
