//! `query`'s flags.

use crate::commands::flags::PlotArgs;
use crate::gate::BaselineArgs;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::commands::flags::HOUR;
use crate::commands::flags::{ReadFromArgs, WorkloadArgs, duration_up_to};

pub(crate) const EXAMPLES: &str = "\
Variants are per-query index hints, so the schema is never changed:
  none   no secondary index (always run: the baseline, the write-up's AS-IS)
  week8  performance(concert_id) and seat(performance_id) (the default comparison)
  advised  the explain advisor's proposals (that an existing index can stand for)
  NAME=table(col,..)+table(col,..)  the existing indexes whose leading columns these are

Examples:
  concert-bench query
  concert-bench query --scenario concert_detail --iterations 100
  concert-bench query --variant week8 --variant seat-only=seat(performance_id)
  concert-bench query --scenario concert_detail --scales 1,10   # how the gap grows with the data
  concert-bench query --workload my-queries.sql --variant none   # your own statements
  concert-bench --database-url mysql://root@h1:3306,h2:3306,h3:3306/concert_bench \
    query --read-from replicas                # timed on a secondary of a group
  concert-bench -o json query > week8.json";

#[derive(Debug, Clone, Args, Serialize)]
pub struct QueryArgs {
    /// Index variant to compare with `none` (repeatable; default: week8).
    #[arg(long = "variant", value_name = "VARIANT")]
    pub variants: Vec<String>,

    /// Measured runs per scenario and variant.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub iterations: u32,

    /// Unmeasured runs first, to warm caches and the statement cache.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub warmup: u32,

    /// Runs under ANALYZE for the server's own time (0 to skip).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub server_runs: u32,

    /// Seed and measure at each of these scales (comma-separated), each in a scratch database
    /// beside --database-url that is dropped afterwards; the database itself is not touched.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub scales: Vec<u64>,

    /// Create the indexes a --variant names that do not exist (online, named cb_tmp_*, on
    /// concert-bench's own tables only), and drop them again after the run, after an error
    /// and on Ctrl-C.
    #[arg(long)]
    pub create_indexes: bool,

    /// How long a --create-indexes DDL statement waits for the table's metadata lock before it
    /// gives up (the server's default is a year).
    #[arg(long, default_value = "10s", value_parser = duration_up_to(HOUR, "1h"), allow_hyphen_values = true)]
    pub lock_wait_timeout: Duration,

    #[command(flatten)]
    pub workload: WorkloadArgs,

    #[command(flatten)]
    pub reads: ReadFromArgs,

    #[command(flatten)]
    #[serde(skip)]
    pub gate: BaselineArgs,

    #[command(flatten)]
    #[serde(skip)]
    pub plot: PlotArgs,
}
