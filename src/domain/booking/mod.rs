//! The reservation domain: hold a seat, pay for it with points, charge points, release
//! expired holds. Every step is one transaction that either commits whole or changes
//! nothing, and every refusal is a [`BookingError`] a caller can act on (and an exit code).
//!
//! Seat holds come in four concurrency strategies, compared by `reserve --load`; whatever
//! the strategy, the database has the last word: a reservation's `active_seat_id` is UNIQUE,
//! so two live reservations of one seat cannot both commit.

use std::time::Duration;

use redis::Script;
use serde::Serialize;
use sqlx::{MySql, MySqlPool, Transaction};
use thiserror::Error;

use crate::keyspace::KeyPrefix;
use crate::keyspace::RedisConn;

/// The production default: a held seat must be paid for within five minutes.
pub const DEFAULT_HOLD: Duration = Duration::from_secs(300);
/// Optimistic holds retry a version conflict this many times before giving up.
const OPTIMISTIC_RETRIES: u32 = 3;
/// A Redis seat lock outlives any hold transaction by far, and still frees itself.
const LOCK_TTL: Duration = Duration::from_secs(5);

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// `SELECT .. FOR UPDATE` on the seat, then update it.
    Pessimistic,
    /// Read the seat's version, update only if it is unchanged (retried on conflict).
    Optimistic,
    /// One `UPDATE .. WHERE status = 'AVAILABLE'`: the row count says who won.
    Conditional,
    /// `SET NX PX` on a per-seat Redis key first, released only by its owner's token.
    RedisLock,
}

impl Strategy {
    pub const ALL: [Strategy; 4] = [
        Strategy::Pessimistic,
        Strategy::Optimistic,
        Strategy::Conditional,
        Strategy::RedisLock,
    ];
}

#[derive(Debug, Error)]
pub enum BookingError {
    #[error("seat {0} is already held or sold")]
    SeatTaken(i64),
    #[error("the hold on reservation {0} expired before payment; nothing was charged")]
    HoldExpired(i64),
    #[error(
        "not enough points: reservation {reservation} costs {price}, the wallet holds {balance}; nothing was charged"
    )]
    InsufficientPoints {
        reservation: i64,
        price: i64,
        balance: i64,
    },
    #[error("concert {0} is not open for booking yet")]
    ConcertNotOpen(i64),
    #[error("user {0} does not exist")]
    UnknownUser(i64),
    #[error("seat {0} does not exist")]
    UnknownSeat(i64),
    #[error("reservation {0} does not exist or is not this user's held reservation")]
    UnknownReservation(i64),
    #[error("reservation {0} already has a payment under way or completed")]
    PaymentUnderway(i64),
    #[error("database: {0}")]
    Database(sqlx::Error),
    #[error("Redis: {0}")]
    Redis(redis::RedisError),
}

impl BookingError {
    /// Exit codes for refusals, so scripts can tell them apart (1 stays "something broke").
    pub fn exit_code(&self) -> u8 {
        match self {
            BookingError::SeatTaken(_) => 10,
            BookingError::HoldExpired(_) => 11,
            BookingError::InsufficientPoints { .. } => 12,
            BookingError::ConcertNotOpen(_) => 13,
            BookingError::UnknownUser(_) | BookingError::UnknownSeat(_) => 14,
            BookingError::UnknownReservation(_) => 15,
            BookingError::PaymentUnderway(_) => 16,
            BookingError::Database(_) | BookingError::Redis(_) => 1,
        }
    }

    /// A lost race for a seat, as opposed to a failure.
    pub fn is_conflict(&self) -> bool {
        matches!(self, BookingError::SeatTaken(_))
    }
}

impl From<sqlx::Error> for BookingError {
    fn from(err: sqlx::Error) -> Self {
        BookingError::Database(err)
    }
}

impl From<redis::RedisError> for BookingError {
    fn from(err: redis::RedisError) -> Self {
        BookingError::Redis(err)
    }
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Hold {
    pub reservation_id: i64,
    pub seat_id: i64,
    pub user_id: i64,
    pub price: i64,
    /// Optimistic version conflicts retried before this outcome.
    pub retries: u32,
}

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Payment {
    pub payment_id: i64,
    pub reservation_id: i64,
    pub amount: i64,
    pub balance_after: i64,
}

const RELEASE_LOCK: &str = r#"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"#;

/// The booking service: the database, and Redis for the redis-lock strategy.
pub struct Booking {
    pub pool: MySqlPool,
    redis: Option<(RedisConn, String)>,
    pub hold_for: Duration,
}

impl Booking {
    pub fn new(pool: MySqlPool, redis: Option<(RedisConn, &KeyPrefix)>) -> Self {
        Self {
            pool,
            redis: redis.map(|(conn, prefix)| (conn, format!("{}lock:seat:", prefix.as_str()))),
            hold_for: DEFAULT_HOLD,
        }
    }

    /// The same booking on another pool: another writer of a multi-primary group.
    pub fn on_pool(&self, pool: MySqlPool) -> Self {
        Self {
            pool,
            redis: self.redis.clone(),
            hold_for: self.hold_for,
        }
    }

    /// Holds `seat` for `user` with the given strategy.
    pub async fn hold(
        &self,
        strategy: Strategy,
        user: i64,
        seat: i64,
    ) -> Result<Hold, BookingError> {
        // The conditional update checks the rules in its own WHERE (and says which one failed
        // only when it did), saving a round trip on every successful hold.
        if !matches!(strategy, Strategy::Conditional | Strategy::RedisLock) {
            bookable_seat_price(&self.pool, user, seat).await?;
        }
        match strategy {
            Strategy::Pessimistic => self.hold_pessimistic(user, seat).await,
            Strategy::Optimistic => self.hold_optimistic(user, seat).await,
            Strategy::Conditional => self.hold_conditional(user, seat).await,
            Strategy::RedisLock => self.hold_with_redis_lock(user, seat).await,
        }
    }

    async fn hold_pessimistic(&self, user: i64, seat: i64) -> Result<Hold, BookingError> {
        let mut tx = self.pool.begin().await?;
        let (status, expired): (String, i64) = sqlx::query_as(
            "SELECT CAST(status AS CHAR), COALESCE(held_until <= NOW(3), 0)
             FROM seat WHERE id = ? FOR UPDATE",
        )
        .bind(seat)
        .fetch_one(&mut *tx)
        .await?;
        if !(status == "AVAILABLE" || status == "HELD" && expired == 1) {
            return Err(BookingError::SeatTaken(seat));
        }
        sqlx::query(
            "UPDATE seat SET status = 'HELD', held_until = NOW(3) + INTERVAL ? MICROSECOND,
             held_by = ?, version = version + 1 WHERE id = ?",
        )
        .bind(self.hold_micros())
        .bind(user)
        .bind(seat)
        .execute(&mut *tx)
        .await?;
        self.record_hold(tx, user, seat, 0).await
    }

    async fn hold_optimistic(&self, user: i64, seat: i64) -> Result<Hold, BookingError> {
        for retries in 0..=OPTIMISTIC_RETRIES {
            let (status, expired, version): (String, i64, i64) = sqlx::query_as(
                "SELECT CAST(status AS CHAR), COALESCE(held_until <= NOW(3), 0), version
                 FROM seat WHERE id = ?",
            )
            .bind(seat)
            .fetch_one(&self.pool)
            .await?;
            if !(status == "AVAILABLE" || status == "HELD" && expired == 1) {
                return Err(BookingError::SeatTaken(seat));
            }
            let mut tx = self.pool.begin().await?;
            let won = sqlx::query(
                "UPDATE seat SET status = 'HELD', held_until = NOW(3) + INTERVAL ? MICROSECOND,
                 held_by = ?, version = version + 1 WHERE id = ? AND version = ?",
            )
            .bind(self.hold_micros())
            .bind(user)
            .bind(seat)
            .bind(version)
            .execute(&mut *tx)
            .await?
            .rows_affected()
                == 1;
            if won {
                return self.record_hold(tx, user, seat, retries).await;
            }
        }
        Err(BookingError::SeatTaken(seat))
    }

    async fn hold_conditional(&self, user: i64, seat: i64) -> Result<Hold, BookingError> {
        let mut tx = self.pool.begin().await?;
        let won = sqlx::query(
            "UPDATE seat s JOIN performance p ON p.id = s.performance_id
             JOIN concert c ON c.id = p.concert_id
             SET s.status = 'HELD', s.held_until = NOW(3) + INTERVAL ? MICROSECOND,
                 s.held_by = ?, s.version = s.version + 1
             WHERE s.id = ? AND (s.status = 'AVAILABLE' OR s.status = 'HELD' AND s.held_until <= NOW(3))
               AND c.status = 'OPEN' AND c.booking_opens_at <= NOW()",
        )
        .bind(self.hold_micros())
        .bind(user)
        .bind(seat)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !won {
            drop(tx);
            // Lost the race, or a rule said no: find out which.
            bookable_seat_price(&self.pool, user, seat).await?;
            return Err(BookingError::SeatTaken(seat));
        }
        self.record_hold(tx, user, seat, 0).await
    }

    async fn hold_with_redis_lock(&self, user: i64, seat: i64) -> Result<Hold, BookingError> {
        let Some((conn, base)) = &self.redis else {
            return Err(BookingError::Redis(redis::RedisError::from((
                redis::ErrorKind::Client,
                "the redis-lock strategy needs a Redis connection",
            ))));
        };
        let (key, token) = (format!("{base}{seat}"), crate::domain::queue::new_token());
        let mut conn = conn.clone();
        let locked: Option<String> = redis::cmd("SET")
            .arg(&key)
            .arg(&token)
            .arg("NX")
            .arg("PX")
            .arg(LOCK_TTL.as_millis() as u64)
            .query_async(&mut conn)
            .await?;
        if locked.is_none() {
            return Err(BookingError::SeatTaken(seat));
        }
        // The lock only keeps contenders off the database; the conditional update still
        // decides, so an expired lock can never sell a seat twice.
        let held = self.hold_conditional(user, seat).await;
        let _: i64 = Script::new(RELEASE_LOCK)
            .key(&key)
            .arg(&token)
            .invoke_async(&mut conn)
            .await?;
        held
    }

    fn hold_micros(&self) -> i64 {
        self.hold_for.as_micros() as i64
    }

    /// Expires the seat's previous reservation if its hold lapsed, and records the new one, in
    /// the transaction that took the seat. A live hold is never expired by someone else: if
    /// one is still there (the seat row said otherwise), the insert meets the unique
    /// `active_seat_id` and the new hold is refused.
    async fn record_hold(
        &self,
        mut tx: Transaction<'_, MySql>,
        user: i64,
        seat: i64,
        retries: u32,
    ) -> Result<Hold, BookingError> {
        // One read for the seat's price and expiry and its lapsed reservation. A plain read,
        // then an update by primary key: a locking search of the unique index for a row that
        // is usually absent takes gap locks, and concurrent holds of neighbouring seats then
        // deadlock on each other's inserts. Holding the seat's row lock already keeps anyone
        // else from touching this seat's reservations.
        type Facts = (i64, chrono::NaiveDateTime, Option<i64>, i64);
        let (price, held_until, lapsed, known_user): Facts = sqlx::query_as(
            "SELECT s.price, s.held_until, (SELECT r.id FROM reservation r
               WHERE r.active_seat_id = s.id AND r.status = 'HELD' AND r.held_until <= NOW(3)),
               EXISTS(SELECT 1 FROM point_wallet WHERE user_id = ?)
             FROM seat s WHERE s.id = ?",
        )
        .bind(user)
        .bind(seat)
        .fetch_one(&mut *tx)
        .await?;
        if known_user == 0 {
            return Err(BookingError::UnknownUser(user)); // rolled back as the transaction drops
        }
        if let Some(lapsed) = lapsed {
            sqlx::query(
                "UPDATE reservation SET status = 'EXPIRED', active_seat_id = NULL WHERE id = ?",
            )
            .bind(lapsed)
            .execute(&mut *tx)
            .await?;
        }
        // VALUES, not INSERT .. SELECT: MariaDB treats the latter as a bulk insert that takes
        // the table's AUTO-INC lock, and under load it fails with error 1467.
        let inserted = sqlx::query(
            "INSERT INTO reservation (user_id, seat_id, status, price, held_until, created_at, active_seat_id)
             VALUES (?, ?, 'HELD', ?, ?, NOW(3), ?)",
        )
        .bind(user)
        .bind(seat)
        .bind(price)
        .bind(held_until)
        .bind(seat)
        .execute(&mut *tx)
        .await;
        let reservation_id = match inserted {
            Ok(done) => done.last_insert_id() as i64,
            Err(e) if is_unique_violation(&e) => return Err(BookingError::SeatTaken(seat)),
            Err(e) => return Err(e.into()),
        };
        tx.commit().await?;
        Ok(Hold {
            reservation_id,
            seat_id: seat,
            user_id: user,
            price,
            retries,
        })
    }

    /// Pays a held reservation with points: wallet debited, ledger entry, payment,
    /// reservation confirmed and seat sold, all in one transaction, or nothing at all.
    pub async fn pay(&self, user: i64, reservation: i64) -> Result<Payment, BookingError> {
        let mut tx = self.pool.begin().await?;
        // Both rows locked in one round trip, reservation first (STRAIGHT_JOIN keeps that
        // order whatever the optimizer prefers, so two payments cannot lock them crosswise).
        let held: Option<(i64, i64, i64)> = sqlx::query_as(
            "SELECT STRAIGHT_JOIN r.price, r.held_until > NOW(3), w.balance
             FROM reservation r JOIN point_wallet w ON w.user_id = r.user_id
             WHERE r.id = ? AND r.user_id = ? AND r.status = 'HELD' FOR UPDATE",
        )
        .bind(reservation)
        .bind(user)
        .fetch_optional(&mut *tx)
        .await?;
        let Some((price, live, balance)) = held else {
            return Err(BookingError::UnknownReservation(reservation));
        };
        if live == 0 {
            return Err(BookingError::HoldExpired(reservation));
        }
        if balance < price {
            return Err(BookingError::InsufficientPoints {
                reservation,
                price,
                balance,
            });
        }
        sqlx::query(
            "INSERT INTO point_ledger (user_id, kind, amount, reservation_id, created_at)
             VALUES (?, 'USE', ?, ?, NOW())",
        )
        .bind(user)
        .bind(-price)
        .bind(reservation)
        .execute(&mut *tx)
        .await?;
        let payment_id = sqlx::query(
            "INSERT INTO payment (reservation_id, user_id, amount, status, paid_at)
             VALUES (?, ?, ?, 'COMPLETED', NOW(3))",
        )
        .bind(reservation)
        .bind(user)
        .bind(price)
        .execute(&mut *tx)
        .await?
        .last_insert_id() as i64;
        // Wallet debited, reservation confirmed and seat sold in one statement.
        sqlx::query(
            "UPDATE reservation r JOIN seat s ON s.id = r.seat_id
             JOIN point_wallet w ON w.user_id = r.user_id
             SET r.status = 'CONFIRMED', r.confirmed_at = NOW(3),
                 s.status = 'SOLD', s.held_until = NULL, s.version = s.version + 1,
                 w.balance = w.balance - r.price, w.version = w.version + 1, w.updated_at = NOW()
             WHERE r.id = ?",
        )
        .bind(reservation)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Payment {
            payment_id,
            reservation_id: reservation,
            amount: price,
            balance_after: balance - price,
        })
    }

    /// Adds points: one atomic increment and its ledger entry, so concurrent charges to one
    /// wallet cannot lose an update.
    pub async fn charge(&self, user: i64, amount: i64) -> Result<(), BookingError> {
        let mut tx = self.pool.begin().await?;
        let changed = sqlx::query(
            "UPDATE point_wallet SET balance = balance + ?, version = version + 1, updated_at = NOW()
             WHERE user_id = ?",
        )
        .bind(amount)
        .bind(user)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if changed == 0 {
            return Err(BookingError::UnknownUser(user));
        }
        sqlx::query(
            "INSERT INTO point_ledger (user_id, kind, amount, created_at) VALUES (?, 'CHARGE', ?, NOW())",
        )
        .bind(user)
        .bind(amount)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The sweeper: expires lapsed holds and frees their seats. Returns how many.
    pub async fn sweep(&self) -> Result<u64, BookingError> {
        let mut tx = self.pool.begin().await?;
        let released = sqlx::query(
            "UPDATE seat SET status = 'AVAILABLE', held_until = NULL, held_by = NULL, held_for = NULL,
             version = version + 1 WHERE status = 'HELD' AND held_until <= NOW(3)",
        )
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query(
            "UPDATE reservation SET status = 'EXPIRED', active_seat_id = NULL
             WHERE status = 'HELD' AND held_until <= NOW(3)",
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(released)
    }
}

/// The refusals that do not depend on a race (who, which seat, is its concert open), and the
/// seat's price. One round trip: a row always comes back, with NULLs for a seat that does not
/// exist. It precedes every locking hold, explains a refused conditional one, and is the
/// Concert service's "seat info" in the events flow.
pub async fn bookable_seat_price(
    pool: &MySqlPool,
    user: i64,
    seat: i64,
) -> Result<i64, BookingError> {
    type Facts = (i64, Option<i64>, Option<i64>, Option<String>, Option<i64>);
    let (known_user, price, concert, status, opened): Facts = sqlx::query_as(
        "SELECT EXISTS(SELECT 1 FROM users WHERE id = ?), s.price, c.id, CAST(c.status AS CHAR),
                c.booking_opens_at <= NOW()
         FROM (SELECT 1) AS one
         LEFT JOIN seat s ON s.id = ?
         LEFT JOIN performance p ON p.id = s.performance_id
         LEFT JOIN concert c ON c.id = p.concert_id",
    )
    .bind(user)
    .bind(seat)
    .fetch_one(pool)
    .await?;
    match (known_user, price, concert) {
        (0, ..) => Err(BookingError::UnknownUser(user)),
        (_, Some(_), Some(id)) if status.as_deref() != Some("OPEN") || opened != Some(1) => {
            Err(BookingError::ConcertNotOpen(id))
        }
        (_, Some(price), Some(_)) => Ok(price),
        _ => Err(BookingError::UnknownSeat(seat)),
    }
}

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.kind() == sqlx::error::ErrorKind::UniqueViolation)
}
