//! The queue the write-up replaced: rows in `queue_entry`, a user's position is the COUNT of
//! waiting rows up to theirs, and the scheduler flips the oldest rows to ACTIVE in one
//! transaction. Kept as the baseline the Redis queue is measured against.
//!
//! The rate policy's period counter and the observed admission rate live in this process
//! (one scheduler per concert); the Redis queue keeps them in Redis. That spares the baseline
//! a query per position, so it favours the database, not Redis.

use std::sync::Mutex;

use chrono::{DateTime, NaiveDateTime};
use sqlx::{MySql, MySqlPool, QueryBuilder};

use super::{
    Admission, Admitted, Clock, Policy, Position, QueueConfig, QueueError, Ticket, WaitingQueue,
    eta, expected_rate, new_token,
};

/// Attempts for a step that lost a deadlock or a race to a concurrent step.
const ATTEMPTS: usize = 10;
/// Rows per DELETE or IN list, to keep statements and undo logs small.
const BATCH: usize = 5_000;
const RATE_WINDOW_MS: i64 = 10_000;

#[derive(Debug, Default)]
struct SchedulerState {
    period: i64,
    period_admitted: u64,
    window_start: Option<i64>,
    window_count: u64,
    warm: bool,
    rate: Option<f64>,
}

pub struct DatabaseQueue {
    pool: MySqlPool,
    config: QueueConfig,
    clock: Clock,
    scheduler: Mutex<SchedulerState>,
}

fn at(ms: i64) -> NaiveDateTime {
    DateTime::from_timestamp_millis(ms)
        .expect("queue clock within chrono's range")
        .naive_utc()
}

/// Deadlocks (1213, SQLSTATE 40001) lost to a concurrent step are retried.
fn retryable(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .and_then(|e| e.code())
        .is_some_and(|code| code == "40001")
}

/// A short random pause, so the losers of a deadlock do not collide again in step.
fn backoff() -> std::time::Duration {
    std::time::Duration::from_micros(500 + fake::rand::random::<u64>() % 4_500)
}

fn is_duplicate(err: &sqlx::Error) -> bool {
    err.as_database_error()
        .is_some_and(|e| e.kind() == sqlx::error::ErrorKind::UniqueViolation)
}

enum Entered {
    Waiting {
        token: String,
        id: i64,
    },
    Active {
        token: String,
        expires_at_ms: i64,
    },
    /// An expired entry was removed; enter again.
    Retry,
}

impl DatabaseQueue {
    pub fn new(pool: MySqlPool, config: QueueConfig, clock: Clock) -> Self {
        Self {
            pool,
            config,
            clock,
            scheduler: Mutex::new(SchedulerState::default()),
        }
    }

    fn concert(&self) -> i64 {
        self.config.concert as i64
    }

    fn observed_rate(&self) -> Option<f64> {
        let state = self.scheduler.lock().expect("scheduler state lock");
        expected_rate(self.config.policy, state.rate)
    }

    async fn rank(&self, id: i64) -> Result<u64, sqlx::Error> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM queue_entry WHERE concert_id = ? AND status = 'WAITING' AND id <= ?",
        )
        .bind(self.concert())
        .bind(id)
        .fetch_one(&self.pool)
        .await?;
        Ok(n as u64)
    }

    /// Inserts first and reads only on a duplicate: a locking read of the user's row, which
    /// does not exist yet, would take gap locks that concurrent enters deadlock on.
    async fn try_enter(&self, user: u64, now: i64) -> Result<Entered, sqlx::Error> {
        let token = new_token();
        let inserted = self.insert_in_arrival_order(user, &token, now).await;
        match inserted {
            Ok(done) => {
                return Ok(Entered::Waiting {
                    token,
                    id: done.last_insert_id() as i64,
                });
            }
            Err(e) if !is_duplicate(&e) => return Err(e),
            Err(_) => {}
        }
        let (id, token, status, expires): (i64, String, String, Option<NaiveDateTime>) =
            sqlx::query_as(
                "SELECT id, token, CAST(status AS CHAR), expires_at FROM queue_entry
                 WHERE concert_id = ? AND user_id = ?",
            )
            .bind(self.concert())
            .bind(user)
            .fetch_one(&self.pool)
            .await?;
        match (status.as_str(), expires) {
            ("WAITING", _) => Ok(Entered::Waiting { token, id }),
            ("ACTIVE", Some(until)) if until > at(now) => Ok(Entered::Active {
                token,
                expires_at_ms: until.and_utc().timestamp_millis(),
            }),
            _ => {
                // Expired (or overdue): the old entry goes, and the user joins at the back.
                sqlx::query(
                    "DELETE FROM queue_entry WHERE id = ? AND (status = 'EXPIRED' OR expires_at <= ?)",
                )
                .bind(id)
                .bind(at(now))
                .execute(&self.pool)
                .await?;
                Ok(Entered::Retry)
            }
        }
    }

    /// AUTO_INCREMENT hands out an id before its transaction commits, so a later id can
    /// commit first and be admitted ahead of an earlier one (the simulator's FIFO check caught
    /// this). Arrivals therefore take the row lock of a per-concert sentinel row (user 0,
    /// status EXPIRED, so no count sees it) until they commit: id order is commit order.
    async fn insert_in_arrival_order(
        &self,
        user: u64,
        token: &str,
        now: i64,
    ) -> Result<sqlx::mysql::MySqlQueryResult, sqlx::Error> {
        let lock = "SELECT id FROM queue_entry WHERE concert_id = ? AND user_id = 0 FOR UPDATE";
        let mut tx = self.pool.begin().await?;
        let held: Option<i64> = sqlx::query_scalar(lock)
            .bind(self.concert())
            .fetch_optional(&mut *tx)
            .await?;
        if held.is_none() {
            // Created outside the transaction: a locking read of a missing row takes a gap
            // lock, and concurrent first arrivals creating it inside would deadlock.
            tx.rollback().await?;
            sqlx::query(
                "INSERT IGNORE INTO queue_entry (concert_id, user_id, token, status, entered_at)
                 VALUES (?, 0, ?, 'EXPIRED', ?)",
            )
            .bind(self.concert())
            .bind(format!("arrivals-{}", self.concert()))
            .bind(at(now))
            .execute(&self.pool)
            .await?;
            tx = self.pool.begin().await?;
            sqlx::query(lock)
                .bind(self.concert())
                .execute(&mut *tx)
                .await?;
        }
        let inserted = sqlx::query(
            "INSERT INTO queue_entry (concert_id, user_id, token, status, entered_at)
             VALUES (?, ?, ?, 'WAITING', ?)",
        )
        .bind(self.concert())
        .bind(user)
        .bind(token)
        .bind(at(now))
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(inserted) => {
                tx.commit().await?;
                Ok(inserted)
            }
            Err(e) => {
                // Rolled back now, not when the pool next touches the connection: until
                // then the transaction would hold the concert's arrival lock (and, in the
                // tests, a DROP DATABASE waited on it for good). A user already queued
                // (a duplicate) is the common case here.
                tx.rollback().await.ok();
                Err(e)
            }
        }
    }

    /// Admission slots left under the policy, given the actives counted in `tx`.
    fn room(&self, now: i64, active: u64) -> u64 {
        match self.config.policy {
            Policy::Capacity { active: cap } => cap.saturating_sub(active),
            Policy::Rate { admit, per } => {
                let mut state = self.scheduler.lock().expect("scheduler state lock");
                let period = now / per.as_millis().max(1) as i64;
                if state.period != period {
                    state.period = period;
                    state.period_admitted = 0;
                }
                admit.saturating_sub(state.period_admitted)
            }
        }
    }

    fn record_admissions(&self, now: i64, was_waiting: bool, admitted: u64) {
        let mut state = self.scheduler.lock().expect("scheduler state lock");
        state.period_admitted += admitted;
        if !was_waiting {
            state.window_start = Some(now);
            state.window_count = 0;
            return;
        }
        let start = *state.window_start.get_or_insert(now);
        state.window_count += admitted;
        if now - start >= RATE_WINDOW_MS {
            // As in Redis: skip the first window (the burst that fills the capacity), then
            // smooth.
            let rate = state.window_count as f64 * 1e3 / (now - start) as f64;
            if state.warm {
                state.rate = Some(state.rate.map_or(rate, |previous| (previous + rate) / 2.0));
            }
            state.warm = true;
            state.window_start = Some(now);
            state.window_count = 0;
        }
    }

    async fn try_admit(&self, now: i64) -> Result<Admission, sqlx::Error> {
        let concert = self.concert();
        // READ COMMITTED: the locking read of the oldest waiting rows must not also lock the
        // gap after them, where every concurrent enter inserts (under REPEATABLE READ each
        // tick deadlocks with the users entering). One scheduler per concert admits, so no
        // phantom can reorder admissions.
        let mut conn = self.pool.acquire().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL READ COMMITTED")
            .execute(&mut *conn)
            .await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let expired = sqlx::query(
            "UPDATE queue_entry SET status = 'EXPIRED'
             WHERE concert_id = ? AND status = 'ACTIVE' AND expires_at <= ?",
        )
        .bind(concert)
        .bind(at(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let count = "SELECT COUNT(*) FROM queue_entry WHERE concert_id = ? AND status = ?";
        let active: i64 = sqlx::query_scalar(count)
            .bind(concert)
            .bind("ACTIVE")
            .fetch_one(&mut *tx)
            .await?;
        let room = self.room(now, active as u64);
        let rows: Vec<(i64, i64)> = if room == 0 {
            Vec::new()
        } else {
            sqlx::query_as(
                "SELECT id, user_id FROM queue_entry WHERE concert_id = ? AND status = 'WAITING'
                 ORDER BY id LIMIT ? FOR UPDATE",
            )
            .bind(concert)
            .bind(room as i64)
            .fetch_all(&mut *tx)
            .await?
        };
        for chunk in rows.chunks(BATCH) {
            let mut update: QueryBuilder<MySql> =
                QueryBuilder::new("UPDATE queue_entry SET status = 'ACTIVE', activated_at = ");
            update
                .push_bind(at(now))
                .push(", expires_at = ")
                .push_bind(at(now + self.config.ttl.as_millis() as i64))
                .push(" WHERE id IN (");
            let mut ids = update.separated(", ");
            for (id, _) in chunk {
                ids.push_bind(*id);
            }
            update.push(")");
            update.build().execute(&mut *tx).await?;
        }
        let waiting: i64 = sqlx::query_scalar(count)
            .bind(concert)
            .bind("WAITING")
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        self.record_admissions(now, waiting > 0 || !rows.is_empty(), rows.len() as u64);
        Ok(Admission {
            admitted: rows
                .iter()
                .map(|&(id, user)| Admitted {
                    user: user as u64,
                    arrival: id as u64,
                })
                .collect(),
            expired,
            active: active as u64 + rows.len() as u64,
            waiting: waiting as u64,
        })
    }
}

impl WaitingQueue for DatabaseQueue {
    fn backend(&self) -> &'static str {
        "database"
    }

    async fn enter(&self, user: u64) -> Result<Ticket, QueueError> {
        let now = self.clock.now_ms();
        for _ in 0..ATTEMPTS {
            match self.try_enter(user, now).await {
                Ok(Entered::Waiting { token, id }) => {
                    let position = self.rank(id).await?;
                    return Ok(Ticket {
                        token,
                        arrival: Some(id as u64),
                        position: Position::Waiting {
                            position,
                            eta: eta(position, self.observed_rate()),
                        },
                    });
                }
                Ok(Entered::Active {
                    token,
                    expires_at_ms,
                }) => {
                    return Ok(Ticket {
                        token,
                        arrival: None,
                        position: Position::Active { expires_at_ms },
                    });
                }
                Ok(Entered::Retry) => {}
                Err(e) if retryable(&e) => tokio::time::sleep(backoff()).await,
                Err(e) => return Err(e.into()),
            }
        }
        Err(QueueError::Reply(format!(
            "user {user} could not enter after {ATTEMPTS} attempts (concurrent changes)"
        )))
    }

    async fn position(&self, user: u64) -> Result<Position, QueueError> {
        let row: Option<(String, Option<NaiveDateTime>, i64)> = sqlx::query_as(
            "SELECT CAST(e.status AS CHAR), e.expires_at,
                    IF(e.status = 'WAITING',
                       (SELECT COUNT(*) FROM queue_entry w
                        WHERE w.concert_id = e.concert_id AND w.status = 'WAITING' AND w.id <= e.id),
                       0)
             FROM queue_entry e WHERE e.concert_id = ? AND e.user_id = ?",
        )
        .bind(self.concert())
        .bind(user)
        .fetch_optional(&self.pool)
        .await?;
        let now = at(self.clock.now_ms());
        Ok(match row {
            Some((status, _, rank)) if status == "WAITING" => Position::Waiting {
                position: rank as u64,
                eta: eta(rank as u64, self.observed_rate()),
            },
            Some((status, Some(expires), _)) if status == "ACTIVE" && expires > now => {
                Position::Active {
                    expires_at_ms: expires.and_utc().timestamp_millis(),
                }
            }
            _ => Position::Absent,
        })
    }

    async fn admit(&self) -> Result<Admission, QueueError> {
        let now = self.clock.now_ms();
        let mut attempt = 1;
        loop {
            match self.try_admit(now).await {
                Err(e) if retryable(&e) && attempt < ATTEMPTS => {
                    attempt += 1;
                    tokio::time::sleep(backoff()).await;
                }
                other => return Ok(other?),
            }
        }
    }

    async fn is_active(&self, user: u64, token: &str) -> Result<bool, QueueError> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM queue_entry WHERE concert_id = ? AND user_id = ? AND token = ?
             AND status = 'ACTIVE' AND expires_at > ?",
        )
        .bind(self.concert())
        .bind(user)
        .bind(token)
        .bind(at(self.clock.now_ms()))
        .fetch_one(&self.pool)
        .await?;
        Ok(n == 1)
    }

    async fn complete(&self, user: u64) -> Result<bool, QueueError> {
        let done = sqlx::query(
            "UPDATE queue_entry SET status = 'EXPIRED'
             WHERE concert_id = ? AND user_id = ? AND status = 'ACTIVE' AND expires_at > ?",
        )
        .bind(self.concert())
        .bind(user)
        .bind(at(self.clock.now_ms()))
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn leave(&self, user: u64) -> Result<bool, QueueError> {
        let gone = sqlx::query(
            "DELETE FROM queue_entry WHERE concert_id = ? AND user_id = ? AND status <> 'EXPIRED'",
        )
        .bind(self.concert())
        .bind(user)
        .execute(&self.pool)
        .await?;
        Ok(gone.rows_affected() == 1)
    }

    async fn count_waiting(&self, users: &[u64]) -> Result<u64, QueueError> {
        let mut still = 0;
        for chunk in users.chunks(BATCH) {
            let mut count: QueryBuilder<MySql> = QueryBuilder::new(
                "SELECT COUNT(*) FROM queue_entry WHERE status = 'WAITING' AND concert_id = ",
            );
            count.push_bind(self.concert()).push(" AND user_id IN (");
            let mut ids = count.separated(", ");
            for user in chunk {
                ids.push_bind(*user);
            }
            count.push(")");
            let n: i64 = count.build_query_scalar().fetch_one(&self.pool).await?;
            still += n as u64;
        }
        Ok(still)
    }

    async fn memory_bytes(&self) -> Result<Option<u64>, QueueError> {
        // InnoDB reports size per table, not per concert: nothing honest to say.
        Ok(None)
    }

    async fn clear(&self) -> Result<(), QueueError> {
        loop {
            let deleted = sqlx::query("DELETE FROM queue_entry WHERE concert_id = ? LIMIT ?")
                .bind(self.concert())
                .bind(BATCH as i64)
                .execute(&self.pool)
                .await?
                .rows_affected();
            if deleted == 0 {
                return Ok(());
            }
        }
    }
}
