//! Raw command-line types (clap). Validation that needs more than one flag lives with the
//! command that uses them (for example `seed::plan`), so these types stay declarations.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::output::OutputFormat;
use crate::scenarios::Scenario;

pub const DEFAULT_DATABASE_URL: &str = "mysql://root@127.0.0.1:3306/concert_bench";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

const EXAMPLES: &str = "\
Examples:
  concert-bench seed                         # the week-8 data set into concert_bench
  concert-bench seed --reset --scale 10      # ten times larger, replacing what is there
  concert-bench -o json seed --reset -q      # one JSON document on stdout, for CI
  DATABASE_URL=mysql://app:secret@db:3306/tickets concert-bench seed";

#[derive(Debug, Parser)]
#[command(
    name = "concert-bench",
    version,
    about = "Admin and benchmarking tool for a concert-ticket reservation backend (MySQL/MariaDB + Redis)",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(flatten)]
    pub connect: ConnectOpts,

    /// Output format: tables for people, JSON or CSV for machines.
    #[arg(short = 'o', long, value_enum, default_value_t, global = true)]
    pub output: OutputFormat,

    /// No progress bars or warnings on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// Where the databases are. Env values are hidden from `--help` because they may hold passwords.
#[derive(Debug, Clone, Args)]
pub struct ConnectOpts {
    /// MySQL/MariaDB URL; the database it names is created if missing.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,

    /// Redis URL.
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = DEFAULT_REDIS_URL,
        hide_env_values = true,
        global = true
    )]
    pub redis_url: String,

    /// Namespace for every Redis key the tool writes.
    #[arg(long, default_value = "cb:", global = true)]
    pub key_prefix: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the schema and generate the week-8 data set (or a scaled one).
    #[command(after_help = SEED_EXAMPLES, allow_negative_numbers = true)]
    Seed(SeedArgs),
    /// Time the six scenario queries with and without indexes (the week-8 analysis).
    #[command(after_help = QUERY_EXAMPLES, allow_negative_numbers = true)]
    Query(QueryArgs),
    /// Show and compare query plans; advise indexes and prove them by measurement.
    #[command(after_help = EXPLAIN_EXAMPLES, allow_negative_numbers = true)]
    Explain(ExplainArgs),
}

const EXPLAIN_EXAMPLES: &str = "\
Plans use the same columns on MySQL 8 and MariaDB. Findings point at full scans of large tables
inside joins, indexes the optimizer declined, and plans that changed between variants. The
advisor proposes an index for each large scan under `none`, times it against `none`, and
prints DDL only when the 95% interval's low end clears --min-speedup.

Examples:
  concert-bench explain
  concert-bench explain --analyze --scenario concert_detail
  concert-bench explain --raw -o json | jq '.plans[0].raw'";

#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// Scenario to explain (repeatable; default: all six).
    #[arg(long = "scenario", value_enum)]
    pub scenarios: Vec<Scenario>,

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

    /// The advisor keeps an index only if its 95% CI low end is at least this speedup.
    #[arg(long, default_value_t = 2.0)]
    pub min_speedup: f64,

    /// Measured runs per scenario when the advisor proves an index.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub iterations: u32,

    /// Warm-up runs before the advisor measures.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub warmup: u32,
}

const QUERY_EXAMPLES: &str = "\
Variants are per-query index hints, so the schema is never changed:
  none   no secondary index (always run: the baseline, the write-up's AS-IS)
  week8  performance(concert_id) and seat(performance_id) (the default comparison)
  NAME=table(col,..)+table(col,..)  the existing indexes whose leading columns these are

Examples:
  concert-bench query
  concert-bench query --scenario concert_detail --iterations 100
  concert-bench query --variant week8 --variant seat-only=seat(performance_id)
  concert-bench -o json query > week8.json";

#[derive(Debug, Clone, Args)]
pub struct QueryArgs {
    /// Scenario to run (repeatable; default: all six).
    #[arg(long = "scenario", value_enum)]
    pub scenarios: Vec<Scenario>,

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
}

const SEED_EXAMPLES: &str = "\
Defaults are the write-up's week-8 data set: 1,000 users, 100 concerts x 20 performances
x 100 seats (200,000 seats), 3 concerts open with 60 seats reserved and paid in each.
--scale multiplies users, concerts and open concerts.

Examples:
  concert-bench seed
  concert-bench seed --reset --scale 10 --rng-seed 7
  concert-bench seed --reset --concerts 5 --users 50      # a tiny set for experiments
  concert-bench seed --tsv-dir /tmp/week8                 # files for LOAD DATA (the anchor)";

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// Users, each with a point wallet (multiplied by --scale).
    #[arg(long, default_value_t = 1_000)]
    pub users: u64,

    /// Concerts (multiplied by --scale).
    #[arg(long, default_value_t = 100)]
    pub concerts: u64,

    /// Performances (dates) per concert.
    #[arg(long, default_value_t = 20)]
    pub performances_per_concert: u64,

    /// Seats per performance.
    #[arg(long, default_value_t = 100)]
    pub seats_per_performance: u64,

    /// Concerts open for booking now; the rest open later (multiplied by --scale).
    #[arg(long, default_value_t = 3)]
    pub open_concerts: u64,

    /// Seats already reserved and paid in each open concert.
    #[arg(long, default_value_t = 60)]
    pub reserved_per_open_concert: u64,

    /// Multiplies users, concerts and open concerts.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
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
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_rows: u64,

    /// Write the data set as LOAD DATA files (one .tsv per table plus load.sql) into this
    /// directory instead of loading it; the database is not touched.
    #[arg(long, value_name = "DIR")]
    pub tsv_dir: Option<PathBuf>,
}
