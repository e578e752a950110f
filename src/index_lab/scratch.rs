//! Indexes an experiment creates for itself (`--create-indexes`) and drops again, so the schema
//! ends exactly as it was found: after success, after an error, and on Ctrl-C (the command
//! races Ctrl-C itself while they exist, and drops them before it returns).
//!
//! Only on the tool's own tables (proven by [`schema::Ownership`]), and each index is claimed
//! in the ownership table before its `CREATE INDEX` is sent. So the indexes of a run that was
//! killed outright (or whose CREATE INDEX finished after it gave up) are dropped by the next
//! `--create-indexes` run, and an index that only looks like one of ours (`cb_tmp_*`) is never
//! touched: one such experiment at a time per database. Every DDL statement runs under a
//! session `lock_wait_timeout`, so it gives up instead of stalling the table behind a long
//! transaction.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use sqlx::MySqlPool;

use crate::context::{Context, Failure};
use crate::storage::db::{self, BoundedDdl, Database, quote_identifier as quote};
use crate::storage::schema::{self, Ownership};

pub const PREFIX: &str = "cb_tmp_";
/// MySQL's limit on an index name, in characters.
const MAX_NAME_CHARS: usize = 64;
/// The ownership table's kind for scratch indexes (named `table.index`).
const CLAIM: &str = "index";

/// The scratch indexes of one run; clones share the list, so the guard around the work can
/// drop what the work created even when Ctrl-C dropped the work itself.
#[derive(Clone)]
pub struct ScratchIndexes {
    pool: MySqlPool,
    url: db::DatabaseUrl,
    /// The tables the tool proved it created: the only ones it adds indexes to.
    own_tables: Arc<Vec<String>>,
    ddl: BoundedDdl,
    created: Arc<Mutex<Vec<(String, String)>>>,
}

impl ScratchIndexes {
    /// Its own connection, so the restore does not wait on the experiment's.
    pub async fn connect(ctx: &Context, lock_wait: Duration) -> Result<Self> {
        let url = &ctx.database;
        let db = Database::connect(url, 1).await?;
        let ownership = Ownership::load(&db.pool)
            .await
            .map_err(|e| db::user_error(e, url))?;
        Ok(Self {
            ddl: BoundedDdl::new(db.pool.clone(), url.clone(), lock_wait),
            pool: db.pool,
            url: url.clone(),
            own_tables: Arc::new(ownership.owned),
            created: Arc::default(),
        })
    }

    pub fn pool(&self) -> &MySqlPool {
        &self.pool
    }

    /// Drops the scratch indexes an earlier run claimed and left behind; returns them as
    /// `table.index`.
    pub async fn drop_leftovers(&self) -> Result<Vec<String>> {
        let claimed = schema::claimed(&self.pool, CLAIM).await?;
        let present = present(&self.pool).await?;
        let mut dropped = Vec::new();
        for claim in claimed {
            let found = present
                .iter()
                .find(|(t, i)| format!("{t}.{i}") == claim && self.owns(t));
            if let Some((table, index)) = found {
                self.drop_index(table, index).await?;
                dropped.push(claim.clone());
            }
            schema::unclaim(&self.pool, CLAIM, &claim).await?;
        }
        Ok(dropped)
    }

    fn owns(&self, table: &str) -> bool {
        self.own_tables.iter().any(|t| t == table)
    }

    /// Creates an index on `table(columns)` (online, without blocking writers) and returns its
    /// name. Only on a table the tool owns.
    pub async fn create(&self, table: &str, columns: &[String]) -> Result<String> {
        if !self.owns(table) {
            bail!(
                "--create-indexes works only on concert-bench's own tables, and `{table}` is not one of them: create that index yourself, or leave out --create-indexes"
            );
        }
        let name = index_name(table, columns);
        // A name already taken is someone else's index: never claimed, so never dropped.
        if present(&self.pool)
            .await?
            .contains(&(table.to_string(), name.clone()))
        {
            bail!(
                "--create-indexes would name its index `{name}` on `{table}`, but an index of that name already exists and this run did not create it: drop or rename it, or leave out --create-indexes"
            );
        }
        // Claimed and recorded first: if the CREATE is cut short but completes on the server
        // anyway, the restore (or the next run) still finds it and can prove it is ours.
        schema::claim(&self.pool, CLAIM, &format!("{table}.{name}"))
            .await
            .map_err(|e| {
                anyhow!(
                    "--create-indexes records its indexes before it creates them, and cannot: {}",
                    db::user_error(e, &self.url)
                )
            })?;
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
        self.ddl.run(&ddl).await.map_err(|e| {
            anyhow!(
                "--create-indexes could not create {table}({}): {e}",
                columns.join(", ")
            )
        })?;
        Ok(name)
    }

    async fn drop_index(&self, table: &str, index: &str) -> Result<()> {
        self.ddl
            .run(&format!("DROP INDEX {} ON {}", quote(index), quote(table)))
            .await
            .map_err(|e| anyhow!("could not drop the scratch index {table}.{index}: {e}"))?;
        schema::unclaim(&self.pool, CLAIM, &format!("{table}.{index}")).await?;
        Ok(())
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
        for (table, index) in &created {
            if present.contains(&(table.clone(), index.clone())) {
                self.drop_index(table, index).await?;
            } else {
                schema::unclaim(&self.pool, CLAIM, &format!("{table}.{index}")).await?;
            }
        }
        Ok(())
    }
}

/// `cb_tmp_<table>_<columns>` (see [`index_name_with`]).
pub fn index_name(table: &str, columns: &[String]) -> String {
    index_name_with(PREFIX, table, columns)
}

/// `<prefix><table>_<columns>`; a name over MySQL's 64 characters is cut at a character
/// boundary and ends in a hash of the whole name, so two long names never collide.
pub fn index_name_with(prefix: &str, table: &str, columns: &[String]) -> String {
    let full = format!("{prefix}{table}_{}", columns.join("_"));
    if full.chars().count() <= MAX_NAME_CHARS {
        return full;
    }
    let hash = format!("_{:08x}", fnv1a(full.as_bytes()) as u32);
    let kept: String = full.chars().take(MAX_NAME_CHARS - hash.len()).collect();
    kept + &hash
}

/// FNV-1a: a stable hash (std's hasher is seeded per process, and names must be the same in
/// every run).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Runs `work` with scratch indexes allowed when `create` (`--create-indexes`), guarded by
/// [`guard`]; without, `work` gets none and the schema is never touched. Returns what `work`
/// returned and the indexes that were created for it (and dropped again).
pub async fn run<T>(
    ctx: &Context,
    create: bool,
    lock_wait: Duration,
    work: impl AsyncFnOnce(Option<&ScratchIndexes>) -> Result<T>,
) -> Result<(T, Vec<String>)> {
    if !create {
        return Ok((work(None).await?, Vec::new()));
    }
    let scratch = ScratchIndexes::connect(ctx, lock_wait).await?;
    guard(&scratch, work(Some(&scratch))).await
}

/// Runs `work`, then drops the scratch indexes whatever happened: success, error or Ctrl-C.
async fn guard<T>(
    scratch: &ScratchIndexes,
    work: impl Future<Output = Result<T>>,
) -> Result<(T, Vec<String>)> {
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
        .context("could not drop the indexes --create-indexes made (they are named cb_tmp_* and recorded in the ownership table; the next --create-indexes run drops them)");
    match (outcome, restored) {
        (Ok(result), Ok(())) => Ok((result, scratch.created())),
        (Ok(_), Err(e)) => Err(e),
        (Err(e), _) => Err(e),
    }
}

/// The note a report prints about the indexes `--create-indexes` made for it.
pub fn created_note(created: &[String]) -> Option<String> {
    (!created.is_empty()).then(|| {
        format!(
            "--create-indexes: created {} for the run and dropped them afterwards; the schema is as it was.",
            created.join(", ")
        )
    })
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

/// The server's own words (sqlx repeats them in its error chain).
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_cut_by_characters_and_keep_a_distinguishing_hash() {
        let cols = |c: &[&str]| c.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            index_name("seat", &cols(&["performance_id"])),
            "cb_tmp_seat_performance_id"
        );
        let wide = "좌석".repeat(20);
        let a = index_name(&wide, &cols(&["공연_아이디_가나다라마바사", "a"]));
        let b = index_name(&wide, &cols(&["공연_아이디_가나다라마바사", "b"]));
        assert_eq!(a.chars().count(), MAX_NAME_CHARS);
        assert_ne!(a, b, "names that differ only past the cut stay distinct");
        assert_eq!(
            a,
            index_name(&wide, &cols(&["공연_아이디_가나다라마바사", "a"]))
        );
    }
}
