//! The WebSocket frame decoder (`chorus_proto::ws`): what a client's bytes become on a
//! connection without extensions, fed as a server feeds it — what has arrived and not been
//! used, grown one read at a time.
//!
//! The first input byte picks how the socket cuts the stream into reads (1 to 255 bytes, or
//! 0: all at once); the rest is the stream. Besides "never panics", it checks that the cut
//! changes nothing — the same frames, then the same end — and what every returned frame
//! promises the transport: text is UTF-8, no message is over the limit, pings are short, a
//! close carries nothing or a code and a UTF-8 reason.
#![no_main]

use chorus_proto::ws::decode::decode_stream;
use chorus_proto::ws::Limits;
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits {
    max_frame: 4096,
    max_message: 8192,
};

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let (frames, end) = decode_stream(stream, usize::from(cut), LIMITS);
    let whole = decode_stream(stream, 0, LIMITS);
    assert_eq!((&frames, &end), (&whole.0, &whole.1), "reads of {cut}");
    for (opcode, payload) in &frames {
        match opcode {
            0x1 => {
                assert!(std::str::from_utf8(payload).is_ok());
                assert!(payload.len() <= LIMITS.max_message);
            }
            0x2 => assert!(payload.len() <= LIMITS.max_message),
            0x8 => {
                assert_ne!(payload.len(), 1);
                if payload.len() >= 2 {
                    assert!(std::str::from_utf8(&payload[2..]).is_ok());
                }
            }
            0x9 | 0xA => assert!(payload.len() <= 125),
            other => panic!("opcode {other} returned"),
        }
    }
});
