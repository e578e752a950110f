//! How users arrive at a queue: all at once, at a steady rate, or in bursts (queue time).

use std::time::Duration;

/// When users arrive, in queue time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    All,
    /// `users` per `per`, evenly spaced.
    Rate {
        users: u64,
        per: Duration,
    },
    /// `users` at once, every `per`.
    Burst {
        users: u64,
        per: Duration,
    },
}

impl std::fmt::Display for Arrival {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Arrival::All => write!(f, "all"),
            Arrival::Rate { users, per } => write!(f, "rate:{users}/{}ms", per.as_millis()),
            Arrival::Burst { users, per } => write!(f, "burst:{users}/{}ms", per.as_millis()),
        }
    }
}

impl Arrival {
    /// When the user with this (0-based) index arrives, from the start.
    pub fn offset(&self, index: u64) -> Duration {
        match *self {
            Arrival::All => Duration::ZERO,
            Arrival::Rate { users, per } => per.mul_f64(index as f64 / users as f64),
            Arrival::Burst { users, per } => per * (index / users) as u32,
        }
    }
}
