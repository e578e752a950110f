//! What every command runs with: the connection options (`--database-url`, `--redis-url`,
//! `--key-prefix`, flattened into the command line) parsed once into a [`Context`], the output
//! settings, and the failures a caller acts on by exit code. Below the commands, so each can
//! take a [`Context`] without depending on the command line that made it.

use clap::Args;
use thiserror::Error;

use crate::keyspace::{KeyPrefix, RedisTarget};
use crate::render::output::OutputFormat;
use crate::render::progress;
use crate::storage::db::DatabaseUrl;

pub const DEFAULT_DATABASE_URL: &str = "mysql://root@127.0.0.1:3306/concert_bench";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

/// The heading the global options are listed under in every command's `--help`, apart from
/// that command's own options.
pub const GLOBAL: &str = "Global options";

/// Where the databases are. Env values are hidden from `--help` because they may hold passwords.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = GLOBAL)]
pub struct ConnectOpts {
    /// MySQL/MariaDB URL; `seed` creates the database it names if missing. A Galera cluster
    /// or Group Replication group by listing every member:
    /// mysql://user@host1:3306,host2:3306,host3:3306/db (writes follow the primary).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,

    /// Redis URL: one server (redis://host:6379), or a Redis Cluster named by one or more of
    /// its nodes (redis+cluster://host:7000,host:7001).
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = DEFAULT_REDIS_URL,
        hide_env_values = true,
        global = true
    )]
    pub redis_url: String,

    /// Namespace for every Redis key the tool writes.
    #[arg(long, default_value = "cb:", global = true)]
    pub key_prefix: String,
}

/// What every command may read from the global options, each parsed once: a child (a scale's
/// scratch database, a report stage's key prefix) is made by a method on its type, never by
/// formatting or cutting a URL.
#[derive(Debug, Clone)]
pub struct Context {
    pub database: DatabaseUrl,
    pub redis: RedisTarget,
    pub key_prefix: KeyPrefix,
    pub output: OutputFormat,
    pub quiet: bool,
}

impl Context {
    /// Parses the connection options; a malformed one is a one-line error before any work.
    pub fn new(connect: &ConnectOpts, output: OutputFormat, quiet: bool) -> anyhow::Result<Self> {
        Ok(Self {
            database: DatabaseUrl::parse(&connect.database_url)?,
            redis: RedisTarget::parse(&connect.redis_url)?,
            key_prefix: KeyPrefix::parse(&connect.key_prefix)?,
            output,
            quiet,
        })
    }

    /// The same servers, another database of the tool's own and a key prefix below this one
    /// (`query --scales`, `report`'s stages).
    pub fn child(&self, database: &str, prefix: &str) -> anyhow::Result<Self> {
        Ok(Self {
            database: self.database.with_database(database)?,
            key_prefix: self.key_prefix.child(prefix)?,
            ..self.clone()
        })
    }

    pub fn progress_visible(&self) -> bool {
        progress::visible(self.quiet, self.output)
    }

    /// A warning on stderr, unless `-q`: stdout stays the result alone.
    pub fn warn(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("warning: {message}");
        }
    }
}

/// Failures a caller can act on by exit code.
#[derive(Debug, Error)]
pub enum Failure {
    #[error("interrupted: {0}")]
    Interrupted(&'static str),
    /// The command ran to the end but found broken invariants; `output` is its full report.
    #[error("{}", .violations.join("; "))]
    Violations {
        output: String,
        violations: Vec<String>,
    },
    /// The run (or `compare`) found metrics worse than the baseline beyond the noise;
    /// `output` is its full report.
    #[error("regressed against the baseline: {}", .regressions.join(", "))]
    Regressed {
        output: String,
        regressions: Vec<String>,
    },
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Interrupted(_) => 130,
            Failure::Violations { .. } => 3,
            Failure::Regressed { .. } => 4,
        }
    }
}
