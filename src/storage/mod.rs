//! The MySQL/MariaDB side of the shared infrastructure: connections with one-line errors
//! ([`db`]), the tool's embedded schema and the proof of what it owns ([`schema`]), and the
//! databases a run creates and drops ([`scratch`]).

pub mod db;
pub mod schema;
pub mod scratch;
