//! `concert-bench explain`: each scenario's plan under each variant in one shape on MySQL and
//! MariaDB, what in those plans matters, and an index advisor that proves its proposals by
//! measurement before it prints any DDL.

mod args;
mod report;

pub(crate) use args::EXAMPLES;
pub use args::{ExplainArgs, Trials};
pub use report::{Advice, ExplainReport, ScenarioSpeedup, UnusedIndex};

use anyhow::Result;
use sqlx::MySql;
use sqlx::pool::PoolConnection;

use crate::context::Context;
use crate::context::Failure;
use crate::index_lab::experiment::rolled_back;
use crate::index_lab::invisible::{InvisibleTrial, see_invisible};
use crate::index_lab::plans::{
    Candidate, Plan, candidates, is_large_join_scan, plan_steps, raw_plan,
};
use crate::index_lab::trial::{self, Slot, Trial, TrialSlot, TrialSummary};
use crate::index_lab::{
    Catalog, Experiment, Scenario, ScratchIndexes, Variant, measure, scratch, with_literals,
};
use crate::measure::stats::speedup;
use crate::render::output::Report;
use crate::render::progress;
use crate::storage::db::quote_identifier as quote;
use crate::storage::db::{Database, user_error};

pub async fn run(ctx: &Context, args: &ExplainArgs) -> Result<Report> {
    Report::of(&explain(ctx, args).await?)
}

/// The plans, findings and advice, as the typed report.
pub async fn explain(ctx: &Context, args: &ExplainArgs) -> Result<ExplainReport> {
    if args.create_indexes {
        let (mut report, created) = scratch::run(ctx, true, args.lock_wait_timeout, async |s| {
            run_plans(ctx, args, Setting::CreateIndexes(s.expect("created"))).await
        })
        .await?;
        report.created_indexes = created;
        return Ok(report);
    }
    match args.trials {
        Trials::Copy => {
            trial::guarded(
                None,
                "no results; the scratch database of the index trials was dropped, and nothing of yours was changed",
                async |slot| run_plans(ctx, args, Setting::Trials(slot)).await,
            )
            .await
        }
        Trials::Invisible => {
            // Opened first: a server without invisible indexes is refused before any work,
            // and a killed run's trial indexes are gone before the plans are read.
            let opened = InvisibleTrial::open(&ctx.database, args.lock_wait_timeout).await?;
            if !opened.leftovers.is_empty() {
                ctx.warn(format!(
                    "dropped invisible trial indexes an interrupted run had left behind: {}",
                    opened.leftovers.join(", ")
                ));
            }
            trial::guarded(
                Some(opened),
                "no results; the invisible indexes of the trials were dropped, so your tables are as they were",
                async |slot| run_plans(ctx, args, Setting::Invisible(slot)).await,
            )
            .await
        }
        Trials::None => {
            tokio::select! {
                report = run_plans(ctx, args, Setting::HintsOnly) => report,
                _ = tokio::signal::ctrl_c() => Err(Failure::Interrupted("no results; the schema was not changed").into()),
            }
        }
    }
}

async fn run_plans(
    ctx: &Context,
    args: &ExplainArgs,
    setting: Setting<'_>,
) -> Result<ExplainReport> {
    let rounds = (args.warmup + args.iterations) as usize;
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
        match setting {
            Setting::CreateIndexes(scratch) => Some(scratch),
            _ => None,
        },
    )
    .await?;
    let url = &db.url;

    let mut plans = Vec::new();
    for scenario in &scenarios {
        for variant in &variants {
            // A plan is of one execution: the first round's values.
            let sql = with_literals(
                &scenario.sql(|t| variant.hint(t, &catalog)),
                scenario.values(0),
            );
            // Under --analyze the server executes the statement: a write's is rolled back.
            let writes = scenario.statement.writes && args.analyze;
            let flavor = db.server.flavor;
            let steps = rolled_back(&mut conn, writes, async |conn| {
                plan_steps(conn, flavor, &scenario.statement, &sql, args.analyze).await
            })
            .await
            .map_err(|e| user_error(e, url))?;
            let raw = if args.raw {
                Some(
                    rolled_back(&mut conn, writes, async |conn| {
                        raw_plan(conn, flavor, &sql, args.analyze).await
                    })
                    .await?,
                )
            } else {
                None
            };
            plans.push(Plan {
                scenario: scenario.name().to_string(),
                variant: variant.name.clone(),
                steps,
                raw,
            });
        }
    }
    let findings = findings(&plans);
    let (unused_indexes, unused_indexes_note) = unused_indexes(&db).await;
    let advised = if args.no_advice {
        Advised::plain(Vec::new())
    } else {
        advise(ctx, &mut conn, &catalog, &plans, &scenarios, args, setting).await?
    };
    Ok(ExplainReport {
        server: db.server.clone(),
        database: db.url.database().to_string(),
        workload,
        statements: scenarios.iter().map(|s| s.statement.summary()).collect(),
        redundant_indexes: catalog.redundant(),
        trial: advised.trial,
        trial_note: advised.trial_note,
        invisible_indexes: advised.invisible,
        unused_indexes,
        unused_indexes_note,
        params,
        plans,
        findings,
        advice: advised.advice,
        min_speedup: (!args.no_advice).then_some(args.min_speedup),
        created_indexes: Vec::new(),
    })
}

/// MySQL's `sys.schema_unused_indexes` for this database, or why there is none: MariaDB ships
/// no `sys` schema (and starts with performance_schema off), and a server whose
/// performance_schema is off counts nothing.
async fn unused_indexes(db: &Database) -> (Option<Vec<UnusedIndex>>, Option<String>) {
    let counting: Option<String> = sqlx::query_scalar("SELECT CAST(@@performance_schema AS CHAR)")
        .fetch_optional(&db.pool)
        .await
        .ok()
        .flatten();
    if !matches!(counting.as_deref(), Some("1" | "ON")) {
        return (
            None,
            Some(format!(
                "Unused indexes: not known on this {}: performance_schema is off, so nothing counts index use (start the server with --performance-schema=ON).",
                db.server.flavor
            )),
        );
    }
    let rows: Result<Vec<(String, String)>, sqlx::Error> = sqlx::query_as(
        "SELECT CAST(object_name AS CHAR), CAST(index_name AS CHAR) FROM sys.schema_unused_indexes \
         WHERE object_schema = DATABASE() ORDER BY 1, 2",
    )
    .fetch_all(&db.pool)
    .await;
    match rows {
        Ok(rows) => (
            Some(
                rows.into_iter()
                    .map(|(table, index)| UnusedIndex {
                        ddl: format!("ALTER TABLE {} DROP INDEX {};", quote(&table), quote(&index)),
                        table,
                        index,
                    })
                    .collect(),
            ),
            Some("Unused indexes: none used since the server started (performance_schema counts from the start): a server restarted lately lists indexes a rarer job still needs.".into()),
        ),
        Err(e) => (
            None,
            Some(format!(
                "Unused indexes: not known on this {} ({}): `sys.schema_unused_indexes` needs MySQL's sys schema and performance_schema on.",
                db.server.flavor,
                e.as_database_error().map_or_else(|| e.to_string(), |d| d.message().to_string())
            )),
        ),
    }
}

/// Tabular EXPLAIN (or ANALYZE for rows actually read) as [`Step`]s.
/// What a reader should look at: big scans inside joins, indexes offered but not taken, and
/// plans that differ between variants.
fn findings(plans: &[Plan]) -> Vec<String> {
    let mut out = Vec::new();
    for plan in plans {
        for step in plan.steps.iter().filter(|s| is_large_join_scan(plan, s)) {
            let rows = step.rows_read.map_or_else(
                || format!("~{:.0} rows estimated", step.rows.unwrap_or(0.0)),
                |r| format!("{r:.0} rows read"),
            );
            out.push(format!(
                "{} [{}]: full scan of {} inside a join ({rows})",
                plan.scenario, plan.variant, step.table
            ));
        }
        for step in &plan.steps {
            let offered: Vec<&str> = step
                .possible_keys
                .as_deref()
                .unwrap_or("")
                .split(',')
                .filter(|k| !k.is_empty() && *k != "PRIMARY")
                .collect();
            let scanned = matches!(step.access.as_str(), "ALL" | "index");
            if scanned
                && !offered.is_empty()
                && step.key.as_deref().is_none_or(|k| !offered.contains(&k))
            {
                out.push(format!(
                    "{} [{}]: the optimizer declined {} on {} and chose {} ({})",
                    plan.scenario,
                    plan.variant,
                    offered.join(", "),
                    step.table,
                    step.key.as_deref().unwrap_or("no index"),
                    step.access
                ));
            }
        }
    }
    let shape = |p: &Plan| {
        p.steps
            .iter()
            .map(|s| {
                format!(
                    "{}:{}({})",
                    s.table,
                    s.access,
                    s.key.as_deref().unwrap_or("-")
                )
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    for base in plans
        .iter()
        .filter(|p| p.variant == crate::index_lab::BASELINE)
    {
        for other in plans
            .iter()
            .filter(|p| p.scenario == base.scenario && p.variant != base.variant)
        {
            if shape(base) != shape(other) {
                out.push(format!(
                    "{}: plan changed from [{}] under none to [{}] under {}",
                    base.scenario,
                    shape(base),
                    shape(other),
                    other.variant
                ));
            }
        }
    }
    out
}

/// Proposes an index for each large scan inside a join under `none` (the columns that table is
/// joined or filtered on), then proves each by measurement. Indexes work together (MariaDB uses
/// seat(performance_id) for one concert only once performance(concert_id) exists), so each
/// candidate is judged leave-one-out: all proposed indexes against all but this one, on every
/// scenario that touches its columns. DDL is printed only when the best scenario's 95% interval
/// low end clears `--min-speedup` (Dexter's rule of thumb: the cost must at least halve), and
/// scenarios it makes slower are named in the verdict.
async fn advise(
    ctx: &Context,
    conn: &mut PoolConnection<MySql>,
    catalog: &Catalog,
    plans: &[Plan],
    scenarios: &[Scenario],
    args: &ExplainArgs,
    setting: Setting<'_>,
) -> Result<Advised> {
    let candidates = candidates(plans, scenarios);
    let missing = |catalog: &Catalog| {
        candidates
            .iter()
            .any(|c| catalog.index_on(&c.table, &c.columns).is_none())
    };
    match setting {
        // With --create-indexes (the tool's own tables), every proposal gets an index.
        Setting::CreateIndexes(scratch) => {
            for c in &candidates {
                if catalog.index_on(&c.table, &c.columns).is_none() {
                    scratch.create(&c.table, &c.columns).await?;
                }
            }
            let created = Catalog::load(scratch.pool()).await?;
            let advice = prove(ctx, conn, &created, catalog, &candidates, scenarios, args).await?;
            Ok(Advised::plain(advice))
        }
        Setting::Trials(slot) if missing(catalog) => {
            let mut tables: Vec<String> = Vec::new();
            for s in scenarios {
                for t in &s.statement.tables {
                    if !tables.contains(t) {
                        tables.push(t.clone());
                    }
                }
            }
            let mut held = slot.lock().await;
            let trial = match Trial::open(&ctx.database, &tables).await {
                Ok(trial) => held.insert(trial),
                // A login that may only read still gets the proposals measured by hints.
                Err(e) => {
                    let advice =
                        prove(ctx, conn, catalog, catalog, &candidates, scenarios, args).await?;
                    return Ok(Advised {
                        trial_note: Some(format!(
                            "Proposals without an index were not tried: a trial copies the tables into a scratch database, and {e:#}"
                        )),
                        ..Advised::plain(advice)
                    });
                }
            };
            for c in &candidates {
                let trial_catalog = Catalog::load(&trial.pool).await?;
                if trial_catalog.index_on(&c.table, &c.columns).is_none() {
                    let name = scratch::index_name(&c.table, &c.columns);
                    trial.create_index(&c.table, &name, &c.columns).await?;
                }
            }
            let trial_catalog = Catalog::load(&trial.pool).await?;
            let mut trial_conn = trial.pool.acquire().await?;
            let mut advice = prove(
                ctx,
                &mut trial_conn,
                &trial_catalog,
                catalog,
                &candidates,
                scenarios,
                args,
            )
            .await?;
            drop(trial_conn);
            for a in advice.iter_mut().filter(|a| a.kept) {
                a.measured_on = "a scratch copy of the tables, with the index created there".into();
                if let Some(index) = trial_catalog.exact_index(&a.table, &a.columns) {
                    a.index_bytes = trial.index_bytes(&a.table, &index.name).await;
                }
            }
            // Each write cost drops its index from the copy at the end: measured last.
            for a in advice.iter_mut().filter(|a| a.kept) {
                let now = Catalog::load(&trial.pool).await?;
                if let Some(index) = now.exact_index(&a.table, &a.columns) {
                    a.write_cost = trial.write_cost(&a.table, &index.name).await?;
                }
            }
            Ok(Advised {
                trial: Some(trial.summary.clone()),
                ..Advised::plain(advice)
            })
        }
        Setting::Invisible(slot) if missing(catalog) => {
            let mut held = slot.lock().await;
            let trial = held.as_mut().expect("opened before the plans");
            let mut created = Vec::new();
            for c in &candidates {
                let now = Catalog::load_with_trials(trial.pool()).await?;
                if now.index_on(&c.table, &c.columns).is_none() {
                    let name = trial.create(&c.table, &c.columns).await?;
                    created.push(format!("{}.{name}", c.table));
                }
            }
            let trial_catalog = Catalog::load_with_trials(trial.pool()).await?;
            // Only this session sees them; every other session's plans stay as they were.
            see_invisible(conn, true).await?;
            let advice = prove(
                ctx,
                conn,
                &trial_catalog,
                catalog,
                &candidates,
                scenarios,
                args,
            )
            .await;
            see_invisible(conn, false).await?;
            let mut advice = advice?;
            for a in &mut advice {
                let Some(index) = a
                    .existing_index
                    .as_ref()
                    .filter(|name| created.iter().any(|c| *c == format!("{}.{name}", a.table)))
                else {
                    continue;
                };
                a.measured_on =
                    "this database, as an INVISIBLE index only the measuring session used".into();
                if a.kept {
                    a.index_bytes =
                        trial::index_bytes(trial.pool(), trial.database(), &a.table, index).await;
                }
            }
            Ok(Advised {
                trial_note: Some(
                    "Write costs are measured only on a copy (--trials copy): an invisible trial writes nothing to your tables.".into(),
                ),
                invisible: created,
                ..Advised::plain(advice)
            })
        }
        Setting::Trials(_) | Setting::Invisible(_) | Setting::HintsOnly => {
            let advice = prove(ctx, conn, catalog, catalog, &candidates, scenarios, args).await?;
            Ok(Advised::plain(advice))
        }
    }
}

/// Where the advisor's proposals are measured.
enum Setting<'a> {
    /// Indexes created on the tool's own tables (`--create-indexes`).
    CreateIndexes(&'a ScratchIndexes),
    /// A proposal without an index is tried on a scratch copy (`--trials copy`).
    Trials(&'a TrialSlot),
    /// A proposal without an index is tried as an INVISIBLE index (`--trials invisible`).
    Invisible(&'a Slot<InvisibleTrial>),
    /// Only proposals an existing index stands for (`--trials none`).
    HintsOnly,
}

/// The advice, and the trial it was measured in (if any).
struct Advised {
    advice: Vec<Advice>,
    trial: Option<TrialSummary>,
    trial_note: Option<String>,
    /// The invisible indexes the trial made (`--trials invisible`).
    invisible: Vec<String>,
}

impl Advised {
    fn plain(advice: Vec<Advice>) -> Self {
        Self {
            advice,
            trial: None,
            trial_note: None,
            invisible: Vec::new(),
        }
    }
}

/// Measures each candidate whose index `catalog` has, leave-one-out (see [`advise`]).
async fn prove(
    ctx: &Context,
    conn: &mut PoolConnection<MySql>,
    catalog: &Catalog,
    theirs: &Catalog,
    candidates: &[Candidate],
    scenarios: &[Scenario],
    args: &ExplainArgs,
) -> Result<Vec<Advice>> {
    let exists = |table: &str, columns: &[String]| catalog.index_on(table, columns).is_some();
    let provable: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| exists(&c.table, &c.columns))
        .collect();
    // Each candidate with the plain proposals of the other tables in place (indexes work
    // together: MariaDB uses seat(performance_id) for one concert only once
    // performance(concert_id) exists), against the same without it, or, for a covering
    // candidate, with the plain index of its table instead.
    let variant = |name: &str, set: Vec<&Candidate>| -> Result<Variant> {
        if set.is_empty() {
            return Ok(Variant::none());
        }
        let spec: Vec<String> = set.iter().map(|c| c.spec()).collect();
        Variant::from_spec(name, &spec.join("+"), catalog)
    };
    let others = |candidate: &Candidate| -> Vec<&Candidate> {
        provable
            .iter()
            .copied()
            .filter(|c| c.table != candidate.table && c.over.is_none())
            .collect()
    };

    let bars = progress::multi(ctx.progress_visible());
    let runs: u64 = provable
        .iter()
        .map(|c| {
            judged_on(c, scenarios).len() as u64 * 2 * u64::from(args.warmup + args.iterations)
        })
        .sum();
    let bar = progress::runs_bar(&bars, "advisor", runs);
    let mut advice = Vec::new();
    for candidate in candidates {
        let (table, columns) = (&candidate.table, &candidate.columns);
        // A covering candidate is judged against the plain index of its table.
        let plain = candidate
            .over
            .as_ref()
            .filter(|plain| exists(table, plain))
            .map(|plain| Candidate {
                table: table.clone(),
                columns: plain.clone(),
                over: None,
            });
        let existing = catalog.index_on(table, columns);
        let Some(existing) = existing.filter(|_| candidate.over.is_none() || plain.is_some())
        else {
            advice.push(unproven(candidate, existing.map(|e| e.name.clone())));
            continue;
        };
        let mut without_set = others(candidate);
        without_set.extend(plain.as_ref());
        let mut with_set = others(candidate);
        with_set.push(candidate);
        let pair = [variant("without", without_set)?, variant("with", with_set)?];
        let mut measured = Vec::new();
        for scenario in judged_on(candidate, scenarios) {
            let sql = pair
                .each_ref()
                .map(|v| scenario.sql(|t| v.hint(t, catalog)));
            let runs = measure(conn, &sql, scenario, args.warmup, args.iterations, || {
                bar.inc(1)
            })
            .await?;
            if let Some(s) = speedup(&runs[0].1, &runs[1].1) {
                measured.push(ScenarioSpeedup {
                    scenario: scenario.name().to_string(),
                    speedup: s.speedup,
                    ci95: s.ci95,
                });
            }
        }
        let already = theirs.exact_index(table, columns).map(|i| i.name.as_str());
        advice.push(judge(
            candidate,
            &existing.name,
            already,
            measured,
            args.min_speedup,
        ));
    }
    bar.finish_and_clear();
    Ok(advice)
}

/// The scenarios a candidate is judged on: those that join or filter on its columns (for a
/// covering candidate, on the plain index's columns it extends).
fn judged_on<'a>(candidate: &Candidate, scenarios: &'a [Scenario]) -> Vec<&'a Scenario> {
    let columns = candidate.over.as_deref().unwrap_or(&candidate.columns);
    scenarios
        .iter()
        .filter(|s| {
            columns.iter().all(|c| {
                s.statement
                    .access_columns
                    .iter()
                    .any(|(t, col)| *t == candidate.table && col == c)
            })
        })
        .collect()
}

/// A candidate no index exists for: hints cannot measure it.
fn unproven(candidate: &Candidate, existing_index: Option<String>) -> Advice {
    Advice {
        table: candidate.table.clone(),
        columns: candidate.columns.clone(),
        judged_against: candidate.over.clone(),
        existing_index,
        speedup: None,
        ci95: None,
        scenarios: Vec::new(),
        verdict: "unproven: no such index exists to measure with hints; run explain with --trials copy (the default), or --create-indexes on concert-bench's own tables".into(),
        ddl: None,
        kept: false,
        measured_on: "not measured".into(),
        index_bytes: None,
        write_cost: None,
    }
}

/// The verdict on a measured candidate: kept only when some scenario's 95% interval clears
/// `min_speedup` at its low end (with the DDL that creates it, unless the database has it
/// already: `already` names it); scenarios it makes slower are named.
fn judge(
    candidate: &Candidate,
    existing_index: &str,
    already: Option<&str>,
    measured: Vec<ScenarioSpeedup>,
    min_speedup: f64,
) -> Advice {
    let (table, columns) = (&candidate.table, &candidate.columns);
    let best = measured
        .iter()
        .max_by(|a, b| a.ci95[0].total_cmp(&b.ci95[0]))
        .cloned();
    let wins = best.as_ref().is_some_and(|b| b.ci95[0] >= min_speedup);
    let slower: Vec<String> = measured
        .iter()
        .filter(|m| m.ci95[1] < 1.0)
        .map(|m| format!("{} ({:.2}x)", m.scenario, m.speedup))
        .collect();
    let against = candidate.over.as_ref().map_or(String::new(), |plain| {
        format!(" over {table}({})", plain.join(", "))
    });
    let keep = match already {
        Some(name) => format!("keep the existing {name}"),
        None => "keep".to_string(),
    };
    let mut verdict = match &best {
        Some(b) if wins => format!(
            "{keep}: {:.1}x{against} on {} (95% CI low end {:.1}x)",
            b.speedup, b.scenario, b.ci95[0]
        ),
        _ => format!("not proven{against}: no scenario's 95% CI low end reaches {min_speedup:.1}x"),
    };
    if !slower.is_empty() {
        verdict.push_str(&format!("; slower on {}", slower.join(", ")));
    }
    Advice {
        table: table.clone(),
        columns: columns.clone(),
        judged_against: candidate.over.clone(),
        existing_index: Some(existing_index.to_string()),
        speedup: best.as_ref().map(|b| b.speedup),
        ci95: best.as_ref().map(|b| b.ci95),
        scenarios: measured,
        verdict,
        kept: wins,
        measured_on: "this database, the index hidden and shown by hints".into(),
        index_bytes: None,
        write_cost: None,
        ddl: (wins && already.is_none()).then(|| {
            let name = format!("idx_{table}_{}", columns.join("_"));
            let quoted: Vec<String> = columns.iter().map(|c| quote(c)).collect();
            format!(
                "CREATE INDEX {} ON {} ({});",
                quote(&name[..name.len().min(64)]),
                quote(table),
                quoted.join(", ")
            )
        }),
    }
}

impl crate::commands::Subcommand for ExplainArgs {
    const NAME: &'static str = <ExplainReport as crate::render::output::CommandReport>::COMMAND;
    const INTERRUPTED: &'static str = "no results; the schema was not changed";

    fn document_schema() -> Option<serde_json::Value> {
        Some(crate::render::output::schema_of::<ExplainReport>())
    }

    /// Always: --create-indexes and the trials drop what they made before answering it, and
    /// the rest stops at once.
    fn owns_ctrl_c(&self) -> bool {
        true
    }

    fn plot_dir(&self) -> Option<&std::path::Path> {
        self.plot.plot.as_deref()
    }

    async fn run(&self, ctx: &Context) -> Result<Report> {
        run(ctx, self).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index_lab::plans::Step;

    fn step(
        table: &str,
        access: &str,
        possible: Option<&str>,
        key: Option<&str>,
        rows: f64,
    ) -> Step {
        Step {
            table: table.into(),
            access: access.into(),
            possible_keys: possible.map(Into::into),
            key: key.map(Into::into),
            rows: Some(rows),
            rows_read: None,
            filtered: None,
            extra: None,
        }
    }

    #[test]
    fn findings_name_big_join_scans_declined_indexes_and_changed_plans() {
        let none = Plan {
            scenario: "concert_detail".into(),
            variant: "none".into(),
            steps: vec![
                step("concert", "const", Some("PRIMARY"), Some("PRIMARY"), 1.0),
                step("seat", "ALL", None, None, 199_836.0),
            ],
            raw: None,
        };
        let week8 = Plan {
            scenario: "concert_detail".into(),
            variant: "week8".into(),
            steps: vec![
                step("concert", "const", Some("PRIMARY"), Some("PRIMARY"), 1.0),
                step(
                    "performance",
                    "ALL",
                    Some("idx_performance_concert"),
                    None,
                    20.0,
                ),
                step(
                    "seat",
                    "ref",
                    Some("idx_seat_performance"),
                    Some("idx_seat_performance"),
                    100.0,
                ),
            ],
            raw: None,
        };
        let found = findings(&[none, week8]);
        assert!(
            found
                .iter()
                .any(|f| f.contains("full scan of seat inside a join (~199836 rows estimated)")),
            "{found:?}"
        );
        assert!(
            found
                .iter()
                .any(|f| f.contains("declined idx_performance_concert on performance")),
            "{found:?}"
        );
        assert!(found.iter().any(|f| f.contains("plan changed") && f.contains("seat:ref(idx_seat_performance)")), "{found:?}");
        assert_eq!(found.len(), 3, "{found:?}");
    }
}
