//! Redis: connecting with one-line errors, and the tool's key namespace (`--key-prefix`).
//! Everything the tool stores in Redis lives under the prefix, so it can be found and removed
//! with SCAN + UNLINK without touching anyone else's keys (never KEYS, never FLUSHDB).

use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use redis::IntoConnectionInfo;
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use url::Url;

use crate::db::mask;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Reconnection attempts after a lost connection: enough to ride out a Redis restart of a few
/// seconds, few enough that a dead Redis is reported instead of waited on.
const RECONNECT_RETRIES: usize = 4;
const SCAN_BATCH: usize = 1_000;

/// A validated `--key-prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrefix(String);

impl KeyPrefix {
    pub fn parse(raw: &str) -> Result<Self> {
        if raw.is_empty() {
            bail!(
                "--key-prefix must not be empty: an empty namespace would be every key in the database"
            );
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            bail!("--key-prefix {raw:?} must not contain spaces or control characters");
        }
        Ok(Self(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A SCAN MATCH pattern for every key under the prefix, glob characters escaped.
    fn pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.0.len() + 1);
        for c in self.0.chars() {
            if matches!(c, '*' | '?' | '[' | ']' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('*');
        pattern
    }
}

/// Connects to Redis, or says in one line why not. The connection is multiplexed (one socket
/// pipelines every caller's commands) and reconnects by itself after Redis restarts; commands
/// sent while it is down fail, and callers count them.
pub async fn connect(raw_url: &str) -> Result<ConnectionManager> {
    let parsed = Url::parse(raw_url)
        .map_err(|e| anyhow!("--redis-url is not a valid URL ({e}): expected redis://host:6379"))?;
    if !matches!(parsed.scheme(), "redis" | "rediss") {
        bail!(
            "--redis-url must be a redis:// URL, not {}://",
            parsed.scheme()
        );
    }
    let at = format!(
        "{}:{}",
        parsed.host_str().unwrap_or("localhost"),
        parsed.port().unwrap_or(6379)
    );
    // TCP_NODELAY: a multiplexed connection writes many small commands back to back, and
    // Nagle's algorithm would hold each behind the previous one's acknowledgement.
    let info = raw_url
        .into_connection_info()
        .map_err(|e| anyhow!("--redis-url {} is not usable: {e}", mask(&parsed)))?;
    let info = info.set_tcp_settings(redis::io::tcp::TcpSettings::default().set_nodelay(true));
    let client = redis::Client::open(info)
        .map_err(|e| anyhow!("--redis-url {} is not usable: {e}", mask(&parsed)))?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        // redis-rs gives up on a reply after 500 ms by default, but the command may still run:
        // a queue admission that timed out on a loaded machine had admitted users nobody
        // recorded. A slow reply is waited for; a dead Redis still fails fast on reconnect.
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(RECONNECT_RETRIES)
        .set_max_delay(Duration::from_secs(1));
    ConnectionManager::new_with_config(client, config)
        .await
        .map_err(|e| {
            if e.kind() == redis::ErrorKind::AuthenticationFailed {
                anyhow!("Redis at {at} refused the credentials: check the password in --redis-url")
            } else if e.is_connection_refusal() {
                anyhow!(
                    "cannot reach Redis at {at} (connection refused): start it, or pass --redis-url"
                )
            } else if e.is_timeout() {
                anyhow!(
                    "cannot reach Redis at {at} (no answer within {}s): check --redis-url",
                    CONNECT_TIMEOUT.as_secs()
                )
            } else {
                anyhow!("cannot reach Redis at {at} ({e}): check --redis-url")
            }
        })
}

/// Removes every key under `prefix`; returns how many were removed.
pub async fn clear(
    conn: &mut (impl ConnectionLike + Send),
    prefix: &KeyPrefix,
) -> redis::RedisResult<u64> {
    let pattern = prefix.pattern();
    let mut cursor: u64 = 0;
    let mut removed = 0;
    loop {
        let (next, keys): (u64, Vec<Vec<u8>>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(SCAN_BATCH)
            .query_async(conn)
            .await?;
        if !keys.is_empty() {
            let unlinked: u64 = redis::cmd("UNLINK").arg(&keys).query_async(conn).await?;
            removed += unlinked;
        }
        if next == 0 {
            return Ok(removed);
        }
        cursor = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_glob_characters() {
        assert_eq!(KeyPrefix::parse("cb:").unwrap().pattern(), "cb:*");
        assert_eq!(
            KeyPrefix::parse("a*b?[c]\\").unwrap().pattern(),
            "a\\*b\\?\\[c\\]\\\\*"
        );
    }

    #[test]
    fn empty_or_blank_prefixes_are_refused() {
        assert!(
            KeyPrefix::parse("")
                .unwrap_err()
                .to_string()
                .contains("every key")
        );
        assert!(KeyPrefix::parse("a b").is_err());
    }
}
