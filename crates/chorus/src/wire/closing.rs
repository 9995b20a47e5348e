//! The end of a connection: the closing handshake (RFC 6455 §5.5.1, §7), each step bounded
//! in time so that a client that stopped reading cannot hold the connection — its rooms,
//! its slot — open.

use std::time::Duration;

use chorus_proto::ws::frame::truncate_reason;
use chorus_proto::ws::{Frame, OpCode};
use futures::{FutureExt, SinkExt};
use tokio::io::{AsyncRead, AsyncWrite};

use super::close;
use super::error::WireError;
use super::session::Closed;
use super::socket::{Opened, Reader};

/// How long a closing handshake may take before the socket is dropped.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(3);

/// Sends our close frame; [`await_close`] then waits for the client's. Should the send
/// fail, the error is reported and there is nothing to wait for.
///
/// The send is bounded: the close often goes to a client that has stopped reading (a flood
/// cut off by the rate limit, a slow consumer, a shutdown), whose full socket would
/// otherwise hold the connection — and its rooms, its slot — forever.
pub(super) async fn send_close<S>(socket: &mut Opened<S>, code: u16, reason: String) -> Closed
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let reason = truncate_reason(&reason).to_owned();
    let frame = Frame::close(code, &reason);
    let error = match tokio::time::timeout(CLOSE_TIMEOUT, socket.send(frame)).await {
        Ok(Ok(())) => None,
        Ok(Err(err)) => Some(err.to_string()),
        Err(_) => Some("close timed out: the client stopped reading".to_owned()),
    };
    Closed {
        code: Some(code),
        reason,
        by_server: true,
        error,
    }
}

/// After our close frame: waits (bounded) for the client's, then shuts the socket.
pub(super) async fn await_close<S>(socket: &mut Opened<S>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        loop {
            match socket.next_frame().await {
                Ok(frame) if frame.opcode() == OpCode::Close => break,
                Ok(_) => continue,
                Err(_) => break,
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close()).await;
}

/// After the client's close: echoes it (RFC 6455 §5.5.1: with the code, and the reason,
/// it carried), then shuts the socket.
pub(super) async fn finish<S>(socket: &mut Opened<S>, closed: &Closed)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        match &mut socket.reader {
            Reader::Direct { .. } => {
                // 1005 (no code came) makes a close frame without a payload.
                let echo = Frame::close(closed.code.unwrap_or(close::NO_STATUS), &closed.reason);
                let _ = socket.send(echo).await;
            }
            // The codec queued its echo, and writes it on the next read, which then
            // reports the connection closed.
            Reader::Codec(_) => {
                let _ = socket.next_frame().await;
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close()).await;
}

/// Fails the connection after a protocol error: makes sure a close frame with `code` goes
/// out, then shuts the socket.
///
/// The codec sends that close itself for errors found while decoding a frame, but not for
/// those found after reassembly (invalid UTF-8 in a message, a message over the size limit,
/// a bad fragment sequence). It marks itself closed when it did send one, so the next read
/// reports `ConnectionClosed` at once; anything else means the close is ours to send.
pub(super) async fn fail_connection<S>(socket: &mut Opened<S>, code: u16, err: &WireError)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let ours_to_send = socket.is_direct()
        || !matches!(
            socket.next_frame().now_or_never(),
            Some(Err(WireError::Closed))
        );
    if ours_to_send {
        let frame = Frame::close(code, &err.to_string());
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.send(frame)).await;
    }
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, socket.close()).await;
}
