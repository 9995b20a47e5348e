//! `@socket.io/redis-adapter`'s broadcast format, so that chorus nodes and Node socket.io
//! servers on one Redis are one cluster: what a Node server (or `@socket.io/redis-emitter`)
//! broadcasts reaches chorus's clients, and what a chorus node publishes reaches the Node
//! servers' clients.
//!
//! The adapter (version 8, the one socket.io 4.8 uses) publishes each broadcast on channel
//! `socket.io#<namespace>#` — `socket.io#<namespace>#<room>#` when it goes to exactly one
//! room — and every server pattern-subscribes to `socket.io#<namespace>#*`. The message is
//! MessagePack (the `notepack.io` encoding) of `[uid, packet, opts]`: the sending server's
//! id, the Socket.IO packet `{type: 2, data: [event, ...args], nsp}` (binary arguments are
//! MessagePack binaries), and `{rooms: [...], except: [...], flags: {...}}`. A server
//! ignores its own uid.
//!
//! A broadcast read here becomes a chorus [`Envelope`] from a node that is not this one, and
//! goes the way of every other node's message; an envelope this node publishes is also
//! written in the adapter's format. Only events cross (a raw WebSocket frame has no Socket.IO
//! form), and only to rooms, everyone, or everyone but some rooms — a connection of a chorus
//! node is nobody a Node server can reach.

use std::sync::Arc;

use bytes::Bytes;
use chorus_core::cluster::{Envelope, NodeId, Payload};
use chorus_core::ops::{Op, Reply, Selector, SocketInfo};
use chorus_core::{EventData, Target};
use chorus_proto::socketio::msgpack::{pack, unpack};
use rmpv::Value as Pack;
use serde_json::value::RawValue;
use serde_json::Value as Json;

/// The channels' prefix (the adapter's `key` option, default `socket.io`).
pub const KEY: &str = "socket.io";
/// The pattern a node subscribes to: every namespace's broadcasts.
pub const PATTERN: &str = "socket.io#*";

/// Socket.IO's EVENT packet type.
const EVENT: u64 = 2;
/// Deepest nesting of a message read (an event's arguments are a few levels below the top).
const MAX_DEPTH: usize = 64;

/// This node's id in the adapter's messages: its node id, in hex.
pub fn uid(node: NodeId) -> String {
    format!("chorus-{node}")
}

/// The envelope a broadcast of the adapter's format on `channel` stands for; `None` if it
/// is not one (another key, this node's own, not an event, malformed).
pub fn decode(channel: &str, message: &[u8], own_uid: &str) -> Option<Envelope> {
    let rest = channel.strip_prefix(KEY)?.strip_prefix('#')?;
    let (namespace, _) = rest.split_once('#')?;
    // Bounded nesting: anyone who can publish on the Redis server can send this.
    let value = rmpv::decode::read_value_with_max_depth(&mut &message[..], MAX_DEPTH).ok()?;
    let Pack::Array(parts) = value else {
        return None;
    };
    let [uid, packet, opts] = <[Pack; 3]>::try_from(parts).ok()?;
    let uid = uid.as_str()?.to_owned();
    if uid == own_uid {
        return None;
    }
    let packet = map(&packet)?;
    let nsp = packet.get("nsp").and_then(|v| v.as_str()).unwrap_or("/");
    if nsp != namespace || packet.get("type").and_then(|v| v.as_u64()) != Some(EVENT) {
        return None;
    }
    let Some(Pack::Array(data)) = packet.get("data") else {
        return None;
    };
    let (name, args) = data.split_first()?;
    let name: Arc<str> = Arc::from(name.as_str()?);
    let opts = map(&opts)?;
    let names = |key: &str| -> Vec<Arc<str>> {
        match opts.get(key) {
            Some(Pack::Array(items)) => items
                .iter()
                .filter_map(|item| item.as_str().map(Arc::from))
                .collect(),
            _ => Vec::new(),
        }
    };
    let rooms = names("rooms");
    let except_rooms = names("except");
    let volatile = matches!(opts.get("flags"), Some(flags)
        if map(flags).is_some_and(|f| f.get("volatile").and_then(|v| v.as_bool()) == Some(true)));
    let to = match rooms.len() {
        0 => Target::Everyone,
        1 => Target::Room(rooms[0].clone()),
        _ => Target::Rooms(rooms),
    };
    Some(Envelope {
        origin: NodeId(fnv(&uid)),
        seq: 0,
        namespace: Arc::from(nsp),
        to,
        except_rooms,
        except: None,
        volatile,
        payload: Payload::Event {
            name,
            data: event_data(args)?,
            from: None,
        },
    })
}

/// `envelope` in the adapter's format: its channel and message. `None` for what has no
/// such form (a raw frame, one connection).
pub fn encode(envelope: &Envelope, uid: &str) -> Option<(String, Vec<u8>)> {
    let Payload::Event { name, data, .. } = &envelope.payload else {
        return None;
    };
    if !envelope.namespace.starts_with('/') {
        // chorus's own spaces (raw rooms, raw Engine.IO endpoints): no Socket.IO namespace.
        return None;
    }
    let rooms: Vec<Arc<str>> = match &envelope.to {
        Target::Everyone => Vec::new(),
        Target::Room(room) => vec![room.clone()],
        Target::Rooms(rooms) => rooms.clone(),
        // One chorus connection, or a chorus user's: nothing on a Node server.
        Target::Conn(_) | Target::User(_) => return None,
    };
    let items = packet_data(name, data)?;
    let namespace = &*envelope.namespace;
    let packet = Pack::Map(vec![
        (Pack::from("type"), Pack::from(EVENT)),
        (Pack::from("data"), Pack::Array(items)),
        (Pack::from("nsp"), Pack::from(namespace)),
    ]);
    let strings =
        |names: &[Arc<str>]| Pack::Array(names.iter().map(|n| Pack::from(&**n)).collect());
    let mut flags = Vec::new();
    if envelope.volatile {
        flags.push((Pack::from("volatile"), Pack::Boolean(true)));
    }
    let opts = Pack::Map(vec![
        (Pack::from("rooms"), strings(&rooms)),
        (Pack::from("except"), strings(&envelope.except_rooms)),
        (Pack::from("flags"), Pack::Map(flags)),
    ]);
    let message = Pack::Array(vec![Pack::from(uid), packet, opts]);
    let mut out = Vec::new();
    rmpv::encode::write_value(&mut out, &message).ok()?;
    let channel = match rooms.as_slice() {
        [room] => format!("{KEY}#{namespace}#{room}#"),
        _ => format!("{KEY}#{namespace}#"),
    };
    Some((channel, out))
}

/// An event packet's `data`: its name, then each argument, binary values as msgpack's.
fn packet_data(name: &str, data: &EventData) -> Option<Vec<Pack>> {
    let mut items = vec![Pack::from(name)];
    match data {
        EventData::Json(value) => items.push(pack(&serde_json::from_str(value.get()).ok()?, &[])),
        EventData::Binary(bytes) => items.push(Pack::Binary(bytes.to_vec())),
        EventData::Args { args, attachments } => match serde_json::from_str(args.get()).ok()? {
            Json::Array(args) => items.extend(args.iter().map(|a| pack(a, attachments))),
            other => items.push(pack(&other, attachments)),
        },
    }
    Some(items)
}

/// The node Node socket.io servers' requests come from, as far as the cluster knows: they
/// are answered in the adapter's format, not through the cluster's channel.
pub const FOREIGN: NodeId = NodeId(0x736f_636b_6574_2e69); // "socket.i"

/// The channel a Node server's requests about namespace `ns` come on (an exact
/// subscription: the servers count its subscribers to know how many answers to wait for).
pub fn request_channel(ns: &str) -> String {
    format!("{KEY}-request#{ns}#")
}

fn response_channel(ns: &str) -> String {
    format!("{KEY}-response#{ns}#")
}

/// A Node server's request this node answers: what the answer needs.
#[derive(Debug, Clone)]
pub struct Asked {
    namespace: Arc<str>,
    request_id: String,
    kind: u64,
}

// The adapter's request types.
const SOCKETS: u64 = 0;
const ALL_ROOMS: u64 = 1;
const REMOTE_JOIN: u64 = 2;
const REMOTE_LEAVE: u64 = 3;
const REMOTE_DISCONNECT: u64 = 4;
const REMOTE_FETCH: u64 = 5;
const SERVER_SIDE_EMIT: u64 = 6;
const BROADCAST: u64 = 7;
const BROADCAST_CLIENT_COUNT: u64 = 8;
const BROADCAST_ACK: u64 = 9;
/// How long a broadcast with acks waits when the request does not say.
const DEFAULT_ACK_WAIT_MS: u64 = 5000;

/// A Node server's request on `channel` as a cluster op, and what its answer needs (`None`:
/// it wants none). `None` altogether for what this node does not take part in (its own,
/// a request about one socket by id, malformed).
pub fn decode_request(channel: &str, message: &[u8], own_uid: &str) -> Option<(Op, Option<Asked>)> {
    let ns = channel
        .strip_prefix(KEY)?
        .strip_prefix("-request#")?
        .strip_suffix('#')?;
    // Binary values (a broadcast's arguments) stand as placeholders into `attachments`.
    let mut attachments = Vec::new();
    let json: Json = if message.first() == Some(&b'{') {
        serde_json::from_slice(message).ok()?
    } else {
        let value = rmpv::decode::read_value_with_max_depth(&mut &message[..], MAX_DEPTH).ok()?;
        unpack(&value, &mut attachments)
    };
    // Its own, and another chorus node's (that one asks the chorus nodes directly).
    let uid = json.get("uid").and_then(Json::as_str);
    if uid == Some(own_uid) || uid.is_some_and(|u| u.starts_with("chorus-")) {
        return None;
    }
    let kind = json.get("type")?.as_u64()?;
    let request_id = json
        .get("requestId")
        .and_then(Json::as_str)
        .map(str::to_owned);
    let names = |value: Option<&Json>| -> Vec<Arc<str>> {
        value
            .and_then(Json::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.as_str().map(Arc::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let selector = || Selector {
        rooms: names(json.pointer("/opts/rooms")),
        except_rooms: names(json.pointer("/opts/except")),
        ..Selector::default()
    };
    let asked = |request_id: Option<String>| {
        request_id.map(|request_id| Asked {
            namespace: Arc::from(ns),
            request_id,
            kind,
        })
    };
    let op = match kind {
        SOCKETS | REMOTE_FETCH | ALL_ROOMS => {
            let selector = if kind == SOCKETS {
                Selector {
                    rooms: names(json.get("rooms")),
                    ..Selector::default()
                }
            } else if kind == ALL_ROOMS {
                Selector::default()
            } else {
                selector()
            };
            return Some((Op::Fetch(selector), Some(asked(request_id)?)));
        }
        // A join, leave or disconnect by selection (the Node server waits for no answer);
        // one by socket id is for the server holding that socket.
        REMOTE_JOIN | REMOTE_LEAVE if json.get("opts").is_some() => {
            let rooms = names(json.get("rooms"));
            if kind == REMOTE_JOIN {
                Op::Join(selector(), rooms)
            } else {
                Op::Leave(selector(), rooms)
            }
        }
        REMOTE_DISCONNECT if json.get("opts").is_some() => Op::Disconnect(selector()),
        SERVER_SIDE_EMIT => {
            let Some(Json::Array(data)) = json.get("data") else {
                return None;
            };
            let (event, args) = data.split_first()?;
            let data = match args {
                [one] => one.clone(),
                many => Json::Array(many.to_vec()),
            };
            let op = Op::Emit {
                event: Arc::from(event.as_str()?),
                data: Bytes::from(serde_json::to_vec(&data).ok()?),
                ack: request_id.is_some(),
            };
            return Some((op, asked(request_id)));
        }
        // A broadcast with acknowledgements (`io.timeout(t).emitWithAck`): this node's
        // sockets get the event, and the Node server their count and each answer.
        BROADCAST => {
            let Some(Json::Array(data)) = json.pointer("/packet/data") else {
                return None;
            };
            let (event, args) = data.split_first()?;
            let op = Op::EmitWithAck {
                selector: selector(),
                except: None,
                event: Arc::from(event.as_str()?),
                data: arguments(args.to_vec(), attachments)?,
                // Answered a little before the Node server stops waiting, so that what this
                // node's sockets said arrives in time even when one of them stays silent.
                wait_ms: {
                    let wait = json
                        .pointer("/opts/flags/timeout")
                        .and_then(Json::as_u64)
                        .unwrap_or(DEFAULT_ACK_WAIT_MS);
                    wait.saturating_sub((wait / 10).clamp(50, 1000))
                },
            };
            return Some((op, Some(asked(request_id)?)));
        }
        _ => return None,
    };
    Some((op, None))
}

/// Every message answering a Node server's request: one for most, and for a broadcast
/// with acks the count of sockets asked (JSON) then each answer (MessagePack, binary kept),
/// as the adapter sends them.
pub fn encode_responses(asked: &Asked, reply: &Reply) -> Vec<(String, Vec<u8>)> {
    let Reply::Acks { expected, answers } = reply else {
        return encode_response(asked, reply).into_iter().collect();
    };
    if asked.kind != BROADCAST {
        return Vec::new();
    }
    let channel = response_channel(&asked.namespace);
    let count = serde_json::json!({
        "type": BROADCAST_CLIENT_COUNT,
        "requestId": asked.request_id,
        "clientCount": expected,
    });
    let mut out = Vec::with_capacity(1 + answers.len());
    if let Ok(count) = serde_json::to_vec(&count) {
        out.push((channel.clone(), count));
    }
    for answer in answers {
        let packet = match answer {
            EventData::Json(raw) => match serde_json::from_str::<Json>(raw.get()) {
                Ok(json) => pack(&json, &[]),
                Err(_) => continue,
            },
            EventData::Binary(bytes) => Pack::Binary(bytes.to_vec()),
            // An answer of several arguments: the first, as the adapter passes on.
            EventData::Args { args, attachments } => {
                match serde_json::from_str::<Vec<Json>>(args.get()) {
                    Ok(args) => pack(args.first().unwrap_or(&Json::Null), attachments),
                    Err(_) => continue,
                }
            }
        };
        let message = Pack::Map(vec![
            (Pack::from("type"), Pack::from(BROADCAST_ACK)),
            (
                Pack::from("requestId"),
                Pack::from(asked.request_id.as_str()),
            ),
            (Pack::from("packet"), packet),
        ]);
        let mut bytes = Vec::new();
        if rmpv::encode::write_value(&mut bytes, &message).is_ok() {
            out.push((channel.clone(), bytes));
        }
    }
    out
}

/// The answer to a Node server's request, in the adapter's format: its channel and message.
pub fn encode_response(asked: &Asked, reply: &Reply) -> Option<(String, Vec<u8>)> {
    let body = match (asked.kind, reply) {
        (SOCKETS, Reply::Sockets(sockets)) => serde_json::json!({
            "requestId": asked.request_id,
            "sockets": sockets.iter().map(|s| &*s.id).collect::<Vec<_>>(),
        }),
        (ALL_ROOMS, Reply::Sockets(sockets)) => {
            let mut rooms: Vec<&str> = sockets
                .iter()
                .flat_map(|s| s.rooms.iter().map(|r| &**r))
                .collect();
            rooms.sort_unstable();
            rooms.dedup();
            serde_json::json!({"requestId": asked.request_id, "rooms": rooms})
        }
        (REMOTE_FETCH, Reply::Sockets(sockets)) => serde_json::json!({
            "requestId": asked.request_id,
            "sockets": sockets.iter().map(|s| {
                let id = &*s.id;
                let mut rooms: Vec<&str> = vec![id];
                rooms.extend(s.rooms.iter().map(|r| &**r));
                let data = s
                    .data
                    .as_ref()
                    .and_then(|d| serde_json::from_str::<Json>(d.get()).ok())
                    .unwrap_or_else(|| serde_json::json!({}));
                serde_json::json!({
                    "id": id,
                    "handshake": {
                        "headers": {}, "time": "", "address": "", "xdomain": false,
                        "secure": false, "issued": 0, "url": "", "query": {}, "auth": {},
                    },
                    "rooms": rooms,
                    "data": data,
                })
            }).collect::<Vec<_>>(),
        }),
        (SERVER_SIDE_EMIT, Reply::Ack(answer)) => serde_json::json!({
            "type": SERVER_SIDE_EMIT,
            "requestId": asked.request_id,
            "data": answer
                .as_ref()
                .and_then(|a| serde_json::from_slice::<Json>(a).ok())
                .unwrap_or(Json::Null),
        }),
        _ => return None,
    };
    Some((
        response_channel(&asked.namespace),
        serde_json::to_vec(&body).ok()?,
    ))
}

/// The channel answers to requests about namespace `ns` come on.
pub fn response_channel_of(ns: &str) -> String {
    response_channel(ns)
}

/// Names as JSON strings.
fn strs(names: &[Arc<str>]) -> Vec<&str> {
    names.iter().map(|n| &**n).collect()
}

/// This node's request (the cluster's `id`) in the adapter's format, for the Node servers:
/// its channel and message. `None` for an op they have no request for.
pub fn encode_request(ns: &str, id: u64, op: &Op, uid: &str) -> Option<(String, Vec<u8>)> {
    // A chorus user's connections, or chorus connections by id (the server API's calls):
    // Node servers hold none.
    let selector = match op {
        Op::Fetch(s) | Op::Join(s, _) | Op::Leave(s, _) | Op::Disconnect(s) => Some(s),
        Op::EmitWithAck { selector, .. } => Some(selector),
        Op::Emit { .. } => None,
        // chorus's own tokens and figures: nothing a Node server has.
        Op::Revoke(_) | Op::Stats => return None,
    };
    if selector.is_some_and(|s| !s.users.is_empty() || !s.conns.is_empty()) {
        return None;
    }
    let request_id = format!("{uid}:{id}");
    let opts = |s: &Selector| serde_json::json!({"rooms": strs(&s.rooms), "except": strs(&s.except_rooms)});
    let body = match op {
        Op::Revoke(_) | Op::Stats => return None,
        Op::Fetch(selector) => serde_json::json!({
            "uid": uid, "requestId": request_id, "type": REMOTE_FETCH, "opts": opts(selector),
        }),
        Op::Join(selector, rooms) => serde_json::json!({
            "uid": uid, "type": REMOTE_JOIN, "opts": opts(selector), "rooms": strs(rooms),
        }),
        Op::Leave(selector, rooms) => serde_json::json!({
            "uid": uid, "type": REMOTE_LEAVE, "opts": opts(selector), "rooms": strs(rooms),
        }),
        Op::Disconnect(selector) => serde_json::json!({
            "uid": uid, "type": REMOTE_DISCONNECT, "opts": opts(selector), "close": true,
        }),
        Op::Emit { event, data, ack } => {
            let data: Json = serde_json::from_slice(data).ok()?;
            let mut body = serde_json::json!({
                "uid": uid, "type": SERVER_SIDE_EMIT, "data": [&**event, data],
            });
            if *ack {
                body["requestId"] = Json::String(request_id);
            }
            body
        }
        // A broadcast with acks: each Node server answers with its count of sockets asked,
        // then each answer ([`decode_gathered`]). In msgpack, as the Node servers send it,
        // so that binary arguments stay binary.
        Op::EmitWithAck {
            selector,
            except,
            event,
            data,
            wait_ms,
        } => {
            let strings = |names: &mut dyn Iterator<Item = &str>| {
                Pack::Array(names.map(Pack::from).collect())
            };
            let request = Pack::Map(vec![
                (Pack::from("uid"), Pack::from(uid)),
                (Pack::from("requestId"), Pack::from(request_id.as_str())),
                (Pack::from("type"), Pack::from(BROADCAST)),
                (
                    Pack::from("packet"),
                    Pack::Map(vec![
                        (Pack::from("type"), Pack::from(EVENT)),
                        (Pack::from("data"), Pack::Array(packet_data(event, data)?)),
                        (Pack::from("nsp"), Pack::from(ns)),
                    ]),
                ),
                (
                    Pack::from("opts"),
                    Pack::Map(vec![
                        (
                            Pack::from("rooms"),
                            strings(&mut selector.rooms.iter().map(|r| &**r)),
                        ),
                        (
                            Pack::from("except"),
                            strings(
                                &mut selector
                                    .except_rooms
                                    .iter()
                                    .map(|r| &**r)
                                    .chain(except.as_deref()),
                            ),
                        ),
                        (
                            Pack::from("flags"),
                            Pack::Map(vec![(Pack::from("timeout"), Pack::from(*wait_ms))]),
                        ),
                    ]),
                ),
            ]);
            let mut out = Vec::new();
            rmpv::encode::write_value(&mut out, &request).ok()?;
            return Some((request_channel(ns), out));
        }
    };
    Some((request_channel(ns), serde_json::to_vec(&body).ok()?))
}

/// Part of a Node server's answer to this node's broadcast with acks.
#[derive(Debug, Clone)]
pub enum Gathered {
    /// How many of its sockets it asked (one per Node server).
    Count(u64),
    /// One socket's answer.
    Answer(EventData),
}

/// A Node server's message answering this node's broadcast with acks (request number
/// here, and what it says); `None` for anything else.
pub fn decode_gathered(message: &[u8], uid: &str) -> Option<(u64, Gathered)> {
    let mut attachments = Vec::new();
    let json: Json = if message.first() == Some(&b'{') {
        serde_json::from_slice(message).ok()?
    } else {
        let value = rmpv::decode::read_value_with_max_depth(&mut &message[..], MAX_DEPTH).ok()?;
        unpack(&value, &mut attachments)
    };
    let id = json
        .get("requestId")?
        .as_str()?
        .strip_prefix(uid)?
        .strip_prefix(':')?
        .parse()
        .ok()?;
    match json.get("type")?.as_u64()? {
        BROADCAST_CLIENT_COUNT => Some((id, Gathered::Count(json.get("clientCount")?.as_u64()?))),
        BROADCAST_ACK => {
            let packet = json.get("packet")?;
            let data = match (packet, attachments.len()) {
                // One binary answer.
                (Json::Object(o), 1) if o.contains_key("_placeholder") => {
                    EventData::Binary(attachments.pop()?)
                }
                (_, 0) => EventData::Json(serde_json::value::to_raw_value(packet).ok()?),
                _ => EventData::Args {
                    args: serde_json::value::to_raw_value(&[packet]).ok()?,
                    attachments,
                },
            };
            Some((id, Gathered::Answer(data)))
        }
        _ => None,
    }
}

/// A Node server's answer to this node's request: the request's number here and the reply.
/// `None` for anything else (another node's request, malformed).
pub fn decode_response(message: &[u8], uid: &str) -> Option<(u64, Reply)> {
    // Binary values (a broadcast's arguments) stand as placeholders into `attachments`.
    let mut attachments = Vec::new();
    let json: Json = if message.first() == Some(&b'{') {
        serde_json::from_slice(message).ok()?
    } else {
        let value = rmpv::decode::read_value_with_max_depth(&mut &message[..], MAX_DEPTH).ok()?;
        unpack(&value, &mut attachments)
    };
    let request_id = json.get("requestId")?.as_str()?;
    let id = request_id
        .strip_prefix(uid)?
        .strip_prefix(':')?
        .parse()
        .ok()?;
    if let Some(Json::Array(sockets)) = json.get("sockets") {
        let sockets = sockets
            .iter()
            .filter_map(|s| {
                let id: Arc<str> = Arc::from(s.get("id")?.as_str()?);
                let rooms = s
                    .get("rooms")
                    .and_then(Json::as_array)
                    .map(|rooms| {
                        rooms
                            .iter()
                            .filter_map(Json::as_str)
                            .filter(|room| *room != &*id)
                            .map(Arc::from)
                            .collect()
                    })
                    .unwrap_or_default();
                let data = s
                    .get("data")
                    .filter(|d| !d.is_null())
                    .and_then(|d| serde_json::value::to_raw_value(d).ok())
                    .map(Arc::from);
                Some(SocketInfo {
                    name: id.clone(),
                    id,
                    data,
                    rooms,
                    user: None,
                })
            })
            .collect();
        return Some((id, Reply::Sockets(sockets)));
    }
    if json.get("type").and_then(Json::as_u64) == Some(SERVER_SIDE_EMIT) {
        let answer = json
            .get("data")
            .filter(|d| !d.is_null())
            .and_then(|d| serde_json::to_vec(d).ok())
            .map(Bytes::from);
        return Some((id, Reply::Ack(answer)));
    }
    None
}

/// A MessagePack map's string keys and values.
fn map(value: &Pack) -> Option<std::collections::HashMap<&str, &Pack>> {
    let Pack::Map(entries) = value else {
        return None;
    };
    Some(
        entries
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?, v)))
            .collect(),
    )
}

/// An event's arguments as chorus keeps them: one JSON value when there is one argument and
/// no binary, else the arguments with their binaries as attachments.
fn event_data(args: &[Pack]) -> Option<EventData> {
    let mut attachments = Vec::new();
    let json: Vec<Json> = args.iter().map(|a| unpack(a, &mut attachments)).collect();
    arguments(json, attachments)
}

/// Arguments already unpacked (binary values as placeholders into `attachments`) as chorus
/// keeps them: see [`event_data`].
fn arguments(json: Vec<Json>, attachments: Vec<Bytes>) -> Option<EventData> {
    if json.len() == 1 && attachments.is_empty() {
        let text = serde_json::to_string(&json[0]).ok()?;
        return Some(EventData::Json(RawValue::from_string(text).ok()?));
    }
    let text = serde_json::to_string(&json).ok()?;
    Some(EventData::Args {
        args: RawValue::from_string(text).ok()?,
        attachments,
    })
}

/// A stable 64-bit id for another server's uid (FNV-1a): never this node's, which is random.
fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(to: Target, data: EventData) -> Envelope {
        Envelope {
            origin: NodeId(1),
            seq: 3,
            namespace: Arc::from("/"),
            to,
            except_rooms: vec![Arc::from("muted")],
            except: None,
            volatile: true,
            payload: Payload::Event {
                name: Arc::from("said"),
                data,
                from: None,
            },
        }
    }

    #[test]
    fn an_envelope_goes_and_comes_back_through_the_format() {
        let args = EventData::Args {
            args: RawValue::from_string(
                r#"["hi",{"_placeholder":true,"num":0},{"n":1.5,"ok":[true,null]}]"#.into(),
            )
            .unwrap(),
            attachments: vec![Bytes::from_static(b"\x00\x01\xff")],
        };
        let out = envelope(Target::Room(Arc::from("lobby")), args);
        let (channel, message) = encode(&out, "chorus-a").unwrap();
        assert_eq!(channel, "socket.io#/#lobby#");
        // Read back by another node (the sender ignores its own).
        assert!(decode(&channel, &message, "chorus-a").is_none());
        let back = decode(&channel, &message, "chorus-b").unwrap();
        assert_eq!(back.to, Target::Room(Arc::from("lobby")));
        assert_eq!(back.except_rooms, [Arc::from("muted")]);
        assert!(back.volatile);
        let Payload::Event { name, data, .. } = back.payload else {
            panic!("an event")
        };
        assert_eq!(&*name, "said");
        let EventData::Args { args, attachments } = data else {
            panic!("args")
        };
        assert_eq!(
            args.get(),
            r#"["hi",{"_placeholder":true,"num":0},{"n":1.5,"ok":[true,null]}]"#
        );
        assert_eq!(attachments, [Bytes::from_static(b"\x00\x01\xff")]);
    }

    #[test]
    fn one_plain_argument_is_one_json_value_and_several_rooms_one_channel() {
        let json = EventData::Json(RawValue::from_string(r#"{"a":[1,2]}"#.into()).unwrap());
        let out = envelope(Target::Rooms(vec![Arc::from("a"), Arc::from("b")]), json);
        let (channel, message) = encode(&out, "x").unwrap();
        assert_eq!(channel, "socket.io#/#");
        let back = decode(&channel, &message, "y").unwrap();
        let Payload::Event {
            data: EventData::Json(v),
            ..
        } = back.payload
        else {
            panic!("one JSON value")
        };
        assert_eq!(v.get(), r#"{"a":[1,2]}"#);
        // What has no form in the adapter's: one connection.
        let id: chorus_core::ConnId = "0000000000000005".parse().unwrap();
        let conn = envelope(Target::Conn(id), EventData::null());
        assert!(encode(&conn, "x").is_none());
    }

    #[test]
    fn lying_lengths_do_not_allocate_what_they_claim() {
        // An array, a map, a string and a binary each claiming 4 GiB of content.
        for head in [0xdd_u8, 0xdf, 0xdb, 0xc6] {
            let message = [head, 0xff, 0xff, 0xff, 0xff, 0x00];
            assert!(decode("socket.io#/#", &message, "x").is_none());
        }
        // Deep nesting.
        let deep = vec![0x91_u8; 100_000];
        assert!(decode("socket.io#/#", &deep, "x").is_none());
    }

    #[test]
    fn a_node_servers_broadcast_with_acks_is_answered_with_a_count_then_each_answer() {
        // As the adapter encodes it: MessagePack of {uid, requestId, type: 7, packet, opts}.
        let request = Pack::Map(vec![
            (Pack::from("uid"), Pack::from("n1")),
            (Pack::from("requestId"), Pack::from("r7")),
            (Pack::from("type"), Pack::from(7)),
            (
                Pack::from("packet"),
                Pack::Map(vec![
                    (Pack::from("type"), Pack::from(2)),
                    (
                        Pack::from("data"),
                        Pack::Array(vec![
                            Pack::from("poll"),
                            Pack::from("q"),
                            Pack::Binary(vec![1, 2]),
                        ]),
                    ),
                    (Pack::from("nsp"), Pack::from("/")),
                ]),
            ),
            (
                Pack::from("opts"),
                Pack::Map(vec![
                    (Pack::from("rooms"), Pack::Array(vec![Pack::from("vote")])),
                    (Pack::from("except"), Pack::Array(vec![])),
                    (
                        Pack::from("flags"),
                        Pack::Map(vec![(Pack::from("timeout"), Pack::from(1500))]),
                    ),
                ]),
            ),
        ]);
        let mut message = Vec::new();
        rmpv::encode::write_value(&mut message, &request).unwrap();
        let (op, asked) = decode_request("socket.io-request#/#", &message, "me").unwrap();
        assert_eq!(
            op,
            Op::EmitWithAck {
                selector: Selector {
                    rooms: vec![Arc::from("vote")],
                    ..Selector::default()
                },
                except: None,
                event: Arc::from("poll"),
                data: EventData::Args {
                    args: RawValue::from_string(r#"["q",{"_placeholder":true,"num":0}]"#.into())
                        .unwrap(),
                    attachments: vec![Bytes::from_static(&[1, 2])],
                },
                wait_ms: 1350, // a little before the Node server stops waiting (1500)
            }
        );
        // This node's own broadcast with acks goes in the same form, binary values as
        // msgpack's (another server reads back what was sent).
        let (channel, mine) = encode_request("/", 3, &op, "other").unwrap();
        assert_eq!(channel, "socket.io-request#/#");
        assert_ne!(mine.first(), Some(&b'{'));
        let (again, asked_again) = decode_request(&channel, &mine, "me").unwrap();
        assert_eq!(asked_again.unwrap().request_id, "other:3");
        let Op::EmitWithAck { data, wait_ms, .. } = again else {
            panic!("a broadcast with acks")
        };
        assert_eq!(wait_ms, 1350 - 135);
        let Op::EmitWithAck { data: sent, .. } = &op else {
            unreachable!()
        };
        assert_eq!(&data, sent);
        let reply = Reply::Acks {
            expected: 2,
            answers: vec![
                EventData::Json(RawValue::from_string("\"yes\"".into()).unwrap()),
                EventData::Binary(Bytes::from_static(&[1, 2])),
            ],
        };
        let messages = encode_responses(&asked.unwrap(), &reply);
        assert_eq!(messages.len(), 3);
        assert!(messages.iter().all(|(c, _)| c == "socket.io-response#/#"));
        let count: Json = serde_json::from_slice(&messages[0].1).unwrap();
        assert_eq!(
            count,
            serde_json::json!({"type": 8, "requestId": "r7", "clientCount": 2})
        );
        let first = rmpv::decode::read_value(&mut &messages[1].1[..]).unwrap();
        assert_eq!(
            unpack(&first, &mut Vec::new()),
            serde_json::json!({"type": 9, "requestId": "r7", "packet": "yes"})
        );
        let second = rmpv::decode::read_value(&mut &messages[2].1[..]).unwrap();
        let mut attachments = Vec::new();
        unpack(&second, &mut attachments);
        assert_eq!(
            attachments,
            [Bytes::from_static(&[1, 2])],
            "binary stays binary"
        );
    }

    #[test]
    fn node_servers_requests_become_ops_and_their_answers_the_adapters_responses() {
        let fetch =
            br#"{"uid":"n1","requestId":"r1","type":5,"opts":{"rooms":["a"],"except":["b"]}}"#;
        let (op, asked) = decode_request("socket.io-request#/#", fetch, "me").unwrap();
        assert_eq!(
            op,
            Op::Fetch(Selector {
                rooms: vec![Arc::from("a")],
                except_rooms: vec![Arc::from("b")],
                ..Selector::default()
            })
        );
        let asked = asked.unwrap();
        let socket = chorus_core::ops::SocketInfo {
            id: Arc::from("00000000000000a1"),
            name: Arc::from("ann"),
            data: None,
            rooms: vec![Arc::from("a")],
            user: None,
        };
        let (channel, body) = encode_response(&asked, &Reply::Sockets(vec![socket])).unwrap();
        assert_eq!(channel, "socket.io-response#/#");
        let body: Json = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["requestId"], "r1");
        assert_eq!(body["sockets"][0]["id"], "00000000000000a1");
        assert_eq!(
            body["sockets"][0]["rooms"],
            serde_json::json!(["00000000000000a1", "a"])
        );
        // A join by selection wants no answer; this node's own request is not taken.
        let join = br#"{"uid":"n1","type":2,"opts":{"rooms":["a"],"except":[]},"rooms":["vip"]}"#;
        let (op, asked) = decode_request("socket.io-request#/#", join, "me").unwrap();
        assert!(matches!(op, Op::Join(_, ref rooms) if rooms[..] == [Arc::from("vip")]));
        assert!(asked.is_none());
        assert!(decode_request("socket.io-request#/#", join, "n1").is_none());
        // A server-side event with an acknowledgement.
        let emit = br#"{"uid":"n1","requestId":"r2","type":6,"data":["ping",1]}"#;
        let (op, asked) = decode_request("socket.io-request#/#", emit, "me").unwrap();
        assert!(matches!(op, Op::Emit { ack: true, ref data, .. } if &data[..] == b"1"));
        let (_, body) = encode_response(&asked.unwrap(), &Reply::Ack(None)).unwrap();
        let body: Json = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"type": 6, "requestId": "r2", "data": null})
        );
        // Garbage.
        assert!(decode_request("socket.io-request#/#", b"{not json", "me").is_none());
        assert!(decode_request("socket.io-request#/#", b"\xdd\xff\xff\xff\xff", "me").is_none());
    }

    #[test]
    fn this_nodes_requests_go_in_the_adapters_form_and_node_answers_come_back() {
        let fetch = Op::Fetch(Selector {
            rooms: vec![Arc::from("mixed")],
            ..Selector::default()
        });
        let (channel, body) = encode_request("/", 7, &fetch, "chorus-x").unwrap();
        assert_eq!(channel, "socket.io-request#/#");
        let body: Json = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["type"], 5);
        assert_eq!(body["requestId"], "chorus-x:7");
        assert_eq!(body["opts"]["rooms"], serde_json::json!(["mixed"]));
        // Another chorus node ignores it (it asks the chorus nodes directly).
        let raw = serde_json::to_vec(&body).unwrap();
        assert!(decode_request(&channel, &raw, "chorus-y").is_none());
        // A Node server's answer.
        let answer = br#"{"requestId":"chorus-x:7","sockets":[{"id":"AbCdEfGhIjKlMnOpQrSt","handshake":{},"rooms":["AbCdEfGhIjKlMnOpQrSt","mixed"],"data":{"a":1}}]}"#;
        let (id, reply) = decode_response(answer, "chorus-x").unwrap();
        assert_eq!(id, 7);
        let Reply::Sockets(sockets) = reply else {
            panic!("sockets")
        };
        assert_eq!(&*sockets[0].id, "AbCdEfGhIjKlMnOpQrSt");
        assert_eq!(sockets[0].rooms, [Arc::from("mixed")]);
        assert_eq!(sockets[0].data.as_ref().unwrap().get(), r#"{"a":1}"#);
        // Not ours.
        assert!(decode_response(answer, "chorus-z").is_none());
        let ack = br#"{"type":6,"requestId":"chorus-x:8","data":{"node":"n"}}"#;
        let (id, reply) = decode_response(ack, "chorus-x").unwrap();
        assert_eq!(id, 8);
        assert!(matches!(reply, Reply::Ack(Some(ref a)) if &a[..] == br#"{"node":"n"}"#));
    }

    #[test]
    fn garbage_and_other_channels_are_ignored() {
        assert!(decode("socket.io#/#", b"\xc1", "x").is_none());
        assert!(decode("other#/#", b"\x93", "x").is_none());
        assert!(decode("socket.io#/#", &[], "x").is_none());
        let (_, message) = encode(&envelope(Target::Everyone, EventData::null()), "x").unwrap();
        // A namespace the channel does not name.
        assert!(decode("socket.io#/admin#", &message, "y").is_none());
    }
}
