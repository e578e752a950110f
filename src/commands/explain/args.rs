//! `explain`'s flags.

use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::commands::flags::{HOUR, PlotArgs};
use crate::commands::flags::{WorkloadArgs, duration_up_to};

pub(crate) const EXAMPLES: &str = "\
Plans use the same columns on MySQL and MariaDB (their tabular EXPLAIN, asked for by name; rows
read under --analyze from MariaDB's ANALYZE and MySQL's EXPLAIN ANALYZE). Findings point at full
scans of large tables inside joins, indexes the optimizer declined, and plans that changed
between variants. The advisor proposes an index for each large scan under `none`, times it
against `none`, and prints DDL only when the 95% interval's low end clears --min-speedup.

Examples:
  concert-bench explain
  concert-bench explain --analyze --scenario concert_detail
  concert-bench explain --workload my-queries.sql      # advice for your own statements
  concert-bench explain --slow-log slow.log --trials invisible   # MySQL 8+: no table copy
  concert-bench explain --raw -o json | jq '.plans[0].raw'";

/// `--trials`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Trials {
    Copy,
    Invisible,
    None,
}

#[derive(Debug, Clone, Args, Serialize)]
pub struct ExplainArgs {
    /// Index variant to compare with `none` (repeatable; default: week8).
    #[arg(long = "variant", value_name = "VARIANT")]
    pub variants: Vec<String>,

    /// Run the queries (MariaDB ANALYZE) to show rows actually read.
    #[arg(long)]
    pub analyze: bool,

    /// Include the server's raw JSON plan (in -o json output).
    #[arg(long)]
    pub raw: bool,

    /// Skip the advisor.
    #[arg(long)]
    pub no_advice: bool,

    /// Where a proposal without an index is measured: `copy` copies the tables the workload
    /// reads into a scratch database this run creates and drops, and creates the index there
    /// (nothing of yours is changed); `invisible` (MySQL 8+) creates it on your table as an
    /// INVISIBLE index that only the measuring session uses, under --lock-wait-timeout, and
    /// drops it afterwards (also on error and Ctrl-C): no copy, but DDL on your table and no
    /// write cost; `none` leaves it unproven.
    #[arg(long, value_enum, default_value_t = Trials::Copy)]
    pub trials: Trials,

    /// The advisor keeps an index only if its 95% CI low end is at least this speedup
    /// (1 to 1000).
    #[arg(long, default_value_t = 2.0, value_parser = parse_min_speedup)]
    pub min_speedup: f64,

    /// Create the indexes the variants and the advisor name that do not exist (online, named
    /// cb_tmp_*), so the advisor can prove them too; dropped again after the run, after an
    /// error and on Ctrl-C.
    #[arg(long)]
    pub create_indexes: bool,

    /// How long a --create-indexes or --trials invisible DDL statement waits for the table's metadata lock before it
    /// gives up (the server's default is a year).
    #[arg(long, default_value = "10s", value_parser = duration_up_to(HOUR, "1h"), allow_hyphen_values = true)]
    pub lock_wait_timeout: Duration,

    /// Measured runs per scenario when the advisor proves an index.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub iterations: u32,

    /// Warm-up runs before the advisor measures.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub warmup: u32,

    #[command(flatten)]
    pub workload: WorkloadArgs,

    #[command(flatten)]
    #[serde(skip)]
    pub plot: PlotArgs,
}

fn parse_min_speedup(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(x) if (1.0..=1000.0).contains(&x) => Ok(x),
        _ => Err(format!(
            "{raw:?} must be a speedup from 1 to 1000 (e.g. 2 for twice as fast)"
        )),
    }
}
