//! The regression gate: a run saved as a baseline (`--save-baseline FILE`), and a later run
//! compared with it (`--baseline FILE`, or `concert-bench compare OLD NEW`), metric by metric,
//! with a verdict a CI job can fail on (exit code 4).
//!
//! - A baseline file is the run's JSON document with the distributions it measured (up to
//!   1,000 samples per latency, see [`crate::measure::stats::SAMPLE_KEPT`]), plus what a fair
//!   comparison needs: the settings, the data set, the server, the tool's version, the
//!   machine ([`Baseline`]).
//! - [`compare`]: the metrics of two documents, each with old, new, change and, for a latency
//!   with its samples, the change's bootstrap 95% interval (within-run noise, from the same
//!   samples as the change); the verdict follows criterion's rule: the whole interval past
//!   the noise threshold. Too few measurements is "not judged", never "unchanged".

mod compare;

use std::path::{Path, PathBuf};

use clap::Args;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

pub use compare::{CompareReport, MetricChange, Thresholds, Verdict, compare};

/// The version of the baseline file's own fields (the document inside has its
/// `schema_version`). 2: the settings are the flags serialized as a JSON object (1 kept them
/// as Rust's `Debug` text, which changed with any rename of a type).
pub const BASELINE_VERSION: u32 = 2;

/// The gate's flags, on every command that measures (seed, query, cache-bench, queue-sim,
/// reserve).
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Regression gate")]
pub struct BaselineArgs {
    /// Save this run as a baseline: its document with the distributions, settings, data set,
    /// server, tool version and machine.
    #[arg(long, value_name = "FILE")]
    pub save_baseline: Option<PathBuf>,

    /// Compare this run with a baseline saved earlier; a regression exits with 4. A metric
    /// regresses when the whole 95% interval of its change (the noise within the two runs)
    /// lies past --noise-threshold; one with under 10 measurements a side is not judged.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,

    /// A change smaller than this, in percent, is noise (default: 150 for latencies, 50 for
    /// rates, 25 for speedups within a run; cache-bench 250 and 150; reserve's rates 100;
    /// from back-to-back runs on a 2-core machine, see docs/ci.md).
    #[arg(long, value_name = "PERCENT", value_parser = parse_threshold)]
    pub noise_threshold: Option<f64>,

    /// Compare even when the settings, the data set or the server differ (prints what does).
    #[arg(long)]
    pub allow_mismatch: bool,
}

/// `--noise-threshold`: a percentage.
pub fn parse_threshold(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(t) if (0.0..=1000.0).contains(&t) => Ok(t),
        _ => Err(format!("{raw:?} must be a percentage from 0 to 1000")),
    }
}

/// What makes two runs comparable. Any difference is refused unless `--allow-mismatch`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Fingerprint {
    pub command: String,
    /// The command's own flags, as parsed and serialized (the gate's and `--plot` left out).
    pub settings: Value,
    /// The data set: the seed's rng seed and sizes, read from the database (null when the
    /// run has none, or it could not be read).
    pub data: Option<Value>,
    /// Flavor and version of the database server.
    pub server: Option<String>,
}

/// Where the run ran: not refused when it differs, but printed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Machine {
    pub cores: usize,
    pub memory_bytes: Option<u64>,
    pub tool_version: String,
}

impl Machine {
    pub fn this() -> Self {
        let memory_bytes = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
            let kb = m.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kb: u64 = kb.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        });
        Self {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_bytes,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }
}

/// A baseline file.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Baseline {
    pub baseline_version: u32,
    pub fingerprint: Fingerprint,
    pub machine: Machine,
    /// The command's JSON document, with `sample_ms` in every latency.
    pub document: Value,
}

/// A baseline that cannot be used, named with its file: exit code 1, one line.
#[derive(Debug, Error)]
pub enum BaselineError {
    #[error("cannot read the baseline {path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error(
        "the baseline {path} is not a concert-bench baseline (not JSON, or truncated: {reason})"
    )]
    NotJson { path: String, reason: String },
    #[error(
        "the baseline {path} has baseline_version {found}, newer than this tool's {BASELINE_VERSION}: compare with a newer concert-bench"
    )]
    NewerFile { path: String, found: u64 },
    #[error(
        "the baseline {path} has baseline_version {found}, older than this tool's {BASELINE_VERSION} (its settings cannot be compared): save it again with this concert-bench"
    )]
    OlderFile { path: String, found: u64 },
    #[error(
        "the baseline {path} holds a document of schema_version {found}, newer than this tool's {supported}: compare with a newer concert-bench"
    )]
    NewerSchema {
        path: String,
        found: u64,
        supported: u32,
    },
    #[error("the baseline {path} is of `{found}`, not `{expected}`: compare runs of one command")]
    OtherCommand {
        path: String,
        found: String,
        expected: String,
    },
    #[error(
        "{lacks} has no metric {metric}, which {has} has: were both run with the same settings?"
    )]
    MissingMetric {
        lacks: String,
        has: String,
        metric: String,
    },
    #[error("the runs are not comparable ({what}); pass --allow-mismatch to compare them anyway")]
    Mismatch { what: String },
}

impl Baseline {
    pub fn save(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string(self)?;
        std::fs::write(path, text + "\n")
            .map_err(|e| anyhow::anyhow!("cannot write the baseline {}: {e}", path.display()))
    }

    /// Reads and checks a baseline file: its versions, and that it holds a command's
    /// document.
    pub fn load(path: &Path) -> Result<Self, BaselineError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| BaselineError::Unreadable {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let raw: Value = serde_json::from_str(&text).map_err(|e| BaselineError::NotJson {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        if let Some(found) = raw["baseline_version"].as_u64()
            && found > u64::from(BASELINE_VERSION)
        {
            return Err(BaselineError::NewerFile { path: shown, found });
        }
        if let Some(found) = raw["baseline_version"].as_u64()
            && found < u64::from(BASELINE_VERSION)
        {
            return Err(BaselineError::OlderFile { path: shown, found });
        }
        let baseline: Baseline =
            serde_json::from_value(raw).map_err(|e| BaselineError::NotJson {
                path: shown.clone(),
                reason: e.to_string(),
            })?;
        let found = baseline.document["schema_version"].as_u64().unwrap_or(0);
        let supported = crate::render::output::SCHEMA_VERSION;
        if found > u64::from(supported) {
            return Err(BaselineError::NewerSchema {
                path: shown,
                found,
                supported,
            });
        }
        Ok(baseline)
    }

    /// `new` against this baseline: refused when they are not comparable (see
    /// [`Self::check_against`]), otherwise every metric with its verdict. `names` are how
    /// the two runs are shown (`names.0` is this file's).
    pub fn compare_with(
        &self,
        new: &Baseline,
        names: (&str, &str),
        noise_threshold: Option<f64>,
        allow_mismatch: bool,
    ) -> Result<CompareReport, BaselineError> {
        let mismatches = self.check_against(new, names.0, allow_mismatch)?;
        compare(
            &self.document,
            &new.document,
            names,
            Thresholds::for_command(&new.fingerprint.command, noise_threshold),
            mismatches,
            allow_mismatch,
        )
    }

    /// Refuses `self` as the baseline of `new` when it is of another command or (unless
    /// `allow_mismatch`) ran with other settings, data or server; returns what differs.
    pub fn check_against(
        &self,
        new: &Baseline,
        path: &str,
        allow_mismatch: bool,
    ) -> Result<Vec<String>, BaselineError> {
        let (old, now) = (&self.fingerprint, &new.fingerprint);
        if old.command != now.command {
            return Err(BaselineError::OtherCommand {
                path: path.to_string(),
                found: old.command.clone(),
                expected: now.command.clone(),
            });
        }
        let mut differs = Vec::new();
        if old.settings != now.settings {
            differs.push(format!(
                "settings: {}",
                settings_diff(&old.settings, &now.settings)
            ));
        }
        if old.data != now.data {
            differs.push(format!(
                "data set: {} vs {}",
                show(&old.data),
                show(&now.data)
            ));
        }
        if old.server != now.server {
            differs.push(format!(
                "server: {} vs {}",
                old.server.as_deref().unwrap_or("-"),
                now.server.as_deref().unwrap_or("-")
            ));
        }
        if !differs.is_empty() && !allow_mismatch {
            return Err(BaselineError::Mismatch {
                what: differs.join("; "),
            });
        }
        if self.machine != new.machine {
            differs.push(format!(
                "machine: {} cores, tool {} vs {} cores, tool {}",
                self.machine.cores,
                self.machine.tool_version,
                new.machine.cores,
                new.machine.tool_version
            ));
        }
        Ok(differs)
    }
}

/// The data set and server a run used, for its fingerprint: the last `seed_run` row (rng
/// seed and sizes) and `VERSION()`. `None` for what cannot be read (no database, no seed).
pub async fn data_set(url: &crate::storage::db::DatabaseUrl) -> (Option<Value>, Option<String>) {
    let Ok(db) = crate::storage::db::Database::connect(url, 1).await else {
        return (None, None);
    };
    let server = Some(format!("{} {}", db.server.flavor, db.server.version));
    let seed: Option<(i64, String)> = sqlx::query_as(
        "SELECT rng_seed, CAST(parameters AS CHAR) FROM seed_run ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(&db.pool)
    .await
    .ok()
    .flatten();
    let data = seed.map(|(rng_seed, sizes)| {
        let sizes: Value = serde_json::from_str(&sizes).unwrap_or(Value::String(sizes));
        serde_json::json!({ "rng_seed": rng_seed, "sizes": sizes })
    });
    (data, server)
}

fn show(value: &Option<Value>) -> String {
    value.as_ref().map_or("-".into(), Value::to_string)
}

/// The flags whose values differ between two runs' settings, as `name: new (was old)`.
fn settings_diff(old: &Value, new: &Value) -> String {
    let empty = serde_json::Map::new();
    let fields = |v: &Value| v.as_object().cloned().unwrap_or_else(|| empty.clone());
    let (old, new) = (fields(old), fields(new));
    let names: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    names
        .into_iter()
        .filter(|name| old.get(*name) != new.get(*name))
        .map(|name| {
            let shown = |v: Option<&Value>| v.map_or("-".to_string(), Value::to_string);
            format!(
                "{name}: {} (was {})",
                shown(new.get(name)),
                shown(old.get(name))
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Removes the distributions from a document before it is printed: they belong in baseline
/// files only.
pub fn strip_samples(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("sample_ms");
            map.values_mut().for_each(strip_samples);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_samples),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_diff_names_the_fields_that_changed() {
        let old = serde_json::json!({"iterations": 30, "warmup": 5, "scales": []});
        let new = serde_json::json!({"iterations": 10, "warmup": 5, "scales": [10]});
        assert_eq!(
            settings_diff(&old, &new),
            "iterations: 10 (was 30), scales: [10] (was [])"
        );
    }

    #[test]
    fn samples_are_stripped_everywhere() {
        let mut doc = serde_json::json!({"a": {"p50_ms": 1.0, "sample_ms": [1.0]},
            "b": [{"sample_ms": [2.0], "x": 1}]});
        strip_samples(&mut doc);
        assert_eq!(
            doc,
            serde_json::json!({"a": {"p50_ms": 1.0}, "b": [{"x": 1}]})
        );
    }
}
