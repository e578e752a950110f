//! One simulated run against one queue store: users arrive, enter, poll their position with
//! back-off, are admitted by a scheduler ticking on the queue's clock, hold their turn for a
//! random service time, then pay (complete) or let the token expire.
//!
//! The run checks the queue's promises itself instead of assuming them: admission order
//! against arrival order, actives against the cap, admissions per rate period, and that no
//! admitted user is left in the waiting set.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use fake::RngExt;
use fake::rand::SeedableRng;
use fake::rand::rngs::ChaCha8Rng;
use indicatif::ProgressBar;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::domain::queue::{Arrival, Clock, Policy, Position, QueueError, WaitingQueue};
use crate::measure::stats::Samples;

/// Polls back off from this (queue time) ...
const POLL_MIN: Duration = Duration::from_secs(1);
/// ... up to this, so an admitted user notices within a small part of the 5-minute TTL.
const POLL_MAX: Duration = Duration::from_secs(20);
/// Wall-clock pause before retrying an operation that failed (the store is down).
const RETRY_PAUSE: Duration = Duration::from_millis(100);
/// A run with no successful operation for this long is abandoned instead of hanging.
const STALL_LIMIT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone)]
pub struct SimParams {
    pub users: u64,
    pub clients: usize,
    pub arrival: Arrival,
    pub policy: Policy,
    pub tick: Duration,
    pub service: (Duration, Duration),
    pub abandon: f64,
    pub rng_seed: u64,
}

/// Latencies and counts of the store's operations, shared by every simulated user.
#[derive(Default)]
struct OpStats {
    enter: Mutex<Samples>,
    position: Mutex<Samples>,
    errors: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// Milliseconds since the run started at the last successful operation.
    last_success_ms: AtomicU64,
}

/// Per-user facts, in queue-clock milliseconds (-1 = not yet).
struct UserLog {
    entered_at: Vec<AtomicI64>,
    /// The first wait estimate the user was shown, and when.
    first_eta_ms: Vec<AtomicI64>,
    first_eta_at: Vec<AtomicI64>,
    admitted_at: Vec<AtomicI64>,
}

impl UserLog {
    fn new(users: u64) -> Self {
        let column = || (0..users).map(|_| AtomicI64::new(-1)).collect();
        Self {
            entered_at: column(),
            first_eta_ms: column(),
            first_eta_at: column(),
            admitted_at: column(),
        }
    }
}

struct Shared<Q> {
    queue: Q,
    clock: Clock,
    params: SimParams,
    permits: Semaphore,
    ops: OpStats,
    log: UserLog,
    started: Instant,
    finished_users: AtomicU64,
    reentered: AtomicU64,
    expired_unnoticed: AtomicU64,
    arrivals_delayed: AtomicU64,
    stop: AtomicBool,
}

/// Simulated users alive at once at most (each is a task with its own timers and state);
/// later arrivals wait for a slot and are counted as delayed.
const MAX_LIVE_USERS: usize = 200_000;

impl<Q: WaitingQueue> Shared<Q> {
    /// One store operation, retried until it succeeds (or the run stops); failures are
    /// counted, and the latency of the successful try is recorded. Users' operations wait for
    /// one of the `-c` client permits; the scheduler's do not (in production it is its own
    /// process, not one more client in the crowd).
    async fn call<T, F, Fut>(&self, samples: Option<&Mutex<Samples>>, op: F) -> Option<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, QueueError>>,
    {
        self.call_as(Some(&self.permits), samples, op).await
    }

    async fn call_as<T, F, Fut>(
        &self,
        permits: Option<&Semaphore>,
        samples: Option<&Mutex<Samples>>,
        op: F,
    ) -> Option<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, QueueError>>,
    {
        while !self.stop.load(Ordering::Relaxed) {
            let permit = match permits {
                Some(p) => Some(p.acquire().await.expect("semaphore never closed")),
                None => None,
            };
            let started = Instant::now();
            let outcome = op().await;
            crate::measure::slowdown::per_operation();
            let elapsed = started.elapsed();
            drop(permit);
            match outcome {
                Ok(value) => {
                    if let Some(samples) = samples {
                        samples.lock().expect("samples lock").record(elapsed);
                    }
                    let now = self.started.elapsed().as_millis() as u64;
                    self.ops.last_success_ms.fetch_max(now, Ordering::Relaxed);
                    return Some(value);
                }
                Err(err) => {
                    self.ops.errors.fetch_add(1, Ordering::Relaxed);
                    *self.ops.last_error.lock().expect("error lock") = Some(err.to_string());
                    tokio::time::sleep(RETRY_PAUSE).await;
                }
            }
        }
        None
    }

    async fn user(self: Arc<Self>, user: u64) {
        let index = (user - 1) as usize;
        let mut rng = ChaCha8Rng::seed_from_u64(self.params.rng_seed ^ user.rotate_left(17));
        self.clock.sleep(self.params.arrival.offset(user - 1)).await;
        let mut backoff = POLL_MIN;
        let mut position = match self.enter(user, index).await {
            Some(position) => position,
            None => return,
        };
        loop {
            match position {
                Position::Active { .. } => break,
                Position::Waiting { eta, .. } => {
                    // Look again when the estimate says it is our turn (a client showing a
                    // countdown), or back off exponentially without one.
                    backoff = eta.unwrap_or(backoff * 2).clamp(POLL_MIN, POLL_MAX);
                    self.clock.sleep(backoff).await;
                }
                Position::Absent if self.log.admitted_at[index].load(Ordering::Relaxed) >= 0 => {
                    // Admitted, but the token expired before this user looked.
                    self.expired_unnoticed.fetch_add(1, Ordering::Relaxed);
                    self.finished_users.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Position::Absent => {
                    // The queue lost this user (the store restarted): enter again.
                    self.reentered.fetch_add(1, Ordering::Relaxed);
                    match self.enter(user, index).await {
                        Some(p) => {
                            position = p;
                            continue;
                        }
                        None => return,
                    }
                }
            }
            let queue = &self.queue;
            match self
                .call(Some(&self.ops.position), || queue.position(user))
                .await
            {
                Some(p) => position = p,
                None => return,
            }
            self.note_estimate(index, position, self.clock.now_ms());
        }
        let (low, high) = self.params.service;
        let service = low + (high - low).mul_f64(rng.random_range(0.0..1.0));
        self.clock.sleep(service).await;
        if rng.random_range(0.0..1.0) >= self.params.abandon {
            let queue = &self.queue;
            self.call(None, || queue.complete(user)).await;
        }
        self.finished_users.fetch_add(1, Ordering::Relaxed);
    }

    async fn enter(&self, user: u64, index: usize) -> Option<Position> {
        let queue = &self.queue;
        let ticket = self
            .call(Some(&self.ops.enter), || queue.enter(user))
            .await?;
        // Measured from the store's answer: time spent waiting for a client permit is the
        // simulator's own queue, not the waiting queue's.
        let entered_at = self.clock.now_ms();
        // A re-entry keeps the first arrival time: the wait is the user's, not the store's.
        let _ = self.log.entered_at[index].compare_exchange(
            -1,
            entered_at,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
        self.note_estimate(index, ticket.position, entered_at);
        Some(ticket.position)
    }

    /// Keeps the first wait estimate a user is shown (under a capacity policy there is none
    /// until the scheduler has observed an admission rate).
    fn note_estimate(&self, index: usize, position: Position, at: i64) {
        if let Position::Waiting { eta: Some(eta), .. } = position
            && self.log.first_eta_at[index]
                .compare_exchange(-1, at, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.log.first_eta_ms[index].store(eta.as_millis() as i64, Ordering::Relaxed);
        }
    }
}

/// What the scheduler saw, in admission order.
#[derive(Debug, Default)]
struct SchedulerLog {
    admissions: Vec<(u64, u64)>,
    /// Admitted users outside this run's 1..=users: proof that something else shares the queue.
    foreign_admissions: u64,
    max_active: u64,
    max_per_period: u64,
    expired: u64,
    peak_memory: Option<u64>,
    timeline: Vec<TickSample>,
}

/// The queue after one scheduler tick, on the queue's (simulated) clock.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TickSample {
    pub at_ms: i64,
    pub waiting: u64,
    pub active: u64,
    /// Admitted since the previous sample.
    pub admitted: u64,
}

/// Points a timeline keeps at most: neighbouring ticks are merged beyond that.
const TIMELINE_POINTS: usize = 400;
/// (first estimate, actual remaining wait) pairs kept at most, an even stride over users.
const ESTIMATES_KEPT: usize = 1_000;

/// At most [`TIMELINE_POINTS`] samples: each merged sample keeps its last tick's queue state
/// and the admissions of all its ticks.
fn thinned(timeline: &[TickSample]) -> Vec<TickSample> {
    let per = timeline.len().div_ceil(TIMELINE_POINTS).max(1);
    timeline
        .chunks(per)
        .map(|ticks| TickSample {
            admitted: ticks.iter().map(|t| t.admitted).sum(),
            ..*ticks.last().expect("chunks are never empty")
        })
        .collect()
}

/// The outcome of one run, before it is reported.
#[derive(Debug)]
pub struct SimOutcome {
    pub backend: &'static str,
    pub wall: Duration,
    pub enter: Samples,
    pub position: Samples,
    pub wait: Samples,
    pub eta_error_pct: Option<f64>,
    pub admitted: u64,
    pub admissions: u64,
    pub max_active: u64,
    pub max_admitted_per_period: u64,
    pub fifo_violations: u64,
    /// Admissions the store made a second time (same user, same arrival) after losing the
    /// first: acknowledged writes lost.
    pub lost_admissions: u64,
    pub admitted_still_waiting: u64,
    pub foreign_admissions: u64,
    /// Users whose arrival waited for a free slot in the live-user budget.
    pub arrivals_delayed: u64,
    pub tokens_expired: u64,
    pub expired_unnoticed: u64,
    pub reentered: u64,
    pub errors: u64,
    pub peak_memory_bytes: Option<u64>,
    /// Waiting and active users over simulated time (at most 400 points).
    pub timeline: Vec<TickSample>,
    /// (first estimate, actual remaining wait) in ms, for up to 1,000 users.
    pub estimates: Vec<(f64, f64)>,
}

impl SimOutcome {
    /// One outcome for several queues run at once: counts summed, latencies merged, the
    /// per-queue limits (active, per period) as their largest, the timeline of the first
    /// queue (the others' look alike) and the ETA error weighted by each queue's admissions.
    pub fn merge(outcomes: Vec<SimOutcome>) -> SimOutcome {
        let mut outcomes = outcomes.into_iter();
        let mut merged = outcomes.next().expect("at least one queue");
        let mut eta_weighted = merged
            .eta_error_pct
            .map(|e| (e * merged.admitted as f64, merged.admitted as f64));
        for o in outcomes {
            merged.wall = merged.wall.max(o.wall);
            merged.enter.merge(&o.enter);
            merged.position.merge(&o.position);
            merged.wait.merge(&o.wait);
            if let Some(e) = o.eta_error_pct {
                let (sum, weight) = eta_weighted.unwrap_or((0.0, 0.0));
                eta_weighted = Some((sum + e * o.admitted as f64, weight + o.admitted as f64));
            }
            merged.admitted += o.admitted;
            merged.admissions += o.admissions;
            merged.max_active = merged.max_active.max(o.max_active);
            merged.max_admitted_per_period = merged
                .max_admitted_per_period
                .max(o.max_admitted_per_period);
            merged.fifo_violations += o.fifo_violations;
            merged.lost_admissions += o.lost_admissions;
            merged.admitted_still_waiting += o.admitted_still_waiting;
            merged.foreign_admissions += o.foreign_admissions;
            merged.arrivals_delayed += o.arrivals_delayed;
            merged.tokens_expired += o.tokens_expired;
            merged.expired_unnoticed += o.expired_unnoticed;
            merged.reentered += o.reentered;
            merged.errors += o.errors;
            merged.peak_memory_bytes = match (merged.peak_memory_bytes, o.peak_memory_bytes) {
                (Some(a), Some(b)) => Some(a + b),
                (a, b) => a.or(b),
            };
            merged.estimates.extend(o.estimates);
        }
        let stride = merged.estimates.len().div_ceil(ESTIMATES_KEPT).max(1);
        merged.estimates = merged.estimates.into_iter().step_by(stride).collect();
        merged.eta_error_pct =
            eta_weighted.and_then(|(sum, weight)| (weight > 0.0).then(|| sum / weight));
        merged
    }
}

pub async fn simulate<Q: WaitingQueue>(
    queue: Q,
    clock: Clock,
    params: SimParams,
    bar: &ProgressBar,
) -> Result<SimOutcome> {
    let shared = Arc::new(Shared {
        queue,
        clock,
        permits: Semaphore::new(params.clients),
        ops: OpStats::default(),
        log: UserLog::new(params.users),
        started: Instant::now(),
        finished_users: AtomicU64::new(0),
        reentered: AtomicU64::new(0),
        expired_unnoticed: AtomicU64::new(0),
        arrivals_delayed: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        params,
    });
    shared.queue.clear().await?;
    // Users are spawned as they arrive, at most MAX_LIVE_USERS at a time: a task per
    // simulated user for 10M users would be gigabytes.
    let spawner = tokio::spawn({
        let shared = Arc::clone(&shared);
        async move {
            let mut users = JoinSet::new();
            for user in 1..=shared.params.users {
                if shared.stop.load(Ordering::Relaxed) {
                    break;
                }
                if users.len() >= MAX_LIVE_USERS {
                    shared.arrivals_delayed.fetch_add(1, Ordering::Relaxed);
                    users.join_next().await;
                }
                users.spawn(Arc::clone(&shared).user(user));
            }
            // Wait for the users, unless the scheduler stops them first.
            while users.join_next().await.is_some() {
                if shared.stop.load(Ordering::Relaxed) {
                    break;
                }
            }
            users.shutdown().await;
        }
    });
    let scheduled = schedule(&shared, bar).await;
    shared.stop.store(true, Ordering::Relaxed);
    spawner.await.ok();
    let log = scheduled?;
    let wall = shared.started.elapsed();

    let admitted_users: Vec<u64> = log.admissions.iter().map(|&(user, _)| user).collect();
    let admitted_still_waiting = shared.queue.count_waiting(&admitted_users).await?;
    shared.queue.clear().await?;
    Ok(outcome(&shared, log, wall, admitted_still_waiting))
}

/// Ticks the scheduler until every user is done and every token has run out, sampling the
/// store's memory now and then; fails if the store stops answering for good.
async fn schedule<Q: WaitingQueue>(shared: &Shared<Q>, bar: &ProgressBar) -> Result<SchedulerLog> {
    let params = &shared.params;
    let mut log = SchedulerLog::default();
    let mut period_counts: (i64, u64) = (i64::MIN, 0);
    let mut tick: u64 = 0;
    loop {
        shared.clock.sleep(params.tick).await;
        tick += 1;
        let now = shared.clock.now_ms();
        let queue = &shared.queue;
        let admission = tokio::select! {
            admission = shared.call_as(None, None, || queue.admit()) => admission,
            _ = tokio::time::sleep(STALL_LIMIT) => None,
        };
        // Another thread may record a success after `elapsed` was read: saturate, not wrap.
        let stalled = u64::try_from(shared.started.elapsed().as_millis())
            .unwrap_or(u64::MAX)
            .saturating_sub(shared.ops.last_success_ms.load(Ordering::Relaxed));
        let Some(admission) = admission else {
            bail!(stall_message(shared));
        };
        if stalled > STALL_LIMIT.as_millis() as u64 {
            bail!(stall_message(shared));
        }
        if let Policy::Rate { per, .. } = params.policy {
            let period = now / per.as_millis().max(1) as i64;
            if period != period_counts.0 {
                period_counts = (period, 0);
            }
            period_counts.1 += admission.admitted.len() as u64;
            log.max_per_period = log.max_per_period.max(period_counts.1);
        }
        for admitted in &admission.admitted {
            let slot = admitted
                .user
                .checked_sub(1)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| shared.log.admitted_at.get(i));
            let Some(slot) = slot else {
                log.foreign_admissions += 1;
                continue;
            };
            slot.store(now, Ordering::Relaxed);
            log.admissions.push((admitted.user, admitted.arrival));
        }
        log.max_active = log.max_active.max(admission.active);
        log.expired += admission.expired;
        log.timeline.push(TickSample {
            at_ms: now,
            waiting: admission.waiting,
            active: admission.active,
            admitted: admission.admitted.len() as u64,
        });
        if (tick == 1 || tick.is_multiple_of(50))
            && let Ok(Some(bytes)) = shared.queue.memory_bytes().await
        {
            log.peak_memory = log.peak_memory.max(Some(bytes));
        }
        let finished = shared.finished_users.load(Ordering::Relaxed);
        bar.set_position(finished);
        bar.set_message(format!(
            "admitted {} · waiting {} · active {}",
            log.admissions.len(),
            admission.waiting,
            admission.active
        ));
        if finished == params.users && admission.active == 0 && admission.waiting == 0 {
            return Ok(log);
        }
    }
}

fn stall_message<Q>(shared: &Shared<Q>) -> String {
    let last = shared.ops.last_error.lock().expect("error lock").clone();
    format!(
        "the queue store stopped answering for {} s ({} failed operations; last: {}); the simulation was abandoned",
        STALL_LIMIT.as_secs(),
        shared.ops.errors.load(Ordering::Relaxed),
        last.unwrap_or_else(|| "no error, only silence".into())
    )
}

fn outcome<Q: WaitingQueue>(
    shared: &Shared<Q>,
    log: SchedulerLog,
    wall: Duration,
    admitted_still_waiting: u64,
) -> SimOutcome {
    // FIFO: each admission must come after every earlier admission's arrival. A user admitted
    // again with the same arrival is the store admitting once more what it already admitted
    // and then forgot (a failover that lost acknowledged writes): counted apart, as a loss,
    // not as disorder. (A user who re-entered has a new arrival.)
    let mut highest = 0;
    let mut fifo_violations = 0;
    let mut lost_admissions = 0;
    let mut admitted_once = std::collections::HashSet::with_capacity(log.admissions.len());
    for &(user, arrival) in &log.admissions {
        if !admitted_once.insert((user, arrival)) {
            lost_admissions += 1;
            continue;
        }
        if arrival < highest {
            fifo_violations += 1;
        }
        highest = highest.max(arrival);
    }
    let mut wait = Samples::default();
    // Weighted absolute error: total |estimate - actual| over total actual wait, so the
    // users next in line (whose tiny waits make any ratio explode) do not dominate it.
    let (mut error_ms, mut waited_ms) = (0i64, 0i64);
    let mut estimates = Vec::new();
    let estimate_stride = (shared.params.users as usize)
        .div_ceil(ESTIMATES_KEPT)
        .max(1);
    let user_log = &shared.log;
    for i in 0..shared.params.users as usize {
        let (entered, admitted) = (
            user_log.entered_at[i].load(Ordering::Relaxed),
            user_log.admitted_at[i].load(Ordering::Relaxed),
        );
        if entered < 0 || admitted < 0 {
            continue;
        }
        let waited = (admitted - entered).max(0);
        wait.record(Duration::from_millis(waited as u64));
        let (eta, eta_at) = (
            user_log.first_eta_ms[i].load(Ordering::Relaxed),
            user_log.first_eta_at[i].load(Ordering::Relaxed),
        );
        let remaining = admitted - eta_at;
        // Waits shorter than a tick are all rounding: they say nothing about the estimate.
        if eta_at >= 0 && remaining >= shared.params.tick.as_millis() as i64 {
            error_ms += (eta - remaining).abs();
            waited_ms += remaining;
            if i % estimate_stride == 0 {
                estimates.push((eta as f64, remaining as f64));
            }
        }
    }
    let take = |m: &Mutex<Samples>| std::mem::take(&mut *m.lock().expect("samples lock"));
    SimOutcome {
        backend: shared.queue.backend(),
        wall,
        enter: take(&shared.ops.enter),
        position: take(&shared.ops.position),
        wait,
        eta_error_pct: (waited_ms > 0).then(|| error_ms as f64 / waited_ms as f64 * 100.0),
        // Distinct users: on an overloaded machine a user can miss a whole compressed TTL,
        // find themselves gone, enter again and be admitted a second time.
        admitted: user_log
            .admitted_at
            .iter()
            .filter(|at| at.load(Ordering::Relaxed) >= 0)
            .count() as u64,
        admissions: log.admissions.len() as u64,
        max_active: log.max_active,
        max_admitted_per_period: log.max_per_period,
        fifo_violations,
        lost_admissions,
        admitted_still_waiting,
        foreign_admissions: log.foreign_admissions,
        arrivals_delayed: shared.arrivals_delayed.load(Ordering::Relaxed),
        tokens_expired: log.expired,
        expired_unnoticed: shared.expired_unnoticed.load(Ordering::Relaxed),
        reentered: shared.reentered.load(Ordering::Relaxed),
        errors: shared.ops.errors.load(Ordering::Relaxed),
        peak_memory_bytes: log.peak_memory,
        timeline: thinned(&log.timeline),
        estimates,
    }
}

/// Saturation throughput of the two client-facing operations, apart from the simulation:
/// `clients` concurrent callers enter `size` users, then look up `lookups` random positions
/// in the full queue. This is what the redis-benchmark anchor is compared with.
#[derive(Debug)]
pub struct Probe {
    pub size: u64,
    pub enter: Samples,
    pub enter_per_second: f64,
    pub position: Samples,
    pub position_per_second: f64,
}

impl Probe {
    /// Probes run at once on several queues: latencies merged, throughputs summed (they ran
    /// side by side, so the sum is what the store served).
    pub fn merge(probes: Vec<Probe>) -> Probe {
        let mut probes = probes.into_iter();
        let mut merged = probes.next().expect("at least one queue");
        for p in probes {
            merged.size += p.size;
            merged.enter.merge(&p.enter);
            merged.enter_per_second += p.enter_per_second;
            merged.position.merge(&p.position);
            merged.position_per_second += p.position_per_second;
        }
        merged
    }
}

pub async fn probe<Q: WaitingQueue>(
    queue: &Q,
    clients: usize,
    size: u64,
    lookups: u64,
    rng_seed: u64,
    bar: &ProgressBar,
) -> Result<Probe> {
    use futures::StreamExt;

    queue.clear().await?;
    bar.set_length(size + lookups);
    bar.set_position(0);
    let started = Instant::now();
    let mut enter = Samples::default();
    let mut entries = futures::stream::iter(1..=size)
        .map(|user| timed(queue.enter(user)))
        .buffer_unordered(clients);
    while let Some(elapsed) = entries.next().await {
        enter.record(elapsed?);
        bar.inc(1);
    }
    let enter_seconds = started.elapsed().as_secs_f64();
    drop(entries);

    let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
    let picks: Vec<u64> = (0..lookups).map(|_| rng.random_range(1..=size)).collect();
    let started = Instant::now();
    let mut position = Samples::default();
    let mut lookups_done = futures::stream::iter(picks)
        .map(|user| timed(queue.position(user)))
        .buffer_unordered(clients);
    while let Some(elapsed) = lookups_done.next().await {
        position.record(elapsed?);
        bar.inc(1);
    }
    let position_seconds = started.elapsed().as_secs_f64();
    drop(lookups_done);
    queue.clear().await?;
    Ok(Probe {
        size,
        enter_per_second: enter.len() as f64 / enter_seconds,
        enter,
        position_per_second: position.len() as f64 / position_seconds,
        position,
    })
}

/// How long one operation took, if it succeeded.
async fn timed<T>(op: impl Future<Output = Result<T, QueueError>>) -> Result<Duration, QueueError> {
    let started = Instant::now();
    let outcome = op.await;
    crate::measure::slowdown::per_operation();
    outcome.map(|_| started.elapsed())
}
