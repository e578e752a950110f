//! What `query` reports: the typed document, and the tables rendered from it.

use std::sync::LazyLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::index_lab::params::ParamSummary;
use crate::index_lab::workload::StatementSummary;
use crate::index_lab::{Variant, scratch};
use crate::measure::stats::Latency;
use crate::render::output::{CommandReport, Table};
use crate::render::plot::{Axis, Estimate, Figure, Marks, Series};
use crate::storage::db::{Flavor, ServerInfo};
use crate::storage::group::ReadFrom;

/// The write-up's own figures (MySQL, the original project), shown beside ours.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct WriteupFigures {
    pub without_index_ms: f64,
    pub with_index_ms: f64,
    /// The index the write-up added.
    pub index: String,
}

#[derive(Deserialize)]
struct Writeup {
    scenarios: std::collections::BTreeMap<String, WriteupFigures>,
}

static WRITEUP: LazyLock<Writeup> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../../../fixtures/writeup-week8.json"))
        .expect("fixture is valid")
});

/// The write-up's figures for a scenario, where it measured one.
pub fn writeup(scenario: &str) -> Option<WriteupFigures> {
    WRITEUP.scenarios.get(scenario).cloned()
}

/// `query`'s document: one experiment, or (with `--scales`) one per data size.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum QueryDocument {
    Variants(Box<QueryReport>),
    Sweep(SweepReport),
}

/// Every scenario under every variant on one data set.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct QueryReport {
    pub server: ServerInfo,
    pub database: String,
    /// Where the statements came from: a workload file, a slow log, the digest table, or the
    /// built-in week-8 one.
    pub workload: String,
    /// The statements run, with their rank where they were logged.
    pub statements: Vec<StatementSummary>,
    /// Each statement's parameters: their distribution and how many values it drew from. Each
    /// execution binds values drawn anew (seeded by --rng-seed), the same for every variant.
    pub params: Vec<ParamSummary>,
    pub warmup: u32,
    pub iterations: u32,
    /// `ANALYZE` runs per scenario and variant for the server's own time.
    pub server_runs: u32,
    pub variants: Vec<Variant>,
    pub results: Vec<ScenarioResult>,
    pub comparisons: Vec<Comparison>,
    /// Indexes `--create-indexes` made for the run and dropped afterwards.
    pub created_indexes: Vec<String>,
    /// The server's query cache as the run found it (MariaDB's `query_cache_type` and
    /// `query_cache_size`): when on, a repeated SELECT may be timed from the cache.
    pub query_cache: String,
    pub read_from: ReadFrom,
    /// The member the statements were timed on, `host:port`.
    pub reads_on: String,
}

/// One scenario under one variant.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ScenarioResult {
    pub scenario: String,
    pub variant: String,
    /// Rows the statement returned.
    pub rows: usize,
    /// Client wall time per execution (prepared statement, every row fetched).
    pub client: Latency,
    /// The server's own time per execution; null when it was not measured.
    pub server: Option<Latency>,
}

/// A variant against the baseline (`none`) on one scenario.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct Comparison {
    pub scenario: String,
    pub baseline: String,
    pub variant: String,
    pub baseline_p50_ms: f64,
    pub variant_p50_ms: f64,
    /// Baseline median over variant median: above 1 the variant is faster.
    pub speedup: f64,
    /// Bootstrap 95% interval of the speedup.
    pub ci95: [f64; 2],
    pub writeup: Option<WriteupFigures>,
}

/// The same experiment at several data sizes, each on a scratch database.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct SweepReport {
    pub sweep: Vec<ScaleResult>,
    /// Where the scratch databases were made (beside this one) and dropped.
    #[serde(skip)]
    pub beside: String,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct ScaleResult {
    pub scale: u64,
    pub seats: u64,
    pub server: ServerInfo,
    pub results: Vec<ScenarioResult>,
    pub comparisons: Vec<Comparison>,
}

impl CommandReport for QueryDocument {
    const COMMAND: &'static str = "query";

    fn tables(&self) -> Vec<Table> {
        match self {
            QueryDocument::Variants(r) => vec![results_table(r), comparisons_table(r)],
            QueryDocument::Sweep(r) => vec![sweep_table(r)],
        }
    }

    fn notes(&self) -> Vec<String> {
        match self {
            QueryDocument::Variants(r) => variants_notes(r),
            QueryDocument::Sweep(r) => vec![format!(
                "Each scale was seeded into a scratch database beside {} and dropped afterwards.",
                r.beside
            )],
        }
    }

    fn figures(&self) -> Vec<Figure> {
        match self {
            QueryDocument::Variants(r) => variants_figures(r),
            QueryDocument::Sweep(r) => sweep_figures(r),
        }
    }
}

fn results_table(r: &QueryReport) -> Table {
    let mut table = Table::new(
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
            "server median (separate ANALYZE runs)",
        ],
    );
    for m in &r.results {
        let c = &m.client;
        table.push(vec![
            m.scenario.clone(),
            m.variant.clone(),
            m.rows.to_string(),
            ms(c.min_ms),
            ms(c.p50_ms),
            c.tail_ms(0.95).map_or("-".into(), ms),
            c.tail_ms(0.99).map_or("-".into(), ms),
            ms(c.max_ms),
            m.server.as_ref().map_or("-".into(), |s| ms(s.p50_ms)),
        ]);
    }
    table
}

fn comparisons_table(r: &QueryReport) -> Table {
    let mut table = Table::new(
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
    for c in &r.comparisons {
        table.push(vec![
            c.scenario.clone(),
            c.variant.clone(),
            ms(c.baseline_p50_ms),
            ms(c.variant_p50_ms),
            speedup_cell(c),
            c.writeup.as_ref().map_or("-".into(), |w| {
                format!(
                    "{} -> {} ms ({:.1}x)",
                    w.without_index_ms,
                    w.with_index_ms,
                    w.without_index_ms / w.with_index_ms
                )
            }),
        ]);
    }
    table
}

fn sweep_table(r: &SweepReport) -> Table {
    let mut table = Table::new(
        "Scale sweep: the comparison at each size (medians, ms)",
        &[
            "scale",
            "seats",
            "scenario",
            "variant",
            "none",
            "variant ms",
            "speedup [95% CI]",
        ],
    );
    for at in &r.sweep {
        for c in &at.comparisons {
            table.push(vec![
                at.scale.to_string(),
                at.seats.to_string(),
                c.scenario.clone(),
                c.variant.clone(),
                format!("{:.3}", c.baseline_p50_ms),
                format!("{:.3}", c.variant_p50_ms),
                speedup_cell(c),
            ]);
        }
    }
    table
}

fn variants_notes(r: &QueryReport) -> Vec<String> {
    let server_note = match r.server.flavor {
        Flavor::Mariadb => "ANALYZE FORMAT=JSON r_total_time_ms",
        Flavor::Mysql => "EXPLAIN ANALYZE root actual time",
    };
    let mut notes = vec![
        format!(
            "{} {} · {} warm-up + {} measured runs per scenario and variant, interleaved · server time: {server_note}, from {} separate instrumented runs per pair (not the timed ones), interleaved",
            r.server.flavor, r.server.version, r.warmup, r.iterations, r.server_runs
        ),
        format!("Workload: {}.", r.workload),
        format!("Query cache: {}.", r.query_cache),
        format!(
            "Timed on {}{}.",
            r.reads_on,
            match r.read_from {
                ReadFrom::Primary => "",
                ReadFrom::Replicas => ", a secondary (--read-from replicas), after it had applied the run's indexes",
            }
        ),
        "Speedup intervals: bootstrap 95% (10,000 resamples) of the noise within this run; they do not cover drift between runs, which only repeated runs show.".into(),
    ];
    notes.extend(r.statements.iter().filter_map(StatementSummary::note));
    if !r.params.is_empty() {
        let drawn: Vec<String> = r
            .params
            .iter()
            .map(|p| {
                format!(
                    "{}.{} = {} ({} values)",
                    p.statement, p.name, p.distribution, p.pool
                )
            })
            .collect();
        notes.push(format!(
            "Parameters, drawn anew for every execution (the same draws for every variant): {}.",
            drawn.join("; ")
        ));
    }
    notes.push(format!(
        "Variants: {}.",
        r.variants
            .iter()
            .map(|v| format!("{} = {}", v.name, v.definition))
            .collect::<Vec<_>>()
            .join("; ")
    ));
    notes.extend(scratch::created_note(&r.created_indexes));
    notes
}

fn speedup_cell(c: &Comparison) -> String {
    format!("{:.2}x [{:.2}, {:.2}]", c.speedup, c.ci95[0], c.ci95[1])
}

fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.3}")
    }
}

// Figures: per scenario, each variant's client and server medians with their p5-p95 spread
// beside the write-up's figures; with `--scales`, each speedup against the data size.
/// One figure per scenario.
fn variants_figures(report: &QueryReport) -> Vec<Figure> {
    let mut scenarios: Vec<String> = report.results.iter().map(|r| r.scenario.clone()).collect();
    scenarios.dedup();
    let names: Vec<String> = report.variants.iter().map(|v| v.name.clone()).collect();
    scenarios
        .into_iter()
        .map(|scenario| {
            let result = |variant: &str| {
                report
                    .results
                    .iter()
                    .find(|r| r.scenario == scenario && r.variant == variant)
            };
            let client = names
                .iter()
                .map(|v| {
                    result(v).map(|r| match r.client.p5_p95() {
                        Some(spread) => Estimate::within(r.client.p50_ms, spread),
                        None => Estimate::exact(r.client.p50_ms),
                    })
                })
                .collect();
            let server = names
                .iter()
                .map(|v| {
                    let latency = result(v)?.server.as_ref()?;
                    Some(match latency.p5_p95() {
                        Some(spread) => Estimate::within(latency.p50_ms, spread),
                        None => Estimate::exact(latency.p50_ms),
                    })
                })
                .collect();
            let mut series = vec![
                Series {
                    name: "client median (p5-p95)".into(),
                    points: client,
                },
                Series {
                    name: "server median (p5-p95)".into(),
                    points: server,
                },
            ];
            // The write-up timed its own baseline and its index: put them under ours.
            if let Some(c) = report
                .comparisons
                .iter()
                .find(|c| c.scenario == scenario && c.writeup.is_some())
            {
                let w = c.writeup.as_ref().expect("filtered on it");
                series.push(Series {
                    name: format!("write-up (MySQL, its machine; index {})", w.index),
                    points: names
                        .iter()
                        .map(|v| {
                            if *v == c.baseline {
                                Some(Estimate::exact(w.without_index_ms))
                            } else if *v == c.variant {
                                Some(Estimate::exact(w.with_index_ms))
                            } else {
                                None
                            }
                        })
                        .collect(),
                });
            }
            Figure {
                name: format!("query-{scenario}"),
                title: format!("{scenario}: median time per variant"),
                x: Axis::linear("index variant"),
                y: Axis::log("time per execution (ms, log scale)"),
                marks: Marks::Categories {
                    names: names.clone(),
                    series,
                },
                levels: Vec::new(),
            }
        })
        .collect()
}

/// The speedup of every variant over the baseline against the data size.
fn sweep_figures(report: &SweepReport) -> Vec<Figure> {
    let Some(first) = report.sweep.first() else {
        return Vec::new();
    };
    let series = first
        .comparisons
        .iter()
        .map(|c| Series {
            name: format!("{} ({} vs {})", c.scenario.clone(), c.variant, c.baseline),
            points: report
                .sweep
                .iter()
                .filter_map(|scale| {
                    let at = scale
                        .comparisons
                        .iter()
                        .find(|o| o.scenario == c.scenario && o.variant == c.variant)?;
                    Some((scale.seats as f64, Estimate::within(at.speedup, at.ci95)))
                })
                .collect(),
        })
        .collect();
    vec![Figure {
        name: "query-scales".into(),
        title: "Index speedup against data size (95% intervals)".into(),
        x: Axis::log("seats in the data set (log scale)"),
        y: Axis::log("speedup over no index (x, log scale)"),
        marks: Marks::Curves(series),
        levels: vec![crate::render::plot::Level {
            name: "no change".into(),
            value: 1.0,
        }],
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writeup_fixture_has_both_figures() {
        let list = writeup("concerts_with_dates").unwrap();
        assert_eq!(list.without_index_ms, 9.7);
        assert_eq!(writeup("concert_detail").unwrap().with_index_ms, 3.9);
    }
}
