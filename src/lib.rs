//! concert-bench: an admin and benchmarking tool for a concert-ticket reservation backend on
//! MySQL/MariaDB and Redis.
//!
//! # Layout
//!
//! The folders show the layers; each depends only on those below it (checked by
//! `tests/architecture.rs`, which also fails on an import cycle):
//!
//! - [`cli`]: the clap types of the global options and the subcommand list. [`run`] is the
//!   library entry point: it executes one parsed command line and returns its report
//!   rendered as text; `main.rs` only prints that text or the error. Tests call [`run`]
//!   in-process.
//! - `commands/`: one module per subcommand ([`commands::seed`], [`commands::query`],
//!   [`commands::explain`], [`commands::cache_bench`], [`commands::queue_sim`],
//!   [`commands::reserve`], [`commands::worker`], [`commands::report`]), each with its flags (`args.rs`), its `run`
//!   and its typed report (`report.rs`); [`commands::schema`] prints the JSON Schema of each
//!   report.
//! - `index_lab/`: what `query` and `explain` share: the experiment, index variants, scratch
//!   indexes, plan reading and the advisor's candidates ([`index_lab`]).
//! - `domain/`: the reservation domain, apart from any benchmark ([`domain`]): the waiting
//!   queue, the Concert service and its caches, booking, the four services and their events,
//!   the audit, the week-8 scenarios.
//! - The shared infrastructure, at the top of `src/`: [`context`] (the connection options
//!   and what every command runs with), [`db`] and [`schema`] (connections with
//!   one-line errors, the embedded migrations, ownership), [`keyspace`] (Redis, one server or a
//!   Cluster, and the key prefix), [`stats`] (HDR histograms, bootstrap ratios), [`anchor`] (`redis-benchmark`
//!   anchors), [`output`] (table/JSON/CSV/Markdown exporters), [`plot`] (figures and their
//!   SVG renderer), [`progress`] (bars on stderr), [`scratch_db`] (databases a run creates
//!   and drops),
//!   [`slowdown`] (the gate's test-only injected delay) and `gate/`, the regression gate ([`gate`]: baselines, comparisons, verdicts).

pub mod anchor;
pub mod cli;
pub mod commands;
pub mod context;
pub mod db;
pub mod domain;
pub mod gate;
pub mod index_lab;
pub mod keyspace;
pub mod output;
pub mod plot;
pub mod progress;
pub mod schema;
pub mod scratch_db;
pub mod slowdown;
pub mod stats;

use anyhow::Result;
use futures::FutureExt;

use cli::{Cli, Command};
use commands::{cache_bench, explain, query, queue_sim, report, reserve, seed, worker};
pub use context::{Context, Failure};
use keyspace::KeyPrefix;
use output::Report;

/// The exit code for an error returned by [`run`]: 130 for Ctrl-C, 3 for a run that found
/// broken invariants, 4 for a regression against a baseline, 10-16 for a reservation refused by a rule (see
/// [`domain::booking::BookingError::exit_code`]), 1 for everything else (clap's usage errors exit
/// with 2 before `run`).
pub fn exit_code(err: &anyhow::Error) -> u8 {
    if let Some(refused) = err.downcast_ref::<domain::booking::BookingError>() {
        return refused.exit_code();
    }
    err.downcast_ref::<Failure>().map_or(1, Failure::exit_code)
}

/// The report a failed run still produced (a run that found violations prints it first).
pub fn failed_output(err: &anyhow::Error) -> Option<&str> {
    match err.downcast_ref::<Failure>() {
        Some(Failure::Violations { output, .. } | Failure::Regressed { output, .. }) => {
            Some(output)
        }
        _ => None,
    }
}

/// Runs one command and returns its rendered output. Ctrl-C is raced against the work so an
/// interrupted command stops cleanly and says what state it left behind.
pub async fn run(cli: Cli) -> Result<String> {
    if let Command::Schema(args) = &cli.command {
        return commands::schema::run(args);
    }
    if let Command::Compare(args) = &cli.command {
        let (report, compared) = commands::compare::run(args)?;
        return finish(report, cli.output, Some(compared));
    }
    // Before the work: a directory that cannot be made fails now, not after the benchmark.
    if let Some(dir) = cli.command.plot_dir() {
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::anyhow!("--plot: cannot create the directory {}: {e}", dir.display())
        })?;
    }
    let made_by = cli.made_by();
    let key_prefix = KeyPrefix::parse(&cli.connect.key_prefix)?;
    let ctx = Context {
        connect: cli.connect,
        key_prefix,
        output: cli.output,
        quiet: cli.quiet,
    };
    let (work, interrupted_note) = match &cli.command {
        Command::Seed(args) => (
            seed::run(&ctx, args).boxed(),
            "the data set is incomplete: run `concert-bench seed --reset`",
        ),
        Command::Query(args) => (
            query::run(&ctx, args).boxed(),
            "no results; the schema was not changed",
        ),
        Command::Explain(args) => (
            explain::run(&ctx, args).boxed(),
            "no results; the schema was not changed",
        ),
        Command::CacheBench(args) => (
            cache_bench::run(&ctx, args).boxed(),
            "no results; seats the run held stay held (run cache-bench again to release them)",
        ),
        Command::Reserve(args) => (
            reserve::run(&ctx, args).boxed(),
            "every finished step committed whole (sagas of --flow events under way finish when a `concert-bench worker` runs); run `concert-bench reserve --audit` to check",
        ),
        Command::QueueSim(args) => (
            queue_sim::run(&ctx, args).boxed(),
            "no results; the simulation's queue keys may remain under the key prefix",
        ),
        Command::Report(args) => (
            report::run(&ctx, args).boxed(),
            "no report; the scratch databases and Redis keys this run created were removed",
        ),
        Command::Worker(args) => (
            worker::run(&ctx, args).boxed(),
            "events being applied rolled back; any worker redelivers them",
        ),
        Command::Schema(_) | Command::Compare(_) => {
            unreachable!("answered above, with no connection")
        }
    };
    // A run that changes the schema or makes scratch databases answers Ctrl-C itself, after
    // putting things back.
    let owns_ctrl_c = match &cli.command {
        Command::Query(args) => args.create_indexes || !args.scales.is_empty(),
        Command::Explain(args) => args.create_indexes,
        Command::Report(_) => true,
        _ => false,
    };
    let mut report: Report = if owns_ctrl_c {
        work.await?
    } else {
        tokio::select! {
            report = work => report?,
            _ = tokio::signal::ctrl_c() => return Err(Failure::Interrupted(interrupted_note).into()),
        }
    };
    if let Some(dir) = cli.command.plot_dir() {
        write_figures(&mut report, dir, &made_by)?;
    }
    let gate = match cli.command.gate() {
        Some((args, settings)) => gate_run(&ctx, &cli.command, args, settings, &mut report).await?,
        None => None,
    };
    finish(report, ctx.output, gate)
}

/// Writes the run's figures (`--plot DIR`) and says where, under the tables. A run with
/// nothing to draw is an error, not a silent success with an empty directory.
fn write_figures(report: &mut Report, dir: &std::path::Path, made_by: &str) -> Result<()> {
    if report.figures.is_empty() {
        anyhow::bail!(
            "--plot: this run has nothing to draw (figures come from measured runs: reserve --load or --flows, not a single reservation or --audit)"
        );
    }
    let written = plot::write_all(&report.figures, dir, made_by)?;
    report.notes.push(format!(
        "{} figures written to {}",
        written.len(),
        dir.display()
    ));
    Ok(())
}

/// Saves the run as a baseline and compares it with one, as its gate flags ask. The
/// comparison goes into the document (`baseline_comparison`) and under the tables.
async fn gate_run(
    ctx: &Context,
    command: &Command,
    args: &gate::BaselineArgs,
    settings: String,
    report: &mut Report,
) -> Result<Option<gate::CompareReport>> {
    if args.save_baseline.is_none() && args.baseline.is_none() {
        return Ok(None);
    }
    let (data, server) = gate::data_set(&ctx.connect.database_url).await;
    let this = gate::Baseline {
        baseline_version: gate::BASELINE_VERSION,
        fingerprint: gate::Fingerprint {
            command: command.name().to_string(),
            settings,
            data,
            server,
        },
        machine: gate::Machine::this(),
        document: report.json.clone(),
    };
    if let Some(path) = &args.save_baseline {
        this.save(path)?;
    }
    let Some(path) = &args.baseline else {
        return Ok(None);
    };
    let old = gate::Baseline::load(path)?;
    let shown = path.display().to_string();
    let compared = old.compare_with(
        &this,
        (&shown, "this run"),
        args.noise_threshold,
        args.allow_mismatch,
    )?;
    report.json["baseline_comparison"] = serde_json::to_value(&compared)?;
    let rendered = Report::of(&compared)?;
    report.tables.extend(rendered.tables);
    report.notes.extend(rendered.notes);
    Ok(Some(compared))
}

/// Renders the report (distributions left out: they belong in baseline files) and turns
/// violations and regressions into their failures, the report still printed first.
fn finish(
    mut report: Report,
    format: output::OutputFormat,
    compared: Option<gate::CompareReport>,
) -> Result<String> {
    gate::strip_samples(&mut report.json);
    let output = format.exporter().render(&report)?;
    let regressions = compared.map(|c| c.regressions()).unwrap_or_default();
    if !report.violations.is_empty() {
        Err(Failure::Violations {
            output,
            violations: report.violations,
        }
        .into())
    } else if !regressions.is_empty() {
        Err(Failure::Regressed {
            output,
            regressions,
        }
        .into())
    } else {
        Ok(output)
    }
}
