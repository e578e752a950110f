//! `concert-bench schema COMMAND`: the JSON Schema of a command's `-o json` document,
//! generated from the same types the command serializes (`schemas/` holds a copy of each, and
//! the tests validate every document they read against it).

use anyhow::Result;
use clap::Args;
use clap::builder::PossibleValuesParser;

use crate::commands::{NAMES, Subcommand, schema_of};
use crate::context::Context;
use crate::render::output::Report;

pub(crate) const EXAMPLES: &str = "\
Every document carries \"schema_version\" (now 1): it changes only when a field is renamed or
removed, never when one is added. `--list` names the commands that have a document.

Examples:
  concert-bench schema query > query.schema.json
  concert-bench schema reserve | jq '.properties | keys'
  concert-bench schema --list";

#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct SchemaArgs {
    /// The command whose document to describe.
    #[arg(value_parser = PossibleValuesParser::new(documented()), required_unless_present = "list")]
    pub command: Option<String>,

    /// Name every command that has a document, one a line (what `scripts/schemas.sh` reads).
    #[arg(long, conflicts_with = "command")]
    pub list: bool,
}

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
