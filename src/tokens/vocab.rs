//! Static BPE vocabularies (mergeable ranks) laid out by build.rs, and rank lookup.
//!
//! Each vocabulary is three byte blobs embedded in the binary: the token bytes in rank order,
//! their offsets, and an open-addressing hash table of (hash tag, rank). Nothing is parsed or
//! allocated at start-up. Invariant: `rank(token(r)) == Some(r)` for every mergeable rank `r`;
//! ranks of special tokens are not in these tables.

include!("vocab_hash.rs");

/// One vocabulary as laid out by build.rs.
pub(crate) struct VocabData {
    /// One past the highest mergeable rank.
    pub n: u32,
    bytes: &'static [u8],
    offsets: &'static [u8],
    table: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/vocab_data.rs"));

#[inline(always)]
fn read_u32(b: &[u8], i: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[i * 4..i * 4 + 4]);
    u32::from_le_bytes(a)
}

#[inline(always)]
fn read_u64(b: &[u8], i: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[i * 8..i * 8 + 8]);
    u64::from_le_bytes(a)
}

impl VocabData {
    /// Bytes of the token with this rank (empty for a rank that belongs to a special token).
    #[inline]
    pub fn token(&self, rank: u32) -> &'static [u8] {
        if rank >= self.n {
            return &[];
        }
        let r = rank as usize;
        &self.bytes[read_u32(self.offsets, r) as usize..read_u32(self.offsets, r + 1) as usize]
    }

    /// Rank of `piece` when it is one token.
    #[inline]
    pub fn rank(&self, piece: &[u8]) -> Option<u32> {
        let h = vocab_hash(piece);
        let mask = self.table.len() / 8 - 1;
        let tag = h >> 32;
        let mut i = (h as usize) & mask;
        loop {
            let e = read_u64(self.table, i);
            if e == u64::MAX {
                return None;
            }
            if e >> 32 == tag {
                let r = e as u32;
                if self.token(r) == piece {
                    return Some(r);
                }
            }
            i = (i + 1) & mask;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rank_round_trips_through_the_table() {
        for v in [&R50K_BASE, &P50K_BASE, &CL100K_BASE, &O200K_BASE] {
            for r in 0..v.n {
                let t = v.token(r);
                if !t.is_empty() {
                    assert_eq!(v.rank(t), Some(r));
                }
            }
        }
    }

    #[test]
    fn known_ranks_match_tiktoken() {
        assert_eq!(CL100K_BASE.rank(b"hello"), Some(15339));
        assert_eq!(CL100K_BASE.rank(b" world"), Some(1917));
        assert_eq!(O200K_BASE.rank(b"hello"), Some(24912));
        assert_eq!(R50K_BASE.rank(b"hello"), Some(31373));
        assert_eq!(CL100K_BASE.rank(b"definitely not one token"), None);
    }
}
