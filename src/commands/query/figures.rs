//! `query`'s figures: per scenario, each variant's client and server medians with their p5-p95
//! spread beside the write-up's figures; with `--scales`, each speedup against the data size.

use super::report::{QueryReport, SweepReport};
use crate::render::plot::{Axis, Estimate, Figure, Marks, Series};

/// One figure per scenario.
pub fn variants(report: &QueryReport) -> Vec<Figure> {
    let mut scenarios: Vec<_> = report.results.iter().map(|r| r.scenario).collect();
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
                name: format!("query-{}", scenario.name()),
                title: format!("{}: median time per variant", scenario.name()),
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
pub fn sweep(report: &SweepReport) -> Vec<Figure> {
    let Some(first) = report.sweep.first() else {
        return Vec::new();
    };
    let series = first
        .comparisons
        .iter()
        .map(|c| Series {
            name: format!("{} ({} vs {})", c.scenario.name(), c.variant, c.baseline),
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
