//! `staleness`'s typed report.

use schemars::JsonSchema;
use serde::Serialize;

use crate::measure::stats::Latency;
use crate::render::output::{CommandReport, Table, thousands};
use crate::storage::group::{Consistency, Engine};

/// How far each secondary trailed the primary, under each read consistency.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StalenessReport {
    pub engine: Engine,
    pub multi_primary: bool,
    /// The member written to, `host:port`.
    pub primary: String,
    /// The seat every probe held or released (put back at the end).
    pub seat: i64,
    /// Probes per secondary and consistency.
    pub probes: u32,
    /// How long a probe read before counting its write as never seen.
    pub timeout_ms: u64,
    /// One per secondary and consistency.
    pub results: Vec<StalenessResult>,
}

/// One secondary under one consistency.
#[derive(Debug, Serialize, JsonSchema)]
pub struct StalenessResult {
    /// The secondary read, `host:port`.
    pub member: String,
    pub consistency: Consistency,
    /// The engine's own name for it (`EVENTUAL`, `wsrep_sync_wait=1`, ...).
    pub setting: String,
    pub probes: u64,
    /// Probes whose first read, sent as soon as the write's commit returned on the primary,
    /// returned the value from before the write.
    pub stale_first_reads: u64,
    /// Probes whose write no read returned within the timeout.
    pub never_visible: u64,
    /// From the write's commit returning on the primary to the end of the first read on this
    /// member that returned it (at least one read's round trip).
    pub visible_after: Latency,
    /// The first read's own time: under `before`, the wait for the member to apply.
    pub first_read: Latency,
}

impl StalenessResult {
    fn stale_percent(&self) -> f64 {
        100.0 * self.stale_first_reads as f64 / self.probes.max(1) as f64
    }
}

impl CommandReport for StalenessReport {
    const COMMAND: &'static str = "staleness";

    fn tables(&self) -> Vec<Table> {
        let mut table = Table::new(
            "Reads on a secondary right after a write on the primary (ms)",
            &[
                "member",
                "consistency",
                "probes",
                "stale first reads",
                "visible after p50",
                "p99",
                "max",
                "first read p50",
                "p99",
            ],
        );
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.3}"));
        for r in &self.results {
            table.push(vec![
                r.member.clone(),
                r.setting.clone(),
                thousands(r.probes as f64),
                format!(
                    "{} ({:.1}%)",
                    thousands(r.stale_first_reads as f64),
                    r.stale_percent()
                ),
                format!("{:.3}", r.visible_after.p50_ms),
                ms(r.visible_after.tail_ms(0.99)),
                format!("{:.3}", r.visible_after.max_ms),
                format!("{:.3}", r.first_read.p50_ms),
                ms(r.first_read.tail_ms(0.99)),
            ]);
        }
        vec![table]
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = vec![format!(
            "{}{}, written on {}: each probe holds or releases seat {} and reads its version on a secondary until the write shows; {} probes per secondary and consistency, interleaved.",
            self.engine,
            if self.multi_primary {
                " (multi-primary)"
            } else {
                ""
            },
            self.primary,
            self.seat,
            self.probes
        )];
        let never: u64 = self.results.iter().map(|r| r.never_visible).sum();
        if never > 0 {
            notes.push(format!(
                "{never} writes were not visible within {} ms on the member read.",
                self.timeout_ms
            ));
        }
        notes.extend(
            self.violations()
                .into_iter()
                .map(|v| format!("VIOLATION {v}")),
        );
        notes
    }

    fn violations(&self) -> Vec<String> {
        self.results
            .iter()
            .filter(|r| r.consistency == Consistency::Before && r.stale_first_reads > 0)
            .map(|r| {
                format!(
                    "{} under {}: {} reads returned a value from before a write whose commit had returned: the engine promises none",
                    r.member, r.setting, r.stale_first_reads
                )
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(consistency: Consistency, stale_first_reads: u64) -> StalenessResult {
        StalenessResult {
            member: "127.0.0.1:5307".into(),
            consistency,
            setting: consistency
                .engine_name(Engine::GroupReplication)
                .to_string(),
            probes: 100,
            stale_first_reads,
            never_visible: 0,
            visible_after: Latency::default(),
            first_read: Latency::default(),
        }
    }

    fn report(results: Vec<StalenessResult>) -> StalenessReport {
        StalenessReport {
            engine: Engine::GroupReplication,
            multi_primary: false,
            primary: "127.0.0.1:5306".into(),
            seat: 1,
            probes: 100,
            timeout_ms: 10_000,
            results,
        }
    }

    #[test]
    fn a_stale_read_breaks_before_only() {
        let eventual_stale = report(vec![
            result(Consistency::Eventual, 17),
            result(Consistency::Before, 0),
        ]);
        assert!(eventual_stale.violations().is_empty());
        let broken = report(vec![result(Consistency::Before, 2)]);
        assert_eq!(
            broken.violations(),
            [
                "127.0.0.1:5307 under BEFORE: 2 reads returned a value from before a write whose commit had returned: the engine promises none"
            ]
        );
        assert_eq!(eventual_stale.tables()[0].rows[0][3], "17 (17.0%)");
    }
}
