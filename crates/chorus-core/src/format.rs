//! Wire formats: how a connection's messages are written, as the protocols register them.
//!
//! The hub fans out [`Event`]s and [`PresenceNotice`]s without knowing any protocol. Each
//! protocol registers a [`Format`] once per process with its [`Encode`] — native JSON,
//! Socket.IO packets, plain WebSocket frames, and whatever comes next — and a connection's
//! mailbox says which format it speaks. A broadcast is encoded at most once per format, the
//! first time a recipient of that format is written to (see [`crate::Broadcast`]); adding a
//! format changes nothing here.
//!
//! A format is a `u8` index into a process-wide table of at most [`MAX_FORMATS`] encoders:
//! every connection holds one, so it is a byte, not a pointer, and a broadcast's cache of
//! encodings is a fixed array indexed by it.

use std::fmt;
use std::sync::{Mutex, OnceLock};

use chorus_proto::WsMessage;

use crate::{Event, PresenceNotice};

/// How many formats a process may register.
pub const MAX_FORMATS: usize = 8;

/// How one wire format writes what the hub fans out.
pub trait Encode: Send + Sync + 'static {
    /// The format's name, for logs.
    fn name(&self) -> &'static str;

    /// The event in this format; `None` if it has no form in it (a client of this format
    /// does not receive it).
    fn event(&self, event: &Event) -> Option<Encoded>;

    /// The presence notice in this format; `None` (the default) if the format has none.
    fn presence(&self, _notice: &PresenceNotice) -> Option<Encoded> {
        None
    }
}

/// A registered wire format: what a connection speaks.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Format(u8);

static ENCODERS: [OnceLock<&'static dyn Encode>; MAX_FORMATS] =
    [const { OnceLock::new() }; MAX_FORMATS];
static REGISTERED: Mutex<usize> = Mutex::new(0);

impl Format {
    /// Registers a format. A protocol does this once per process (a `LazyLock`), and uses
    /// the returned format for every connection that speaks it.
    ///
    /// # Panics
    ///
    /// If [`MAX_FORMATS`] are registered already.
    pub fn register(encoder: &'static dyn Encode) -> Format {
        let mut registered = REGISTERED.lock().unwrap_or_else(|e| e.into_inner());
        let index = *registered;
        assert!(
            index < MAX_FORMATS,
            "chorus-core: more than {MAX_FORMATS} wire formats registered"
        );
        let _ = ENCODERS[index].set(encoder);
        *registered += 1;
        Format(index as u8)
    }

    /// The format's name.
    pub fn name(self) -> &'static str {
        self.encoder().name()
    }

    pub(crate) fn index(self) -> usize {
        usize::from(self.0)
    }

    pub(crate) fn encoder(self) -> &'static dyn Encode {
        *ENCODERS[self.index()]
            .get()
            .expect("a format is made only by registering it")
    }
}

impl fmt::Debug for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A message in one wire format: usually one WebSocket message, several when a protocol
/// sends binary attachments after a text packet (Socket.IO). The messages of one item are
/// always written together, in order.
#[derive(Debug, Clone)]
pub enum Encoded {
    /// One message.
    One(WsMessage),
    /// Several messages that must not be separated.
    Many(Box<[WsMessage]>),
}

impl Encoded {
    /// The messages, in order.
    pub fn messages(&self) -> &[WsMessage] {
        match self {
            Encoded::One(msg) => std::slice::from_ref(msg),
            Encoded::Many(msgs) => msgs,
        }
    }

    /// Total payload bytes.
    pub fn len(&self) -> usize {
        self.messages().iter().map(|m| m.payload.len()).sum()
    }

    /// True when there is no payload at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl From<WsMessage> for Encoded {
    fn from(msg: WsMessage) -> Self {
        Encoded::One(msg)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Formats for the crate's own tests: the hub needs one to deliver anything, and the
    //! protocols' are not the hub's business.

    use std::sync::LazyLock;

    use super::*;

    /// Events as `name` text messages, presence as `presence:<action>:<name>`.
    struct Plain;

    impl Encode for Plain {
        fn name(&self) -> &'static str {
            "plain"
        }

        fn event(&self, event: &Event) -> Option<Encoded> {
            Some(WsMessage::text(event.name.to_string()).into())
        }

        fn presence(&self, notice: &PresenceNotice) -> Option<Encoded> {
            let text = format!("presence:{:?}:{}", notice.action, notice.member.name);
            Some(WsMessage::text(text).into())
        }
    }

    static PLAIN: LazyLock<Format> = LazyLock::new(|| Format::register(&Plain));

    pub(crate) fn plain() -> Format {
        *PLAIN
    }
}
