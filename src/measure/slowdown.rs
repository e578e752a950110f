//! A test-only slowdown: a fixed delay added to every measured operation, for finding the
//! smallest regression the gate catches (docs/ci.md, "Regression gate"). It acts only in a
//! build with `--features inject-delay`, which reads `CONCERT_BENCH_INJECT_DELAY_US`; a normal
//! build returns from [`per_operation`] at once and never reads the variable, so no flag or
//! variable of it is left (and the release build optimizes the call away).
//!
//! The delay is a busy wait inside the timed region, not a sleep: tokio's timer rounds up to
//! a millisecond, and a slower code path costs CPU, so it also takes throughput from the
//! other clients as a real regression would.

/// Adds the injected delay, if this build has one. `cfg!` rather than `#[cfg]`: both builds
/// type-check and lint this body, so one clippy run covers the feature; without it the
/// condition is a constant false and the optimizer removes the body.
pub fn per_operation() {
    use std::sync::OnceLock;
    use std::time::{Duration, Instant};

    if !cfg!(feature = "inject-delay") {
        return;
    }
    static DELAY: OnceLock<Duration> = OnceLock::new();
    let delay = *DELAY.get_or_init(|| {
        std::env::var("CONCERT_BENCH_INJECT_DELAY_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(Duration::ZERO, Duration::from_micros)
    });
    let started = Instant::now();
    while started.elapsed() < delay {
        std::hint::spin_loop();
    }
}
