//! `concert-bench cache-bench`: the write-up's caching argument as numbers. Each cell of
//! workload x strategy x invalidation drives the Concert service with `-c` clients (closed
//! loop) or at `--rate` (open loop, latency counted from each request's scheduled start, so
//! queueing is not hidden), then a stampede on a cold key with and without single flight, and
//! redis-benchmark GET of a value the size of the cached concert list as the anchor.

mod args;
pub use args::CacheBenchArgs;
pub(crate) use args::EXAMPLES;

mod load;
mod report;
mod workload;

pub use report::{CacheBenchReport, CacheBenchSettings, CellResult, StampedeResult};
pub use workload::Workload;

use std::sync::Arc;

use anyhow::{Result, bail};

use crate::context::Context;
use crate::domain::concerts::{
    CacheLevel, CachePolicy, ConcertRepository, ConcertService, Invalidation,
};
use crate::keyspace::{self, KeyPrefix};
use crate::measure::anchor;
use crate::render::output::{Ratio, Report};
use crate::render::progress;
use crate::storage::group::Reader;
use crate::storage::{db, schema};
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
        let invalidation = self.invalidation.map_or("-".into(), |i| i.to_string());
        format!("{}/{}/{invalidation}", self.workload, self.level)
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
    Report::of(&measure(ctx, args).await?)
}

/// Every cell, the stampede and the anchor, as the typed report.
pub async fn measure(ctx: &Context, args: &CacheBenchArgs) -> Result<CacheBenchReport> {
    args.reads.read_from.check(&ctx.database)?;
    let db = schema::connect_seeded(&ctx.database, args.clients.min(64)).await?;
    let redis = keyspace::connect(&ctx.redis).await?;
    // One connection per core for the cached reads (see `RedisCache`).
    let mut redis_conns = vec![redis.clone()];
    for _ in 1..CACHE_CONNECTIONS {
        redis_conns.push(keyspace::connect(&ctx.redis).await?);
    }
    let reader = Reader::open(&db, args.reads.read_from, args.clients.min(64)).await?;
    reader
        .catch_up()
        .await
        .map_err(|e| db::user_error(e, &reader.url))?;
    // Every connection the clients will use is opened before any cell is timed.
    db::open_connections(&db.pool, args.clients).await?;
    if reader.on_secondary() {
        db::open_connections(&reader.pool, args.clients).await?;
    }
    let targets = Targets::load(&db.pool).await?;
    // Everything this run caches lives under its own sub-namespace, removed at the end.
    let namespace = KeyPrefix::parse(&format!("{}cache:", ctx.key_prefix.as_str()))?;
    let run_id = format!("{:x}", fake::rand::random::<u32>());

    // Each cell and stampede round caches under a name of its own.
    let service = |name: String, policy: CachePolicy| {
        Arc::new(ConcertService::new(
            repository(&db, &reader),
            redis_conns.clone(),
            &ctx.key_prefix,
            &name,
            policy,
        ))
    };

    // A secondary lost mid-run is replaced by another (or the primary): the reads go on.
    let measured = async {
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
            let service = service(format!("{run_id}-{i}"), policy);
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
                let service = service(format!("{run_id}-stampede-{single_flight}"), policy);
                let queries =
                    load::stampede(service, targets.concerts[0], args.stampede_clients).await?;
                rows.push((single_flight, queries));
            }
            rows
        } else {
            Vec::new()
        };
        Ok::<_, anyhow::Error>((outcomes, stampede))
    };
    let (outcomes, stampede) = tokio::select! {
        measured = measured => measured?,
        never = reader.keep_following() => match never {},
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
                &ctx.redis,
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
    // Best effort, both: a Redis that went away mid-run must not turn the results into an error.
    let redis_masters = keyspace::spread_under(&mut redis.clone(), &namespace)
        .await
        .unwrap_or_else(|err| {
            ctx.warn(format!("cached keys per master not counted: {err}"));
            Vec::new()
        });
    if let Err(err) = keyspace::clear(&mut redis.clone(), &namespace).await {
        ctx.warn(format!(
            "cached values under {:?} were not removed: {err}",
            namespace.as_str()
        ));
    }
    Ok(report(
        args,
        &reader.members_read().join(", then "),
        &outcomes,
        &stampede,
        anchor,
        redis_masters,
    ))
}

fn report(
    args: &CacheBenchArgs,
    reads_on: &str,
    outcomes: &[(Cell, CellOutcome)],
    stampede: &[(bool, u64)],
    anchor: Option<anchor::AnchorRun>,
    redis_masters: Vec<keyspace::MasterShare>,
) -> CacheBenchReport {
    let results = outcomes
        .iter()
        .map(|(cell, o)| CellResult {
            workload: cell.workload,
            strategy: cell.level,
            invalidation: cell.invalidation,
            clients: args.clients,
            requests: o.requests,
            seconds: o.seconds,
            throughput_rps: o.throughput(),
            latency: o.latency.summary(),
            hit_ratio: o.hit_ratio(),
            db_queries: o.db_queries,
            value_bytes: o.value_bytes,
            writes: o.writes,
            stale_reads: o.stale_reads,
            max_stale_ms: o.max_stale.as_secs_f64() * 1e3,
            errors: o.errors,
            fell_back: o.fell_back,
            connections_opened: o.connections_opened,
        })
        .collect();
    let stampede = stampede
        .iter()
        .map(|&(single_flight, db_queries)| StampedeResult {
            protection: if single_flight {
                "single-flight"
            } else {
                "none"
            },
            clients: args.stampede_clients,
            db_queries,
        })
        .collect();
    CacheBenchReport {
        settings: CacheBenchSettings {
            clients: args.clients,
            duration_ms: args.duration.as_millis() as u64,
            requests: args.requests,
            rate: args.rate,
            warmup: args.warmup,
            write_ratio: args.write_ratio,
            ttl_ms: args.ttl.as_millis() as u64,
            single_flight: args.single_flight,
            fail_open: args.fail_open,
            read_from: args.reads.read_from,
            reads_on: reads_on.to_string(),
        },
        results,
        stampede,
        comparisons: comparisons(outcomes, anchor.as_ref()),
        anchor,
        redis_masters,
    }
}

/// Cached concert list against no cache, and against redis-benchmark GET of the same bytes.
fn comparisons(outcomes: &[(Cell, CellOutcome)], anchor: Option<&anchor::AnchorRun>) -> Vec<Ratio> {
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
            out.push(Ratio {
                what: format!("concert_list: {level} cache / none"),
                ratio: cached.throughput() / none.throughput(),
            });
        }
        if let Some(a) = anchor {
            out.push(Ratio {
                what: format!("concert_list: {level} cache / redis-benchmark GET"),
                ratio: cached.throughput() / a.ops_per_second,
            });
        }
    }
    out
}

impl crate::commands::Subcommand for CacheBenchArgs {
    const NAME: &'static str = <CacheBenchReport as crate::render::output::CommandReport>::COMMAND;
    const INTERRUPTED: &'static str =
        "no results; seats the run held stay held (run cache-bench again to release them)";

    fn document_schema() -> Option<serde_json::Value> {
        Some(crate::render::output::schema_of::<CacheBenchReport>())
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

/// A cell's repository: writes on the primary, reads where `--read-from` says.
fn repository(db: &db::Database, reader: &Reader) -> ConcertRepository {
    let repository = ConcertRepository::new(db.pool.clone());
    if reader.on_secondary() {
        repository.reading_from(reader.pool.clone())
    } else {
        repository
    }
}
