//! `concert-bench schema COMMAND`: the JSON Schema of a command's `-o json` document,
//! generated from the same types the command serializes (`schemas/` holds a copy of each, and
//! the tests validate every document they read against it).

use clap::{Args, ValueEnum};
use serde_json::Value;

use crate::output::schema_of;

pub(crate) const EXAMPLES: &str = "\
Every document carries \"schema_version\" (now 1): it changes only when a field is renamed or
removed, never when one is added.

Examples:
  concert-bench schema query > query.schema.json
  concert-bench schema reserve | jq '.properties | keys'";

#[derive(Debug, Clone, Args)]
pub struct SchemaArgs {
    /// The command whose document to describe.
    #[arg(value_enum)]
    pub command: Documented,
}

/// The commands with a JSON document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Documented {
    Seed,
    Query,
    Explain,
    CacheBench,
    QueueSim,
    Reserve,
    Worker,
    Compare,
    Report,
}

impl Documented {
    pub const ALL: [Documented; 9] = [
        Documented::Seed,
        Documented::Query,
        Documented::Explain,
        Documented::CacheBench,
        Documented::QueueSim,
        Documented::Reserve,
        Documented::Worker,
        Documented::Compare,
        Documented::Report,
    ];

    /// The schema of this command's document.
    pub fn schema(self) -> Value {
        use super::*;
        match self {
            Documented::Seed => schema_of::<seed::SeedDocument>(),
            Documented::Query => schema_of::<query::QueryDocument>(),
            Documented::Explain => schema_of::<explain::ExplainReport>(),
            Documented::CacheBench => schema_of::<cache_bench::CacheBenchReport>(),
            Documented::QueueSim => schema_of::<queue_sim::QueueSimReport>(),
            Documented::Reserve => schema_of::<reserve::ReserveReport>(),
            Documented::Worker => schema_of::<worker::WorkerReport>(),
            Documented::Compare => schema_of::<crate::gate::CompareReport>(),
            Documented::Report => schema_of::<report::ReportDocument>(),
        }
    }
}

/// The schema as the command prints it.
pub fn run(args: &SchemaArgs) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(&args.command.schema())? + "\n")
}
