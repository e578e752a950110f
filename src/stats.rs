//! The one measurement layer every command shares: latency summaries from an HDR histogram
//! (never a hand-rolled percentile) and ratios of medians with a bootstrap 95% interval.

use std::time::Duration;

use fake::RngExt;
use fake::rand::SeedableRng;
use fake::rand::rngs::ChaCha8Rng;
use hdrhistogram::Histogram;
use serde::Serialize;

/// Bootstrap resamples per interval: enough for stable 2.5/97.5 percentiles.
const RESAMPLES: usize = 1_000;

/// Latency samples, kept both raw (for the bootstrap) and in a histogram (for percentiles).
#[derive(Debug, Clone)]
pub struct Samples {
    raw_ns: Vec<u64>,
    histogram: Histogram<u64>,
}

impl Default for Samples {
    fn default() -> Self {
        Self {
            raw_ns: Vec::new(),
            histogram: new_histogram(),
        }
    }
}

fn new_histogram() -> Histogram<u64> {
    // 3 significant digits: 0.1% resolution from 1 ns up to an hour.
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3).expect("valid histogram bounds")
}

impl Samples {
    pub fn record(&mut self, elapsed: Duration) {
        let ns = (elapsed.as_nanos() as u64).clamp(1, self.histogram.high());
        self.raw_ns.push(ns);
        self.histogram.record(ns).expect("value clamped into range");
    }

    /// Adds another set of samples (one per load-generating worker) to this one.
    pub fn merge(&mut self, other: &Samples) {
        self.raw_ns.extend_from_slice(&other.raw_ns);
        self.histogram
            .add(&other.histogram)
            .expect("histograms share their bounds");
    }

    pub fn len(&self) -> usize {
        self.raw_ns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raw_ns.is_empty()
    }

    pub fn summary(&self) -> Summary {
        let h = &self.histogram;
        let ms = |ns: u64| ns as f64 / 1e6;
        let q = |quantile: f64| ms(h.value_at_quantile(quantile));
        Summary {
            iterations: self.len(),
            min_ms: ms(h.min()),
            median_ms: q(0.5),
            p95_ms: q(0.95),
            p99_ms: q(0.99),
            max_ms: ms(h.max()),
            mean_ms: h.mean() / 1e6,
            stddev_ms: h.stdev() / 1e6,
        }
    }

    fn median_ns(&self) -> f64 {
        self.histogram.value_at_quantile(0.5) as f64
    }

    /// A histogram just wide enough for these samples (its unit a thousandth of the smallest,
    /// so three significant digits survive), reused across resamples.
    fn scratch(&self) -> Histogram<u64> {
        let low = (self.histogram.min() / 1_000).max(1);
        let high = self.histogram.max().max(low * 2);
        Histogram::new_with_bounds(low, high, 3).expect("valid bounds")
    }

    /// The median of one bootstrap resample (drawn with replacement).
    fn resampled_median_ns(&self, rng: &mut ChaCha8Rng, scratch: &mut Histogram<u64>) -> f64 {
        scratch.reset();
        for _ in 0..self.raw_ns.len() {
            let ns = self.raw_ns[rng.random_range(0..self.raw_ns.len())];
            scratch.saturating_record(ns);
        }
        scratch.value_at_quantile(0.5) as f64
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Summary {
    pub iterations: usize,
    pub min_ms: f64,
    pub median_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub stddev_ms: f64,
}

/// How many times faster `variant` is than `baseline` (ratio of medians), with a bootstrap
/// 95% interval. Seeded, so the same samples always give the same interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Speedup {
    pub speedup: f64,
    pub ci95: [f64; 2],
}

pub fn speedup(baseline: &Samples, variant: &Samples) -> Option<Speedup> {
    if baseline.is_empty() || variant.is_empty() {
        return None;
    }
    let mut rng = ChaCha8Rng::seed_from_u64(0x5EED);
    let (mut base_scratch, mut variant_scratch) = (baseline.scratch(), variant.scratch());
    let mut ratios = Samples::default();
    for _ in 0..RESAMPLES {
        let ratio = baseline.resampled_median_ns(&mut rng, &mut base_scratch)
            / variant.resampled_median_ns(&mut rng, &mut variant_scratch);
        // Ratios are recorded in thousandths so the histogram keeps three decimals.
        ratios
            .histogram
            .record((ratio * 1_000.0).round().max(1.0) as u64)
            .ok()?;
    }
    let at = |q: f64| ratios.histogram.value_at_quantile(q) as f64 / 1_000.0;
    Some(Speedup {
        speedup: baseline.median_ns() / variant.median_ns(),
        ci95: [at(0.025), at(0.975)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(ms: &[f64]) -> Samples {
        let mut s = Samples::default();
        for v in ms {
            s.record(Duration::from_secs_f64(v / 1e3));
        }
        s
    }

    #[test]
    fn summary_reports_order_statistics() {
        let s = samples(&(1..=100).map(f64::from).collect::<Vec<_>>()).summary();
        assert_eq!(s.iterations, 100);
        assert!((s.min_ms - 1.0).abs() < 0.01 && (s.max_ms - 100.0).abs() < 0.1);
        assert!((s.median_ms - 50.0).abs() < 0.1, "{}", s.median_ms);
        assert!((s.p95_ms - 95.0).abs() < 0.1 && (s.p99_ms - 99.0).abs() < 0.1);
    }

    #[test]
    fn speedup_is_the_ratio_of_medians_with_an_interval_around_it() {
        let slow = samples(
            &(0..50)
                .map(|i| 10.0 + (i % 5) as f64 * 0.1)
                .collect::<Vec<_>>(),
        );
        let fast = samples(
            &(0..50)
                .map(|i| 2.0 + (i % 5) as f64 * 0.02)
                .collect::<Vec<_>>(),
        );
        let s = speedup(&slow, &fast).unwrap();
        assert!((s.speedup - 5.0).abs() < 0.05, "{s:?}");
        assert!(s.ci95[0] <= s.speedup && s.speedup <= s.ci95[1], "{s:?}");
        assert!(s.ci95[1] - s.ci95[0] < 0.5, "{s:?}");
        assert_eq!(speedup(&slow, &Samples::default()), None);
    }

    #[test]
    fn noisy_samples_give_a_wider_interval() {
        let steady = samples(&[5.0; 30]);
        let noisy = samples(
            &(0..30)
                .map(|i| 1.0 + (i * 7 % 30) as f64 / 3.0)
                .collect::<Vec<_>>(),
        );
        let tight = speedup(&steady, &samples(&[1.0; 30])).unwrap();
        let wide = speedup(&steady, &noisy).unwrap();
        assert!(wide.ci95[1] - wide.ci95[0] > tight.ci95[1] - tight.ci95[0]);
    }
}
