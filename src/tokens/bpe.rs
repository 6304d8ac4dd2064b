//! Byte-pair merging of one piece, counting the tokens it becomes.
//!
//! Same merge order as tiktoken's `_byte_pair_merge`: repeatedly merge the adjacent pair whose
//! concatenated bytes have the lowest rank, leftmost first on ties, until no pair is a token.
//! Short pieces use the vector scan (cache-friendly, O(n·m)); pieces of
//! `LARGE_PIECE` bytes or more use a heap over a linked list (O(m log n)), so a 1 MB run of one
//! character costs milliseconds, not minutes (tiktoken issue #195 was this quadratic case).

use super::vocab::VocabData;

/// Pieces at least this long are merged with the heap (tiktoken switches at 100 bytes too).
const LARGE_PIECE: usize = 100;

/// Number of tokens `piece` encodes to (`piece` non-empty).
pub(crate) fn count_piece(vocab: &VocabData, piece: &[u8]) -> usize {
    if piece.len() == 1 || vocab.rank(piece).is_some() {
        return 1;
    }
    if piece.len() < LARGE_PIECE {
        merge_small(vocab, piece)
    } else {
        merge_large(vocab, piece)
    }
}

fn merge_small(vocab: &VocabData, piece: &[u8]) -> usize {
    // parts[i] = (start of part i, rank of merging part i with part i + 1).
    let mut parts: Vec<(usize, u32)> = Vec::with_capacity(piece.len() + 1);
    for i in 0..piece.len() - 1 {
        parts.push((i, vocab.rank(&piece[i..i + 2]).unwrap_or(u32::MAX)));
    }
    parts.push((piece.len() - 1, u32::MAX));
    parts.push((piece.len(), u32::MAX));

    let rank_at = |parts: &Vec<(usize, u32)>, i: usize| -> u32 {
        if i + 3 < parts.len() {
            vocab
                .rank(&piece[parts[i].0..parts[i + 3].0])
                .unwrap_or(u32::MAX)
        } else {
            u32::MAX
        }
    };

    loop {
        let mut min = (u32::MAX, 0usize);
        for (i, &(_, r)) in parts[..parts.len() - 1].iter().enumerate() {
            if r < min.0 {
                min = (r, i);
            }
        }
        if min.0 == u32::MAX {
            break;
        }
        let i = min.1;
        if i > 0 {
            parts[i - 1].1 = rank_at(&parts, i - 1);
        }
        parts[i].1 = rank_at(&parts, i);
        parts.remove(i + 1);
    }
    parts.len() - 1
}

fn merge_large(vocab: &VocabData, piece: &[u8]) -> usize {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;

    let n = piece.len();
    // Parts are identified by their start byte; `end[s]` is where part `s` ends, `prev[s]` the
    // start of the part before it. A part is alive while it is reachable through `end`.
    let mut end: Vec<usize> = (1..=n).collect();
    let mut prev: Vec<usize> = (0..n).map(|i| i.wrapping_sub(1)).collect();
    let mut alive = vec![true; n];
    // Min-heap of (rank, left start, right end): merge the lowest rank, leftmost first.
    let mut heap: BinaryHeap<Reverse<(u32, usize, usize)>> = BinaryHeap::with_capacity(n);
    for i in 0..n - 1 {
        if let Some(r) = vocab.rank(&piece[i..i + 2]) {
            heap.push(Reverse((r, i, i + 2)));
        }
    }
    let mut parts = n;
    while let Some(Reverse((_, s, right_end))) = heap.pop() {
        if !alive[s] {
            continue;
        }
        let mid = end[s];
        if mid >= n || end[mid] != right_end {
            continue; // stale: one side has merged since this pair was pushed
        }
        end[s] = right_end;
        alive[mid] = false;
        parts -= 1;
        if right_end < n {
            prev[right_end] = s;
            let next_end = end[right_end];
            if let Some(r) = vocab.rank(&piece[s..next_end]) {
                heap.push(Reverse((r, s, next_end)));
            }
        }
        if s > 0 {
            let left = prev[s];
            if let Some(r) = vocab.rank(&piece[left..right_end]) {
                heap.push(Reverse((r, left, right_end)));
            }
        }
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::super::vocab::{CL100K_BASE, O200K_BASE};
    use super::*;

    #[test]
    fn heap_and_scan_merges_agree() {
        let samples: Vec<Vec<u8>> = vec![
            b"supercalifragilisticexpialidocious".to_vec(),
            b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec(),
            "ｆｕｌｌｗｉｄｔｈ文字列のテスト".as_bytes().to_vec(),
            b"0x7f3a9c2b1d8e6f4a5b3c2d1e0f9a8b7c".to_vec(),
            b"zzzyyyxxxwwwvvvuuutttsssrrrqqqpppooo".to_vec(),
        ];
        for vocab in [&CL100K_BASE, &O200K_BASE] {
            for s in &samples {
                assert_eq!(merge_small(vocab, s), merge_large(vocab, s), "{s:?}");
            }
        }
    }

    #[test]
    fn a_hundred_thousand_letters_merge_quickly_and_match_tiktoken() {
        // python tiktoken 0.14.0: len(enc.encode("a" * 100_000)) == 12_500 for cl100k_base.
        let piece = vec![b'a'; 100_000];
        assert_eq!(count_piece(&CL100K_BASE, &piece), 12_500);
    }
}
