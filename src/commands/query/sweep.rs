//! `query --scales 1,10`: the experiment at several data sizes, to show how the gap between
//! variants grows with the data. Each scale is seeded into a scratch database beside the
//! user's (`<db>_scale<N>`, with its own Redis key prefix), measured, and dropped, so the
//! user's own data is never reset.
//!
//! Only what this run created is dropped ([`ScratchDatabase`]): after success, after an
//! error, and on Ctrl-C (the sweep answers Ctrl-C itself).

use anyhow::{Context as _, Result};

use super::{QueryArgs, ScaleResult, SweepReport};
use crate::commands::seed;
use crate::commands::seed::SeedArgs;
use crate::context::{Context, Failure};
use crate::storage::scratch::ScratchDatabase;

pub async fn run(ctx: &Context, args: &QueryArgs) -> Result<SweepReport> {
    let url = &ctx.database;
    let mut sweep = Vec::new();
    let once = QueryArgs {
        scales: Vec::new(),
        ..args.clone()
    };
    for &scale in &args.scales {
        let scratch = format!("{}_scale{scale}", url.database());
        let mut child = ctx.child(&scratch, &format!("{scratch}:"))?;
        child.quiet = true;
        let created = ScratchDatabase::create(url, &scratch, "--scales").await?;
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
