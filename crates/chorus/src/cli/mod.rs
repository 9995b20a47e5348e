//! The `chorus` binary's commands besides `serve`, for the person debugging at 2 a.m.:
//! `token` mints a development token, `publish`, `history`, `presence`, `rooms` call a
//! running server's API ([`api`]), and `client` talks to it over WebSocket ([`client`]).

pub(crate) mod api;
pub(crate) mod client;
pub(crate) mod token;
