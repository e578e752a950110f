//! The request mixes a client of the Concert service makes (what `cache-bench` drives).

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, schemars::JsonSchema,
)]
#[value(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// "List all concerts" (the concerts_with_dates query).
    ConcertList,
    /// "Get one concert" (the concert_detail query) for the open concerts.
    ConcertDetail,
    /// Reads of one open concert, with --write-ratio seat holds and releases in it.
    Mixed,
}

impl Workload {
    pub const ALL: [Workload; 3] = [
        Workload::ConcertList,
        Workload::ConcertDetail,
        Workload::Mixed,
    ];
}
