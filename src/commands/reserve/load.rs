//! `reserve --load`: simulated users holding (and paying for) seats concurrently, one run per
//! strategy on seats no earlier run touched, and the charge race.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use fake::RngExt;
use fake::rand::SeedableRng;
use fake::rand::rngs::ChaCha8Rng;
use futures::StreamExt;
use serde::Serialize;

use super::{ReserveArgs, SeatChoice};
use crate::commands::reserve::events::{Outcomes, Saga};
use crate::context::Context;
use crate::domain::booking::{Booking, BookingError, Strategy};
use crate::domain::services;
use crate::measure::stats::{Latency, Samples};
use crate::render::output::{Table, thousands};
use crate::render::progress;

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct StrategyResult {
    /// `direct` (one transaction per step) or `events` (the services' sagas).
    pub flow: &'static str,
    pub strategy: Strategy,
    pub scenario: String,
    pub attempts: u64,
    pub succeeded: u64,
    pub conflicts: u64,
    /// Refused by a rule other than the race (not enough points, say).
    pub refused: u64,
    pub errors: u64,
    pub retries: u64,
    /// Commits the server aborted for a conflict, each retried (errors 1213, 1180, 3101): on
    /// Galera and multi-primary Group Replication, certification failures (a row another
    /// member changed first); on one server, InnoDB deadlocks.
    pub certification_failures: u64,
    /// The seats this strategy's users picked from: its own, shared with no other strategy
    /// of the run.
    pub seats: u64,
    /// Seats the unmeasured warm-up held (on seats of its own; counted in `events`, not here).
    pub warmup_holds: u64,
    /// The measured run, from the first attempt to the last answer (after the warm-up).
    pub seconds: f64,
    /// The drain: from the moment the last attempt started (fewer than `clients` in flight
    /// from then on) to the last answer.
    pub drain_seconds: f64,
    /// Completed per second over the steady window (all clients busy: `seconds` less the
    /// drain), counting the completions inside it.
    pub throughput_per_second: f64,
    /// Per attempt, won or lost.
    pub latency: Latency,
    /// From request to confirmed (held, with --no-pay), over the users who got there; null
    /// when none did.
    pub e2e: Option<Latency>,
    /// The first error that was not a lost race, if any.
    pub first_error: Option<String>,
}

/// Seats no run has touched yet, taken in order so each strategy gets fresh ones.
struct SeatPool {
    seats: Vec<i64>,
    next: usize,
}

impl SeatPool {
    async fn load(booking: &Booking) -> Result<Self> {
        let seats: Vec<i64> = sqlx::query_scalar(
            "SELECT s.id FROM seat s JOIN performance p ON p.id = s.performance_id
             JOIN concert c ON c.id = p.concert_id
             WHERE c.status = 'OPEN' AND c.booking_opens_at <= NOW() AND s.status = 'AVAILABLE'
             ORDER BY s.id",
        )
        .fetch_all(&booking.pool)
        .await?;
        Ok(Self { seats, next: 0 })
    }

    fn take(&mut self, n: usize) -> Result<Vec<i64>> {
        if self.next + n > self.seats.len() {
            bail!(
                "only {} available seats in open concerts are left for this run, {n} more were needed: seed with more --open-concerts, or `seed --reset`",
                self.seats.len() - self.next
            );
        }
        self.next += n;
        Ok(self.seats[self.next - n..self.next].to_vec())
    }

    /// Seats not given out yet.
    fn left(&self) -> usize {
        self.seats.len() - self.next
    }
}

pub async fn run(
    booking: &Booking,
    ctx: &Context,
    args: &ReserveArgs,
    drivers: &[Driver<'_>],
) -> Result<Vec<StrategyResult>> {
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM point_wallet")
        .fetch_one(&booking.pool)
        .await?;
    if i64::try_from(args.users).map_or(true, |wanted| wanted > users) {
        bail!(
            "--users {} is more than the {users} users in the database: seed with --users {} or more",
            args.users,
            args.users
        );
    }
    let mut pool = SeatPool::load(booking).await?;
    crate::storage::db::open_connections(&booking.pool, args.clients).await?;
    let warmup = warmup_attempts(args);
    // Every strategy gets seats of its own, for its warm-up and for its measured run: a
    // strategy that drew from seats an earlier one sold would lose races the earlier one
    // never had to (with all four spread strategies, about 42% of the fourth's picks).
    let per_strategy = |pool: &SeatPool| -> Result<usize> {
        let warmup_seats = match args.seats {
            SeatChoice::Hot => 1,
            SeatChoice::Few(n) => n as usize,
            SeatChoice::Spread => warmup,
        };
        let share = (pool.left() / drivers.len().max(1)).saturating_sub(warmup_seats);
        if share == 0 {
            bail!(
                "only {} available seats in open concerts are left for this run: not enough for {} strategies' own seats and warm-ups; seed with more --open-concerts, or `seed --reset`",
                pool.left(),
                drivers.len()
            );
        }
        Ok(share)
    };
    let spread_share = match args.seats {
        SeatChoice::Spread => per_strategy(&pool)?,
        _ => 0,
    };
    let multi = progress::multi(ctx.progress_visible());
    let mut results = Vec::new();
    for (i, driver) in drivers.iter().enumerate() {
        let (warmup_seats, seats) = match args.seats {
            SeatChoice::Hot => (pool.take(1)?, pool.take(1)?),
            SeatChoice::Few(n) => (pool.take(n as usize)?, pool.take(n as usize)?),
            SeatChoice::Spread => (pool.take(warmup)?, pool.take(spread_share)?),
        };
        let name = format!("{} {}", driver.flow(), driver.strategy());
        // Unmeasured: the first attempts of a strategy pay for cold caches and plans.
        let warmup_holds = warm_up(driver, args, &warmup_seats, warmup).await;
        let bar = progress::rows_bar(&multi, &name, args.users);
        let mut result = one_run(driver, args, &seats, args.rng_seed ^ i as u64, &bar).await;
        result.warmup_holds = warmup_holds;
        bar.finish_and_clear();
        results.push(result);
    }
    Ok(results)
}

/// Warm-up attempts per strategy: two per client.
fn warmup_attempts(args: &ReserveArgs) -> usize {
    2 * args.clients as usize
}

/// Holds (never pays: no user's points are spent) on seats of the warm-up's own, by users
/// taken in turn; returns how many seats it held.
async fn warm_up(driver: &Driver<'_>, args: &ReserveArgs, seats: &[i64], attempts: usize) -> u64 {
    let users = args.users as i64;
    futures::stream::iter(0..attempts)
        .map(|i| {
            let (user, seat) = (1 + i as i64 % users, seats[i % seats.len()]);
            async move { driver.reserve(user, seat, false).await }
        })
        .buffer_unordered(args.clients as usize)
        .fold(0, |held, outcome| async move {
            held + u64::from(matches!(outcome.0, Attempt::Done { .. }))
        })
        .await
}

/// How one simulated user's reservation is carried out.
pub enum Driver<'a> {
    /// The single-transaction path: `Booking::hold` then `Booking::pay`, each user on one of
    /// the writers (one, or every member of a multi-primary group).
    Direct(&'a [Booking], Strategy),
    /// The services: start each saga, wait for its outcome event.
    Events(ThroughEvents<'a>),
}

/// What the events flow needs: where to start the sagas and where their outcomes arrive.
pub struct ThroughEvents<'a> {
    pub pool: &'a sqlx::MySqlPool,
    pub outcomes: &'a Outcomes,
    pub hold_for: Duration,
    pub timeout: Duration,
}

impl Driver<'_> {
    fn flow(&self) -> &'static str {
        match self {
            Driver::Direct(..) => "direct",
            Driver::Events(_) => "events",
        }
    }

    fn strategy(&self) -> Strategy {
        match self {
            Driver::Direct(_, strategy) => *strategy,
            // The Concert service takes a seat with the conditional update.
            Driver::Events(_) => Strategy::Conditional,
        }
    }

    /// The attempt's outcome and the aborted commits it retried.
    async fn reserve(&self, user: i64, seat: i64, pay: bool) -> (Attempt, u32) {
        match *self {
            Driver::Direct(bookings, strategy) => {
                let booking = &bookings[user.unsigned_abs() as usize % bookings.len()];
                let mut aborted = 0;
                // Each step alone: a hold that committed is never taken again.
                let outcome = match retry_aborted(&mut aborted, || {
                    booking.hold(strategy, user, seat)
                })
                .await
                {
                    Ok(hold) if pay => {
                        match retry_aborted(&mut aborted, || booking.pay(user, hold.reservation_id))
                            .await
                        {
                            Ok(_) => Attempt::Done {
                                retries: hold.retries,
                            },
                            Err(e) => e.into(),
                        }
                    }
                    Ok(hold) => Attempt::Done {
                        retries: hold.retries,
                    },
                    Err(e) => e.into(),
                };
                (outcome, aborted)
            }
            Driver::Events(ref events) => (events.reserve(user, seat, pay).await, 0),
        }
    }
}

impl ThroughEvents<'_> {
    async fn reserve(&self, user: i64, seat: i64, pay: bool) -> Attempt {
        let timeout = self.timeout;
        let reservation =
            match services::reservation::request(self.pool, user, seat, self.hold_for).await {
                Ok(id) => id,
                Err(e) => return e.into(),
            };
        match self
            .outcomes
            .wait(Saga::Reservation(reservation), timeout)
            .await
        {
            None => return Attempt::no_outcome("reservation", reservation, timeout),
            Some(Err(_)) => return Attempt::Conflict,
            Some(Ok(())) if !pay => return Attempt::Done { retries: 0 },
            Some(Ok(())) => {}
        }
        let payment = match services::payment::request(self.pool, user, reservation).await {
            Ok(id) => id,
            Err(e) => return e.into(),
        };
        match self.outcomes.wait(Saga::Payment(payment), timeout).await {
            None => Attempt::no_outcome("payment", payment, timeout),
            Some(Err(_)) => Attempt::Refused,
            Some(Ok(())) => Attempt::Done { retries: 0 },
        }
    }
}

/// Commits a group (or a deadlock) aborted are retried this often per step.
const ABORTED_COMMIT_RETRIES: u32 = 5;

/// Runs `step` again while the server aborts its commit for a conflict, counting each abort:
/// the transaction left nothing behind, and the retry meets the winner's committed row (a
/// seat already held is then a lost race, as on one server).
async fn retry_aborted<T, F, Fut>(aborted: &mut u32, mut step: F) -> Result<T, BookingError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, BookingError>>,
{
    let mut tries = 0;
    loop {
        match step().await {
            Err(BookingError::Database(e))
                if crate::storage::db::is_aborted_commit(&e) && tries < ABORTED_COMMIT_RETRIES =>
            {
                tries += 1;
                *aborted += 1;
            }
            done => return done,
        }
    }
}

enum Attempt {
    Done { retries: u32 },
    Conflict,
    Refused,
    Failed(String),
}

impl Attempt {
    fn no_outcome(saga: &str, id: i64, timeout: Duration) -> Self {
        Attempt::Failed(format!(
            "{saga} {id}: no outcome event within {} s (are the workers running?)",
            timeout.as_secs()
        ))
    }
}

impl From<BookingError> for Attempt {
    fn from(err: BookingError) -> Self {
        match err {
            e if e.is_conflict() => Attempt::Conflict,
            BookingError::Database(_) | BookingError::Redis(_) => Attempt::Failed(err.to_string()),
            _ => Attempt::Refused,
        }
    }
}

async fn one_run(
    driver: &Driver<'_>,
    args: &ReserveArgs,
    seats: &[i64],
    rng_seed: u64,
    bar: &indicatif::ProgressBar,
) -> StrategyResult {
    let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
    let picks: Vec<(i64, i64)> = (1_i64..)
        .zip(0..args.users)
        .map(|(user, _)| (user, seats[rng.random_range(0..seats.len())]))
        .collect();
    let pay = !args.no_pay;
    let attempts_total = picks.len();
    let started = Instant::now();
    // When the last attempt started: from then on fewer than `clients` are in flight.
    let launched = std::sync::atomic::AtomicUsize::new(0);
    let last_start = std::sync::Mutex::new(started);
    let mut latency = Samples::default();
    let mut end_to_end = Samples::default();
    // When each completion came (seconds from the start), to count those in the steady window.
    let mut completed_at: Vec<f32> = Vec::new();
    let mut result = StrategyResult {
        flow: driver.flow(),
        strategy: driver.strategy(),
        scenario: args.seats.to_string(),
        seats: seats.len() as u64,
        warmup_holds: 0,
        attempts: 0,
        succeeded: 0,
        conflicts: 0,
        refused: 0,
        errors: 0,
        retries: 0,
        certification_failures: 0,
        seconds: 0.0,
        drain_seconds: 0.0,
        throughput_per_second: 0.0,
        latency: Latency::default(),
        e2e: None,
        first_error: None,
    };
    let (launched, last_start) = (&launched, &last_start);
    let mut attempts = futures::stream::iter(picks)
        .map(|(user, seat)| async move {
            let begin = Instant::now();
            if launched.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 == attempts_total {
                *last_start.lock().expect("last start") = begin;
            }
            let (outcome, aborted) = driver.reserve(user, seat, pay).await;
            crate::measure::slowdown::per_operation();
            (outcome, aborted, begin.elapsed())
        })
        .buffer_unordered(args.clients as usize);
    while let Some((outcome, aborted, elapsed)) = attempts.next().await {
        result.attempts += 1;
        result.certification_failures += u64::from(aborted);
        bar.inc(1);
        latency.record(elapsed);
        match outcome {
            Attempt::Done { retries } => {
                end_to_end.record(elapsed);
                completed_at.push(started.elapsed().as_secs_f32());
                result.succeeded += 1;
                result.retries += u64::from(retries);
            }
            Attempt::Conflict => result.conflicts += 1,
            Attempt::Refused => result.refused += 1,
            Attempt::Failed(e) => {
                result.errors += 1;
                result.first_error.get_or_insert(e);
            }
        }
    }
    result.seconds = started.elapsed().as_secs_f64();
    let steady = last_start
        .lock()
        .expect("last start")
        .duration_since(started)
        .as_secs_f64();
    result.drain_seconds = result.seconds - steady;
    // A run too short to have a steady window (fewer attempts than clients) is all drain:
    // its rate is over the whole run.
    result.throughput_per_second = if steady > 0.0 {
        completed_at
            .iter()
            .filter(|&&t| f64::from(t) <= steady)
            .count() as f64
            / steady
    } else {
        result.succeeded as f64 / result.seconds
    };
    result.latency = latency.summary();
    result.e2e = end_to_end.summary_if_any();
    result
}

pub fn table(results: &[StrategyResult], paid: bool) -> Table {
    let title = if paid {
        "Reservations under load (completed = held and paid)"
    } else {
        "Reservations under load (completed = held; --no-pay)"
    };
    let mut table = Table::new(
        title,
        &[
            "flow",
            "strategy",
            "scenario",
            "attempts",
            "succeeded",
            "conflicts",
            "refused",
            "errors",
            "retries",
            "aborted commits",
            "seats",
            "completed/s",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "e2e p99 ms",
            "wall s",
            "drain s",
        ],
    );
    for r in results {
        table.push(vec![
            r.flow.into(),
            r.strategy.to_string(),
            r.scenario.clone(),
            thousands(r.attempts as f64),
            thousands(r.succeeded as f64),
            thousands(r.conflicts as f64),
            thousands(r.refused as f64),
            thousands(r.errors as f64),
            thousands(r.retries as f64),
            thousands(r.certification_failures as f64),
            thousands(r.seats as f64),
            thousands(r.throughput_per_second),
            format!("{:.2}", r.latency.p50_ms),
            format!("{:.2}", r.latency.p95_ms),
            format!("{:.2}", r.latency.p99_ms),
            r.e2e
                .as_ref()
                .map_or("-".into(), |e| format!("{:.2}", e.p99_ms)),
            format!("{:.2}", r.seconds),
            format!("{:.3}", r.drain_seconds),
        ]);
    }
    table
}

#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct ChargeRace {
    pub user: i64,
    pub charges: u64,
    pub amount_each: i64,
    pub balance_before: i64,
    pub balance_after: i64,
    pub lost_updates: i64,
    pub seconds: f64,
}

/// `charges` concurrent charges of 1,000 points to one wallet; the balance must rise by
/// exactly their sum.
pub async fn charge_race(
    booking: &Booking,
    user: i64,
    charges: u64,
    clients: u32,
) -> Result<ChargeRace> {
    const AMOUNT: i64 = 1_000;
    let balance = || async {
        sqlx::query_scalar::<_, i64>("SELECT balance FROM point_wallet WHERE user_id = ?")
            .bind(user)
            .fetch_optional(&booking.pool)
            .await
    };
    let Some(before) = balance().await? else {
        bail!("user {user} does not exist");
    };
    let started = Instant::now();
    let failures = futures::stream::iter(0..charges)
        .map(|_| booking.charge(user, AMOUNT))
        .buffer_unordered(clients as usize)
        .filter(|r| std::future::ready(r.is_err()))
        .count()
        .await;
    let seconds = started.elapsed().as_secs_f64();
    if failures > 0 {
        bail!("{failures} of {charges} charges failed");
    }
    let after = balance().await?.unwrap_or(before);
    Ok(ChargeRace {
        user,
        charges,
        amount_each: AMOUNT,
        balance_before: before,
        balance_after: after,
        lost_updates: (before + charges as i64 * AMOUNT - after) / AMOUNT,
        seconds,
    })
}
