//! `concert-bench schema COMMAND`: the JSON Schema of a command's `-o json` document,
//! generated from the same types the command serializes (`schemas/` holds a copy of each, and
//! the tests validate every document they read against it).

mod args;
pub(crate) use args::EXAMPLES;
pub use args::SchemaArgs;

use anyhow::Result;

use crate::commands::{NAMES, Subcommand, schema_of};
use crate::context::Context;
use crate::render::output::Report;

/// The commands with a JSON document: every command but this one.
pub fn documented() -> Vec<&'static str> {
    NAMES
        .iter()
        .copied()
        .filter(|name| *name != SchemaArgs::NAME)
        .collect()
}

impl Subcommand for SchemaArgs {
    const NAME: &'static str = "schema";
    const INTERRUPTED: &'static str = "nothing was written";

    fn document_schema() -> Option<serde_json::Value> {
        None
    }

    async fn run(&self, _: &Context) -> Result<Report> {
        let text = match &self.command {
            Some(name) => {
                let schema = schema_of(name).expect("clap accepts documented commands only");
                serde_json::to_string_pretty(&schema)? + "\n"
            }
            None => documented().join("\n") + "\n",
        };
        Ok(Report::verbatim(text))
    }
}
