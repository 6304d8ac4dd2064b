// Shared between build.rs (which lays out the vocabulary tables) and the runtime lookup in
// `src/tokens/vocab.rs`; both must hash a piece identically. No crate-level items here: this
// file is `include!`d.

/// Multiplier of the FxHash family (rustc-hash); odd, good avalanche for word-sized input.
const VOCAB_HASH_K: u64 = 0x517c_c1b7_2722_0a95;

/// Hash of a byte string for the open-addressing vocabulary table.
#[inline]
pub(crate) fn vocab_hash(bytes: &[u8]) -> u64 {
    let mut h: u64 = bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(VOCAB_HASH_K);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(buf)).wrapping_mul(VOCAB_HASH_K);
    }
    // Final avalanche so that the low bits (the table index) depend on every input byte.
    h ^= h >> 29;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 32)
}
