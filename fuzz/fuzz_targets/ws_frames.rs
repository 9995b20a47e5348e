//! The server's WebSocket frame reader (`crate::inlet`, through `chorus::fuzzing`): what a
//! client's bytes become on a connection without extensions.
//!
//! The first input byte picks how the socket cuts the stream into reads (1 to 255 bytes, or
//! 0: all at once); the rest is the stream. Besides "never panics", it checks that the cut
//! changes nothing — the same frames, then the same end — and what every returned frame
//! promises the transport: text is UTF-8, no message is over the limit, pings are short, a
//! close carries nothing or a code and a UTF-8 reason.
#![no_main]

use chorus::fuzzing::read_frames;
use libfuzzer_sys::fuzz_target;

const LIMITS: (usize, usize) = (4096, 8192);

fuzz_target!(|data: &[u8]| {
    let Some((&cut, stream)) = data.split_first() else {
        return;
    };
    let read_size = if cut == 0 { usize::MAX } else { usize::from(cut) };
    let (frames, end) = read_frames(stream, read_size, LIMITS);
    let whole = read_frames(stream, usize::MAX, LIMITS);
    assert_eq!((&frames, &end), (&whole.0, &whole.1), "reads of {read_size}");
    for (opcode, payload) in &frames {
        match opcode {
            0x1 => {
                assert!(std::str::from_utf8(payload).is_ok());
                assert!(payload.len() <= LIMITS.1);
            }
            0x2 => assert!(payload.len() <= LIMITS.1),
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
