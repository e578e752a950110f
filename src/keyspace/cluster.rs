//! A Redis Cluster's topology as the tool needs it: its masters, which master serves a key,
//! how a run's keys spread over them, and SCAN/UNLINK under a prefix on every master in turn.

use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};

use super::{KeyPrefix, RedisConn};

const SCAN_BATCH: usize = 1_000;

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
