//! The reservation domain, apart from any benchmark: no output, no flags of its own. The
//! enums a flag names (a seat strategy, a cache level, a service) derive clap's
//! `ValueEnum`, so each value's name and its help (the variant's doc) are written once, here;
//! parsing the command line, and every value parser, is `commands/`'s. The commands drive the
//! domain and measure it.
//!
//! - [`queue`]: the waiting queue (Redis and database stores behind one trait).
//! - [`concerts`]: the Concert service's reads and their two cache levels.
//! - [`booking`]: holds, payments, points and the sweeper, in one process.
//! - [`services`]: the same domain split into four services that talk by events.
//! - [`audit`]: the invariants of all of it, read straight from the tables.

pub mod audit;
pub mod booking;
pub mod concerts;
pub mod queue;
pub mod services;

/// `Display` for enums the command line parses, from clap's own derive: a value prints as it
/// is typed, and its names are written once.
macro_rules! display_as_typed {
    ($($type:ty),+) => {$(
        impl std::fmt::Display for $type {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let value = clap::ValueEnum::to_possible_value(self).expect("no value is skipped");
                f.write_str(value.get_name())
            }
        }
    )+};
}

display_as_typed!(
    booking::Strategy,
    concerts::CacheLevel,
    concerts::Invalidation
);
