//! HTTP long-polling: a GET waits for packets, a POST brings the client's.
//!
//! A GET borrows the session's queue, waits for the first item, then takes whatever else
//! is ready (up to `maxPayload` bytes) and answers with one payload: packets joined by
//! `\x1e`, binary ones as `b<base64>`. Two GETs at once break the protocol: the session
//! ends, the first GET gets a close packet and the second a 400. A POST body is bounded
//! before it is read whole.

use std::sync::Arc;

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chorus_core::Outbound;
use chorus_proto::engineio::{self, encode_payload};
use http::header;
use http_body_util::BodyExt;

use super::session::{EngineSession, TransportKind};
use super::{EngineError, MAX_PACKETS_PER_POST};
use crate::metrics::{Protocol, Traffic};
use crate::refusal::Refusal;
use crate::wire::{close, Closed};

/// Answers a long-poll GET.
pub(crate) async fn poll(
    session: Arc<EngineSession>,
    max_payload: usize,
    traffic: &Traffic,
) -> Response {
    if session.transport() == TransportKind::WebSocket {
        return EngineError::BadRequest.into_response();
    }
    let Some(mut lease) = session.lease() else {
        // Another long-poll is waiting: the client broke the protocol.
        session
            .mailbox
            .close(close::protocol_error("transport error"));
        return EngineError::BadRequest.into_response();
    };
    // During an upgrade the poll is answered with a noop (and gives the queue back) — after
    // up to 100 ms, as the reference server's upgrade check does: a `5` that completes the
    // upgrade meanwhile makes it a request for a transport the session no longer has (400).
    let first = tokio::select! {
        biased;
        () = session.poll_released() => {
            drop(lease);
            for _ in 0..10 {
                if session.transport() == TransportKind::WebSocket {
                    return EngineError::BadRequest.into_response();
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            let mut body = Vec::new();
            encode_payload([&engineio::noop()], &mut body);
            return payload_response(body);
        }
        first = lease.next() => first,
    };
    let mut body = Vec::new();
    let mut next = first;
    while let Some(item) = next.take() {
        if matches!(item, Outbound::Close(_)) && !body.is_empty() {
            lease.hold(item);
            break;
        }
        if let Outbound::Close(reason) = item {
            // The session is over: a client's own close is answered with a noop, as the
            // reference server does; a server's close with a close packet.
            let packet = if session.closed_by_client() {
                engineio::noop()
            } else {
                engineio::close()
            };
            encode_payload([&packet], &mut body);
            drop(lease);
            let closed = if session.mailbox.is_closing() {
                session.closed_from_mailbox()
            } else {
                Closed {
                    code: Some(reason.code),
                    reason: reason.reason.to_string(),
                    by_server: true,
                    error: None,
                }
            };
            session.finish(&closed);
            session.unlist();
            return payload_response(body);
        }
        let messages = item.messages_for(session.mailbox.format());
        let bytes = messages.iter().map(|m| m.payload.len() as u64).sum();
        traffic.sent(Protocol::SocketIo, messages.len() as u64, bytes);
        encode_payload(messages, &mut body);
        if body.len() >= max_payload {
            break;
        }
        // `maxPayload` bounds what the client sends; our responses stop growing once
        // past it, so one poll never turns into an unbounded buffer.
        next = lease.try_next();
    }
    if body.is_empty() {
        // Only items with no form for this client (presence for Socket.IO): a noop keeps
        // the poll cycle going.
        encode_payload([&engineio::noop()], &mut body);
    }
    payload_response(body)
}

/// Takes a POST: every packet in the body goes to the session.
pub(crate) async fn post(
    session: Arc<EngineSession>,
    body: Body,
    max_payload: usize,
    traffic: &Traffic,
) -> Response {
    if session.transport() == TransportKind::WebSocket {
        return EngineError::BadRequest.into_response();
    }
    let bytes = match read_bounded(body, max_payload).await {
        Ok(bytes) => bytes,
        Err(response) => {
            session.mailbox.close(close::too_big("transport error"));
            return *response;
        }
    };
    let packets = match engineio::decode_payload(bytes, MAX_PACKETS_PER_POST) {
        Ok(packets) => packets,
        Err(_) => {
            session.mailbox.close(close::protocol_error("parse error"));
            return EngineError::BadRequest.into_response();
        }
    };
    for packet in packets {
        traffic.received(Protocol::SocketIo, 1, packet_len(&packet));
        if session.on_packet(packet).is_err() {
            session.mailbox.close(close::protocol_error("parse error"));
            return EngineError::BadRequest.into_response();
        }
    }
    ([(header::CONTENT_TYPE, "text/html")], "ok").into_response()
}

/// Reads a body of at most `limit` bytes; a bigger one is refused (413) as soon as its
/// `Content-Length`, or the bytes read so far, say so.
async fn read_bounded(body: Body, limit: usize) -> Result<Bytes, Box<Response>> {
    let too_large = || Box::new(Refusal::TooLarge.into_response());
    // A `Content-Length` over the limit is refused before a byte of the body is read:
    // waiting for a body we will refuse anyway would let a client hold the request open.
    if axum::body::HttpBody::size_hint(&body).lower() > u64::try_from(limit).unwrap_or(u64::MAX) {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Err(_) => Err(Box::new(EngineError::BadRequest.into_response())),
    }
}

/// A polling payload response.
pub(crate) fn payload_response(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=UTF-8")], body).into_response()
}

/// A packet's payload length, as the traffic counters count it.
fn packet_len(packet: &engineio::Packet) -> u64 {
    match packet {
        engineio::Packet::Message(msg) => msg.payload.len() as u64,
        engineio::Packet::Ping(data) | engineio::Packet::Pong(data) => data.len() as u64,
        _ => 0,
    }
}
