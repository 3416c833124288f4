//! Payload masking (RFC 6455 §5.3).
//!
//! Every frame a client sends is masked: payload byte `i` is XORed with byte `i % 4` of a
//! 4-byte key carried in the frame header. Unmasking is the same operation, and it touches
//! every received byte, so it is the hot path of the receive side.
//!
//! Two shapes of the same loops: wide ones (32-byte chunks of `u64` words), measured
//! fastest where they matter, and compact ones (`u32` words, or bytes) on bare-metal
//! targets (`target_os = "none"`: microcontrollers, where flash is scarce and there is no
//! SIMD to feed). The compact shape saves about 1 KB of flash on thumbv7em
//! (`benches/flash`). Both are tested against the §5.3 definition on every target.

/// Whether the compact loops are used: on bare-metal targets.
const COMPACT: bool = crate::target::COMPACT_CODE;

/// Bytes processed per iteration of the wide loop: four `u64` words, which LLVM turns into
/// SIMD XORs (two 128-bit operations on baseline x86_64) on targets that have them.
const CHUNK: usize = 32;

/// XOR `buf` with the 4-byte masking `key` (RFC 6455 §5.3), where `buf` starts `offset` bytes into
/// the payload (so byte i is XORed with key[(offset + i) % 4]). Its own inverse.
///
/// `offset` lets a payload that arrives in pieces be unmasked piece by piece: pass the number
/// of payload bytes already unmasked.
///
/// Shape chosen by measurement (criterion, 2-core x86_64 VM, 2026): 32-byte chunks of four
/// `u64` XORs, then 8-byte words, then single bytes. Against a plain 8-bytes-at-a-time loop
/// it runs at 3.8x on 16 B, 3x on 100 B, 1.6x on 1 KiB and the same or slightly better
/// (~44 GB/s, cache bound) on 64 KiB and 1 MiB; a bytewise loop manages ~3.5 GB/s. 64-byte
/// chunks and `u128` words were no faster.
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    if COMPACT {
        apply_mask_compact(buf, key, offset);
    } else {
        apply_mask_wide(buf, key, offset);
    }
}

/// [`apply_mask`] one `u32` word at a time: a short loop, a quarter of the iterations of
/// a bytewise one.
fn apply_mask_compact(buf: &mut [u8], key: [u8; 4], offset: usize) {
    let key = rotate_key(key, offset);
    let word = u32::from_ne_bytes(key);
    let mut lanes = buf.chunks_exact_mut(4);
    for lane in &mut lanes {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(lane);
        lane.copy_from_slice(&(u32::from_ne_bytes(bytes) ^ word).to_ne_bytes());
    }
    for (byte, k) in lanes.into_remainder().iter_mut().zip(key) {
        *byte ^= k;
    }
}

/// `key` rotated so that its first byte applies to payload byte `offset` (§5.3: octet
/// `i` uses `key[i mod 4]`). Rotating a little-endian u32 right by one byte moves key[1]
/// into the first byte; `offset % 4` is below 4, so the shift is at most 24.
#[inline(always)]
fn rotate_key(key: [u8; 4], offset: usize) -> [u8; 4] {
    let shift = 8 * (offset % 4) as u32;
    u32::from_le_bytes(key).rotate_right(shift).to_le_bytes()
}

/// [`apply_mask`] in 32-byte chunks of `u64` words.
#[inline]
fn apply_mask_wide(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // Rotate the key so that key[0] applies to buf[0].
    let key = rotate_key(key, offset);
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);

    // 32 and 8 are multiples of 4, so every chunk and word below starts at key[0].
    let mut chunks = buf.chunks_exact_mut(CHUNK);
    for chunk in &mut chunks {
        chunk
            .chunks_exact_mut(8)
            .for_each(|lane| xor_word(lane, word));
    }
    let mut lanes = chunks.into_remainder().chunks_exact_mut(8);
    for lane in &mut lanes {
        xor_word(lane, word);
    }
    for (i, byte) in lanes.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

/// [`apply_mask`] from payload offset 0 for a payload of at most 125 bytes (a small
/// message or a control frame): 8-byte words, then bytes, with no set-up for the wide loop.
/// Always inlined, so that the small-message receive path makes no call.
#[inline(always)]
pub(crate) fn apply_mask_short(buf: &mut [u8], key: [u8; 4]) {
    if COMPACT {
        return apply_mask_compact(buf, key, 0);
    }
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut lanes = buf.chunks_exact_mut(8);
    for lane in &mut lanes {
        xor_word(lane, word);
    }
    for (i, byte) in lanes.into_remainder().iter_mut().enumerate() {
        *byte ^= key[i % 4];
    }
}

/// Copy `src` into `dst` masked with `key` from payload offset 0, in one pass (the send
/// side: reading, XORing and writing each word once instead of copying, then masking in
/// place). `dst` and `src` must have the same length.
#[inline]
pub fn copy_masked(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    debug_assert_eq!(dst.len(), src.len());
    if COMPACT {
        copy_masked_compact(dst, src, key);
    } else {
        copy_masked_wide(dst, src, key);
    }
}

/// [`copy_masked`] one byte at a time (the smallest loop; what is sent from firmware is
/// short).
fn copy_masked_compact(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    for (i, (out, inp)) in dst.iter_mut().zip(src).enumerate() {
        *out = inp ^ key[i % 4];
    }
}

/// [`copy_masked`] in 32-byte chunks of `u64` words.
#[inline]
fn copy_masked_wide(dst: &mut [u8], src: &[u8], key: [u8; 4]) {
    let word = u64::from_ne_bytes([
        key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
    ]);
    let mut dst_chunks = dst.chunks_exact_mut(CHUNK);
    let mut src_chunks = src.chunks_exact(CHUNK);
    for (out, inp) in (&mut dst_chunks).zip(&mut src_chunks) {
        for (out, inp) in out.chunks_exact_mut(8).zip(inp.chunks_exact(8)) {
            copy_word(out, inp, word);
        }
    }
    let mut dst_lanes = dst_chunks.into_remainder().chunks_exact_mut(8);
    let mut src_lanes = src_chunks.remainder().chunks_exact(8);
    for (out, inp) in (&mut dst_lanes).zip(&mut src_lanes) {
        copy_word(out, inp, word);
    }
    let tail = dst_lanes
        .into_remainder()
        .iter_mut()
        .zip(src_lanes.remainder());
    for (i, (out, inp)) in tail.enumerate() {
        *out = inp ^ key[i % 4];
    }
}

/// Write the 8 bytes of `inp` XORed with `word` into `out`.
#[inline(always)]
fn copy_word(out: &mut [u8], inp: &[u8], word: u64) {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(inp);
    out.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
}

/// XOR the 8 bytes of `lane` with `word`.
#[inline(always)]
fn xor_word(lane: &mut [u8], word: u64) {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(lane);
    lane.copy_from_slice(&(u64::from_ne_bytes(bytes) ^ word).to_ne_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apply_mask_short_equals_the_definition_up_to_125_bytes() {
        let mut src = [0u8; 125];
        fill(&mut src, 11);
        let key = [0x9a, 0x01, 0xfe, 0x42];
        for len in 0..=src.len() {
            let mut expected = src[..len].to_vec();
            reference(&mut expected, key, 0);
            let mut masked = src[..len].to_vec();
            apply_mask_short(&mut masked, key);
            assert_eq!(masked, expected, "length {len}");
        }
    }

    #[test]
    fn copy_masked_equals_copy_then_mask() {
        let mut src = [0u8; 300];
        fill(&mut src, 7);
        let key = [0x37, 0xfa, 0x21, 0x3d];
        for len in 0..src.len() {
            let mut expected = src[..len].to_vec();
            reference(&mut expected, key, 0);
            let mut dst = std::vec![0u8; len];
            copy_masked(&mut dst, &src[..len], key);
            assert_eq!(dst, expected, "length {len}");
        }
    }

    /// The §5.3 definition, one byte at a time.
    fn reference(buf: &mut [u8], key: [u8; 4], offset: usize) {
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte ^= key[(offset % 4 + i) % 4];
        }
    }

    /// Deterministic non-trivial bytes.
    fn fill(buf: &mut [u8], seed: u32) {
        let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        for byte in buf {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *byte = state.to_le_bytes()[0];
        }
    }

    const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    #[test]
    fn matches_reference_for_every_offset_and_small_length() {
        for offset in [0, 1, 2, 3, 4, 5, 6, 7, 1001, usize::MAX] {
            for len in 0..100 {
                let mut data = [0u8; 100];
                fill(&mut data, len as u32);
                let mut expected = data;
                reference(&mut expected[..len], KEY, offset);
                apply_mask(&mut data[..len], KEY, offset);
                assert_eq!(data, expected, "offset {offset}, len {len}");
            }
        }
    }

    #[test]
    fn matches_reference_on_large_unaligned_buffers() {
        let mut original = [0u8; 20_003];
        fill(&mut original, 7);
        for start in 0..4 {
            for offset in 0..4 {
                let mut data = original;
                let mut expected = original;
                reference(&mut expected[start..], KEY, offset);
                apply_mask(&mut data[start..], KEY, offset);
                assert!(data == expected, "start {start}, offset {offset}");
            }
        }
    }

    #[test]
    fn piecewise_equals_whole() {
        let mut original = [0u8; 1000];
        fill(&mut original, 3);
        let mut whole = original;
        apply_mask(&mut whole, KEY, 0);
        for split in [1, 3, 4, 31, 32, 33, 517] {
            let mut pieces = original;
            let (first, second) = pieces.split_at_mut(split);
            apply_mask(first, KEY, 0);
            apply_mask(second, KEY, split);
            assert!(pieces == whole, "split {split}");
        }
    }

    #[test]
    fn applying_twice_restores_the_input() {
        let mut original = [0u8; 4099];
        fill(&mut original, 11);
        for offset in 0..4 {
            for len in [0, 1, 7, 8, 31, 32, 33, 64, 100, 4099] {
                let mut data = original;
                apply_mask(&mut data[..len], KEY, offset);
                if len >= 8 {
                    assert!(data[..len] != original[..len]);
                }
                apply_mask(&mut data[..len], KEY, offset);
                assert!(data == original, "offset {offset}, len {len}");
            }
        }
    }

    /// The compact loops (used on bare-metal targets) against the definition, on this
    /// host too, at every offset, across the word boundaries.
    #[test]
    fn compact_loops_match_reference() {
        for offset in [0, 1, 2, 3, 4, 5, 1001, usize::MAX] {
            for len in 0..40 {
                let mut data = [0u8; 40];
                fill(&mut data, len as u32 + 5);
                let mut expected = data;
                reference(&mut expected[..len], KEY, offset);
                let mut masked = data;
                apply_mask_compact(&mut masked[..len], KEY, offset);
                assert_eq!(masked, expected, "offset {offset}, len {len}");
                if offset == 0 {
                    let mut copied = [0u8; 40];
                    copy_masked_compact(&mut copied[..len], &data[..len], KEY);
                    assert_eq!(copied[..len], expected[..len], "copy, len {len}");
                }
            }
        }
    }

    #[test]
    fn rfc_5_7_masked_hello() {
        let mut payload = [0x7f, 0x9f, 0x4d, 0x51, 0x58];
        apply_mask(&mut payload, KEY, 0);
        assert_eq!(&payload, b"Hello");
    }
}
