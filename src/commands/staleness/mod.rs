//! `concert-bench staleness`: how far a group's secondaries trail its primary. A probe is one
//! real write on the primary (a seat held or released, its version bumped) and, from the
//! moment its commit returns, reads of that seat on a secondary until the new version shows:
//! whether the first read was stale, how long until the write was visible, and what the first
//! read cost. Each secondary is probed under both read consistencies, interleaved probe by
//! probe, so drift on a noisy machine hits both alike.

mod args;
pub(crate) use args::EXAMPLES;
pub use args::StalenessArgs;

mod report;
pub use report::{StalenessReport, StalenessResult};

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use sqlx::MySqlPool;

use crate::context::{Context, Failure};
use crate::domain::concerts::ConcertRepository;
use crate::measure::stats::Samples;
use crate::render::output::Report;
use crate::render::progress;
use crate::storage::db::{Database, user_error};
use crate::storage::group::{Consistency, Reader};
use crate::storage::schema;

/// Both consistencies, in the order each probe round runs them.
const CONSISTENCIES: [Consistency; 2] = [Consistency::Eventual, Consistency::Before];

/// One secondary under one consistency, as measured so far.
struct Probed {
    reader: Reader,
    consistency: Consistency,
    stale_first_reads: u64,
    never_visible: u64,
    visible_after: Samples,
    first_read: Samples,
}

pub async fn run(ctx: &Context, args: &StalenessArgs) -> Result<Report> {
    Report::of(&measure(ctx, args).await?)
}

pub async fn measure(ctx: &Context, args: &StalenessArgs) -> Result<StalenessReport> {
    if !ctx.database.names_a_group() {
        bail!(
            "staleness measures a group's secondaries, and --database-url names one server: list the group's members (mysql://user@host1:port1,host2:port2,host3:port3/{})",
            ctx.database.database()
        );
    }
    let db = schema::connect_seeded(&ctx.database, 2).await?;
    for warning in &db.warnings {
        ctx.warn(warning);
    }
    let Some(group) = &db.group else {
        bail!("{} is not a group", db.url.host_port());
    };
    if db.readers.is_empty() {
        bail!(
            "no member of the {} group but the one written to answers among {}: there is no secondary to measure",
            group.engine,
            db.given_url.host_port()
        );
    }
    let mut probed = Vec::new();
    for url in &db.readers {
        for consistency in CONSISTENCIES {
            probed.push(Probed {
                reader: Reader::on_member(url, group.engine, consistency, 1).await?,
                consistency,
                stale_first_reads: 0,
                never_visible: 0,
                visible_after: Samples::default(),
                first_read: Samples::default(),
            });
        }
    }
    // Measured from a settled group: a backlog (a seed just loaded) would be timed otherwise.
    for p in &probed {
        p.reader
            .catch_up()
            .await
            .map_err(|e| user_error(e, &p.reader.url))?;
    }
    let seat = Seat::choose(&db).await?;
    let probing = tokio::select! {
        probing = probe_all(&db, &seat, &mut probed, args, ctx) => probing,
        _ = tokio::signal::ctrl_c() => Err(Failure::Interrupted(
            "no results; the probes' seat was put back",
        ).into()),
    };
    // Put the seat back whatever happened: the data set stays as seeded.
    seat.release(&db.pool)
        .await
        .map_err(|e| user_error(e, &db.url))?;
    probing?;
    Ok(StalenessReport {
        engine: group.engine,
        multi_primary: group.multi_primary,
        primary: db.url.host_port(),
        seat: seat.id,
        probes: args.probes,
        timeout_ms: args.timeout.as_millis() as u64,
        results: probed
            .into_iter()
            .map(|p| StalenessResult {
                member: p.reader.member(),
                consistency: p.consistency,
                setting: p.consistency.engine_name(group.engine).to_string(),
                probes: u64::from(args.probes),
                stale_first_reads: p.stale_first_reads,
                never_visible: p.never_visible,
                visible_after: p.visible_after.summary(),
                first_read: p.first_read.summary(),
            })
            .collect(),
    })
}

async fn probe_all(
    db: &Database,
    seat: &Seat,
    probed: &mut [Probed],
    args: &StalenessArgs,
    ctx: &Context,
) -> Result<()> {
    let repository = ConcertRepository::new(db.pool.clone());
    let bars = progress::multi(ctx.progress_visible());
    let bar = progress::runs_bar(
        &bars,
        "staleness",
        u64::from(args.probes) * probed.len() as u64,
    );
    let mut version = seat.version;
    for _ in 0..args.probes {
        for p in probed.iter_mut() {
            if repository
                .toggle_hold(seat.id, seat.holder)
                .await?
                .is_none()
            {
                bail!(
                    "seat {} was taken by someone else during the run: run staleness where nothing else writes to the data set",
                    seat.id
                );
            }
            let acknowledged = Instant::now();
            version += 1;
            let seen = wait_for(&p.reader.pool, seat.id, version, args.timeout)
                .await
                .map_err(|e| user_error(e, &p.reader.url))?;
            p.first_read.record(seen.first_read);
            match seen.visible {
                Some(at) => p.visible_after.record(at.duration_since(acknowledged)),
                None => p.never_visible += 1,
            }
            if seen.first_was_stale {
                p.stale_first_reads += 1;
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// What the reads of one probe saw.
struct Seen {
    first_read: Duration,
    first_was_stale: bool,
    /// When a read that returned the write ended; `None` if none did within the timeout.
    visible: Option<Instant>,
}

/// Reads the seat's version on `pool` until it is at least `version`, back to back: each read
/// is one round trip, so the delay is measured to within one read.
async fn wait_for(
    pool: &MySqlPool,
    seat: i64,
    version: i64,
    timeout: Duration,
) -> Result<Seen, sqlx::Error> {
    let started = Instant::now();
    let mut first: Option<(Duration, bool)> = None;
    loop {
        let sent = Instant::now();
        let seen: Option<i64> = sqlx::query_scalar("SELECT version FROM seat WHERE id = ?")
            .bind(seat)
            .fetch_optional(pool)
            .await?;
        let returned = Instant::now();
        // No row yet: the member has not even applied the seed that made the seat.
        let fresh = seen.is_some_and(|seen| seen >= version);
        let (first_read, first_was_stale) =
            *first.get_or_insert((returned.duration_since(sent), !fresh));
        if fresh || started.elapsed() >= timeout {
            return Ok(Seen {
                first_read,
                first_was_stale,
                visible: fresh.then_some(returned),
            });
        }
    }
}

/// The seat the probes hold and release, under a holder id no user has.
struct Seat {
    id: i64,
    version: i64,
    /// Negative and random, so no user's hold and no other run's is ever touched.
    holder: i64,
}

impl Seat {
    /// The last available seat of the data set: the one other commands' picks reach last.
    async fn choose(db: &Database) -> Result<Self> {
        let seat: Option<(i64, i64)> = sqlx::query_as(
            "SELECT id, version FROM seat WHERE status = 'AVAILABLE' ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&db.pool)
        .await
        .map_err(|e| user_error(e, &db.url))?;
        let Some((id, version)) = seat else {
            bail!("the data set has no available seat to write to: seed it again (seed --reset)");
        };
        Ok(Self {
            id,
            version,
            holder: -i64::from(fake::rand::random::<u32>()) - 1,
        })
    }

    /// Releases the seat if a probe left it held.
    async fn release(&self, pool: &MySqlPool) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE seat SET status = 'AVAILABLE', held_until = NULL, held_by = NULL
             WHERE id = ? AND status = 'HELD' AND held_by = ? AND held_for IS NULL",
        )
        .bind(self.id)
        .bind(self.holder)
        .execute(pool)
        .await?;
        Ok(())
    }
}

impl crate::commands::Subcommand for StalenessArgs {
    const NAME: &'static str = <StalenessReport as crate::render::output::CommandReport>::COMMAND;
    const INTERRUPTED: &'static str = "no results; the probes' seat was put back";

    fn owns_ctrl_c(&self) -> bool {
        true
    }

    fn document_schema() -> Option<serde_json::Value> {
        Some(crate::render::output::schema_of::<StalenessReport>())
    }

    async fn run(&self, ctx: &Context) -> Result<Report> {
        run(ctx, self).await
    }
}
