//! `concert-bench queue-sim`: a throughput probe and a time-compressed simulation of the
//! waiting queue on each chosen store, the redis-benchmark anchor beside them, and the
//! queue's promises checked on every run (a broken one fails the run with exit code 3).

mod args;
pub(crate) use args::EXAMPLES;
pub use args::{QueueBackendArg, QueueSimArgs};

mod simulation;

use anyhow::Result;
use serde_json::{Value as Json, json};

use crate::anchor::{self, AnchorRun};
use crate::domain::queue::{Clock, DatabaseQueue, Policy, QueueConfig, RedisQueue, WaitingQueue};
use crate::keyspace::KeyPrefix;
use crate::output::{Report, Table, thousands};
use crate::stats::Summary;
use crate::{Context, keyspace, progress, schema};
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
    let backends: &[QueueBackendArg] = match args.backend {
        QueueBackendArg::Both => &[QueueBackendArg::Redis, QueueBackendArg::Database],
        ref one => std::slice::from_ref(one),
    };
    // Each run has a queue of its own, so two runs on one prefix (or a live queue of the
    // same concert) never meet: Redis keys under `<prefix>sim:<run>:`, and in the database
    // a queue id no concert has.
    let run = crate::domain::queue::new_token()[..8].to_string();
    let redis_prefix = KeyPrefix::parse(&format!("{}sim:{run}:", ctx.key_prefix.as_str()))?;
    let config = QueueConfig {
        concert: args.concert,
        policy: args.policy,
        ttl: args.ttl,
    };
    let database_config = QueueConfig {
        concert: SIMULATION_QUEUES + u64::from(fake::rand::random::<u32>()),
        ..config.clone()
    };
    let probe_size = args
        .probe_size
        .unwrap_or(args.users.min(DEFAULT_PROBE_SIZE));
    let multi = progress::multi(ctx.progress_visible());
    let mut runs = Vec::new();
    for backend in backends {
        let clock = Clock::compressed(args.speed);
        let run = match backend {
            QueueBackendArg::Database => {
                let db = schema::connect_seeded(
                    &ctx.connect.database_url,
                    args.clients.min(MAX_DB_CONNECTIONS),
                )
                .await?;
                let queue =
                    DatabaseQueue::new(db.pool.clone(), database_config.clone(), clock.clone());
                run_backend(queue, clock, args, probe_size, &multi).await?
            }
            _ => {
                let conn = keyspace::connect(&ctx.connect.redis_url).await?;
                let queue = RedisQueue::new(conn, &redis_prefix, config.clone(), clock.clone());
                run_backend(queue, clock, args, probe_size, &multi).await?
            }
        };
        runs.push(run);
    }
    let anchors = if args.anchor {
        anchor::sorted_set(
            &ctx.connect.redis_url,
            &redis_prefix,
            args.clients,
            probe_size.max(args.probe_lookups),
            probe_size.max(1),
        )
        .await?
    } else {
        Vec::new()
    };
    Ok(report(args, &runs, &anchors))
}

async fn run_backend<Q: WaitingQueue>(
    queue: Q,
    clock: Clock,
    args: &QueueSimArgs,
    probe_size: u64,
    multi: &indicatif::MultiProgress,
) -> Result<BackendRun> {
    let probe = if probe_size > 0 {
        let bar = progress::rows_bar(multi, &format!("{} probe", queue.backend()), 0);
        let measured = probe(
            &queue,
            args.clients as usize,
            probe_size,
            args.probe_lookups,
            args.rng_seed,
            &bar,
        )
        .await?;
        bar.finish_and_clear();
        Some(measured)
    } else {
        None
    };
    let bar = progress::users_bar(multi, queue.backend(), args.users);
    let params = SimParams {
        users: args.users,
        clients: args.clients as usize,
        arrival: args.arrival,
        policy: args.policy,
        tick: args.tick,
        service: args.service,
        abandon: args.abandon,
        rng_seed: args.rng_seed,
    };
    let sim = simulate(queue, clock, params, &bar).await?;
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

fn percentiles(summary: &Summary) -> Json {
    json!({"p50": summary.median_ms, "p95": summary.p95_ms, "p99": summary.p99_ms, "max": summary.max_ms})
}

fn probe_json(probe: &Probe) -> Json {
    json!({
        "size": probe.size,
        "enter_per_second": probe.enter_per_second,
        "position_per_second": probe.position_per_second,
        "enter_ms": percentiles(&probe.enter.summary()),
        "position_ms": percentiles(&probe.position.summary()),
    })
}

fn report(args: &QueueSimArgs, runs: &[BackendRun], anchors: &[AnchorRun]) -> Report {
    let active_cap = match args.policy {
        Policy::Capacity { active } => Some(active),
        Policy::Rate { .. } => None,
    };
    let mut sim_table = Table::new(
        "Simulation (wait in queue time; checks on every run)",
        &[
            "backend",
            "users",
            "admitted",
            "max active",
            "FIFO viol.",
            "wait p50",
            "wait p95",
            "wait p99",
            "ETA error",
            "expired",
            "errors",
            "memory",
            "wall",
        ],
    );
    let mut probe_table = Table::new(
        format!("Throughput probe ({} clients)", args.clients),
        &[
            "backend",
            "queue size",
            "enter/s",
            "enter p50 ms",
            "enter p99 ms",
            "position/s",
            "position p50 ms",
            "position p99 ms",
        ],
    );
    let mut results = Vec::new();
    let mut violations_found = Vec::new();
    for BackendRun { probe, sim } in runs {
        let wait = sim.wait.summary();
        let wall = sim.wall.as_secs_f64();
        // Without a probe, the rates are what the simulation itself achieved.
        let (enter_rate, position_rate) = match probe {
            Some(p) => (p.enter_per_second, p.position_per_second),
            None => (
                sim.enter.len() as f64 / wall,
                sim.position.len() as f64 / wall,
            ),
        };
        violations_found.extend(violations(args.policy, sim));
        results.push(json!({
            "backend": sim.backend,
            "users": args.users,
            "admitted": sim.admitted,
            "admissions": sim.admissions,
            "policy": args.policy.to_string(),
            "active_cap": active_cap,
            "max_active": sim.max_active,
            "max_admitted_per_period": sim.max_admitted_per_period,
            "fifo_violations": sim.fifo_violations,
            "admitted_still_waiting": sim.admitted_still_waiting,
            "foreign_admissions": sim.foreign_admissions,
            "arrivals_delayed": sim.arrivals_delayed,
            "enter_per_second": enter_rate,
            "admissions_per_second": sim.admitted as f64 / wall,
            "admissions_per_queue_second": sim.admitted as f64 / (wall * args.speed),
            "position_per_second": position_rate,
            "throughput_source": if probe.is_some() { "probe" } else { "simulation" },
            "wait_ms": percentiles(&wait),
            "eta_error_pct": sim.eta_error_pct,
            "tokens_expired": sim.tokens_expired,
            "expired_before_noticed": sim.expired_unnoticed,
            "reentered": sim.reentered,
            "errors": sim.errors,
            "memory_bytes": sim.peak_memory_bytes,
            "simulation": {
                "wall_seconds": wall,
                "enter_ops": sim.enter.len(),
                "position_ops": sim.position.len(),
                "enter_ms": percentiles(&sim.enter.summary()),
                "position_ms": percentiles(&sim.position.summary()),
            },
            "probe": probe.as_ref().map(probe_json),
        }));
        let cap = active_cap.map_or(String::new(), |c| format!(" / {c}"));
        sim_table.push(vec![
            sim.backend.to_string(),
            thousands(args.users as f64),
            thousands(sim.admitted as f64),
            format!("{}{cap}", thousands(sim.max_active as f64)),
            sim.fifo_violations.to_string(),
            format!("{:.1} s", wait.median_ms / 1e3),
            format!("{:.1} s", wait.p95_ms / 1e3),
            format!("{:.1} s", wait.p99_ms / 1e3),
            sim.eta_error_pct.map_or("-".into(), |e| format!("{e:.0}%")),
            thousands(sim.tokens_expired as f64),
            thousands(sim.errors as f64),
            sim.peak_memory_bytes
                .map_or("-".into(), |b| format!("{:.1} MB", b as f64 / 1e6)),
            format!("{wall:.1} s"),
        ]);
        if let Some(p) = probe {
            let (enter, position) = (p.enter.summary(), p.position.summary());
            probe_table.push(vec![
                sim.backend.to_string(),
                thousands(p.size as f64),
                thousands(p.enter_per_second),
                format!("{:.3}", enter.median_ms),
                format!("{:.3}", enter.p99_ms),
                thousands(p.position_per_second),
                format!("{:.3}", position.median_ms),
                format!("{:.3}", position.p99_ms),
            ]);
        }
    }
    let comparisons = comparisons(runs, anchors);
    let tables: Vec<Table> = [sim_table, probe_table, Table::ratios(&comparisons)]
        .into_iter()
        .filter(|t| !t.rows.is_empty())
        .collect();
    let mut notes = vec![format!(
        "policy {} · TTL {} s · arrival {} · service {}-{} s · {:.0}% abandon · clock {}x · tick {} ms",
        args.policy,
        args.ttl.as_secs(),
        args.arrival,
        args.service.0.as_secs(),
        args.service.1.as_secs(),
        args.abandon * 100.0,
        args.speed,
        args.tick.as_millis()
    )];
    notes.extend(violations_found.iter().map(|v| format!("VIOLATION {v}")));
    Report {
        json: json!({
            "command": "queue-sim",
            "settings": {
                "policy": args.policy.to_string(),
                "ttl_ms": args.ttl.as_millis() as u64,
                "arrival": args.arrival.to_string(),
                "service_ms": [args.service.0.as_millis() as u64, args.service.1.as_millis() as u64],
                "abandon": args.abandon,
                "speed": args.speed,
                "tick_ms": args.tick.as_millis() as u64,
                "clients": args.clients,
            },
            "results": results,
            "anchors": anchors,
            "comparisons": comparisons,
            "violations": violations_found,
        }),
        tables,
        notes,
        violations: violations_found,
    }
}

/// Queue throughput against the anchor's bare commands, and Redis against the database.
fn comparisons(runs: &[BackendRun], anchors: &[AnchorRun]) -> Vec<Json> {
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
            out.push(json!({"what": what, "ratio": ours / a.ops_per_second,
                            "ours_per_second": ours, "anchor_per_second": a.ops_per_second}));
        }
    }
    if let (Some(r), Some(d)) = (probe_of("redis"), probe_of("database")) {
        out.push(json!({"what": "enter: redis / database",
                        "ratio": r.enter_per_second / d.enter_per_second}));
        out.push(json!({"what": "position: redis / database",
                        "ratio": r.position_per_second / d.position_per_second}));
    }
    out
}
