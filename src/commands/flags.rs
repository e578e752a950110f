//! Bounds and value parsers that several commands' flags share. Every numeric flag is
//! bounded in its parser, so nonsense is a usage error (exit 2) before any work starts.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use crate::context::Context;
use crate::domain::queue::{Arrival, Policy};
use crate::index_lab::slow_log;
use crate::index_lab::workload::Workload;
use crate::storage::db::Database;
use crate::storage::group::ReadFrom;

/// `--plot`, on every command that draws figures (query, explain, cache-bench, queue-sim,
/// reserve).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Figures")]
pub struct PlotArgs {
    /// Also write this run's figures as SVG files into DIR (created if missing), each with
    /// the command line that made it as its caption.
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
}

/// `--workload`, `--scenario` and `--rng-seed`, on `query` and `explain`: which statements
/// run, and the seed of the parameter values drawn for them.
#[derive(Debug, Clone, Default, Args, serde::Serialize)]
#[command(next_help_heading = "Workload")]
pub struct WorkloadArgs {
    /// A workload file: named SELECTs with parameters drawn from the data (see
    /// workloads/week8.sql, the built-in one, and docs/workloads.md). Default: the write-up's
    /// six week-8 scenarios.
    #[arg(long, value_name = "FILE", group = "source")]
    pub workload: Option<PathBuf>,

    /// A MySQL or MariaDB slow query log: its top SELECT fingerprints by total time, in the
    /// database of --database-url, each run with the literals its executions bound.
    #[arg(long, value_name = "FILE", group = "source")]
    pub slow_log: Option<PathBuf>,

    /// The server's statement digests (performance_schema, MySQL 8+): its top SELECTs by
    /// total time, each run with the sample the server kept.
    #[arg(long, group = "source")]
    pub digest: bool,

    /// How many statements --slow-log and --digest take, by total time.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub top: u64,

    /// A statement of the workload to run, by name (repeatable; default: all of them).
    #[arg(long = "scenario", value_name = "NAME")]
    pub scenarios: Vec<String>,

    /// Seed of the parameter values drawn per execution: the same seed, the same values.
    #[arg(long, default_value_t = 42)]
    pub rng_seed: u64,

    /// Also time a workload file's UPDATE and DELETE statements. Each execution (and each
    /// ANALYZE) runs in a transaction that is rolled back, so the data stays as it was; the
    /// rows it touches are locked meanwhile, so run it on a copy, not under live traffic.
    #[arg(long)]
    pub allow_writes: bool,
}

impl WorkloadArgs {
    /// The workload (a file, a slow log, the digest table, or the built-in one), cut to the
    /// named statements. Only --digest connects, to read the digest table.
    pub async fn load(&self, ctx: &Context) -> anyhow::Result<Workload> {
        let top = self.top as usize;
        let workload = if let Some(path) = &self.workload {
            Workload::load(path)?
        } else if let Some(path) = &self.slow_log {
            // A log holds whatever the server ran, binary values too: those bytes are replaced
            // (such a statement cannot be replayed anyway), the rest is read.
            let bytes = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("cannot read the slow log {}: {e}", path.display()))?;
            let text = String::from_utf8_lossy(&bytes);
            slow_log::from_slow_log(
                &text,
                &path.display().to_string(),
                ctx.database.database(),
                top,
            )?
        } else if self.digest {
            let db = Database::connect(&ctx.database, 1).await?;
            slow_log::from_digest(&db.pool, &db.server, ctx.database.database(), top).await?
        } else {
            Workload::week8()
        };
        if !self.allow_writes {
            workload.require_reads_only()?;
        }
        workload.select(&self.scenarios)
    }
}

/// `--read-from`, on `query` and `cache-bench`: where their database reads go.
#[derive(Debug, Clone, Copy, Default, Args, serde::Serialize)]
pub struct ReadFromArgs {
    /// Where the database reads go: `primary` (the server, or the group member that takes
    /// the writes) or `replicas` (a secondary of the group --database-url lists, reading
    /// what it has applied so far, as an application reading from replicas does). Writes
    /// always go to the primary.
    #[arg(long, value_enum, default_value_t)]
    pub read_from: ReadFrom,
}

pub const HOUR: Duration = Duration::from_secs(3600);
pub const DAY: Duration = Duration::from_secs(24 * 3600);
/// Simulated users at most (`reserve --load`, `queue-sim`): the seed's and the simulator's
/// memory budget.
pub const MAX_USERS: u64 = 10_000_000;

/// The largest id a flag takes: ids are signed 64-bit in the database.
pub const MAX_ID: u64 = i64::MAX.unsigned_abs();

/// `--policy`/`--queue-policy`: `capacity:1000`, `rate:100/1s`, `rate:50/500ms`.
pub fn parse_policy(raw: &str) -> Result<Policy, String> {
    let usage = "expected capacity:N or rate:N/PERIOD (e.g. capacity:1000, rate:100/1s)";
    let (kind, spec) = raw
        .split_once(':')
        .ok_or_else(|| format!("{raw:?}: {usage}"))?;
    let positive = |n: &str| match n.trim().parse::<u64>() {
        Ok(0) => Err(format!("{raw:?}: the count must be at least 1")),
        Ok(n) if n > MAX_COUNT => Err(format!("{raw:?}: the count must be at most {MAX_COUNT}")),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{raw:?}: {n:?} is not a whole number; {usage}")),
    };
    match kind {
        "capacity" => Ok(Policy::Capacity {
            active: positive(spec)?,
        }),
        "rate" => {
            let (n, per) = spec
                .split_once('/')
                .ok_or_else(|| format!("{raw:?}: {usage}"))?;
            let per = parse_period(per).map_err(|e| format!("{raw:?}: {e}"))?;
            Ok(Policy::Rate {
                admit: positive(n)?,
                per,
            })
        }
        _ => Err(format!("{raw:?}: unknown policy {kind:?}; {usage}")),
    }
}

/// `--arrival`: `all`, `rate:N/PERIOD` or `burst:N/PERIOD`.
pub fn parse_arrival(raw: &str) -> Result<Arrival, String> {
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

/// A positive duration such as `300s`, `5m`, `250ms` or `1h`.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
        .ok_or_else(|| format!("{raw:?} needs a unit (ms, s, m or h)"))?;
    let (number, unit) = raw.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{raw:?} is not a duration such as 300s or 250ms"))?;
    let seconds = match unit {
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        "h" => value * 3600.0,
        _ => return Err(format!("{raw:?}: unknown unit {unit:?} (ms, s, m or h)")),
    };
    if !(seconds.is_finite() && seconds >= 0.001) {
        return Err(format!("{raw:?} must be at least 1ms"));
    }
    // Past a year every duration here is a typo, and far past it `Duration` overflows.
    if seconds > MAX_DURATION.as_secs_f64() {
        return Err(format!("{raw:?} is more than a year (8760h)"));
    }
    Ok(Duration::from_secs_f64(seconds))
}

/// The largest count a policy or arrival pattern takes (the simulator's user limit).
pub const MAX_COUNT: u64 = 10_000_000;

/// A policy's or an arrival pattern's period: up to a day.
pub fn parse_period(raw: &str) -> Result<Duration, String> {
    duration_up_to(Duration::from_secs(24 * 3600), "24h")(raw)
}

/// The longest duration any flag takes.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// A parser for durations from 1 ms up to `max` (named in the error as `max_text`).
pub fn duration_up_to(
    max: Duration,
    max_text: &'static str,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |raw| {
        let duration = parse_duration(raw)?;
        if duration > max {
            return Err(format!("{raw:?} is more than {max_text}"));
        }
        Ok(duration)
    }
}

pub fn parse_fraction(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("{raw:?} must be a fraction between 0 and 1")),
    }
}

/// Serializes a flag's value as it is typed (its `Display`), for the baseline's settings.
pub fn as_typed<T: std::fmt::Display, S: serde::Serializer>(
    value: &T,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_parse_and_refuse_nonsense() {
        assert_eq!(
            parse_policy("capacity:1000"),
            Ok(Policy::Capacity { active: 1000 })
        );
        assert_eq!(
            parse_policy("rate:100/1s"),
            Ok(Policy::Rate {
                admit: 100,
                per: Duration::from_secs(1)
            })
        );
        for bad in [
            "capacity:0",
            "rate:0/1s",
            "rate:5/0s",
            "rate:5/-1s",
            "rate:5",
            "fast",
            "capacity:x",
        ] {
            assert!(parse_policy(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn durations_need_a_unit_and_a_positive_value() {
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("10").is_err());
    }
}
