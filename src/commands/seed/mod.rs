//! `concert-bench seed`: create the schema and load the week-8 data set (or a scaled one).
//!
//! - [`plan`]: sizes, id ranges and the sold seats, validated before anything is touched.
//! - [`generate`]: rows as pure functions of the plan, so any chunking gives the same tables.
//! - [`load`]: parallel multi-row INSERTs; [`tsv`]: the same rows as LOAD DATA files.

mod args;
pub(crate) use args::EXAMPLES;
pub use args::SeedArgs;

mod generate;
mod load;
mod plan;
mod report;
mod tsv;

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result};
use chrono::Utc;

pub use generate::{SeedTable, Value, generate};
pub use plan::{SeedPlan, Sizes};
pub use report::{RowCounts, SeedDocument, SeedReport, TableLoad, TsvFile, TsvReport};

use crate::context::Context;
use crate::keyspace;
use crate::render::output::Report;
use crate::render::progress;
use crate::storage::db::{Database, user_error};
use crate::storage::schema;

pub async fn run(ctx: &Context, args: &SeedArgs) -> Result<Report> {
    match &args.tsv_dir {
        Some(dir) => Report::of(&SeedDocument::Files(write_tsv(&SeedPlan::new(args)?, dir)?)),
        None => Report::of(&SeedDocument::Loaded(seed(ctx, args).await?)),
    }
}

/// Creates the schema (or resets the tool's own tables) and loads the data set.
pub async fn seed(ctx: &Context, args: &SeedArgs) -> Result<SeedReport> {
    let plan = SeedPlan::new(args)?;
    let url = &ctx.database;
    let db = Database::connect_creating(url, args.connections).await?;
    for warning in &db.warnings {
        ctx.warn(warning);
    }

    let schema_started = Instant::now();
    schema::prepare_for_seed(&db, args.reset).await?;
    let schema_seconds = schema_started.elapsed().as_secs_f64();

    let started_at = Utc::now().naive_utc();
    let bars = progress::multi(ctx.progress_visible());
    let plan = Arc::new(plan);
    let outcome = load::load(
        &db.pool,
        plan.clone(),
        args.connections,
        args.batch_rows,
        &bars,
    )
    .await
    .map_err(|e| match e.downcast::<sqlx::Error>() {
        Ok(sql) => user_error(sql, url),
        Err(other) => other,
    })
    .context(
        "seed stopped part-way and the data set is incomplete: run `concert-bench seed --reset`",
    )?;

    // Fresh optimizer statistics: InnoDB recomputes them in the background after a bulk
    // load, and until it does, plans (and so `query` and `explain`) depend on timing.
    let tables: Vec<&str> = SeedTable::ALL.iter().map(|t| t.name()).collect();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ANALYZE TABLE {}",
        tables.join(", ")
    )))
    .execute(&db.pool)
    .await
    .map_err(|e| user_error(e, url))?;

    sqlx::query(
        "INSERT INTO seed_run (rng_seed, parameters, started_at, finished_at) VALUES (?, ?, ?, ?)",
    )
    .bind(plan.rng_seed as i64)
    .bind(serde_json::to_string(&plan.sizes)?)
    .bind(started_at)
    .bind(Utc::now().naive_utc())
    .execute(&db.pool)
    .await
    .map_err(|e| user_error(e, url))?;

    let redis_keys_cleared = if args.reset {
        clear_cached_data(ctx).await
    } else {
        None
    };

    let total_rows: u64 = outcome.tables.iter().map(|t| t.rows).sum();
    let tables = outcome
        .tables
        .iter()
        .map(|load| TableLoad {
            table: load.table.name(),
            rows: load.rows,
            seconds: load.seconds,
            rows_per_second: rate(load.rows, load.seconds),
        })
        .collect();
    Ok(SeedReport {
        database: url.database().to_string(),
        database_url: url.masked(),
        server: db.server,
        rng_seed: plan.rng_seed,
        sizes: plan.sizes.clone(),
        rows: RowCounts::of(outcome.tables.iter().map(|t| (t.table, t.rows))),
        total_rows,
        seconds: outcome.seconds,
        rows_per_second: rate(total_rows, outcome.seconds),
        schema_seconds,
        connections: args.connections,
        batch_rows: args.batch_rows,
        tables,
        redis_keys_cleared,
    })
}

/// After a reset, whatever the tool cached in Redis describes the old data set: remove it.
/// Redis being down does not fail the seed (nothing can be served from it either); it warns.
async fn clear_cached_data(ctx: &Context) -> Option<u64> {
    let prefix = &ctx.key_prefix;
    let cleared = async {
        let mut conn = keyspace::connect(&ctx.redis).await?;
        anyhow::Ok(keyspace::clear(&mut conn, prefix).await?)
    };
    match cleared.await {
        Ok(n) => Some(n),
        Err(err) => {
            ctx.warn(format!(
                "{err:#}; cached data under {:?} was not cleared",
                prefix.as_str()
            ));
            None
        }
    }
}

fn write_tsv(plan: &SeedPlan, dir: &std::path::Path) -> Result<TsvReport> {
    let started = Instant::now();
    let written = tsv::write(plan, dir)?;
    let seconds = started.elapsed().as_secs_f64();
    let total_rows: u64 = written.iter().map(|(_, n)| n).sum();
    Ok(TsvReport {
        tsv_dir: dir.display().to_string(),
        rng_seed: plan.rng_seed,
        sizes: plan.sizes.clone(),
        files: written
            .iter()
            .map(|(t, n)| TsvFile {
                table: t.name(),
                rows: *n,
                file: format!("{}.tsv", t.name()),
            })
            .collect(),
        rows: RowCounts::of(written.iter().copied()),
        total_rows,
        seconds,
        rows_per_second: rate(total_rows, seconds),
    })
}

fn rate(rows: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        rows as f64 / seconds
    } else {
        0.0
    }
}

impl crate::commands::Subcommand for SeedArgs {
    const NAME: &'static str = <SeedDocument as crate::render::output::CommandReport>::COMMAND;
    const INTERRUPTED: &'static str =
        "the data set is incomplete: run `concert-bench seed --reset`";

    fn document_schema() -> Option<serde_json::Value> {
        Some(crate::render::output::schema_of::<SeedDocument>())
    }

    fn gate(&self) -> Option<&crate::gate::BaselineArgs> {
        Some(&self.gate)
    }

    async fn run(&self, ctx: &Context) -> Result<Report> {
        run(ctx, self).await
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::SeedArgs;

    /// `seed` arguments as the command line would give them.
    pub fn args(extra: &[&str]) -> SeedArgs {
        SeedArgs::parse_with(extra)
    }

    pub fn week8_args() -> SeedArgs {
        args(&[])
    }
}
