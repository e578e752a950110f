//! `query --scales 1,10`: the experiment at several data sizes, to show how the gap between
//! variants grows with the data. Each scale is seeded into a scratch database beside the
//! user's (`<db>_scale<N>`, with its own Redis key prefix), measured, and dropped, so the
//! user's own data is never reset.
//!
//! The run creates each scratch database itself (`CREATE DATABASE` without `IF NOT EXISTS`),
//! so one that already exists, whoever made it, is refused and never dropped. Only what this
//! run created is dropped: after success, after an error, and on Ctrl-C (the sweep answers
//! Ctrl-C itself). A run killed outright leaves its database behind, marked as scratch in
//! its ownership table; it is refused like any other, because a concurrent sweep may be
//! using it.

use anyhow::{Context as _, Result};

use super::{QueryArgs, ScaleResult, SweepReport};
use crate::commands::seed;
use crate::commands::seed::SeedArgs;
use crate::context::{Context, Failure};
use crate::db::{self, DatabaseUrl, ServerConnection};
use crate::keyspace::KeyPrefix;
use crate::schema;

pub async fn run(ctx: &Context, args: &QueryArgs) -> Result<SweepReport> {
    let url = DatabaseUrl::parse(&ctx.connect.database_url)?;
    let mut sweep = Vec::new();
    let once = QueryArgs {
        scales: Vec::new(),
        ..args.clone()
    };
    for &scale in &args.scales {
        let scratch = format!("{}_scale{scale}", url.database());
        let mut child = ctx.clone();
        child.connect.database_url = url.with_database(&scratch)?;
        child.key_prefix = KeyPrefix::parse(&format!("{}{scratch}:", ctx.key_prefix.as_str()))?;
        child.quiet = true;
        let created = ScratchDatabase::create(&url, &scratch).await?;
        let measured = tokio::select! {
            measured = measure_at(&child, scale, &once) => measured,
            _ = tokio::signal::ctrl_c() => Err(Failure::Interrupted(
                "no results; the scratch database this run created was dropped",
            ).into()),
        };
        created.drop_it().await?;
        sweep.push(measured.with_context(|| format!("at scale {scale}"))?);
    }
    Ok(SweepReport {
        sweep,
        beside: url.database().to_string(),
    })
}

async fn measure_at(child: &Context, scale: u64, args: &QueryArgs) -> Result<ScaleResult> {
    let mut seed_args = SeedArgs::parse_with(&[]);
    seed_args.scale = scale;
    let seeded = seed::seed(child, &seed_args).await?;
    let measured = super::measure_variants(child, args).await?;
    Ok(ScaleResult {
        scale,
        seats: seeded.rows.seats,
        server: measured.server,
        results: measured.results,
        comparisons: measured.comparisons,
    })
}

/// A database this run created (and marked as concert-bench scratch), so this run may drop it.
struct ScratchDatabase {
    server: ServerConnection,
    name: String,
}

impl ScratchDatabase {
    async fn create(url: &DatabaseUrl, name: &str) -> Result<Self> {
        let server = ServerConnection::open(url).await?;
        // No IF NOT EXISTS: a database that is already there is someone else's.
        let created = sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE `{name}`")))
            .execute(server.pool())
            .await;
        match created {
            Ok(_) => {}
            Err(e) if db::error_number(&e) == Some(db::ER_DB_CREATE_EXISTS) => {
                anyhow::bail!(
                    "--scales needs the scratch database `{name}`, but it already exists and this run did not create it: concert-bench will not touch it (drop it yourself if it is a leftover, or use another --database-url)"
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

    async fn drop_it(self) -> Result<()> {
        // The name was made from the validated --database-url and a number.
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE `{}`",
            self.name
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
