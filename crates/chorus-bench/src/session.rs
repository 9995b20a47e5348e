//! Turning an open WebSocket into a member of a room: each protocol's greeting and join.
//!
//! | proto | setup |
//! |---|---|
//! | raw | nothing: the path was the room |
//! | native | wait for `hello`; `join` and wait for its `reply` |
//! | socketio | wait for the Engine.IO open; `40` and wait for `40…`; `join` and wait for its ack |
//!
//! Setup is strict (a refused join fails the connection, with the server's answer) so a
//! misconfigured server shows up as counted failures instead of silent zero deliveries.
//! Frames that are not the awaited answer (presence notices, other members' messages)
//! are skipped; Engine.IO pings are answered even here, since a slow setup of thousands
//! of connections can outlast a ping interval.

use futures::SinkExt;
use thiserror::Error;
use yawc::frame::Frame;

use crate::proto::{socketio, Inbound, Proto, JOIN_ID};
use crate::transport::{self, Closed, Read, Ws};

/// A connection was opened but could not be set up.
#[derive(Debug, Error)]
pub(crate) enum SessionError {
    /// The server closed the connection during setup.
    #[error("closed during setup (code {code:?}): {reason}", code = .0.code, reason = .0.reason)]
    Closed(Closed),
    /// Sending a setup frame failed.
    #[error("send: {0}")]
    Send(Box<yawc::WebSocketError>),
    /// Socket.IO refused the namespace connection.
    #[error("Socket.IO connect refused: {0}")]
    Refused(String),
    /// The join was answered with an error.
    #[error("join refused: {0}")]
    JoinRefused(String),
}

/// Sends one text frame now.
pub(crate) async fn send(ws: &mut Ws, text: impl Into<bytes::Bytes>) -> Result<(), SessionError> {
    ws.send(Frame::text(text.into()))
        .await
        .map_err(|e| SessionError::Send(Box::new(e)))
}

/// Runs `proto`'s setup on `ws` and joins `room` (which the path already chose for raw).
pub(crate) async fn open(ws: &mut Ws, proto: Proto, room: &str) -> Result<(), SessionError> {
    match proto {
        Proto::Raw => return Ok(()),
        Proto::Native => {
            wait_for(ws, proto, |i, _| (i == Inbound::Greeting).then_some(())).await?;
        }
        Proto::Socketio => {
            wait_for(ws, proto, |i, _| (i == Inbound::Greeting).then_some(())).await?;
            send(ws, socketio::CONNECT).await?;
            wait_for(ws, proto, |i, text| match i {
                Inbound::Connected => Some(Ok(())),
                Inbound::Refused => Some(Err(lossy(text))),
                _ => None,
            })
            .await?
            .map_err(SessionError::Refused)?;
        }
    }
    if let Some(join) = proto.join(room) {
        send(ws, join).await?;
        wait_for(ws, proto, |i, text| match i {
            Inbound::Reply { id, ok } if id == JOIN_ID => {
                Some(if ok { Ok(()) } else { Err(lossy(text)) })
            }
            _ => None,
        })
        .await?
        .map_err(SessionError::JoinRefused)?;
    }
    Ok(())
}

/// Reads until `answer` recognises a frame (given its meaning and its text) and
/// returns what `answer` made of it.
async fn wait_for<T>(
    ws: &mut Ws,
    proto: Proto,
    mut answer: impl FnMut(Inbound<'_>, &[u8]) -> Option<T>,
) -> Result<T, SessionError> {
    loop {
        let frame = match transport::read(ws).await {
            Read::Data(frame) => frame,
            Read::Closed(closed) => return Err(SessionError::Closed(closed)),
        };
        let inbound = proto.classify(frame.payload());
        if inbound == Inbound::Ping {
            send(ws, socketio::PONG).await?;
        } else if let Some(found) = answer(inbound, frame.payload()) {
            return Ok(found);
        }
    }
}

fn lossy(text: &[u8]) -> String {
    String::from_utf8_lossy(text).into_owned()
}
