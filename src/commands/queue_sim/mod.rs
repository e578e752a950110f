//! `concert-bench queue-sim`: a throughput probe and a time-compressed simulation of the
//! waiting queue on each chosen store, the redis-benchmark anchor beside them, and the
//! queue's promises checked on every run (a broken one fails the run with exit code 3).

mod args;
pub(crate) use args::EXAMPLES;
use args::MAX_CONCERTS;
pub use args::{QueueBackendArg, QueueSimArgs};

mod report;
mod simulation;

pub use report::{BackendResult, ProbeResult, QueueSimReport, QueueSimSettings, SimulationOps};

use anyhow::{Result, bail};

use crate::commands::flags::MAX_ID;
use crate::context::Context;
use crate::domain::queue::{Clock, DatabaseQueue, Policy, QueueConfig, RedisQueue, WaitingQueue};
use crate::keyspace;
use crate::keyspace::KeyPrefix;
use crate::measure::anchor::{self, AnchorRun};
use crate::render::output::{Ratio, Report};
use crate::render::progress;
use crate::storage::schema;
use simulation::{Probe, SimOutcome, SimParams, probe, simulate};

/// Database queue ids of simulations start here: far above any concert id a seed makes.
const SIMULATION_QUEUES: u64 = 1 << 62;
/// Default probe size: enough users for a steady rate, few enough to stay quick.
const DEFAULT_PROBE_SIZE: u64 = 100_000;
/// Database connections for the database queue (MariaDB allows 151 by default).
const MAX_DB_CONNECTIONS: u32 = 32;

struct BackendRun {
    probe: Option<Probe>,
    sim: SimOutcome,
}

pub async fn run(ctx: &Context, args: &QueueSimArgs) -> Result<Report> {
    Report::of(&measure(ctx, args).await?)
}

/// Each backend's simulation (and probe, and anchors), as the typed report.
pub async fn measure(ctx: &Context, args: &QueueSimArgs) -> Result<QueueSimReport> {
    if args.users < args.concerts {
        bail!(
            "--concerts {} needs at least as many --users (got {})",
            args.concerts,
            args.users
        );
    }
    if args
        .concert
        .checked_add(args.concerts - 1)
        .is_none_or(|last| last > MAX_ID)
    {
        bail!(
            "--concert {} plus --concerts {} passes the largest id",
            args.concert,
            args.concerts
        );
    }
    let backends: &[QueueBackendArg] = match args.backend {
        QueueBackendArg::Both => &[QueueBackendArg::Redis, QueueBackendArg::Database],
        ref one => std::slice::from_ref(one),
    };
    // Each run has a queue of its own, so two runs on one prefix (or a live queue of the
    // same concert) never meet: Redis keys under `<prefix>sim:<run>:`, and in the database
    // a queue id no concert has (a block of MAX_CONCERTS ids per run, one per --concerts).
    let run = crate::domain::queue::new_token()[..8].to_string();
    let redis_prefix = KeyPrefix::parse(&format!("{}sim:{run}:", ctx.key_prefix.as_str()))?;
    let config = QueueConfig {
        concert: args.concert,
        policy: args.policy,
        ttl: args.ttl,
    };
    let database_config = QueueConfig {
        concert: SIMULATION_QUEUES + u64::from(fake::rand::random::<u32>()) * MAX_CONCERTS,
        ..config.clone()
    };
    let probe_size = args
        .probe_size
        .unwrap_or(args.users.min(DEFAULT_PROBE_SIZE));
    let multi = progress::multi(ctx.progress_visible());
    // One queue per concert: the configs differ only in the queue id.
    let concert_configs = |base: &QueueConfig| -> Vec<QueueConfig> {
        (0..args.concerts)
            .map(|i| QueueConfig {
                concert: base.concert + i,
                ..base.clone()
            })
            .collect()
    };
    let mut runs = Vec::new();
    let mut redis_masters = Vec::new();
    for backend in backends {
        let clock = Clock::compressed(args.speed);
        let run = match backend {
            QueueBackendArg::Database => {
                let db =
                    schema::connect_seeded(&ctx.database, args.clients.min(MAX_DB_CONNECTIONS))
                        .await?;
                let queues = concert_configs(&database_config)
                    .into_iter()
                    .map(|c| DatabaseQueue::new(db.pool.clone(), c, clock.clone()))
                    .collect();
                run_backend(queues, clock, args, probe_size, &multi).await?
            }
            _ => {
                let mut conn = keyspace::connect(&ctx.redis).await?;
                let queues: Vec<RedisQueue> = concert_configs(&config)
                    .into_iter()
                    .map(|c| RedisQueue::new(conn.clone(), &redis_prefix, c, clock.clone()))
                    .collect();
                let slot_keys: Vec<String> =
                    queues.iter().map(|q| q.slot_key().to_string()).collect();
                redis_masters = keyspace::keys_per_master(&mut conn, &slot_keys).await?;
                run_backend(queues, clock, args, probe_size, &multi).await?
            }
        };
        runs.push(run);
    }
    let anchors = if args.anchor {
        anchor::sorted_set(
            &ctx.redis,
            &mut keyspace::connect(&ctx.redis).await?,
            &redis_prefix,
            args.clients,
            probe_size.max(args.probe_lookups),
            probe_size.max(1),
        )
        .await?
    } else {
        Vec::new()
    };
    Ok(report(args, &runs, anchors, redis_masters))
}

/// The probe and the simulation on every queue at once (each with its share of the users,
/// clients and probe), merged into one run.
async fn run_backend<Q: WaitingQueue>(
    queues: Vec<Q>,
    clock: Clock,
    args: &QueueSimArgs,
    probe_size: u64,
    multi: &indicatif::MultiProgress,
) -> Result<BackendRun> {
    let backend = queues[0].backend();
    let n = queues.len() as u64;
    let share = |total: u64, i: u64| total / n + u64::from(i < total % n);
    // At least one client per queue, so more queues than --clients means more clients.
    let clients = |i: u64| share(u64::from(args.clients), i).max(1) as usize;
    let probe = if probe_size > 0 {
        let bar = progress::rows_bar(multi, &format!("{backend} probe"), 0);
        let probes = queues.iter().enumerate().map(|(i, queue)| {
            let i = i as u64;
            // Only the first queue's probe drives the bar: n bars would drown the terminal.
            let bar = if i == 0 {
                bar.clone()
            } else {
                indicatif::ProgressBar::hidden()
            };
            async move {
                let (size, lookups) = (
                    share(probe_size, i).max(1),
                    share(args.probe_lookups, i).max(1),
                );
                probe(queue, clients(i), size, lookups, args.rng_seed ^ i, &bar).await
            }
        });
        let measured = futures::future::try_join_all(probes).await?;
        bar.finish_and_clear();
        Some(Probe::merge(measured))
    } else {
        None
    };
    let bar = progress::users_bar(multi, backend, share(args.users, 0));
    let sims = queues.into_iter().enumerate().map(|(i, queue)| {
        let i = i as u64;
        let params = SimParams {
            users: share(args.users, i),
            clients: clients(i),
            arrival: args.arrival,
            policy: args.policy,
            tick: args.tick,
            service: args.service,
            abandon: args.abandon,
            rng_seed: args.rng_seed ^ i,
        };
        let bar = if i == 0 {
            bar.clone()
        } else {
            indicatif::ProgressBar::hidden()
        };
        let clock = clock.clone();
        async move { simulate(queue, clock, params, &bar).await }
    });
    let sim = SimOutcome::merge(futures::future::try_join_all(sims).await?);
    bar.finish_and_clear();
    Ok(BackendRun { probe, sim })
}

/// The promises every run checks; each broken one is a violation.
fn violations(policy: Policy, sim: &SimOutcome) -> Vec<String> {
    let backend = sim.backend;
    let mut found = Vec::new();
    if sim.fifo_violations > 0 {
        found.push(format!(
            "{backend}: {} admissions out of arrival order",
            sim.fifo_violations
        ));
    }
    if sim.lost_admissions > 0 {
        found.push(format!(
            "{backend}: {} admissions lost by the store and made again: those users were told they were in, then their tokens were gone (acknowledged writes lost, as Redis Cluster's asynchronous replication allows)",
            sim.lost_admissions
        ));
    }
    if sim.foreign_admissions > 0 {
        found.push(format!(
            "{backend}: {} admitted users this run never entered (another run shares its queue)",
            sim.foreign_admissions
        ));
    }
    if sim.admitted_still_waiting > 0 {
        found.push(format!(
            "{backend}: {} admitted users are still in the waiting set",
            sim.admitted_still_waiting
        ));
    }
    match policy {
        Policy::Capacity { active } if sim.max_active > active => found.push(format!(
            "{backend}: {} active at once, above the cap of {active}",
            sim.max_active
        )),
        Policy::Rate { admit, .. } if sim.max_admitted_per_period > admit => found.push(format!(
            "{backend}: {} admitted in one period, above the rate of {admit}",
            sim.max_admitted_per_period
        )),
        _ => {}
    }
    found
}

fn probe_result(probe: &Probe) -> ProbeResult {
    ProbeResult {
        size: probe.size,
        enter_per_second: probe.enter_per_second,
        position_per_second: probe.position_per_second,
        enter: probe.enter.summary(),
        position: probe.position.summary(),
    }
}

fn report(
    args: &QueueSimArgs,
    runs: &[BackendRun],
    anchors: Vec<AnchorRun>,
    redis_masters: Vec<keyspace::MasterShare>,
) -> QueueSimReport {
    let active_cap = match args.policy {
        Policy::Capacity { active } => Some(active),
        Policy::Rate { .. } => None,
    };
    let mut results = Vec::new();
    let mut violations_found = Vec::new();
    for BackendRun { probe, sim } in runs {
        let wall = sim.wall.as_secs_f64();
        let ops = SimulationOps {
            wall_seconds: wall,
            enter_ops: sim.enter.len(),
            position_ops: sim.position.len(),
            enter: sim.enter.summary(),
            position: sim.position.summary(),
        };
        // Without a probe, the rates are what the simulation itself achieved.
        let (enter_rate, position_rate) = match probe {
            Some(p) => (p.enter_per_second, p.position_per_second),
            None => (
                sim.enter.len() as f64 / wall,
                sim.position.len() as f64 / wall,
            ),
        };
        violations_found.extend(violations(args.policy, sim));
        results.push(BackendResult {
            backend: sim.backend,
            users: args.users,
            admitted: sim.admitted,
            admissions: sim.admissions,
            policy: args.policy.to_string(),
            active_cap,
            max_active: sim.max_active,
            max_admitted_per_period: sim.max_admitted_per_period,
            fifo_violations: sim.fifo_violations,
            lost_admissions: sim.lost_admissions,
            admitted_still_waiting: sim.admitted_still_waiting,
            foreign_admissions: sim.foreign_admissions,
            arrivals_delayed: sim.arrivals_delayed,
            enter_per_second: enter_rate,
            admissions_per_second: sim.admitted as f64 / wall,
            admissions_per_queue_second: sim.admitted as f64 / (wall * args.speed),
            position_per_second: position_rate,
            throughput_source: if probe.is_some() {
                "probe"
            } else {
                "simulation"
            },
            wait: sim.wait.summary(),
            eta_error_pct: sim.eta_error_pct,
            store_lag_p99_ms: ops.enter.p99_ms.max(ops.position.p99_ms) * args.speed,
            tokens_expired: sim.tokens_expired,
            expired_before_noticed: sim.expired_unnoticed,
            reentered: sim.reentered,
            errors: sim.errors,
            memory_bytes: sim.peak_memory_bytes,
            simulation: ops,
            probe: probe.as_ref().map(probe_result),
            timeline: sim.timeline.clone(),
            estimates: sim.estimates.clone(),
        });
    }
    QueueSimReport {
        settings: QueueSimSettings {
            policy: args.policy.to_string(),
            ttl_ms: args.ttl.as_millis() as u64,
            arrival: args.arrival.to_string(),
            service_ms: [
                args.service.0.as_millis() as u64,
                args.service.1.as_millis() as u64,
            ],
            abandon: args.abandon,
            speed: args.speed,
            tick_ms: args.tick.as_millis() as u64,
            clients: args.clients,
            concerts: args.concerts,
        },
        redis_masters,
        comparisons: comparisons(runs, &anchors),
        results,
        anchors,
        violations: violations_found,
    }
}

/// Queue throughput against the anchor's bare commands, and Redis against the database.
fn comparisons(runs: &[BackendRun], anchors: &[AnchorRun]) -> Vec<Ratio> {
    let probe_of = |backend: &str| {
        runs.iter()
            .find(|r| r.sim.backend == backend)
            .and_then(|r| r.probe.as_ref())
    };
    let mut out = Vec::new();
    if let Some(p) = probe_of("redis") {
        for a in anchors {
            let (what, ours) = match a.command {
                "ZADD" => ("redis enter / redis-benchmark ZADD", p.enter_per_second),
                _ => (
                    "redis position / redis-benchmark ZRANK",
                    p.position_per_second,
                ),
            };
            out.push(Ratio {
                what: what.into(),
                ratio: ours / a.ops_per_second,
            });
        }
    }
    if let (Some(r), Some(d)) = (probe_of("redis"), probe_of("database")) {
        out.push(Ratio {
            what: "enter: redis / database".into(),
            ratio: r.enter_per_second / d.enter_per_second,
        });
        out.push(Ratio {
            what: "position: redis / database".into(),
            ratio: r.position_per_second / d.position_per_second,
        });
    }
    out
}

impl crate::commands::Subcommand for QueueSimArgs {
    const NAME: &'static str = <QueueSimReport as crate::render::output::CommandReport>::COMMAND;
    const INTERRUPTED: &'static str =
        "no results; the simulation's queue keys may remain under the key prefix";

    fn document_schema() -> Option<serde_json::Value> {
        Some(crate::render::output::schema_of::<QueueSimReport>())
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
