//! The waiting queue per concert: enter, position, admission, expiry, leaving.
//!
//! Two stores behind one [`WaitingQueue`] trait: [`RedisQueue`] (a sorted set in arrival order,
//! actives in a second sorted set scored by expiry, every multi-key step one Lua script) and
//! [`DatabaseQueue`] (the `queue_entry` table the write-up replaced, position by counting). The
//! simulator and the reservation flow only see the trait.
//!
//! Time comes from a [`Clock`] the caller owns, never from the server: a simulation compresses
//! a 5-minute TTL into seconds with the production data model unchanged.

mod arrival;
mod database_queue;
mod redis_queue;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use thiserror::Error;

pub use arrival::Arrival;
pub use database_queue::DatabaseQueue;
pub use redis_queue::RedisQueue;

/// Milliseconds on the queue's clock. A compressed clock runs `speed` times faster than the
/// wall clock and starts at the real time, so stored timestamps stay plausible; a manual clock
/// moves only when told to, for tests that cross a TTL or a rate period exactly.
#[derive(Debug, Clone)]
pub enum Clock {
    Running {
        origin: Instant,
        origin_ms: i64,
        speed: f64,
    },
    Manual(Arc<AtomicI64>),
}

impl Clock {
    pub fn real() -> Self {
        Self::compressed(1.0)
    }

    /// A clock `speed` times faster than the wall clock (`speed` must be positive).
    pub fn compressed(speed: f64) -> Self {
        assert!(speed > 0.0, "clock speed must be positive");
        Clock::Running {
            origin: Instant::now(),
            origin_ms: chrono::Utc::now().timestamp_millis(),
            speed,
        }
    }

    pub fn manual(start_ms: i64) -> Self {
        Clock::Manual(Arc::new(AtomicI64::new(start_ms)))
    }

    /// Moves a manual clock forward; a running clock cannot be moved.
    pub fn advance(&self, by: Duration) {
        match self {
            Clock::Manual(now) => {
                now.fetch_add(by.as_millis() as i64, Ordering::SeqCst);
            }
            Clock::Running { .. } => panic!("only a manual clock can be advanced"),
        }
    }

    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::Running {
                origin,
                origin_ms,
                speed,
            } => origin_ms + (origin.elapsed().as_secs_f64() * 1e3 * speed) as i64,
            Clock::Manual(now) => now.load(Ordering::SeqCst),
        }
    }

    /// The wall-clock time that `simulated` takes on this clock.
    pub fn wall(&self, simulated: Duration) -> Duration {
        match self {
            Clock::Running { speed, .. } => simulated.div_f64(*speed),
            Clock::Manual(_) => simulated,
        }
    }

    pub async fn sleep(&self, simulated: Duration) {
        tokio::time::sleep(self.wall(simulated)).await;
    }
}

/// Who gets in, and when.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Policy {
    /// At most `active` users admitted at once.
    Capacity { active: u64 },
    /// Exactly `admit` users per `per` (fewer only when fewer are waiting).
    Rate { admit: u64, per: Duration },
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Policy::Capacity { active } => write!(f, "capacity:{active}"),
            Policy::Rate { admit, per } => write!(f, "rate:{admit}/{}ms", per.as_millis()),
        }
    }
}

/// One concert's queue and its rules.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    pub concert: u64,
    pub policy: Policy,
    /// How long an admitted user stays active without paying.
    pub ttl: Duration,
}

/// What entering returns: the user's token, their arrival number (the order the store accepted
/// them in, which FIFO is judged against; `None` if they were already admitted) and where
/// they stand.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticket {
    pub token: String,
    pub arrival: Option<u64>,
    pub position: Position,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Position {
    /// 1-based: the next user to be admitted is at position 1.
    Waiting {
        position: u64,
        eta: Option<Duration>,
    },
    Active {
        expires_at_ms: i64,
    },
    /// Never entered, left, completed or expired.
    Absent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Admitted {
    pub user: u64,
    pub arrival: u64,
}

/// One scheduler step: who was admitted (in admission order), how many tokens expired, and
/// the sizes left behind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Admission {
    pub admitted: Vec<Admitted>,
    pub expired: u64,
    pub active: u64,
    pub waiting: u64,
}

/// The store's error is part of the message rather than a `source`, so a one-line report
/// (`{:#}`) names it once.
#[derive(Debug, Error)]
pub enum QueueError {
    #[error("Redis: {0}")]
    Redis(redis::RedisError),
    #[error("database: {0}")]
    Database(sqlx::Error),
    #[error("unexpected reply from the queue store: {0}")]
    Reply(String),
}

impl From<redis::RedisError> for QueueError {
    fn from(err: redis::RedisError) -> Self {
        QueueError::Redis(err)
    }
}

impl From<sqlx::Error> for QueueError {
    fn from(err: sqlx::Error) -> Self {
        QueueError::Database(err)
    }
}

/// The queue's operations. Every method is one atomic step in the store.
pub trait WaitingQueue: Send + Sync + 'static {
    fn backend(&self) -> &'static str;

    /// Idempotent per user: entering again while waiting or active keeps the same place.
    fn enter(&self, user: u64) -> impl Future<Output = Result<Ticket, QueueError>> + Send;

    fn position(&self, user: u64) -> impl Future<Output = Result<Position, QueueError>> + Send;

    /// Expires overdue tokens, then admits the longest-waiting users the policy allows.
    fn admit(&self) -> impl Future<Output = Result<Admission, QueueError>> + Send;

    /// True only for the user's current token, while it is active and not expired.
    fn is_active(
        &self,
        user: u64,
        token: &str,
    ) -> impl Future<Output = Result<bool, QueueError>> + Send;

    /// Ends an active user's turn (after payment). False if they were not active.
    fn complete(&self, user: u64) -> impl Future<Output = Result<bool, QueueError>> + Send;

    /// Removes a user, waiting or active. False if they were in neither.
    fn leave(&self, user: u64) -> impl Future<Output = Result<bool, QueueError>> + Send;

    /// How many of `users` are still in the waiting set (an admitted user must never be).
    fn count_waiting(&self, users: &[u64]) -> impl Future<Output = Result<u64, QueueError>> + Send;

    /// Bytes the queue occupies in its store, where the store can tell.
    fn memory_bytes(&self) -> impl Future<Output = Result<Option<u64>, QueueError>> + Send;

    /// Removes this concert's queue entirely.
    fn clear(&self) -> impl Future<Output = Result<(), QueueError>> + Send;
}

/// Expected wait from a position and the admission rate observed (or promised by a rate
/// policy): the `position`-th user is admitted after about `position / rate` seconds.
fn eta(position: u64, admissions_per_second: Option<f64>) -> Option<Duration> {
    let rate = admissions_per_second.filter(|r| *r > 0.0)?;
    Some(Duration::from_secs_f64(position as f64 / rate))
}

/// The admission rate to expect: a rate policy promises its own exactly; under a capacity
/// policy it depends on how fast users finish, so only an observed rate will do.
fn expected_rate(policy: Policy, observed: Option<f64>) -> Option<f64> {
    match policy {
        Policy::Rate { admit, per } => Some(admit as f64 / per.as_secs_f64()),
        Policy::Capacity { .. } => observed,
    }
}

/// An unguessable token: 128 random bits in hex.
pub(crate) fn new_token() -> String {
    format!("{:032x}", fake::rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eta_divides_position_by_rate() {
        assert_eq!(eta(50, Some(10.0)), Some(Duration::from_secs(5)));
        assert_eq!(eta(50, None), None);
        assert_eq!(eta(50, Some(0.0)), None);
    }
}
