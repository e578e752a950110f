//! `concert-bench query`: the week-8 experiment. Each scenario runs under each index variant,
//! interleaved run by run (so drift on a noisy machine hits every variant alike), after a
//! warm-up; client wall time per run, plus the server's own time where it reports one.

mod args;
pub(crate) use args::EXAMPLES;
pub use args::QueryArgs;

mod sweep;

use std::sync::LazyLock;

use anyhow::Result;
use serde_json::{Value as Json, json};

use crate::Context;
use crate::db::{Database, Flavor, user_error};
use crate::domain::scenarios::{Params, Scenario};
use crate::index_lab::experiment::{Experiment, measure, server_time, with_literal};
use crate::index_lab::{BASELINE, ScratchIndexes, Variant, scratch};
use crate::output::{Report, Table};
use crate::progress;
use crate::stats::{Samples, Summary, speedup};

/// The write-up's own figures, shown beside ours.
static WRITEUP: LazyLock<Json> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../../fixtures/writeup-week8.json"))
        .expect("fixture is valid JSON")
});

/// One scenario under one variant.
struct Measured {
    scenario: Scenario,
    variant: usize,
    rows: usize,
    client: Samples,
    server: Samples,
}

pub async fn run(ctx: &Context, args: &QueryArgs) -> Result<Report> {
    if !args.scales.is_empty() {
        return Box::pin(sweep::run(ctx, args)).await;
    }
    scratch::run(
        ctx,
        args.create_indexes,
        args.lock_wait_timeout,
        async |s| run_variants(ctx, args, s).await,
    )
    .await
}

async fn run_variants(
    ctx: &Context,
    args: &QueryArgs,
    scratch: Option<&ScratchIndexes>,
) -> Result<Report> {
    let Experiment {
        db,
        catalog,
        variants,
        scenarios,
        params,
        mut conn,
    } = Experiment::open(ctx, &args.variants, &args.scenarios, scratch).await?;
    let url = &db.url;

    let bars = progress::multi(ctx.progress_visible());
    let per_pair = u64::from(args.warmup + args.iterations + args.server_runs);
    let bar = progress::runs_bar(
        &bars,
        "query",
        scenarios.len() as u64 * variants.len() as u64 * per_pair,
    );
    let mut measured = Vec::new();
    for &scenario in &scenarios {
        let sql: Vec<String> = variants
            .iter()
            .map(|v| scenario.sql(|t| v.hint(t, &catalog)))
            .collect();
        let param = params.value(scenario.param());
        let runs = measure(&mut conn, &sql, param, args.warmup, args.iterations, || {
            bar.inc(1)
        })
        .await
        .map_err(|e| user_error(e, url))?;
        for (variant, (rows, client)) in runs.into_iter().enumerate() {
            let literal = with_literal(&sql[variant], param);
            let mut server = Samples::default();
            for _ in 0..args.server_runs {
                server.record(server_time(&mut conn, db.server.flavor, &literal).await.map_err(|e| {
                    e.context(format!("cannot read the server's time for {} (ANALYZE needs SELECT on the tables)", scenario.name()))
                })?);
                bar.inc(1);
            }
            measured.push(Measured {
                scenario,
                variant,
                rows,
                client,
                server,
            });
        }
    }
    bar.finish_and_clear();
    Ok(report(&db, &variants, &params, &measured, args))
}

fn report(
    db: &Database,
    variants: &[Variant],
    params: &Params,
    measured: &[Measured],
    args: &QueryArgs,
) -> Report {
    let mut results_json = Vec::new();
    let mut results = Table::new(
        "Client wall time per execution (prepared statement, all rows fetched), ms",
        &[
            "scenario",
            "variant",
            "rows",
            "min",
            "median",
            "p95",
            "p99",
            "max",
            "server median",
        ],
    );
    for m in measured {
        let s: Summary = m.client.summary();
        let server = (!m.server.is_empty()).then(|| m.server.summary().median_ms);
        results_json.push(json!({
            "scenario": m.scenario.name(), "variant": variants[m.variant].name, "iterations": s.iterations,
            "min_ms": s.min_ms, "median_ms": s.median_ms, "p95_ms": s.p95_ms, "p99_ms": s.p99_ms, "max_ms": s.max_ms,
            "mean_ms": s.mean_ms, "stddev_ms": s.stddev_ms, "rows": m.rows, "server_median_ms": server,
        }));
        results.push(vec![
            m.scenario.name().into(),
            variants[m.variant].name.clone(),
            m.rows.to_string(),
            ms(s.min_ms),
            ms(s.median_ms),
            ms(s.p95_ms),
            ms(s.p99_ms),
            ms(s.max_ms),
            server.map_or("-".into(), ms),
        ]);
    }

    let mut comparisons_json = Vec::new();
    let mut comparisons = Table::new(
        "The write-up's comparison: median without index (none) vs with (variant)",
        &[
            "scenario",
            "variant",
            "without index",
            "with index",
            "speedup [95% CI]",
            "write-up",
        ],
    );
    for base in measured.iter().filter(|m| m.variant == 0) {
        for other in measured
            .iter()
            .filter(|m| m.scenario == base.scenario && m.variant != 0)
        {
            let Some(sp) = speedup(&base.client, &other.client) else {
                continue;
            };
            let writeup = &WRITEUP["scenarios"][base.scenario.name()];
            let writeup_text = match (
                writeup["without_index_ms"].as_f64(),
                writeup["with_index_ms"].as_f64(),
            ) {
                (Some(without), Some(with)) => {
                    format!("{without} -> {with} ms ({:.1}x)", without / with)
                }
                _ => "-".into(),
            };
            comparisons_json.push(json!({
                "scenario": base.scenario.name(), "baseline": BASELINE, "variant": variants[other.variant].name,
                "baseline_median_ms": base.client.summary().median_ms, "variant_median_ms": other.client.summary().median_ms,
                "speedup": sp.speedup, "ci95": sp.ci95,
                "writeup": if writeup.is_null() { Json::Null } else { writeup.clone() },
            }));
            comparisons.push(vec![
                base.scenario.name().into(),
                variants[other.variant].name.clone(),
                ms(base.client.summary().median_ms),
                ms(other.client.summary().median_ms),
                format!("{:.2}x [{:.2}, {:.2}]", sp.speedup, sp.ci95[0], sp.ci95[1]),
                writeup_text,
            ]);
        }
    }

    let server_note = match db.server.flavor {
        Flavor::Mariadb => "ANALYZE FORMAT=JSON r_total_time_ms",
        Flavor::Mysql => "EXPLAIN ANALYZE root actual time",
    };
    Report {
        json: json!({
            "command": "query",
            "server": db.server,
            "database": db.url.database(),
            "params": params,
            "warmup": args.warmup,
            "iterations": args.iterations,
            "server_runs": args.server_runs,
            "variants": variants,
            "results": results_json,
            "comparisons": comparisons_json,
        }),
        tables: vec![results, comparisons],
        notes: vec![
            format!(
                "{} {} · {} warm-up + {} measured runs per scenario and variant, interleaved · server time: {server_note}, median of {} runs",
                db.server.flavor, db.server.version, args.warmup, args.iterations, args.server_runs
            ),
            format!(
                "Parameters picked from the data: concert {}, seat {}, reservation {}. Variants: {}.",
                params.concert_id,
                params.seat_id,
                params.reservation_id,
                variants
                    .iter()
                    .map(|v| format!("{} = {}", v.name, v.definition))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        ],
        violations: Vec::new(),
    }
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writeup_fixture_has_both_figures() {
        assert_eq!(
            WRITEUP["scenarios"]["concerts_with_dates"]["without_index_ms"],
            9.7
        );
        assert_eq!(WRITEUP["scenarios"]["concert_detail"]["with_index_ms"], 3.9);
    }
}
