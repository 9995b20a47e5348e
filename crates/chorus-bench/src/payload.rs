//! The body of every message the bench publishes: `"<seq> <send_ns> <padding>"`.
//!
//! `seq` counts a publisher's messages from 0 so receivers can find gaps (see
//! [`crate::loss`]); `send_ns` is [`crate::clock::now_ns`] at send time so receivers can
//! compute latency without any per-message state. The padding (`x`) brings the body to the
//! requested size; it is never read back, receivers parse only the two leading numbers.
//!
//! The body contains digits, spaces and `x` only, so it can be spliced into a JSON string
//! (native, Socket.IO) without escaping.

use std::io::Write;

/// What a receiver reads back from a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    /// The publisher's sequence number, from 0.
    pub(crate) seq: u64,
    /// Send time, nanoseconds on the process clock.
    pub(crate) sent_ns: u64,
}

/// Appends the body for `stamp` to `out`, padded so the body is `size` bytes. A `size`
/// smaller than the two numbers and their separators gives the unpadded body: the
/// stamp is never truncated.
pub(crate) fn write(out: &mut Vec<u8>, stamp: Stamp, size: usize) {
    let start = out.len();
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{} {} ", stamp.seq, stamp.sent_ns);
    let end = start + size;
    if out.len() < end {
        out.resize(end, b'x');
    }
}

/// Reads the stamp at the start of a body; `None` if it does not start with two
/// space-separated decimal numbers.
pub(crate) fn parse(body: &[u8]) -> Option<Stamp> {
    let (seq, rest) = number(body)?;
    let rest = rest.strip_prefix(b" ")?;
    let (sent_ns, _) = number(rest)?;
    Some(Stamp { seq, sent_ns })
}

/// A leading decimal number and what follows it.
fn number(text: &[u8]) -> Option<(u64, &[u8])> {
    let digits = text.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let mut value: u64 = 0;
    for &b in &text[..digits] {
        value = value.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some((value, &text[digits..]))
}

/// Microseconds from `sent_ns` to `now_ns`; 0 if the stamp is from the future (a
/// corrupted body), so one bad frame cannot wrap into a huge sample.
pub(crate) fn latency_us(sent_ns: u64, now_ns: u64) -> u64 {
    now_ns.saturating_sub(sent_ns) / 1_000
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(seq: u64, sent_ns: u64, size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        write(&mut out, Stamp { seq, sent_ns }, size);
        out
    }

    #[test]
    fn pads_to_the_requested_size() {
        let b = body(7, 123_456, 64);
        assert_eq!(b.len(), 64);
        assert!(b.starts_with(b"7 123456 xxx"));
        assert!(b[9..].iter().all(|&c| c == b'x'));
    }

    #[test]
    fn never_truncates_the_stamp() {
        assert_eq!(body(12, 34, 0), b"12 34 ");
        assert_eq!(body(12, 34, 6), b"12 34 ");
        assert_eq!(body(12, 34, 7), b"12 34 x");
    }

    #[test]
    fn appends_after_existing_bytes() {
        let mut out = b"prefix:".to_vec();
        write(&mut out, Stamp { seq: 1, sent_ns: 2 }, 8);
        assert_eq!(out, b"prefix:1 2 xxxx");
    }

    #[test]
    fn parses_what_it_writes() {
        for (seq, sent) in [(0, 0), (1, 999), (u64::MAX, u64::MAX - 1)] {
            let b = body(seq, sent, 100);
            assert_eq!(parse(&b), Some(Stamp { seq, sent_ns: sent }));
        }
    }

    #[test]
    fn parses_only_the_leading_numbers() {
        assert_eq!(parse(b"5 6"), Some(Stamp { seq: 5, sent_ns: 6 }));
        assert_eq!(parse(b"5 6\" trailing"), Some(Stamp { seq: 5, sent_ns: 6 }));
    }

    #[test]
    fn rejects_what_is_not_a_stamp() {
        for bad in [
            &b""[..],
            b"x",
            b"5",
            b"5 ",
            b" 5 6",
            b"5  6",
            b"a 6",
            b"99999999999999999999 1",
        ] {
            assert_eq!(parse(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn latency_never_goes_negative() {
        assert_eq!(latency_us(1_000, 3_500), 2);
        assert_eq!(latency_us(5_000, 1_000), 0);
    }
}
