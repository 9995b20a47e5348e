//! Small JSON helpers shared by the codecs: nesting depth and string quoting.
//!
//! The codecs splice JSON text together rather than building `serde_json::Value`s, so they
//! need two things serde does not offer on text: how deeply a value nests (to refuse payloads
//! that would make a recursive parser on the receiving end run out of stack), and how long a
//! string is once quoted (so an encoder can size its buffer once, then write into it).

/// The deepest nesting of arrays and objects in JSON text.
///
/// Brackets inside strings do not count. On text that is not JSON the answer is meaningless
/// but still finite, and the function never panics: callers may run it before parsing.
pub fn depth(json: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in json.as_bytes() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth = depth.saturating_add(1);
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// The length of `s` as a JSON string literal, quotes included, exactly as [`push_quoted`]
/// writes it.
pub(crate) fn quoted_len(s: &str) -> usize {
    s.bytes()
        .map(|b| match b {
            b'"' | b'\\' | 0x08 | 0x0c | b'\n' | b'\r' | b'\t' => 2,
            0x00..=0x1f => 6,
            _ => 1,
        })
        .fold(2usize, usize::saturating_add)
}

/// Appends `s` to `out` as a JSON string literal.
///
/// Escapes what JSON requires (quote, backslash, control characters) and nothing else, the
/// same choices `serde_json` makes, so the output matches what it would write.
pub(crate) fn push_quoted(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let short = match b {
            b'"' => '"',
            b'\\' => '\\',
            0x08 => 'b',
            0x0c => 'f',
            b'\n' => 'n',
            b'\r' => 'r',
            b'\t' => 't',
            0x00..=0x1f => 'u',
            _ => continue,
        };
        // `i` is at an ASCII byte, so both slices end on character boundaries.
        out.push_str(&s[start..i]);
        out.push('\\');
        out.push(short);
        if short == 'u' {
            out.push_str("00");
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;

    #[test]
    fn depth_counts_brackets_outside_strings() {
        assert_eq!(depth(r#"{"a":[1,{"b":"[[[\\"]]"}]}"#), 3);
        assert_eq!(depth(r#""[{""#), 0);
        assert_eq!(depth("1"), 0);
        assert_eq!(depth("[[]]"), 2);
        // Not JSON: finite, no panic.
        assert_eq!(depth("]]]}}["), 1);
    }

    #[test]
    fn quoting_matches_serde_json() {
        let cases = [
            "",
            "plain",
            "quote \" and \\ backslash",
            "\u{0}\u{1}\u{8}\u{c}\n\r\t\u{1f}\u{7f}",
            "é ünï 😀 </script>",
        ];
        for s in cases {
            let mut out = String::new();
            push_quoted(&mut out, s);
            assert_eq!(out, serde_json::to_string(s).unwrap(), "{s:?}");
            assert_eq!(quoted_len(s), out.len(), "{s:?}");
        }
    }

    #[test]
    fn quoting_random_strings_matches_serde_json() {
        let mut rng = Rng::new(7);
        for _ in 0..2000 {
            let s = rng.string(24);
            let mut out = String::new();
            push_quoted(&mut out, &s);
            assert_eq!(out, serde_json::to_string(&s).unwrap());
            assert_eq!(quoted_len(&s), out.len());
        }
    }
}
