//! Opening a WebSocket: TCP (from a chosen source address, `TCP_NODELAY` on) and the
//! client handshake, with yawc.
//!
//! yawc is the fastest client we have and is already a workspace dependency; the bench
//! builds the TCP stream itself with [`TcpSocket`] so it can `bind` a source address
//! before connecting (one 127.0.0.x address runs out of ephemeral ports near 28k
//! connections) and hands the stream to yawc's handshake. Compression is never
//! negotiated: it would measure zlib, not the server.
//!
//! Reading is wrapped too ([`read`]): the bench cares about text frames and the close,
//! while pings are answered by yawc on the next read, so every connection needs a task
//! that keeps reading.

use std::io;
use std::net::{IpAddr, SocketAddr};

use thiserror::Error;
use tokio::io::BufReader;
use tokio::net::{TcpSocket, TcpStream};
use url::Url;
use yawc::frame::{Frame, OpCode};
use yawc::{Options, WebSocket, WebSocketError};

/// Bytes a busy connection reads from its socket at once. The codec reads into what is
/// left of its own buffer, which shrinks as frames are cut from it, so alone it makes
/// several small reads where one would do.
const READ_AHEAD: usize = 8 * 1024;

/// An open client WebSocket.
pub(crate) type Ws = WebSocket<BufReader<TcpStream>>;

/// Where to connect and how.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The servers: `ws://host:port` (no path: each connection adds its own) and its
    /// address, resolved once. Several are the nodes of one cluster: connections go to them
    /// in turn, by index.
    servers: Vec<(Url, SocketAddr)>,
    /// Source addresses used round-robin by connection index; empty lets the kernel pick.
    sources: Vec<IpAddr>,
    options: Options,
    /// Bytes read from the socket at once, ahead of the codec. One means none: tokio's
    /// `BufReader` needs some capacity, and any read of at least that much bypasses it.
    read_ahead: usize,
}

/// The `--url` given cannot be used.
#[derive(Debug, Error)]
pub(crate) enum TargetError {
    /// Not a URL.
    #[error("invalid --url {url:?}: {source}")]
    Parse {
        /// As given.
        url: String,
        /// Why.
        source: url::ParseError,
    },
    /// Not `ws://`.
    #[error("--url must be ws://host:port (TLS is not supported by the bench), got {0:?}")]
    Scheme(String),
    /// The host did not resolve.
    #[error("cannot resolve {url}: {source}")]
    Resolve {
        /// As given.
        url: String,
        /// Why.
        source: io::Error,
    },
}

/// A connection could not be opened.
#[derive(Debug, Error)]
pub(crate) enum ConnectError {
    /// Binding the source address failed.
    #[error("bind {ip}: {source}")]
    Bind {
        /// The source address.
        ip: IpAddr,
        /// Why.
        source: io::Error,
    },
    /// The TCP connect failed.
    #[error("TCP connect: {0}")]
    Tcp(io::Error),
    /// The server answered the upgrade with something other than `101`.
    #[error("handshake refused with HTTP {0}")]
    Status(u16),
    /// The handshake failed otherwise.
    #[error("handshake: {0}")]
    Handshake(Box<WebSocketError>),
}

impl Target {
    /// Resolves `url` (`ws://host:port`, or several, comma-separated: the nodes of one
    /// cluster, which connections go to in turn). `buffer` is the initial size of each
    /// connection's read and write buffers: small for many idle connections, yawc's
    /// default otherwise (they grow for large frames and shrink back either way).
    pub(crate) async fn new(
        url: &str,
        sources: Vec<IpAddr>,
        buffer: Option<usize>,
    ) -> Result<Self, TargetError> {
        let mut servers = Vec::new();
        for url in url.split(',') {
            servers.push(resolve(url).await?);
        }
        let mut options = Options::default();
        if let Some(size) = buffer {
            options = options
                .with_read_buffer_capacity(size)
                .with_write_buffer_capacity(size);
        }
        Ok(Self {
            servers,
            sources,
            options,
            read_ahead: if buffer.is_some() { 1 } else { READ_AHEAD },
        })
    }

    /// The (first) server's address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.servers[0].1
    }

    /// Opens connection `index` to `path` (path and query, e.g. `/ws?name=b3`), on the
    /// server whose turn it is.
    pub(crate) async fn open(&self, index: usize, path: &str) -> Result<Ws, ConnectError> {
        let (base, addr) = &self.servers[index % self.servers.len()];
        let socket = if addr.is_ipv4() {
            TcpSocket::new_v4()
        } else {
            TcpSocket::new_v6()
        }
        .map_err(ConnectError::Tcp)?;
        if !self.sources.is_empty() {
            let ip = self.sources[index % self.sources.len()];
            socket
                .bind(SocketAddr::new(ip, 0))
                .map_err(|source| ConnectError::Bind { ip, source })?;
        }
        let stream = socket.connect(*addr).await.map_err(ConnectError::Tcp)?;
        stream.set_nodelay(true).map_err(ConnectError::Tcp)?;

        let mut url = base.clone();
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        url.set_path(path);
        url.set_query((!query.is_empty()).then_some(query));
        let stream = BufReader::with_capacity(self.read_ahead, stream);
        WebSocket::handshake(url, stream, self.options.clone())
            .await
            .map_err(|err| match err {
                WebSocketError::InvalidStatusCode(status) => ConnectError::Status(status),
                other => ConnectError::Handshake(Box::new(other)),
            })
    }
}

/// One `ws://host:port`, resolved.
async fn resolve(url: &str) -> Result<(Url, SocketAddr), TargetError> {
    let base = Url::parse(url).map_err(|source| TargetError::Parse {
        url: url.to_owned(),
        source,
    })?;
    if base.scheme() != "ws" || base.host_str().is_none() {
        return Err(TargetError::Scheme(url.to_owned()));
    }
    let host = base.host_str().unwrap_or_default();
    let port = base.port_or_known_default().unwrap_or(80);
    let resolve_err = |source| TargetError::Resolve {
        url: url.to_owned(),
        source,
    };
    let addr = tokio::net::lookup_host((host.trim_matches(['[', ']']), port))
        .await
        .map_err(resolve_err)?
        .next()
        .ok_or_else(|| resolve_err(io::Error::other("no address")))?;
    Ok((base, addr))
}

/// How a connection ended, as far as the client could tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Closed {
    /// The close frame's code, `None` if the connection dropped without one.
    pub(crate) code: Option<u16>,
    /// The close frame's reason, or the error that ended the connection.
    pub(crate) reason: String,
}

/// What reading the socket gave: a data frame (text or binary), or the end.
pub(crate) enum Read {
    /// A whole message.
    Data(Frame),
    /// The connection is over.
    Closed(Closed),
}

/// Reads until a data frame or the end. Pings are answered by yawc as a side effect;
/// pongs are skipped. Cancel-safe: yawc keeps partial frames in the connection.
pub(crate) async fn read(ws: &mut Ws) -> Read {
    loop {
        match ws.next_frame().await {
            Ok(frame) => match frame.opcode() {
                OpCode::Text | OpCode::Binary => return Read::Data(frame),
                OpCode::Close => {
                    return Read::Closed(Closed {
                        code: frame.close_code().map(u16::from),
                        reason: frame
                            .close_reason()
                            .ok()
                            .flatten()
                            .unwrap_or_default()
                            .to_owned(),
                    })
                }
                _ => {}
            },
            Err(err) => {
                return Read::Closed(Closed {
                    code: None,
                    reason: err.to_string(),
                })
            }
        }
    }
}
