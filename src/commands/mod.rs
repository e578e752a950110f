//! The subcommands, one folder each (`args.rs` its flags, `mod.rs` its `run`, `report.rs` its
//! typed report), and the one list of them: `registry!` below. Each command implements
//! [`Subcommand`] once; the command-line enum, the dispatch, `schema`'s list and
//! `scripts/schemas.sh` all follow from that list, so a new subcommand is its own folder plus
//! one entry. Nothing here prints. The commands use the domain, the index lab and the shared
//! infrastructure; nothing below them uses a command.

pub mod cache_bench;
pub mod compare;
pub mod explain;
pub mod flags;
pub mod query;
pub mod queue_sim;
pub mod report;
pub mod reserve;
pub mod schema;
pub mod seed;
pub mod staleness;
pub mod worker;

use std::path::Path;

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

use crate::context::Context;
use crate::gate::BaselineArgs;
use crate::render::output::Report;

/// What every subcommand provides. Its flags are `Serialize` so that a baseline records
/// them as data.
pub trait Subcommand: Serialize {
    /// The name typed and written in its document: its report's
    /// [`crate::render::output::CommandReport::COMMAND`],
    /// so the name is spelled once, where the report is.
    const NAME: &'static str;

    /// The JSON Schema of its `-o json` document (`schema` has none of its own).
    fn document_schema() -> Option<Value>;

    /// What an interrupted run left behind, said on Ctrl-C (unless it answers Ctrl-C
    /// itself, see [`Subcommand::owns_ctrl_c`]).
    const INTERRUPTED: &'static str;

    /// Whether this run answers Ctrl-C itself, after putting back what it changed (schema
    /// changes, scratch databases).
    fn owns_ctrl_c(&self) -> bool {
        false
    }

    /// The regression gate's flags, on a command that measures.
    fn gate(&self) -> Option<&BaselineArgs> {
        None
    }

    /// Where `--plot` puts the figures, on a command that draws them.
    fn plot_dir(&self) -> Option<&Path> {
        None
    }

    /// Runs the command and returns its report.
    fn run(&self, ctx: &Context) -> impl Future<Output = Result<Report>> + Send;
}

/// The one list of subcommands: each entry is the variant, its `--help` (doc comment and
/// `#[command]` attributes) and its flags, whose type implements [`Subcommand`].
macro_rules! registry {
    ($( $(#[$meta:meta])* $variant:ident($args:ty), )+) => {
        /// A parsed subcommand with its flags.
        #[derive(Debug, clap::Subcommand)]
        pub enum Command {
            $( $(#[$meta])* $variant($args), )+
        }

        /// Every subcommand's name, in `--help`'s order.
        pub const NAMES: &[&str] = &[$( <$args as Subcommand>::NAME, )+];

        impl Command {
            /// The command's name, as typed and as its document says.
            pub fn name(&self) -> &'static str {
                match self {
                    $( Self::$variant(_) => <$args as Subcommand>::NAME, )+
                }
            }

            pub fn interrupted_note(&self) -> &'static str {
                match self {
                    $( Self::$variant(_) => <$args as Subcommand>::INTERRUPTED, )+
                }
            }

            pub fn owns_ctrl_c(&self) -> bool {
                match self {
                    $( Self::$variant(args) => args.owns_ctrl_c(), )+
                }
            }

            pub fn plot_dir(&self) -> Option<&Path> {
                match self {
                    $( Self::$variant(args) => args.plot_dir(), )+
                }
            }

            /// The gate's flags of a command that measures, and its settings as a baseline
            /// records them: the flags serialized, the gate's and `--plot` skipped, so
            /// neither ever makes two runs differ.
            pub fn gate(&self) -> Option<(&BaselineArgs, Value)> {
                match self {
                    $( Self::$variant(args) => args
                        .gate()
                        .map(|gate| (gate, serde_json::to_value(args).unwrap_or(Value::Null))), )+
                }
            }

            pub async fn run(&self, ctx: &Context) -> Result<Report> {
                match self {
                    $( Self::$variant(args) => args.run(ctx).await, )+
                }
            }
        }

        /// The JSON Schema of the named command's document, if it has one.
        pub fn schema_of(name: &str) -> Option<Value> {
            $(
                if name == <$args as Subcommand>::NAME {
                    return <$args as Subcommand>::document_schema();
                }
            )+
            None
        }
    };
}

registry! {
    /// Create the schema and generate the week-8 data set (or a scaled one).
    #[command(after_help = seed::EXAMPLES, allow_negative_numbers = true)]
    Seed(seed::SeedArgs),
    /// Time a workload's queries with and without indexes (by default the week-8 analysis).
    #[command(after_help = query::EXAMPLES, allow_negative_numbers = true)]
    Query(query::QueryArgs),
    /// Show and compare query plans; advise indexes and prove them by measurement.
    #[command(after_help = explain::EXAMPLES, allow_negative_numbers = true)]
    Explain(explain::ExplainArgs),
    /// Database vs Redis cache (response level vs repository level): throughput, hits, staleness.
    #[command(after_help = cache_bench::EXAMPLES, allow_negative_numbers = true)]
    CacheBench(cache_bench::CacheBenchArgs),
    /// Run reservations: one by hand, or thousands concurrently, then audit the result.
    #[command(after_help = reserve::EXAMPLES, allow_negative_numbers = true)]
    Reserve(reserve::ReserveArgs),
    /// Simulate the Redis waiting queue (and the database queue it replaced).
    #[command(after_help = queue_sim::EXAMPLES, allow_negative_numbers = true)]
    QueueSim(queue_sim::QueueSimArgs),
    /// Reproduce the whole write-up on scratch databases: an HTML page with every figure.
    #[command(after_help = report::EXAMPLES)]
    Report(report::ReportArgs),
    /// How stale reads from a group's secondaries are: a write's visibility delay per consistency.
    #[command(after_help = staleness::EXAMPLES)]
    Staleness(staleness::StalenessArgs),
    /// Run the event relay and service consumers (the events flow's back end).
    #[command(after_help = worker::EXAMPLES)]
    Worker(worker::WorkerArgs),
    /// Compare two runs saved with --save-baseline: a verdict per metric; a regression exits 4.
    #[command(after_help = compare::EXAMPLES)]
    Compare(compare::CompareArgs),
    /// Print the JSON Schema of a command's `-o json` document.
    #[command(after_help = schema::EXAMPLES)]
    Schema(schema::SchemaArgs),
}
