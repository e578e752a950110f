//! The Concert service as the write-up built it: "list all concerts" and "get one concert",
//! read through a repository, optionally cached in Redis at one of two levels (see
//! [`CacheLevel`]), and the one write that changes what "get one concert" returns: a seat
//! held or released.
//!
//! Every entity carries what a reader needs to tell a stale answer from a fresh one: a
//! concert's `version` is the sum of its seats' version columns, which every seat write bumps.

mod cache;

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sqlx::MySqlPool;
use thiserror::Error;

use cache::RedisCache;
pub use cache::{CacheLevel, CachePolicy, Invalidation};

use crate::keyspace::KeyPrefix;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConcertListing {
    pub id: i64,
    pub title: String,
    pub artist: String,
    pub status: String,
    /// (performance id, start in Unix seconds) in date order.
    pub dates: Vec<(i64, i64)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seat {
    pub id: i64,
    pub seat_no: i32,
    pub grade: String,
    pub price: i64,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Performance {
    pub id: i64,
    /// Unix seconds.
    pub starts_at: i64,
    pub seats: Vec<Seat>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConcertDetail {
    pub id: i64,
    pub title: String,
    /// Sum of the concert's seat versions: grows by one with every committed seat write.
    pub version: i64,
    pub performances: Vec<Performance>,
}

#[derive(Debug, Error)]
pub enum ServiceError {
    #[error("concert {0} does not exist")]
    NoSuchConcert(i64),
    #[error("database: {0}")]
    Database(sqlx::Error),
    #[error("Redis: {0}")]
    Redis(redis::RedisError),
    #[error("cached value is not valid JSON: {0}")]
    Corrupt(serde_json::Error),
}

impl From<sqlx::Error> for ServiceError {
    fn from(err: sqlx::Error) -> Self {
        ServiceError::Database(err)
    }
}

impl From<redis::RedisError> for ServiceError {
    fn from(err: redis::RedisError) -> Self {
        ServiceError::Redis(err)
    }
}

/// "List all concerts": the write-up's scenario 1, as `workloads/week8.sql` has it (a test
/// there keeps the two the same).
pub const LIST_SQL: &str = "SELECT c.id, c.title, c.artist, c.status, p.id, p.starts_at \
     FROM concert c JOIN performance p ON p.concert_id = c.id ORDER BY c.id, p.starts_at";

/// "Get one concert": the write-up's scenario 2, as `workloads/week8.sql` has it.
pub const DETAIL_SQL: &str = "SELECT c.id, c.title, p.id, p.starts_at, s.id, s.seat_no, s.grade, s.price, s.status, s.version \
     FROM concert c JOIN performance p ON p.concert_id = c.id \
     JOIN seat s ON s.performance_id = p.id WHERE c.id = ?";

/// Reads and writes the concert tables; counts the queries it sends, which is how a benchmark
/// knows how much a cache spared the database.
pub struct ConcertRepository {
    /// Writes (and the reads inside a write) go here: the primary.
    pool: MySqlPool,
    /// Plain reads go here when set: a pool on a secondary (`--read-from replicas`).
    reads: Option<MySqlPool>,
    queries: AtomicU64,
}

type ListingRow = (i64, String, String, String, i64, chrono::NaiveDateTime);
type DetailRow = (
    i64,
    String,
    i64,
    chrono::NaiveDateTime,
    i64,
    i32,
    String,
    i64,
    String,
    i64,
);

impl ConcertRepository {
    /// Reads and writes on `pool`.
    pub fn new(pool: MySqlPool) -> Self {
        Self {
            pool,
            reads: None,
            queries: AtomicU64::new(0),
        }
    }

    /// The same, its plain reads on `reads` (a secondary's pool).
    pub fn reading_from(self, reads: MySqlPool) -> Self {
        Self {
            reads: Some(reads),
            ..self
        }
    }

    fn read_pool(&self) -> &MySqlPool {
        self.reads.as_ref().unwrap_or(&self.pool)
    }

    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }

    /// Database connections open in its pool now (a benchmark checks none opens while timed).
    pub fn connections(&self) -> u32 {
        self.pool.size() + self.reads.as_ref().map_or(0, MySqlPool::size)
    }

    /// The `concerts_with_dates` scenario query (`workloads/week8.sql`), grouped into one
    /// listing per concert.
    pub async fn list(&self) -> Result<Vec<ConcertListing>, ServiceError> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let rows: Vec<ListingRow> = sqlx::query_as(LIST_SQL).fetch_all(self.read_pool()).await?;
        let mut listings: Vec<ConcertListing> = Vec::new();
        for (id, title, artist, status, performance, starts_at) in rows {
            if listings.last().is_none_or(|l| l.id != id) {
                listings.push(ConcertListing {
                    id,
                    title,
                    artist,
                    status,
                    dates: Vec::new(),
                });
            }
            let listing = listings.last_mut().expect("pushed above");
            listing
                .dates
                .push((performance, starts_at.and_utc().timestamp()));
        }
        Ok(listings)
    }

    /// The `concert_detail` scenario query (`workloads/week8.sql`), grouped by performance.
    pub async fn detail(&self, concert: i64) -> Result<ConcertDetail, ServiceError> {
        self.queries.fetch_add(1, Ordering::Relaxed);
        let rows: Vec<DetailRow> = sqlx::query_as(DETAIL_SQL)
            .bind(concert)
            .fetch_all(self.read_pool())
            .await?;
        let Some(first) = rows.first() else {
            return Err(ServiceError::NoSuchConcert(concert));
        };
        let mut detail = ConcertDetail {
            id: first.0,
            title: first.1.clone(),
            version: 0,
            performances: Vec::new(),
        };
        for (_, _, performance, starts_at, id, seat_no, grade, price, status, version) in rows {
            if detail
                .performances
                .last()
                .is_none_or(|p| p.id != performance)
            {
                detail.performances.push(Performance {
                    id: performance,
                    starts_at: starts_at.and_utc().timestamp(),
                    seats: Vec::new(),
                });
            }
            detail.version += version;
            let seats = &mut detail.performances.last_mut().expect("pushed above").seats;
            seats.push(Seat {
                id,
                seat_no,
                grade,
                price,
                status,
            });
        }
        Ok(detail)
    }

    /// Holds an available seat or releases a hold of `holder`'s own (a real write a reader
    /// of "get one concert" must see), bumping its version. Returns the concert it belongs
    /// to, or `None` if the seat was sold or held by anyone else (never touched).
    pub async fn toggle_hold(&self, seat: i64, holder: i64) -> Result<Option<i64>, ServiceError> {
        let mut tx = self.pool.begin().await?;
        // SET assigns left to right: the later IFs see the new status.
        let changed = sqlx::query(
            "UPDATE seat SET
               status = IF(status = 'AVAILABLE', 'HELD', 'AVAILABLE'),
               held_until = IF(status = 'HELD', NOW(3) + INTERVAL 5 MINUTE, NULL),
               held_by = IF(status = 'HELD', ?, NULL),
               version = version + 1
             WHERE id = ? AND (status = 'AVAILABLE' OR status = 'HELD' AND held_by = ? AND held_for IS NULL)",
        )
        .bind(holder)
        .bind(seat)
        .bind(holder)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let concert: Option<i64> = if changed == 1 {
            sqlx::query_scalar(
                "SELECT p.concert_id FROM seat s JOIN performance p ON p.id = s.performance_id WHERE s.id = ?",
            )
            .bind(seat)
            .fetch_optional(&mut *tx)
            .await?
        } else {
            None
        };
        tx.commit().await?;
        Ok(concert)
    }
}

/// What a read served, and whether the cache answered it.
#[derive(Debug, Clone)]
pub struct Served {
    pub body: Vec<u8>,
    pub cache_hit: bool,
    /// Redis failed and `fail_open` sent the read to the database instead.
    pub fell_back: bool,
}

/// The service the benchmark drives: reads through the cache level its policy names.
pub struct ConcertService {
    pub repository: ConcertRepository,
    cache: Option<RedisCache>,
    policy: CachePolicy,
}

impl ConcertService {
    pub fn new(
        repository: ConcertRepository,
        redis: Vec<crate::keyspace::RedisConn>,
        prefix: &KeyPrefix,
        namespace: &str,
        policy: CachePolicy,
    ) -> Self {
        let cache = (policy.level != CacheLevel::None && !redis.is_empty())
            .then(|| RedisCache::new(redis, prefix, namespace, policy));
        Self {
            repository,
            cache,
            policy,
        }
    }

    pub fn cache(&self) -> Option<&RedisCache> {
        self.cache.as_ref()
    }

    pub async fn list_concerts(&self) -> Result<Served, ServiceError> {
        self.read(
            "concerts",
            || async {
                Ok(serde_json::to_vec(&self.repository.list().await?).expect("entities serialize"))
            },
            |bytes| {
                let entities: Vec<ConcertListing> =
                    serde_json::from_slice(bytes).map_err(ServiceError::Corrupt)?;
                Ok(serde_json::to_vec(&entities).expect("entities serialize"))
            },
        )
        .await
    }

    pub async fn get_concert(&self, concert: i64) -> Result<Served, ServiceError> {
        self.read(
            &format!("concert:{concert}"),
            || async {
                Ok(serde_json::to_vec(&self.repository.detail(concert).await?)
                    .expect("entities serialize"))
            },
            |bytes| {
                let entity: ConcertDetail =
                    serde_json::from_slice(bytes).map_err(ServiceError::Corrupt)?;
                Ok(serde_json::to_vec(&entity).expect("entities serialize"))
            },
        )
        .await
    }

    /// The write: toggles a seat's hold, then (under on-write invalidation) moves the
    /// concert's cache version on, so no read that starts after this returns can be served
    /// the old value.
    pub async fn toggle_seat(&self, seat: i64, holder: i64) -> Result<bool, ServiceError> {
        let Some(concert) = self.repository.toggle_hold(seat, holder).await? else {
            return Ok(false);
        };
        // The write has committed either way; with fail-open a failed bump is tolerated, and
        // readers may see the old value until the TTL (the trade fail-open makes).
        if let (Some(cache), Invalidation::OnWrite) = (&self.cache, self.policy.invalidation)
            && let Err(err) = cache.bump(&format!("concert:{concert}")).await
            && !self.policy.fail_open
        {
            return Err(err.into());
        }
        Ok(true)
    }

    /// Cache-aside at the policy's level. At the response level the cache holds the
    /// serialized answer and a hit is returned as is; at the repository level it holds the
    /// entities, and a hit is decoded and re-serialized by the service like a fresh read.
    async fn read<Load, Fut>(
        &self,
        name: &str,
        load: Load,
        from_entities: impl Fn(&[u8]) -> Result<Vec<u8>, ServiceError>,
    ) -> Result<Served, ServiceError>
    where
        Load: Fn() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, ServiceError>>,
    {
        let Some(cache) = &self.cache else {
            return Ok(Served {
                body: load().await?,
                cache_hit: false,
                fell_back: false,
            });
        };
        match cache.get_or_load(name, &load).await {
            Ok((bytes, hit)) => {
                let body = match self.policy.level {
                    CacheLevel::Repository => from_entities(&bytes)?,
                    _ => bytes,
                };
                Ok(Served {
                    body,
                    cache_hit: hit,
                    fell_back: false,
                })
            }
            Err(ServiceError::Redis(_)) if self.policy.fail_open => Ok(Served {
                body: load().await?,
                cache_hit: false,
                fell_back: true,
            }),
            Err(err) => Err(err),
        }
    }
}
