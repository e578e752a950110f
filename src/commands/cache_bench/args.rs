//! `cache-bench`'s flags.

use crate::commands::flags::PlotArgs;
use crate::gate::BaselineArgs;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::Workload;
use crate::commands::flags::{DAY, parse_fraction};
use crate::commands::flags::{ReadFromArgs, duration_up_to};
use crate::domain::concerts::{CacheLevel, Invalidation};

pub(crate) const EXAMPLES: &str = "\
Runs every chosen workload x strategy x invalidation cell against the seeded database and Redis
through the Concert service: `response` caches the serialized answer (an interceptor),
`repository` caches the entities (decoded and re-serialized on a hit). `ttl` lets values live
until they expire; `on-write` moves a version on after each write, so no read that starts
after a write returns can see the old value. Stale reads are detected by a version stamp in
each answer. Then a cold key is hit by --stampede-clients at once, with and without single
flight. Seats the mixed workload held are released after each cell.

Examples:
  concert-bench cache-bench
  concert-bench cache-bench --workload concert_list -c 50 --anchor
  concert-bench cache-bench --workload mixed --write-ratio 0.1 --duration 5s
  concert-bench cache-bench --workload concert_detail --rate 2000      # open loop
  concert-bench --database-url mysql://root@h1:3306,h2:3306,h3:3306/concert_bench \
    cache-bench --workload mixed --read-from replicas    # misses read a secondary
  concert-bench -o json cache-bench | jq '.results[] | {workload, strategy, throughput_rps}'";

#[derive(Debug, Clone, Args, Serialize)]
pub struct CacheBenchArgs {
    /// Workload (repeatable; default: all three).
    #[arg(long = "workload", value_enum)]
    pub workloads: Vec<Workload>,

    /// Cache strategy (repeatable; default: none, response and repository).
    #[arg(long = "strategy", value_enum)]
    pub strategies: Vec<CacheLevel>,

    /// Invalidation (repeatable; default: ttl and on-write).
    #[arg(long = "invalidation", value_enum)]
    pub invalidations: Vec<Invalidation>,

    /// Concurrent clients.
    #[arg(short = 'c', long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub clients: u32,

    /// How long each cell runs.
    #[arg(long, default_value = "3s", value_parser = duration_up_to(DAY, "24h"), allow_hyphen_values = true)]
    pub duration: Duration,

    /// Requests per cell instead of a duration.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_REQUESTS))]
    pub requests: Option<u64>,

    /// Open loop: start requests at this rate (per second) whatever the latency.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Unmeasured requests per cell first (fills the cache and the pools).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=MAX_REQUESTS))]
    pub warmup: u64,

    /// Fraction of the mixed workload's operations that write (hold or release a seat).
    #[arg(long, default_value_t = 0.05, value_parser = parse_fraction)]
    pub write_ratio: f64,

    /// How long a cached value lives.
    #[arg(long, default_value = "60s", value_parser = duration_up_to(30 * DAY, "720h"), allow_hyphen_values = true)]
    pub ttl: Duration,

    /// Single flight (a short Redis lock) on misses during the load cells too.
    #[arg(long)]
    pub single_flight: bool,

    /// When Redis fails, serve from the database instead of failing the request.
    #[arg(long)]
    pub fail_open: bool,

    /// Clients in the stampede test (0 skips it).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub stampede_clients: u32,

    /// Also run redis-benchmark GET of a value the size of the cached concert list.
    #[arg(long)]
    pub anchor: bool,

    /// Seed for which concert, seat and operation each request picks.
    #[arg(long, default_value_t = 42)]
    pub rng_seed: u64,

    #[command(flatten)]
    pub reads: ReadFromArgs,

    #[command(flatten)]
    #[serde(skip)]
    pub gate: BaselineArgs,

    #[command(flatten)]
    #[serde(skip)]
    pub plot: PlotArgs,
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(r) if (MIN_RATE..=MAX_RATE).contains(&r) => Ok(r),
        _ => Err(format!(
            "{raw:?} must be a number of requests per second from {MIN_RATE} to {MAX_RATE}"
        )),
    }
}

/// Bounds every open-loop rate: slower than one request a minute is not a benchmark, and the
/// schedule of a faster one than a million a second cannot be kept.
const MIN_RATE: f64 = 0.01;
const MAX_RATE: f64 = 1_000_000.0;
/// Requests (or warm-up requests) per cell at most.
const MAX_REQUESTS: u64 = 1_000_000_000;
