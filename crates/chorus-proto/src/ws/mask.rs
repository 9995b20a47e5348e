//! Unmasking (§5.3), a word at a time.

/// Unmasks (or masks: it is its own inverse) `payload` in place with `mask`, as if the
/// payload started at the mask's first byte: eight bytes at a time, the rest one by one.
pub fn unmask(payload: &mut [u8], mask: [u8; 4]) {
    let wide = u64::from_ne_bytes([
        mask[0], mask[1], mask[2], mask[3], mask[0], mask[1], mask[2], mask[3],
    ]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes(chunk.try_into().expect("8 bytes")) ^ wide;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    // The remainder starts at a multiple of 8, so at the mask's first byte.
    for (i, byte) in chunks.into_remainder().iter_mut().enumerate() {
        *byte ^= mask[i & 3];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmasking_matches_the_rfc_at_every_length() {
        let mask = [1, 2, 3, 4];
        for len in 0..40 {
            let plain: Vec<u8> = (0..len as u8).collect();
            let mut masked: Vec<u8> = plain
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            unmask(&mut masked, mask);
            assert_eq!(masked, plain, "{len}");
        }
    }
}
