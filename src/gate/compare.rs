//! Two documents of one command, metric by metric.
//!
//! A metric is found by walking the document: every latency object (`p50_ms` with its
//! `count`) is one, judged on its median, lower is better; every rate (`*_per_second`,
//! `throughput_rps`) is one, higher is better; every speedup of one variant over another
//! measured in the same run (`query`'s `comparisons[].speedup`, with its interval) is one,
//! higher is better. Those ratios are what a noisy machine moves least: drift between runs
//! hits both sides of a ratio alike. Array elements are named by the fields that
//! identify them (`results[concert_detail/week8].client`), so two runs pair up by meaning, not
//! by position. Anchors (redis-benchmark) and ratios are not the tool's own measurements and
//! are left out.

use schemars::JsonSchema;
use serde::Serialize;
use serde_json::Value;

use super::BaselineError;
use crate::measure::stats::{Samples, speedup};
use crate::render::output::{CommandReport, Table};

/// Fields that name an element of a results array.
const IDENTITY: [&str; 9] = [
    "scenario",
    "variant",
    "workload",
    "strategy",
    "invalidation",
    "flow",
    "backend",
    "table",
    "protection",
];
/// A rate measured over less time than this never gets a verdict.
const MIN_RATE_SECONDS: f64 = 0.1;
/// Parts of a document that are not the run's own measurements (`comparisons` are read for
/// their speedups only).
const NOT_MEASURED: [&str; 5] = ["anchor", "anchors", "settings", "sizes", "audit"];

/// Noise thresholds: a change smaller than these is never a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, JsonSchema)]
pub struct Thresholds {
    pub latency_pct: f64,
    pub rate_pct: f64,
    pub ratio_pct: f64,
    /// A latency change smaller than this many milliseconds is noise whatever its percent:
    /// a server time of 0.001 ms against 0.006 ms is +500% and means nothing.
    pub latency_floor_ms: f64,
}

impl Thresholds {
    /// The defaults, from back-to-back runs on this project's 2-core machine (docs/ci.md,
    /// "Regression gate"): the largest change between two unchanged runs, with a margin.
    pub const DEFAULT: Thresholds = Thresholds {
        latency_pct: 150.0,
        rate_pct: 50.0,
        ratio_pct: 25.0,
        latency_floor_ms: 0.05,
    };

    /// `cache-bench`'s: its cells are 3-second windows of 50 clients sharing two cores with
    /// Redis and the database, and each cell drifts on its own (not the whole run together,
    /// so a ratio between cells is no steadier). Ten unchanged runs moved a cell's throughput
    /// by up to a factor of 2.24 and its median latency by up to 3.1 (docs/ci.md).
    pub const CACHE_BENCH: Thresholds = Thresholds {
        latency_pct: 250.0,
        rate_pct: 150.0,
        ..Self::DEFAULT
    };

    /// `reserve --load`'s: a spread load's throughput moved by a factor of up to 1.69 between
    /// ten unchanged runs (each on a fresh seed), two cores shared by 64 clients and the
    /// database (docs/ci.md).
    pub const RESERVE: Thresholds = Thresholds {
        rate_pct: 100.0,
        ..Self::DEFAULT
    };

    /// The defaults of a command, or `pct` for every kind of metric (`--noise-threshold`).
    pub fn for_command(command: &str, pct: Option<f64>) -> Self {
        let defaults = match command {
            "cache-bench" => Self::CACHE_BENCH,
            "reserve" => Self::RESERVE,
            _ => Self::DEFAULT,
        };
        pct.map_or(defaults, |p| Thresholds {
            latency_pct: p,
            rate_pct: p,
            ratio_pct: p,
            ..defaults
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Improved,
    Unchanged,
    Regressed,
    /// Too few measurements to say either way (the reason is in the metric's `reason`): never
    /// "unchanged", which would claim what was not shown.
    NotJudged,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Lower,
    Higher,
}

/// One metric, old against new.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct MetricChange {
    pub metric: String,
    /// `latency_p50_ms`, `rate_per_second` or `ratio` (a speedup measured within one run).
    pub unit: &'static str,
    pub better: Better,
    /// Each run's figure as its document reports it (a latency's median from its whole
    /// histogram).
    pub old: f64,
    pub new: f64,
    /// The change the verdict rests on: for a latency with samples on both sides, the ratio
    /// of the medians of those samples (the same samples as its interval); else new / old.
    pub change_pct: f64,
    /// Bootstrap 95% interval of the change, of the noise within the two runs (it does not
    /// cover drift between runs on another day or machine): for latencies from their samples,
    /// for speedups from each run's own interval; null for a single number (a rate).
    pub ci95_pct: Option<[f64; 2]>,
    pub threshold_pct: f64,
    pub verdict: Verdict,
    /// Why a metric was not judged.
    pub reason: Option<String>,
}

/// `compare`'s document (and the `baseline_comparison` of a run given `--baseline`).
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct CompareReport {
    /// The command both documents are of.
    pub of: String,
    pub old: String,
    pub new: String,
    pub thresholds: Thresholds,
    /// What differs between the runs (compared anyway under `--allow-mismatch`).
    pub mismatches: Vec<String>,
    pub metrics: Vec<MetricChange>,
    pub regressed: usize,
    pub improved: usize,
    /// Metrics with too few measurements for a verdict.
    pub not_judged: usize,
}

impl CompareReport {
    pub fn regressions(&self) -> Vec<String> {
        self.metrics
            .iter()
            .filter(|m| m.verdict == Verdict::Regressed)
            .map(|m| format!("{} {:+.1}%", m.metric, m.change_pct))
            .collect()
    }
}

struct Metric {
    name: String,
    /// How many measurements a latency summarises, or completions a rate counts where the
    /// document says (`succeeded`); null otherwise.
    count: Option<u64>,
    unit: &'static str,
    better: Better,
    value: f64,
    samples: Vec<f64>,
    /// A ratio's own 95% interval, from the run that measured it.
    interval: Option<[f64; 2]>,
    /// A rate over less than [`MIN_RATE_SECONDS`]: never judged.
    too_short: bool,
}

fn interval(value: &Value) -> Option<[f64; 2]> {
    Some([value.get(0)?.as_f64()?, value.get(1)?.as_f64()?])
}

/// A document's metrics, and the paths it reports as null (a latency over no users, say).
#[derive(Default)]
struct Walked {
    metrics: Vec<Metric>,
    nulls: Vec<String>,
}

fn walked(doc: &Value) -> Walked {
    let mut out = Walked::default();
    walk(doc, String::new(), &mut out);
    out
}

fn walk(value: &Value, path: String, out: &mut Walked) {
    match value {
        Value::Object(map) if map.contains_key("p50_ms") && map.contains_key("count") => {
            if let Some(p50) = map["p50_ms"].as_f64() {
                let samples = map
                    .get("sample_ms")
                    .and_then(Value::as_array)
                    .map(|s| s.iter().filter_map(Value::as_f64).collect())
                    .unwrap_or_default();
                out.metrics.push(Metric {
                    name: path,
                    count: map["count"].as_u64(),
                    unit: "latency_p50_ms",
                    better: Better::Lower,
                    value: p50,
                    samples,
                    interval: None,
                    too_short: false,
                });
            }
        }
        Value::Object(map) => {
            for (key, child) in map {
                if NOT_MEASURED.contains(&key.as_str()) {
                    continue;
                }
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                let too_short = map
                    .get("seconds")
                    .and_then(Value::as_f64)
                    .is_some_and(|s| s < MIN_RATE_SECONDS);
                let is_rate = key.ends_with("_per_second") || key == "throughput_rps";
                let is_speedup = key == "speedup" && path.starts_with("comparisons[");
                match child.as_f64() {
                    Some(v) if is_rate || is_speedup => out.metrics.push(Metric {
                        name: here,
                        count: if is_rate {
                            map.get("succeeded").and_then(Value::as_u64)
                        } else {
                            None
                        },
                        // A rate over less than 100 ms (seed's 100-row tables) is timer
                        // noise: kept, so both runs list it, but never a verdict.
                        too_short: is_rate && too_short,
                        unit: if is_rate { "rate_per_second" } else { "ratio" },
                        better: Better::Higher,
                        value: v,
                        samples: Vec::new(),
                        interval: if is_speedup {
                            interval(&map["ci95"])
                        } else {
                            None
                        },
                    }),
                    _ => walk(child, here, out),
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let label: Vec<String> = IDENTITY
                    .iter()
                    .filter_map(|k| item.get(*k).filter(|v| !v.is_null()))
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
                    .collect();
                let label = if label.is_empty() {
                    i.to_string()
                } else {
                    label.join("/")
                };
                walk(item, format!("{path}[{label}]"), out);
            }
        }
        Value::Null => out.nulls.push(path),
        _ => {}
    }
}

/// Every metric of `old` against `new`, paired by name. A metric one side reports as null
/// is left out and named in `mismatches`; any other metric on one side only is refused (the runs did not measure the same things), unless `mismatches` were allowed and
/// both sides have as many metrics: then they pair in order (a cell of one strategy against
/// the same cell of another), named `old -> new`.
pub fn compare(
    old: &Value,
    new: &Value,
    names: (&str, &str),
    thresholds: Thresholds,
    mut mismatches: Vec<String>,
    allow_mismatch: bool,
) -> Result<CompareReport, BaselineError> {
    let (old_walked, new_walked) = (walked(old), walked(new));
    // Measured in one run and null in the other (no user reached confirmation, say): there
    // is nothing to compare, which is said, not refused as a different kind of run.
    let (old_nulls, new_nulls) = (old_walked.nulls, new_walked.nulls);
    let old_metrics = comparable(old_walked.metrics, &new_nulls, names.0, &mut mismatches);
    let new_metrics = comparable(new_walked.metrics, &old_nulls, names.1, &mut mismatches);
    let unpaired = |side: &[Metric], other: &[Metric]| {
        side.iter()
            .find(|m| !other.iter().any(|o| o.name == m.name))
            .map(|m| m.name.clone())
    };
    let missing = unpaired(&old_metrics, &new_metrics)
        .map(|m| (m, names.0, names.1))
        .or_else(|| unpaired(&new_metrics, &old_metrics).map(|m| (m, names.1, names.0)));
    let pairs: Vec<(&Metric, &Metric)> = match missing {
        None => old_metrics
            .iter()
            .map(|o| {
                let n = new_metrics.iter().find(|n| n.name == o.name);
                (o, n.expect("every metric has its pair"))
            })
            .collect(),
        Some(_) if allow_mismatch && old_metrics.len() == new_metrics.len() => {
            old_metrics.iter().zip(&new_metrics).collect()
        }
        Some((metric, has, lacks)) => {
            return Err(BaselineError::MissingMetric {
                lacks: lacks.to_string(),
                has: has.to_string(),
                metric,
            });
        }
    };
    let metrics: Vec<MetricChange> = pairs
        .into_iter()
        .map(|(o, n)| judge(o, n, thresholds))
        .collect();
    let count = |v: Verdict| metrics.iter().filter(|m| m.verdict == v).count();
    Ok(CompareReport {
        of: new["command"].as_str().unwrap_or_default().to_string(),
        old: names.0.to_string(),
        new: names.1.to_string(),
        thresholds,
        mismatches,
        regressed: count(Verdict::Regressed),
        improved: count(Verdict::Improved),
        not_judged: count(Verdict::NotJudged),
        metrics,
    })
}

/// The metrics of one run that the other did not report as null; those it did are named in
/// `mismatches` as measured in `run` only.
fn comparable(
    metrics: Vec<Metric>,
    null_in_other: &[String],
    run: &str,
    mismatches: &mut Vec<String>,
) -> Vec<Metric> {
    let (one_sided, kept): (Vec<Metric>, Vec<Metric>) = metrics
        .into_iter()
        .partition(|m| null_in_other.contains(&m.name));
    mismatches.extend(
        one_sided
            .iter()
            .map(|m| format!("{}: measured in {run} only, not compared", m.name)),
    );
    kept
}

/// The fewest measurements (or completions, for a rate) a metric needs on each side before
/// it is judged.
const MIN_LATENCY_COUNT: u64 = 10;

/// Criterion's rule: a metric regressed (or improved) only when the whole 95% interval of its
/// change lies past the noise threshold, the point estimate and the interval coming from the
/// same samples. A rate is one number with no interval: its change itself must pass. A
/// latency change under the millisecond floor is unchanged whatever its percentage, and a
/// metric with fewer than [`MIN_LATENCY_COUNT`] measurements on a side is not judged.
fn judge(old: &Metric, new: &Metric, thresholds: Thresholds) -> MetricChange {
    let threshold_pct = match old.unit {
        "rate_per_second" => thresholds.rate_pct,
        "ratio" => thresholds.ratio_pct,
        _ => thresholds.latency_pct,
    };
    let point_pct = if old.value > 0.0 {
        (new.value / old.value - 1.0) * 100.0
    } else {
        0.0
    };
    // speedup(old, new) = old median / new median; the change is its inverse, less one.
    let from_samples = (!old.samples.is_empty() && !new.samples.is_empty())
        .then(|| {
            speedup(
                &Samples::from_ms(&old.samples),
                &Samples::from_ms(&new.samples),
            )
        })
        .flatten();
    let (change_pct, ci95_pct) = match from_samples {
        Some(s) => (
            (1.0 / s.speedup - 1.0) * 100.0,
            Some([
                (1.0 / s.ci95[1] - 1.0) * 100.0,
                (1.0 / s.ci95[0] - 1.0) * 100.0,
            ]),
        ),
        // Two ratios, each with its interval: the change's interval from their ends (the
        // widest the change can be, given both).
        None => (
            point_pct,
            match (old.interval, new.interval) {
                (Some([old_lo, old_hi]), Some([new_lo, new_hi]))
                    if old_lo > 0.0 && old_hi > 0.0 =>
                {
                    Some([
                        (new_lo / old_hi - 1.0) * 100.0,
                        (new_hi / old_lo - 1.0) * 100.0,
                    ])
                }
                _ => None,
            },
        ),
    };
    // A median of a handful of measurements, or a rate of a handful of completions (the hot
    // seat's one winner), is evidence of nothing: ten unchanged hot-seat runs moved the
    // winner's time by up to 500% and its rate from 1 to 0 completions.
    let reason = if old.too_short || new.too_short {
        Some(format!(
            "measured over less than {} ms: timer noise",
            MIN_RATE_SECONDS * 1e3
        ))
    } else {
        let counts = [old.count, new.count];
        counts
            .iter()
            .any(|c| c.is_some_and(|c| c < MIN_LATENCY_COUNT))
            .then(|| {
                format!(
                    "too few measurements ({} and {}; a verdict needs {MIN_LATENCY_COUNT} on each side)",
                    old.count.unwrap_or(0),
                    new.count.unwrap_or(0)
                )
            })
    };
    let above_floor = old.unit != "latency_p50_ms"
        || (new.value - old.value).abs() >= thresholds.latency_floor_ms;
    // A threshold of t% is a factor of 1 + t/100 either way, so it means the same for a
    // slowdown and a speedup (a latency can fall by at most 100%): the change must pass
    // `up` to be a rise, `down` to be a fall.
    let factor = 1.0 + threshold_pct / 100.0;
    let (up, down) = ((factor - 1.0) * 100.0, (1.0 / factor - 1.0) * 100.0);
    let [lo, hi] = ci95_pct.unwrap_or([change_pct, change_pct]);
    let (rose, fell) = (lo > up, hi < down);
    let verdict = match (&reason, old.better) {
        (Some(_), _) => Verdict::NotJudged,
        _ if !above_floor => Verdict::Unchanged,
        (None, Better::Lower) if rose => Verdict::Regressed,
        (None, Better::Lower) if fell => Verdict::Improved,
        (None, Better::Higher) if fell => Verdict::Regressed,
        (None, Better::Higher) if rose => Verdict::Improved,
        _ => Verdict::Unchanged,
    };
    MetricChange {
        metric: if old.name == new.name {
            old.name.clone()
        } else {
            format!("{} -> {}", old.name, new.name)
        },
        unit: old.unit,
        better: old.better,
        old: old.value,
        new: new.value,
        change_pct,
        ci95_pct,
        threshold_pct,
        verdict,
        reason,
    }
}

impl CommandReport for CompareReport {
    const COMMAND: &'static str = "compare";

    fn tables(&self) -> Vec<Table> {
        let mut table = Table::new(
            format!("{}: {} -> {}", self.of, self.old, self.new),
            &["metric", "old", "new", "change [95% CI]", "verdict"],
        );
        for m in &self.metrics {
            let ci = m
                .ci95_pct
                .map_or(String::new(), |[lo, hi]| format!(" [{lo:+.1}%, {hi:+.1}%]"));
            let unit = if m.unit == "rate_per_second" {
                "/s"
            } else {
                " ms"
            };
            table.push(vec![
                m.metric.clone(),
                format!("{:.3}{unit}", m.old),
                format!("{:.3}{unit}", m.new),
                format!("{:+.1}%{ci}", m.change_pct),
                match (m.verdict, &m.reason) {
                    (Verdict::Improved, _) => "improved".into(),
                    (Verdict::Unchanged, _) => "unchanged".into(),
                    (Verdict::Regressed, _) => "REGRESSED".into(),
                    (Verdict::NotJudged, Some(why)) => format!("not judged: {why}"),
                    (Verdict::NotJudged, None) => "not judged".into(),
                },
            ]);
        }
        vec![table]
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = vec![format!(
            "{} regressed, {} improved, {} unchanged, {} not judged (too few measurements) · a verdict needs the whole 95% interval of the change past the noise threshold; intervals cover the noise within the two runs, not drift between days or machines · noise thresholds: {}% (and {} ms) for latencies (the median, with a bootstrap interval), {}% for rates (one number each, no interval), {}% for speedups within a run (with their intervals)",
            self.regressed,
            self.improved,
            self.metrics.len() - self.regressed - self.improved - self.not_judged,
            self.not_judged,
            self.thresholds.latency_pct,
            self.thresholds.latency_floor_ms,
            self.thresholds.rate_pct,
            self.thresholds.ratio_pct
        )];
        notes.extend(self.mismatches.iter().map(|m| format!("differs: {m}")));
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn latency(center: f64) -> Value {
        let samples: Vec<f64> = (0..200)
            .map(|i| center * (0.95 + (i % 10) as f64 / 100.0))
            .collect();
        json!({"count": 200, "p50_ms": center, "sample_ms": samples})
    }

    fn doc(p50: f64, rate: f64) -> Value {
        json!({"schema_version": 1, "command": "query",
               "results": [{"scenario": "concert_detail", "variant": "week8", "client": latency(p50)}],
               "throughput_per_second": rate,
               "anchor": {"ops_per_second": 1.0}})
    }

    #[test]
    fn metrics_are_named_by_meaning_and_anchors_are_left_out() {
        let names: Vec<String> = walked(&doc(2.0, 100.0))
            .metrics
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(
            names,
            [
                "results[concert_detail/week8].client",
                "throughput_per_second"
            ]
        );
    }

    #[test]
    fn a_large_significant_slowdown_regresses_and_noise_does_not() {
        let t = Thresholds::DEFAULT;
        let same = compare(
            &doc(2.0, 100.0),
            &doc(2.1, 95.0),
            ("a", "b"),
            t,
            vec![],
            false,
        )
        .unwrap();
        assert_eq!(same.regressed, 0, "{same:?}");
        let slow = compare(
            &doc(2.0, 100.0),
            &doc(6.0, 50.0),
            ("a", "b"),
            t,
            vec![],
            false,
        )
        .unwrap();
        assert_eq!(slow.regressed, 2, "{slow:?}");
        let [lo, hi] = slow.metrics[0].ci95_pct.unwrap();
        assert!(lo > 0.0 && lo <= 200.0 && 200.0 <= hi, "{lo} {hi}");
        let fast = compare(
            &doc(6.0, 50.0),
            &doc(2.0, 100.0),
            ("a", "b"),
            t,
            vec![],
            false,
        )
        .unwrap();
        assert_eq!((fast.regressed, fast.improved), (0, 2));
    }

    #[test]
    fn a_median_of_too_few_measurements_never_regresses() {
        let one = |ms: f64| {
            let mut d = doc(ms, 100.0);
            d["results"][0]["client"] = json!({"count": 1, "p50_ms": ms, "sample_ms": [ms]});
            d
        };
        let compared = compare(
            &one(2.0),
            &one(10.0),
            ("a", "b"),
            Thresholds::DEFAULT,
            vec![],
            false,
        )
        .unwrap();
        assert_eq!(compared.regressed, 0, "{compared:?}");
        assert!(compared.metrics[0].change_pct > 300.0);
        // Not judged, and said so: "unchanged" would claim what one measurement cannot show.
        assert_eq!(compared.metrics[0].verdict, Verdict::NotJudged);
        assert!(
            compared.metrics[0]
                .reason
                .as_deref()
                .is_some_and(|r| r.contains("too few measurements (1 and 1")),
            "{compared:?}"
        );
        assert!(compared.not_judged >= 1);
        // One winner, then none (refused for want of points): a rate of nothing.
        let hot = |succeeded: u64, rate: f64| {
            json!({"schema_version": 1, "command": "reserve", "results": [{"strategy": "conditional",
                   "succeeded": succeeded, "seconds": 0.2, "throughput_per_second": rate}]})
        };
        let compared = compare(
            &hot(1, 5.0),
            &hot(0, 0.0),
            ("a", "b"),
            Thresholds::RESERVE,
            vec![],
            false,
        )
        .unwrap();
        assert_eq!(compared.regressed, 0, "{compared:?}");
        // A 100-row table loaded in 50 ms, then (slowed) in 200 ms: listed on both sides,
        // judged on neither.
        let table = |seconds: f64| {
            json!({"schema_version": 1, "command": "seed", "tables": [{"table": "performance",
                   "seconds": seconds, "rows_per_second": 100.0 / seconds}]})
        };
        let compared = compare(
            &table(0.05),
            &table(0.2),
            ("a", "b"),
            Thresholds::DEFAULT,
            vec![],
            false,
        )
        .unwrap();
        assert_eq!((compared.metrics.len(), compared.regressed), (1, 0));
        assert_eq!(compared.metrics[0].verdict, Verdict::NotJudged);
        assert_eq!(compared.not_judged, 1);
    }

    /// Latencies as a baseline stores them: a median and the samples it came from.
    fn latency_doc(samples: &[f64], p50: f64) -> Value {
        json!({"schema_version": 1, "command": "query", "results": [{"scenario": "s", "variant": "v",
               "client": {"count": samples.len(), "p50_ms": p50, "sample_ms": samples}}]})
    }

    /// Criterion's rule: the whole interval past the threshold. A change whose point passes
    /// the threshold but whose interval reaches back under it is not a regression (the old
    /// rule, point past the threshold and interval excluding zero, called it one).
    #[test]
    fn a_regression_needs_the_whole_interval_past_the_threshold() {
        let t = Thresholds {
            latency_pct: 100.0,
            latency_floor_ms: 0.0,
            ..Thresholds::DEFAULT
        };
        let old: Vec<f64> = (0..40).map(|i| 10.0 + (i % 4) as f64 * 0.1).collect();
        // Bimodal: the median lands near 23 ms (a 2.3x change), but half the samples sit at
        // 12 ms, so resamples reach well under 2x.
        let new: Vec<f64> = (0..40)
            .map(|i| {
                if i % 2 == 0 {
                    12.0
                } else {
                    23.0 + (i % 3) as f64 * 0.1
                }
            })
            .collect();
        let compared = compare(
            &latency_doc(&old, 10.1),
            &latency_doc(&new, 23.0),
            ("a", "b"),
            t,
            vec![],
            false,
        )
        .unwrap();
        let m = &compared.metrics[0];
        let [lo, hi] = m.ci95_pct.unwrap();
        assert!(lo < 100.0 && hi > 100.0 && lo > 0.0, "{m:?}");
        assert_eq!(m.verdict, Verdict::Unchanged, "{m:?}");
        // The same slowdown without the second mode: the whole interval is past 100%.
        let clear: Vec<f64> = (0..40).map(|i| 23.0 + (i % 3) as f64 * 0.1).collect();
        let compared = compare(
            &latency_doc(&old, 10.1),
            &latency_doc(&clear, 23.0),
            ("a", "b"),
            t,
            vec![],
            false,
        )
        .unwrap();
        assert_eq!(
            compared.metrics[0].verdict,
            Verdict::Regressed,
            "{compared:?}"
        );
    }

    /// The change and its interval come from the same samples: a document whose median (from
    /// its whole histogram) disagrees with its kept samples is judged on the samples.
    #[test]
    fn the_change_comes_from_the_same_samples_as_its_interval() {
        let t = Thresholds {
            latency_pct: 100.0,
            latency_floor_ms: 0.0,
            ..Thresholds::DEFAULT
        };
        let old: Vec<f64> = vec![10.0; 30];
        let new: Vec<f64> = vec![11.0; 30];
        // The histogram's median says 3x; the samples say 1.1x.
        let compared = compare(
            &latency_doc(&old, 10.0),
            &latency_doc(&new, 30.0),
            ("a", "b"),
            t,
            vec![],
            false,
        )
        .unwrap();
        let m = &compared.metrics[0];
        assert!((m.change_pct - 10.0).abs() < 0.5, "{m:?}");
        assert_eq!(m.verdict, Verdict::Unchanged, "{m:?}");
    }

    #[test]
    fn a_metric_null_in_one_run_is_left_out_and_named() {
        let mut none_confirmed = doc(2.0, 100.0);
        none_confirmed["results"][0]["client"] = Value::Null;
        let compared = compare(
            &doc(2.0, 100.0),
            &none_confirmed,
            ("old.json", "new.json"),
            Thresholds::DEFAULT,
            vec![],
            false,
        )
        .unwrap();
        assert_eq!(compared.metrics.len(), 1, "only the rate is compared");
        assert_eq!(
            compared.mismatches,
            ["results[concert_detail/week8].client: measured in old.json only, not compared"]
        );
    }

    #[test]
    fn a_metric_on_one_side_only_is_refused() {
        let mut other = doc(2.0, 100.0);
        other["results"][0]["variant"] = json!("advised");
        let err = compare(
            &doc(2.0, 100.0),
            &other,
            ("old.json", "new.json"),
            Thresholds::DEFAULT,
            vec![],
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("new.json") && err.contains("results[concert_detail/week8].client"),
            "{err}"
        );
        let paired = compare(
            &doc(2.0, 100.0),
            &other,
            ("a", "b"),
            Thresholds::DEFAULT,
            vec![],
            true,
        )
        .unwrap();
        assert_eq!(
            paired.metrics[0].metric,
            "results[concert_detail/week8].client -> results[concert_detail/advised].client"
        );
    }
}
