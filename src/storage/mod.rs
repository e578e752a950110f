//! The MySQL/MariaDB side of the shared infrastructure: connections with one-line errors
//! ([`db`]), the replicated groups a URL may name ([`group`]), the tool's embedded schema and the proof of what it owns ([`schema`]), and the
//! databases a run creates and drops ([`scratch`]).

pub mod db;
pub mod group;
pub mod schema;
pub mod scratch;
