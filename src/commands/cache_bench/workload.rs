//! The request mixes `cache-bench` drives against the Concert service: a benchmark's
//! workload, so it lives beside the command, not in the domain.

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

/// Printed as typed (`concert_list`).
impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let value = clap::ValueEnum::to_possible_value(self).expect("no value is skipped");
        f.write_str(value.get_name())
    }
}
