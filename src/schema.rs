//! The tool's own schema: embedded migrations, the list of tables it owns, and the checks that
//! keep it from touching anything else in a database.

use anyhow::{Result, bail};
use sqlx::migrate::Migrator;
use sqlx::{AssertSqlSafe, MySqlPool};

use crate::db::{Database, explain};

pub static MIGRATOR: Migrator = sqlx::migrate!();

/// Every table concert-bench creates (sqlx's bookkeeping table included). `--reset` drops these
/// and nothing else; a database holding any other table is refused.
pub const OWNED_TABLES: &[&str] = &[
    "_sqlx_migrations",
    "users",
    "point_wallet",
    "point_ledger",
    "concert",
    "performance",
    "seat",
    "reservation",
    "payment",
    "queue_entry",
    "outbox",
    "processed_event",
    "seed_run",
];

/// What a database holds, as far as the tool is concerned.
#[derive(Debug, Default)]
pub struct SchemaState {
    pub owned: Vec<String>,
    pub foreign: Vec<String>,
}

pub async fn inspect(pool: &MySqlPool) -> Result<SchemaState, sqlx::Error> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = DATABASE() ORDER BY table_name",
    )
    .fetch_all(pool)
    .await?;
    let (owned, foreign) = tables
        .into_iter()
        .partition(|t| OWNED_TABLES.contains(&t.as_str()));
    Ok(SchemaState { owned, foreign })
}

/// Makes the database ready for a fresh data set: refuses foreign tables and existing data
/// (unless `reset`), drops the tool's own tables when resetting, then applies the migrations.
pub async fn prepare_for_seed(db: &Database, reset: bool) -> Result<()> {
    let pool = &db.pool;
    let state = inspect(pool).await.map_err(|e| explain(e, &db.url))?;
    if !state.foreign.is_empty() {
        bail!(
            "database `{}` holds tables concert-bench did not create ({}): use an empty database or another --database-url",
            db.url.database(),
            summarize(&state.foreign)
        );
    }
    if reset {
        for table in OWNED_TABLES
            .iter()
            .filter(|t| state.owned.iter().any(|o| o == *t))
        {
            // `table` comes from OWNED_TABLES, never from input.
            sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS `{table}`")))
                .execute(pool)
                .await
                .map_err(|e| explain(e, &db.url))?;
        }
    } else if let Some(table) = first_nonempty(pool, &state.owned)
        .await
        .map_err(|e| explain(e, &db.url))?
    {
        bail!(
            "database `{}` already holds concert-bench data (table `{table}` has rows): pass --reset to replace it",
            db.url.database()
        );
    }
    MIGRATOR.run(pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(inner) => explain(inner, &db.url),
        other => {
            anyhow::anyhow!("cannot apply the schema: {other}: run `concert-bench seed --reset`")
        }
    })?;
    Ok(())
}

/// Commands that read the data set need a finished seed, not a half-loaded one.
pub async fn require_seeded(db: &Database) -> Result<()> {
    let state = inspect(&db.pool).await.map_err(|e| explain(e, &db.url))?;
    let finished = if state.owned.iter().any(|t| t == "seed_run") {
        sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM seed_run)")
            .fetch_one(&db.pool)
            .await
            .map_err(|e| explain(e, &db.url))?
    } else {
        false
    };
    if !finished {
        bail!(
            "database `{}` holds no finished concert-bench data set: run `concert-bench seed` first",
            db.url.database()
        );
    }
    Ok(())
}

async fn first_nonempty(pool: &MySqlPool, owned: &[String]) -> Result<Option<String>, sqlx::Error> {
    for table in owned.iter().filter(|t| *t != "_sqlx_migrations") {
        // `table` matched OWNED_TABLES in `inspect`.
        let sql = format!("SELECT EXISTS (SELECT 1 FROM `{table}`)");
        let has_rows: bool = sqlx::query_scalar(AssertSqlSafe(sql))
            .fetch_one(pool)
            .await?;
        if has_rows {
            return Ok(Some(table.clone()));
        }
    }
    Ok(None)
}

fn summarize(names: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = names
        .iter()
        .take(SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > SHOWN {
        text.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_creates_or_alters_an_owned_table() {
        let mut created = 0;
        for migration in MIGRATOR.iter() {
            let sql = migration.sql.as_str();
            let (verb, rest) = ["CREATE TABLE ", "ALTER TABLE "]
                .iter()
                .find_map(|verb| sql.split(verb).nth(1).map(|rest| (*verb, rest)))
                .expect("each migration is one CREATE TABLE or ALTER TABLE");
            let table = rest.split_whitespace().next().unwrap_or_default();
            assert!(
                OWNED_TABLES.contains(&table),
                "{table} missing from OWNED_TABLES"
            );
            created += usize::from(verb == "CREATE TABLE ");
        }
        assert_eq!(created + 1, OWNED_TABLES.len());
    }

    #[test]
    fn summarize_caps_long_lists() {
        let names: Vec<String> = (1..=7).map(|i| format!("t{i}")).collect();
        assert_eq!(summarize(&names), "t1, t2, t3, t4, t5 and 2 more");
    }
}
