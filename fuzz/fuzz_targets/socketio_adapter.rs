//! `@socket.io/redis-adapter`'s messages as a chorus node reads them
//! (`chorus_broker::socketio_adapter`): anything another client of the Redis server
//! publishes on the adapter's channels. Besides "never panics" (nor overflows its stack on
//! deep nesting), a broadcast it accepts reads back the same once written again.
#![no_main]

use chorus_broker::socketio_adapter::{decode, decode_request, encode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_request("socket.io-request#/#", data, "chorus-fuzz");
    let Some(envelope) = decode("socket.io#/#", data, "chorus-fuzz") else {
        return;
    };
    let (channel, message) = encode(&envelope, "other").expect("a broadcast read has a form");
    let again = decode(&channel, &message, "chorus-fuzz").expect("what was written reads back");
    assert_eq!(again.to, envelope.to);
    assert_eq!(again.except_rooms, envelope.except_rooms);
    assert_eq!(again.volatile, envelope.volatile);
});
