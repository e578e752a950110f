//! `concert-bench reserve`: one reservation by hand (through the waiting queue), a load of
//! concurrent users per seat strategy, a charge race on one wallet, the sweeper, and the
//! audit after every run (a finding fails the run with exit code 3).

mod args;
pub(crate) use args::EXAMPLES;
pub use args::{FlowChoice, ReserveArgs, SeatChoice, StrategyPick};

pub mod events;
mod load;
mod report;

pub use events::EventsSummary;
pub use load::{ChargeRace, StrategyResult};
pub use report::{Outcome, ReserveReport};

use std::time::Duration;

use anyhow::{Result, bail};

use crate::commands::reserve::events::EventsRun;
use crate::context::Context;
use crate::domain::audit::Audit;
use crate::domain::booking::{Booking, Strategy};
use crate::domain::queue::{Clock, Position, QueueConfig, RedisQueue, WaitingQueue};
use crate::keyspace;
use crate::render::output::Report;
use crate::render::progress;
use crate::storage::db::{self, DatabaseUrl};
use crate::storage::group::Writers;
use crate::storage::schema;

/// How often a person waiting in the queue sees their position refreshed.
const QUEUE_POLL: Duration = Duration::from_millis(500);

pub async fn run(ctx: &Context, args: &ReserveArgs) -> Result<Report> {
    Report::of(&measure(ctx, args).await?)
}

/// What the run did and the audit after it, as the typed report.
pub async fn measure(ctx: &Context, args: &ReserveArgs) -> Result<ReserveReport> {
    let db = schema::connect_seeded(&ctx.database, args.clients.clamp(2, 128)).await?;
    for warning in &db.warnings {
        ctx.warn(warning);
    }
    let url = db.url.clone();
    let needs_redis = !args.audit
        && !args.sweep
        && (!args.skip_queue && !args.load && args.charge_race.is_none()
            || strategies(args).contains(&Strategy::RedisLock));
    let redis = if needs_redis {
        Some(keyspace::connect(&ctx.redis).await?)
    } else {
        None
    };
    let mut booking = Booking::new(db.pool.clone(), redis.clone().map(|c| (c, &ctx.key_prefix)));
    booking.hold_for = args.hold;

    let outcome = if args.audit {
        Outcome::AuditOnly {}
    } else if args.sweep {
        Outcome::Sweep {
            released: booking.sweep().await?,
        }
    } else if let Some(n) = args.charge_race {
        Outcome::ChargeRace {
            charge_race: load::charge_race(&booking, args.user.unwrap_or(1), n, args.clients)
                .await?,
        }
    } else if args.load {
        // On a multi-primary group every member takes writes: the users spread over them.
        let writers = Writers::open(&db, args.clients.clamp(2, 128)).await?;
        let bookings: Vec<Booking> = writers
            .pools()
            .iter()
            .map(|pool| booking.on_pool(pool.clone()))
            .collect();
        for other in &writers.pools()[1..] {
            db::open_connections(other, args.clients / bookings.len() as u32 + 1).await?;
        }
        let direct = load::ThroughBooking {
            bookings: &bookings,
            writers: &writers,
        };
        let (results, events) = load_runs(ctx, args, &url, &direct).await?;
        Outcome::Load {
            results,
            paid: !args.no_pay,
            events,
        }
    } else {
        by_hand(ctx, args, &booking, redis).await?
    };
    let audit = Audit::run(&db.pool).await?;
    let mut violations = Vec::new();
    if let Outcome::ChargeRace { charge_race } = &outcome
        && charge_race.lost_updates != 0
    {
        violations.push(format!(
            "charge race: {} of {} charges lost",
            charge_race.lost_updates, charge_race.charges
        ));
    }
    violations.extend(audit.findings());
    Ok(ReserveReport {
        outcome,
        audit,
        violations,
    })
}

/// The load through each chosen flow: the direct one per strategy, the events one once (its
/// Concert service holds seats with the conditional update).
async fn load_runs(
    ctx: &Context,
    args: &ReserveArgs,
    url: &DatabaseUrl,
    direct: &load::ThroughBooking<'_>,
) -> Result<(Vec<StrategyResult>, Option<EventsSummary>)> {
    let booking = &direct.bookings[0];
    let mut results = Vec::new();
    if matches!(args.flow, FlowChoice::Direct | FlowChoice::Both) {
        let drivers: Vec<load::Driver> = strategies(args)
            .into_iter()
            .map(|s| load::Driver::Direct(direct, s))
            .collect();
        results = load::run(booking, ctx, args, &drivers).await?;
    }
    if args.flow == FlowChoice::Direct {
        return Ok((results, None));
    }
    if args.flow == FlowChoice::Events
        && !args.strategies.is_empty()
        && strategies(args) != [Strategy::Conditional]
    {
        ctx.warn("--strategy applies to the direct flow; the events flow's Concert service holds seats with the conditional update");
    }
    // Started after the direct runs, so those share the machine with nothing idle-polling.
    let back_end = EventsRun::start(ctx, url, direct.writers, args.external_workers).await?;
    let run_and_settle = async {
        let driver = load::Driver::Events(load::ThroughEvents {
            writers: direct.writers,
            outcomes: &back_end.outcomes,
            hold_for: args.hold,
            timeout: args.settle_timeout,
        });
        let events_run = load::run(booking, ctx, args, std::slice::from_ref(&driver)).await;
        (
            events_run,
            back_end.finish(&booking.pool, args.settle_timeout).await,
        )
    };
    // The workers only wait for a lost member to come back: the group is followed for them.
    let (events_run, events) = tokio::select! {
        done = run_and_settle => done,
        never = direct.writers.keep_following() => match never {},
    };
    let events = events?;
    results.extend(events_run?);
    Ok((results, Some(events)))
}

fn strategies(args: &ReserveArgs) -> Vec<Strategy> {
    if args.strategies.is_empty() || args.strategies.contains(&StrategyPick::All) {
        return if args.load {
            Strategy::ALL.to_vec()
        } else {
            vec![Strategy::Conditional]
        };
    }
    args.strategies
        .iter()
        .filter_map(|pick| match pick {
            StrategyPick::One(strategy) => Some(*strategy),
            StrategyPick::All => None,
        })
        .collect()
}

/// One person's reservation: queue (unless skipped), hold, and pay if asked.
async fn by_hand(
    ctx: &Context,
    args: &ReserveArgs,
    booking: &Booking,
    redis: Option<crate::keyspace::RedisConn>,
) -> Result<Outcome> {
    let Some(user) = args.user else {
        bail!(
            "reserve needs --user and --seat (or --reservation to pay a hold), or one of --load, --charge-race, --sweep, --audit"
        );
    };
    if let Some(reservation) = args.reservation {
        return Ok(Outcome::Paid {
            payment: booking.pay(user, reservation).await?,
        });
    }
    let Some(seat) = args.seat else {
        bail!("reserve --user needs --seat (or --reservation to pay an existing hold)");
    };
    let strategy = strategies(args)[0];
    let queue = match redis {
        Some(conn) if !args.skip_queue => {
            let concert = concert_of(booking, seat).await?;
            let queue = RedisQueue::new(
                conn,
                &ctx.key_prefix,
                QueueConfig {
                    concert: concert as u64,
                    policy: args.queue_policy,
                    ttl: args.hold,
                },
                Clock::real(),
            );
            wait_for_turn(ctx, &queue, user as u64).await?;
            Some(queue)
        }
        _ => None,
    };
    let hold = booking.hold(strategy, user, seat).await?;
    let payment = if args.pay {
        let paid = booking.pay(user, hold.reservation_id).await?;
        // Paying ends the queue turn: the token expires now, not after the TTL.
        if let Some(queue) = &queue {
            queue.complete(user as u64).await?;
        }
        Some(paid)
    } else {
        None
    };
    Ok(Outcome::ByHand {
        strategy,
        reservation: hold,
        payment,
        queued: queue.is_some(),
    })
}

async fn concert_of(booking: &Booking, seat: i64) -> Result<i64> {
    let concert: Option<i64> = sqlx::query_scalar(
        "SELECT p.concert_id FROM seat s JOIN performance p ON p.id = s.performance_id WHERE s.id = ?",
    )
    .bind(seat)
    .fetch_optional(&booking.pool)
    .await?;
    concert.ok_or_else(|| crate::domain::booking::BookingError::UnknownSeat(seat).into())
}

/// Enters the concert's queue and waits to be admitted, showing the position. With no
/// scheduler process running, this command admits by the queue's own rules while it waits.
async fn wait_for_turn(ctx: &Context, queue: &RedisQueue, user: u64) -> Result<()> {
    let bar = progress::spinner(ctx.progress_visible());
    let mut position = queue.enter(user).await?.position;
    loop {
        match position {
            Position::Active { .. } => {
                bar.finish_and_clear();
                return Ok(());
            }
            Position::Waiting { position, eta } => bar.set_message(format!(
                "in the queue: position {position}{}",
                eta.map_or(String::new(), |e| format!(", about {} s", e.as_secs()))
            )),
            // The queue lost us (Redis restarted, or the turn expired): enter again.
            Position::Absent => {
                queue.enter(user).await?;
            }
        }
        queue.admit().await?;
        tokio::time::sleep(QUEUE_POLL).await;
        position = queue.position(user).await?;
    }
}

impl crate::commands::Subcommand for ReserveArgs {
    const NAME: &'static str = <ReserveReport as crate::render::output::CommandReport>::COMMAND;
    const INTERRUPTED: &'static str = "every finished step committed whole (sagas of --flow events under way finish when a `concert-bench worker` runs); run `concert-bench reserve --audit` to check";

    fn document_schema() -> Option<serde_json::Value> {
        Some(crate::render::output::schema_of::<ReserveReport>())
    }

    fn gate(&self) -> Option<&crate::gate::BaselineArgs> {
        Some(&self.gate)
    }

    fn plot_dir(&self) -> Option<&std::path::Path> {
        self.plot.plot.as_deref()
    }

    async fn run(&self, ctx: &Context) -> Result<Report> {
        run(ctx, self).await
    }
}
