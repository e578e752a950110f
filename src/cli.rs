//! Raw command-line types (clap). Validation that needs more than one flag lives with the
//! command that uses them (for example `seed::plan`), so these types stay declarations.

use clap::{Parser, Subcommand};

use crate::commands::cache_bench::{self, CacheBenchArgs};
use crate::commands::compare::{self, CompareArgs};
use crate::commands::explain::{self, ExplainArgs};
use crate::commands::flags::PlotArgs;
use crate::commands::query::{self, QueryArgs};
use crate::commands::queue_sim::{self, QueueSimArgs};
use crate::commands::report::{self, ReportArgs};
use crate::commands::reserve::{self, ReserveArgs};
use crate::commands::schema::{self, SchemaArgs};
use crate::commands::seed::{self, SeedArgs};
use crate::commands::worker::{self, WorkerArgs};
use crate::context::{ConnectOpts, GLOBAL};
use crate::gate::BaselineArgs;
use crate::output::OutputFormat;

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
    #[arg(short = 'o', long, value_enum, default_value_t, global = true, help_heading = GLOBAL)]
    pub output: OutputFormat,

    /// No progress bars or warnings on stderr.
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,

    /// The command line as typed, connection URLs left out: the caption of its figures.
    #[arg(skip)]
    pub invocation: String,
}

impl Cli {
    /// Parses the process's arguments and keeps them for the figures' captions.
    pub fn from_env() -> Self {
        let mut cli = Self::parse();
        cli.invocation = invocation(std::env::args().skip(1));
        cli
    }

    /// How the figures say they were made: the command line, or its command's name.
    pub fn made_by(&self) -> String {
        if self.invocation.is_empty() {
            format!("concert-bench {}", self.command.name())
        } else {
            self.invocation.clone()
        }
    }
}

/// `concert-bench ARGS`, without the connection URLs (a password must never reach a figure).
fn invocation(args: impl Iterator<Item = String>) -> String {
    let mut kept = vec!["concert-bench".to_string()];
    let mut skip_value = false;
    for arg in args {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        if arg.starts_with("--database-url") || arg.starts_with("--redis-url") {
            skip_value = !arg.contains('=');
            continue;
        }
        if arg.contains(' ') {
            kept.push(format!("'{arg}'"));
        } else {
            kept.push(arg);
        }
    }
    kept.join(" ")
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the schema and generate the week-8 data set (or a scaled one).
    #[command(after_help = seed::EXAMPLES, allow_negative_numbers = true)]
    Seed(SeedArgs),
    /// Time the six scenario queries with and without indexes (the week-8 analysis).
    #[command(after_help = query::EXAMPLES, allow_negative_numbers = true)]
    Query(QueryArgs),
    /// Show and compare query plans; advise indexes and prove them by measurement.
    #[command(after_help = explain::EXAMPLES, allow_negative_numbers = true)]
    Explain(ExplainArgs),
    /// Database vs Redis cache (response level vs repository level): throughput, hits, staleness.
    #[command(after_help = cache_bench::EXAMPLES, allow_negative_numbers = true)]
    CacheBench(CacheBenchArgs),
    /// Run reservations: one by hand, or thousands concurrently, then audit the result.
    #[command(after_help = reserve::EXAMPLES, allow_negative_numbers = true)]
    Reserve(ReserveArgs),
    /// Simulate the Redis waiting queue (and the database queue it replaced).
    #[command(after_help = queue_sim::EXAMPLES, allow_negative_numbers = true)]
    QueueSim(QueueSimArgs),
    /// Reproduce the whole write-up on scratch databases: an HTML page with every figure.
    #[command(after_help = report::EXAMPLES)]
    Report(ReportArgs),
    /// Run the event relay and service consumers (the events flow's back end).
    #[command(after_help = worker::EXAMPLES)]
    Worker(WorkerArgs),
    /// Compare two runs saved with --save-baseline: a verdict per metric; a regression exits 4.
    #[command(after_help = compare::EXAMPLES)]
    Compare(CompareArgs),
    /// Print the JSON Schema of a command's `-o json` document.
    #[command(after_help = schema::EXAMPLES)]
    Schema(SchemaArgs),
}

impl Command {
    /// The command's name, as typed and as its document says.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Seed(_) => "seed",
            Command::Query(_) => "query",
            Command::Explain(_) => "explain",
            Command::CacheBench(_) => "cache-bench",
            Command::Reserve(_) => "reserve",
            Command::QueueSim(_) => "queue-sim",
            Command::Worker(_) => "worker",
            Command::Report(_) => "report",
            Command::Compare(_) => "compare",
            Command::Schema(_) => "schema",
        }
    }

    /// The gate's flags of a command that measures, and its own settings as a baseline
    /// records them (the gate's flags left out, so they never make two runs differ).
    pub fn gate(&self) -> Option<(&BaselineArgs, String)> {
        fn settings<T: Clone + std::fmt::Debug>(args: &T, clear: impl Fn(&mut T)) -> String {
            let mut args = args.clone();
            clear(&mut args);
            format!("{args:?}")
        }
        // Where figures go never makes two runs differ either.
        macro_rules! without_gate_and_plot {
            ($a:expr) => {
                settings($a, |a| {
                    a.gate = BaselineArgs::default();
                    a.plot = PlotArgs::default();
                })
            };
        }
        match self {
            Command::Seed(a) => Some((&a.gate, settings(a, |a| a.gate = BaselineArgs::default()))),
            Command::Query(a) => Some((&a.gate, without_gate_and_plot!(a))),
            Command::CacheBench(a) => Some((&a.gate, without_gate_and_plot!(a))),
            Command::QueueSim(a) => Some((&a.gate, without_gate_and_plot!(a))),
            Command::Reserve(a) => Some((&a.gate, without_gate_and_plot!(a))),
            Command::Explain(_)
            | Command::Worker(_)
            | Command::Report(_)
            | Command::Compare(_)
            | Command::Schema(_) => None,
        }
    }

    /// Where `--plot` puts the figures, on a command that draws them.
    pub fn plot_dir(&self) -> Option<&std::path::Path> {
        match self {
            Command::Query(a) => a.plot.plot.as_deref(),
            Command::Explain(a) => a.plot.plot.as_deref(),
            Command::CacheBench(a) => a.plot.plot.as_deref(),
            Command::QueueSim(a) => a.plot.plot.as_deref(),
            Command::Reserve(a) => a.plot.plot.as_deref(),
            _ => None,
        }
    }
}
