//! One module per subcommand: each has its `run(ctx, args)`, which returns a report, and
//! nothing here prints. The commands use the domain, the index lab and the shared
//! infrastructure; nothing below them uses a command.

pub mod cache_bench;
pub mod compare;
pub mod explain;
pub(crate) mod flags;
pub mod query;
pub mod queue_sim;
pub mod report;
pub mod reserve;
pub mod schema;
pub mod seed;
pub mod worker;
