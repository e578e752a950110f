//! Where Redis is (`--redis-url`): one server, or the seed nodes of a Redis Cluster, parsed
//! once into a [`RedisTarget`].

use anyhow::{Result, anyhow, bail};
use url::Url;

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
    pub(super) fn addresses(&self) -> String {
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
    pub(super) fn describe(&self) -> String {
        match self {
            Self::Single(_) => format!("Redis at {}", self.addresses()),
            Self::Cluster(_) => format!("the Redis Cluster at {}", self.addresses()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
