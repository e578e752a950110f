//! What `cache-bench` reports: the typed document, and the tables rendered from it.

use schemars::JsonSchema;
use serde::Serialize;

use super::Workload;
use crate::domain::concerts::{CacheLevel, Invalidation};
use crate::keyspace::{MasterShare, describe_spread};
use crate::measure::anchor::AnchorRun;
use crate::measure::stats::Latency;
use crate::render::output::{CommandReport, Ratio, Table, thousands};
use crate::render::plot::{Axis, Estimate, Figure, Level, Marks, Scale, Series};
use crate::storage::group::ReadFrom;

#[derive(Debug, Serialize, JsonSchema)]
pub struct CacheBenchReport {
    pub settings: CacheBenchSettings,
    /// One per workload x strategy x invalidation cell.
    pub results: Vec<CellResult>,
    /// A cold key hit by every client at once, without and with single flight.
    pub stampede: Vec<StampedeResult>,
    /// `redis-benchmark GET` of a value the cached list's size (with `--anchor`).
    pub anchor: Option<AnchorRun>,
    pub comparisons: Vec<Ratio>,
    /// The run's cached keys per master at its end, before they are removed (one entry,
    /// `single`, on one Redis): each concert's keys share a hash tag, so concerts spread.
    pub redis_masters: Vec<MasterShare>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CacheBenchSettings {
    pub clients: u32,
    pub duration_ms: u64,
    pub requests: Option<u64>,
    /// Open-loop rate, requests per second; null for a closed loop.
    pub rate: Option<f64>,
    pub warmup: u64,
    pub write_ratio: f64,
    pub ttl_ms: u64,
    pub single_flight: bool,
    pub fail_open: bool,
    pub read_from: ReadFrom,
    /// The member the database reads went to, `host:port`.
    pub reads_on: String,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct CellResult {
    pub workload: Workload,
    /// The cache level.
    pub strategy: CacheLevel,
    /// Null for no cache.
    pub invalidation: Option<Invalidation>,
    pub clients: u32,
    /// Requests that succeeded (failures are `errors`, counted apart).
    pub requests: u64,
    pub seconds: f64,
    /// Successful requests per second.
    pub throughput_rps: f64,
    /// Per successful request; in an open loop counted from its scheduled start.
    pub latency: Latency,
    /// Null for no cache.
    pub hit_ratio: Option<f64>,
    pub db_queries: u64,
    pub value_bytes: u64,
    pub writes: u64,
    /// Answers older than a write that had returned before the read began.
    pub stale_reads: u64,
    pub max_stale_ms: f64,
    /// Requests that failed: not in `requests`, the rate or the latency.
    pub errors: u64,
    /// Requests served from the database because Redis failed (`--fail-open`).
    pub fell_back: u64,
    /// Database connections opened inside the timed window: 0, as the pool is opened before
    /// the first cell (a handshake is not a request's latency).
    pub connections_opened: u32,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct StampedeResult {
    /// `none` or `single-flight`.
    pub protection: &'static str,
    pub clients: u32,
    pub db_queries: u64,
}

impl CellResult {
    fn label(&self) -> String {
        match self.invalidation {
            Some(i) => format!("{} {}/{i}", self.workload, self.strategy),
            None => format!("{} {}", self.workload, self.strategy),
        }
    }
}

impl CacheBenchReport {
    /// The cells whose on-write invalidation still served stale reads.
    fn stale_under_on_write(&self) -> impl Iterator<Item = &CellResult> {
        self.results
            .iter()
            .filter(|r| r.invalidation == Some(Invalidation::OnWrite) && r.stale_reads > 0)
    }
}

impl CommandReport for CacheBenchReport {
    const COMMAND: &'static str = "cache-bench";

    fn figures(&self) -> Vec<Figure> {
        if self.results.is_empty() {
            return Vec::new();
        }
        let mut workloads: Vec<Workload> = self.results.iter().map(|r| r.workload).collect();
        workloads.dedup();
        // One percentile plot per workload: a database cell and a Redis cell differ by 100x,
        // and several workloads on one plot would be a dozen curves.
        let mut figures: Vec<Figure> = workloads
            .into_iter()
            .map(|workload| Figure {
                name: format!("cache-bench-latency-{workload}"),
                title: format!("{workload}: latency by percentile, per cell"),
                x: Axis {
                    label: "percentile (each nine gets the same room)".into(),
                    scale: Scale::Percentile,
                },
                y: Axis::log("latency (ms, log scale)"),
                marks: Marks::Curves(
                    self.results
                        .iter()
                        .filter(|r| r.workload == workload && !r.latency.spectrum.is_empty())
                        .map(|r| Series {
                            name: r.label(),
                            points: r
                                .latency
                                .spectrum
                                .iter()
                                .map(|&(p, ms)| (p, Estimate::exact(ms)))
                                .collect(),
                        })
                        .collect(),
                ),
                levels: Vec::new(),
            })
            .collect();
        figures.push(Figure {
            name: "cache-bench-throughput".into(),
            title: format!(
                "Throughput per cell ({} clients){}",
                self.settings.clients,
                if self.anchor.is_some() {
                    " against redis-benchmark GET of the same bytes"
                } else {
                    ""
                }
            ),
            x: Axis::linear("workload, cache level / invalidation"),
            y: Axis::log("requests per second (log scale)"),
            marks: Marks::Categories {
                names: self.results.iter().map(CellResult::label).collect(),
                series: vec![Series {
                    name: "concert-bench".into(),
                    points: self
                        .results
                        .iter()
                        .map(|r| Some(Estimate::exact(r.throughput_rps)))
                        .collect(),
                }],
            },
            levels: self
                .anchor
                .iter()
                .map(|a| Level {
                    name: format!("redis-benchmark GET, {} clients", a.clients),
                    value: a.ops_per_second,
                })
                .collect(),
        });
        figures
    }

    fn tables(&self) -> Vec<Table> {
        let s = &self.settings;
        let mut table = Table::new(
            format!(
                "Cache benchmark ({} clients, {})",
                s.clients,
                s.rate.map_or("closed loop".to_string(), |r| format!(
                    "open loop at {r} req/s"
                ))
            ),
            &[
                "workload",
                "strategy",
                "invalidation",
                "req/s",
                "p50 ms",
                "p95 ms",
                "p99 ms",
                "max ms",
                "hit %",
                "db queries",
                "value bytes",
                "stale reads",
                "max stale ms",
                "errors",
            ],
        );
        for r in &self.results {
            table.push(vec![
                r.workload.to_string(),
                r.strategy.to_string(),
                r.invalidation.map_or("-".into(), |i| i.to_string()),
                thousands(r.throughput_rps),
                format!("{:.3}", r.latency.p50_ms),
                format!("{:.3}", r.latency.p95_ms),
                format!("{:.3}", r.latency.p99_ms),
                format!("{:.3}", r.latency.max_ms),
                r.hit_ratio
                    .map_or("-".into(), |h| format!("{:.1}", h * 100.0)),
                thousands(r.db_queries as f64),
                thousands(r.value_bytes as f64),
                thousands(r.stale_reads as f64),
                format!("{:.1}", r.max_stale_ms),
                thousands(r.errors as f64),
            ]);
        }
        let mut stampede = Table::new(
            "Stampede: one cold key, every client at once",
            &["protection", "clients", "db queries"],
        );
        for r in &self.stampede {
            stampede.push(vec![
                r.protection.into(),
                r.clients.to_string(),
                r.db_queries.to_string(),
            ]);
        }
        [table, stampede, Table::ratios(&self.comparisons)]
            .into_iter()
            .filter(|t| !t.rows.is_empty())
            .collect()
    }

    /// On-write invalidation promises no stale read; TTL invalidation allows them by design.
    /// A version bump that failed or was lost (a Redis failover can lose acknowledged writes)
    /// breaks the promise, and the run says so instead of only counting.
    fn violations(&self) -> Vec<String> {
        // On a secondary, a miss may refill the cache from a member that has not applied the
        // write yet: reported in a note, as what replica reads cost, not as a broken promise.
        if self.settings.read_from == ReadFrom::Replicas {
            return Vec::new();
        }
        self.stale_under_on_write()
            .map(|r| {
                format!(
                    "{}: {} stale reads (up to {:.0} ms behind a write that had returned) under on-write invalidation: a version bump failed or was lost",
                    r.label(),
                    thousands(r.stale_reads as f64),
                    r.max_stale_ms
                )
            })
            .collect()
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        if self.settings.read_from == ReadFrom::Replicas {
            notes.push(format!(
                "--read-from replicas: the database reads went to {}; the writes to the primary",
                self.settings.reads_on
            ));
            notes.extend(self.stale_under_on_write().map(|r| format!(
                "{}: {} stale reads (up to {:.0} ms behind a write that had returned) under on-write invalidation: misses refilled the cache from a secondary that had not applied the write yet",
                r.label(),
                thousands(r.stale_reads as f64),
                r.max_stale_ms
            )));
        }
        notes.extend([
            "stale read: a \"get one concert\" answer older than a seat write that had returned before the read began (a version stamp in the answer says which)".into(),
            "mixed: reads of one open concert, with --write-ratio of operations holding or releasing one of its seats".into(),
        ]);
        if !self.redis_masters.is_empty() {
            let spread = describe_spread(&self.redis_masters);
            notes.push(format!("cached keys per master: {spread}"));
        }
        notes.extend(
            self.violations()
                .into_iter()
                .map(|v| format!("VIOLATION {v}")),
        );
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cell(invalidation: Invalidation, stale_reads: u64) -> CellResult {
        CellResult {
            workload: Workload::Mixed,
            strategy: CacheLevel::Response,
            invalidation: Some(invalidation),
            clients: 4,
            requests: 1_000,
            seconds: 1.0,
            throughput_rps: 1_000.0,
            latency: Latency::default(),
            hit_ratio: Some(0.9),
            db_queries: 100,
            value_bytes: 10_000,
            writes: 50,
            stale_reads,
            max_stale_ms: 12.4,
            errors: 0,
            fell_back: 0,
            connections_opened: 0,
        }
    }

    fn report(results: Vec<CellResult>) -> CacheBenchReport {
        CacheBenchReport {
            settings: CacheBenchSettings {
                clients: 4,
                duration_ms: 1_000,
                requests: None,
                rate: None,
                warmup: 0,
                write_ratio: 0.05,
                ttl_ms: 60_000,
                single_flight: false,
                fail_open: false,
                read_from: ReadFrom::Primary,
                reads_on: "127.0.0.1:3306".into(),
            },
            results,
            stampede: Vec::new(),
            anchor: None,
            comparisons: Vec::new(),
            redis_masters: Vec::new(),
        }
    }

    #[test]
    fn a_stale_read_breaks_on_write_invalidation_only() {
        let clean = report(vec![
            cell(Invalidation::Ttl, 37),
            cell(Invalidation::OnWrite, 0),
        ]);
        assert!(clean.violations().is_empty());
        let broken = report(vec![
            cell(Invalidation::Ttl, 37),
            cell(Invalidation::OnWrite, 3),
        ]);
        assert_eq!(
            broken.violations(),
            [
                "mixed response/on-write: 3 stale reads (up to 12 ms behind a write that had returned) under on-write invalidation: a version bump failed or was lost"
            ]
        );
        assert!(
            broken
                .notes()
                .iter()
                .any(|n| n.starts_with("VIOLATION mixed response/on-write"))
        );
    }

    #[test]
    fn stale_reads_from_a_secondary_are_a_finding_not_a_violation() {
        let mut lagging = report(vec![cell(Invalidation::OnWrite, 3)]);
        lagging.settings.read_from = ReadFrom::Replicas;
        lagging.settings.reads_on = "127.0.0.1:4307".into();
        assert!(lagging.violations().is_empty());
        let notes = lagging.notes();
        assert!(
            notes.iter().any(|n| n.contains("3 stale reads")
                && n.contains("a secondary that had not applied the write yet")),
            "{notes:?}"
        );
        assert!(
            !notes.iter().any(|n| n.starts_with("VIOLATION")),
            "{notes:?}"
        );
    }
}
