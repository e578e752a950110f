//! The one report layer: typed reports rendered as table/JSON/CSV/Markdown ([`output`]),
//! figures drawn as SVG ([`plot`]), and progress bars on stderr ([`progress`]).

pub mod output;
pub mod plot;
pub mod progress;
