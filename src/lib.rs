//! concert-bench: an admin and benchmarking tool for a concert-ticket reservation backend on
//! MySQL/MariaDB and Redis. The layout below is `docs/architecture.md`, written once and shown
//! both here and on the repository.
#![doc = include_str!("../docs/architecture.md")]

pub mod cli;
pub mod commands;
pub mod context;
pub mod domain;
pub mod gate;
pub mod index_lab;
pub mod keyspace;
pub mod measure;
pub mod render;
pub mod storage;

use anyhow::Result;

use cli::{Cli, Command};
pub use context::{Context, Failure};
use render::output::{self, Report};
use render::plot;

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
    // Before the work: a directory that cannot be made fails now, not after the benchmark.
    if let Some(dir) = cli.command.plot_dir() {
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::anyhow!("--plot: cannot create the directory {}: {e}", dir.display())
        })?;
    }
    let made_by = cli.made_by();
    let ctx = Context::new(&cli.connect, cli.output, cli.quiet)?;
    let command = &cli.command;
    // A run that changes the schema or makes scratch databases answers Ctrl-C itself, after
    // putting things back.
    let mut report: Report = if command.owns_ctrl_c() {
        command.run(&ctx).await?
    } else {
        tokio::select! {
            report = command.run(&ctx) => report?,
            _ = tokio::signal::ctrl_c() => {
                return Err(Failure::Interrupted(command.interrupted_note()).into())
            }
        }
    };
    if let Some(dir) = command.plot_dir() {
        write_figures(&mut report, dir, &made_by)?;
    }
    if let Some((args, settings)) = command.gate() {
        gate_run(&ctx, command, args, settings, &mut report).await?;
    }
    finish(report, ctx.output)
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
    settings: serde_json::Value,
    report: &mut Report,
) -> Result<()> {
    let (data, server) = gate::data_set(&ctx.database).await;
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
        return Ok(());
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
    report.regressions = compared.regressions();
    Ok(())
}

/// Renders the report (distributions left out: they belong in baseline files) and turns
/// violations and regressions into their failures, the report still printed first.
fn finish(mut report: Report, format: output::OutputFormat) -> Result<String> {
    if let Some(text) = report.verbatim.take() {
        return Ok(text);
    }
    gate::strip_samples(&mut report.json);
    let output = format.exporter().render(&report)?;
    if !report.violations.is_empty() {
        Err(Failure::Violations {
            output,
            violations: report.violations,
        }
        .into())
    } else if !report.regressions.is_empty() {
        Err(Failure::Regressed {
            output,
            regressions: report.regressions,
        }
        .into())
    } else {
        Ok(output)
    }
}
