//! How users arrive at a queue: all at once, at a steady rate, or in bursts (queue time).

use std::time::Duration;

use super::{MAX_COUNT, parse_period};

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

impl std::str::FromStr for Arrival {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let usage = "expected all, rate:N/PERIOD or burst:N/PERIOD (e.g. rate:500/1s)";
        if raw == "all" {
            return Ok(Arrival::All);
        }
        let (kind, spec) = raw
            .split_once(':')
            .ok_or_else(|| format!("{raw:?}: {usage}"))?;
        let (n, per) = spec
            .split_once('/')
            .ok_or_else(|| format!("{raw:?}: {usage}"))?;
        let users = match n.parse::<u64>() {
            Ok(n) if (1..=MAX_COUNT).contains(&n) => n,
            _ => {
                return Err(format!(
                    "{raw:?}: the count must be a whole number from 1 to {MAX_COUNT}"
                ));
            }
        };
        let per = parse_period(per).map_err(|e| format!("{raw:?}: {e}"))?;
        match kind {
            "rate" => Ok(Arrival::Rate { users, per }),
            "burst" => Ok(Arrival::Burst { users, per }),
            _ => Err(format!("{raw:?}: {usage}")),
        }
    }
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
