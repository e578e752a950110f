//! `concert-bench query`: the week-8 experiment. Each scenario runs under each index variant,
//! interleaved run by run (so drift on a noisy machine hits every variant alike), after a
//! warm-up; client wall time per run, plus the server's own time where it reports one.

mod args;
pub(crate) use args::EXAMPLES;
pub use args::QueryArgs;

mod report;
mod sweep;

pub use report::{
    Comparison, QueryDocument, QueryReport, ScaleResult, ScenarioResult, SweepReport,
    WriteupFigures,
};

use anyhow::{Result, bail};

use crate::context::Context;
use crate::index_lab::experiment::{
    Experiment, measure, query_cache_state, rolled_back, server_time,
};
use crate::index_lab::params::ParamSummary;
use crate::index_lab::workload::StatementSummary;
use crate::index_lab::{BASELINE, ScratchIndexes, Variant, scratch, with_literals};
use crate::measure::stats::{Samples, speedup};
use crate::render::output::Report;
use crate::render::progress;
use crate::storage::db::{Database, user_error};
use crate::storage::group::{ReadFrom, Reader};

/// One scenario under one variant.
struct Measured {
    scenario: String,
    variant: usize,
    rows: usize,
    client: Samples,
    server: Samples,
}

pub async fn run(ctx: &Context, args: &QueryArgs) -> Result<Report> {
    args.reads.read_from.check(&ctx.database)?;
    if !args.scales.is_empty() {
        let sweep = Box::pin(sweep::run(ctx, args)).await?;
        return Report::of(&QueryDocument::Sweep(sweep));
    }
    Report::of(&QueryDocument::Variants(Box::new(
        measure_variants(ctx, args).await?,
    )))
}

/// Every scenario under every variant, with scratch indexes if `--create-indexes` asks.
pub async fn measure_variants(ctx: &Context, args: &QueryArgs) -> Result<QueryReport> {
    let (mut report, created) = scratch::run(
        ctx,
        args.create_indexes,
        args.lock_wait_timeout,
        async |s| run_variants(ctx, args, s).await,
    )
    .await?;
    report.created_indexes = created;
    Ok(report)
}

async fn run_variants(
    ctx: &Context,
    args: &QueryArgs,
    scratch: Option<&ScratchIndexes>,
) -> Result<QueryReport> {
    let read_from = args.reads.read_from;
    if read_from == ReadFrom::Replicas && args.workload.allow_writes {
        bail!(
            "--allow-writes cannot run with --read-from replicas: a secondary takes no writes; time the writes on the primary"
        );
    }
    let rounds = (args.warmup + args.iterations).max(args.server_runs) as usize;
    let Experiment {
        db,
        catalog,
        variants,
        scenarios,
        workload,
        params,
        mut conn,
    } = Experiment::open(
        ctx,
        &args.variants,
        args.workload.load(ctx).await?,
        rounds,
        args.workload.rng_seed,
        scratch,
    )
    .await?;
    // The reads timed on a secondary run there only once it has applied this run's indexes
    // (and whatever else the group committed before).
    let reader = Reader::open(&db, read_from, 1).await?;
    let url = &reader.url;
    if reader.on_secondary() {
        reader.catch_up().await.map_err(|e| user_error(e, url))?;
        conn = reader
            .pool
            .acquire()
            .await
            .map_err(|e| user_error(e, url))?;
    }

    let bars = progress::multi(ctx.progress_visible());
    let per_pair = u64::from(args.warmup + args.iterations + args.server_runs);
    let bar = progress::runs_bar(
        &bars,
        "query",
        scenarios.len() as u64 * variants.len() as u64 * per_pair,
    );
    let mut measured = Vec::new();
    for scenario in &scenarios {
        let sql: Vec<String> = variants
            .iter()
            .map(|v| scenario.sql(|t| v.hint(t, &catalog)))
            .collect();
        let runs = measure(
            &mut conn,
            &sql,
            scenario,
            args.warmup,
            args.iterations,
            || bar.inc(1),
        )
        .await
        .map_err(|e| user_error(e, url))?;
        // The server's own time comes from separate ANALYZE executions (the instrumented
        // run is not the timed one), interleaved across variants like the client runs, each
        // round with the values that round's client runs bound.
        let mut server: Vec<Samples> = vec![Samples::default(); sql.len()];
        let mut timed = vec![true; sql.len()];
        for round in 0..args.server_runs as usize {
            for (variant, statement) in sql.iter().enumerate() {
                let literal = with_literals(statement, scenario.values(round));
                let writes = scenario.statement.writes;
                let time = rolled_back(&mut conn, writes, async |conn| {
                    server_time(conn, db.server.flavor, &literal).await
                })
                .await
                .map_err(|e| {
                    e.context(format!(
                        "cannot read the server's time for {} (ANALYZE needs SELECT on the tables)",
                        scenario.name()
                    ))
                })?;
                // None when the server timed nothing (a MySQL const lookup): reported as null.
                match time {
                    Some(time) if timed[variant] => server[variant].record(time),
                    _ => timed[variant] = false,
                }
                bar.inc(1);
            }
        }
        for (variant, ((rows, client), (server, timed))) in runs
            .into_iter()
            .zip(server.into_iter().zip(timed))
            .enumerate()
        {
            measured.push(Measured {
                scenario: scenario.name().to_string(),
                variant,
                rows,
                client,
                server: if timed { server } else { Samples::default() },
            });
        }
    }
    bar.finish_and_clear();
    let statements = scenarios.iter().map(|s| s.statement.summary()).collect();
    let query_cache = query_cache_state(&db).await;
    let mut report = report(
        &db,
        variants,
        (workload, statements),
        params,
        &measured,
        args,
    );
    report.query_cache = query_cache;
    report.read_from = read_from;
    report.reads_on = reader.member();
    Ok(report)
}

fn report(
    db: &Database,
    variants: Vec<Variant>,
    (workload, statements): (String, Vec<StatementSummary>),
    params: Vec<ParamSummary>,
    measured: &[Measured],
    args: &QueryArgs,
) -> QueryReport {
    let results = measured
        .iter()
        .map(|m| ScenarioResult {
            scenario: m.scenario.clone(),
            variant: variants[m.variant].name.clone(),
            rows: m.rows,
            client: m.client.summary(),
            server: m.server.summary_if_any(),
        })
        .collect();
    let mut comparisons = Vec::new();
    for base in measured.iter().filter(|m| m.variant == 0) {
        for other in measured
            .iter()
            .filter(|m| m.scenario == base.scenario && m.variant != 0)
        {
            let Some(sp) = speedup(&base.client, &other.client) else {
                continue;
            };
            comparisons.push(Comparison {
                scenario: base.scenario.clone(),
                baseline: BASELINE.to_string(),
                variant: variants[other.variant].name.clone(),
                baseline_p50_ms: base.client.summary().p50_ms,
                variant_p50_ms: other.client.summary().p50_ms,
                speedup: sp.speedup,
                ci95: sp.ci95,
                writeup: report::writeup(&base.scenario),
            });
        }
    }
    QueryReport {
        server: db.server.clone(),
        database: db.url.database().to_string(),
        workload,
        statements,
        params,
        warmup: args.warmup,
        iterations: args.iterations,
        server_runs: args.server_runs,
        variants,
        results,
        comparisons,
        created_indexes: Vec::new(),
        query_cache: String::new(),
        read_from: ReadFrom::Primary,
        reads_on: String::new(),
    }
}

impl crate::commands::Subcommand for QueryArgs {
    const NAME: &'static str = <QueryDocument as crate::render::output::CommandReport>::COMMAND;
    const INTERRUPTED: &'static str = "no results; the schema was not changed";

    fn document_schema() -> Option<serde_json::Value> {
        Some(crate::render::output::schema_of::<QueryDocument>())
    }

    fn owns_ctrl_c(&self) -> bool {
        self.create_indexes || !self.scales.is_empty()
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
