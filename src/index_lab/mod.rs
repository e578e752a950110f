//! The index laboratory that `query` and `explain` share, depended on in one direction (the
//! commands use it; it uses neither): the [`workload`] (named statements, from a file or the
//! built-in week-8 one) and the [`params`] drawn for them from the data, the [`experiment`]
//! (variants x scenarios, timed), the
//! index [`variant`]s and the catalog they are checked against, [`scratch`] indexes that a run
//! creates, proves its own and removes, index trials on a scratch copy ([`trial`]) or as
//! [`invisible`] indexes, and [`plans`]: reading `EXPLAIN`/`ANALYZE` and the
//! advisor's candidate indexes ([`mysql_tree`] reads MySQL's `EXPLAIN ANALYZE` tree for both).

pub mod experiment;
pub mod invisible;
mod mysql_tree;
pub mod params;
pub mod plans;
pub mod scratch;
pub mod slow_log;
pub mod trial;
mod variant;
pub mod workload;

pub use experiment::{Experiment, Scenario, measure};
pub use params::with_literals;
pub use scratch::ScratchIndexes;
pub use variant::{BASELINE, Catalog, IndexDef, Redundant, Variant};
