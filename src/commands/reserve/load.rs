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
use crate::storage::db;
use crate::storage::group::Writers;

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
    /// Steps run again on another member after theirs was lost (a primary killed, say).
    pub member_lost_retries: u64,
    /// The longest time without a completion, in seconds: the outage a lost member caused.
    pub longest_gap_seconds: f64,
    /// Reservations the run reported to their users as done (held and paid; held with
    /// --no-pay) that the database does not have after the run: acknowledged writes lost.
    pub acknowledged_lost: u64,
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
    /// The single-transaction path: `Booking::hold` then `Booking::pay`.
    Direct(&'a ThroughBooking<'a>, Strategy),
    /// The services: start each saga, wait for its outcome event.
    Events(ThroughEvents<'a>),
}

/// What the events flow needs: where to start the sagas and where their outcomes arrive.
pub struct ThroughEvents<'a> {
    /// The sagas start on these (followed through a lost member, as the direct flow's).
    pub writers: &'a Writers,
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

    /// The attempt's outcome and what it retried.
    async fn reserve(&self, user: i64, seat: i64, pay: bool) -> (Attempt, Retried) {
        match *self {
            Driver::Direct(direct, strategy) => direct.reserve(strategy, user, seat, pay).await,
            Driver::Events(ref events) => events.reserve(user, seat, pay).await,
        }
    }
}

/// What the direct flow needs: a booking per writer (one, or every member of a multi-primary
/// group), and the writers to follow when a member is lost.
pub struct ThroughBooking<'a> {
    /// One per pool of `writers`, in the same order.
    pub bookings: &'a [Booking],
    pub writers: &'a Writers,
}

/// What one attempt ran again.
#[derive(Default)]
struct Retried {
    /// Commits the server aborted for a conflict.
    aborted: u32,
    /// Steps run again after their member was lost.
    member_lost: u32,
}

/// How long an attempt waits for a group to offer a writer again after losing one (Group
/// Replication suspects a silent member for 5 s before it expels it and elects a primary).
const FAILOVER_WAIT: Duration = Duration::from_secs(60);
/// The pause before a step lost with its member is tried again.
const FAILOVER_POLL: Duration = Duration::from_millis(100);

impl Driver<'_> {
    /// How many of `reservations` (reported done) the database lacks: not confirmed after a
    /// paid run, gone after a held one. Read so that every write the group acknowledged is
    /// seen, on whatever member answers.
    async fn missing(&self, reservations: &[i64], pay: bool) -> Result<u64> {
        if reservations.is_empty() {
            return Ok(0);
        }
        let wanted = if pay {
            "status = 'CONFIRMED'"
        } else {
            "status IN ('HELD', 'CONFIRMED', 'EXPIRED')"
        };
        let ids: Vec<String> = reservations.iter().map(i64::to_string).collect();
        let sql = format!(
            "SELECT COUNT(*) FROM reservation WHERE {wanted} AND id IN ({})",
            ids.join(",")
        );
        let writers = match self {
            Driver::Direct(direct, _) => direct.writers,
            Driver::Events(events) => events.writers,
        };
        let mut conn = writers.reading_every_write().await?;
        let found: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(&mut *conn)
            .await?;
        Ok(reservations.len() as u64 - found as u64)
    }
}

impl ThroughBooking<'_> {
    async fn reserve(
        &self,
        strategy: Strategy,
        user: i64,
        seat: i64,
        pay: bool,
    ) -> (Attempt, Retried) {
        let mut retried = Retried::default();
        // Each step alone: a hold that committed is never taken again.
        let bookings = self.bookings;
        let held = retry_step(self.writers, user, &mut retried, |slot| {
            bookings[slot].hold(strategy, user, seat)
        })
        .await;
        let outcome = match held {
            Ok(hold) if pay => {
                let paid = retry_step(self.writers, user, &mut retried, |slot| {
                    bookings[slot].pay(user, hold.reservation_id)
                })
                .await;
                match paid {
                    Ok(_) => Attempt::Done {
                        retries: hold.retries,
                        reservation: hold.reservation_id,
                    },
                    Err(e) => e.into(),
                }
            }
            Ok(hold) => Attempt::Done {
                retries: hold.retries,
                reservation: hold.reservation_id,
            },
            Err(e) => e.into(),
        };
        (outcome, retried)
    }
}

impl ThroughEvents<'_> {
    async fn reserve(&self, user: i64, seat: i64, pay: bool) -> (Attempt, Retried) {
        let mut retried = Retried::default();
        let outcome = self.saga(user, seat, pay, &mut retried).await;
        (outcome, retried)
    }

    async fn saga(&self, user: i64, seat: i64, pay: bool, retried: &mut Retried) -> Attempt {
        let (pools, timeout, hold_for) = (self.writers.pools(), self.timeout, self.hold_for);
        // A request whose commit was cut off may have started its saga: run again, the second
        // saga finds the seat taken and is rejected, and the first holds it until it lapses.
        let requested = retry_step(self.writers, user, retried, |slot| {
            services::reservation::request(&pools[slot], user, seat, hold_for)
        })
        .await;
        let reservation = match requested {
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
            Some(Ok(())) if !pay => {
                return Attempt::Done {
                    retries: 0,
                    reservation,
                };
            }
            Some(Ok(())) => {}
        }
        let requested = retry_step(self.writers, user, retried, |slot| {
            services::payment::request(&pools[slot], user, reservation)
        })
        .await;
        let payment = match requested {
            Ok(id) => id,
            Err(e) => return e.into(),
        };
        match self.outcomes.wait(Saga::Payment(payment), timeout).await {
            None => Attempt::no_outcome("payment", payment, timeout),
            Some(Err(_)) => Attempt::Refused,
            Some(Ok(())) => Attempt::Done {
                retries: 0,
                reservation,
            },
        }
    }
}

/// Runs one step of an attempt on the writer `slot` the group offers for `user`, until it is
/// done: again after a commit the server aborted for a conflict (the transaction left nothing
/// behind, and the retry meets the winner's row: a seat already held is then a lost race, as
/// on one server); and on a group, again on the member the group offers after one is lost,
/// for up to [`FAILOVER_WAIT`]. A step whose commit was cut off may have committed: run again,
/// it finds its own row and reports a lost race, so nothing is held twice and nothing
/// unconfirmed is reported confirmed.
async fn retry_step<T, F, Fut>(
    writers: &Writers,
    user: i64,
    retried: &mut Retried,
    mut step: F,
) -> Result<T, BookingError>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<T, BookingError>>,
{
    let deadline = Instant::now() + FAILOVER_WAIT;
    let mut aborted = 0;
    loop {
        let started = Instant::now();
        match step(writers.pick(user.unsigned_abs())).await {
            Err(BookingError::Database(e))
                if db::is_aborted_commit(&e) && aborted < ABORTED_COMMIT_RETRIES =>
            {
                aborted += 1;
                retried.aborted += 1;
            }
            Err(BookingError::Database(e))
                if writers.follows_a_group()
                    && db::is_member_lost(&e)
                    && Instant::now() < deadline =>
            {
                retried.member_lost += 1;
                // An election under way offers no writer yet: wait and try again.
                let _ = writers.lost(started).await;
                tokio::time::sleep(FAILOVER_POLL).await;
            }
            done => return done,
        }
    }
}

/// Commits a group (or a deadlock) aborted are retried this often per step.
const ABORTED_COMMIT_RETRIES: u32 = 5;

enum Attempt {
    /// Reported to the user as held (and paid): `reservation` must be in the database.
    Done {
        retries: u32,
        reservation: i64,
    },
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
    // Every reservation reported to its user as done: each must be in the database after.
    let mut acknowledged: Vec<i64> = Vec::new();
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
        member_lost_retries: 0,
        longest_gap_seconds: 0.0,
        acknowledged_lost: 0,
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
            let (outcome, retried) = driver.reserve(user, seat, pay).await;
            crate::measure::slowdown::per_operation();
            (outcome, retried, begin.elapsed())
        })
        .buffer_unordered(args.clients as usize);
    while let Some((outcome, retried, elapsed)) = attempts.next().await {
        result.attempts += 1;
        result.certification_failures += u64::from(retried.aborted);
        result.member_lost_retries += u64::from(retried.member_lost);
        bar.inc(1);
        latency.record(elapsed);
        match outcome {
            Attempt::Done {
                retries,
                reservation,
            } => {
                acknowledged.push(reservation);
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
    result.longest_gap_seconds = longest_gap(&completed_at, result.seconds);
    result.latency = latency.summary();
    result.e2e = end_to_end.summary_if_any();
    match driver.missing(&acknowledged, pay).await {
        Ok(missing) => result.acknowledged_lost = missing,
        Err(e) => {
            result.errors += 1;
            result.first_error.get_or_insert(format!(
                "could not check the acknowledged reservations: {e}"
            ));
        }
    }
    result
}

/// The longest time without a completion, from the start to the end of the run: a lost
/// member's outage shows here.
fn longest_gap(completed_at: &[f32], seconds: f64) -> f64 {
    let mut times: Vec<f64> = completed_at.iter().map(|&t| f64::from(t)).collect();
    times.sort_by(f64::total_cmp);
    let mut previous = 0.0;
    let mut longest: f64 = 0.0;
    for t in times.into_iter().chain([seconds]) {
        longest = longest.max(t - previous);
        previous = t;
    }
    longest
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
            "member lost",
            "longest gap s",
            "ack lost",
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
            thousands(r.member_lost_retries as f64),
            format!("{:.2}", r.longest_gap_seconds),
            thousands(r.acknowledged_lost as f64),
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
