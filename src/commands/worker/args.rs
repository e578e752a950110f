//! `worker`'s flags.

use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::commands::flags::{DAY, HOUR};
use crate::commands::flags::{duration_up_to, parse_duration};

pub(crate) const EXAMPLES: &str =
    "Publishes outbox rows to the Redis stream (the relay) and applies events for the chosen
services, until Ctrl-C or --for. Start as many as you like, on as many machines: each service
is one consumer group, so its events are shared out, and a worker that dies mid-event has its
deliveries taken over after --claim-after. An event that fails --max-deliveries times is
parked (processed_event.outcome = PARKED, and the <prefix>events:parked stream): the audit
reports it until `--replay-parked` drives it again. A database that is down does not count
against --max-deliveries: events wait for it.

Examples:
  concert-bench worker                                   # relay + all four services
  concert-bench worker --service payment --service point --no-relay
  concert-bench worker --for 60s -o json                 # stop after a minute, print counts
  concert-bench worker --replay-parked --for 30s         # re-drive parked events, then stop";

#[derive(Debug, Clone, Args, Serialize)]
pub struct WorkerArgs {
    /// A service to consume for (repeatable; default: all four).
    #[arg(long = "service", value_enum)]
    pub services: Vec<crate::domain::services::Service>,

    /// Do not run the outbox relay in this worker.
    #[arg(long)]
    pub no_relay: bool,

    /// First drive every parked event again (after fixing what made it fail); they are then
    /// applied by this worker's consumers, or parked again if the cause remains.
    #[arg(long)]
    pub replay_parked: bool,

    /// Stop after this long and print what was done (default: until Ctrl-C).
    #[arg(long = "for", value_parser = parse_duration, allow_hyphen_values = true)]
    pub run_for: Option<Duration>,

    /// A delivery left unacknowledged this long is taken over by another consumer.
    #[arg(long, default_value = "5s", value_parser = duration_up_to(HOUR, "1h"), allow_hyphen_values = true)]
    pub claim_after: Duration,

    /// Deliveries of one event before it is parked.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub max_deliveries: u64,

    /// Events published this long ago that a service has not applied are published again
    /// (a Redis that restarted without persistence lost them).
    #[arg(long, default_value = "30s", value_parser = duration_up_to(DAY, "24h"), allow_hyphen_values = true)]
    pub republish_after: Duration,
}
