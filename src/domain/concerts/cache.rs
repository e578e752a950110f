//! Cache-aside in Redis for the Concert service.
//!
//! Keys: `{prefix}cache:{namespace}:{name}:...` where `{name}` (for example `{concert:3}`) is a
//! hash tag, so a value and its version counter share a cluster slot.
//! - `ttl` invalidation: one key per name, expiring after the TTL; writes do not touch it, so
//!   a read may be stale for up to the TTL (the write-up's setup).
//! - `on-write` invalidation: versioned values. A write bumps the name's version counter
//!   after it commits. A loader reads the version before it reads the database and stores
//!   the value stamped with that version; readers fetch counter and value in one MGET and
//!   take the value only if its stamp is the current version. A loader that read old data
//!   stamps it with the old version, so the race that makes plain eviction serve stale data
//!   until the TTL (read old row, writer evicts, reader sets old row) cannot happen.
//! - single flight: on a miss, one caller takes a short lock (`SET NX PX`) and loads; the
//!   others wait for its value instead of all querying the database at once.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::ServiceError;
use crate::keyspace::KeyPrefix;
use crate::keyspace::RedisConn;

/// Where the service caches.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum CacheLevel {
    /// No cache: the database every time.
    None,
    /// The serialized answer, at the request boundary (like an HTTP interceptor).
    Response,
    /// The entities, inside the repository.
    Repository,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Invalidation {
    /// Values live until their TTL; writes do not evict them.
    Ttl,
    /// Writes move a version on, so readers never see the value from before a write.
    OnWrite,
}

#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    pub level: CacheLevel,
    pub invalidation: Invalidation,
    pub ttl: Duration,
    pub single_flight: bool,
    /// When Redis fails, read from the database instead of failing the request.
    pub fail_open: bool,
}

/// How long the single-flight loader may hold its lock; waiters give up after it and load
/// themselves, so a crashed loader cannot stall everyone.
const LOCK_TTL: Duration = Duration::from_secs(2);
const WAIT_POLL: Duration = Duration::from_millis(2);

pub struct RedisCache {
    /// Several connections, used in turn: one multiplexed connection parses every reply on
    /// one task, which caps large cached values at one core.
    conns: Vec<RedisConn>,
    next: AtomicUsize,
    base: String,
    policy: CachePolicy,
    largest_value: AtomicU64,
}

impl RedisCache {
    pub fn new(
        conns: Vec<RedisConn>,
        prefix: &KeyPrefix,
        namespace: &str,
        policy: CachePolicy,
    ) -> Self {
        assert!(!conns.is_empty(), "a cache needs a connection");
        Self {
            conns,
            next: AtomicUsize::new(0),
            base: format!("{}cache:{namespace}:", prefix.as_str()),
            policy,
            largest_value: AtomicU64::new(0),
        }
    }

    fn conn(&self) -> RedisConn {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        self.conns[i].clone()
    }

    /// Bytes of the largest value this cache stored.
    pub fn value_bytes(&self) -> u64 {
        self.largest_value.load(Ordering::Relaxed)
    }

    fn level(&self) -> &'static str {
        match self.policy.level {
            CacheLevel::Repository => "repo",
            _ => "resp",
        }
    }

    fn version_key(&self, name: &str) -> String {
        format!("{}{{{name}}}:version", self.base)
    }

    fn value_key(&self, name: &str) -> String {
        format!("{}{{{name}}}:{}", self.base, self.level())
    }

    /// Moves `name` on to a new version (after a committed write).
    pub async fn bump(&self, name: &str) -> redis::RedisResult<()> {
        let _: i64 = redis::cmd("INCR")
            .arg(self.version_key(name))
            .query_async(&mut self.conn())
            .await?;
        Ok(())
    }

    /// The current version (always "0" under TTL invalidation) and the cached value, if it
    /// belongs to that version.
    async fn lookup(&self, name: &str) -> redis::RedisResult<(String, Option<Vec<u8>>)> {
        let mut conn = self.conn();
        if self.policy.invalidation == Invalidation::Ttl {
            let value = redis::cmd("GET")
                .arg(self.value_key(name))
                .query_async(&mut conn)
                .await?;
            return Ok(("0".into(), value));
        }
        let (version, stamped): (Option<String>, Option<Vec<u8>>) = redis::cmd("MGET")
            .arg(self.version_key(name))
            .arg(self.value_key(name))
            .query_async(&mut conn)
            .await?;
        let version = version.unwrap_or_else(|| "0".into());
        let current = stamped.and_then(|bytes| {
            let (stamp, value) = split_stamp(&bytes)?;
            (stamp == version.as_bytes()).then(|| value.to_vec())
        });
        Ok((version, current))
    }

    /// The cached bytes and `true`, or the loaded bytes (now cached) and `false`.
    pub async fn get_or_load<Load, Fut>(
        &self,
        name: &str,
        load: &Load,
    ) -> Result<(Vec<u8>, bool), ServiceError>
    where
        Load: Fn() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, ServiceError>>,
    {
        let (version, cached) = self.lookup(name).await?;
        if let Some(bytes) = cached {
            return Ok((bytes, true));
        }
        if !self.policy.single_flight {
            return Ok((self.load_and_store(name, &version, load).await?, false));
        }
        let lock = format!("{}{{{name}}}:lock:v{version}", self.base);
        let mut conn = self.conn();
        let won: Option<String> = redis::cmd("SET")
            .arg(&lock)
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(LOCK_TTL.as_millis() as u64)
            .query_async(&mut conn)
            .await?;
        if won.is_some() {
            // Another loader may have stored the value and let go of the lock between our
            // miss and our lock: its value is served, and the database is asked once.
            if let (_, Some(bytes)) = self.lookup(name).await? {
                let _: () = redis::cmd("DEL").arg(&lock).query_async(&mut conn).await?;
                return Ok((bytes, true));
            }
            let loaded = self.load_and_store(name, &version, load).await;
            let _: () = redis::cmd("DEL").arg(&lock).query_async(&mut conn).await?;
            return Ok((loaded?, false));
        }
        // Someone else is loading: wait for their value rather than query the database too.
        let deadline = Instant::now() + LOCK_TTL;
        while Instant::now() < deadline {
            tokio::time::sleep(WAIT_POLL).await;
            if let (_, Some(bytes)) = self.lookup(name).await? {
                return Ok((bytes, true));
            }
        }
        Ok((self.load_and_store(name, &version, load).await?, false))
    }

    async fn load_and_store<Load, Fut>(
        &self,
        name: &str,
        version: &str,
        load: &Load,
    ) -> Result<Vec<u8>, ServiceError>
    where
        Load: Fn() -> Fut,
        Fut: Future<Output = Result<Vec<u8>, ServiceError>>,
    {
        let bytes = load().await?;
        let stored = match self.policy.invalidation {
            Invalidation::Ttl => bytes.clone(),
            Invalidation::OnWrite => [version.as_bytes(), b"\n", &bytes].concat(),
        };
        let _: () = redis::cmd("SET")
            .arg(self.value_key(name))
            .arg(&stored)
            .arg("PX")
            .arg(self.policy.ttl.as_millis() as u64)
            .query_async(&mut self.conn())
            .await?;
        self.largest_value
            .fetch_max(stored.len() as u64, Ordering::Relaxed);
        Ok(bytes)
    }
}

/// Splits `version\npayload`.
fn split_stamp(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == b'\n')?;
    Some((&bytes[..at], &bytes[at + 1..]))
}
