//! The client side of the events flow: start a saga, then wait for its outcome event. One
//! listener reads the outcomes stream (plain XREAD, no group: it wants every outcome) and
//! wakes the user waiting on each.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use redis::AsyncCommands;
use redis::streams::{StreamRangeReply, StreamReadOptions, StreamReadReply};
use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;

use schemars::JsonSchema;
use serde::Serialize;
use sqlx::MySqlPool;

use crate::context::Context;
use crate::domain::services::worker::{Backlog, WorkerConfig, Workers, stream_key};
use crate::domain::services::{Event, OUTCOMES};
use crate::keyspace;
use crate::keyspace::RedisConn;
use crate::measure::stats::{Latency, Samples};
use crate::storage::db::{Database, DatabaseUrl};
use crate::storage::group::Writers;

/// Which saga an outcome ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Saga {
    Reservation(i64),
    Payment(i64),
}

/// How a saga ended: `Err` carries the reason it was refused.
pub type Ending = Result<(), String>;

#[derive(Default)]
struct Board {
    waiting: HashMap<Saga, oneshot::Sender<Ending>>,
    /// Outcomes that arrived before anyone waited for them.
    arrived: HashMap<Saga, Ending>,
}

pub struct Outcomes {
    board: Arc<Mutex<Board>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Outcomes {
    /// Starts listening at the stream's current end: only sagas started from now on.
    pub async fn listen(mut redis: RedisConn, stream: String) -> Result<Self> {
        let last: StreamRangeReply = redis.xrevrange_count(&stream, "+", "-", 1).await?;
        let from = last.ids.first().map_or("0-0".to_string(), |e| e.id.clone());
        let board = Arc::new(Mutex::new(Board::default()));
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(read_outcomes(redis, stream, from, board.clone(), stopped));
        Ok(Self { board, stop, task })
    }

    /// Waits for `saga` to end; `None` when no outcome came within `timeout`.
    pub async fn wait(&self, saga: Saga, timeout: Duration) -> Option<Ending> {
        let receiver = {
            let mut board = self.board.lock().expect("outcome board");
            if let Some(ending) = board.arrived.remove(&saga) {
                return Some(ending);
            }
            let (sender, receiver) = oneshot::channel();
            board.waiting.insert(saga, sender);
            receiver
        };
        let ending = tokio::time::timeout(timeout, receiver).await.ok()?.ok();
        if ending.is_none() {
            self.board
                .lock()
                .expect("outcome board")
                .waiting
                .remove(&saga);
        }
        ending
    }

    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

async fn read_outcomes(
    mut redis: RedisConn,
    stream: String,
    mut from: String,
    board: Arc<Mutex<Board>>,
    stop: watch::Receiver<bool>,
) {
    let options = StreamReadOptions::default().count(512).block(100);
    while !*stop.borrow() {
        let reply: Option<StreamReadReply> =
            match redis.xread_options(&[&stream], &[&from], &options).await {
                Ok(reply) => reply,
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
        for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
            from = entry.id.clone();
            let Some(payload) = entry.get::<String>("payload") else {
                continue;
            };
            let (saga, ending) = match serde_json::from_str(&payload) {
                Ok(Event::ReservationHeld { reservation_id }) => {
                    (Saga::Reservation(reservation_id), Ok(()))
                }
                Ok(Event::ReservationRejected {
                    reservation_id,
                    reason,
                }) => (Saga::Reservation(reservation_id), Err(reason)),
                Ok(Event::PaymentCompleted { payment_id, .. }) => {
                    (Saga::Payment(payment_id), Ok(()))
                }
                Ok(Event::PaymentFailed {
                    payment_id, reason, ..
                }) => (Saga::Payment(payment_id), Err(reason)),
                _ => continue,
            };
            let mut board = board.lock().expect("outcome board");
            match board.waiting.remove(&saga) {
                Some(waiter) => {
                    let _ = waiter.send(ending);
                }
                None => {
                    board.arrived.insert(saga, ending);
                }
            }
        }
    }
}

/// The events flow's back end for one `reserve --load`: the workers (unless external), the
/// outcome listener, and where this run's events start in the outbox.
/// What the events flow's back end did in one run: counted from the tables (this run's outbox
/// rows) and, for in-process workers, by the workers themselves (null for external ones). The
/// warm-up's holds are part of it (`warmup_holds` in each result).
#[derive(Debug, Serialize, JsonSchema)]
pub struct EventsSummary {
    /// `in-process` or `external`.
    pub workers: &'static str,
    pub events: i64,
    pub published: i64,
    pub applied: i64,
    pub parked: i64,
    pub delivered: Option<u64>,
    pub redelivered: Option<u64>,
    pub duplicates: Option<u64>,
    pub publish_errors: Option<u64>,
    /// From the outbox insert to applied, per event.
    pub lag: Latency,
}

pub struct EventsRun {
    workers: Option<Workers>,
    pub outcomes: Outcomes,
    first_event: i64,
}

impl EventsRun {
    /// Starts the back end; this run's events are the outbox rows from now on.
    pub async fn start(
        ctx: &Context,
        url: &DatabaseUrl,
        writers: &Writers,
        external: bool,
    ) -> Result<Self> {
        let pool = &writers.pools()[0];
        let workers = if external {
            None
        } else {
            // Their own connections: the load's users must not starve the consumers.
            let db = Database::connect(url, WORKER_POOL).await?;
            // Opened before the load, as the users' are.
            crate::storage::db::open_connections(&db.pool, WORKER_POOL).await?;
            // When the users' member is lost, the workers move with them.
            writers.follow(db.pool.clone(), &db.url);
            let config = WorkerConfig::default();
            Some(Workers::start(&db.pool, &ctx.redis, &ctx.key_prefix, &config).await?)
        };
        let listener = keyspace::connect(&ctx.redis).await?;
        let outcomes = Outcomes::listen(listener, stream_key(&ctx.key_prefix, OUTCOMES)).await?;
        let first_event = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM outbox")
            .fetch_one(pool)
            .await?;
        Ok(Self {
            workers,
            outcomes,
            first_event,
        })
    }

    /// Waits until every event of the run is applied, stops the workers, and reports what the
    /// relay and consumers did (counted here) and the lag (from the tables).
    pub async fn finish(self, pool: &MySqlPool, timeout: Duration) -> Result<EventsSummary> {
        let settled = Backlog::wait_clear(pool, self.first_event, timeout).await;
        self.outcomes.stop().await;
        let in_process = match self.workers {
            Some(workers) => {
                let stats = workers.stats.snapshot();
                workers.stop().await;
                Some(stats)
            }
            None => None,
        };
        settled?;
        let (events, published, applied, parked): (i64, i64, i64, i64) = sqlx::query_as(
            "SELECT CAST(COUNT(*) AS SIGNED), CAST(COALESCE(SUM(published_at IS NOT NULL), 0) AS SIGNED),
                    CAST((SELECT COUNT(*) FROM processed_event p WHERE p.event_id >= ? AND p.outcome = 'APPLIED') AS SIGNED),
                    CAST((SELECT COUNT(*) FROM processed_event p WHERE p.event_id >= ? AND p.outcome = 'PARKED') AS SIGNED)
             FROM outbox WHERE id >= ?",
        )
        .bind(self.first_event)
        .bind(self.first_event)
        .bind(self.first_event)
        .fetch_one(pool)
        .await?;
        let lags: Vec<i64> = sqlx::query_scalar(
            "SELECT CAST(TIMESTAMPDIFF(MICROSECOND, o.created_at, p.processed_at) AS SIGNED)
             FROM outbox o JOIN processed_event p ON p.event_id = o.id
             WHERE o.id >= ? AND p.outcome = 'APPLIED'",
        )
        .bind(self.first_event)
        .fetch_all(pool)
        .await?;
        let mut lag = Samples::default();
        for micros in lags {
            lag.record(Duration::from_micros(micros.max(0) as u64));
        }
        Ok(EventsSummary {
            workers: if in_process.is_none() {
                "external"
            } else {
                "in-process"
            },
            events,
            published,
            applied,
            parked,
            delivered: in_process.map(|c| c.delivered),
            redelivered: in_process.map(|c| c.redelivered),
            duplicates: in_process.map(|c| c.duplicates),
            publish_errors: in_process.map(|c| c.publish_errors),
            lag: lag.summary(),
        })
    }
}

/// Database connections of the in-process workers.
const WORKER_POOL: u32 = 24;
