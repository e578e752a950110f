//! The one measurement layer: HDR histograms, percentiles and bootstrap ratios ([`stats`]),
//! the anchors measured beside a feature in the same run ([`anchor`]), open-loop slots at
//! sub-millisecond precision ([`pace`]), and the gate's test-only injected delay
//! ([`slowdown`]).

pub mod anchor;
pub mod pace;
pub mod slowdown;
pub mod stats;
