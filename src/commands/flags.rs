//! Bounds and value parsers that several commands' flags share. Every numeric flag is
//! bounded in its parser, so nonsense is a usage error (exit 2) before any work starts.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::domain::queue::Policy;

/// `--plot`, on every command that draws figures (query, explain, cache-bench, queue-sim,
/// reserve).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Figures")]
pub struct PlotArgs {
    /// Also write this run's figures as SVG files into DIR (created if missing), each with
    /// the command line that made it as its caption.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
}

pub const HOUR: Duration = Duration::from_secs(3600);
pub const DAY: Duration = Duration::from_secs(24 * 3600);
/// Simulated users at most (`reserve --load`, `queue-sim`): the seed's and the simulator's
/// memory budget.
pub const MAX_USERS: u64 = 10_000_000;

/// The largest id a flag takes: ids are signed 64-bit in the database.
pub const MAX_ID: u64 = i64::MAX.unsigned_abs();

pub fn parse_policy(raw: &str) -> Result<Policy, String> {
    raw.parse()
}

pub fn parse_fraction(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("{raw:?} must be a fraction between 0 and 1")),
    }
}

/// Serializes a flag's value as it is typed (its `Display`), for the baseline's settings.
pub fn as_typed<T: std::fmt::Display, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}
