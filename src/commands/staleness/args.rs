//! `staleness`'s flags.

use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::commands::flags::duration_up_to;

pub(crate) const EXAMPLES: &str = "\
How stale a read from a group's secondary is. Each probe holds or releases one seat on the
primary (a real write, undone by the next probe; the seat is put back at the end), and as soon
as its commit returns, reads the seat's version on a secondary until the write shows. Probes
alternate between the two read consistencies, on every secondary that answers:
  eventual  answers from what the member has applied (Group Replication EVENTUAL,
            Galera wsrep_sync_wait=0): no wait, maybe stale
  before    applies everything committed before the read first (Group Replication BEFORE,
            Galera wsrep_sync_wait=1): never stale, and what that wait costs
A stale read under `before` breaks the engine's promise: exit 3.

Examples:
  concert-bench --database-url mysql://root@127.0.0.1:5306,127.0.0.1:5307,127.0.0.1:5308/concert_bench staleness
  concert-bench --database-url mysql://root@127.0.0.1:4306,127.0.0.1:4307,127.0.0.1:4308/concert_bench \\
    staleness --probes 1000 -o json";

#[derive(Debug, Clone, Args, Serialize)]
pub struct StalenessArgs {
    /// Probes per secondary and consistency: each one write and the reads that wait for it.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub probes: u32,

    /// How long a probe reads before it counts the write as never seen.
    #[arg(long, default_value = "10s", value_parser = duration_up_to(Duration::from_secs(600), "10m"), allow_hyphen_values = true)]
    pub timeout: Duration,
}
