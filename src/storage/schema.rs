//! The tool's own schema, and the proof of what it owns.
//!
//! A table's name proves nothing: a DBA's copy of a real database may well hold a `users`
//! table, and an application using sqlx has its own `_sqlx_migrations`. So the tool keeps a
//! marker table, [`MARKER_TABLE`], under a name no application would use. It holds the
//! install's id, every table the tool's migrations create (claimed *before* they run, so a
//! seed killed half-way still owns what it made), and the scratch indexes of
//! `--create-indexes` while they exist. The migrations' bookkeeping lives in
//! [`MIGRATIONS_TABLE`], not sqlx's default name. Only tables listed in the marker are ever
//! dropped, reset or indexed; a table that merely has one of the tool's names is refused by
//! name.
//!
//! Databases seeded by releases before the marker existed are adopted once, and only on
//! proof: their `_sqlx_migrations` must hold exactly the tool's migrations (versions and
//! checksums) and every table must be one of the tool's.

use std::sync::LazyLock;

use anyhow::{Result, anyhow, bail};
use sqlx::migrate::Migrator;
use sqlx::{AssertSqlSafe, MySqlPool};

use crate::storage::db::{Database, DatabaseUrl, user_error};

/// The ownership record: the install, the tables and the scratch indexes the tool created.
pub const MARKER_TABLE: &str = "_concert_bench_owned";
/// The migrations' bookkeeping (sqlx's table, renamed away from `_sqlx_migrations`).
pub const MIGRATIONS_TABLE: &str = "_concert_bench_migrations";
/// Where releases before the marker kept the bookkeeping; adopted only on proof.
const LEGACY_MIGRATIONS_TABLE: &str = "_sqlx_migrations";

/// The embedded migrations, bookkept in [`MIGRATIONS_TABLE`].
pub static MIGRATOR: LazyLock<Migrator> = LazyLock::new(|| {
    let mut migrator = sqlx::migrate!();
    migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
    migrator
});

/// Every data table the migrations create, in creation order.
pub const DATA_TABLES: &[&str] = &[
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

/// Every table name the tool would create: its data tables and its bookkeeping.
fn tool_table_names() -> impl Iterator<Item = &'static str> {
    DATA_TABLES
        .iter()
        .copied()
        .chain([MIGRATIONS_TABLE, MARKER_TABLE])
}

/// What a database holds, as far as the tool can prove.
#[derive(Debug, Default)]
pub struct Ownership {
    /// The install's id, when the marker exists.
    pub install_id: Option<String>,
    /// Existing tables the marker proves the tool created (the marker itself excluded).
    pub owned: Vec<String>,
    /// Existing tables with one of the tool's names that the tool cannot prove it created.
    pub name_alikes: Vec<String>,
    /// Every other table.
    pub foreign: Vec<String>,
}

impl Ownership {
    /// Reads the marker (adopting a database seeded by an earlier release first, on proof).
    pub async fn load(pool: &MySqlPool) -> Result<Self, sqlx::Error> {
        let tables = tables(pool).await?;
        if !tables.iter().any(|t| t == MARKER_TABLE) && adoptable(pool, &tables).await? {
            adopt(pool, &tables).await?;
            return Box::pin(Self::load(pool)).await;
        }
        let (install_id, claimed) = if tables.iter().any(|t| t == MARKER_TABLE) {
            read_marker(pool).await?
        } else {
            (None, Vec::new())
        };
        let mut ownership = Self {
            install_id,
            ..Self::default()
        };
        for table in tables.into_iter().filter(|t| t != MARKER_TABLE) {
            if claimed.contains(&table) {
                ownership.owned.push(table);
            } else if tool_table_names().any(|n| n == table) {
                ownership.name_alikes.push(table);
            } else {
                ownership.foreign.push(table);
            }
        }
        Ok(ownership)
    }

    pub fn owns(&self, table: &str) -> bool {
        self.owned.iter().any(|t| t == table)
    }

    /// Refuses a database where a table has one of the tool's names but no ownership record.
    fn refuse_name_alikes(&self, database: &str) -> Result<()> {
        if let Some(table) = self.name_alikes.first() {
            bail!(
                "table `{table}` in database `{database}` was not created by concert-bench (it has no ownership record), so concert-bench will not touch it: use an empty database or another --database-url"
            );
        }
        Ok(())
    }
}

/// Makes the database ready for a fresh data set: refuses tables the tool cannot prove it
/// created and existing data (unless `reset`), drops only proven-own tables when resetting,
/// claims the tool's table names, then applies the migrations.
pub async fn prepare_for_seed(db: &Database, reset: bool) -> Result<()> {
    let pool = &db.pool;
    let sql = |e| user_error(e, &db.url);
    let ownership = Ownership::load(pool).await.map_err(sql)?;
    ownership.refuse_name_alikes(db.url.database())?;
    if !ownership.foreign.is_empty() {
        bail!(
            "database `{}` holds tables concert-bench did not create ({}): use an empty database or another --database-url",
            db.url.database(),
            summarize(&ownership.foreign)
        );
    }
    if reset {
        for table in tool_table_names().filter(|t| *t != MARKER_TABLE && ownership.owns(t)) {
            // `table` is one of the tool's own names, proven by the marker.
            sqlx::query(AssertSqlSafe(format!("DROP TABLE IF EXISTS `{table}`")))
                .execute(pool)
                .await
                .map_err(sql)?;
        }
    } else if let Some(table) = first_nonempty(pool, &ownership.owned).await.map_err(sql)? {
        bail!(
            "database `{}` already holds concert-bench data (table `{table}` has rows): pass --reset to replace it",
            db.url.database()
        );
    }
    install(pool).await.map_err(|e| match e {
        InstallError::Sql(inner) => user_error(inner, &db.url),
        InstallError::Migrate(other) => {
            anyhow!("cannot apply the schema: {other}: run `concert-bench seed --reset`")
        }
    })
}

#[derive(Debug, thiserror::Error)]
pub enum InstallError {
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Writes the marker (if missing), claims every tool table name that does not exist yet, and
/// applies the migrations. The caller has checked that no name-alike table exists.
pub async fn install(pool: &MySqlPool) -> Result<(), InstallError> {
    create_marker(pool).await?;
    let existing = tables(pool).await?;
    for name in tool_table_names().filter(|n| *n != MARKER_TABLE) {
        if !existing.iter().any(|t| t == name) {
            claim(pool, "table", name).await?;
        }
    }
    MIGRATOR.run(pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(inner) => InstallError::Sql(inner),
        other => InstallError::Migrate(other),
    })
}

/// Creates the marker with a fresh install id, unless it exists.
pub async fn create_marker(pool: &MySqlPool) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(format!(
        "CREATE TABLE IF NOT EXISTS `{MARKER_TABLE}` (
           kind       VARCHAR(16)  NOT NULL,
           name       VARCHAR(200) NOT NULL,
           install_id CHAR(36)     NOT NULL,
           created_at DATETIME(3)  NOT NULL,
           PRIMARY KEY (kind, name)
         ) ENGINE = InnoDB COMMENT = 'concert-bench: what this tool created here'"
    )))
    .execute(pool)
    .await?;
    sqlx::query(AssertSqlSafe(format!(
        "INSERT IGNORE INTO `{MARKER_TABLE}` (kind, name, install_id, created_at)
         VALUES ('install', '', UUID(), NOW(3))"
    )))
    .execute(pool)
    .await?;
    Ok(())
}

/// Records that the tool is about to create `name` (of `kind`), under the install's id.
pub async fn claim(pool: &MySqlPool, kind: &str, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(format!(
        "INSERT IGNORE INTO `{MARKER_TABLE}` (kind, name, install_id, created_at)
         SELECT ?, ?, install_id, NOW(3) FROM `{MARKER_TABLE}` WHERE kind = 'install'"
    )))
    .bind(kind)
    .bind(name)
    .execute(pool)
    .await?;
    Ok(())
}

/// Forgets a claim once its object is gone.
pub async fn unclaim(pool: &MySqlPool, kind: &str, name: &str) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(format!(
        "DELETE FROM `{MARKER_TABLE}` WHERE kind = ? AND name = ?"
    )))
    .bind(kind)
    .bind(name)
    .execute(pool)
    .await?;
    Ok(())
}

/// The names claimed under `kind`.
pub async fn claimed(pool: &MySqlPool, kind: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT CAST(name AS CHAR) FROM `{MARKER_TABLE}` WHERE kind = ? ORDER BY name"
    )))
    .bind(kind)
    .fetch_all(pool)
    .await
}

/// What every command but `seed` starts with: a pool on `--database-url`'s database, which must
/// hold a finished data set in tables the tool owns (brought up to this release's schema).
pub async fn connect_seeded(url: &DatabaseUrl, max_connections: u32) -> Result<Database> {
    let db = Database::connect(url, max_connections).await?;
    require_seeded(&db).await?;
    Ok(db)
}

/// Commands that read the data set need a finished seed in tables the tool owns.
async fn require_seeded(db: &Database) -> Result<()> {
    let ownership = Ownership::load(&db.pool)
        .await
        .map_err(|e| user_error(e, &db.url))?;
    ownership.refuse_name_alikes(db.url.database())?;
    let finished = if ownership.owns("seed_run") {
        sqlx::query_scalar::<_, bool>("SELECT EXISTS (SELECT 1 FROM seed_run)")
            .fetch_one(&db.pool)
            .await
            .map_err(|e| user_error(e, &db.url))?
    } else {
        false
    };
    if !finished {
        bail!(
            "database `{}` holds no finished concert-bench data set: run `concert-bench seed` first",
            db.url.database()
        );
    }
    // A data set from an earlier release gets this release's later migrations (its own
    // tables, proven above), so upgrading the tool never strands it. Only when one is
    // pending: a read-only account must be able to read an up-to-date data set.
    let applied: Vec<i64> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT version FROM `{MIGRATIONS_TABLE}` WHERE success"
    )))
    .fetch_all(&db.pool)
    .await
    .map_err(|e| user_error(e, &db.url))?;
    if MIGRATOR.iter().all(|m| applied.contains(&m.version)) {
        return Ok(());
    }
    MIGRATOR.run(&db.pool).await.map_err(|e| match e {
        sqlx::migrate::MigrateError::Execute(inner) => user_error(inner, &db.url),
        other => anyhow!(
            "cannot bring database `{}` up to this release's schema: {other}",
            db.url.database()
        ),
    })?;
    Ok(())
}

async fn tables(pool: &MySqlPool) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
         WHERE table_schema = DATABASE() ORDER BY table_name",
    )
    .fetch_all(pool)
    .await
}

async fn read_marker(pool: &MySqlPool) -> Result<(Option<String>, Vec<String>), sqlx::Error> {
    let install_id: Option<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "SELECT CAST(install_id AS CHAR) FROM `{MARKER_TABLE}` WHERE kind = 'install'"
    )))
    .fetch_optional(pool)
    .await?;
    let mut tables = claimed(pool, "table").await?;
    if install_id.is_none() {
        tables.clear(); // claims without an install are no proof
    }
    Ok((install_id, tables))
}

/// A database from a release before the marker: its `_sqlx_migrations` holds only the tool's
/// own migrations (same versions, same checksums), and every table is one of the tool's.
async fn adoptable(pool: &MySqlPool, tables: &[String]) -> Result<bool, sqlx::Error> {
    if !tables.iter().any(|t| t == LEGACY_MIGRATIONS_TABLE)
        || tables.iter().any(|t| t == MIGRATIONS_TABLE)
        || !tables
            .iter()
            .all(|t| t == LEGACY_MIGRATIONS_TABLE || DATA_TABLES.contains(&t.as_str()))
    {
        return Ok(false);
    }
    let applied: Vec<(i64, Vec<u8>)> = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT version, checksum FROM `{LEGACY_MIGRATIONS_TABLE}`"
    )))
    .fetch_all(pool)
    .await?;
    Ok(!applied.is_empty()
        && applied.iter().all(|(version, checksum)| {
            MIGRATOR
                .iter()
                .any(|m| m.version == *version && *m.checksum == checksum[..])
        }))
}

async fn adopt(pool: &MySqlPool, tables: &[String]) -> Result<(), sqlx::Error> {
    create_marker(pool).await?;
    for table in tables.iter().filter(|t| DATA_TABLES.contains(&t.as_str())) {
        claim(pool, "table", table).await?;
    }
    claim(pool, "table", MIGRATIONS_TABLE).await?;
    sqlx::query(AssertSqlSafe(format!(
        "RENAME TABLE `{LEGACY_MIGRATIONS_TABLE}` TO `{MIGRATIONS_TABLE}`"
    )))
    .execute(pool)
    .await?;
    Ok(())
}

async fn first_nonempty(pool: &MySqlPool, owned: &[String]) -> Result<Option<String>, sqlx::Error> {
    for table in owned.iter().filter(|t| DATA_TABLES.contains(&t.as_str())) {
        // `table` is one of the tool's own names, proven by the marker.
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
    fn every_migration_creates_or_alters_a_data_table() {
        let mut created = Vec::new();
        for migration in MIGRATOR.iter() {
            let sql = migration.sql.as_str();
            let (verb, rest) = ["CREATE TABLE ", "ALTER TABLE "]
                .iter()
                .find_map(|verb| sql.split(verb).nth(1).map(|rest| (*verb, rest)))
                .expect("each migration is one CREATE TABLE or ALTER TABLE");
            let table = rest.split_whitespace().next().unwrap_or_default();
            assert!(
                DATA_TABLES.contains(&table),
                "{table} missing from DATA_TABLES"
            );
            if verb == "CREATE TABLE " {
                created.push(table);
            }
        }
        assert_eq!(created, DATA_TABLES);
    }

    #[test]
    fn summarize_caps_long_lists() {
        let names: Vec<String> = (1..=7).map(|i| format!("t{i}")).collect();
        assert_eq!(summarize(&names), "t1, t2, t3, t4, t5 and 2 more");
    }
}
