//! Latency histogram: log-linear buckets with 128 sub-buckets per power of two, so any value
//! is kept within 1/128 (0.8%) of itself in constant memory, whatever the number of requests.
//! Values below 256 µs are exact; mean and max are exact.

/// Sub-buckets per power of two.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;

/// Histogram of microsecond values.
#[derive(Debug, Clone, Default)]
pub struct Hist {
    counts: Vec<u64>,
    n: u64,
    sum: f64,
    max: u64,
}

fn index(v: u64) -> usize {
    if v < 2 * SUB {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb - SUB_BITS;
    (2 * SUB + (shift as u64 - 1) * SUB + ((v >> shift) - SUB)) as usize
}

/// Lower bound and width of bucket `i`.
fn bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < 2 * SUB {
        return (i, 1);
    }
    let shift = (i - 2 * SUB) / SUB + 1;
    let top = (i - 2 * SUB) % SUB + SUB;
    (top << shift, 1 << shift)
}

impl Hist {
    pub fn add(&mut self, v: u64) {
        let i = index(v);
        if i >= self.counts.len() {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.n += 1;
        self.sum += v as f64;
        self.max = self.max.max(v);
    }

    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum / self.n as f64
        }
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    /// The value at quantile `q` (nearest rank; the bucket's midpoint, exact below 256).
    pub fn quantile(&self, q: f64) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let rank = ((q * self.n as f64).ceil() as u64).clamp(1, self.n);
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let (lo, w) = bounds(i);
                let mid = if w == 1 {
                    lo as f64
                } else {
                    lo as f64 + (w as f64 - 1.0) / 2.0
                };
                return mid.min(self.max as f64);
            }
        }
        self.max as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_every_value_within_one_percent() {
        for v in [
            0u64,
            1,
            255,
            256,
            257,
            1_000,
            65_535,
            1 << 20,
            12_345_678,
            1 << 40,
        ] {
            let (lo, w) = bounds(index(v));
            assert!(lo <= v && v < lo + w, "{v} in [{lo}, {})", lo + w);
            assert!(w == 1 || (w as f64) / (lo as f64) <= 1.0 / 128.0 + 1e-12);
        }
    }

    #[test]
    fn quantiles_are_close_to_exact() {
        let mut h = Hist::default();
        for v in 1..=100_000u64 {
            h.add(v * 10);
        }
        for (q, exact) in [(0.5, 500_000.0), (0.95, 950_000.0), (0.99, 990_000.0)] {
            let got = h.quantile(q);
            assert!(
                (got - exact).abs() / exact < 0.008,
                "q{q}: {got} vs {exact}"
            );
        }
        assert_eq!(h.max(), 1_000_000);
        assert!((h.mean() - 500_005.0).abs() < 1e-6);
    }
}
