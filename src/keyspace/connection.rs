//! Connecting to one Redis or a Redis Cluster behind one [`RedisConn`], with one-line errors.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::RoutingInfo;
use redis::{IntoConnectionInfo, RedisFuture};

use super::RedisTarget;
use crate::storage::db::mask;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);
/// Reconnection attempts after a lost connection: enough to ride out a Redis restart of a few
/// seconds, few enough that a dead Redis is reported instead of waited on.
const RECONNECT_RETRIES: usize = 4;
/// A cluster reply waited for at most this long: shorter than a single server's, because a
/// timeout is also how a stalled cluster connection shows (see [`ClusterConn`]), and each
/// one costs the callers that long before the connection is renewed.
const CLUSTER_RESPONSE_TIMEOUT: Duration = Duration::from_secs(3);
/// Attempts to reconnect to a cluster node before it is dropped until the next slot lookup.
const NODE_CONNECT_ATTEMPTS: std::num::NonZeroUsize = std::num::NonZeroUsize::new(3).unwrap();
/// Retries of a cluster command whose slot has no reachable master.
const CLUSTER_RETRIES: u32 = 10;

/// One connection to Redis or to a Redis Cluster, behind the same commands. Both are
/// multiplexed (one socket per server pipelines every caller's commands) and clone cheaply.
/// The cluster client routes each command to the master of its key's slot and follows the
/// cluster through failovers; the single one reconnects by itself after a restart. Commands
/// sent while a server is down fail (after the retries below), and callers count them.
#[derive(Clone)]
pub enum RedisConn {
    Single(ConnectionManager),
    Cluster(ClusterConn),
}

impl ConnectionLike for RedisConn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a redis::Cmd) -> RedisFuture<'a, redis::Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(cluster) => Box::pin(async move {
                let (generation, mut conn) = cluster.current();
                let reply = conn.req_packed_command(cmd).await;
                cluster.renew_after_timeout(generation, &reply).await;
                reply
            }),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<redis::Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(cluster) => Box::pin(async move {
                let (generation, mut conn) = cluster.current();
                let replies = conn.req_packed_commands(pipeline, offset, count).await;
                cluster.renew_after_timeout(generation, &replies).await;
                replies
            }),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(_) => 0,
        }
    }
}

/// A cluster connection that replaces itself when a command times out.
///
/// Why: under concurrent load, redis-rs 1.8.1's async cluster client can stall for good after
/// a master dies: its slot refresh waits for the connection map's lock behind a node repair
/// that is never polled, and from then on every command times out (tests/cluster.rs kills a
/// master under queue-sim's 50 clients and saw this in about one run in three). A fresh
/// connection asks the cluster for its slots anew and finds the promoted replica.
#[derive(Clone)]
pub struct ClusterConn {
    client: Arc<ClusterClient>,
    /// The connection in use and its generation, so that a wave of timed-out commands from
    /// one stalled connection renews it once.
    current: Arc<Mutex<(u64, ClusterConnection)>>,
    renewing: Arc<tokio::sync::Mutex<()>>,
}

impl ClusterConn {
    async fn new(client: ClusterClient) -> redis::RedisResult<Self> {
        let conn = client.get_async_connection().await?;
        Ok(Self {
            client: Arc::new(client),
            current: Arc::new(Mutex::new((0, conn))),
            renewing: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    fn current(&self) -> (u64, ClusterConnection) {
        self.current
            .lock()
            .expect("cluster connection lock")
            .clone()
    }

    async fn renew_after_timeout<T>(&self, generation: u64, reply: &redis::RedisResult<T>) {
        if !reply.as_ref().is_err_and(|e| e.is_timeout()) {
            return;
        }
        let _one_at_a_time = self.renewing.lock().await;
        if self.current().0 != generation {
            return; // another caller renewed it already
        }
        // If the cluster cannot be reached now, the next timeout tries again.
        if let Ok(fresh) = self.client.get_async_connection().await {
            *self.current.lock().expect("cluster connection lock") = (generation + 1, fresh);
        }
    }

    /// `cmd` on the node `routing` names (SCAN walks one node at a time).
    pub(super) async fn route_command(
        &self,
        cmd: redis::Cmd,
        routing: RoutingInfo,
    ) -> redis::RedisResult<redis::Value> {
        let (generation, mut conn) = self.current();
        let reply = conn.route_command(cmd, routing).await;
        self.renew_after_timeout(generation, &reply).await;
        reply
    }
}

/// Connects to Redis or a Redis Cluster (see [`RedisTarget`]), or says in one line why not.
pub async fn connect(target: &RedisTarget) -> Result<RedisConn> {
    let unusable = |e: redis::RedisError| {
        anyhow!(
            "--redis-url {} is not usable: {e}",
            mask(target.first_node())
        )
    };
    // TCP_NODELAY: a multiplexed connection writes many small commands back to back, and
    // Nagle's algorithm would hold each behind the previous one's acknowledgement.
    let tcp = redis::io::tcp::TcpSettings::default().set_nodelay(true);
    let connected = match target {
        RedisTarget::Single(url) => {
            let info = url.as_str().into_connection_info().map_err(unusable)?;
            let client = redis::Client::open(info.set_tcp_settings(tcp)).map_err(unusable)?;
            let config = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(CONNECT_TIMEOUT))
                // redis-rs gives up on a reply after 500 ms by default, but the command may
                // still run: a queue admission that timed out on a loaded machine had admitted
                // users nobody recorded. A slow reply is waited for; a dead Redis still fails
                // fast on reconnect.
                .set_response_timeout(Some(RESPONSE_TIMEOUT))
                .set_number_of_retries(RECONNECT_RETRIES)
                .set_max_delay(Duration::from_secs(1));
            ConnectionManager::new_with_config(client, config)
                .await
                .map(RedisConn::Single)
        }
        RedisTarget::Cluster(nodes) => {
            let client = ClusterClientBuilder::new(nodes.iter().map(|url| url.as_str()))
                .connection_timeout(CONNECT_TIMEOUT)
                .response_timeout(CLUSTER_RESPONSE_TIMEOUT)
                .tcp_settings(tcp)
                // A killed master's slots answer again once its replica is promoted (about
                // 2 s with a node timeout of 1 s); retries 0.1-1 s apart ride that out, and
                // a cluster that stays down is reported after about 10 s.
                .retries(CLUSTER_RETRIES)
                .min_retry_wait(100)
                .max_retry_wait(1_000)
                // Without a limit the client redials a dead master forever and never asks
                // the cluster who serves its slots now; dropped after a few attempts, the
                // node's slots are looked up again and the promoted replica is found.
                .max_connection_attempts(NODE_CONNECT_ATTEMPTS)
                .build()
                .map_err(unusable)?;
            ClusterConn::new(client).await.map(RedisConn::Cluster)
        }
    };
    let mut conn = connected.map_err(|e| anyhow!(unreachable(target, &e)))?;
    if let RedisConn::Single(single) = &mut conn {
        // A cluster node answers a plain client only for its own slots: the run would fail
        // later on its first key elsewhere ("MOVED"), so it is refused before any work.
        let info: String = redis::cmd("INFO")
            .arg("cluster")
            .query_async(single)
            .await
            .unwrap_or_default();
        if info.lines().any(|line| line.trim() == "cluster_enabled:1") {
            let at = target.addresses();
            bail!(
                "Redis at {at} is a Redis Cluster node: name the cluster as --redis-url redis+cluster://{at}"
            );
        }
    }
    Ok(conn)
}

/// Why a connection could not be made, in one line that says what to do. The cluster client
/// folds its nodes' errors into text ("Failed to create initial connections - Io: ..."), so
/// its causes are told apart by their words.
fn unreachable(target: &RedisTarget, e: &redis::RedisError) -> String {
    let who = target.describe();
    let text = e.to_string();
    if e.kind() == redis::ErrorKind::AuthenticationFailed || text.contains("AuthenticationFailed") {
        format!("{who} refused the credentials: check the password in --redis-url")
    } else if text.contains("cluster support disabled") {
        let at = target.addresses();
        let first = at.split(',').next().unwrap_or(&at);
        format!(
            "Redis at {at} is not a Redis Cluster (cluster support disabled): name it as --redis-url redis://{first}"
        )
    } else if e.is_connection_refusal() || text.contains("Connection refused") {
        format!("cannot reach {who} (connection refused): start it, or pass --redis-url")
    } else if e.is_timeout() {
        format!(
            "cannot reach {who} (no answer within {}s): check --redis-url",
            CONNECT_TIMEOUT.as_secs()
        )
    } else {
        format!("cannot reach {who} ({e}): check --redis-url")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_connection_failures_say_what_to_do_without_the_password() {
        let cluster = RedisTarget::parse("redis+cluster://u:secret@127.0.0.1:7000").unwrap();
        let folded = |cause: &str| {
            redis::RedisError::from((
                redis::ErrorKind::Io,
                "Failed to create initial connections",
                cause.to_string(),
            ))
        };
        for (cause, says) in [
            (
                "Io: Connection refused (os error 111)",
                "cannot reach the Redis Cluster at 127.0.0.1:7000 (connection refused)",
            ),
            (
                "Io: Password authentication failed - AuthenticationFailed",
                "refused the credentials",
            ),
            (
                "ResponseError: This instance has cluster support disabled",
                "is not a Redis Cluster (cluster support disabled): name it as --redis-url redis://127.0.0.1:7000",
            ),
        ] {
            let message = unreachable(&cluster, &folded(cause));
            assert!(message.contains(says), "{message}");
            assert!(!message.contains("secret"), "{message}");
        }
    }
}
