//! The integration tests, in one binary so that they link once (seventeen binaries took most
//! of a build's link time on two cores). Each file is a module named for what it tests;
//! `cargo test --test it -- queue::` runs one of them. They talk to the real MariaDB/MySQL
//! and Redis (`TEST_MYSQL_URL`, `TEST_REDIS_URL`), each test in a database and a key prefix of
//! its own, owned and removed by the fixtures in [`common`].

mod common;

mod architecture;
mod bounds;
mod cache;
mod cli;
mod cluster;
mod dba;
mod events;
mod explain;
mod gate;
mod group;
mod holds;
mod ownership;
mod query;
mod queue;
mod queue_sim;
mod report;
mod reserve;
mod schemas;
mod seed;
mod workload;
