//! Index trials as INVISIBLE indexes on the user's own tables (`explain --trials invisible`,
//! MySQL 8+ only): each proposal is created invisible, so the optimizer of every other session
//! ignores it, and only the measuring session sees it (`use_invisible_indexes=on`). Cheaper
//! than a copy of a large table, but it is DDL on the user's table, so it is never the default.
//!
//! What makes it safe:
//! - every index is recorded (in this run's list, before its CREATE is sent) and dropped at the
//!   end, after an error and on Ctrl-C ([`super::trial::guarded`]); its name (`cb_trial_*`) and
//!   comment ([`COMMENT`]) mark it as the tool's, so the indexes of a run that was killed
//!   outright are dropped by the next `--trials invisible` run, and no index without both marks
//!   is ever touched;
//! - every DDL statement runs under a session `lock_wait_timeout`, so it gives up instead of
//!   stalling the table behind a long transaction;
//! - `CREATE INDEX ... ALGORITHM=INPLACE LOCK=NONE` lets the application's writes go on.
//!
//! MariaDB has IGNORED indexes but no per-session switch to use them: an index there is seen by
//! every session or by none, so a trial could not be hidden from the application. There the
//! mode is refused in one line, and `--trials copy` (the default) is the way.

use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use sqlx::{AssertSqlSafe, MySqlPool};

use crate::storage::db::{self, BoundedDdl, Database, Flavor, quote_identifier as quote};

/// Every trial index's name starts so.
const PREFIX: &str = "cb_trial_";
/// And its comment starts so: both marks together prove an index is the tool's.
const COMMENT: &str = "concert-bench invisible trial";

/// The invisible indexes of one run, on the database's own tables.
pub struct InvisibleTrial {
    /// One connection of its own, so the drops do not wait on the measuring one.
    pool: MySqlPool,
    url: db::DatabaseUrl,
    ddl: BoundedDdl,
    created: Vec<(String, String)>,
    /// Indexes an interrupted run left behind, dropped when this one opened.
    pub leftovers: Vec<String>,
}

impl InvisibleTrial {
    /// Refuses a server without per-session invisible indexes, then drops any trial index a
    /// killed run left behind.
    pub async fn open(url: &db::DatabaseUrl, lock_wait: Duration) -> Result<Self> {
        let db = Database::connect(url, 1).await?;
        if db.server.flavor == Flavor::Mariadb {
            bail!(
                "--trials invisible needs MySQL 8.0 or later: MariaDB's IGNORED indexes have no per-session switch (MySQL's use_invisible_indexes), so a trial index would be seen by every session or by none; use --trials copy (the default), which changes nothing of yours"
            );
        }
        let mut trial = Self {
            ddl: BoundedDdl::new(db.pool.clone(), url.clone(), lock_wait),
            pool: db.pool,
            url: url.clone(),
            created: Vec::new(),
            leftovers: Vec::new(),
        };
        for (table, index) in trial.present().await? {
            trial.drop_index(&table, &index).await?;
            trial.leftovers.push(format!("{table}.{index}"));
        }
        Ok(trial)
    }

    /// Creates `table(columns)` as an invisible index and returns its name.
    pub async fn create(&mut self, table: &str, columns: &[String]) -> Result<String> {
        let name = super::scratch::index_name_with(PREFIX, table, columns);
        // Recorded first: if the CREATE is cut short but completes on the server anyway, the
        // close (or the next run) still finds it by its marks.
        self.created.push((table.to_string(), name.clone()));
        let quoted: Vec<String> = columns.iter().map(|c| quote(c)).collect();
        let ddl = format!(
            "CREATE INDEX {} ON {} ({}) INVISIBLE COMMENT '{COMMENT}' ALGORITHM = INPLACE LOCK = NONE",
            quote(&name),
            quote(table),
            quoted.join(", ")
        );
        self.ddl.run(&ddl).await.map_err(|e| {
            anyhow!(
                "--trials invisible could not create {table}({}): {e}",
                columns.join(", ")
            )
        })?;
        Ok(name)
    }

    /// Its own connection to the database (for the catalog and index sizes).
    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// The database the indexes are on.
    pub fn database(&self) -> &str {
        self.url.database()
    }
}

impl super::trial::Closing for InvisibleTrial {
    /// Drops every index this run created that exists now.
    async fn close(self) -> Result<()> {
        let present = self.present().await?;
        for (table, index) in &self.created {
            if present.contains(&(table.clone(), index.clone())) {
                self.drop_index(table, index).await?;
            }
        }
        self.pool.close().await;
        Ok(())
    }
}

impl InvisibleTrial {
    /// The tool's trial indexes in the database now: both marks, and invisible.
    async fn present(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query_as(
            "SELECT DISTINCT CAST(table_name AS CHAR), CAST(index_name AS CHAR)
             FROM information_schema.statistics
             WHERE table_schema = DATABASE() AND index_name LIKE 'cb\\_trial\\_%'
               AND index_comment = ? AND is_visible = 'NO'",
        )
        .bind(COMMENT)
        .fetch_all(&self.pool)
        .await
        .map_err(|e| db::user_error(e, &self.url))?;
        Ok(rows)
    }

    async fn drop_index(&self, table: &str, index: &str) -> Result<()> {
        self.ddl
            .run(&format!("DROP INDEX {} ON {}", quote(index), quote(table)))
            .await
            .map_err(|e| {
                anyhow!(
                    "could not drop the invisible trial index {table}.{index} (the next --trials invisible run drops it): {e}"
                )
            })
    }
}

/// Lets `conn` (the measuring session, and only it) use invisible indexes, or stop using them.
pub async fn see_invisible(
    conn: &mut sqlx::pool::PoolConnection<sqlx::MySql>,
    on: bool,
) -> Result<(), sqlx::Error> {
    let switch = if on { "on" } else { "off" };
    sqlx::query(AssertSqlSafe(format!(
        "SET SESSION optimizer_switch = 'use_invisible_indexes={switch}'"
    )))
    .execute(&mut **conn)
    .await?;
    Ok(())
}
