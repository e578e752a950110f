//! `queue-sim`'s flags.

use crate::commands::flags::PlotArgs;
use crate::gate::BaselineArgs;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::commands::flags::{
    DAY, HOUR, MAX_ID, MAX_USERS, as_typed, parse_fraction, parse_policy,
};
use crate::commands::flags::{duration_up_to, parse_arrival};
use crate::domain::queue::{Arrival, Policy};

pub(crate) const EXAMPLES: &str = "\
Users arrive, enter the queue, poll their position with back-off, are admitted by a scheduler,
hold their turn for a random service time, then pay or let the token expire. Time is
compressed by --speed (a 5-minute TTL takes 3 s at the default 100x); the Redis data model is
the production one. Every run checks FIFO order, the cap, the rate and that no admitted user
is left waiting, and exits with code 3 if any check fails.

Before the simulation, a probe measures enter and position throughput at saturation with -c
clients (--probe-size users, --probe-lookups lookups); --anchor runs redis-benchmark's ZADD and
ZRANK with the same clients beside it.

Examples:
  concert-bench queue-sim
  concert-bench queue-sim --backend both --users 2000
  concert-bench queue-sim --policy rate:200/1s --arrival rate:500/1s --users 20000
  concert-bench queue-sim --users 1000000 --policy rate:20000/1s --speed 20 --probe-size 0
  concert-bench --redis-url redis+cluster://127.0.0.1:7000,127.0.0.1:7001 queue-sim --concerts 30
  concert-bench -o json queue-sim --anchor | jq '.results[0].wait_ms'";

/// The most queues one run simulates at once (`--concerts`).
pub const MAX_CONCERTS: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueBackendArg {
    Redis,
    Database,
    Both,
}

#[derive(Debug, Clone, Args, Serialize)]
pub struct QueueSimArgs {
    /// Which queue store to simulate: the Redis queue, the database queue, or both side by side.
    #[arg(long, value_enum, default_value = "redis")]
    pub backend: QueueBackendArg,

    /// Simulated users.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=MAX_USERS))]
    pub users: u64,

    /// Admission policy: capacity:N (at most N active) or rate:N/PERIOD (N every PERIOD).
    #[arg(long, default_value = "capacity:1000", value_parser = parse_policy)]
    #[serde(serialize_with = "as_typed")]
    pub policy: Policy,

    /// How long an admitted user stays active without paying (queue time).
    #[arg(long, default_value = "5m", value_parser = duration_up_to(DAY, "24h"), allow_hyphen_values = true)]
    pub ttl: Duration,

    /// When users arrive: all, rate:N/PERIOD (evenly spaced) or burst:N/PERIOD (N at once).
    #[arg(long, default_value = "all", value_parser = parse_arrival)]
    #[serde(serialize_with = "as_typed")]
    pub arrival: Arrival,

    /// Time an admitted user holds their turn, uniform in LOW..HIGH (queue time).
    #[arg(long, default_value = "10s..60s", value_parser = parse_service)]
    pub service: (Duration, Duration),

    /// Fraction of admitted users who never pay and let their token expire.
    #[arg(long, default_value_t = 0.1, value_parser = parse_fraction)]
    pub abandon: f64,

    /// Queue seconds per wall-clock second.
    #[arg(long, default_value_t = 100.0, value_parser = parse_speed)]
    pub speed: f64,

    /// Scheduler interval (queue time).
    #[arg(long, default_value = "1s", value_parser = duration_up_to(HOUR, "1h"), allow_hyphen_values = true)]
    pub tick: Duration,

    /// Concurrent operations in flight (simulated clients).
    #[arg(short = 'c', long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub clients: u32,

    /// Queue id to simulate on; 0 is no real concert, so a live queue is never touched.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_ID))]
    pub concert: u64,

    /// Queues simulated at once, one per concert (ids --concert upwards); users, clients and
    /// the probe are split evenly between them, and the policy applies to each queue. On a
    /// Redis Cluster the queues' hash tags spread them over the masters.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=MAX_CONCERTS))]
    pub concerts: u64,

    /// Users the throughput probe enters (0 skips the probe; default: --users, at most 100,000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub probe_size: Option<u64>,

    /// Position lookups in the throughput probe.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub probe_lookups: u64,

    /// Also run redis-benchmark (ZADD, ZRANK) with the same clients, as the anchor.
    #[arg(long)]
    pub anchor: bool,

    /// Seed for service times and who abandons.
    #[arg(long, default_value_t = 42)]
    pub rng_seed: u64,

    #[command(flatten)]
    #[serde(skip)]
    pub gate: BaselineArgs,

    #[command(flatten)]
    #[serde(skip)]
    pub plot: PlotArgs,
}

fn parse_service(raw: &str) -> Result<(Duration, Duration), String> {
    let (low, high) = raw
        .split_once("..")
        .ok_or_else(|| format!("{raw:?}: expected LOW..HIGH, e.g. 10s..60s"))?;
    let day = duration_up_to(DAY, "24h");
    let (low, high) = (day(low)?, day(high)?);
    if low > high {
        return Err(format!("{raw:?}: LOW must not exceed HIGH"));
    }
    Ok((low, high))
}

fn parse_speed(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(f) if f.is_finite() && (0.001..=1e6).contains(&f) => Ok(f),
        _ => Err(format!(
            "{raw:?} must be a number between 0.001 and 1000000"
        )),
    }
}
