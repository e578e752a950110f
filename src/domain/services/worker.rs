//! Runs the relay and the consumers of any set of services as tasks, in this process: the
//! `worker` command runs them alone, `reserve --flow events` beside its load. Several workers
//! (processes or machines) share the work through the stream's consumer groups and the
//! outbox's `SKIP LOCKED`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Result, bail};
use redis::AsyncCommands;
use sqlx::MySqlPool;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::consumer::{Consumer, ConsumerConfig};
use super::relay::{Relay, RelayConfig};
use super::{EventStats, Parked, Service, reservation, unapplied_events_sql};
use crate::keyspace::{self, KeyPrefix, RedisTarget};

/// How often the Reservation service cancels reservations the Concert service never
/// answered.
const STALE_CHECK: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub services: Vec<Service>,
    pub relay: bool,
    pub claim_after: Duration,
    pub max_deliveries: usize,
    pub republish_after: Duration,
    pub pending_timeout: Duration,
    /// Fault injection for tests (see [`RelayConfig`] and [`ConsumerConfig`]).
    pub relay_dies_after_publishing: bool,
    pub consumers_crash_after: Option<u64>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            services: Service::ALL.to_vec(),
            relay: true,
            claim_after: Duration::from_secs(5),
            max_deliveries: 5,
            republish_after: Duration::from_secs(30),
            pending_timeout: Duration::from_secs(30),
            relay_dies_after_publishing: false,
            consumers_crash_after: None,
        }
    }
}

/// The stream of one topic: a service's name, or [`super::OUTCOMES`].
pub fn stream_key(prefix: &KeyPrefix, topic: &str) -> String {
    format!("{}events:{topic}", prefix.as_str())
}

pub fn parked_key(prefix: &KeyPrefix) -> String {
    format!("{}events:parked", prefix.as_str())
}

/// Drives every parked event again (`worker --replay-parked`), once its cause is fixed: its
/// PARKED row is removed and the outbox row is sent to that consumer's stream again, so the
/// next consumer applies it (or parks it again, if the cause is still there). Removing the row
/// first is the safe order: if the send fails, the relay republishes an unapplied event by
/// itself after `republish_after`. Returns how many were replayed.
pub async fn replay_parked(
    pool: &MySqlPool,
    redis: &RedisTarget,
    prefix: &KeyPrefix,
) -> Result<u64> {
    let parked: Vec<(String, i64, String, String)> = sqlx::query_as(
        "SELECT CAST(p.consumer AS CHAR), o.id, CAST(o.event_type AS CHAR), CAST(o.payload AS CHAR)
         FROM processed_event p JOIN outbox o ON o.id = p.event_id
         WHERE p.outcome = 'PARKED' ORDER BY o.id",
    )
    .fetch_all(pool)
    .await?;
    let mut conn = keyspace::connect(redis).await?;
    let mut replayed = 0;
    for (consumer, id, kind, payload) in parked {
        let removed = sqlx::query(
            "DELETE FROM processed_event WHERE consumer = ? AND event_id = ? AND outcome = 'PARKED'",
        )
        .bind(&consumer)
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected();
        if removed == 0 {
            continue; // replayed by someone else meanwhile
        }
        let _: String = conn
            .xadd(
                stream_key(prefix, &consumer),
                "*",
                &[("id", id.to_string()), ("type", kind), ("payload", payload)],
            )
            .await?;
        replayed += 1;
    }
    Ok(replayed)
}

pub struct Workers {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    pub stats: Arc<EventStats>,
}

impl Workers {
    pub async fn start(
        pool: &MySqlPool,
        redis: &RedisTarget,
        prefix: &KeyPrefix,
        config: &WorkerConfig,
    ) -> Result<Self> {
        if config.services.is_empty() && !config.relay {
            bail!("nothing to run: name a --service, or leave the relay on");
        }
        let (stop, stopped) = watch::channel(false);
        let stats = Arc::new(EventStats::default());
        let mut tasks = Vec::new();
        if config.relay {
            let relay = Relay::new(
                pool.clone(),
                keyspace::connect(redis).await?,
                RelayConfig {
                    stream_prefix: stream_key(prefix, ""),
                    republish_after: config.republish_after,
                    die_after_publishing: config.relay_dies_after_publishing,
                },
                stats.clone(),
            );
            tasks.push(tokio::spawn(relay.run(stopped.clone())));
        }
        // One consumer per service: the events that arrive while it applies a round wait for
        // the next, so rounds grow with the load and share their transactions' fixed
        // statements (three per service ran 1.15x the statements and 1.3x the commits per
        // reservation, at 0.89-0.97x the rate: docs/results.md). Other workers add consumers.
        for &service in &config.services {
            let consumer = Consumer {
                pool: pool.clone(),
                redis: keyspace::connect(redis).await?,
                service,
                config: ConsumerConfig {
                    stream: stream_key(prefix, service.name()),
                    parked_stream: parked_key(prefix),
                    name: format!(
                        "{}-{}-{}",
                        service.name(),
                        std::process::id(),
                        crate::domain::queue::new_token()
                    ),
                    claim_after: config.claim_after,
                    max_deliveries: config.max_deliveries,
                    crash_after: config.consumers_crash_after,
                },
                stats: stats.clone(),
            };
            tasks.push(tokio::spawn(consumer.run(stopped.clone())));
            if service == Service::Reservation {
                tasks.push(tokio::spawn(cancel_stale_loop(
                    pool.clone(),
                    config.pending_timeout,
                    stopped.clone(),
                )));
            }
        }
        Ok(Self { stop, tasks, stats })
    }

    /// Asks every task to stop and waits for them (each finishes its current round).
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

async fn cancel_stale_loop(pool: MySqlPool, timeout: Duration, mut stop: watch::Receiver<bool>) {
    while !*stop.borrow() {
        let _ = reservation::cancel_stale(&pool, timeout).await;
        tokio::select! {
            _ = tokio::time::sleep(STALE_CHECK) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Work the events still owe: unpublished outbox rows, events a consumer has not applied,
/// and sagas not finished. All zero once every worker has caught up.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Backlog {
    pub unpublished: i64,
    pub unapplied: i64,
    pub pending_reservations: i64,
    pub pending_payments: i64,
}

impl Backlog {
    /// The backlog of the outbox rows from `from_event` on (0: all of them) and of every
    /// pending saga.
    pub async fn measure(pool: &MySqlPool, from_event: i64) -> Result<Self, sqlx::Error> {
        let count = |sql: String| async move {
            sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
                "SELECT CAST(({sql}) AS SIGNED)"
            )))
            .fetch_one(pool)
            .await
        };
        Ok(Self {
            unpublished: count(format!(
                "SELECT COUNT(*) FROM outbox WHERE published_at IS NULL AND id >= {from_event}"
            ))
            .await?,
            unapplied: count(format!(
                "{} AND o.id >= {from_event}",
                unapplied_events_sql(Parked::Excluded)
            ))
            .await?,
            pending_reservations: count(
                "SELECT COUNT(*) FROM reservation WHERE status = 'PENDING'".into(),
            )
            .await?,
            pending_payments: count("SELECT COUNT(*) FROM payment WHERE status = 'PENDING'".into())
                .await?,
        })
    }

    pub fn is_clear(&self) -> bool {
        *self == Self::default()
    }

    /// Name and count of each, for a table.
    pub fn rows(&self) -> [(&'static str, i64); 4] {
        [
            ("unpublished", self.unpublished),
            ("unapplied", self.unapplied),
            ("pending_reservations", self.pending_reservations),
            ("pending_payments", self.pending_payments),
        ]
    }

    /// Waits until the backlog (from `from_event` on) is clear, or says what is left after
    /// `timeout`.
    pub async fn wait_clear(pool: &MySqlPool, from_event: i64, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let backlog = Self::measure(pool, from_event).await?;
            if backlog.is_clear() {
                return Ok(());
            }
            if tokio::time::Instant::now() >= deadline {
                bail!(
                    "the events did not settle within {} s: {} unpublished, {} unapplied, {} reservations and {} payments pending",
                    timeout.as_secs(),
                    backlog.unpublished,
                    backlog.unapplied,
                    backlog.pending_reservations,
                    backlog.pending_payments
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
