//! A Socket.IO CONNECT: who the client is (its `auth.token`, or the handshake's), whether
//! the namespace's middlewares let it in, and its socket — new, or restored with what it
//! missed when it claims a recovery session.
//!
//! A restore reads the store (the session, when a previous server left it there; what the
//! client missed), so it runs as a task of its own: nothing here ever waits for the store
//! on the connection's task. The client waits for the CONNECT answer anyway, and sends
//! nothing to the namespace before it.
//!
//! With a connect hook, the backend is asked (with the CONNECT's `auth` payload) after the
//! token and the middlewares passed, off the connection's task too: a refusal is a
//! CONNECT_ERROR with the backend's reason, and who it says the client is (user, name,
//! data) is the socket's unless a token says otherwise.

use std::sync::Arc;

use chorus_core::{Mailbox, Outbound, RestoreDone};
use chorus_proto::socketio;
use serde_json::value::RawValue;

use super::link::Link;
use super::recovery::{Claim, Found, SessionLink};
use super::wire::SocketIoWire;
use super::SocketIoConfig;
use crate::auth::{self, AuthError, Grant, Identity};
use crate::events::{self, Handshake, Io, Socket};
use crate::hooks::{Hooks, Verdict};
use crate::wire::HandshakeInfo;

/// What answering a CONNECT needs of its connection: cheap to clone into a task.
#[derive(Clone)]
pub(crate) struct Connector {
    pub(crate) mailbox: Arc<Mailbox>,
    /// The request, shared with every socket of this connection.
    pub(crate) info: Arc<HandshakeInfo>,
    pub(crate) link: Arc<Link>,
    pub(crate) config: SocketIoConfig,
}

/// A CONNECT let in: everything but the socket.
struct Admitted {
    io: Io,
    nsp: Arc<str>,
    handshake: Handshake,
    name: Option<Arc<str>>,
    sub: Option<Arc<str>>,
    grant: Option<Arc<Grant>>,
    /// Public data the backend gave (presence shows it).
    data: Option<Arc<RawValue>>,
}

impl Connector {
    /// Answers a CONNECT to namespace `io`.
    pub(crate) fn connect(&self, io: Io, nsp: &str, auth: Option<Box<RawValue>>) {
        let nsp: Arc<str> = Arc::from(nsp);
        if !self.link.begin(&nsp) {
            return;
        }
        let Some(admitted) = self.admit(io, nsp.clone(), auth) else {
            return self.link.abandon(&nsp);
        };
        match self.config.hooks.clone() {
            Some(hooks) => {
                let connector = self.clone();
                tokio::spawn(async move { connector.ask(&hooks, admitted).await });
            }
            None => self.open(admitted),
        }
    }

    /// The backend's connect hook; the socket opened if it allows.
    async fn ask(self, hooks: &Hooks, mut admitted: Admitted) {
        let auth = admitted.handshake.auth.clone();
        let verdict = hooks
            .connect("socket.io", &admitted.nsp, &self.info, auth.as_deref())
            .await;
        let refusal = match verdict {
            Verdict::Allow(who) => {
                // A token says who the client is, if it has one; else the backend.
                if admitted.sub.is_none() {
                    admitted.sub = who.user;
                    admitted.name = who.name;
                }
                admitted.data = who.data;
                return self.open(admitted);
            }
            Verdict::Deny(reason) => reason,
            Verdict::Unavailable => "the application's backend did not answer; try again".into(),
        };
        self.refuse(&admitted.nsp, &refusal, None);
        self.link.abandon(&admitted.nsp);
    }

    /// Opens the socket of a CONNECT let in: new, or restored if it claims a session.
    fn open(&self, admitted: Admitted) {
        let claim = self
            .config
            .recovery
            .as_ref()
            .and_then(|recovery| recovery.claim(admitted.handshake.auth.as_deref()));
        match claim {
            None => {
                let (socket, session) = self.start(&admitted);
                self.finish(admitted, socket, session);
            }
            Some(claim) => {
                let connector = self.clone();
                tokio::spawn(async move { connector.recover(admitted, claim).await });
            }
        }
    }

    /// The checks of a CONNECT: the token, then the namespace's middlewares. A refusal is
    /// answered with a CONNECT_ERROR; the session stays open for another try.
    fn admit(&self, io: Io, nsp: Arc<str>, auth: Option<Box<RawValue>>) -> Option<Admitted> {
        let identity = match self.identify(auth.as_deref()) {
            Ok(identity) => identity,
            Err(err) => {
                let message = match err {
                    AuthError::Missing => "token required",
                    _ => "invalid token",
                };
                let data = serde_json::value::to_raw_value(&err.to_json()).ok();
                self.refuse(&nsp, message, data.as_deref());
                return None;
            }
        };
        let grant = auth::grant_for(self.config.auth.as_ref(), identity.as_ref());
        let handshake = Handshake::new(self.info.clone(), auth.map(Arc::from), grant.clone());
        if let Err(refused) = io.admit(&handshake) {
            let data = refused
                .data
                .as_ref()
                .and_then(|d| serde_json::value::to_raw_value(d).ok());
            self.refuse(&nsp, &refused.message, data.as_deref());
            return None;
        }
        Some(Admitted {
            io,
            nsp,
            handshake,
            name: identity.as_ref().map(|id| Arc::from(id.nickname())),
            sub: identity.as_ref().map(|id| Arc::from(id.user_id.as_str())),
            grant,
            data: None,
        })
    }

    fn refuse(&self, nsp: &str, message: &str, data: Option<&RawValue>) {
        let packet = socketio::connect_error(nsp, message, data);
        self.mailbox
            .push(self.config.parser.out(Outbound::Message(packet)));
    }

    /// The restore of a claimed session, off the connection's task; a new socket if it
    /// cannot be restored.
    async fn recover(self, admitted: Admitted, claim: Claim) {
        let recovery = self
            .config
            .recovery
            .clone()
            .expect("a claim needs recovery on");
        let (nsp, sub) = (admitted.nsp.clone(), admitted.sub.clone());
        // The session may have to be read from the store (a previous server left it).
        let found = tokio::task::spawn_blocking(move || recovery.find(claim, &nsp, sub.as_deref()))
            .await
            .ok()
            .flatten();
        let restored = match found {
            Some(found) => self.restore(&admitted, found).await,
            None => None,
        };
        let (socket, session) = match restored {
            Some(restored) => restored,
            None => self.start(&admitted),
        };
        self.finish(admitted, socket, session);
    }

    /// The socket a reconnecting client left, restored — same id, rooms, and every stored
    /// message it missed (see `recovery.rs`) — if nothing it missed is lost.
    async fn restore(
        &self,
        admitted: &Admitted,
        found: Found,
    ) -> Option<(Socket, Option<SessionLink>)> {
        let recovery = self.config.recovery.as_ref()?;
        let ns = &admitted.io.inner.ns;
        // Taken only if the old socket is gone from the namespace (it may still be on its
        // way out): if not, the client starts afresh and the session waits as it was.
        let Some(peer) = ns.attach_as(found.sid, self.mailbox.clone(), admitted.name.clone())
        else {
            recovery.release(found);
            return None;
        };
        if let Some(sub) = &admitted.sub {
            ns.set_user(&peer, sub);
        }
        if let Some(data) = &admitted.data {
            peer.set(None, Some(data.clone()));
        }
        let connect = self.config.parser.out(Outbound::Message(socketio::connect(
            &admitted.nsp,
            &peer.id().to_string(),
            Some(found.pid()),
        )));
        let greeted = peer.clone();
        let (told, outcome) = tokio::sync::oneshot::channel();
        let done: RestoreDone = Box::new(move |restored| drop(told.send(restored)));
        ns.restore(
            &peer,
            found.rooms.clone(),
            found.after_seq,
            recovery.max_replay(),
            // The CONNECT answer goes first, before what was missed.
            Box::new(move || {
                greeted.push(connect);
            }),
            done,
        );
        let restored = match outcome.await {
            Ok(Ok(Some(restored))) => restored,
            Ok(Ok(None)) => {
                ns.disconnect(&peer);
                recovery.forget(found);
                return None;
            }
            Ok(Err(err)) => {
                // The store failed: the session is kept for a later try.
                tracing::warn!(%err, "socket.io: restoring a session failed");
                ns.disconnect(&peer);
                recovery.release(found);
                return None;
            }
            Err(_) => {
                ns.disconnect(&peer);
                recovery.release(found);
                return None;
            }
        };
        tracing::debug!(replayed = restored.replayed, "socket.io: session recovered");
        let session = recovery.own(found.session());
        let wire = self.wire(Some(session.clone()), true);
        let socket = admitted.io.open(peer, admitted.handshake.clone(), wire);
        Some((socket, Some(session)))
    }

    /// A new socket (with a new recovery session, if the server keeps them).
    fn start(&self, admitted: &Admitted) -> (Socket, Option<SessionLink>) {
        let ns = &admitted.io.inner.ns;
        let peer = ns.attach(self.mailbox.clone(), admitted.name.clone());
        if let Some(sub) = &admitted.sub {
            ns.set_user(&peer, sub);
        }
        if let Some(data) = &admitted.data {
            peer.set(None, Some(data.clone()));
        }
        let session = self.config.recovery.as_ref().map(|recovery| {
            let session = recovery.create(admitted.nsp.clone(), peer.id(), admitted.sub.clone());
            recovery.own(&session)
        });
        // The CONNECT answer goes first, before any handler can emit.
        let pid = session.as_ref().map(|s| s.pid().clone());
        let connect = socketio::connect(&admitted.nsp, &peer.id().to_string(), pid.as_deref());
        peer.push(self.config.parser.out(Outbound::Message(connect)));
        let wire = self.wire(session.clone(), false);
        let socket = admitted.io.open(peer, admitted.handshake.clone(), wire);
        (socket, session)
    }

    /// The socket joins the connection; its token's expiry disconnects it.
    fn finish(&self, admitted: Admitted, socket: Socket, session: Option<SessionLink>) {
        if let Some(session) = session {
            session.set_socket(&socket);
        }
        if let Some(grant) = &admitted.grant {
            // At expiry the server disconnects the socket, as `socket.disconnect()` would.
            let weak = Arc::downgrade(&socket.inner);
            grant.arm(move |_| {
                if let Some(inner) = weak.upgrade() {
                    Socket { inner }.disconnect();
                }
            });
        }
        if !socket.connected() {
            return self.link.abandon(&admitted.nsp);
        }
        if !self.link.insert(admitted.nsp, socket.clone()) {
            // The connection closed while the socket was being opened.
            events::close(&socket, "transport close");
        }
    }

    fn wire(&self, session: Option<SessionLink>, recovered: bool) -> Box<SocketIoWire> {
        Box::new(SocketIoWire {
            link: Arc::downgrade(&self.link),
            session,
            recovered,
            parser: self.config.parser,
        })
    }

    /// Who a CONNECT proves the client to be: its `auth.token` verified, else the
    /// handshake's identity (still unexpired), else anonymous if that is allowed.
    fn identify(&self, auth: Option<&RawValue>) -> Result<Option<Arc<Identity>>, AuthError> {
        let Some(checker) = &self.config.auth else {
            return Ok(None);
        };
        #[derive(serde::Deserialize)]
        struct AuthToken {
            token: Option<serde_json::Value>,
        }
        let token = auth
            .and_then(|raw| serde_json::from_str::<AuthToken>(raw.get()).ok())
            .and_then(|a| a.token);
        match token {
            Some(serde_json::Value::String(token)) if !token.is_empty() => {
                checker.verify(&token).map(|id| Some(Arc::new(id)))
            }
            // An empty or null token is no token.
            Some(serde_json::Value::String(_) | serde_json::Value::Null) | None => {
                match &self.info.identity {
                    Some(identity) if checker.verifier.expired(identity) => {
                        checker.count(&AuthError::Expired);
                        Err(AuthError::Expired)
                    }
                    // Revoked since the handshake checked it.
                    Some(identity) if checker.is_revoked(identity) => {
                        checker.count(&AuthError::Revoked);
                        Err(AuthError::Revoked)
                    }
                    Some(identity) => Ok(Some(identity.clone())),
                    None if checker.anonymous() => Ok(None),
                    None => {
                        checker.count(&AuthError::Missing);
                        Err(AuthError::Missing)
                    }
                }
            }
            Some(_) => {
                let err = AuthError::Malformed("`auth.token` must be a string".into());
                checker.count(&err);
                Err(err)
            }
        }
    }
}
