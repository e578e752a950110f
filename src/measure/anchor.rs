//! Anchors: `redis-benchmark` running the bare Redis commands a feature is built on, with the
//! same number of clients, in the same run, so the feature's throughput is read as a fraction
//! of what this Redis can do at all (queue-sim: ZADD and ZRANK; cache-bench: GET).

use anyhow::{Result, anyhow, bail};
use serde::Serialize;
use tokio::process::Command;

use crate::keyspace::{self, KeyPrefix, RedisConn, RedisTarget};

#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct AnchorRun {
    pub command: &'static str,
    pub clients: u32,
    pub requests: u64,
    pub ops_per_second: f64,
}

/// The queue's anchor: ZADD `requests` random members into a scratch key, then ZRANK
/// `requests` random members of it; removed afterwards. On a cluster each redis-benchmark
/// client works on a key of its own master (its `{tag}` placeholder), so the anchor spreads
/// over every master as `queue-sim --concerts` does.
pub async fn sorted_set(
    target: &RedisTarget,
    conn: &mut RedisConn,
    prefix: &KeyPrefix,
    clients: u32,
    requests: u64,
    keyspace: u64,
) -> Result<Vec<AnchorRun>> {
    // A namespace of this run's own, so the cleanup removes its keys and nobody else's.
    let scratch = prefix.child(&format!("anchor:{:x}:", fake::rand::random::<u32>()))?;
    let tag = if target.is_cluster() { "{tag}" } else { "" };
    let key = format!("{}q{tag}", scratch.as_str());
    let bench = Bench::spread(target);
    let mut runs = Vec::new();
    let mut measured = Ok(());
    for (command, args) in [
        ("ZADD", vec!["ZADD", &key, "__rand_int__", "__rand_int__"]),
        ("ZRANK", vec!["ZRANK", &key, "__rand_int__"]),
    ] {
        match bench.run(clients, requests, keyspace, &args).await {
            Ok(ops_per_second) => runs.push(AnchorRun {
                command,
                clients,
                requests,
                ops_per_second,
            }),
            Err(err) => {
                measured = Err(err);
                break;
            }
        }
    }
    // Removed whether or not redis-benchmark succeeded.
    keyspace::clear(conn, &scratch).await?;
    measured.map(|()| runs)
}

/// The cache's anchor: GET of one value of `value_bytes` bytes, written (and removed
/// afterwards) through `conn`, since a value that size does not fit on a command line. On a
/// cluster, against the one master that holds it, as every cached read of one name is.
pub async fn get(
    target: &RedisTarget,
    conn: &mut RedisConn,
    prefix: &KeyPrefix,
    clients: u32,
    requests: u64,
    value_bytes: usize,
) -> Result<AnchorRun> {
    let key = format!("{}cache:{{anchor}}", prefix.as_str());
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg(vec![b'x'; value_bytes.max(1)])
        .query_async(conn)
        .await?;
    let measured = match keyspace::master_of(conn, &key).await {
        Ok(master) => {
            let bench = Bench::at(target, master);
            bench.run(clients, requests, 1, &["GET", &key]).await
        }
        Err(err) => Err(err.into()),
    };
    let _: () = redis::cmd("DEL").arg(&key).query_async(conn).await?;
    Ok(AnchorRun {
        command: "GET",
        clients,
        requests,
        ops_per_second: measured?,
    })
}

/// Where redis-benchmark sends its commands.
struct Bench<'a> {
    target: &'a RedisTarget,
    host: String,
    port: u16,
    /// `--cluster`: each client connects to one master and works on its slots.
    cluster: bool,
}

impl<'a> Bench<'a> {
    /// Every master of a cluster (clients spread over them), or the one Redis.
    fn spread(target: &'a RedisTarget) -> Self {
        let url = target.first_node();
        Bench {
            target,
            host: url.host_str().unwrap_or("127.0.0.1").to_string(),
            port: url.port().unwrap_or(6379),
            cluster: target.is_cluster(),
        }
    }

    /// One node (a cluster's master), or the one Redis when `master` is None.
    fn at(target: &'a RedisTarget, master: Option<(String, u16)>) -> Self {
        match master {
            Some((host, port)) => Bench {
                target,
                host,
                port,
                cluster: false,
            },
            None => Bench::spread(target),
        }
    }

    async fn run(&self, clients: u32, requests: u64, keyspace: u64, args: &[&str]) -> Result<f64> {
        let mut command = Command::new("redis-benchmark");
        if self.cluster {
            command.arg("--cluster");
        }
        command
            .arg("-h")
            .arg(&self.host)
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-c", &clients.to_string()])
            .args(["-n", &requests.to_string()])
            .args(["-r", &keyspace.to_string()])
            .arg("--csv")
            .args(args)
            .kill_on_drop(true);
        // The password goes by environment, never on a command line other users can read.
        if let Some(password) = self.target.first_node().password() {
            command.env("REDISCLI_AUTH", password);
        }
        let output = command.output().await.map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow!(
                    "the anchor needs redis-benchmark on PATH (Debian: apt install redis-tools)"
                )
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
}

/// The requests per second from redis-benchmark's `--csv` output (a header, then one row;
/// in cluster mode after a list of the masters, skipped).
fn parse_csv(text: &str) -> Result<f64> {
    let csv = text.find("\"test\"").map_or(text, |header| &text[header..]);
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
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
        let cluster =
            format!("Cluster has 3 master nodes:\n\nMaster 0: 1f 127.0.0.1:7002\n\n{text}");
        assert_eq!(parse_csv(&cluster).unwrap(), 81234.56);
    }
}
