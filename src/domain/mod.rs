//! The reservation domain, apart from any benchmark: no clap, no output. The commands drive
//! it and measure it.
//!
//! - [`queue`]: the waiting queue (Redis and database stores behind one trait).
//! - [`concerts`]: the Concert service's reads and their two cache levels.
//! - [`booking`]: holds, payments, points and the sweeper, in one process.
//! - [`services`]: the same domain split into four services that talk by events.
//! - [`audit`]: the invariants of all of it, read straight from the tables.
//! - [`scenarios`]: the week-8 queries.

pub mod audit;
pub mod booking;
pub mod concerts;
pub mod queue;
pub mod scenarios;
pub mod services;
