//! What `explain` reports: the typed document, and the tables rendered from it.

use schemars::JsonSchema;
use serde::Serialize;

use crate::index_lab::params::ParamSummary;
use crate::index_lab::plans::Plan;
use crate::index_lab::trial::{TrialSummary, WriteCost};
use crate::index_lab::workload::StatementSummary;
use crate::index_lab::{Redundant, scratch};
use crate::render::output::{CommandReport, Table};
use crate::render::plot::{Axis, Estimate, Figure, Level, Marks, Series};
use crate::storage::db::ServerInfo;

/// Every scenario's plan under every variant, what to look at in them, and the advisor's
/// proposals with their measured speedups.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ExplainReport {
    pub server: ServerInfo,
    pub database: String,
    /// Where the statements came from: a workload file, a slow log, the digest table, or the
    /// built-in week-8 one.
    pub workload: String,
    /// The statements explained, with their rank where they were logged.
    pub statements: Vec<StatementSummary>,
    /// Each statement's parameters: their distribution and how many values it drew from.
    pub params: Vec<ParamSummary>,
    pub plans: Vec<Plan>,
    pub findings: Vec<String>,
    pub advice: Vec<Advice>,
    /// Indexes that lead another index of their table (found from the catalog alone, no
    /// trial): each with the DDL that drops it.
    pub redundant_indexes: Vec<Redundant>,
    /// Indexes `sys.schema_unused_indexes` lists (MySQL: none used since the server started);
    /// null where the server cannot say (MariaDB, performance_schema off), with the reason in
    /// `unused_indexes_note`.
    pub unused_indexes: Option<Vec<UnusedIndex>>,
    pub unused_indexes_note: Option<String>,
    /// The scratch copy the proposals without an index were tried in (dropped afterwards);
    /// null when none was needed or allowed.
    pub trial: Option<TrialSummary>,
    /// Why proposals were not tried, when a trial was wanted and could not be made, or what
    /// a trial could not measure.
    pub trial_note: Option<String>,
    /// The INVISIBLE indexes `--trials invisible` made on your tables for its trials (only
    /// the measuring session used them), as `table.index`, all dropped afterwards.
    pub invisible_indexes: Vec<String>,
    /// The speedup a proposal's 95% interval must reach at its low end (`--min-speedup`); null
    /// when the advisor did not run.
    pub min_speedup: Option<f64>,
    /// Indexes `--create-indexes` made for the run and dropped afterwards.
    pub created_indexes: Vec<String>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Advice {
    pub table: String,
    pub columns: Vec<String>,
    /// For a covering proposal: the plain index it is judged against (it must beat that one).
    pub judged_against: Option<Vec<String>>,
    pub existing_index: Option<String>,
    /// The best scenario's speedup from this index (the one the verdict rests on).
    pub speedup: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    /// Every scenario that joins or filters on these columns, with this index vs without it.
    pub scenarios: Vec<ScenarioSpeedup>,
    pub verdict: String,
    /// Proven: the low end of its best interval reached `--min-speedup`.
    pub kept: bool,
    /// The statement that creates it, for a kept index the database does not have yet.
    pub ddl: Option<String>,
    /// Where it was measured: this database by hints, or a scratch copy (`--trials copy`).
    pub measured_on: String,
    /// The index's size in the trial copy (InnoDB statistics); null when not tried there.
    pub index_bytes: Option<u64>,
    /// What it costs single-row writes to its table, measured in the trial copy.
    pub write_cost: Option<WriteCost>,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ScenarioSpeedup {
    pub scenario: String,
    pub speedup: f64,
    pub ci95: [f64; 2],
}

impl CommandReport for ExplainReport {
    const COMMAND: &'static str = "explain";

    fn figures(&self) -> Vec<Figure> {
        advice_figure(self).into_iter().collect()
    }

    fn tables(&self) -> Vec<Table> {
        let mut plan_table = Table::new(
            "Plans",
            &[
                "scenario",
                "variant",
                "table",
                "access",
                "key",
                "rows (est.)",
                "rows read",
                "filtered %",
                "extra",
            ],
        );
        let opt = |v: Option<f64>| v.map_or("-".to_string(), |n| format!("{n:.0}"));
        for plan in &self.plans {
            for step in &plan.steps {
                plan_table.push(vec![
                    plan.scenario.clone(),
                    plan.variant.clone(),
                    step.table.clone(),
                    step.access.clone(),
                    step.key.clone().unwrap_or_else(|| "-".into()),
                    opt(step.rows),
                    opt(step.rows_read),
                    opt(step.filtered),
                    step.extra.clone().unwrap_or_default(),
                ]);
            }
        }
        let mut tables = vec![plan_table];
        if !self.advice.is_empty() {
            let mut advice_table = Table::new(
                "Advisor: each proposed index with vs without it (the other tables' proposals in place; a covering one against the plain one)",
                &["index", "per scenario", "best [95% CI]", "verdict", "DDL"],
            );
            for a in &self.advice {
                advice_table.push(vec![
                    format!("{}({})", a.table, a.columns.join(", ")),
                    a.scenarios
                        .iter()
                        .map(|s| format!("{} {:.2}x", s.scenario, s.speedup))
                        .collect::<Vec<_>>()
                        .join(", "),
                    match (a.speedup, a.ci95) {
                        (Some(s), Some([lo, hi])) => format!("{s:.2}x [{lo:.2}, {hi:.2}]"),
                        _ => "-".into(),
                    },
                    a.verdict.clone(),
                    a.ddl.clone().unwrap_or_else(|| "-".into()),
                ]);
            }
            tables.push(advice_table);
        }
        if !self.redundant_indexes.is_empty()
            || self.unused_indexes.as_ref().is_some_and(|u| !u.is_empty())
        {
            let mut found = Table::new(
                "Indexes to drop: redundant (led by another index) and unused (sys.schema_unused_indexes)",
                &["table", "index", "why", "DDL"],
            );
            for r in &self.redundant_indexes {
                found.push(vec![
                    r.table.clone(),
                    format!("{}({})", r.index, r.columns.join(", ")),
                    format!(
                        "redundant: {}({}) serves every lookup it does",
                        r.covered_by,
                        r.covered_by_columns.join(", ")
                    ),
                    r.ddl.clone(),
                ]);
            }
            for u in self.unused_indexes.iter().flatten() {
                found.push(vec![
                    u.table.clone(),
                    u.index.clone(),
                    "unused since the server started".into(),
                    u.ddl.clone(),
                ]);
            }
            tables.push(found);
        }
        tables
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = vec![format!(
            "Findings ({} {}):",
            self.server.flavor, self.server.version
        )];
        notes.extend(self.findings.iter().map(|f| format!("- {f}")));
        notes.push(format!("Workload: {}.", self.workload));
        notes.push("Intervals: bootstrap 95% (10,000 resamples) of the noise within this run, not of drift between runs.".into());
        notes.extend(self.unused_indexes_note.clone());
        notes.extend(self.trial_note.clone());
        if let Some(trial) = &self.trial {
            let tables: Vec<String> = trial
                .tables
                .iter()
                .map(|(t, rows)| format!("{t} ({rows} rows)"))
                .collect();
            notes.push(format!(
                "Trials: {} copied into the scratch database {} in {:.1} s, the proposals created there and measured; the database was dropped afterwards.",
                tables.join(", "),
                trial.database,
                trial.copy_seconds
            ));
        }
        for a in self
            .advice
            .iter()
            .filter(|a| a.write_cost.is_some() || a.index_bytes.is_some())
        {
            let cost = a.write_cost.as_ref().map_or("-".to_string(), |w| {
                format!(
                    "{:.2}x [{:.2}, {:.2}] ({:.3} vs {:.3} ms per delete+insert)",
                    w.ratio, w.ci95[0], w.ci95[1], w.with_index.p50_ms, w.without_index.p50_ms
                )
            });
            let size = a.index_bytes.map_or("-".to_string(), |b| {
                format!("{:.1} MiB", b as f64 / 1048576.0)
            });
            notes.push(format!(
                "{}({}): size {size}, write cost {cost}.",
                a.table,
                a.columns.join(", ")
            ));
        }
        notes.extend(self.statements.iter().filter_map(StatementSummary::note));
        notes.extend(scratch::created_note(&self.created_indexes));
        if !self.invisible_indexes.is_empty() {
            notes.push(format!(
                "--trials invisible: created {} INVISIBLE for the trials (no other session's plans could use them) and dropped them afterwards.",
                self.invisible_indexes.join(", ")
            ));
        }
        notes
    }
}

/// An index no statement has used since the server started, as `sys` reports it.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct UnusedIndex {
    pub table: String,
    pub index: String,
    pub ddl: String,
}

/// The advisor's proposals: each one's speedup per scenario it touches, with its interval,
/// against the `--min-speedup` line a proposal must clear.
fn advice_figure(report: &ExplainReport) -> Option<Figure> {
    let min_speedup = report.min_speedup?;
    let measured: Vec<&Advice> = report
        .advice
        .iter()
        .filter(|a| !a.scenarios.is_empty())
        .collect();
    if measured.is_empty() {
        return None;
    }
    let names = measured
        .iter()
        .map(|a| format!("{}({})", a.table, a.columns.join(",")))
        .collect();
    let mut scenarios: Vec<String> = measured
        .iter()
        .flat_map(|a| a.scenarios.iter().map(|s| s.scenario.clone()))
        .collect();
    scenarios.sort();
    scenarios.dedup();
    let series = scenarios
        .into_iter()
        .map(|scenario| Series {
            name: scenario.clone(),
            points: measured
                .iter()
                .map(|a| {
                    a.scenarios
                        .iter()
                        .find(|s| s.scenario == scenario)
                        .map(|s| Estimate::within(s.speedup, s.ci95))
                })
                .collect(),
        })
        .collect();
    Some(Figure {
        name: "explain-advice".into(),
        title: "Proposed indexes: measured speedup per scenario (95% intervals)".into(),
        x: Axis::linear("proposed index"),
        y: Axis::log("speedup with the index (x, log scale)"),
        marks: Marks::Categories { names, series },
        levels: vec![
            Level {
                name: "--min-speedup".into(),
                value: min_speedup,
            },
            Level {
                name: "no change".into(),
                value: 1.0,
            },
        ],
    })
}
