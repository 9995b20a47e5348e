//! An Engine.IO session's WebSocket: open directly, or upgraded from long-polling.
//!
//! The upgrade follows the protocol: the client opens a WebSocket with the session's
//! `sid` and sends `2probe`; we answer `3probe` on the WebSocket and answer the long-poll
//! in progress (or the next one) with a noop — on the polling transport, as the reference
//! server does, never in the queue the WebSocket takes over; the client sends `5`, and from then on
//! the WebSocket carries the session: it takes the queue as soon as the last long-poll
//! gives it back, so nothing queued meanwhile is lost or reordered. A probe that fails or
//! takes longer than the upgrade timeout leaves the session on long-polling.

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use chorus_core::Outbound;
use chorus_proto::engineio;
use chorus_proto::ws::{Frame, OpCode};
use futures::future::Either;
use futures::{FutureExt, SinkExt};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{EngineSession, TransportKind, WsCarrier};
use super::Engine;
use crate::refusal::Refusal;
use crate::session::Context;
use crate::wire::closing::CLOSE_TIMEOUT;
use crate::wire::handshake::{handshake, Upgrade};
use crate::wire::socket::Opened;
use crate::wire::{close, connection, HandshakeInfo};

/// A session that starts on WebSocket.
pub(super) fn open(engine: Arc<Engine>, ctx: &Context, req: Request) -> Response {
    let defer = engine.defers_missing_token();
    let admit = |info: &mut HandshakeInfo| ctx.authenticate(info, defer);
    let (response, upgrade, info) = match handshake::<Refusal>(req, None, &ctx.config, admit) {
        Ok(accepted) => accepted,
        Err(refused) => return ctx.refuse(refused),
    };
    let (session, queue) = engine.create(info, TransportKind::WebSocket);
    connection::spawn(
        upgrade,
        queue,
        WsCarrier { session },
        ctx.engine_transport(),
    );
    response
}

/// A WebSocket that wants to take over a long-polling session.
pub(super) fn upgrade(
    engine: Arc<Engine>,
    ctx: &Context,
    session: Arc<EngineSession>,
    req: Request,
) -> Response {
    if !session.begin_upgrade() {
        // Already upgraded, or another WebSocket is probing: like the reference server,
        // accept the WebSocket and close it at once, leaving the session alone.
        return match handshake::<Refusal>(req, None, &ctx.config, |_| Ok(())) {
            Ok((response, upgrade, _)) => {
                tokio::spawn(async move {
                    if let Ok(mut opened) = upgrade.upgraded.await {
                        let frame = Frame::close(close::NORMAL, "session already upgraded");
                        // Bounded: a client that does not read must not keep this task.
                        let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
                            let _ = opened.send(frame).await;
                            let _ = opened.close().await;
                        })
                        .await;
                    }
                });
                response
            }
            Err(refused) => ctx.refuse(refused),
        };
    }
    let (response, upgrade, _info) = match handshake::<Refusal>(req, None, &ctx.config, |_| Ok(()))
    {
        Ok(accepted) => accepted,
        Err(refused) => {
            session.set_transport(TransportKind::Polling);
            session.upgrade_failed();
            return ctx.refuse(refused);
        }
    };
    let config = ctx.engine_transport();
    let timeout = engine.config.upgrade_timeout;
    let Upgrade { upgraded, slot } = upgrade;
    let probed = async move {
        let mut opened = match upgraded.await {
            Ok(opened) => opened,
            Err(err) => {
                tracing::debug!(%err, "engine.io upgrade: the WebSocket never opened");
                session.set_transport(TransportKind::Polling);
                session.upgrade_failed();
                return None;
            }
        };
        match tokio::time::timeout(timeout, probe(&mut opened, &session)).await {
            Ok(true) => {}
            _ => {
                tracing::debug!(sid = %session.sid, "engine.io upgrade: probe failed");
                session.set_transport(TransportKind::Polling);
                session.upgrade_failed();
                let _ = tokio::time::timeout(CLOSE_TIMEOUT, opened.close()).await;
                return None;
            }
        }
        session.set_transport(TransportKind::WebSocket);
        let queue = session.take_queue().await;
        if let Some(Outbound::Close(reason)) = session.take_held() {
            session.mailbox.close(reason);
        }
        Some((opened, queue, session))
    };
    // The probe's future and the connection's take turns in one task's memory (`then`)
    // rather than the first staying alive beside the second for the connection's life.
    tokio::spawn(
        probed
            .then(move |probed| match probed {
                Some((opened, queue, session)) => {
                    let ready = std::future::ready(Ok::<_, std::convert::Infallible>(opened));
                    Either::Left(connection::run(ready, queue, WsCarrier { session }, config))
                }
                None => Either::Right(std::future::ready(())),
            })
            .map(move |()| drop(slot)),
    );
    response
}

/// Runs the probe exchange; true once the client sent the upgrade packet.
async fn probe<S>(ws: &mut Opened<S>, session: &EngineSession) -> bool
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    loop {
        let Ok(frame) = ws.next_frame().await else {
            return false;
        };
        match frame.opcode() {
            OpCode::Text => match &frame.payload()[..] {
                b"2probe" => {
                    let pong = engineio::pong(b"probe");
                    if ws.send(Frame::text(pong.payload)).await.is_err() {
                        return false;
                    }
                    // Ends the long-poll in progress (or the next), so the client can send
                    // `5` — on the polling transport: the WebSocket never sees that noop.
                    session.release_polls();
                }
                b"5" => return true,
                _ => return false,
            },
            OpCode::Ping => {
                if ws.pong(frame.into_payload()) && ws.flush().await.is_err() {
                    return false;
                }
            }
            OpCode::Pong => {}
            _ => return false,
        }
    }
}
