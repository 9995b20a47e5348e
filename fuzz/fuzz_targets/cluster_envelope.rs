//! The cluster envelope (`chorus_core::cluster::envelope`): what one node reads of what
//! another published through the broker. Besides "never panics", whatever it accepts reads
//! back the same once written again: encoding what was decoded is a fixed point.
#![no_main]

use bytes::Bytes;
use chorus_core::cluster::Envelope;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(envelope) = Envelope::decode(Bytes::copy_from_slice(data)) else {
        return;
    };
    let once = envelope.encode();
    let again = Envelope::decode(once.clone()).expect("what was written reads back");
    assert_eq!(again.encode(), once);
});
