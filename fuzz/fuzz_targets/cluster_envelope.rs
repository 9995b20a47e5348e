//! What one node reads of what the broker brings (`chorus_core::cluster`): an envelope
//! another node published, what the shared store announced — a stored message's notice,
//! a stream's marker — or a node's signal (presence, heartbeat, member snapshot). Besides "never panics", whatever it accepts reads back the same once
//! written again.
#![no_main]

use bytes::Bytes;
use chorus_core::cluster::{Envelope, Marker, Notice, Signal};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let bytes = Bytes::copy_from_slice(data);
    if Notice::is_notice(data) {
        let peeked = Notice::peek_stream(data).map(str::to_owned);
        if let Ok(notice) = Notice::decode(bytes) {
            assert_eq!(Notice::decode(notice.encode()).as_ref(), Ok(&notice));
            // What the head says is what the whole says.
            assert_eq!(peeked.as_deref(), Some(&*notice.stream));
        }
        return;
    }
    if Signal::is_signal(data) {
        if let Ok(signal) = Signal::decode(bytes) {
            let again = Signal::decode(signal.encode()).expect("what was written reads back");
            assert_eq!(format!("{again:?}"), format!("{signal:?}"));
        }
        return;
    }
    if Marker::is_marker(data) {
        if let Ok(marker) = Marker::decode(bytes) {
            assert_eq!(Marker::decode(marker.encode()).as_ref(), Ok(&marker));
        }
        return;
    }
    let Ok(envelope) = Envelope::decode(bytes) else {
        return;
    };
    let once = envelope.encode();
    let again = Envelope::decode(once.clone()).expect("what was written reads back");
    assert_eq!(again.encode(), once);
});
