//! What `reserve` reports: what the run did (one of its modes), the audit after it, and the
//! tables rendered from them.

use schemars::JsonSchema;
use serde::Serialize;

use super::{ChargeRace, EventsSummary, StrategyResult, load};
use crate::domain::audit::Audit;
use crate::domain::booking::{Hold, Payment, Strategy};
use crate::render::output::{CommandReport, Table, thousands};
use crate::render::plot::{Axis, Estimate, Figure, Marks, Series};

#[derive(Debug, Serialize, JsonSchema)]
pub struct ReserveReport {
    #[serde(flatten)]
    pub outcome: Outcome,
    /// Every invariant, checked straight from the tables after the run.
    pub audit: Audit,
    /// Audit findings and lost charges: the run exits with 3 when there are any.
    pub violations: Vec<String>,
}

/// What the run did, by mode; its fields sit at the top of the document.
#[derive(Debug, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum Outcome {
    /// `--load`: one result per flow and strategy.
    Load {
        results: Vec<StrategyResult>,
        /// Whether a completion is a seat held and paid (false: held only, `--no-pay`).
        paid: bool,
        /// The events flow's back end (null for `--flow direct`).
        events: Option<EventsSummary>,
    },
    /// `--user --seat`: one reservation by hand.
    ByHand {
        strategy: Strategy,
        reservation: Hold,
        /// Null without `--pay`.
        payment: Option<Payment>,
        /// Whether it went through the waiting queue.
        queued: bool,
    },
    /// `--user --reservation`: a hold paid.
    Paid {
        payment: Payment,
    },
    ChargeRace {
        charge_race: ChargeRace,
    },
    /// `--sweep`: holds past their expiry released.
    Sweep {
        released: u64,
    },
    /// `--audit` alone.
    AuditOnly {},
}

impl CommandReport for ReserveReport {
    const COMMAND: &'static str = "reserve";

    fn figures(&self) -> Vec<Figure> {
        match &self.outcome {
            Outcome::Load { results, paid, .. } if !results.is_empty() => figures(results, *paid),
            _ => Vec::new(),
        }
    }

    fn tables(&self) -> Vec<Table> {
        let mut tables = match &self.outcome {
            Outcome::Load { results, paid, .. } => vec![load::table(results, *paid)],
            Outcome::ByHand {
                strategy,
                reservation,
                payment,
                ..
            } => {
                let mut table = Table::new(
                    format!("Reservation ({strategy})"),
                    &[
                        "reservation",
                        "user",
                        "seat",
                        "price",
                        "state",
                        "balance after",
                    ],
                );
                table.push(vec![
                    reservation.reservation_id.to_string(),
                    reservation.user_id.to_string(),
                    reservation.seat_id.to_string(),
                    thousands(reservation.price as f64),
                    if payment.is_some() {
                        "CONFIRMED (paid)"
                    } else {
                        "HELD (pay within the hold)"
                    }
                    .into(),
                    payment
                        .as_ref()
                        .map_or("-".into(), |p| thousands(p.balance_after as f64)),
                ]);
                vec![table]
            }
            Outcome::Paid { payment } => {
                let mut table = Table::new("Payment", &["reservation", "amount", "balance after"]);
                table.push(vec![
                    payment.reservation_id.to_string(),
                    thousands(payment.amount as f64),
                    thousands(payment.balance_after as f64),
                ]);
                vec![table]
            }
            Outcome::ChargeRace { charge_race } => vec![one_row(
                "Charge race",
                "lost updates",
                charge_race.lost_updates.max(0) as u64,
            )],
            Outcome::Sweep { released } => vec![one_row("Sweeper", "released holds", *released)],
            Outcome::AuditOnly {} => Vec::new(),
        };
        let mut audit = Table::new(
            "Audit (straight from the tables)",
            &["check", "offending rows"],
        );
        for (check, n) in self.audit.checks() {
            audit.push(vec![check, n.to_string()]);
        }
        tables.push(audit);
        tables
    }

    fn notes(&self) -> Vec<String> {
        self.violations
            .iter()
            .map(|v| format!("VIOLATION {v}"))
            .collect()
    }

    fn violations(&self) -> Vec<String> {
        self.violations.clone()
    }
}

fn one_row(title: &str, what: &str, n: u64) -> Table {
    let mut table = Table::new(title, &["", "count"]);
    table.push(vec![what.into(), thousands(n as f64)]);
    table
}

/// Throughput and latency per flow and strategy; on the hot seat, the time to its one winner.
/// The throughput is what the table's `completed/s` is (completions over the steady window),
/// labelled by what completed means under `paid`. The raw-SQL anchors
/// (`scripts/bench-reserve.sh`: mysqlslap with the same statements) run outside the tool, so
/// their figures are in docs/results.md, not here.
fn figures(results: &[StrategyResult], paid: bool) -> Vec<Figure> {
    let names: Vec<String> = results
        .iter()
        .map(|r| format!("{} {}", r.flow, r.strategy))
        .collect();
    let scenario = &results[0].scenario;
    let users = results[0].attempts;
    let mut figures = vec![
        Figure {
            name: "reserve-throughput".into(),
            title: format!("Completed reservations per second, {scenario} seats, {users} users"),
            x: Axis::linear("flow and strategy"),
            y: Axis::linear("completed per second (steady window)"),
            marks: Marks::Categories {
                names: names.clone(),
                series: vec![Series {
                    name: if paid {
                        "held and paid".into()
                    } else {
                        "held (--no-pay)".into()
                    },
                    points: results
                        .iter()
                        .map(|r| Some(Estimate::exact(r.throughput_per_second)))
                        .collect(),
                }],
            },
            levels: Vec::new(),
        },
        Figure {
            name: "reserve-latency".into(),
            title: format!("Latency per attempt, {scenario} seats"),
            x: Axis::linear("flow and strategy"),
            y: Axis::log("latency (ms, log scale)"),
            marks: Marks::Categories {
                names: names.clone(),
                series: [("p50", 50.0), ("p99", 99.0)]
                    .into_iter()
                    .map(|(name, p)| Series {
                        name: name.into(),
                        points: results
                            .iter()
                            .map(|r| r.latency.at(p).map(Estimate::exact))
                            .collect(),
                    })
                    .collect(),
            },
            levels: Vec::new(),
        },
    ];
    if scenario == "hot" {
        figures.push(Figure {
            name: "reserve-hot-seat".into(),
            title: "One hot seat: time from request to the single winner's confirmation".into(),
            x: Axis::linear("flow and strategy"),
            y: Axis::log("ms (log scale)"),
            marks: Marks::Categories {
                names,
                series: vec![
                    Series {
                        name: "the winner, request to confirmed".into(),
                        points: results
                            .iter()
                            .map(|r| r.e2e.as_ref().map(|l| Estimate::exact(l.max_ms)))
                            .collect(),
                    },
                    Series {
                        name: "every attempt, p99".into(),
                        points: results
                            .iter()
                            .map(|r| r.latency.at(99.0).map(Estimate::exact))
                            .collect(),
                    },
                ],
            },
            levels: Vec::new(),
        });
    }
    figures
}
