//! `schema`'s flags.

use clap::Args;
use clap::builder::PossibleValuesParser;

use super::documented;

pub(crate) const EXAMPLES: &str = "\
Every document carries \"schema_version\" (now 2): it changes only when a field is renamed or
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
