//! Redis: connecting to one server or a Redis Cluster with one-line errors, and the tool's key
//! namespace (`--key-prefix`).
//! Everything the tool stores in Redis lives under the prefix, so it can be found and removed
//! with SCAN + UNLINK without touching anyone else's keys (never KEYS, never FLUSHDB).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use redis::{IntoConnectionInfo, RedisFuture};
use url::Url;

use crate::db::mask;

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
        // On a cluster the first {...} in a key picks its slot: braces in the prefix would put
        // every key in one slot, or split keys that must share one (the queue's, a cache
        // value's and its version).
        if raw.contains(['{', '}']) {
            bail!("--key-prefix {raw:?} must not contain braces: they are Redis Cluster hash tags");
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

/// Where Redis is: one server, or the seed nodes of a Redis Cluster. A cluster is named as
/// `redis+cluster://[user:password@]host:port[,host:port...]`: every node listed is tried until
/// one answers, and the client learns the rest of the cluster from it (redis-rs's
/// `ClusterClient` takes the same list of nodes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisTarget {
    Single(Url),
    Cluster(Vec<Url>),
}

impl RedisTarget {
    pub fn parse(raw: &str) -> Result<Self> {
        for (scheme, node_scheme) in [
            ("redis+cluster://", "redis"),
            ("rediss+cluster://", "rediss"),
        ] {
            if let Some(rest) = raw.strip_prefix(scheme) {
                return Self::parse_cluster(rest, node_scheme);
            }
        }
        if !raw.contains("://") {
            bail!(
                "--redis-url has no scheme: expected redis://host:6379 or redis+cluster://host:7000,host:7001"
            );
        }
        let url = Url::parse(raw).map_err(|e| {
            anyhow!("--redis-url is not a valid URL ({e}): expected redis://host:6379 or redis+cluster://host:7000,host:7001")
        })?;
        if !matches!(url.scheme(), "redis" | "rediss") {
            bail!(
                "--redis-url must be a redis:// or redis+cluster:// URL, not {}://",
                url.scheme()
            );
        }
        Ok(Self::Single(url))
    }

    fn parse_cluster(rest: &str, node_scheme: &str) -> Result<Self> {
        // The credentials, if any, are written once before the first node and hold for all.
        let (userinfo, hosts) = match rest.rsplit_once('@') {
            Some((userinfo, hosts)) => (format!("{userinfo}@"), hosts),
            None => (String::new(), rest),
        };
        let hosts = hosts.trim_end_matches('/');
        let mut nodes = Vec::new();
        for host in hosts.split(',') {
            if host.is_empty() || host.contains('/') {
                bail!(
                    "--redis-url lists a cluster node {host:?}: expected redis+cluster://host:7000,host:7001"
                );
            }
            let node = Url::parse(&format!("{node_scheme}://{userinfo}{host}"))
                .map_err(|e| anyhow!("--redis-url's cluster node {host:?} is not valid ({e})"))?;
            nodes.push(node);
        }
        Ok(Self::Cluster(nodes))
    }

    /// The node redis-benchmark and messages name: the only one, or the first seed.
    pub fn first_node(&self) -> &Url {
        match self {
            Self::Single(url) => url,
            Self::Cluster(nodes) => &nodes[0],
        }
    }

    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// `host:port` of every node named, for messages (never the password).
    fn addresses(&self) -> String {
        let at = |url: &Url| {
            format!(
                "{}:{}",
                url.host_str().unwrap_or("localhost"),
                url.port().unwrap_or(6379)
            )
        };
        match self {
            Self::Single(url) => at(url),
            Self::Cluster(nodes) => nodes.iter().map(at).collect::<Vec<_>>().join(","),
        }
    }

    /// "Redis at host:port" or "the Redis Cluster at host:port,...", for messages.
    fn describe(&self) -> String {
        match self {
            Self::Single(_) => format!("Redis at {}", self.addresses()),
            Self::Cluster(_) => format!("the Redis Cluster at {}", self.addresses()),
        }
    }
}

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
    async fn route_command(
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
pub async fn connect(raw_url: &str) -> Result<RedisConn> {
    let target = RedisTarget::parse(raw_url)?;
    let unusable = |e: redis::RedisError| {
        anyhow!(
            "--redis-url {} is not usable: {e}",
            mask(target.first_node())
        )
    };
    // TCP_NODELAY: a multiplexed connection writes many small commands back to back, and
    // Nagle's algorithm would hold each behind the previous one's acknowledgement.
    let tcp = redis::io::tcp::TcpSettings::default().set_nodelay(true);
    let connected = match &target {
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
    let mut conn = connected.map_err(|e| anyhow!(unreachable(&target, &e)))?;
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

/// The masters' addresses: a single Redis is its own only master; a cluster's come from
/// CLUSTER NODES (those not marked failed).
pub async fn masters(conn: &mut RedisConn) -> redis::RedisResult<Vec<(String, u16)>> {
    if !matches!(conn, RedisConn::Cluster(_)) {
        return Ok(vec![("single".to_string(), 0)]);
    }
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query_async(conn).await?;
    Ok(parse_masters(&nodes))
}

/// How many of a run's keys (or queues) one master holds: how hash tags spread a run over
/// a cluster.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct MasterShare {
    /// `host:port`, or `single` on one Redis.
    pub master: String,
    pub count: u64,
}

/// `127.0.0.1:7000 12 · 127.0.0.1:7001 9`, for a report's notes.
pub fn describe_spread(spread: &[MasterShare]) -> String {
    let parts: Vec<String> = spread
        .iter()
        .map(|m| format!("{} {}", m.master, m.count))
        .collect();
    parts.join(" · ")
}

fn label((host, port): &(String, u16)) -> String {
    if matches!(host.as_str(), "single") {
        host.clone()
    } else {
        format!("{host}:{port}")
    }
}

/// How many of `keys` each master serves (one Redis serves them all). On a cluster: each
/// key's slot (CLUSTER KEYSLOT, the server's own hash) against CLUSTER SLOTS' ranges, so a
/// key need not exist to be placed.
pub async fn keys_per_master(
    conn: &mut RedisConn,
    keys: &[String],
) -> redis::RedisResult<Vec<MasterShare>> {
    let mut counts = std::collections::BTreeMap::new();
    if matches!(conn, RedisConn::Cluster(_)) {
        let ranges = slot_ranges(conn).await?;
        for key in keys {
            let master = master_in(conn, &ranges, key).await?;
            *counts.entry(label(&master)).or_insert(0) += 1;
        }
    } else {
        counts.insert(label(&masters(conn).await?[0]), keys.len() as u64);
    }
    Ok(counts
        .into_iter()
        .map(|(master, count)| MasterShare { master, count })
        .collect())
}

/// The master that serves `key`, or None on a single Redis (which serves every key).
pub async fn master_of(
    conn: &mut RedisConn,
    key: &str,
) -> redis::RedisResult<Option<(String, u16)>> {
    if !matches!(conn, RedisConn::Cluster(_)) {
        return Ok(None);
    }
    let ranges = slot_ranges(conn).await?;
    master_in(conn, &ranges, key).await.map(Some)
}

/// CLUSTER SLOTS as (first slot, last slot, master): each entry is start, end, then the
/// master as [host, port, id, ...], then its replicas.
async fn slot_ranges(conn: &mut RedisConn) -> redis::RedisResult<Vec<(u16, u16, (String, u16))>> {
    let entries: Vec<redis::Value> = redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
    Ok(entries
        .into_iter()
        .filter_map(|range| {
            let fields: Vec<redis::Value> = redis::from_redis_value(range).ok()?;
            let [start, end, master, ..] = &fields[..] else {
                return None;
            };
            let master: Vec<redis::Value> = redis::from_redis_value(master.clone()).ok()?;
            let host: String = redis::from_redis_value(master.first()?.clone()).ok()?;
            let port: u16 = redis::from_redis_value(master.get(1)?.clone()).ok()?;
            let start: u16 = redis::from_redis_value(start.clone()).ok()?;
            let end: u16 = redis::from_redis_value(end.clone()).ok()?;
            Some((start, end, (host, port)))
        })
        .collect())
}

async fn master_in(
    conn: &mut RedisConn,
    ranges: &[(u16, u16, (String, u16))],
    key: &str,
) -> redis::RedisResult<(String, u16)> {
    let slot: u16 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(key)
        .query_async(conn)
        .await?;
    ranges
        .iter()
        .find(|(start, end, _)| (*start..=*end).contains(&slot))
        .map(|(_, _, master)| master.clone())
        .ok_or_else(|| {
            redis::RedisError::from((
                redis::ErrorKind::Server(redis::ServerErrorKind::ClusterDown),
                "no master serves the slot",
                format!("slot {slot} of {key}"),
            ))
        })
}

/// How many keys under `prefix` each master holds now.
pub async fn spread_under(
    conn: &mut RedisConn,
    prefix: &KeyPrefix,
) -> redis::RedisResult<Vec<MasterShare>> {
    Ok(keys_by_master(conn, prefix)
        .await?
        .iter()
        .map(|(master, keys)| MasterShare {
            master: label(master),
            count: keys.len() as u64,
        })
        .collect())
}

/// `host:port` of each master in CLUSTER NODES' text (`<id> <ip:port@cport> <flags> ...`).
fn parse_masters(nodes: &str) -> Vec<(String, u16)> {
    let mut masters: Vec<(String, u16)> = nodes
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields.get(2)?;
            let is_master = flags.split(',').any(|f| f == "master");
            let failed = flags.split(',').any(|f| f == "fail" || f == "fail?");
            if !is_master || failed {
                return None;
            }
            let address = fields.get(1)?.split('@').next()?;
            let (host, port) = address.rsplit_once(':')?;
            Some((host.to_string(), port.parse().ok()?))
        })
        .collect();
    masters.sort();
    masters
}

/// Every key under `prefix`, master by master. SCAN walks one server's keys, so a cluster's
/// keys are found by scanning each master in turn.
pub async fn keys_by_master(
    conn: &mut RedisConn,
    prefix: &KeyPrefix,
) -> redis::RedisResult<Vec<((String, u16), Vec<Vec<u8>>)>> {
    let mut found = Vec::new();
    for master in masters(conn).await? {
        let mut keys = Vec::new();
        let mut cursor: u64 = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(prefix.pattern())
                .arg("COUNT")
                .arg(SCAN_BATCH);
            let (next, batch): (u64, Vec<Vec<u8>>) = match conn {
                RedisConn::Single(single) => scan.query_async(single).await?,
                RedisConn::Cluster(cluster) => {
                    let at = SingleNodeRoutingInfo::ByAddress {
                        host: master.0.clone(),
                        port: master.1,
                    };
                    let reply = cluster
                        .route_command(scan, RoutingInfo::SingleNode(at))
                        .await?;
                    redis::from_redis_value(reply)?
                }
            };
            keys.extend(batch);
            if next == 0 {
                break;
            }
            cursor = next;
        }
        found.push((master, keys));
    }
    Ok(found)
}

/// Removes every key under `prefix`; returns how many were removed.
pub async fn clear(conn: &mut RedisConn, prefix: &KeyPrefix) -> redis::RedisResult<u64> {
    let mut removed = 0;
    for (_, keys) in keys_by_master(conn, prefix).await? {
        // The cluster client splits a many-key UNLINK into one per slot.
        for batch in keys.chunks(SCAN_BATCH) {
            let unlinked: u64 = redis::cmd("UNLINK").arg(batch).query_async(conn).await?;
            removed += unlinked;
        }
    }
    Ok(removed)
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

    #[test]
    fn cluster_urls_name_every_node_with_the_same_credentials() {
        let target =
            RedisTarget::parse("redis+cluster://u:secret@127.0.0.1:7000,127.0.0.1:7001/").unwrap();
        let RedisTarget::Cluster(nodes) = &target else {
            panic!("{target:?}");
        };
        let nodes: Vec<&str> = nodes.iter().map(Url::as_str).collect();
        assert_eq!(
            nodes,
            [
                "redis://u:secret@127.0.0.1:7000",
                "redis://u:secret@127.0.0.1:7001"
            ]
        );
        assert_eq!(
            target.describe(),
            "the Redis Cluster at 127.0.0.1:7000,127.0.0.1:7001"
        );
        let tls = RedisTarget::parse("rediss+cluster://h:7000").unwrap();
        assert_eq!(tls.first_node().scheme(), "rediss");
        assert!(!RedisTarget::parse("redis://h:6379").unwrap().is_cluster());
    }

    #[test]
    fn malformed_redis_urls_are_refused_in_one_line() {
        for (raw, says) in [
            ("redis+cluster://", "cluster node \"\""),
            ("redis+cluster://h:7000,,h:7001", "cluster node \"\""),
            ("redis+cluster://h:7000/3", "cluster node \"h:7000/3\""),
            ("redis+cluster://h:port", "invalid port"),
            ("http://h:6379", "not http://"),
            ("u:secret@h:6379", "no scheme: expected redis://host:6379"),
        ] {
            let err = RedisTarget::parse(raw).unwrap_err().to_string();
            assert!(err.contains(says), "{raw}: {err}");
            assert!(
                !err.contains('\n') && !err.contains("secret"),
                "{raw}: {err}"
            );
        }
    }

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

    #[test]
    fn masters_are_read_from_cluster_nodes_without_failed_ones() {
        let nodes = "\
a1 127.0.0.1:7001@17001 master - 0 1 2 connected 5461-10922
a0 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
a2 127.0.0.1:7002@17002 master,fail - 0 1 3 connected
a3 127.0.0.1:7003@17003 slave a0 0 1 1 connected
a5 127.0.0.1:7005@17005 master - 0 1 7 connected 10923-16383
";
        assert_eq!(
            parse_masters(nodes),
            [
                ("127.0.0.1".to_string(), 7000),
                ("127.0.0.1".to_string(), 7001),
                ("127.0.0.1".to_string(), 7005)
            ]
        );
    }
}
