//! The command line (clap): the global options and the subcommand, whose list is
//! [`crate::commands`]'s registry. Validation that needs more than one flag lives with the
//! command that uses them (for example `seed::plan`), so these types stay declarations.

use clap::Parser;

pub use crate::commands::Command;
use crate::context::{ConnectOpts, GLOBAL};
use crate::render::output::OutputFormat;

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
