//! A tiny deterministic random source for the decoders' "random input never panics" tests.
//!
//! An xorshift generator is enough to throw garbage at a decoder, adds no dependency, and a
//! fixed seed makes any failure reproducible. Test-only.

/// Xorshift64 with a fixed seed.
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator; `seed` must not be 0 (it is nudged if it is).
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    /// The next 64 random bits.
    pub(crate) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number in `0..n` (`n` > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Up to `max_len` random bytes.
    pub(crate) fn bytes(&mut self, max_len: usize) -> Vec<u8> {
        let len = self.below(max_len + 1);
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Up to `max_len` characters, mostly ASCII punctuation and digits with some control
    /// and multi-byte characters: the alphabet protocol text is made of.
    pub(crate) fn string(&mut self, max_len: usize) -> String {
        self.string_from(max_len, "0123456789-/,[]{}\":_ abnpt\\\n\u{1e}\u{0}é😀")
    }

    /// Up to `max_len` characters drawn from `alphabet`.
    pub(crate) fn string_from(&mut self, max_len: usize, alphabet: &str) -> String {
        let chars: Vec<char> = alphabet.chars().collect();
        let len = self.below(max_len + 1);
        (0..len).map(|_| chars[self.below(chars.len())]).collect()
    }

    /// `base` with up to `edits` random characters replaced, inserted or removed.
    pub(crate) fn mutate(&mut self, base: &str, edits: usize) -> String {
        let mut chars: Vec<char> = base.chars().collect();
        for _ in 0..=self.below(edits) {
            let pick = self.string(1).chars().next().unwrap_or('x');
            let at = self.below(chars.len() + 1);
            match self.below(3) {
                0 if at < chars.len() => chars[at] = pick,
                1 => chars.insert(at, pick),
                _ if at < chars.len() => {
                    chars.remove(at);
                }
                _ => {}
            }
        }
        chars.into_iter().collect()
    }
}
