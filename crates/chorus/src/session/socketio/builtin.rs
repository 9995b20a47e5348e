//! The events `chorus serve` gives Socket.IO clients, so they can use rooms without any
//! server code — and chat with the native `/ws` clients in the same rooms.
//!
//! Socket.IO has no client-side room commands: rooms are the server application's business.
//! A server with no application code (the `chorus` binary) answers these events instead, the
//! counterparts of the native protocol's commands (see `docs/socketio.md`):
//!
//! | client emits | does | acks with |
//! |---|---|---|
//! | `join` (room) | joins the room; members hear a presence `join` | `{room, members}` |
//! | `leave` (room) | leaves it | `{room}` |
//! | `set` ({name}) | sets the nickname shown to native clients | `{name}` |
//! | `to` (room, event, ...args) | sends `event` with the args to the room's *other* members (socket.io's `socket.to(room).emit`) | `{delivered}` (+ `offset`, `epoch` once stored, in a room with history) |
//! | `broadcast` (event, ...args) | sends it to everyone else (`socket.broadcast.emit`) | `{delivered}` |
//! | `refresh` (token) | replaces the socket's token (same user), as the native `refresh` | `{expires_at, name, left}` |
//!
//! `to` and `broadcast` need `client_emits` (on by default), and `to` needs the sender to be
//! in the room, as for native clients. Errors are acked as `{error: {code, message}}`, with
//! the codes the native protocol uses.
//!
//! A socket with a token (see `docs/auth.md`) is held to it, as a native client is: `join`
//! needs its `join` claim to allow the room, `to` its `publish` claim, `broadcast` a
//! `publish` claim that allows every room; its name is the token's, so `set` is refused.
//! The checks are the hub's one check of what a client asks for itself
//! (`chorus_core::Namespace::permit`), the same as for native and raw clients; application
//! code can make it with [`Socket::check_join`].
//!
//! With hooks to the application's backend that decide joins or publishes (`chorus serve`'s
//! `[hooks]`), `join` asks the backend too, and `to` and `broadcast` ask it before they
//! send; every built-in event then waits in the socket's lane, so they are carried out in
//! the order the client sent them. A refusal is acked as `{error: {code: "forbidden",
//! message: <the backend's reason>}}`, no answer as `unavailable`.

use chorus_core::{EventData, Forbidden, HubError};
use serde_json::json;
use serde_json::value::RawValue;

use std::sync::Arc;

use crate::config::HookAsk;
use crate::events::{Ack, Data, EventFn, Io, Socket};
use crate::hooks::{Asker, Destination, Hooks, Lane, Verdict};

/// Installs the built-in events on every Socket.IO socket of `io`. The handlers are made
/// once and shared: each socket holds only its references to them.
pub fn install(io: &Io, client_emits: bool) {
    let table = table(client_emits);
    io.on_connection(move |socket| {
        if socket.is_socketio() {
            socket.on_each(&table.0);
        }
    });
}

/// Registers the built-in events on one socket.
pub fn events(socket: &Socket, client_emits: bool) {
    socket.on_each(&table(client_emits).0);
}

/// The built-in handlers, by event name.
struct Table(Vec<(&'static str, EventFn)>);

impl Table {
    /// Adds the handler of `event`: at once, or through the backend when hooks decide.
    fn on(&mut self, event: &'static str, f: impl Fn(&Socket, Data, Ack) + Send + Sync + 'static) {
        let f = Arc::new(f);
        self.0.push((
            event,
            Arc::new(move |socket: &Socket, data: Data, ack: Ack| {
                // A token's refresh must not wait behind slow questions past the old
                // token's expiry.
                let hooked = socket.inner.io.hooks.get().filter(|hooks| {
                    event != "refresh"
                        && (hooks.asks(HookAsk::Join) || hooks.asks(HookAsk::Publish))
                });
                match hooked {
                    None => f(socket, data, ack),
                    Some(hooks) => {
                        through_backend(hooks.clone(), socket, event, data, ack, f.clone())
                    }
                }
            }),
        ));
    }
}

/// Runs `f` in the socket's lane, once the backend allowed what `event` asks.
fn through_backend(
    hooks: Arc<Hooks>,
    socket: &Socket,
    event: &'static str,
    data: Data,
    ack: Ack,
    f: EventFn,
) {
    let lane = {
        let mut extensions = socket.inner.data.lock();
        match extensions.get::<Lane>() {
            Some(lane) => lane.clone(),
            None => {
                let lane = Lane::default();
                extensions.insert(lane.clone());
                let closing = lane.clone();
                socket.on_disconnect(move |_, _| closing.close());
                lane
            }
        }
    };
    let owned = socket.clone();
    let counter = hooks.clone();
    let (answer, answered) = tokio::sync::oneshot::channel::<Ack>();
    let job = async move {
        let Ok(ack) = answered.await else { return };
        let socket = owned;
        let verdict = ask(&hooks, &socket, event, &data).await;
        if !socket.connected() {
            return;
        }
        match verdict {
            None | Some(Verdict::Allow(_)) => f(&socket, data, ack),
            Some(Verdict::Deny(reason)) => refuse(ack, "forbidden", &reason),
            Some(Verdict::Unavailable) => refuse(
                ack,
                "unavailable",
                "the application's backend did not answer; try again",
            ),
        }
    };
    match lane.run(job) {
        Ok(()) => drop(answer.send(ack)),
        Err(_) => {
            counter.busy();
            refuse(
                ack,
                "unavailable",
                "too many requests are waiting for the application's backend",
            );
        }
    }
}

/// What the backend decides of a built-in event, if it decides it.
async fn ask(hooks: &Hooks, socket: &Socket, event: &str, data: &Data) -> Option<Verdict> {
    let ns = &socket.inner.io.ns;
    let user = ns.user_of(socket.id());
    let conn = socket.id().to_string();
    let asker = Asker {
        protocol: "socket.io",
        namespace: ns.name(),
        conn: &conn,
        user: user.as_deref(),
    };
    match event {
        "join" if hooks.asks(HookAsk::Join) => {
            let room = data.as_str()?;
            // What the token refuses is refused without asking (by the handler).
            socket.check_join(&room).ok()?;
            Some(hooks.join(asker, &room).await)
        }
        "to" if hooks.asks(HookAsk::Publish) => {
            let (room, name) = (text(data, 0)?, text(data, 1)?);
            let args = rest(data, 2);
            Some(
                hooks
                    .publish(asker, Destination::Room(&room), Some(&name), args.inner())
                    .await,
            )
        }
        "broadcast" if hooks.asks(HookAsk::Publish) => {
            let name = text(data, 0)?;
            let args = rest(data, 1);
            Some(
                hooks
                    .publish(asker, Destination::All(true), Some(&name), args.inner())
                    .await,
            )
        }
        _ => None,
    }
}

fn table(client_emits: bool) -> Table {
    let mut socket = Table(Vec::new());
    socket.on("join", |socket, data, ack| {
        let Some(room) = data.as_str() else {
            return refuse(ack, "bad_request", "join takes a room name");
        };
        if let Err(err) = socket.check_join(&room) {
            return refuse_hub(ack, &err);
        }
        match socket.join(&room) {
            Ok(members) => {
                let members: Vec<_> = members
                    .iter()
                    .map(|m| json!({ "id": m.id, "name": &*m.name, "data": m.data.as_deref() }))
                    .collect();
                ack.send(&json!({ "room": room, "members": members }));
            }
            Err(err) => refuse_hub(ack, &err),
        }
    });
    socket.on("leave", |socket, data, ack| {
        let Some(room) = data.as_str() else {
            return refuse(ack, "bad_request", "leave takes a room name");
        };
        match socket.leave(&room) {
            Ok(()) => ack.send(&json!({ "room": room })),
            Err(err) => refuse_hub(ack, &err),
        }
    });
    socket.on("set", |socket, data, ack| {
        if socket.identity().is_some() {
            return refuse(
                ack,
                "forbidden",
                "the name of a socket with a token is the token's (`name` claim)",
            );
        }
        match data
            .parse::<serde_json::Value>()
            .ok()
            .and_then(|v| v.get("name").and_then(|n| n.as_str()).map(str::to_owned))
        {
            Some(name) if !name.is_empty() && name.len() <= 64 => {
                socket.set_name(name.as_str());
                ack.send(&json!({ "name": name }));
            }
            _ => refuse(ack, "bad_request", "set takes {name}: 1 to 64 bytes"),
        }
    });
    socket.on("to", move |socket, data, ack| {
        if !client_emits {
            return refuse_hub(ack, &Forbidden::ClientEmits.into());
        }
        let (Some(room), Some(event)) = (text(&data, 0), text(&data, 1)) else {
            return refuse(ack, "bad_request", "to takes (room, event, ...args)");
        };
        // Held to what the client may do itself (`client_emits`, its token, membership),
        // and acked once the store has it, as a native client's reply is: acknowledged
        // means recoverable.
        socket.to(&room).on_behalf().emit_args_then(
            &event,
            rest(&data, 2),
            move |sent| match sent {
                Ok(sent) => match sent.pos {
                    Some(pos) => ack.send(&json!({
                        "delivered": sent.delivered,
                        "offset": pos.offset,
                        "epoch": &*pos.epoch,
                    })),
                    None => ack.send(&json!({ "delivered": sent.delivered })),
                },
                Err(err) => refuse_hub(ack, &err),
            },
        );
    });
    socket.on("broadcast", move |socket, data, ack| {
        if !client_emits {
            return refuse_hub(ack, &Forbidden::ClientEmits.into());
        }
        let Some(event) = text(&data, 0) else {
            return refuse(ack, "bad_request", "broadcast takes (event, ...args)");
        };
        socket.broadcast().on_behalf().emit_args_then(
            &event,
            rest(&data, 1),
            move |sent| match sent {
                Ok(sent) => ack.send(&json!({ "delivered": sent.delivered })),
                Err(err) => refuse_hub(ack, &err),
            },
        );
    });
    socket.on("refresh", |socket, data, ack| {
        let Some(token) = data.as_str() else {
            return refuse(ack, "bad_request", "refresh takes the new token");
        };
        match socket.refresh(&token) {
            Ok(refreshed) => ack.send(&json!({
                "expires_at": refreshed.identity.expires_at_unix(),
                "name": refreshed.identity.nickname(),
                "left": refreshed.left.iter().map(|r| &**r).collect::<Vec<_>>(),
            })),
            Err(err) => refuse(ack, err.code().as_str(), &err.to_string()),
        }
    });
    socket
}

fn text(data: &Data, index: usize) -> Option<String> {
    data.arg(index).and_then(|d| d.as_str())
}

/// The arguments from `from` on: one as itself, several as they are, none as `null`.
fn rest(data: &Data, from: usize) -> Data {
    let (args, attachments) = data.to_args();
    let items: Vec<&RawValue> = serde_json::from_str(args.get()).unwrap_or_default();
    let tail = items.get(from..).unwrap_or_default();
    if tail.len() == 1 {
        if let Some(one) = data.arg(from) {
            return one;
        }
    }
    let joined: Vec<&str> = tail.iter().map(|v| v.get()).collect();
    let args = RawValue::from_string(format!("[{}]", joined.join(","))).expect("JSON array");
    Data::new(EventData::Args { args, attachments })
}

fn refuse(ack: Ack, code: &str, message: &str) {
    ack.send(&json!({ "error": { "code": code, "message": message } }));
}

fn refuse_hub(ack: Ack, err: &HubError) {
    let code = err.code().as_str();
    ack.send(&json!({ "error": { "code": code, "message": err.to_string() } }));
}
