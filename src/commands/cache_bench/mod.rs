//! `concert-bench cache-bench`: the write-up's caching argument as numbers. Each cell of
//! workload x strategy x invalidation drives the Concert service with `-c` clients (closed
//! loop) or at `--rate` (open loop, latency counted from each request's scheduled start, so
//! queueing is not hidden), then a stampede on a cold key with and without single flight, and
//! redis-benchmark GET of a value the size of the cached concert list as the anchor.

mod args;
pub use args::CacheBenchArgs;
pub(crate) use args::EXAMPLES;

mod load;

use std::sync::Arc;

use anyhow::{Result, bail};
use serde_json::{Value as Json, json};

use crate::anchor;
use crate::domain::concerts::{
    CacheLevel, CachePolicy, ConcertRepository, ConcertService, Invalidation, Workload,
};
use crate::keyspace::{self, KeyPrefix};
use crate::output::{Report, Table, thousands};
use crate::{Context, progress, schema};
use load::{CellOutcome, Load, Targets};

/// Redis connections the cache reads spread over (measured: 1 gave 42k req/s for the cached
/// list, 2 gave 66-69k, 3 gave 71-73k, 4 gave 75-76k).
const CACHE_CONNECTIONS: usize = 4;
/// Requests for the anchor's GET run.
const ANCHOR_REQUESTS: u64 = 100_000;

/// One benchmark cell.
#[derive(Debug, Clone, Copy)]
struct Cell {
    workload: Workload,
    level: CacheLevel,
    invalidation: Option<Invalidation>,
}

impl Cell {
    fn name(&self) -> String {
        format!(
            "{}/{}/{}",
            self.workload.name(),
            level_name(self.level),
            self.invalidation.map_or("-", invalidation_name)
        )
    }
}

fn level_name(level: CacheLevel) -> &'static str {
    match level {
        CacheLevel::None => "none",
        CacheLevel::Response => "response",
        CacheLevel::Repository => "repository",
    }
}

fn invalidation_name(invalidation: Invalidation) -> &'static str {
    match invalidation {
        Invalidation::Ttl => "ttl",
        Invalidation::OnWrite => "on-write",
    }
}

/// The user's choices, or every option when they chose none.
fn or_all<T: Copy>(chosen: &[T], all: &[T]) -> Vec<T> {
    if chosen.is_empty() {
        all.to_vec()
    } else {
        chosen.to_vec()
    }
}

fn cells(args: &CacheBenchArgs) -> Vec<Cell> {
    let workloads = or_all(&args.workloads, &Workload::ALL);
    let levels = or_all(
        &args.strategies,
        &[
            CacheLevel::None,
            CacheLevel::Response,
            CacheLevel::Repository,
        ],
    );
    let invalidations = or_all(
        &args.invalidations,
        &[Invalidation::Ttl, Invalidation::OnWrite],
    );
    let mut cells = Vec::new();
    for &workload in &workloads {
        for &level in &levels {
            if level == CacheLevel::None {
                cells.push(Cell {
                    workload,
                    level,
                    invalidation: None,
                });
                continue;
            }
            for &invalidation in &invalidations {
                cells.push(Cell {
                    workload,
                    level,
                    invalidation: Some(invalidation),
                });
            }
        }
    }
    cells
}

pub async fn run(ctx: &Context, args: &CacheBenchArgs) -> Result<Report> {
    let db = schema::connect_seeded(&ctx.connect.database_url, args.clients.min(64)).await?;
    let redis = keyspace::connect(&ctx.connect.redis_url).await?;
    // One connection per core for the cached reads (see `RedisCache`).
    let mut redis_conns = vec![redis.clone()];
    for _ in 1..CACHE_CONNECTIONS {
        redis_conns.push(keyspace::connect(&ctx.connect.redis_url).await?);
    }
    let targets = Targets::load(&db.pool).await?;
    // Everything this run caches lives under its own sub-namespace, removed at the end.
    let namespace = KeyPrefix::parse(&format!("{}cache:", ctx.key_prefix.as_str()))?;
    let run_id = format!("{:x}", fake::rand::random::<u32>());

    let cells = cells(args);
    let multi = progress::multi(ctx.progress_visible());
    let bar = progress::runs_bar(&multi, "cache-bench", cells.len() as u64);
    let mut outcomes = Vec::new();
    for (i, cell) in cells.iter().enumerate() {
        bar.set_message(cell.name());
        let policy = CachePolicy {
            level: cell.level,
            invalidation: cell.invalidation.unwrap_or(Invalidation::Ttl),
            ttl: args.ttl,
            single_flight: args.single_flight,
            fail_open: args.fail_open,
        };
        let service = Arc::new(ConcertService::new(
            ConcertRepository::new(db.pool.clone()),
            redis_conns.clone(),
            &ctx.key_prefix,
            &format!("{run_id}-{i}"),
            policy,
        ));
        let load = Load {
            clients: args.clients as usize,
            requests: args.requests,
            duration: args.duration,
            rate: args.rate,
            warmup: args.warmup,
            write_ratio: args.write_ratio,
            rng_seed: args.rng_seed ^ i as u64,
        };
        let outcome = load::drive(service, cell.workload, &targets, &load).await;
        targets.release_holds(&db.pool).await?;
        outcomes.push((*cell, outcome?));
        bar.inc(1);
    }
    bar.finish_and_clear();

    let stampede = if args.stampede_clients > 0 {
        let mut rows = Vec::new();
        for single_flight in [false, true] {
            let policy = CachePolicy {
                level: CacheLevel::Response,
                invalidation: Invalidation::Ttl,
                ttl: args.ttl,
                single_flight,
                fail_open: false,
            };
            let service = Arc::new(ConcertService::new(
                ConcertRepository::new(db.pool.clone()),
                redis_conns.clone(),
                &ctx.key_prefix,
                &format!("{run_id}-stampede-{single_flight}"),
                policy,
            ));
            let queries =
                load::stampede(service, targets.concerts[0], args.stampede_clients).await?;
            rows.push((single_flight, queries));
        }
        rows
    } else {
        Vec::new()
    };

    let list_bytes = outcomes
        .iter()
        .filter(|(c, _)| c.workload == Workload::ConcertList)
        .map(|(_, o)| o.value_bytes)
        .max()
        .unwrap_or(0);
    let anchor = if args.anchor {
        if list_bytes == 0 {
            bail!(
                "--anchor needs a cached concert_list cell to size the value: include --workload concert_list and a caching --strategy"
            );
        }
        let mut conn = redis.clone();
        Some(
            anchor::get(
                &ctx.connect.redis_url,
                &mut conn,
                &ctx.key_prefix,
                args.clients,
                ANCHOR_REQUESTS,
                list_bytes as usize,
            )
            .await?,
        )
    } else {
        None
    };
    // Best effort: a Redis that went away mid-run must not turn the results into an error.
    if let Err(err) = keyspace::clear(&mut redis.clone(), &namespace).await {
        ctx.warn(format!(
            "cached values under {:?} were not removed: {err}",
            namespace.as_str()
        ));
    }
    Ok(report(args, &outcomes, &stampede, anchor.as_ref()))
}

fn report(
    args: &CacheBenchArgs,
    outcomes: &[(Cell, CellOutcome)],
    stampede: &[(bool, u64)],
    anchor: Option<&anchor::AnchorRun>,
) -> Report {
    let mut table = Table::new(
        format!(
            "Cache benchmark ({} clients, {})",
            args.clients,
            args.rate.map_or("closed loop".to_string(), |r| format!(
                "open loop at {r} req/s"
            ))
        ),
        &[
            "workload",
            "strategy",
            "invalidation",
            "req/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "hit %",
            "db queries",
            "value bytes",
            "stale reads",
            "max stale ms",
            "errors",
        ],
    );
    let mut results = Vec::new();
    for (cell, o) in outcomes {
        let s = o.latency.summary();
        results.push(json!({
            "workload": cell.workload.name(),
            "strategy": level_name(cell.level),
            "invalidation": cell.invalidation.map(invalidation_name),
            "clients": args.clients,
            "requests": o.requests,
            "seconds": o.seconds,
            "throughput_rps": o.throughput(),
            "p50_ms": s.median_ms,
            "p95_ms": s.p95_ms,
            "p99_ms": s.p99_ms,
            "max_ms": s.max_ms,
            "hit_ratio": o.hit_ratio(),
            "db_queries": o.db_queries,
            "value_bytes": o.value_bytes,
            "writes": o.writes,
            "stale_reads": o.stale_reads,
            "max_stale_ms": o.max_stale.as_secs_f64() * 1e3,
            "errors": o.errors,
            "fell_back": o.fell_back,
        }));
        table.push(vec![
            cell.workload.name().into(),
            level_name(cell.level).into(),
            cell.invalidation.map_or("-", invalidation_name).into(),
            thousands(o.throughput()),
            format!("{:.3}", s.median_ms),
            format!("{:.3}", s.p95_ms),
            format!("{:.3}", s.p99_ms),
            format!("{:.3}", s.max_ms),
            o.hit_ratio()
                .map_or("-".into(), |h| format!("{:.1}", h * 100.0)),
            thousands(o.db_queries as f64),
            thousands(o.value_bytes as f64),
            thousands(o.stale_reads as f64),
            format!("{:.1}", o.max_stale.as_secs_f64() * 1e3),
            thousands(o.errors as f64),
        ]);
    }
    let mut stampede_table = Table::new(
        "Stampede: one cold key, every client at once",
        &["protection", "clients", "db queries"],
    );
    let mut stampede_json = Vec::new();
    for &(single_flight, queries) in stampede {
        let protection = if single_flight {
            "single-flight"
        } else {
            "none"
        };
        stampede_table.push(vec![
            protection.into(),
            args.stampede_clients.to_string(),
            queries.to_string(),
        ]);
        stampede_json.push(json!({"protection": protection, "clients": args.stampede_clients, "db_queries": queries}));
    }
    let comparisons = comparisons(outcomes, anchor);
    let tables: Vec<Table> = [table, stampede_table, Table::ratios(&comparisons)]
        .into_iter()
        .filter(|t| !t.rows.is_empty())
        .collect();
    Report {
        json: json!({
            "command": "cache-bench",
            "settings": {
                "clients": args.clients,
                "duration_ms": args.duration.as_millis() as u64,
                "requests": args.requests,
                "rate": args.rate,
                "warmup": args.warmup,
                "write_ratio": args.write_ratio,
                "ttl_ms": args.ttl.as_millis() as u64,
                "single_flight": args.single_flight,
                "fail_open": args.fail_open,
            },
            "results": results,
            "stampede": stampede_json,
            "anchor": anchor,
            "comparisons": comparisons,
        }),
        tables,
        notes: vec![
            "stale read: a \"get one concert\" answer older than a seat write that had returned before the read began (a version stamp in the answer says which)".into(),
            "mixed: reads of one open concert, with --write-ratio of operations holding or releasing one of its seats".into(),
        ],
        violations: Vec::new(),
    }
}

/// Cached concert list against no cache, and against redis-benchmark GET of the same bytes.
fn comparisons(outcomes: &[(Cell, CellOutcome)], anchor: Option<&anchor::AnchorRun>) -> Vec<Json> {
    let find = |level, invalidation| {
        outcomes.iter().find(|(c, _)| {
            c.workload == Workload::ConcertList
                && c.level == level
                && c.invalidation == invalidation
        })
    };
    let mut out = Vec::new();
    let none = find(CacheLevel::None, None);
    for level in [CacheLevel::Response, CacheLevel::Repository] {
        let Some((_, cached)) = find(level, Some(Invalidation::Ttl))
            .or_else(|| find(level, Some(Invalidation::OnWrite)))
        else {
            continue;
        };
        if let Some((_, none)) = none {
            out.push(json!({
                "what": format!("concert_list: {} cache / none", level_name(level)),
                "ratio": cached.throughput() / none.throughput(),
            }));
        }
        if let Some(a) = anchor {
            out.push(json!({
                "what": format!("concert_list: {} cache / redis-benchmark GET", level_name(level)),
                "ratio": cached.throughput() / a.ops_per_second,
            }));
        }
    }
    out
}
