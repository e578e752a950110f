//! The experiment `query` and `explain` both run: a seeded database, its index catalog, the
//! chosen variants and scenarios, parameters picked from the data, and the timed execution of
//! each scenario's statement under each variant.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use serde_json::Value as Json;
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, MySql};

use super::{Catalog, ScratchIndexes, Variant};
use super::{mysql_tree, plans};
use crate::context::Context;
use crate::domain::scenarios::{Params, Scenario};
use crate::measure::stats::Samples;
use crate::storage::db::{Database, Flavor, user_error};
use crate::storage::schema;

/// What both `query` and `explain` start from: a seeded database, its indexes, the chosen
/// variants and scenarios, parameters picked from the data, and one connection to measure on.
pub struct Experiment {
    pub db: Database,
    pub catalog: Catalog,
    pub variants: Vec<Variant>,
    pub scenarios: Vec<Scenario>,
    pub params: Params,
    pub conn: PoolConnection<MySql>,
}

/// The scenarios (and ANALYZE of them) need SELECT on every table they join. Checked first,
/// so a read-only account missing a grant hears which table, instead of a table that seems
/// not to exist (information_schema hides what a user cannot read).
async fn require_readable(db: &Database, scenarios: &[Scenario]) -> Result<()> {
    let mut tables: Vec<&str> = scenarios.iter().flat_map(|s| s.tables()).copied().collect();
    tables.sort_unstable();
    tables.dedup();
    for table in tables {
        // Table names come from the scenarios' own fixed list.
        let probe = format!("SELECT 1 FROM `{table}` LIMIT 0");
        if let Err(e) = sqlx::query(AssertSqlSafe(probe)).execute(&db.pool).await {
            let denied = e
                .as_database_error()
                .and_then(|d| d.code())
                .is_some_and(|code| code == "42000");
            if denied {
                bail!(
                    "the user in --database-url {} lacks the SELECT privilege on `{table}`, which the scenarios and ANALYZE need: grant SELECT on {}.{table}",
                    db.url.masked(),
                    db.url.database()
                );
            }
            return Err(user_error(e, &db.url));
        }
    }
    Ok(())
}

impl Experiment {
    /// With `scratch`, indexes the variants name that do not exist are created first (and
    /// indexes a killed run left behind are dropped).
    pub async fn open(
        ctx: &Context,
        variant_args: &[String],
        scenario_args: &[Scenario],
        scratch: Option<&ScratchIndexes>,
    ) -> Result<Self> {
        let db = schema::connect_seeded(&ctx.database, 2).await?;
        let url = db.url.clone();
        let scenarios = scenarios(scenario_args);
        require_readable(&db, &scenarios).await?;
        let mut catalog = Catalog::load(&db.pool)
            .await
            .map_err(|e| user_error(e, &url))?;
        if let Some(scratch) = scratch {
            let leftovers = scratch.drop_leftovers().await?;
            if !leftovers.is_empty() {
                ctx.warn(format!(
                    "dropped indexes an interrupted run had left behind: {}",
                    leftovers.join(", ")
                ));
            }
            let mut wanted: Vec<(String, Vec<String>)> = Vec::new();
            for arg in variant_args {
                for missing in Variant::missing_indexes(arg, &catalog)? {
                    if !wanted.contains(&missing) {
                        wanted.push(missing);
                    }
                }
            }
            for (table, columns) in &wanted {
                scratch.create(table, columns).await?;
            }
            catalog = Catalog::load(&db.pool)
                .await
                .map_err(|e| user_error(e, &url))?;
        }
        let params = Params::pick(&db.pool).await?;
        let mut conn = db.pool.acquire().await.map_err(|e| user_error(e, &url))?;
        let advised = if variant_args.iter().any(|v| v == ADVISED) {
            let spec = plans::advised_spec(&mut conn, db.server.flavor, &catalog, &params).await?;
            Some(Variant::from_spec(ADVISED, &spec, &catalog)?)
        } else {
            None
        };
        let variants = variants(variant_args, &catalog, advised)?;
        Ok(Self {
            db,
            catalog,
            variants,
            scenarios,
            params,
            conn,
        })
    }
}

/// The variant made of the advisor's proposals.
const ADVISED: &str = "advised";

/// `none` first (the baseline), then the requested variants (week8 when none are), deduplicated.
fn variants(
    requested: &[String],
    catalog: &Catalog,
    advised: Option<Variant>,
) -> Result<Vec<Variant>> {
    let mut variants = vec![Variant::none()];
    let defaults = ["week8".to_string()];
    for arg in if requested.is_empty() {
        &defaults[..]
    } else {
        requested
    } {
        let variant = match (&advised, arg.as_str()) {
            (Some(advised), ADVISED) => advised.clone(),
            _ => Variant::parse(arg, catalog)?,
        };
        if !variants.iter().any(|v| v.name == variant.name) {
            variants.push(variant);
        }
    }
    Ok(variants)
}

/// The requested scenarios, or all six.
fn scenarios(requested: &[Scenario]) -> Vec<Scenario> {
    if requested.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        requested.to_vec()
    }
}

/// Runs each statement `warmup + iterations` times, interleaved statement by statement so that
/// drift hits all alike, and returns (rows returned, measured samples) per statement.
pub async fn measure(
    conn: &mut PoolConnection<MySql>,
    sql: &[String],
    param: Option<i64>,
    warmup: u32,
    iterations: u32,
    mut on_run: impl FnMut(),
) -> Result<Vec<(usize, Samples)>, sqlx::Error> {
    // Built once: each run only bumps a reference count, so no copy lands in the timed region.
    let statements: Vec<Arc<str>> = sql.iter().map(|s| Arc::from(s.as_str())).collect();
    let mut out: Vec<(usize, Samples)> = sql.iter().map(|_| (0, Samples::default())).collect();
    for round in 0..warmup + iterations {
        for (statement, (rows, samples)) in statements.iter().zip(out.iter_mut()) {
            let started = Instant::now();
            *rows = execute(conn, statement, param).await?;
            crate::measure::slowdown::per_operation();
            if round >= warmup {
                samples.record(started.elapsed());
            }
            on_run();
        }
    }
    Ok(out)
}

/// Executes the prepared statement and fetches every row, as an application would.
async fn execute(
    conn: &mut PoolConnection<MySql>,
    sql: &Arc<str>,
    param: Option<i64>,
) -> Result<usize, sqlx::Error> {
    // Hints are built from index names the server reported, quoted; values stay bound.
    let query = sqlx::query(AssertSqlSafe(Arc::clone(sql)));
    let query = match param {
        Some(id) => query.bind(id),
        None => query,
    };
    Ok(query.fetch_all(&mut **conn).await?.len())
}

/// ANALYZE cannot take bound parameters; the only value is an integer id the tool picked.
pub fn with_literal(sql: &str, param: Option<i64>) -> String {
    match param {
        Some(id) => sql.replacen('?', &id.to_string(), 1),
        None => sql.to_string(),
    }
}

/// The server's own execution time of one run: MariaDB's `ANALYZE FORMAT=JSON` r_total_time_ms,
/// MySQL's `EXPLAIN ANALYZE FORMAT=TREE` actual time of the root node. `None` where the server
/// measured nothing (MySQL answers a const lookup while planning).
pub async fn server_time(
    conn: &mut PoolConnection<MySql>,
    flavor: Flavor,
    sql: &str,
) -> Result<Option<std::time::Duration>> {
    let ms = match flavor {
        Flavor::Mariadb => {
            let plan: String =
                sqlx::query_scalar(AssertSqlSafe(format!("ANALYZE FORMAT=JSON {sql}")))
                    .fetch_one(&mut **conn)
                    .await?;
            let plan: Json =
                serde_json::from_str(&plan).context("ANALYZE returned invalid JSON")?;
            let ms = plan["query_block"]["r_total_time_ms"]
                .as_f64()
                .context("ANALYZE FORMAT=JSON has no r_total_time_ms")?;
            Some(ms)
        }
        Flavor::Mysql => {
            let tree: String =
                sqlx::query_scalar(AssertSqlSafe(format!("EXPLAIN ANALYZE FORMAT=TREE {sql}")))
                    .fetch_one(&mut **conn)
                    .await?;
            mysql_tree::root_time_ms(&tree)
        }
    };
    Ok(ms.map(|ms| std::time::Duration::from_secs_f64(ms.max(0.0) / 1e3)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_replaces_only_the_parameter() {
        assert_eq!(
            with_literal("SELECT 1 FROM t WHERE id = ?", Some(42)),
            "SELECT 1 FROM t WHERE id = 42"
        );
        assert_eq!(with_literal("SELECT 1", None), "SELECT 1");
    }
}
