//! `seed`'s flags.

use crate::gate::BaselineArgs;
use std::path::PathBuf;

use clap::{Args, Parser};
use serde::Serialize;

pub(crate) const EXAMPLES: &str = "\
Defaults are the write-up's week-8 data set: 1,000 users, 100 concerts x 20 performances
x 100 seats (200,000 seats), 3 concerts open with 60 seats reserved and paid in each.
--scale multiplies users, concerts and open concerts.

Examples:
  concert-bench seed
  concert-bench seed --reset --scale 10 --rng-seed 7
  concert-bench seed --reset --concerts 5 --users 50      # a tiny set for experiments
  concert-bench seed --tsv-dir /tmp/week8                 # files for LOAD DATA (the anchor)";

#[derive(Debug, Clone, Args, Serialize)]
pub struct SeedArgs {
    /// Users, each with a point wallet (multiplied by --scale).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(0..=MAX_SEED_COUNT))]
    pub users: u64,

    /// Concerts (multiplied by --scale).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=MAX_SEED_COUNT))]
    pub concerts: u64,

    /// Performances (dates) per concert.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub performances_per_concert: u64,

    /// Seats per performance.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub seats_per_performance: u64,

    /// Concerts open for booking now; the rest open later (multiplied by --scale).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=MAX_SEED_COUNT))]
    pub open_concerts: u64,

    /// Seats already reserved and paid in each open concert.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub reserved_per_open_concert: u64,

    /// Multiplies users, concerts and open concerts.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub scale: u64,

    /// Seed of the generator: the same seed gives identical tables.
    #[arg(long, default_value_t = 42)]
    pub rng_seed: u64,

    /// Drop and recreate concert-bench's own tables (never any other table) before loading.
    #[arg(long)]
    pub reset: bool,

    /// Parallel insert connections.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub connections: u32,

    /// Rows per INSERT statement (capped by the 65,535-placeholder limit).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=65_535))]
    pub batch_rows: u64,

    /// Write the data set as LOAD DATA files (one .tsv per table plus load.sql) into this
    /// directory instead of loading it; the database is not touched.
    #[arg(long, value_name = "DIR")]
    pub tsv_dir: Option<PathBuf>,

    #[command(flatten)]
    #[serde(skip)]
    pub gate: BaselineArgs,
}

impl SeedArgs {
    /// `seed`'s arguments as its command line gives them (`extra` on top of the defaults), from
    /// clap itself so the defaults live in one place.
    pub fn parse_with(extra: &[&str]) -> Self {
        #[derive(Parser)]
        struct Seed {
            #[command(flatten)]
            args: SeedArgs,
        }
        Seed::parse_from(std::iter::once("seed").chain(extra.iter().copied())).args
    }
}

/// Users, concerts or open concerts a seed takes before --scale (ids stay far from overflow).
const MAX_SEED_COUNT: u64 = 1_000_000_000;
