//! The load generator: workers issuing reads and writes against the Concert service, and the
//! staleness check on every read of one concert.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use fake::RngExt;
use fake::rand::SeedableRng;
use fake::rand::rngs::ChaCha8Rng;
use sqlx::MySqlPool;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use super::Workload;
use crate::domain::concerts::{ConcertDetail, ConcertService, ServiceError};
use crate::measure::pace::Pacer;
use crate::measure::stats::Samples;
use crate::storage::db::is_unavailable;

/// What the workloads read and write: the open concerts and their unsold seats.
pub struct Targets {
    pub concerts: Vec<i64>,
    /// Unsold seats of the first open concert (the mixed workload's concert).
    seats: Vec<i64>,
    /// The `held_by` of this run's holds: negative, so no user has it, and random, so two
    /// runs never release each other's holds (nor anyone's real one).
    pub holder: i64,
}

impl Targets {
    pub async fn load(pool: &MySqlPool) -> Result<Self> {
        let concerts: Vec<i64> =
            sqlx::query_scalar("SELECT id FROM concert WHERE status = 'OPEN' ORDER BY id")
                .fetch_all(pool)
                .await?;
        let Some(&first) = concerts.first() else {
            bail!("the data set has no open concert to read: seed with --open-concerts 1 or more");
        };
        let seats: Vec<i64> = sqlx::query_scalar(
            "SELECT s.id FROM seat s JOIN performance p ON p.id = s.performance_id
             WHERE p.concert_id = ? AND s.status = 'AVAILABLE' ORDER BY s.id",
        )
        .bind(first)
        .fetch_all(pool)
        .await?;
        if seats.is_empty() {
            bail!("open concert {first} has no available seat to write to");
        }
        let holder = -i64::from(fake::rand::random::<u32>()) - 1;
        Ok(Self {
            concerts,
            seats,
            holder,
        })
    }

    /// Puts back every seat the benchmark held, so the data set is as seeded.
    pub async fn release_holds(&self, pool: &MySqlPool) -> Result<()> {
        sqlx::query(
            "UPDATE seat SET status = 'AVAILABLE', held_until = NULL, held_by = NULL
             WHERE status = 'HELD' AND held_by = ? AND held_for IS NULL",
        )
        .bind(self.holder)
        .execute(pool)
        .await?;
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub clients: usize,
    pub requests: Option<u64>,
    pub duration: Duration,
    pub rate: Option<f64>,
    pub warmup: u64,
    pub write_ratio: f64,
    pub rng_seed: u64,
}

impl Load {
    /// Whether request `index` (counted from 0) is still part of a closed-loop run at
    /// `elapsed`.
    fn admits(&self, index: u64, elapsed: Duration) -> bool {
        match self.requests {
            Some(n) => index < n,
            None => elapsed < self.duration,
        }
    }

    /// An open-loop run's slots: `--requests`, or the rate over the duration.
    fn slots(&self, rate: f64) -> u64 {
        self.requests
            .unwrap_or_else(|| (rate * self.duration.as_secs_f64()).ceil() as u64)
    }
}

#[derive(Debug, Default)]
pub struct CellOutcome {
    /// Requests that succeeded: the rate and the latency are theirs; failures are `errors`.
    pub requests: u64,
    pub seconds: f64,
    pub latency: Samples,
    pub reads: u64,
    pub hits: u64,
    pub writes: u64,
    pub db_queries: u64,
    pub value_bytes: u64,
    pub stale_reads: u64,
    pub max_stale: Duration,
    pub errors: u64,
    pub fell_back: u64,
    pub connections_opened: u32,
}

impl CellOutcome {
    pub fn throughput(&self) -> f64 {
        self.requests as f64 / self.seconds
    }

    pub fn hit_ratio(&self) -> Option<f64> {
        (self.reads > 0).then(|| self.hits as f64 / self.reads as f64)
    }
}

/// Return times of writes kept for the staleness check: a read that missed an older write is
/// measured from the oldest one kept (a lower bound), so memory stays fixed in long runs.
const WRITE_WINDOW: usize = 100_000;

/// Writes to the mixed workload's concert, in the order they returned (the last
/// [`WRITE_WINDOW`] of them).
struct WriteLog {
    baseline_version: i64,
    /// Return times, and how many older ones were let go.
    returned_at: Mutex<(std::collections::VecDeque<Instant>, usize)>,
    /// How many writes have returned, readable without the lock: every read asks.
    returned: AtomicUsize,
}

impl WriteLog {
    fn record(&self, at: Instant) {
        let mut log = self.returned_at.lock().expect("write log lock");
        log.0.push_back(at);
        if log.0.len() > WRITE_WINDOW {
            log.0.pop_front();
            log.1 += 1;
        }
        drop(log);
        self.returned.fetch_add(1, Ordering::Release);
    }

    fn returned(&self) -> usize {
        self.returned.load(Ordering::Acquire)
    }

    /// How long a read that returned `version` at `now` was behind the writes that had
    /// returned before it started (`known` of them), or `None` if it was fresh.
    fn staleness(&self, version: i64, known: usize, now: Instant) -> Option<Duration> {
        let reflected = usize::try_from(version - self.baseline_version).unwrap_or(0);
        if reflected >= known {
            return None;
        }
        let (times, let_go) = &*self.returned_at.lock().expect("write log lock");
        let oldest_missed = times.get(reflected.saturating_sub(*let_go))?;
        Some(now.duration_since(*oldest_missed))
    }
}

struct Tally {
    latency: Samples,
    requests: u64,
    reads: u64,
    hits: u64,
    writes: u64,
    stale_reads: u64,
    max_stale: Duration,
    errors: u64,
    fell_back: u64,
}

/// How long the warm-up waits for a database that stopped answering before the run is
/// given up: longer than a group's failover.
const WARMUP_PATIENCE: Duration = Duration::from_secs(60);

pub async fn drive(
    service: Arc<ConcertService>,
    workload: Workload,
    targets: &Targets,
    load: &Load,
) -> Result<CellOutcome> {
    let mixed_concert = targets.concerts[0];
    // Straight from the database, so the cache (and its value size) is not touched.
    let baseline_version = match workload {
        Workload::Mixed => service.repository.detail(mixed_concert).await?.version,
        _ => 0,
    };
    let writes = Arc::new(WriteLog {
        baseline_version,
        returned_at: Mutex::default(),
        returned: AtomicUsize::new(0),
    });
    // Warm-up: fills the cache and the connection pools; not measured.
    let mut unavailable_since = None;
    let mut i = 0;
    while i < load.warmup {
        let concert = targets.concerts[i as usize % targets.concerts.len()];
        let served = match workload {
            Workload::ConcertList => service.list_concerts().await,
            _ => service.get_concert(concert).await,
        };
        match served {
            Ok(_) => {
                unavailable_since = None;
                i += 1;
            }
            // A replica lost during the warm-up is waited out as one lost later would be
            // (its reader moves once the group has settled: Galera took 6 s here, Group
            // Replication 23 s); any other failure ends the run at once.
            Err(ServiceError::Database(e))
                if is_unavailable(&e)
                    && unavailable_since.get_or_insert_with(Instant::now).elapsed()
                        < WARMUP_PATIENCE =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(anyhow::Error::from(e).context("the warm-up failed")),
        }
    }
    let queries_before = service.repository.queries();
    let connections_before = service.repository.connections();
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let pacer = load
        .rate
        .map(|rate| Pacer::start(rate, load.slots(rate), started));
    let mut workers = JoinSet::new();
    for worker in 0..load.clients {
        let (service, next, writes) = (service.clone(), next.clone(), writes.clone());
        let pacer = pacer.clone();
        let concerts = targets.concerts.clone();
        let (seats, holder) = (targets.seats.clone(), targets.holder);
        let mut rng = ChaCha8Rng::seed_from_u64(load.rng_seed ^ (worker as u64).rotate_left(29));
        let load = *load;
        workers.spawn(async move {
            let mut t = Tally {
                latency: Samples::default(),
                requests: 0,
                reads: 0,
                hits: 0,
                writes: 0,
                stale_reads: 0,
                max_stale: Duration::ZERO,
                errors: 0,
                fell_back: 0,
            };
            loop {
                // Open loop: each request has its slot, handed out when it comes; latency
                // counts from the slot, so a backlog shows up as latency instead of as fewer
                // requests.
                let begin = match &pacer {
                    Some(pacer) => match pacer.next().await {
                        Some(slot) => slot,
                        None => return t,
                    },
                    None => {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        if !load.admits(index, started.elapsed()) {
                            return t;
                        }
                        Instant::now()
                    }
                };
                let write =
                    workload == Workload::Mixed && rng.random_range(0.0..1.0) < load.write_ratio;
                if write {
                    let seat = seats[rng.random_range(0..seats.len())];
                    let toggled = service.toggle_seat(seat, holder).await;
                    crate::measure::slowdown::per_operation();
                    match toggled {
                        Ok(_) => {
                            t.latency.record(begin.elapsed());
                            writes.record(Instant::now());
                            t.writes += 1;
                            t.requests += 1;
                        }
                        Err(_) => t.errors += 1,
                    }
                } else {
                    let known = writes.returned();
                    let served = match workload {
                        Workload::ConcertList => service.list_concerts().await,
                        Workload::ConcertDetail => {
                            service
                                .get_concert(concerts[rng.random_range(0..concerts.len())])
                                .await
                        }
                        Workload::Mixed => service.get_concert(mixed_concert).await,
                    };
                    crate::measure::slowdown::per_operation();
                    let elapsed = begin.elapsed();
                    match served {
                        Ok(served) => {
                            // The staleness check below decodes the answer: not part of the
                            // latency.
                            t.latency.record(elapsed);
                            t.requests += 1;
                            t.reads += 1;
                            t.hits += u64::from(served.cache_hit);
                            t.fell_back += u64::from(served.fell_back);
                            if workload == Workload::Mixed {
                                let detail: ConcertDetail = serde_json::from_slice(&served.body)
                                    .expect("the service serves valid JSON");
                                if let Some(behind) =
                                    writes.staleness(detail.version, known, Instant::now())
                                {
                                    t.stale_reads += 1;
                                    t.max_stale = t.max_stale.max(behind);
                                }
                            }
                        }
                        Err(_) => t.errors += 1,
                    }
                }
            }
        });
    }
    let mut outcome = CellOutcome::default();
    while let Some(tally) = workers.join_next().await {
        let t = tally?;
        outcome.latency.merge(&t.latency);
        outcome.requests += t.requests;
        outcome.reads += t.reads;
        outcome.hits += t.hits;
        outcome.writes += t.writes;
        outcome.stale_reads += t.stale_reads;
        outcome.max_stale = outcome.max_stale.max(t.max_stale);
        outcome.errors += t.errors;
        outcome.fell_back += t.fell_back;
    }
    outcome.seconds = started.elapsed().as_secs_f64();
    outcome.db_queries = service.repository.queries() - queries_before;
    outcome.connections_opened = service
        .repository
        .connections()
        .saturating_sub(connections_before);
    outcome.value_bytes = service.cache().map_or(0, |c| c.value_bytes());
    Ok(outcome)
}

/// `clients` readers released at once on one cold key; returns the database queries issued.
pub async fn stampede(service: Arc<ConcertService>, concert: i64, clients: u32) -> Result<u64> {
    let barrier = Arc::new(Barrier::new(clients as usize));
    let before = service.repository.queries();
    let mut readers = JoinSet::new();
    for _ in 0..clients {
        let (service, barrier) = (service.clone(), barrier.clone());
        readers.spawn(async move {
            barrier.wait().await;
            service.get_concert(concert).await.map(drop)
        });
    }
    while let Some(read) = readers.join_next().await {
        read??;
    }
    Ok(service.repository.queries() - before)
}
