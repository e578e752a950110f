//! A service's consumer: reads its service's stream through the service's consumer group and
//! applies the events, a few per transaction, each transaction also recording every event it
//! applied in `processed_event` and writing the events they cause to the outbox (so applying
//! twice is impossible, and a crash applies nothing).
//!
//! An event is acknowledged only after its transaction commits. A consumer that dies leaves
//! its unacknowledged deliveries in the group's pending list, and any consumer of the group
//! takes them over after `claim_after` (XAUTOCLAIM). A delivery that keeps failing is parked
//! after `max_deliveries`: recorded as PARKED in `processed_event` and copied to the parked
//! stream, so it is reported (the audit counts it) and the rest keep flowing;
//! `worker --replay-parked` drives it again once the cause is fixed.
//!
//! A database that cannot be reached is not a failing handler: such a delivery is left
//! pending with its delivery count put back to zero (`XCLAIM .. RETRYCOUNT 0`), and the
//! consumer waits for the database before it reads again. So an outage of any length parks
//! nothing, and everything is applied when the database returns.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::StreamExt;
use redis::streams::{
    StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamMaxlen, StreamPendingCountReply,
    StreamReadOptions, StreamReadReply,
};
use redis::{AsyncCommands, RedisError};
use sqlx::{MySql, MySqlPool, QueryBuilder};
use tokio::sync::watch;

use super::{Event, EventStats, Service, outbox};
use crate::keyspace::RedisConn;
use crate::storage::db::is_unavailable;

/// Entries read per round.
const BATCH: usize = 64;
/// Transactions of one round applied concurrently (a round is split into up to this many
/// chunks, each one transaction). Events of one saga are causally ordered (each is emitted only
/// after the previous one was applied), so a round never holds two that must apply in order.
const IN_FLIGHT: usize = 4;
/// Events per transaction at least: a transaction's fixed statements (begin, the
/// `processed_event` rows, the outbox rows, commit) are shared by its events.
const MIN_CHUNK: usize = 16;
/// How long a read waits for new entries: also how soon a stop request is noticed.
const BLOCK: Duration = Duration::from_millis(100);
/// Deadlocks between concurrent handlers are retried at once, this many times.
const DEADLOCK_RETRIES: u32 = 3;
/// Entries the parked stream keeps (a report for people; the record is `processed_event`).
const PARKED_MAXLEN: usize = 10_000;
/// The longest wait between two checks of an unavailable database.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
pub struct ConsumerConfig {
    pub stream: String,
    pub parked_stream: String,
    /// Unique within the group (host, process, task).
    pub name: String,
    /// A delivery unacknowledged this long is taken over from its consumer.
    pub claim_after: Duration,
    pub max_deliveries: usize,
    /// Fault injection for tests: after this many applied events, the handlers of the chunk
    /// holding the next one run and the consumer dies before committing it (and before
    /// acknowledging anything of that round).
    pub crash_after: Option<u64>,
}

pub struct Consumer {
    pub pool: MySqlPool,
    /// Its own connection: a blocking read holds the connection it is sent on.
    pub redis: RedisConn,
    pub service: Service,
    pub config: ConsumerConfig,
    pub stats: Arc<EventStats>,
}

impl Consumer {
    /// Consumes until `stop` turns true (or the injected crash). Redis errors are counted and
    /// waited out; a group lost with a restarted Redis is created again.
    pub async fn run(mut self, mut stop: watch::Receiver<bool>) {
        let last_errors = Mutex::new(HashMap::new());
        let mut applied = 0u64;
        let mut next_claim = tokio::time::Instant::now();
        let mut backoff = Duration::from_millis(50);
        // Applied entries not yet acknowledged.
        let mut unacked: Vec<String> = Vec::new();
        let _ = self.create_group().await;
        while !*stop.borrow() {
            let round = async {
                let mut entries = Vec::new();
                if tokio::time::Instant::now() >= next_claim {
                    next_claim = tokio::time::Instant::now() + self.config.claim_after / 2;
                    self.park_exhausted(&last_errors).await?;
                    entries = self.claim_stalled().await?;
                }
                if entries.is_empty() {
                    entries = self.read_new(&mut unacked).await?;
                }
                Ok::<_, RedisError>(entries)
            };
            let entries = match round.await {
                Ok(entries) => {
                    backoff = Duration::from_millis(50);
                    entries
                }
                Err(e) => {
                    if e.code() == Some("NOGROUP") {
                        let _ = self.create_group().await;
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => {}
                    }
                    continue;
                }
            };
            let Round {
                done,
                crashed,
                unavailable,
            } = self.apply_round(entries, applied, &last_errors).await;
            if crashed {
                return;
            }
            if !unavailable.is_empty() {
                self.forgive(&unavailable).await;
                self.wait_for_database(&mut stop).await;
            }
            applied += done.len() as u64;
            // Sent with the next read: one round trip for both.
            unacked.extend(done);
        }
        if !unacked.is_empty() {
            // An unacknowledged entry is delivered again and skipped as a duplicate.
            let _: Result<usize, _> = self
                .redis
                .xack(&self.config.stream, self.service.name(), &unacked)
                .await;
        }
    }

    /// Puts the delivery count of deliveries that failed only because the database was
    /// unavailable back to zero, so they are never parked for it. They stay pending with
    /// this consumer, and are taken over again after `claim_after`.
    async fn forgive(&mut self, stream_ids: &[String]) {
        let _: Result<redis::Value, _> = redis::cmd("XCLAIM")
            .arg(&self.config.stream)
            .arg(self.service.name())
            .arg(&self.config.name)
            .arg(0)
            .arg(stream_ids)
            .arg("RETRYCOUNT")
            .arg(0)
            .arg("JUSTID")
            .query_async(&mut self.redis)
            .await;
    }

    /// Waits (backing off) until the database answers, or a stop is asked for.
    async fn wait_for_database(&self, stop: &mut watch::Receiver<bool>) {
        let mut backoff = Duration::from_millis(50);
        while !*stop.borrow() {
            let ping =
                tokio::time::timeout(MAX_BACKOFF, sqlx::query("SELECT 1").execute(&self.pool))
                    .await;
            if matches!(ping, Ok(Ok(_))) {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => {}
            }
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }

    async fn create_group(&mut self) -> Result<(), RedisError> {
        let created: Result<(), RedisError> = self
            .redis
            .xgroup_create_mkstream(&self.config.stream, self.service.name(), "0")
            .await;
        match created {
            Err(e) if e.code() != Some("BUSYGROUP") => Err(e),
            _ => Ok(()),
        }
    }

    /// Reads new entries, acknowledging `unacked` in the same round trip (emptied once sent).
    async fn read_new(&mut self, unacked: &mut Vec<String>) -> Result<Vec<StreamId>, RedisError> {
        let options = StreamReadOptions::default()
            .group(self.service.name(), &self.config.name)
            .count(BATCH)
            .block(BLOCK.as_millis() as usize);
        let mut pipe = redis::pipe();
        if !unacked.is_empty() {
            pipe.xack(&self.config.stream, self.service.name(), unacked)
                .ignore();
        }
        pipe.xread_options(&[&self.config.stream], &[">"], &options);
        let (reply,): (Option<StreamReadReply>,) = pipe.query_async(&mut self.redis).await?;
        unacked.clear();
        Ok(reply
            .map(|r| r.keys.into_iter().flat_map(|k| k.ids).collect())
            .unwrap_or_default())
    }

    /// Takes over deliveries other consumers (or this one, before a crash) left unacknowledged
    /// for `claim_after`.
    async fn claim_stalled(&mut self) -> Result<Vec<StreamId>, RedisError> {
        let reply: StreamAutoClaimReply = self
            .redis
            .xautoclaim_options(
                &self.config.stream,
                self.service.name(),
                &self.config.name,
                self.config.claim_after.as_millis() as u64,
                "0-0",
                StreamAutoClaimOptions::default().count(BATCH),
            )
            .await?;
        EventStats::add(&self.stats.redelivered, reply.claimed.len() as u64);
        Ok(reply.claimed)
    }

    /// Parks the stalled deliveries that have been tried `max_deliveries` times.
    async fn park_exhausted(
        &mut self,
        last_errors: &Mutex<HashMap<String, String>>,
    ) -> Result<(), RedisError> {
        let pending: StreamPendingCountReply = redis::cmd("XPENDING")
            .arg(&self.config.stream)
            .arg(self.service.name())
            .arg("IDLE")
            .arg(self.config.claim_after.as_millis() as u64)
            .arg("-")
            .arg("+")
            .arg(BATCH)
            .query_async(&mut self.redis)
            .await?;
        for stalled in pending
            .ids
            .iter()
            .filter(|p| p.times_delivered >= self.config.max_deliveries)
        {
            let entries: Vec<StreamId> = redis::cmd("XRANGE")
                .arg(&self.config.stream)
                .arg(&stalled.id)
                .arg(&stalled.id)
                .query_async::<redis::streams::StreamRangeReply>(&mut self.redis)
                .await?
                .ids;
            let fields = entries.first().map(fields_of).unwrap_or_default();
            let remembered = last_errors.lock().expect("error map").remove(&stalled.id);
            let error = match (parse(&fields), remembered) {
                (Err(unreadable), _) => unreadable,
                (Ok(_), Some(error)) => error,
                (Ok(_), None) => "its handler failed in another consumer".into(),
            };
            let error = format!(
                "gave up after {} deliveries: {error}",
                stalled.times_delivered
            );
            if let Ok(event_id) = fields.id.parse::<i64>() {
                let recorded = sqlx::query(
                    "INSERT IGNORE INTO processed_event (consumer, event_id, processed_at, outcome, error)
                     VALUES (?, ?, NOW(3), 'PARKED', ?)",
                )
                .bind(self.service.name())
                .bind(event_id)
                .bind(error.chars().take(500).collect::<String>())
                .execute(&self.pool)
                .await;
                if recorded.is_err() {
                    continue; // tried again at the next check
                }
            }
            // Several consumers may find the same exhausted delivery: the one whose XACK
            // removes it from the pending list reports it.
            let acked: usize = self
                .redis
                .xack(&self.config.stream, self.service.name(), &[&stalled.id])
                .await?;
            if acked == 0 {
                continue;
            }
            let _: String = self
                .redis
                .xadd_maxlen(
                    &self.config.parked_stream,
                    StreamMaxlen::Approx(PARKED_MAXLEN),
                    "*",
                    &[
                        ("consumer", self.service.name().to_string()),
                        ("stream_id", stalled.id.clone()),
                        ("event_id", fields.id),
                        ("type", fields.kind),
                        ("payload", fields.payload),
                        ("error", error),
                    ],
                )
                .await?;
            EventStats::add(&self.stats.parked, 1);
        }
        Ok(())
    }

    /// Applies a round of deliveries: those of other services' events are done at once; the
    /// rest go in up to [`IN_FLIGHT`] concurrent transactions.
    async fn apply_round(
        &self,
        entries: Vec<StreamId>,
        applied_before: u64,
        last_errors: &Mutex<HashMap<String, String>>,
    ) -> Round {
        let mut done = Vec::new();
        let mut unavailable = Vec::new();
        let mut work = Vec::new();
        for entry in entries {
            let fields = fields_of(&entry);
            if !self.service.consumes().contains(&fields.kind.as_str()) {
                done.push(entry.id);
                continue;
            }
            EventStats::add(&self.stats.delivered, 1);
            match parse(&fields) {
                Ok((event_id, event)) => work.push(Delivery {
                    stream_id: entry.id,
                    event_id,
                    event,
                }),
                Err(error) => self.failed(last_errors, entry.id, error),
            }
        }
        let crash_at = self
            .config
            .crash_after
            .map(|n| n.saturating_sub(applied_before) as usize)
            .filter(|&n| n < work.len());
        let chunk_len = work.len().div_ceil(IN_FLIGHT).max(MIN_CHUNK);
        let mut chunks = Vec::new();
        while !work.is_empty() {
            let rest = work.split_off(chunk_len.min(work.len()));
            chunks.push(std::mem::replace(&mut work, rest));
        }
        let crash_chunk = crash_at.map(|n| n / chunk_len);
        let results: Vec<_> = futures::stream::iter(chunks.into_iter().enumerate())
            .map(|(i, chunk)| self.apply_chunk(chunk, crash_chunk == Some(i)))
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        let mut crashed = false;
        for result in results {
            match result {
                ChunkResult::Crashed => crashed = true,
                ChunkResult::Applied(outcomes) => {
                    for (stream_id, outcome) in outcomes {
                        match outcome {
                            Ok(Applied::Now) => done.push(stream_id),
                            Ok(Applied::Before) => {
                                EventStats::add(&self.stats.duplicates, 1);
                                done.push(stream_id);
                            }
                            Err(ApplyFailure::Unavailable(_)) => unavailable.push(stream_id),
                            Err(ApplyFailure::Handler(error)) => {
                                self.failed(last_errors, stream_id, error)
                            }
                        }
                    }
                }
            }
        }
        Round {
            done,
            crashed,
            unavailable,
        }
    }

    fn failed(
        &self,
        last_errors: &Mutex<HashMap<String, String>>,
        stream_id: String,
        error: String,
    ) {
        EventStats::add(&self.stats.handler_errors, 1);
        last_errors
            .lock()
            .expect("error map")
            .insert(stream_id, error);
    }

    /// One transaction for the chunk (deadlocks retried); if it fails otherwise, one
    /// transaction per event, so one bad event cannot hold back the others.
    async fn apply_chunk(&self, chunk: Vec<Delivery>, crash: bool) -> ChunkResult {
        let mut together = Err(ApplyFailure::Handler(String::new()));
        for _ in 0..=DEADLOCK_RETRIES {
            together = self.apply_together(&chunk, crash).await;
            if !matches!(&together, Err(e) if e.is_deadlock()) {
                break;
            }
        }
        match together {
            Ok(None) => return ChunkResult::Crashed,
            Ok(Some(outcomes)) => return ChunkResult::Applied(outcomes),
            // Nothing can be told apart while the database is away: all wait for it.
            Err(ApplyFailure::Unavailable(e)) if !e.contains("Deadlock") => {
                return ChunkResult::Applied(
                    chunk
                        .into_iter()
                        .map(|d| (d.stream_id, Err(ApplyFailure::Unavailable(e.clone()))))
                        .collect(),
                );
            }
            Err(_) => {}
        }
        let mut outcomes = Vec::new();
        for delivery in chunk {
            let mut outcome = Err(ApplyFailure::Handler(String::new()));
            for _ in 0..=DEADLOCK_RETRIES {
                outcome = self.apply_one(&delivery).await;
                if !matches!(&outcome, Err(e) if e.is_deadlock()) {
                    break;
                }
            }
            outcomes.push((delivery.stream_id, outcome));
        }
        ChunkResult::Applied(outcomes)
    }

    /// Applies every event of the chunk in one transaction, or fails if one was applied
    /// before. `None` is the injected crash: the handlers ran, nothing committed.
    async fn apply_together(
        &self,
        chunk: &[Delivery],
        crash: bool,
    ) -> Result<Option<Vec<(String, Result<Applied, ApplyFailure>)>>, ApplyFailure> {
        let db = ApplyFailure::from;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let mut insert = QueryBuilder::<MySql>::new(
            "INSERT IGNORE INTO processed_event (consumer, event_id, processed_at) ",
        );
        insert.push_values(chunk, |mut row, d| {
            row.push_bind(self.service.name())
                .push_bind(d.event_id)
                .push("NOW(3)");
        });
        let recorded = insert.build().execute(&mut *tx).await.map_err(db)?;
        if recorded.rows_affected() != chunk.len() as u64 {
            // Some were applied before (a redelivery): sort them out event by event.
            return Err(ApplyFailure::Handler("duplicates in the chunk".into()));
        }
        let mut emitted = Vec::new();
        for delivery in chunk {
            emitted.extend(
                self.service
                    .handle(&mut tx, &delivery.event)
                    .await
                    .map_err(db)?,
            );
        }
        if crash {
            return Ok(None); // the transaction rolls back as it drops
        }
        outbox::append(&mut tx, self.service, &emitted)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Some(
            chunk
                .iter()
                .map(|d| (d.stream_id.clone(), Ok(Applied::Now)))
                .collect(),
        ))
    }

    async fn apply_one(&self, delivery: &Delivery) -> Result<Applied, ApplyFailure> {
        let db = ApplyFailure::from;
        let mut tx = self.pool.begin().await.map_err(db)?;
        let first = sqlx::query(
            "INSERT IGNORE INTO processed_event (consumer, event_id, processed_at) VALUES (?, ?, NOW(3))",
        )
        .bind(self.service.name())
        .bind(delivery.event_id)
        .execute(&mut *tx)
        .await
        .map_err(db)?
        .rows_affected()
            == 1;
        if !first {
            return Ok(Applied::Before);
        }
        let emitted = self
            .service
            .handle(&mut tx, &delivery.event)
            .await
            .map_err(db)?;
        outbox::append(&mut tx, self.service, &emitted)
            .await
            .map_err(db)?;
        tx.commit().await.map_err(db)?;
        Ok(Applied::Now)
    }
}

struct Delivery {
    stream_id: String,
    event_id: i64,
    event: Event,
}

struct Round {
    /// Stream ids to acknowledge.
    done: Vec<String>,
    crashed: bool,
    /// Stream ids that failed only because the database was unavailable.
    unavailable: Vec<String>,
}

enum ChunkResult {
    Applied(Vec<(String, Result<Applied, ApplyFailure>)>),
    Crashed,
}

/// Why an event was not applied: the database was away (retry, never park), or the handler
/// itself failed (counts towards parking).
enum ApplyFailure {
    Unavailable(String),
    Handler(String),
}

impl From<sqlx::Error> for ApplyFailure {
    fn from(e: sqlx::Error) -> Self {
        if is_unavailable(&e) {
            ApplyFailure::Unavailable(e.to_string())
        } else {
            ApplyFailure::Handler(e.to_string())
        }
    }
}

impl ApplyFailure {
    fn is_deadlock(&self) -> bool {
        matches!(self, ApplyFailure::Unavailable(e) if e.contains("Deadlock"))
    }
}

fn parse(fields: &Fields) -> Result<(i64, Event), String> {
    let event_id = fields
        .id
        .parse()
        .map_err(|_| format!("the entry's id {:?} is not an outbox id", fields.id))?;
    let event = serde_json::from_str(&fields.payload)
        .map_err(|e| format!("{} payload does not parse: {e}", fields.kind))?;
    Ok((event_id, event))
}

enum Applied {
    Now,
    Before,
}

/// A stream entry's fields, as the relay wrote them.
#[derive(Default)]
struct Fields {
    id: String,
    kind: String,
    payload: String,
}

fn fields_of(entry: &StreamId) -> Fields {
    let get = |name: &str| entry.get::<String>(name).unwrap_or_default();
    Fields {
        id: get("id"),
        kind: get("type"),
        payload: get("payload"),
    }
}
