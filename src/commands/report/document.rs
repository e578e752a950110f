//! What `report` returns: every stage's own typed document, the claims, and where the page
//! went. The same document is `-o json` and `DIR/report.json`.

use schemars::JsonSchema;
use serde::Serialize;

use super::claims::{Claim, claims};
use super::{Drawn, Measured, ReportArgs};
use crate::commands::cache_bench::CacheBenchReport;
use crate::commands::explain::ExplainReport;
use crate::commands::query::{QueryReport, SweepReport};
use crate::commands::queue_sim::QueueSimReport;
use crate::commands::reserve::ReserveReport;
use crate::commands::seed::SeedReport;
use crate::render::output::{CommandReport, Table};

#[derive(Debug, Serialize, JsonSchema)]
pub struct ReportDocument {
    pub quick: bool,
    /// Where index.html, report.json and the SVG files were written.
    pub out: String,
    pub seconds: f64,
    /// The scratch databases this run created beside --database-url and dropped.
    pub scratch_databases: Vec<String>,
    /// Each stage's command line, in the order they ran.
    pub stages: Vec<StageSummary>,
    /// The write-up's claims beside this run's figures.
    pub claims: Vec<Claim>,
    /// The SVG files written, each named after its figure.
    pub figures: Vec<String>,
    pub seed: SeedReport,
    pub query: QueryReport,
    pub scales: SweepReport,
    pub explain: ExplainReport,
    pub cache_bench: CacheBenchReport,
    pub queue_sim: QueueSimReport,
    pub hot_seat: ReserveReport,
    pub flows: ReserveReport,
}

#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct StageSummary {
    /// The command line, as you would type it against a database of your own.
    pub command: String,
    /// The scratch database it ran on.
    pub database: String,
    pub seconds: f64,
}

impl ReportDocument {
    pub(super) fn new(
        args: &ReportArgs,
        measured: Measured,
        scratch_databases: Vec<String>,
        drawn: &[Drawn],
        seconds: f64,
    ) -> Self {
        let claims = claims(&measured);
        Self {
            quick: args.quick,
            out: args.out.display().to_string(),
            seconds,
            scratch_databases,
            stages: measured.stages,
            claims,
            figures: drawn
                .iter()
                .map(|d| format!("{}.svg", d.figure.name))
                .collect(),
            seed: measured.seed,
            query: measured.query,
            scales: measured.sweep,
            explain: measured.explain,
            cache_bench: measured.cache_bench,
            queue_sim: measured.queue_sim,
            hot_seat: measured.hot_seat,
            flows: measured.flows,
        }
    }
}

impl CommandReport for ReportDocument {
    const COMMAND: &'static str = "report";

    fn tables(&self) -> Vec<Table> {
        let mut claims = Table::new(
            "The write-up's claims, measured here",
            &["section", "write-up", "here", "verdict"],
        );
        for c in &self.claims {
            claims.push(vec![
                c.section.id().into(),
                c.writeup.clone(),
                c.here.clone(),
                c.verdict.word().into(),
            ]);
        }
        let mut stages = Table::new("Stages", &["command", "database", "seconds"]);
        for s in &self.stages {
            stages.push(vec![
                s.command.clone(),
                s.database.clone(),
                format!("{:.1}", s.seconds),
            ]);
        }
        vec![claims, stages]
    }

    fn notes(&self) -> Vec<String> {
        vec![
            format!(
                "{}/index.html written, with {} figures (also as SVG files) and report.json, in {:.0} s",
                self.out,
                self.figures.len(),
                self.seconds
            ),
            format!(
                "Scratch databases created and dropped: {}",
                self.scratch_databases.join(", ")
            ),
        ]
    }

    fn violations(&self) -> Vec<String> {
        [&self.hot_seat, &self.flows]
            .into_iter()
            .flat_map(|r| r.violations.iter().cloned())
            .chain(self.queue_sim.violations.iter().cloned())
            .chain(self.cache_bench.violations())
            .collect()
    }
}
