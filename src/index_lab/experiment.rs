//! The experiment `query` and `explain` both run: a seeded database, its index catalog, the
//! chosen variants, the workload's statements with parameter values drawn from the data, and
//! the timed execution of each statement under each variant.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};
use serde_json::Value as Json;
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, MySql};

use super::params::{self, Draws, ParamSummary, ParamValue};
use super::workload::{Statement, Workload};
use super::{Catalog, ScratchIndexes, Variant};
use super::{mysql_tree, plans};
use crate::context::Context;
use crate::measure::stats::Samples;
use crate::storage::db::{Database, Flavor, user_error};
use crate::storage::schema;

/// One statement of the workload with the values it binds, round by round.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub statement: Statement,
    pub draws: Draws,
}

impl Scenario {
    pub fn name(&self) -> &str {
        &self.statement.name
    }

    /// The SQL with each table's hint filled in by `hint(table)`.
    pub fn sql(&self, hint: impl Fn(&str) -> String) -> String {
        self.statement.sql(hint)
    }

    /// The values execution round `round` binds.
    pub fn values(&self, round: usize) -> &[ParamValue] {
        self.draws.round(round)
    }
}

/// What both `query` and `explain` start from: a seeded database, its indexes, the chosen
/// variants and scenarios, parameters drawn from the data, and one connection to measure on.
pub struct Experiment {
    pub db: Database,
    pub catalog: Catalog,
    pub variants: Vec<Variant>,
    pub scenarios: Vec<Scenario>,
    /// Where the statements came from (a file, or the built-in week-8 workload).
    pub workload: String,
    pub params: Vec<ParamSummary>,
    pub conn: PoolConnection<MySql>,
}

/// The statements (and ANALYZE of them) need SELECT on every table they read, and the tables
/// must exist. Checked first, so a read-only account missing a grant hears which table,
/// instead of a table that seems not to exist (information_schema hides what a user cannot
/// read), and a statement naming a missing table is named with its file and line.
async fn require_readable(db: &Database, workload: &Workload) -> Result<()> {
    for statement in &workload.statements {
        for table in &statement.tables {
            // A name from the workload, quoted; the statement runs as written anyway.
            let probe = format!(
                "SELECT 1 FROM {} LIMIT 0",
                crate::storage::db::quote_identifier(table)
            );
            let Err(e) = sqlx::query(AssertSqlSafe(probe)).execute(&db.pool).await else {
                continue;
            };
            let code = e.as_database_error().and_then(|d| d.code());
            if code.as_deref() == Some("42S02") {
                bail!(
                    "{}:{}: statement {} reads table `{table}`, which database `{}` does not have",
                    workload.source,
                    statement.line,
                    statement.name,
                    db.url.database()
                );
            }
            if code.as_deref() == Some("42000") {
                bail!(
                    "the user in --database-url {} lacks the SELECT privilege on `{table}`, which the statements and ANALYZE need: grant SELECT on {}.{table}",
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
    /// Opens the experiment on `workload`, with `rounds` parameter tuples per statement drawn
    /// from a generator seeded with `seed`. With `scratch`, indexes the variants name that do
    /// not exist are created first (and indexes a killed run left behind are dropped).
    pub async fn open(
        ctx: &Context,
        variant_args: &[String],
        mut workload: Workload,
        rounds: usize,
        seed: u64,
        scratch: Option<&ScratchIndexes>,
    ) -> Result<Self> {
        // The built-in workload reads the tool's own tables, which a seed must have made; a
        // workload of the user's reads whatever schema the database has.
        let db = if workload.is_builtin() {
            schema::connect_seeded(&ctx.database, 2).await?
        } else {
            Database::connect(&ctx.database, 2).await?
        };
        let url = db.url.clone();
        require_readable(&db, &workload).await?;
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
        for statement in &mut workload.statements {
            statement.resolve(|table| catalog.columns_of(table).to_vec());
        }
        let (draws, params) =
            params::draw(&db.pool, &catalog, &workload.statements, rounds, seed).await?;
        let scenarios: Vec<Scenario> = workload
            .statements
            .into_iter()
            .zip(draws)
            .map(|(statement, draws)| Scenario { statement, draws })
            .collect();
        let mut conn = db.pool.acquire().await.map_err(|e| user_error(e, &url))?;
        let advised = if variant_args.iter().any(|v| v == ADVISED) {
            let spec =
                plans::advised_spec(&mut conn, db.server.flavor, &catalog, &scenarios).await?;
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
            workload: workload.source,
            params,
            conn,
        })
    }
}

/// Whether the server may answer a repeated SELECT from its query cache (MariaDB; MySQL 8+
/// has none): the timings would then measure the cache, not the plan.
pub async fn query_cache_state(db: &Database) -> String {
    if db.server.flavor == Flavor::Mysql {
        return "none (MySQL 8+ has no query cache)".into();
    }
    let row: Option<(String, u64)> = sqlx::query_as(
        "SELECT CAST(@@query_cache_type AS CHAR), CAST(@@query_cache_size AS UNSIGNED)",
    )
    .fetch_optional(&db.pool)
    .await
    .ok()
    .flatten();
    match row {
        Some((kind, size)) if kind == "OFF" || kind == "0" || size == 0 => {
            format!("off (query_cache_type={kind}, query_cache_size={size})")
        }
        Some((kind, size)) => format!(
            "ON (query_cache_type={kind}, query_cache_size={size}): a repeated SELECT may be answered from the cache, so its timings measure the cache, not the plan"
        ),
        None => "unknown (the server did not say)".into(),
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

/// Runs each statement `warmup + iterations` times, interleaved statement by statement so that
/// drift hits all alike and every statement of a round binds the same values (round `i` binds
/// `scenario.values(i)`), and returns (rows returned, measured samples) per statement.
pub async fn measure(
    conn: &mut PoolConnection<MySql>,
    sql: &[String],
    scenario: &Scenario,
    warmup: u32,
    iterations: u32,
    mut on_run: impl FnMut(),
) -> Result<Vec<(usize, Samples)>, sqlx::Error> {
    // Built once: each run only bumps a reference count, so no copy lands in the timed region.
    let statements: Vec<Arc<str>> = sql.iter().map(|s| Arc::from(s.as_str())).collect();
    let mut out: Vec<(usize, Samples)> = sql.iter().map(|_| (0, Samples::default())).collect();
    let writes = scenario.statement.writes;
    for round in 0..warmup + iterations {
        for (statement, (rows, samples)) in statements.iter().zip(out.iter_mut()) {
            let values = scenario.values(round as usize);
            // A write's BEGIN and ROLLBACK stay outside the timed region.
            let (count, elapsed) = rolled_back(conn, writes, async |conn| {
                let started = Instant::now();
                let count = execute(conn, statement, values, writes).await?;
                crate::measure::slowdown::per_operation();
                Ok::<_, sqlx::Error>((count, started.elapsed()))
            })
            .await?;
            *rows = count;
            if round >= warmup {
                samples.record(elapsed);
            }
            on_run();
        }
    }
    Ok(out)
}

/// Runs `work` on `conn`; for a write statement (`writes`), inside a transaction that is
/// rolled back afterwards, also when `work` fails, so the data is as it was before. (An
/// ANALYZE executes the statement too, so plans and server times of writes go through here.)
pub async fn rolled_back<T, E: From<sqlx::Error>>(
    conn: &mut PoolConnection<MySql>,
    writes: bool,
    work: impl AsyncFnOnce(&mut PoolConnection<MySql>) -> Result<T, E>,
) -> Result<T, E> {
    if !writes {
        return work(conn).await;
    }
    // Sent as text: MySQL refuses BEGIN and ROLLBACK as prepared statements.
    sqlx::raw_sql("BEGIN").execute(&mut **conn).await?;
    let outcome = work(conn).await;
    let rolled = sqlx::raw_sql("ROLLBACK").execute(&mut **conn).await;
    let value = outcome?;
    rolled?;
    Ok(value)
}

/// Executes the prepared statement and fetches every row, as an application would; a write
/// returns the rows it changed.
async fn execute(
    conn: &mut PoolConnection<MySql>,
    sql: &Arc<str>,
    values: &[ParamValue],
    writes: bool,
) -> Result<usize, sqlx::Error> {
    // Hints are built from index names the server reported, quoted; values stay bound.
    let mut query = sqlx::query(AssertSqlSafe(Arc::clone(sql)));
    for value in values {
        query = match value {
            ParamValue::Int(n) => query.bind(*n),
            ParamValue::Float(x) => query.bind(*x),
            ParamValue::Text(s) => query.bind(s.clone()),
        };
    }
    if writes {
        return Ok(query.execute(&mut **conn).await?.rows_affected() as usize);
    }
    Ok(query.fetch_all(&mut **conn).await?.len())
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
