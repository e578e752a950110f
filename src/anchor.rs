//! Anchors: `redis-benchmark` running the bare Redis commands a feature is built on, with the
//! same number of clients, in the same run, so the feature's throughput is read as a fraction
//! of what this Redis can do at all (queue-sim: ZADD and ZRANK; cache-bench: GET).

use anyhow::{Result, anyhow, bail};
use serde::Serialize;
use tokio::process::Command;

use crate::keyspace::{KeyPrefix, RedisTarget};

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AnchorRun {
    pub command: &'static str,
    pub clients: u32,
    pub requests: u64,
    pub ops_per_second: f64,
}

/// The queue's anchor: ZADD `requests` random members into one scratch key, then ZRANK
/// `requests` random members of it; the key is removed afterwards.
pub async fn sorted_set(
    redis_url: &str,
    prefix: &KeyPrefix,
    clients: u32,
    requests: u64,
    keyspace: u64,
) -> Result<Vec<AnchorRun>> {
    let target = RedisTarget::parse(redis_url)?;
    let key = format!("{}q:{{anchor}}:waiting", prefix.as_str());
    let mut runs = Vec::new();
    for (command, args) in [
        ("ZADD", vec!["ZADD", &key, "__rand_int__", "__rand_int__"]),
        ("ZRANK", vec!["ZRANK", &key, "__rand_int__"]),
    ] {
        let ops_per_second = run(&target, clients, requests, keyspace, &args).await?;
        runs.push(AnchorRun {
            command,
            clients,
            requests,
            ops_per_second,
        });
    }
    run(&target, 1, 1, 1, &["DEL", &key]).await?;
    Ok(runs)
}

/// The cache's anchor: GET of one value of `value_bytes` bytes, written (and removed
/// afterwards) through `conn`, since a value that size does not fit on a command line.
pub async fn get(
    redis_url: &str,
    conn: &mut crate::keyspace::RedisConn,
    prefix: &KeyPrefix,
    clients: u32,
    requests: u64,
    value_bytes: usize,
) -> Result<AnchorRun> {
    let target = RedisTarget::parse(redis_url)?;
    let key = format!("{}cache:{{anchor}}", prefix.as_str());
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(vec![b'x'; value_bytes.max(1)])
        .query_async(conn)
        .await?;
    let measured = run(&target, clients, requests, 1, &["GET", &key]).await;
    let _: () = redis::cmd("DEL").arg(&key).query_async(conn).await?;
    Ok(AnchorRun {
        command: "GET",
        clients,
        requests,
        ops_per_second: measured?,
    })
}

async fn run(
    target: &RedisTarget,
    clients: u32,
    requests: u64,
    keyspace: u64,
    args: &[&str],
) -> Result<f64> {
    let url = target.first_node();
    let mut command = Command::new("redis-benchmark");
    if target.is_cluster() {
        // Each command goes to its key's master, as the tool's own commands do.
        command.arg("--cluster");
    }
    command
        .arg("-h")
        .arg(url.host_str().unwrap_or("127.0.0.1"))
        .arg("-p")
        .arg(url.port().unwrap_or(6379).to_string())
        .args(["-c", &clients.to_string()])
        .args(["-n", &requests.to_string()])
        .args(["-r", &keyspace.to_string()])
        .arg("--csv")
        .args(args)
        .kill_on_drop(true);
    // The password goes by environment, never on a command line other users can read.
    if let Some(password) = url.password() {
        command.env("REDISCLI_AUTH", password);
    }
    let output = command.output().await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow!("the anchor needs redis-benchmark on PATH (Debian: apt install redis-tools)")
        } else {
            anyhow!("could not run redis-benchmark: {e}")
        }
    })?;
    if !output.status.success() {
        bail!(
            "redis-benchmark failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    parse_csv(&String::from_utf8_lossy(&output.stdout))
}

/// The requests per second from redis-benchmark's `--csv` output (a header, then one row).
fn parse_csv(text: &str) -> Result<f64> {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let row = reader
        .records()
        .next()
        .ok_or_else(|| anyhow!("redis-benchmark printed no result: {text:?}"))??;
    row.get(1)
        .and_then(|rps| rps.parse().ok())
        .ok_or_else(|| anyhow!("redis-benchmark printed an unexpected row: {row:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_requests_per_second_from_the_csv() {
        let text =
            "\"test\",\"rps\",\"avg_latency_ms\"\n\"ZADD k __rand_int__\",\"81234.56\",\"0.3\"\n";
        assert_eq!(parse_csv(text).unwrap(), 81234.56);
        assert!(parse_csv("\"test\",\"rps\"\n").is_err());
    }
}
