//! `report`'s flags.

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

pub(crate) const EXAMPLES: &str = "\
Runs the write-up's reproduction end to end on scratch databases it creates beside
--database-url (`<db>_report` with the week-8 data, `<db>_report_large` at --scale 10) and drops afterwards, also on Ctrl-C:
seed; query with a scale sweep; explain with the advisor; cache-bench with both levels and
both invalidations; queue-sim on both back ends; reserve direct and events, and the hot seat.
Your own database is never read or written.

DIR gets index.html (self-contained: every figure inline, no scripts), report.json (the same
document as -o json) and every figure as an SVG file.

Examples:
  concert-bench report                      # the full run (under three minutes here)
  concert-bench report --quick --out /tmp/r # shorter runs, sweep to scale 3: under a minute
  concert-bench -o json report --quick -q | jq '.claims'";

#[derive(Debug, Clone, Args, Serialize)]
pub struct ReportArgs {
    /// Directory for index.html, report.json and the SVG figures (created if missing).
    #[arg(long, value_name = "DIR", default_value = "concert-bench-report")]
    pub out: PathBuf,

    /// Shorter runs, and a scale sweep to 3 instead of 10 (the write-up's data set stays).
    #[arg(long)]
    pub quick: bool,
}
