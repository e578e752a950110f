//! Index trials on a scratch copy: the tables a workload reads, copied into a scratch database
//! this run creates (and drops, also on error and Ctrl-C), where the advisor's proposals are
//! created and measured. Nothing of the user's database is touched beyond reading it, so an
//! index can be proven on any schema, not only on concert-bench's own tables.

use std::time::Instant;

use anyhow::{Context as _, Result};
use serde::Serialize;
use sqlx::{AssertSqlSafe, MySqlPool};

use crate::context::Failure;
use crate::measure::stats::{Latency, Samples, speedup};
use crate::storage::db::quote_identifier as quote;
use crate::storage::db::{DatabaseUrl, ServerConnection};
use crate::storage::scratch::ScratchDatabase;

/// Rows deleted and inserted again to time an index's write cost.
const WRITE_ROUNDS: usize = 100;

/// What a trial copied, for the report.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct TrialSummary {
    /// The scratch database the trial ran in, dropped afterwards.
    pub database: String,
    /// Each table copied and its rows.
    pub tables: Vec<(String, u64)>,
    pub copy_seconds: f64,
}

/// What an index costs the writes to its table: single-row deletes and inserts of the same
/// rows, timed with the index and without it, on the scratch copy.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct WriteCost {
    /// One delete and one insert of a row, with the index.
    pub with_index: Latency,
    pub without_index: Latency,
    /// With over without, medians: above 1 the index slows writes by that factor.
    pub ratio: f64,
    /// Bootstrap 95% interval of the ratio (noise within this run).
    pub ci95: [f64; 2],
}

/// What a trial made and must remove again: the copy's database, or invisible indexes.
pub trait Closing: Sized {
    /// Removes what the trial made.
    fn close(self) -> impl Future<Output = Result<()>> + Send;
}

/// Where a run keeps its trial while it works, so that whatever ends the work (its end, an
/// error, Ctrl-C) what the trial made is still found and removed.
pub type Slot<S> = tokio::sync::Mutex<Option<S>>;
/// The slot of a trial on a scratch copy.
pub type TrialSlot = Slot<Trial>;

/// Runs `work` with a slot for a trial (holding `opened`, if the trial is already open),
/// then closes the trial it holds, whatever happened: success, error or Ctrl-C (reported
/// with `interrupted`).
pub async fn guarded<S: Closing, T>(
    opened: Option<S>,
    interrupted: &'static str,
    work: impl AsyncFnOnce(&Slot<S>) -> Result<T>,
) -> Result<T> {
    let slot = Slot::new(opened);
    let outcome = tokio::select! {
        outcome = work(&slot) => outcome,
        _ = tokio::signal::ctrl_c() => Err(Failure::Interrupted(interrupted).into()),
    };
    let closed = match slot.lock().await.take() {
        Some(trial) => trial.close().await,
        None => Ok(()),
    };
    let value = outcome?;
    closed?;
    Ok(value)
}

/// A scratch copy of some tables, open for trials.
pub struct Trial {
    scratch: ScratchDatabase,
    source: String,
    pub pool: MySqlPool,
    pub summary: TrialSummary,
}

impl Trial {
    /// Creates the scratch database beside `url`'s and copies `tables` into it (structure with
    /// its indexes, then the rows; generated columns are computed again, not copied).
    pub async fn open(url: &DatabaseUrl, tables: &[String]) -> Result<Self> {
        let name = format!(
            "{}_cbtrial_{:04x}",
            url.database(),
            fake::rand::random::<u16>()
        );
        let scratch = ScratchDatabase::create(url, &name, "explain's index trials").await?;
        let started = Instant::now();
        let copied = async {
            let server = ServerConnection::open(url).await?;
            let mut copied = Vec::new();
            for table in tables {
                let (from, to) = (
                    format!("{}.{}", quote(url.database()), quote(table)),
                    format!("{}.{}", quote(&name), quote(table)),
                );
                run(&server, &format!("CREATE TABLE {to} LIKE {from}")).await?;
                let columns = stored_columns(server.pool(), url.database(), table)
                    .await
                    .map_err(|e| server.user_error(e))?;
                let rows = sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO {to} ({columns}) SELECT {columns} FROM {from}"
                )))
                .execute(server.pool())
                .await
                .map_err(|e| server.user_error(e))
                .with_context(|| format!("cannot copy `{table}` into the trial database"))?
                .rows_affected();
                run(&server, &format!("ANALYZE TABLE {to}")).await?;
                copied.push((table.clone(), rows));
            }
            anyhow::Ok(copied)
        }
        .await;
        let copied = match copied {
            Ok(copied) => copied,
            Err(e) => {
                scratch.drop_it().await?;
                return Err(e);
            }
        };
        let pool = match ServerConnection::open(url).await {
            Ok(server) => server.pool_for(&name).await,
            Err(e) => Err(e),
        };
        let pool = match pool {
            Ok(pool) => pool,
            Err(e) => {
                scratch.drop_it().await?;
                return Err(e);
            }
        };
        Ok(Self {
            scratch,
            source: url.database().to_string(),
            pool,
            summary: TrialSummary {
                database: name,
                tables: copied,
                copy_seconds: started.elapsed().as_secs_f64(),
            },
        })
    }

    /// Creates an index on the copy.
    pub async fn create_index(&self, table: &str, name: &str, columns: &[String]) -> Result<()> {
        let quoted: Vec<String> = columns.iter().map(|c| quote(c)).collect();
        sqlx::query(AssertSqlSafe(format!(
            "CREATE INDEX {} ON {} ({})",
            quote(name),
            quote(table),
            quoted.join(", ")
        )))
        .execute(&self.pool)
        .await?;
        sqlx::query(AssertSqlSafe(format!("ANALYZE TABLE {}", quote(table))))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The index's size on disk (see [`index_bytes`]).
    pub async fn index_bytes(&self, table: &str, index: &str) -> Option<u64> {
        index_bytes(&self.pool, &self.summary.database, table, index).await
    }

    /// The index's write cost (see [`WriteCost`]); the index is dropped from the copy at the
    /// end. None for a table without a one-column primary key to address rows by.
    pub async fn write_cost(&self, table: &str, index: &str) -> Result<Option<WriteCost>> {
        let key: Vec<String> = sqlx::query_scalar(
            "SELECT CAST(column_name AS CHAR) FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND table_name = ? AND index_name = 'PRIMARY'",
        )
        .bind(table)
        .fetch_all(&self.pool)
        .await?;
        let [key] = &key[..] else {
            return Ok(None);
        };
        let rows: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT CAST({k} AS CHAR) FROM {t} ORDER BY RAND(7) LIMIT {WRITE_ROUNDS}",
            k = quote(key),
            t = quote(table)
        )))
        .fetch_all(&self.pool)
        .await?;
        let columns = stored_columns(&self.pool, &self.summary.database, table).await?;
        let delete = format!("DELETE FROM {} WHERE {} = ?", quote(table), quote(key));
        let insert = format!(
            "INSERT INTO {t} ({columns}) SELECT {columns} FROM {src}.{t} WHERE {k} = ?",
            t = quote(table),
            src = quote(&self.source),
            k = quote(key)
        );
        let mut conn = self.pool.acquire().await?;
        let with_index = rewrite(&mut conn, &rows, &delete, &insert).await?;
        sqlx::query(AssertSqlSafe(format!(
            "DROP INDEX {} ON {}",
            quote(index),
            quote(table)
        )))
        .execute(&mut *conn)
        .await?;
        let without_index = rewrite(&mut conn, &rows, &delete, &insert).await?;
        Ok(speedup(&with_index, &without_index).map(|ratio| WriteCost {
            with_index: with_index.summary(),
            without_index: without_index.summary(),
            ratio: ratio.speedup,
            ci95: ratio.ci95,
        }))
    }
}

impl Closing for Trial {
    /// Drops the scratch database.
    async fn close(self) -> Result<()> {
        self.pool.close().await;
        self.scratch.drop_it().await
    }
}

/// An index's size on disk (InnoDB's own statistics, pages times the page size), where the
/// login may read them.
pub async fn index_bytes(
    pool: &MySqlPool,
    database: &str,
    table: &str,
    index: &str,
) -> Option<u64> {
    sqlx::query_scalar::<_, u64>(
        "SELECT CAST(s.stat_value * @@innodb_page_size AS UNSIGNED) FROM mysql.innodb_index_stats s \
         WHERE s.database_name = ? AND s.table_name = ? AND s.index_name = ? AND s.stat_name = 'size'",
    )
    .bind(database)
    .bind(table)
    .bind(index)
    .fetch_optional(pool)
    .await
    .ok()
    .flatten()
}

/// Deletes and inserts again each of `rows`, one timed sample per row.
async fn rewrite(
    conn: &mut sqlx::pool::PoolConnection<sqlx::MySql>,
    rows: &[String],
    delete: &str,
    insert: &str,
) -> Result<Samples, sqlx::Error> {
    let mut samples = Samples::default();
    for row in rows {
        let started = Instant::now();
        sqlx::query(AssertSqlSafe(delete.to_string()))
            .bind(row)
            .execute(&mut **conn)
            .await?;
        sqlx::query(AssertSqlSafe(insert.to_string()))
            .bind(row)
            .execute(&mut **conn)
            .await?;
        samples.record(started.elapsed());
    }
    Ok(samples)
}

async fn run(server: &ServerConnection, sql: &str) -> Result<()> {
    sqlx::query(AssertSqlSafe(sql.to_string()))
        .execute(server.pool())
        .await
        .map_err(|e| server.user_error(e))?;
    Ok(())
}

/// The table's columns that hold values (generated ones are computed by the copy itself),
/// quoted and comma-separated.
async fn stored_columns(
    pool: &MySqlPool,
    database: &str,
    table: &str,
) -> Result<String, sqlx::Error> {
    let columns: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
         WHERE table_schema = ? AND table_name = ? AND extra NOT LIKE '%GENERATED%' \
         AND extra NOT IN ('VIRTUAL', 'PERSISTENT', 'STORED') ORDER BY ordinal_position",
    )
    .bind(database)
    .bind(table)
    .fetch_all(pool)
    .await?;
    Ok(columns
        .iter()
        .map(|c| quote(c))
        .collect::<Vec<_>>()
        .join(", "))
}
