//! `worker`'s typed report: what the process did and what it left for the others.

use schemars::JsonSchema;
use serde::Serialize;

use crate::domain::services::worker::Backlog;
use crate::domain::services::{EventCounts, Service};
use crate::render::output::{CommandReport, Table, thousands};

/// What one worker process did, and what it left for the others.
#[derive(Debug, Serialize, JsonSchema)]
pub struct WorkerReport {
    pub services: Vec<Service>,
    pub relay: bool,
    /// Parked events driven again by `--replay-parked`; null without it.
    pub replayed_parked: Option<u64>,
    pub events: EventCounts,
    pub backlog: Backlog,
}

impl CommandReport for WorkerReport {
    const COMMAND: &'static str = "worker";

    fn tables(&self) -> Vec<Table> {
        let mut done = Table::new("Worker", &["", "count"]);
        for (name, n) in self.events.rows() {
            done.push(vec![name.into(), thousands(n as f64)]);
        }
        let mut left = Table::new("Left for the workers", &["", "count"]);
        for (name, n) in self.backlog.rows() {
            left.push(vec![name.into(), thousands(n as f64)]);
        }
        vec![done, left]
    }

    fn notes(&self) -> Vec<String> {
        self.replayed_parked
            .map(|n| {
                format!("--replay-parked: {n} parked events were sent to their consumers again.")
            })
            .into_iter()
            .collect()
    }
}
