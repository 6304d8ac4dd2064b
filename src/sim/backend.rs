//! Deployment admission: provisioned utilisation (leaky bucket) and Standard TPM / RPM limits.
//!
//! Provisioned (azure-openai-capacity.md §5): a request is rejected with 429 when utilisation is
//! at or above 100%, with `retry-after-ms` = the time until it drains below 100%; otherwise it
//! is admitted and charged its estimate (prompt − cached + output weight × max_tokens estimate),
//! which may take the bucket just over 100% ("bursts just over 100% may be permitted"). On
//! completion the difference between the actual cost and the estimate is added or refunded.
//! The bucket drains continuously at PTUs × input TPM per PTU per minute. Choice: 100% is one
//! bucket of `bucket_s` seconds of throughput (default 60 s, as utilisation is reported per
//! minute).
//!
//! Standard (§6): RPM is enforced per window of `rpm_window_s` (default 10 s: RPM ÷ 6 per
//! window), TPM per window of `tpm_window_s` (default 60 s, a counter reset each minute), both
//! counted at arrival with the estimate prompt + max_tokens. A request is rejected once a
//! counter has reached its limit; the request that crosses the TPM limit is admitted. Windows
//! are aligned to multiples of their length. Retry-After is the time to the window's end.
//!
//! A provisioned deployment may follow a capacity schedule by UTC hour of day (a reserved base
//! plus hourly PTUs in busy hours, as `plan`'s reservation mix proposes): the bucket then
//! drains, and holds, the current hour's capacity, and the utilisation meter divides by it.
//!
//! Utilisation as Azure Monitor reports it ("PTUs consumed ÷ PTUs deployed" per minute; for
//! Standard, tokens counted ÷ TPM limit) is measured apart from admission by [`Meter`]: the
//! charge of the trailing 60 seconds over one minute of capacity, sampled every second.

/// Outcome of an admission check.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Admit {
    Ok,
    /// HTTP 429 with `retry-after-ms`.
    Throttled {
        retry_after_us: i64,
    },
}

const HOUR_US: i64 = 3_600_000_000;

/// The UTC hour of day of `t_us`.
fn hour_of(t_us: i64) -> usize {
    t_us.div_euclid(HOUR_US).rem_euclid(24) as usize
}

/// Leaky-bucket utilisation of a provisioned deployment.
#[derive(Debug, Clone)]
pub struct Bucket {
    level: f64,
    last_us: i64,
    drain_per_us: f64,
    size: f64,
    /// (drain per µs, size) by UTC hour, for a scheduled capacity.
    hourly: Option<Box<[(f64, f64); 24]>>,
}

impl Bucket {
    pub fn new(drain_per_us: f64, size: f64, start_us: i64) -> Self {
        Bucket {
            level: 0.0,
            last_us: start_us,
            drain_per_us,
            size,
            hourly: None,
        }
    }

    /// A bucket whose drain and size follow `hourly` (by UTC hour of day).
    pub fn scheduled(hourly: [(f64, f64); 24], start_us: i64) -> Self {
        let (drain_per_us, size) = hourly[hour_of(start_us)];
        Bucket {
            level: 0.0,
            last_us: start_us,
            drain_per_us,
            size,
            hourly: Some(Box::new(hourly)),
        }
    }

    /// Drains the bucket up to `now` (hour by hour when the capacity follows a schedule).
    pub fn advance(&mut self, now: i64) {
        if now <= self.last_us {
            return;
        }
        let Some(h) = &self.hourly else {
            self.level = (self.level - self.drain_per_us * (now - self.last_us) as f64).max(0.0);
            self.last_us = now;
            return;
        };
        while self.last_us < now {
            let to = now.min((self.last_us.div_euclid(HOUR_US) + 1) * HOUR_US);
            let (drain, _) = h[hour_of(self.last_us)];
            self.level = (self.level - drain * (to - self.last_us) as f64).max(0.0);
            self.last_us = to;
        }
        (self.drain_per_us, self.size) = h[hour_of(now)];
    }

    /// Admission of a request with cost estimate `estimate`.
    pub fn admit(&mut self, now: i64, estimate: f64) -> Admit {
        self.advance(now);
        if self.level >= self.size {
            // Until strictly below 100%: one microsecond past the point where it reaches 100%
            // (at the current hour's rate).
            let wait = (self.level - self.size) / self.drain_per_us;
            return Admit::Throttled {
                retry_after_us: wait.floor() as i64 + 1,
            };
        }
        self.level += estimate;
        Admit::Ok
    }

    /// Corrects the charge on completion (`delta` = actual − estimate).
    pub fn correct(&mut self, now: i64, delta: f64) {
        self.advance(now);
        self.level = (self.level + delta).max(0.0);
    }

    /// Current bucket level (1.0 = 100%).
    pub fn level(&self) -> f64 {
        self.level / self.size
    }
}

/// TPM / RPM windows of a Standard deployment.
#[derive(Debug, Clone)]
pub struct Limits {
    tpm_per_window: f64,
    rpm_per_window: u64,
    tpm_window_us: i64,
    rpm_window_us: i64,
    tpm_idx: i64,
    tpm_used: f64,
    rpm_idx: i64,
    rpm_used: u64,
}

impl Limits {
    pub fn new(tpm_limit: u64, rpm_limit: f64, tpm_window_us: i64, rpm_window_us: i64) -> Self {
        Limits {
            tpm_per_window: tpm_limit as f64 * tpm_window_us as f64 / 60e6,
            rpm_per_window: ((rpm_limit * rpm_window_us as f64 / 60e6).floor() as u64).max(1),
            tpm_window_us,
            rpm_window_us,
            tpm_idx: i64::MIN,
            tpm_used: 0.0,
            rpm_idx: i64::MIN,
            rpm_used: 0,
        }
    }

    /// Requests admitted per RPM window.
    pub fn rpm_per_window(&self) -> u64 {
        self.rpm_per_window
    }

    /// Tokens admitted per TPM window.
    pub fn tpm_per_window(&self) -> f64 {
        self.tpm_per_window
    }

    fn roll(&mut self, now: i64) {
        let t = now.div_euclid(self.tpm_window_us);
        if t != self.tpm_idx {
            self.tpm_idx = t;
            self.tpm_used = 0.0;
        }
        let r = now.div_euclid(self.rpm_window_us);
        if r != self.rpm_idx {
            self.rpm_idx = r;
            self.rpm_used = 0;
        }
    }

    /// Admission of a request whose TPM estimate is `estimate` tokens.
    pub fn admit(&mut self, now: i64, estimate: f64) -> Admit {
        self.roll(now);
        if self.rpm_used >= self.rpm_per_window {
            return Admit::Throttled {
                retry_after_us: (self.rpm_idx + 1) * self.rpm_window_us - now,
            };
        }
        if self.tpm_used >= self.tpm_per_window {
            return Admit::Throttled {
                retry_after_us: (self.tpm_idx + 1) * self.tpm_window_us - now,
            };
        }
        self.rpm_used += 1;
        self.tpm_used += estimate;
        Admit::Ok
    }
}

/// Charge over the trailing 60 s ÷ one minute of capacity, sampled at the end of every second.
#[derive(Debug, Clone)]
pub struct Meter {
    per_minute: f64,
    /// A minute of capacity by UTC hour, for a scheduled capacity.
    hourly: Option<Box<[f64; 24]>>,
    ring: [f64; 60],
    sum: f64,
    /// The second currently accumulating.
    cur_s: i64,
    /// First sampled second.
    pub first_s: i64,
    /// One value per second from `first_s` (1.0 = 100%).
    pub values: Vec<f32>,
}

impl Meter {
    pub fn new(per_minute: f64, start_us: i64) -> Self {
        let s = start_us.div_euclid(1_000_000);
        Meter {
            per_minute,
            hourly: None,
            ring: [0.0; 60],
            sum: 0.0,
            cur_s: s,
            first_s: s,
            values: Vec::new(),
        }
    }

    /// A meter whose minute of capacity follows `hourly` (by UTC hour of day).
    pub fn scheduled(hourly: [f64; 24], start_us: i64) -> Self {
        Meter {
            hourly: Some(Box::new(hourly)),
            ..Meter::new(hourly[hour_of(start_us)], start_us)
        }
    }

    /// Closes every second that ended by `now`.
    pub fn advance(&mut self, now: i64) {
        let s = now.div_euclid(1_000_000);
        while self.cur_s < s {
            let per_minute = match &self.hourly {
                Some(h) => h[hour_of(self.cur_s * 1_000_000)],
                None => self.per_minute,
            };
            let v = if per_minute > 0.0 {
                self.sum.max(0.0) / per_minute
            } else {
                0.0
            };
            self.values.push(v as f32);
            self.cur_s += 1;
            let slot = self.cur_s.rem_euclid(60) as usize;
            self.sum -= self.ring[slot];
            self.ring[slot] = 0.0;
        }
    }

    /// Records a charge (negative for a refund) at `now`.
    pub fn add(&mut self, now: i64, amount: f64) {
        self.advance(now);
        self.ring[self.cur_s.rem_euclid(60) as usize] += amount;
        self.sum += amount;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    #[test]
    fn bucket_admits_until_full_then_throttles_until_drained() {
        // 1,000 tokens per second drain, 60,000-token bucket.
        let mut b = Bucket::new(1e-3, 60_000.0, 0);
        assert_eq!(b.admit(0, 59_000.0), Admit::Ok);
        // Below 100%: admitted, and may go just over.
        assert_eq!(b.admit(0, 5_000.0), Admit::Ok);
        match b.admit(0, 1.0) {
            Admit::Throttled { retry_after_us } => assert_eq!(retry_after_us, 4 * S + 1),
            other => panic!("{other:?}"),
        }
        assert!(matches!(b.admit(4 * S, 1.0), Admit::Throttled { .. }));
        assert_eq!(b.admit(4 * S + 1, 1.0), Admit::Ok);
    }

    #[test]
    fn completion_refunds_the_unused_estimate() {
        let mut b = Bucket::new(1e-3, 1_000.0, 0);
        assert_eq!(b.admit(0, 1_000.0), Admit::Ok);
        assert!(matches!(b.admit(0, 1.0), Admit::Throttled { .. }));
        b.correct(0, -600.0);
        assert_eq!(b.admit(0, 1.0), Admit::Ok);
        assert!((b.level() - 0.401).abs() < 1e-9);
    }

    #[test]
    fn scheduled_bucket_drains_and_holds_each_hours_capacity() {
        // 1 token/µs and 100 tokens of bucket before 01:00 UTC, 3 tokens/µs and 300 after.
        let mut hourly = [(1.0, 100.0); 24];
        hourly[1] = (3.0, 300.0);
        let h = HOUR_US;
        let mut b = Bucket::scheduled(hourly, h - 100);
        assert_eq!(b.admit(h - 100, 250.0), Admit::Ok);
        // 100 µs at 1/µs, then 50 µs at 3/µs: 250 − 100 − 150 = 0.
        b.advance(h + 50);
        assert!(b.level().abs() < 1e-9, "{}", b.level());
        // At 01:00 the bucket holds 300: a 300-token charge is admitted below it, then it is full.
        assert_eq!(b.admit(h + 50, 300.0), Admit::Ok);
        assert!(matches!(b.admit(h + 50, 1.0), Admit::Throttled { .. }));
        let mut m = Meter::scheduled([6_000.0; 24], 0);
        m.add(S / 2, 3_000.0);
        m.advance(2 * S);
        assert!((m.values[0] - 0.5).abs() < 1e-6);
    }

    #[test]
    fn meter_reports_the_trailing_minute_over_capacity() {
        // 6,000 per minute of capacity; 3,000 charged at 0.5 s, refund 1,000 at 1.5 s.
        let mut m = Meter::new(6_000.0, 0);
        m.add(S / 2, 3_000.0);
        m.add(3 * S / 2, -1_000.0);
        m.advance(62 * S);
        let v = &m.values;
        assert_eq!(v.len(), 62);
        assert!((v[0] - 0.5).abs() < 1e-6);
        assert!((v[1] - 1.0 / 3.0).abs() < 1e-6);
        assert!(
            (v[59] - 1.0 / 3.0).abs() < 1e-6,
            "still inside the trailing minute"
        );
        assert!(
            v[60] < 1e-6 && v[61] < 1e-6,
            "both charges have left the window"
        );
    }

    #[test]
    fn standard_rpm_window_holds_rpm_over_six_per_ten_seconds() {
        // 10,000 TPM -> 60 RPM -> 10 requests per 10 s window.
        let mut l = Limits::new(10_000, 60.0, 60 * S, 10 * S);
        for _ in 0..10 {
            assert_eq!(l.admit(S, 1.0), Admit::Ok);
        }
        assert_eq!(
            l.admit(S, 1.0),
            Admit::Throttled {
                retry_after_us: 9 * S
            }
        );
        assert_eq!(l.admit(10 * S, 1.0), Admit::Ok);
    }

    #[test]
    fn standard_tpm_counter_resets_each_minute() {
        let mut l = Limits::new(1_000, 1_000.0, 60 * S, 10 * S);
        assert_eq!(l.admit(0, 900.0), Admit::Ok);
        // Crossing request admitted, the next one throttled until the minute ends.
        assert_eq!(l.admit(S, 200.0), Admit::Ok);
        assert_eq!(
            l.admit(30 * S, 1.0),
            Admit::Throttled {
                retry_after_us: 30 * S
            }
        );
        assert_eq!(l.admit(60 * S, 1.0), Admit::Ok);
    }
}
