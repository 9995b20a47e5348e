//! The parser a server's Socket.IO clients share (socket.io's `parser` option): the
//! default one, or `socket.io-msgpack-parser`. Packets are built in the default form
//! everywhere; with MessagePack each leaves as one binary message ([`Parser::out`], and
//! the broadcast formats in [`super::format`]), and a client's binary message is read as
//! one packet (`chorus_proto::socketio::msgpack`).

use chorus_core::Outbound;
use chorus_proto::socketio::msgpack;
use chorus_proto::WsMessage;

use crate::config::SocketIoParser;

/// The server's Socket.IO parser.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Parser(pub(crate) SocketIoParser);

impl Parser {
    /// Whether clients speak MessagePack.
    pub(crate) fn is_msgpack(self) -> bool {
        self.0 == SocketIoParser::Msgpack
    }

    /// A packet built for one connection (with its attachments, if any), as this parser
    /// writes it.
    pub(crate) fn out(self, item: Outbound) -> Outbound {
        if !self.is_msgpack() {
            return item;
        }
        let rewritten = match &item {
            Outbound::Message(msg) => to_msgpack(std::slice::from_ref(msg)),
            Outbound::Messages(msgs) => to_msgpack(msgs),
            Outbound::Shared(_) | Outbound::Close(_) => None,
        };
        rewritten.map_or(item, Outbound::Message)
    }
}

/// A packet in the default form — its text, then its attachments — as one MessagePack
/// message; `None` if it is not one (nothing the server builds).
pub(crate) fn to_msgpack(messages: &[WsMessage]) -> Option<WsMessage> {
    let (packet, attachments) = messages.split_first()?;
    // The Engine.IO `message` type the built packet starts with; a binary message carries
    // none.
    let text = packet.as_text()?.strip_prefix('4')?;
    let attachments: Vec<bytes::Bytes> = attachments.iter().map(|m| m.payload.clone()).collect();
    match msgpack::encode(text, &attachments) {
        Ok(bytes) => Some(WsMessage::binary(bytes)),
        Err(err) => {
            tracing::warn!(%err, "socket.io: a packet could not be written as MessagePack");
            None
        }
    }
}
