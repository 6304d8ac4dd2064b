//! Stray timestamps: a row whose time lies far outside the rest of its file (a 2016 leap
//! second in a 2023 trace, a zeroed clock, a year typed wrong) makes a profile or simulation
//! span years of empty windows. Each file's few earliest and latest times are kept as rows
//! stream; when the gap between them and the rest is out of all proportion to the rest's own
//! span, the read reports the outlier with its file and line.
//!
//! Invariants:
//! * Bounded: [`KEPT`] times per end of a file, whatever its size; one comparison per row in
//!   the common case.
//! * A warning, never a refusal: the rows are read as written (the user may mean them).
//! * Rule: the rows before the first gap among the [`KEPT`] earliest (or after it, among the
//!   latest) are stray when the gap is at least [`MIN_GAP_US`] and at least [`RATIO`] times the
//!   span of all the other rows. At most `KEPT - 1` rows at each end can be named stray, so a
//!   trace in two real clusters of more rows is never flagged.

use serde::Serialize;

/// Times kept at each end of a file.
const KEPT: usize = 8;
/// A gap shorter than a day is never out of proportion: traces pause overnight.
const MIN_GAP_US: i64 = 86_400_000_000;
/// How many times the other rows' span a gap must be.
const RATIO: i64 = 30;

/// The earliest and latest times of a file, as rows stream.
#[derive(Debug, Clone, Default)]
pub(crate) struct Extremes {
    /// Earliest times, ascending.
    low: Vec<i64>,
    /// Latest times, descending.
    high: Vec<i64>,
}

impl Extremes {
    pub fn add(&mut self, t: i64) {
        keep(&mut self.low, t, |a, b| a < b);
        keep(&mut self.high, t, |a, b| a > b);
    }

    /// The stray rows at either end, if any: the earliest end first.
    pub fn strays(&self) -> Vec<Stray> {
        let (Some(&first), Some(&last)) = (self.low.first(), self.high.first()) else {
            return Vec::new();
        };
        [(&self.low, last, true), (&self.high, first, false)]
            .into_iter()
            .filter_map(|(kept, other_end, early)| stray_at(kept, other_end, early))
            .collect()
    }
}

/// The stray rows at one end: `kept` holds that end's times, most extreme first, and
/// `other_end` is the file's time at the other end. Rows `kept[..i]` stray when the gap from
/// `kept[i - 1]` to `kept[i]` is out of proportion to the span from `kept[i]` to `other_end`.
fn stray_at(kept: &[i64], other_end: i64, early: bool) -> Option<Stray> {
    let span = |a: i64, b: i64| a.abs_diff(b).min(i64::MAX as u64) as i64;
    kept.windows(2).enumerate().find_map(|(i, w)| {
        let (gap, rest) = (span(w[0], w[1]), span(w[1], other_end));
        out_of_proportion(gap, rest).then(|| Stray {
            t_us: kept[0],
            rows: (i + 1) as u64,
            early,
            gap_us: gap,
            rest_span_us: rest,
            line: None,
        })
    })
}

fn out_of_proportion(gap: i64, rest: i64) -> bool {
    gap >= MIN_GAP_US && gap / RATIO >= rest
}

/// Inserts `t` into `kept` (ordered by `before`) when it is among the [`KEPT`] first.
fn keep(kept: &mut Vec<i64>, t: i64, before: impl Fn(i64, i64) -> bool) {
    if kept.len() == KEPT && !before(t, kept[KEPT - 1]) {
        return;
    }
    let at = kept.partition_point(|&k| !before(t, k));
    kept.insert(at, t);
    kept.truncate(KEPT);
}

/// Rows of a file whose time lies far from all its other rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stray {
    /// The most extreme stray time (µs since the epoch).
    pub t_us: i64,
    /// Rows at that end before (or after) the gap.
    pub rows: u64,
    /// Before the other rows (else after them).
    pub early: bool,
    pub gap_us: i64,
    /// Span of the file's other rows.
    pub rest_span_us: i64,
    /// The line of the row at `t_us` (first such), where the format has lines.
    pub line: Option<u64>,
}

/// A stray found in a file.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimeOutlier {
    pub file: String,
    #[serde(flatten)]
    pub stray: Stray,
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const HOUR: i64 = 3_600_000_000;
    const T2023: i64 = 1_699_000_000_000_000;

    fn strays(times: &[i64]) -> Vec<Stray> {
        let mut x = Extremes::default();
        for &t in times {
            x.add(t);
        }
        x.strays()
    }

    #[test]
    fn a_leap_second_years_before_an_hour_of_traffic_is_named() {
        let mut times: Vec<i64> = (0..1000).map(|i| T2023 + i * HOUR / 1000).collect();
        let leap = 1_483_228_800_000_000; // 2017-01-01T00:00:00Z, the 2016 leap second's next
        times.insert(500, leap);
        let s = strays(&times);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].t_us, s[0].rows, s[0].early), (leap, 1, true));
    }

    #[test]
    fn a_far_future_row_and_a_few_together_are_named_with_their_count() {
        let mut times: Vec<i64> = (0..500).map(|i| T2023 + i * 1_000_000).collect();
        let far = T2023 + 400 * 24 * HOUR;
        times.extend([far, far - 5, far - 9]);
        let s = strays(&times);
        assert_eq!(s.len(), 1);
        assert_eq!((s[0].t_us, s[0].rows, s[0].early), (far, 3, false));
    }

    #[test]
    fn real_pauses_and_clusters_are_not_strays() {
        // A week with quiet nights, two days a month apart with many rows each, one row.
        let week: Vec<i64> = (0..7 * 24)
            .filter(|h| h % 24 >= 8 && h % 24 < 18)
            .map(|h| T2023 + h * HOUR)
            .collect();
        assert!(strays(&week).is_empty());
        let mut clusters: Vec<i64> = (0..50).map(|i| T2023 + i * 60_000_000).collect();
        clusters.extend((0..50).map(|i| T2023 + 30 * 24 * HOUR + i * 60_000_000));
        assert!(strays(&clusters).is_empty());
        assert!(strays(&[T2023]).is_empty());
        assert!(strays(&[]).is_empty());
    }

    proptest! {
        #[test]
        fn a_few_rows_far_from_the_rest_are_always_named_and_even_traffic_never(
            span_s in 60i64..30 * 86_400,
            offsets in prop::collection::vec(0.0f64..1.0, 50..400),
            n in 1usize..=3,
            early in any::<bool>(),
            factor in 31i64..10_000,
        ) {
            let span = span_s * 1_000_000;
            let times: Vec<i64> = offsets.iter().map(|f| T2023 + (f * span as f64) as i64).collect();
            let (lo, hi) = (*times.iter().min().unwrap(), *times.iter().max().unwrap());
            prop_assert!(strays(&times).is_empty());
            let gap = (factor * (hi - lo)).max(MIN_GAP_US) + 1;
            let far = if early { lo - gap } else { hi + gap };
            let mut with = times.clone();
            with.extend((0..n as i64).map(|i| if early { far + i } else { far - i }));
            let found = strays(&with);
            prop_assert_eq!(found.len(), 1);
            prop_assert_eq!((found[0].t_us, found[0].rows, found[0].early), (far, n as u64, early));
        }

        #[test]
        fn kept_ends_are_the_true_extremes(times in prop::collection::vec(any::<i32>(), 0..300)) {
            let mut x = Extremes::default();
            for &t in &times {
                x.add(t as i64);
            }
            let mut sorted: Vec<i64> = times.iter().map(|&t| t as i64).collect();
            sorted.sort_unstable();
            let n = sorted.len().min(KEPT);
            prop_assert_eq!(&x.low[..], &sorted[..n]);
            let mut rev = sorted.clone();
            rev.reverse();
            prop_assert_eq!(&x.high[..], &rev[..n]);
            // Never more than KEPT - 1 strays per end, whatever the times.
            for s in x.strays() {
                prop_assert!(s.rows < KEPT as u64);
            }
        }
    }
}
