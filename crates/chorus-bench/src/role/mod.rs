//! What a connection does once the scenario has given it a part: listen, publish, or
//! echo. One task per connection; each owns its socket outright (no locks, no split
//! halves) and reads continuously from the moment it is set up, because a connection
//! that stops reading gets its outbound queue filled by the server and is dropped as a
//! slow consumer, which would be the bench's fault, not the server's.
//!
//! * [`receiver`]: delivery accounting (loss, latency, progress) for a receiving connection.
//! * [`listener`]: a member that only receives (fan-out subscribers, idle connections).
//! * [`publisher`]: a member that publishes at a rate or within a window, and may also
//!   receive its own messages.
//! * [`echoer`]: a member alone in its room keeping messages in flight to itself.

pub(crate) mod echoer;
pub(crate) mod listener;
pub(crate) mod publisher;
pub(crate) mod receiver;

use std::collections::VecDeque;
use std::time::Duration;

use futures::SinkExt;
use yawc::close::CloseCode;
use yawc::frame::Frame;

use crate::transport::{Closed, Ws};

/// How long a polite close may take before the socket is just dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Sends a normal close frame, so the server logs a clean departure; gives up quickly:
/// at the end of a run nobody waits for the answer.
pub(crate) async fn close(ws: &mut Ws) {
    let _ = tokio::time::timeout(
        CLOSE_GRACE,
        ws.send(Frame::close(CloseCode::Normal, b"bench done")),
    )
    .await;
}

/// After a connection's role is over: a polite close if the run ended it, or, if the
/// connection ended first, counted as a disconnect and its receiver (if any) told to stop
/// expecting messages.
pub(crate) async fn finish(
    ws: &mut Ws,
    ended: &Option<Closed>,
    run: &crate::run::Run,
    index: usize,
    receiver: Option<&receiver::Receiver>,
) {
    match ended {
        None => close(ws).await,
        Some(_) => {
            run.stats.disconnected.add(index, 1);
            if let Some(receiver) = receiver {
                receiver.depart();
            }
        }
    }
}

/// A failed send, as the connection's end.
pub(crate) fn send_failed(err: &yawc::WebSocketError) -> Closed {
    Closed {
        code: None,
        reason: format!("send failed: {err}"),
    }
}

/// Sends one text frame now (a pong, a join): written and flushed.
pub(crate) async fn send_text(ws: &mut Ws, text: &'static str) -> Result<(), Closed> {
    ws.send(Frame::text(text))
        .await
        .map_err(|err| send_failed(&err))
}

/// Removes the pending publish `seq` and returns its send time. Acknowledgements come
/// in order, so this is almost always the front.
pub(crate) fn take_pending(pending: &mut VecDeque<(u64, u64)>, seq: u64) -> Option<u64> {
    if pending.front().is_some_and(|&(s, _)| s == seq) {
        return pending.pop_front().map(|(_, t)| t);
    }
    let at = pending.iter().position(|&(s, _)| s == seq)?;
    pending.remove(at).map(|(_, t)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_acks_match_in_any_order() {
        let mut p: VecDeque<(u64, u64)> = (0..5).map(|s| (s, s * 10)).collect();
        assert_eq!(take_pending(&mut p, 0), Some(0));
        assert_eq!(take_pending(&mut p, 3), Some(30));
        assert_eq!(take_pending(&mut p, 3), None);
        assert_eq!(take_pending(&mut p, 1), Some(10));
        assert_eq!(p.len(), 2);
    }
}
