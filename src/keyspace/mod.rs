//! Redis, one server or a Redis Cluster: where it is ([`RedisTarget`], `--redis-url` parsed
//! once), one connection type for both ([`RedisConn`]), the cluster's topology ([`cluster`]),
//! and the tool's key namespace ([`KeyPrefix`]).

pub mod cluster;
mod connection;
mod prefix;
mod target;

pub use cluster::{
    MasterShare, clear, describe_spread, keys_by_master, keys_per_master, master_of, masters,
    spread_under,
};
pub use connection::{ClusterConn, RedisConn, connect};
pub use prefix::KeyPrefix;
pub use target::RedisTarget;
