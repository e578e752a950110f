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
mod tsv;

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result};
use chrono::Utc;
use serde_json::{Map, Value as Json, json};

pub use generate::{SeedTable, Value, generate};
pub use plan::SeedPlan;

use crate::Context;
use crate::db::{Database, DatabaseUrl, user_error};
use crate::output::{Report, Table, thousands};
use crate::{keyspace, progress, schema};

pub async fn run(ctx: &Context, args: &SeedArgs) -> Result<Report> {
    let plan = SeedPlan::new(args)?;
    if let Some(dir) = &args.tsv_dir {
        return write_tsv(&plan, dir);
    }
    let url = DatabaseUrl::parse(&ctx.connect.database_url)?;
    let db = Database::connect_creating(&url, args.connections).await?;

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
        Ok(sql) => user_error(sql, &url),
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
    .map_err(|e| user_error(e, &url))?;

    sqlx::query(
        "INSERT INTO seed_run (rng_seed, parameters, started_at, finished_at) VALUES (?, ?, ?, ?)",
    )
    .bind(plan.rng_seed as i64)
    .bind(serde_json::to_string(&plan.sizes)?)
    .bind(started_at)
    .bind(Utc::now().naive_utc())
    .execute(&db.pool)
    .await
    .map_err(|e| user_error(e, &url))?;

    let redis_keys_cleared = if args.reset {
        clear_cached_data(ctx).await
    } else {
        None
    };

    let total_rows: u64 = outcome.tables.iter().map(|t| t.rows).sum();
    let mut rows = Map::new();
    let mut table = Table::new("", &["table", "rows", "seconds", "rows/s"]);
    let mut per_table = Vec::new();
    for load in &outcome.tables {
        let rate = rate(load.rows, load.seconds);
        rows.insert(json_key(load.table).into(), json!(load.rows));
        per_table.push(json!({"table": load.table.name(), "rows": load.rows, "seconds": load.seconds, "rows_per_second": rate}));
        table.push(vec![
            load.table.name().into(),
            thousands(load.rows as f64),
            format!("{:.3}", load.seconds),
            thousands(rate),
        ]);
    }
    let total_rate = rate(total_rows, outcome.seconds);
    table.push(vec![
        "total".into(),
        thousands(total_rows as f64),
        format!("{:.3}", outcome.seconds),
        thousands(total_rate),
    ]);

    Ok(Report {
        json: json!({
            "command": "seed",
            "database": url.database(),
            "database_url": url.masked(),
            "server": db.server,
            "rng_seed": plan.rng_seed,
            "sizes": plan.sizes,
            "rows": rows,
            "total_rows": total_rows,
            "seconds": outcome.seconds,
            "rows_per_second": total_rate,
            "schema_seconds": schema_seconds,
            "connections": args.connections,
            "batch_rows": args.batch_rows,
            "tables": per_table,
            "redis_keys_cleared": redis_keys_cleared,
        }),
        tables: vec![table],
        notes: vec![format!(
            "Seeded {} on {} ({} {}) with rng seed {}: {} rows in {:.2} s ({} rows/s; schema {:.2} s, not counted).",
            url.database(),
            url.masked(),
            db.server.flavor,
            db.server.version,
            plan.rng_seed,
            thousands(total_rows as f64),
            outcome.seconds,
            thousands(total_rate),
            schema_seconds
        )],
        violations: Vec::new(),
    })
}

/// After a reset, whatever the tool cached in Redis describes the old data set: remove it.
/// Redis being down does not fail the seed (nothing can be served from it either); it warns.
async fn clear_cached_data(ctx: &Context) -> Option<u64> {
    let prefix = &ctx.key_prefix;
    let cleared = async {
        let mut conn = keyspace::connect(&ctx.connect.redis_url).await?;
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

fn write_tsv(plan: &SeedPlan, dir: &std::path::Path) -> Result<Report> {
    let started = Instant::now();
    let written = tsv::write(plan, dir)?;
    let seconds = started.elapsed().as_secs_f64();
    let total_rows: u64 = written.iter().map(|(_, n)| n).sum();
    let mut table = Table::new("", &["table", "rows", "file"]);
    let mut rows = Map::new();
    for (t, n) in &written {
        rows.insert(json_key(*t).into(), json!(n));
        table.push(vec![
            t.name().into(),
            thousands(*n as f64),
            format!("{}.tsv", t.name()),
        ]);
    }
    Ok(Report {
        json: json!({
            "command": "seed",
            "database": Json::Null,
            "tsv_dir": dir.display().to_string(),
            "rng_seed": plan.rng_seed,
            "sizes": plan.sizes,
            "rows": rows,
            "total_rows": total_rows,
            "seconds": seconds,
            "rows_per_second": rate(total_rows, seconds),
        }),
        tables: vec![table],
        notes: vec![format!(
            "Wrote {} rows to {}; load them with: mariadb --local-infile=1 DB < {}/load.sql",
            thousands(total_rows as f64),
            dir.display(),
            dir.display()
        )],
        violations: Vec::new(),
    })
}

fn json_key(table: SeedTable) -> &'static str {
    match table {
        SeedTable::Concert => "concerts",
        SeedTable::Performance => "performances",
        SeedTable::Users => "users",
        SeedTable::PointWallet => "point_wallets",
        SeedTable::PointLedger => "point_ledger",
        SeedTable::Reservation => "reservations",
        SeedTable::Payment => "payments",
        SeedTable::Seat => "seats",
    }
}

fn rate(rows: u64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        rows as f64 / seconds
    } else {
        0.0
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
