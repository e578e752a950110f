//! `concert-bench report`: the write-up reproduced end to end, as one page. Every stage is
//! one of the tool's own commands, run in-process with its own flags on scratch databases
//! this run creates (so the user's data is never touched), and its figures are the same ones
//! `--plot` writes. The page puts the write-up's claims beside what the stages measured.
//!
//! The scratch databases are created before the first stage and dropped after the last,
//! after an error and on Ctrl-C (the report answers Ctrl-C itself); the Redis keys live
//! under a prefix of this run's own and are removed likewise.

mod args;
mod claims;
mod document;
mod page;

pub(crate) use args::EXAMPLES;
pub use args::ReportArgs;
pub use claims::{Claim, ClaimVerdict};
pub use document::{ReportDocument, StageSummary};

use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result, anyhow};
use clap::{FromArgMatches, Parser};

use super::{cache_bench, explain, query, queue_sim, reserve, seed};
use crate::context::{Context, Failure};
use crate::keyspace::{self, KeyPrefix};
use crate::render::output::{CommandReport, Report};
use crate::render::plot::Figure;
use crate::render::progress;
use crate::storage::scratch::ScratchDatabase;

/// The scenarios the scale sweep measures: the two whose plans depend on the data's size.
const SWEEP_SCENARIOS: [&str; 4] = [
    "--scenario",
    "concert_detail",
    "--scenario",
    "concerts_with_dates",
];

/// One stage's command line, as a user would type it (the scratch database left out).
struct Stage {
    command: &'static str,
    flags: Vec<&'static str>,
}

impl Stage {
    /// `flags` as typed, words separated by spaces.
    fn new(command: &'static str, flags: &'static str) -> Self {
        Self {
            command,
            flags: flags.split_whitespace().collect(),
        }
    }

    /// The same stage with `first` put before its flags.
    fn after(mut self, first: &[&'static str]) -> Self {
        self.flags.splice(0..0, first.iter().copied());
        self
    }

    fn line(&self) -> String {
        let mut line = format!("concert-bench {}", self.command);
        for flag in &self.flags {
            line.push(' ');
            line.push_str(flag);
        }
        line
    }

    /// The command's own flags, parsed by clap from the same words, defaults included.
    fn args<A: clap::Args + FromArgMatches>(&self) -> Result<A> {
        #[derive(Parser)]
        struct One<A: clap::Args + FromArgMatches> {
            #[command(flatten)]
            args: A,
        }
        One::<A>::try_parse_from(std::iter::once(self.command).chain(self.flags.iter().copied()))
            .map(|one| one.args)
            .map_err(|e| anyhow!("report: the stage `{}` does not parse: {e}", self.line()))
    }
}

/// What each stage runs: the full write-up, or `--quick`'s smaller data and shorter runs.
struct StagePlan {
    seed: Stage,
    large_seed: Stage,
    query: Stage,
    sweep_query: Stage,
    explain: Stage,
    cache_bench: Stage,
    queue_sim: Stage,
    hot_seat: Stage,
    flows: Stage,
    /// The large seed's --scale (the small one is 1).
    large_scale: u64,
}

impl StagePlan {
    fn new(quick: bool) -> Self {
        // Each stage's flags: the full run's, or --quick's shorter runs (same data set).
        let pick = |full: &'static str, short: &'static str| if quick { short } else { full };
        let sweep = pick(
            "--iterations 15 --warmup 3 --server-runs 0",
            "--iterations 5 --warmup 1 --server-runs 0",
        );
        Self {
            seed: Stage::new("seed", ""),
            large_seed: Stage::new("seed", pick("--scale 10", "--scale 3")),
            query: Stage::new(
                "query",
                pick("", "--iterations 5 --warmup 1 --server-runs 2"),
            ),
            sweep_query: Stage::new("query", sweep).after(&SWEEP_SCENARIOS),
            explain: Stage::new(
                "explain",
                pick("--analyze", "--analyze --iterations 5 --warmup 1"),
            ),
            cache_bench: Stage::new(
                "cache-bench",
                pick(
                    "--anchor",
                    "--duration 1s --warmup 20 --stampede-clients 20 --anchor",
                ),
            ),
            queue_sim: Stage::new(
                "queue-sim",
                pick(
                    "--backend both --anchor",
                    // A tenth of the default position lookups: 50,000 took the database
                    // queue 25-45 s, more than any other stage, for a rate 5,000 give as well.
                    "--backend both --users 2000 --policy capacity:200 --speed 200 --probe-lookups 5000",
                ),
            ),
            hot_seat: Stage::new(
                "reserve",
                pick(
                    "--load --seats hot --users 200 -c 32 --no-pay",
                    "--load --seats hot --users 50 -c 16 --no-pay",
                ),
            ),
            flows: Stage::new(
                "reserve",
                pick(
                    "--load --flow both --strategy conditional --seats spread --users 1000 -c 32",
                    "--load --flow both --strategy conditional --seats spread --users 300 -c 16",
                ),
            ),
            large_scale: if quick { 3 } else { 10 },
        }
    }

    /// The sweep as one command a user could run on their own (what its figure says it shows).
    fn sweep_line(&self) -> String {
        format!(
            "{} --scales 1,{}",
            self.sweep_query.line(),
            self.large_scale
        )
    }
}

/// Every stage's typed result, in the order they ran.
pub struct Measured {
    pub seed: seed::SeedReport,
    pub query: query::QueryReport,
    pub sweep: query::SweepReport,
    pub explain: explain::ExplainReport,
    pub cache_bench: cache_bench::CacheBenchReport,
    pub queue_sim: queue_sim::QueueSimReport,
    pub hot_seat: reserve::ReserveReport,
    pub flows: reserve::ReserveReport,
    pub stages: Vec<StageSummary>,
}

/// A figure with the command that made it, as the page shows it.
pub struct Drawn {
    pub figure: Figure,
    pub made_by: String,
}

pub async fn run(ctx: &Context, args: &ReportArgs) -> Result<Report> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("report: cannot create the directory {}", args.out.display()))?;
    let url = &ctx.database;
    let main_name = format!("{}_report", url.database());
    let large_name = format!("{}_report_large", url.database());
    let run_id = format!("{:08x}", fake::rand::random::<u32>());
    let stage_prefix = format!("report-{run_id}:");
    let prefix = ctx.key_prefix.child(&stage_prefix)?;

    let stage_ctx = |database: &str| -> Result<Context> {
        let mut child = ctx.child(database, &stage_prefix)?;
        child.quiet = true;
        Ok(child)
    };
    let (main, large) = (stage_ctx(&main_name)?, stage_ctx(&large_name)?);
    let mut scratch = Vec::new();
    for name in [&main_name, &large_name] {
        match ScratchDatabase::create(url, name, "report").await {
            Ok(db) => scratch.push(db),
            Err(e) => {
                drop_all(scratch).await?;
                return Err(e);
            }
        }
    }
    let plan = StagePlan::new(args.quick);
    let started = Instant::now();
    let measured = tokio::select! {
        measured = measure(ctx, &main, &large, &plan) => measured,
        _ = tokio::signal::ctrl_c() => Err(Failure::Interrupted(
            "no report; the scratch databases and Redis keys this run created were removed",
        ).into()),
    };
    let scratch_names: Vec<String> = scratch.iter().map(|s| s.name().to_string()).collect();
    let dropped = drop_all(scratch).await;
    let cleared = clear_keys(ctx, &prefix).await;
    let measured = measured?;
    dropped?;
    cleared?;

    let drawn = figures(&measured, &plan);
    let document = ReportDocument::new(
        args,
        measured,
        scratch_names,
        &drawn,
        started.elapsed().as_secs_f64(),
    );
    let report = Report::of(&document)?;
    write_files(&args.out, &document, &report, &drawn)?;
    Ok(report)
}

/// Runs every stage in order under one progress bar.
async fn measure(
    ctx: &Context,
    main: &Context,
    large: &Context,
    plan: &StagePlan,
) -> Result<Measured> {
    let bars = progress::multi(ctx.progress_visible());
    let bar = progress::stages_bar(&bars, "report", 9);
    let mut stages = Vec::new();
    macro_rules! stage {
        ($stage:expr, $ctx:expr, $run:path) => {{
            bar.set_message($stage.line());
            let started = Instant::now();
            let result = $run($ctx, &$stage.args()?)
                .await
                .with_context(|| format!("report: `{}`", $stage.line()))?;
            stages.push(StageSummary {
                command: $stage.line(),
                database: $ctx.database.database().to_string(),
                seconds: started.elapsed().as_secs_f64(),
            });
            bar.inc(1);
            result
        }};
    }
    let seeded = stage!(plan.seed, main, seed::seed);
    let query = stage!(plan.query, main, query::measure_variants);
    let explain = stage!(plan.explain, main, explain::explain);
    let cache_bench = stage!(plan.cache_bench, main, cache_bench::measure);
    let queue_sim = stage!(plan.queue_sim, main, queue_sim::measure);
    let hot_seat = stage!(plan.hot_seat, main, reserve::measure);
    let flows = stage!(plan.flows, main, reserve::measure);
    let large_seeded = stage!(plan.large_seed, large, seed::seed);
    let large_query = stage!(plan.sweep_query, large, query::measure_variants);
    bar.finish_and_clear();

    // The sweep's small end is the main data set, measured on the same two scenarios.
    let small_query = stage_subset(&query, &large_query);
    let sweep = query::SweepReport {
        sweep: vec![
            scale_point(1, &seeded, small_query),
            scale_point(plan.large_scale, &large_seeded, large_query),
        ],
        beside: main.database.database().to_string(),
    };
    Ok(Measured {
        seed: seeded,
        query,
        sweep,
        explain,
        cache_bench,
        queue_sim,
        hot_seat,
        flows,
        stages,
    })
}

/// The main run's results for the scenarios the large run measured.
fn stage_subset(main: &query::QueryReport, large: &query::QueryReport) -> query::QueryReport {
    let wanted: Vec<&str> = large.results.iter().map(|r| r.scenario.as_str()).collect();
    query::QueryReport {
        server: main.server.clone(),
        database: main.database.clone(),
        workload: main.workload.clone(),
        statements: main.statements.clone(),
        params: main.params.clone(),
        warmup: main.warmup,
        iterations: main.iterations,
        server_runs: main.server_runs,
        variants: main.variants.clone(),
        results: main
            .results
            .iter()
            .filter(|r| wanted.contains(&r.scenario.as_str()))
            .cloned()
            .collect(),
        comparisons: main
            .comparisons
            .iter()
            .filter(|c| wanted.contains(&c.scenario.as_str()))
            .cloned()
            .collect(),
        created_indexes: Vec::new(),
        query_cache: main.query_cache.clone(),
        read_from: main.read_from,
        reads_on: main.reads_on.clone(),
    }
}

fn scale_point(
    scale: u64,
    seeded: &seed::SeedReport,
    measured: query::QueryReport,
) -> query::ScaleResult {
    query::ScaleResult {
        scale,
        seats: seeded.rows.seats,
        server: measured.server,
        results: measured.results,
        comparisons: measured.comparisons,
    }
}

/// Every stage's figures with its command; the two reserve stages' names told apart.
fn figures(measured: &Measured, plan: &StagePlan) -> Vec<Drawn> {
    let mut drawn = Vec::new();
    let mut add = |figures: Vec<Figure>, made_by: String, rename: Option<&str>| {
        for mut figure in figures {
            if let Some(part) = rename {
                figure.name = figure
                    .name
                    .replacen("reserve-", &format!("reserve-{part}-"), 1);
            }
            drawn.push(Drawn {
                figure,
                made_by: made_by.clone(),
            });
        }
    };
    add(
        measured.cache_bench.figures(),
        plan.cache_bench.line(),
        None,
    );
    add(measured.queue_sim.figures(), plan.queue_sim.line(), None);
    add(
        query::QueryDocument::Variants(Box::new(measured.query.clone())).figures(),
        plan.query.line(),
        None,
    );
    add(
        query::QueryDocument::Sweep(measured.sweep.clone()).figures(),
        plan.sweep_line(),
        None,
    );
    add(measured.explain.figures(), plan.explain.line(), None);
    add(measured.flows.figures(), plan.flows.line(), Some("flows"));
    add(
        measured.hot_seat.figures(),
        plan.hot_seat.line(),
        Some("hot"),
    );
    drawn
}

/// index.html, report.json and one SVG file per figure.
fn write_files(
    dir: &Path,
    document: &ReportDocument,
    report: &Report,
    drawn: &[Drawn],
) -> Result<()> {
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text)
            .with_context(|| format!("report: cannot write {}", path.display()))
    };
    let mut svgs = Vec::new();
    for d in drawn {
        let svg = d.figure.svg(&d.made_by)?;
        write(&format!("{}.svg", d.figure.name), &svg)?;
        svgs.push(svg);
    }
    let mut json = report.json.clone();
    crate::gate::strip_samples(&mut json);
    write("report.json", &serde_json::to_string_pretty(&json)?)?;
    write("index.html", &page::render(document, drawn, &svgs))?;
    Ok(())
}

async fn drop_all(scratch: Vec<ScratchDatabase>) -> Result<()> {
    let mut first_error = None;
    for db in scratch {
        if let Err(e) = db.drop_it().await {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

async fn clear_keys(ctx: &Context, prefix: &KeyPrefix) -> Result<()> {
    let mut conn = keyspace::connect(&ctx.redis).await?;
    keyspace::clear(&mut conn, prefix).await.with_context(|| {
        format!(
            "report: could not remove its Redis keys under {}",
            prefix.as_str()
        )
    })?;
    Ok(())
}

impl crate::commands::Subcommand for ReportArgs {
    const NAME: &'static str = <ReportDocument as crate::render::output::CommandReport>::COMMAND;
    const INTERRUPTED: &'static str =
        "no report; the scratch databases and Redis keys this run created were removed";

    fn document_schema() -> Option<serde_json::Value> {
        Some(crate::render::output::schema_of::<ReportDocument>())
    }

    fn owns_ctrl_c(&self) -> bool {
        true
    }

    async fn run(&self, ctx: &Context) -> Result<Report> {
        run(ctx, self).await
    }
}
