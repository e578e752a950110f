//! `concert-bench worker`: the relay and service consumers on their own, until Ctrl-C or
//! `--for`, then what they did and what is left.

mod args;
mod report;
pub(crate) use args::EXAMPLES;
pub use args::WorkerArgs;
pub use report::WorkerReport;

use anyhow::Result;

use crate::context::Context;
use crate::domain::services::Service;
use crate::domain::services::worker::{Backlog, WorkerConfig, Workers, replay_parked};
use crate::render::output::Report;
use crate::render::progress;
use crate::storage::schema;

/// Database connections a worker uses: each consumer applies a few events at a time.
const POOL: u32 = 40;

pub async fn run(ctx: &Context, args: &WorkerArgs) -> Result<Report> {
    let db = schema::connect_seeded(&ctx.database, POOL).await?;
    let config = config(args);
    let replayed = if args.replay_parked {
        Some(replay_parked(&db.pool, &ctx.redis, &ctx.key_prefix).await?)
    } else {
        None
    };
    let workers = Workers::start(&db.pool, &ctx.redis, &ctx.key_prefix, &config).await?;
    let spinner = progress::spinner(ctx.progress_visible());
    spinner.set_message("working: relaying and applying events (Ctrl-C stops)");
    match args.run_for {
        Some(limit) => tokio::time::sleep(limit).await,
        None => std::future::pending::<()>().await,
    }
    spinner.finish_and_clear();
    let stats = workers.stats.snapshot();
    workers.stop().await;
    let backlog = Backlog::measure(&db.pool, 0).await?;
    Report::of(&WorkerReport {
        services: config.services,
        relay: config.relay,
        replayed_parked: replayed,
        events: stats,
        backlog,
    })
}

/// The worker's settings from its flags; the rest as every in-process worker has them.
fn config(args: &WorkerArgs) -> WorkerConfig {
    WorkerConfig {
        services: if args.services.is_empty() {
            Service::ALL.to_vec()
        } else {
            args.services.clone()
        },
        relay: !args.no_relay,
        claim_after: args.claim_after,
        max_deliveries: usize::try_from(args.max_deliveries).unwrap_or(usize::MAX),
        republish_after: args.republish_after,
        ..WorkerConfig::default()
    }
}

impl crate::commands::Subcommand for WorkerArgs {
    const NAME: &'static str = <WorkerReport as crate::render::output::CommandReport>::COMMAND;
    const INTERRUPTED: &'static str =
        "events being applied rolled back; any worker redelivers them";

    fn document_schema() -> Option<serde_json::Value> {
        Some(crate::render::output::schema_of::<WorkerReport>())
    }

    async fn run(&self, ctx: &Context) -> Result<Report> {
        run(ctx, self).await
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// `worker`'s flag defaults and `reserve --flow events`'s in-process workers
    /// (`WorkerConfig::default`) are one set of settings: clap cannot take a `Duration` as its
    /// default, so this keeps the two spellings equal.
    #[test]
    fn the_flags_defaults_are_the_workers_defaults() {
        #[derive(Parser)]
        struct Worker {
            #[command(flatten)]
            args: WorkerArgs,
        }
        let parsed = config(&Worker::parse_from(["worker"]).args);
        let default = WorkerConfig::default();
        assert_eq!(parsed.services, default.services);
        assert_eq!(parsed.relay, default.relay);
        assert_eq!(parsed.claim_after, default.claim_after);
        assert_eq!(parsed.max_deliveries, default.max_deliveries);
        assert_eq!(parsed.republish_after, default.republish_after);
    }
}
