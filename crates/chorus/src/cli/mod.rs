//! The `chorus` binary's commands besides `serve`, for the person debugging at 2 a.m.:
//! `token` mints a development token, and `publish`, `history`, `presence`, `rooms` call a
//! running server's API ([`api`]).

pub(crate) mod api;
pub(crate) mod token;
