//! The relay: publishes outbox rows to the event streams and marks them published.
//!
//! At least once, never lost: rows are claimed with `FOR UPDATE SKIP LOCKED` (so several
//! relays share the work), published, then marked in the same transaction. A relay that dies
//! between publishing and marking leaves the rows unmarked and they are published again;
//! consumers skip the duplicate. While Redis is down the rows wait in the outbox. And because
//! a Redis without persistence loses its stream when it restarts, events published longer
//! than `republish_after` ago that some service has still not applied go out again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use redis::streams::StreamMaxlen;
use sqlx::pool::PoolConnection;
use sqlx::{MySql, MySqlPool};
use tokio::sync::watch;

use super::{EventStats, Parked, topics, unapplied_events_sql};

use crate::keyspace::RedisConn;

/// Rows per publish round: one pipeline to Redis and one UPDATE.
const BATCH: i64 = 256;
/// How often an idle relay looks at the outbox again.
const IDLE_POLL: Duration = Duration::from_millis(2);
/// The stream keeps about this many entries; older ones are trimmed (consumers lagging that
/// far behind get them again through the republish sweep).
const STREAM_MAXLEN: usize = 1_000_000;
const REPUBLISH_CHECK: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Stream keys are this plus a topic (see [`super::topics`]).
    pub stream_prefix: String,
    pub republish_after: Duration,
    /// Fault injection for tests: publish one batch, then stop without marking it.
    pub die_after_publishing: bool,
}

pub struct Relay {
    pool: MySqlPool,
    /// The relay's own connection, READ COMMITTED for its whole session (see
    /// `publish_batch`); dropped after an error and taken again.
    conn: Option<PoolConnection<MySql>>,
    redis: RedisConn,
    config: RelayConfig,
    stats: Arc<EventStats>,
}

impl Relay {
    pub fn new(
        pool: MySqlPool,
        redis: RedisConn,
        config: RelayConfig,
        stats: Arc<EventStats>,
    ) -> Self {
        Self {
            pool,
            conn: None,
            redis,
            config,
            stats,
        }
    }

    /// Publishes until `stop` turns true. Errors are counted and retried with back-off; only
    /// the fault injection ends the loop early.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(50);
        let mut next_republish_check = tokio::time::Instant::now() + REPUBLISH_CHECK;
        let mut applied_below = 0i64;
        while !*stop.borrow() {
            if tokio::time::Instant::now() >= next_republish_check {
                next_republish_check += REPUBLISH_CHECK;
                match self.republish_unapplied(applied_below).await {
                    Ok(low) => applied_below = low,
                    Err(_) => EventStats::add(&self.stats.publish_errors, 1),
                }
            }
            let pause = match self.publish_batch().await {
                Ok(Published::Some) => {
                    backoff = Duration::from_millis(50);
                    if self.config.die_after_publishing {
                        return;
                    }
                    continue;
                }
                Ok(Published::Nothing) => IDLE_POLL,
                Err(_) => {
                    EventStats::add(&self.stats.publish_errors, 1);
                    self.conn = None;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    backoff
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => {}
            }
        }
    }

    async fn publish_batch(&mut self) -> anyhow::Result<Published> {
        // READ COMMITTED: the locking read must not lock the gap after the unpublished rows,
        // where every transaction that emits an event inserts (under REPEATABLE READ the
        // relay deadlocks with the services). SKIP LOCKED already keeps relays apart.
        let conn = match &mut self.conn {
            Some(conn) => conn,
            empty => {
                let mut conn = self.pool.acquire().await?;
                sqlx::query("SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
                    .execute(&mut *conn)
                    .await?;
                empty.insert(conn)
            }
        };
        let mut tx = sqlx::Connection::begin(&mut **conn).await?;
        let rows: Vec<(i64, String, String)> = sqlx::query_as(
            "SELECT id, event_type, payload FROM outbox WHERE published_at IS NULL
             ORDER BY id LIMIT ? FOR UPDATE SKIP LOCKED",
        )
        .bind(BATCH)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            // Ended now, not rolled back lazily by the drop: sqlx would then send ROLLBACK and
            // the next BEGIN back to back, and Nagle's algorithm holds the second until the
            // first is acknowledged (a delayed ACK: 40 ms of lag per event).
            tx.rollback().await?;
            return Ok(Published::Nothing);
        }
        // One pipeline per stream: on a Redis Cluster each stream is its own slot (so the
        // services' streams spread over the masters), and a pipeline goes to one slot.
        let mut pipes: BTreeMap<&str, redis::Pipeline> = BTreeMap::new();
        for (id, kind, payload) in &rows {
            for topic in topics(kind) {
                pipes
                    .entry(topic)
                    .or_default()
                    .xadd_maxlen(
                        format!("{}{topic}", self.config.stream_prefix),
                        StreamMaxlen::Approx(STREAM_MAXLEN),
                        "*",
                        &[
                            ("id", id.to_string()),
                            ("type", kind.clone()),
                            ("payload", payload.clone()),
                        ],
                    )
                    .ignore();
            }
        }
        for pipe in pipes.values() {
            let () = pipe.query_async(&mut self.redis).await?;
        }
        EventStats::add(&self.stats.published, rows.len() as u64);
        if self.config.die_after_publishing {
            // Dropped without commit: the rows stay unpublished in the outbox.
            return Ok(Published::Some);
        }
        // Text protocol: a statement that differs every round is not worth preparing (and
        // would churn the connection's statement cache).
        let ids: Vec<String> = rows.iter().map(|(id, ..)| id.to_string()).collect();
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "UPDATE outbox SET published_at = NOW(3), attempts = attempts + 1 WHERE id IN ({})",
            ids.join(",")
        )))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Published::Some)
    }

    /// Marks for publishing again the events published over `republish_after` ago that a
    /// consumer has not applied. Returns where the next check starts: ids below it are all
    /// applied. (Ids are handed out before commit, so only rows older than a minute count as
    /// settled when nothing is unapplied.)
    async fn republish_unapplied(&self, from_id: i64) -> Result<i64, sqlx::Error> {
        let unapplied = unapplied_events_sql(Parked::Excluded).replacen(
            "SELECT COUNT(*)",
            "SELECT o.id, COALESCE(o.published_at <= NOW(3) - INTERVAL ? MICROSECOND, 0)",
            1,
        ) + " AND o.id >= ? ORDER BY o.id LIMIT 10000";
        let rows: Vec<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(unapplied))
            .bind(self.config.republish_after.as_micros() as i64)
            .bind(from_id)
            .fetch_all(&self.pool)
            .await?;
        let overdue: Vec<String> = rows
            .iter()
            .filter(|(_, overdue)| *overdue == 1)
            .map(|(id, _)| id.to_string())
            .collect();
        if !overdue.is_empty() {
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "UPDATE outbox SET published_at = NULL WHERE id IN ({})",
                overdue.join(",")
            )))
            .execute(&self.pool)
            .await?;
            EventStats::add(&self.stats.republished, overdue.len() as u64);
        }
        let settled: i64 = sqlx::query_scalar(
            "SELECT COALESCE(MAX(id), 0) + 1 FROM outbox WHERE created_at <= NOW(3) - INTERVAL 1 MINUTE",
        )
        .fetch_one(&self.pool)
        .await?;
        let first_unapplied = rows.first().map_or(i64::MAX, |(id, _)| *id);
        Ok(first_unapplied.min(settled).max(from_id))
    }
}

enum Published {
    Some,
    Nothing,
}
