//! `compare`'s flags.

use std::path::PathBuf;

use clap::Args;

use crate::gate;

pub(crate) const EXAMPLES: &str = "\
A latency is judged on its median, with the change's bootstrap 95% interval (from the samples
both runs kept; it covers the noise within the two runs, not drift between days or machines);
a rate (one number per run) on its change alone. A verdict needs the whole interval past the
noise threshold (criterion's rule); a metric with under 10 measurements on a side is `not
judged`, never `unchanged`. Runs of other settings, data sets or servers are refused unless
--allow-mismatch. Exit codes: 0 no regression, 4 a regression, 1 a baseline that cannot be used.

Examples:
  concert-bench query --save-baseline main.json
  concert-bench query --baseline main.json              # compare as it runs
  concert-bench compare main.json branch.json -o markdown   # a table for a pull request";

#[derive(Debug, Clone, Args, serde::Serialize)]
pub struct CompareArgs {
    /// The earlier run (the baseline).
    pub old: PathBuf,

    /// The later run.
    pub new: PathBuf,

    /// A change smaller than this, in percent, is noise (default: 150 for latencies, 50 for
    /// rates, 25 for speedups within a run).
    #[arg(long, value_name = "PERCENT", value_parser = gate::parse_threshold)]
    pub noise_threshold: Option<f64>,

    /// Compare even when the settings, the data set or the server differ (prints what does).
    #[arg(long)]
    pub allow_mismatch: bool,
}
