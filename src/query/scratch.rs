//! Indexes an experiment creates for itself (`--create-indexes`) and drops again, so the schema
//! ends exactly as it was found: after success, after an error, and on Ctrl-C (the command
//! races Ctrl-C itself while they exist, and drops them before it returns). Every one is
//! named `cb_tmp_*`, so the indexes of a run that was killed outright (or whose CREATE INDEX
//! finished after it gave up) are dropped by the next `--create-indexes` run before it
//! starts: one such experiment at a time per database.

use std::future::Future;
use std::sync::{Arc, Mutex};

use anyhow::{Context as _, Result, anyhow};
use sqlx::{AssertSqlSafe, MySqlPool};

use crate::db::{Database, DatabaseUrl};
use crate::output::Report;
use crate::{Context, Failure};

pub const PREFIX: &str = "cb_tmp_";

/// The scratch indexes of one run; clones share the list, so the guard around the work can
/// drop what the work created even when Ctrl-C dropped the work itself.
#[derive(Clone)]
pub struct ScratchIndexes {
    pool: MySqlPool,
    created: Arc<Mutex<Vec<(String, String)>>>,
}

impl ScratchIndexes {
    /// Its own connection, so the restore does not wait on the experiment's.
    pub async fn connect(ctx: &Context) -> Result<Self> {
        let url = DatabaseUrl::parse(&ctx.connect.database_url)?;
        let db = Database::connect(&url, 1).await?;
        Ok(Self {
            pool: db.pool,
            created: Arc::default(),
        })
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Drops `cb_tmp_*` indexes an earlier run left behind; returns them as `table.index`.
    pub async fn drop_leftovers(&self) -> Result<Vec<String>> {
        let leftovers = present(&self.pool).await?;
        for (table, index) in &leftovers {
            drop_index(&self.pool, table, index).await?;
        }
        Ok(leftovers
            .into_iter()
            .map(|(t, i)| format!("{t}.{i}"))
            .collect())
    }

    /// Creates an index on `table(columns)` (online, without blocking writers) and returns its
    /// name.
    pub async fn create(&self, table: &str, columns: &[String]) -> Result<String> {
        let mut name = format!("{PREFIX}{table}_{}", columns.join("_"));
        name.truncate(64);
        // Recorded first: if the CREATE is cut short but completes on the server anyway, the
        // restore still finds it.
        self.created
            .lock()
            .expect("scratch list")
            .push((table.to_string(), name.clone()));
        let columns_sql: Vec<String> = columns.iter().map(|c| quote(c)).collect();
        let ddl = format!(
            "CREATE INDEX {} ON {} ({}) ALGORITHM = INPLACE LOCK = NONE",
            quote(&name),
            quote(table),
            columns_sql.join(", ")
        );
        sqlx::query(AssertSqlSafe(ddl))
            .execute(&self.pool)
            .await
            .map_err(|e| {
                anyhow!(
                    "--create-indexes could not create {table}({}): {}",
                    columns.join(", "),
                    server_message(&e)
                )
            })?;
        Ok(name)
    }

    /// Every index this run created, as `table(index)`, for the report.
    pub fn created(&self) -> Vec<String> {
        let created = self.created.lock().expect("scratch list");
        created.iter().map(|(t, i)| format!("{t}.{i}")).collect()
    }

    /// Drops every index this run created that exists now.
    pub async fn restore(&self) -> Result<()> {
        let created = self.created.lock().expect("scratch list").clone();
        let present = present(&self.pool).await?;
        for (table, index) in created.iter().filter(|c| present.contains(c)) {
            drop_index(&self.pool, table, index).await?;
        }
        Ok(())
    }
}

/// Runs `work` with scratch indexes allowed when `create` (`--create-indexes`), guarded by
/// [`guard`]; without, `work` gets none and the schema is never touched.
pub async fn run(
    ctx: &Context,
    create: bool,
    work: impl AsyncFnOnce(Option<&ScratchIndexes>) -> Result<Report>,
) -> Result<Report> {
    if !create {
        return work(None).await;
    }
    let scratch = ScratchIndexes::connect(ctx).await?;
    guard(&scratch, work(Some(&scratch))).await
}

/// Runs `work`, then drops the scratch indexes whatever happened: success, error or Ctrl-C.
/// The report says which indexes were made and dropped.
async fn guard(
    scratch: &ScratchIndexes,
    work: impl Future<Output = Result<Report>>,
) -> Result<Report> {
    let outcome = tokio::select! {
        outcome = work => outcome,
        _ = tokio::signal::ctrl_c() => Err(Failure::Interrupted(
            "no results; the indexes it created were dropped, so the schema is as it was",
        )
        .into()),
    };
    let restored = scratch
        .restore()
        .await
        .context("could not drop the indexes --create-indexes made (they are named cb_tmp_*; the next --create-indexes run drops them)");
    match (outcome, restored) {
        (Ok(mut report), Ok(())) => {
            let created = scratch.created();
            if !created.is_empty() {
                report.notes.push(format!(
                    "--create-indexes: created {} for the run and dropped them afterwards; the schema is as it was.",
                    created.join(", ")
                ));
            }
            report.json["created_indexes"] = serde_json::json!(created);
            Ok(report)
        }
        (Ok(_), Err(e)) => Err(e),
        (Err(e), _) => Err(e),
    }
}

async fn present(pool: &MySqlPool) -> Result<Vec<(String, String)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT DISTINCT CAST(table_name AS CHAR), CAST(index_name AS CHAR)
         FROM information_schema.statistics
         WHERE table_schema = DATABASE() AND index_name LIKE 'cb\\_tmp\\_%'",
    )
    .fetch_all(pool)
    .await
}

async fn drop_index(pool: &MySqlPool, table: &str, index: &str) -> Result<()> {
    sqlx::query(AssertSqlSafe(format!(
        "DROP INDEX {} ON {}",
        quote(index),
        quote(table)
    )))
    .execute(pool)
    .await
    .map_err(|e| {
        anyhow!(
            "could not drop the scratch index {table}.{index}: {}",
            server_message(&e)
        )
    })?;
    Ok(())
}

/// The server's own words (sqlx repeats them in its error chain).
fn server_message(err: &sqlx::Error) -> String {
    err.as_database_error()
        .map_or_else(|| err.to_string(), |d| d.message().to_string())
}

fn quote(identifier: &str) -> String {
    format!("`{}`", identifier.replace('`', "``"))
}
