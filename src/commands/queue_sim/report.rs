//! What `queue-sim` reports: the typed document, and the tables rendered from it.

use schemars::JsonSchema;
use serde::Serialize;

use super::simulation::TickSample;
use crate::keyspace::{MasterShare, describe_spread};
use crate::measure::anchor::AnchorRun;
use crate::measure::stats::Latency;
use crate::render::output::{CommandReport, Ratio, Table, thousands};
use crate::render::plot::{Axis, Estimate, Figure, Level, Marks, Scale, Series};

#[derive(Debug, Serialize, JsonSchema)]
pub struct QueueSimReport {
    pub settings: QueueSimSettings,
    /// One per backend (redis, database).
    pub results: Vec<BackendResult>,
    /// `redis-benchmark` ZADD and ZRANK with the same clients (with `--anchor`).
    pub anchors: Vec<AnchorRun>,
    pub comparisons: Vec<Ratio>,
    /// Redis queues per master (one entry, `single`, on one Redis); empty without Redis.
    pub redis_masters: Vec<MasterShare>,
    /// Broken promises (FIFO, cap, rate, admitted users left waiting): the run exits with 3.
    pub violations: Vec<String>,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct QueueSimSettings {
    pub policy: String,
    pub ttl_ms: u64,
    pub arrival: String,
    /// Service time range, low and high.
    pub service_ms: [u64; 2],
    pub abandon: f64,
    /// Simulated seconds per real second.
    pub speed: f64,
    pub tick_ms: u64,
    pub clients: u32,
    /// Queues simulated at once (one per concert); users, clients and the probe are split
    /// between them, and the counts and latencies below are over all of them.
    pub concerts: u64,
}

#[derive(Debug, Serialize, JsonSchema)]
pub struct BackendResult {
    pub backend: &'static str,
    pub users: u64,
    pub admitted: u64,
    pub admissions: u64,
    pub policy: String,
    /// The capacity policy's cap; null under a rate policy.
    pub active_cap: Option<u64>,
    pub max_active: u64,
    pub max_admitted_per_period: u64,
    pub fifo_violations: u64,
    /// Admissions the store made twice (same user, same arrival) because it lost the first
    /// one: a failover that dropped acknowledged writes. 0 unless Redis lost data.
    pub lost_admissions: u64,
    pub admitted_still_waiting: u64,
    pub foreign_admissions: u64,
    pub arrivals_delayed: u64,
    pub enter_per_second: f64,
    pub admissions_per_second: f64,
    pub admissions_per_queue_second: f64,
    pub position_per_second: f64,
    /// `probe` when the rates come from the saturation probe, `simulation` otherwise.
    pub throughput_source: &'static str,
    /// Time in the queue, in simulated milliseconds.
    pub wait: Latency,
    pub eta_error_pct: Option<f64>,
    /// The slower of the simulation's enter and position p99, in queue time (real latency
    /// x --speed). Past a --tick the store is slower than the compressed clock, and the waits
    /// and `eta_error_pct` measure that lag as much as the queue.
    pub store_lag_p99_ms: f64,
    pub tokens_expired: u64,
    pub expired_before_noticed: u64,
    pub reentered: u64,
    pub errors: u64,
    /// Redis memory of the queue's keys at its peak; null for the database.
    pub memory_bytes: Option<u64>,
    pub simulation: SimulationOps,
    pub probe: Option<ProbeResult>,
    /// For the figures only (not in the document): the queue over simulated time.
    #[serde(skip)]
    pub timeline: Vec<TickSample>,
    /// For the figures only: (first estimate, actual remaining wait) in ms per sampled user.
    #[serde(skip)]
    pub estimates: Vec<(f64, f64)>,
}

/// The store operations of the simulation itself.
#[derive(Debug, Serialize, JsonSchema)]
pub struct SimulationOps {
    pub wall_seconds: f64,
    pub enter_ops: u64,
    pub position_ops: u64,
    pub enter: Latency,
    pub position: Latency,
}

/// Enter and position lookups at saturation, before the simulation.
#[derive(Debug, Serialize, JsonSchema)]
pub struct ProbeResult {
    /// Users in the queue during the probe.
    pub size: u64,
    pub enter_per_second: f64,
    pub position_per_second: f64,
    pub enter: Latency,
    pub position: Latency,
}

impl CommandReport for QueueSimReport {
    const COMMAND: &'static str = "queue-sim";

    fn figures(&self) -> Vec<Figure> {
        figures(self)
    }

    fn tables(&self) -> Vec<Table> {
        let mut sim_table = Table::new(
            "Simulation (wait in queue time; checks on every run)",
            &[
                "backend",
                "users",
                "admitted",
                "max active",
                "FIFO viol.",
                "wait p50",
                "wait p95",
                "wait p99",
                "ETA error",
                "expired",
                "errors",
                "memory",
                "wall",
            ],
        );
        let mut probe_table = Table::new(
            format!("Throughput probe ({} clients)", self.settings.clients),
            &[
                "backend",
                "queue size",
                "enter/s",
                "enter p50 ms",
                "enter p99 ms",
                "position/s",
                "position p50 ms",
                "position p99 ms",
            ],
        );
        for r in &self.results {
            let cap = r.active_cap.map_or(String::new(), |c| format!(" / {c}"));
            sim_table.push(vec![
                r.backend.to_string(),
                thousands(r.users as f64),
                thousands(r.admitted as f64),
                format!("{}{cap}", thousands(r.max_active as f64)),
                r.fifo_violations.to_string(),
                format!("{:.1} s", r.wait.p50_ms / 1e3),
                format!("{:.1} s", r.wait.p95_ms / 1e3),
                format!("{:.1} s", r.wait.p99_ms / 1e3),
                r.eta_error_pct.map_or("-".into(), |e| format!("{e:.0}%")),
                thousands(r.tokens_expired as f64),
                thousands(r.errors as f64),
                r.memory_bytes
                    .map_or("-".into(), |b| format!("{:.1} MB", b as f64 / 1e6)),
                format!("{:.1} s", r.simulation.wall_seconds),
            ]);
            if let Some(p) = &r.probe {
                probe_table.push(vec![
                    r.backend.to_string(),
                    thousands(p.size as f64),
                    thousands(p.enter_per_second),
                    format!("{:.3}", p.enter.p50_ms),
                    format!("{:.3}", p.enter.p99_ms),
                    thousands(p.position_per_second),
                    format!("{:.3}", p.position.p50_ms),
                    format!("{:.3}", p.position.p99_ms),
                ]);
            }
        }
        [sim_table, probe_table, Table::ratios(&self.comparisons)]
            .into_iter()
            .filter(|t| !t.rows.is_empty())
            .collect()
    }

    fn notes(&self) -> Vec<String> {
        let s = &self.settings;
        let mut notes = vec![format!(
            "policy {} · TTL {} s · arrival {} · service {}-{} s · {:.0}% abandon · clock {}x · tick {} ms",
            s.policy,
            s.ttl_ms / 1000,
            s.arrival,
            s.service_ms[0] / 1000,
            s.service_ms[1] / 1000,
            s.abandon * 100.0,
            s.speed,
            s.tick_ms
        )];
        if s.concerts > 1 {
            notes.push(format!(
                "{} queues at once: counts summed, latencies over all of them",
                s.concerts
            ));
        }
        // One queue on one Redis says nothing about spread.
        let spread_says_something =
            s.concerts > 1 || self.redis_masters.iter().any(|m| m.master != "single");
        if spread_says_something {
            let spread = describe_spread(&self.redis_masters);
            notes.push(format!("Redis queues per master: {spread}"));
        }
        for r in &self.results {
            if r.store_lag_p99_ms > s.tick_ms as f64 {
                let real_ms = r.store_lag_p99_ms / s.speed;
                notes.push(format!(
                    "{}: a p99 store operation ({real_ms:.0} ms) is {:.1} s of queue time at --speed {}, past the {} ms tick: its waits and ETA error include the store's lag; --speed {:.0} or lower keeps up",
                    r.backend,
                    r.store_lag_p99_ms / 1e3,
                    s.speed,
                    s.tick_ms,
                    (s.tick_ms as f64 / real_ms).floor().max(1.0)
                ));
            }
        }
        notes.extend(self.violations.iter().map(|v| format!("VIOLATION {v}")));
        notes
    }

    fn violations(&self) -> Vec<String> {
        self.violations.clone()
    }
}

fn figures(report: &QueueSimReport) -> Vec<Figure> {
    let seconds = |ms: i64| ms as f64 / 1000.0;
    // The queue's clock starts at the wall clock's epoch time: plot from each run's start.
    let since_start = |r: &BackendResult, t: &TickSample| {
        seconds(t.at_ms - r.timeline.first().map_or(t.at_ms, |first| first.at_ms))
    };
    let over_time = |name: &'static str, value: fn(&TickSample) -> u64| {
        report.results.iter().map(move |r| Series {
            name: format!("{} {name}", r.backend),
            points: r
                .timeline
                .iter()
                .map(|t| (since_start(r, t), Estimate::exact(value(t) as f64)))
                .collect(),
        })
    };
    let policy = &report.settings.policy;
    let mut figures = vec![
        Figure {
            name: "queue-sim-users".into(),
            title: format!("Waiting and active users over time ({policy})"),
            x: Axis::linear("simulated time (s)"),
            y: Axis::linear("users"),
            marks: Marks::Curves(
                over_time("waiting", |t| t.waiting)
                    .chain(over_time("active", |t| t.active))
                    .collect(),
            ),
            levels: report
                .results
                .iter()
                .find_map(|r| r.active_cap)
                .map(|cap| Level {
                    name: "active cap".into(),
                    value: cap as f64,
                })
                .into_iter()
                .collect(),
        },
        Figure {
            name: "queue-sim-admissions".into(),
            title: format!("Admissions per second of simulated time ({policy})"),
            x: Axis::linear("simulated time (s)"),
            y: Axis::linear("users admitted per second"),
            marks: Marks::Curves(
                report
                    .results
                    .iter()
                    .map(|r| Series {
                        name: r.backend.to_string(),
                        points: r
                            .timeline
                            .windows(2)
                            .map(|w| {
                                let span = seconds(w[1].at_ms - w[0].at_ms).max(1e-3);
                                (
                                    since_start(r, &w[1]),
                                    Estimate::exact(w[1].admitted as f64 / span),
                                )
                            })
                            .collect(),
                    })
                    .collect(),
            ),
            levels: Vec::new(),
        },
        Figure {
            name: "queue-sim-wait".into(),
            title: "Wait from entering to admission, by percentile".into(),
            x: Axis {
                label: "percentile of users (each nine gets the same room)".into(),
                scale: Scale::Percentile,
            },
            y: Axis::linear("wait (simulated s)"),
            marks: Marks::Curves(
                report
                    .results
                    .iter()
                    .map(|r| Series {
                        name: r.backend.to_string(),
                        points: r
                            .wait
                            .spectrum
                            .iter()
                            .map(|&(p, ms)| (p, Estimate::exact(ms / 1000.0)))
                            .collect(),
                    })
                    .collect(),
            ),
            levels: Vec::new(),
        },
    ];
    // Log axes: estimates can be off by orders of magnitude, and a zero cannot be drawn.
    let drawable = |r: &BackendResult| {
        r.estimates
            .iter()
            .filter(|&&(estimate, actual)| estimate > 0.0 && actual > 0.0)
            .map(|&(estimate, actual)| (actual / 1000.0, estimate / 1000.0))
            .collect::<Vec<_>>()
    };
    let all: Vec<(f64, f64)> = report.results.iter().flat_map(drawable).collect();
    let shortest = all.iter().map(|&(a, e)| a.min(e)).fold(f64::MAX, f64::min);
    let longest = all.iter().map(|&(a, e)| a.max(e)).fold(0.0, f64::max);
    if longest > 0.0 {
        let mut series: Vec<Series<(f64, f64)>> = report
            .results
            .iter()
            .map(|r| Series {
                name: format!(
                    "{} (error {})",
                    r.backend,
                    r.eta_error_pct.map_or("-".into(), |e| format!("{e:.0}%"))
                ),
                points: drawable(r),
            })
            .collect();
        // The diagonal a perfect estimate would sit on.
        series.push(Series {
            name: "estimate = actual".into(),
            points: (0..=50)
                .map(|i| {
                    let s = shortest * (longest / shortest).powf(f64::from(i) / 50.0);
                    (s, s)
                })
                .collect(),
        });
        figures.push(Figure {
            name: "queue-sim-estimates".into(),
            title: "First wait estimate against the actual wait, per user".into(),
            x: Axis::log("actual wait from the estimate to admission (simulated s, log scale)"),
            y: Axis::log("estimated wait (simulated s, log scale)"),
            marks: Marks::Scatter(series),
            levels: Vec::new(),
        });
    }
    figures
}
