//! `concert-bench compare OLD NEW`: two runs saved with `--save-baseline`, metric by metric
//! (see [`crate::gate`]). A regression exits with 4.

mod args;
pub use args::CompareArgs;
pub(crate) use args::EXAMPLES;

use anyhow::Result;

use crate::context::Context;
use crate::gate::{Baseline, CompareReport};
use crate::render::output::Report;

impl crate::commands::Subcommand for CompareArgs {
    const NAME: &'static str = <CompareReport as crate::render::output::CommandReport>::COMMAND;
    const INTERRUPTED: &'static str = "nothing was written";

    fn document_schema() -> Option<serde_json::Value> {
        Some(crate::render::output::schema_of::<CompareReport>())
    }

    async fn run(&self, _: &Context) -> Result<Report> {
        run(self)
    }
}

/// The comparison's report; its regressions make the run exit with 4.
pub fn run(args: &CompareArgs) -> Result<Report> {
    let (old, new) = (Baseline::load(&args.old)?, Baseline::load(&args.new)?);
    let (old_name, new_name) = (
        args.old.display().to_string(),
        args.new.display().to_string(),
    );
    let compared = old.compare_with(
        &new,
        (&old_name, &new_name),
        args.noise_threshold,
        args.allow_mismatch,
    )?;
    let mut report = Report::of(&compared)?;
    report.regressions = compared.regressions();
    Ok(report)
}
