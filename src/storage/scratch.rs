//! Scratch databases: made by one run beside the user's database, and dropped by that run
//! alone (`query --scales`, `report`).
//!
//! A run creates each one itself (`CREATE DATABASE` without `IF NOT EXISTS`), so one that
//! already exists, whoever made it, is refused and never dropped. A run killed outright
//! leaves its database behind, marked as scratch in its ownership table; it is refused like
//! any other, because a concurrent run may be using it.

use anyhow::{Context as _, Result};

use crate::storage::db::{self, DatabaseUrl, ServerConnection};
use crate::storage::schema;

/// A database this run created (and marked as concert-bench scratch), so this run may drop it.
pub struct ScratchDatabase {
    server: ServerConnection,
    name: String,
}

impl ScratchDatabase {
    /// Creates `name` on the server of `url`; `wanted_by` names the flag or command in the
    /// refusal when the name is taken.
    pub async fn create(url: &DatabaseUrl, name: &str, wanted_by: &str) -> Result<Self> {
        // Checked like any database name before anything is made (a long name plus its
        // suffix may pass 64 characters).
        url.with_database(name)
            .with_context(|| format!("{wanted_by} cannot name its scratch database"))?;
        let server = ServerConnection::open(url).await?;
        // No IF NOT EXISTS: a database that is already there is someone else's.
        let created = sqlx::query(sqlx::AssertSqlSafe(format!(
            "CREATE DATABASE {}",
            db::quote_identifier(name)
        )))
        .execute(server.pool())
        .await;
        match created {
            Ok(_) => {}
            Err(e) if db::error_number(&e) == Some(db::ER_DB_CREATE_EXISTS) => {
                anyhow::bail!(
                    "{wanted_by} needs the scratch database `{name}`, but it already exists and this run did not create it: concert-bench will not touch it (drop it yourself if it is a leftover, or use another --database-url)"
                )
            }
            Err(e) => {
                return Err(server.user_error(e))
                    .context(format!("cannot create the scratch database `{name}`"));
            }
        }
        let scratch = Self {
            server,
            name: name.to_string(),
        };
        // The marker says what the database is, for whoever finds it after a kill -9.
        let marked = async {
            let pool = scratch.server.pool_for(&scratch.name).await?;
            schema::create_marker(&pool).await?;
            schema::claim(&pool, "scratch", &scratch.name).await?;
            pool.close().await;
            anyhow::Ok(())
        };
        if let Err(e) = marked.await {
            scratch.drop_it().await?;
            return Err(e);
        }
        Ok(scratch)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub async fn drop_it(self) -> Result<()> {
        // The name was checked in `create`, and is quoted.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE {}",
            db::quote_identifier(&self.name)
        )))
        .execute(self.server.pool())
        .await
        .map_err(|e| self.server.user_error(e))
        .with_context(|| {
            format!(
                "could not drop the scratch database `{}` this run created",
                self.name
            )
        })?;
        Ok(())
    }
}
