//! `query --scales 1,10`: the experiment at several data sizes, to show how the gap between
//! variants grows with the data. Each scale is seeded into a scratch database beside the
//! user's (`<db>_scale<N>`, with its own Redis key prefix), measured, and dropped, so the
//! user's own data is never reset.

use anyhow::{Context as _, Result};
use clap::Parser;
use serde_json::{Value as Json, json};

use crate::cli::{QueryArgs, SeedArgs};
use crate::db::{Database, DatabaseUrl};
use crate::keyspace::KeyPrefix;
use crate::output::{Report, Table};
use crate::{Context, seed};

/// The seed command's defaults, from clap itself so they cannot drift.
#[derive(Parser)]
struct SeedDefaults {
    #[command(flatten)]
    args: SeedArgs,
}

pub async fn run(ctx: &Context, args: &QueryArgs) -> Result<Report> {
    let url = DatabaseUrl::parse(&ctx.connect.database_url)?;
    let mut sweep = Vec::new();
    let mut table = Table::new(
        "Scale sweep: the comparison at each size (medians, ms)",
        &[
            "scale",
            "seats",
            "scenario",
            "variant",
            "none",
            "variant ms",
            "speedup [95% CI]",
        ],
    );
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
        let measured = measure_at(&child, scale, &once).await;
        drop_scratch(&url, &scratch).await?;
        let report = measured.with_context(|| format!("at scale {scale}"))?;
        let seats = report.seed["rows"]["seats"].clone();
        for c in report.query["comparisons"].as_array().into_iter().flatten() {
            table.push(vec![
                scale.to_string(),
                seats.to_string(),
                c["scenario"].as_str().unwrap_or_default().into(),
                c["variant"].as_str().unwrap_or_default().into(),
                format!(
                    "{:.3}",
                    c["baseline_median_ms"].as_f64().unwrap_or(f64::NAN)
                ),
                format!("{:.3}", c["variant_median_ms"].as_f64().unwrap_or(f64::NAN)),
                format!(
                    "{:.2}x [{:.2}, {:.2}]",
                    c["speedup"].as_f64().unwrap_or(f64::NAN),
                    c["ci95"][0].as_f64().unwrap_or(f64::NAN),
                    c["ci95"][1].as_f64().unwrap_or(f64::NAN)
                ),
            ]);
        }
        sweep.push(json!({
            "scale": scale,
            "seats": seats,
            "server": report.query["server"],
            "results": report.query["results"],
            "comparisons": report.query["comparisons"],
        }));
    }
    Ok(Report {
        json: json!({"command": "query", "sweep": sweep}),
        tables: vec![table],
        notes: vec![format!(
            "Each scale was seeded into a scratch database beside {} and dropped afterwards.",
            url.database()
        )],
        violations: Vec::new(),
    })
}

struct ScaleReport {
    seed: Json,
    query: Json,
}

async fn measure_at(child: &Context, scale: u64, args: &QueryArgs) -> Result<ScaleReport> {
    let mut seed_args = SeedDefaults::parse_from(["seed"]).args;
    seed_args.scale = scale;
    seed_args.reset = true;
    let seeded = seed::run(child, &seed_args).await?;
    let measured = Box::pin(super::run(child, args)).await?;
    Ok(ScaleReport {
        seed: seeded.json,
        query: measured.json,
    })
}

async fn drop_scratch(url: &DatabaseUrl, scratch: &str) -> Result<()> {
    let server = Database::connect(url, 1).await?;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS `{scratch}`"
    )))
    .execute(&server.pool)
    .await
    .with_context(|| format!("could not drop the scratch database {scratch}"))?;
    Ok(())
}
