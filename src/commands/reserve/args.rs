//! `reserve`'s flags.

use crate::commands::flags::PlotArgs;
use crate::gate::BaselineArgs;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::commands::flags::duration_up_to;
use crate::commands::flags::{DAY, HOUR, MAX_USERS, as_typed, parse_policy};
use crate::domain::booking::Strategy;
use crate::domain::queue::Policy;

pub(crate) const EXAMPLES: &str = "\
By hand, a reservation goes through the concert's Redis waiting queue (this command admits by
the queue's policy while it waits), holds the seat for --hold, and with --pay pays it with
points and ends the queue turn. Refusals exit with their own codes: 10 seat held or sold,
11 hold expired before payment, 12 not enough points, 13 concert not open, 14 unknown user or
seat, 15 unknown reservation, 16 payment already under way. Every run ends with the audit; a
finding exits with code 3.

--flow events runs the load through the four services instead of one transaction: each step
is an event in the outbox, relayed to a Redis stream and applied by the next service (in this
process, or by `concert-bench worker` processes with --external-workers). Both flows report
throughput, latency and the time from request to confirmed (e2e); the events flow also what
the relay and consumers did.

Examples:
  concert-bench reserve --user 7 --seat 123 --pay
  concert-bench reserve --user 7 --seat 124 --skip-queue           # hold only
  concert-bench reserve --user 7 --reservation 5001                # pay that hold
  concert-bench reserve --load --seats hot --users 1000 -c 64      # every strategy
  concert-bench reserve --load --seats spread --strategy conditional -c 64
  concert-bench reserve --load --seats spread --flow both          # direct vs events
  concert-bench reserve --charge-race 1000 --user 1
  concert-bench reserve --sweep
  concert-bench -o json reserve --audit";

/// One `--strategy`: a strategy's name (parsed by [`Strategy`]'s own derive, so no list of
/// names is kept here) or `all`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StrategyPick {
    All,
    One(Strategy),
}

fn parse_strategy(raw: &str) -> Result<StrategyPick, String> {
    use clap::ValueEnum;
    if raw == "all" {
        return Ok(StrategyPick::All);
    }
    Strategy::from_str(raw, false)
        .map(StrategyPick::One)
        .map_err(|_| {
            let names: Vec<String> = Strategy::ALL.iter().map(Strategy::to_string).collect();
            format!("{raw:?}: expected {} or all", names.join(", "))
        })
}

/// Which seats a load's users want.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(into = "String")]
pub enum SeatChoice {
    /// Everyone wants one seat.
    Hot,
    /// N seats for all the users.
    Few(u32),
    /// Random available seats of the open concerts.
    Spread,
}

impl std::str::FromStr for SeatChoice {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "hot" => Ok(SeatChoice::Hot),
            "spread" => Ok(SeatChoice::Spread),
            _ => match raw.strip_prefix("few:").map(str::parse::<u32>) {
                Some(Ok(n)) if n > 0 => Ok(SeatChoice::Few(n)),
                _ => Err(format!(
                    "{raw:?}: expected hot, few:N (N at least 1) or spread"
                )),
            },
        }
    }
}

impl From<SeatChoice> for String {
    fn from(seats: SeatChoice) -> Self {
        seats.to_string()
    }
}

impl std::fmt::Display for SeatChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeatChoice::Hot => write!(f, "hot"),
            SeatChoice::Few(n) => write!(f, "few:{n}"),
            SeatChoice::Spread => write!(f, "spread"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FlowChoice {
    Direct,
    Events,
    Both,
}

#[derive(Debug, Clone, Args, Serialize)]
pub struct ReserveArgs {
    /// The user reserving (by hand), or the wallet of --charge-race (default 1).
    #[arg(long)]
    pub user: Option<i64>,

    /// The seat to reserve (by hand).
    #[arg(long)]
    pub seat: Option<i64>,

    /// Pay this held reservation (by hand).
    #[arg(long, conflicts_with = "seat")]
    pub reservation: Option<i64>,

    /// Pay right after holding (by hand).
    #[arg(long)]
    pub pay: bool,

    /// Hold without taking a queue token first (by hand).
    #[arg(long)]
    pub skip_queue: bool,

    /// Seat strategy: pessimistic, optimistic, conditional, redis-lock or all (repeatable;
    /// default: conditional by hand, all four under --load).
    #[arg(long = "strategy", value_name = "STRATEGY", value_parser = parse_strategy)]
    pub strategies: Vec<StrategyPick>,

    /// How long a hold lasts before payment.
    #[arg(long, default_value = "5m", value_parser = duration_up_to(DAY, "24h"), allow_hyphen_values = true)]
    pub hold: Duration,

    /// Admission policy of the queue when reserving by hand.
    #[arg(long, default_value = "capacity:100", value_parser = parse_policy)]
    #[serde(serialize_with = "as_typed")]
    pub queue_policy: Policy,

    /// Run many simulated users concurrently, one run per strategy.
    #[arg(long, conflicts_with_all = ["seat", "reservation", "audit", "sweep"])]
    pub load: bool,

    /// Simulated users under --load (seeded users 1..=N).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=MAX_USERS))]
    pub users: u64,

    /// Concurrent users in flight under --load and --charge-race.
    #[arg(short = 'c', long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pub clients: u32,

    /// Which seats the load's users want: hot, few:N or spread.
    #[arg(long, default_value = "hot", value_parser = parse_seats)]
    pub seats: SeatChoice,

    /// Under --load, hold only (do not pay).
    #[arg(long)]
    pub no_pay: bool,

    /// Under --load: one transaction per step (direct), the services and their events, or
    /// both side by side.
    #[arg(long, value_enum, default_value_t = FlowChoice::Direct)]
    pub flow: FlowChoice,

    /// The events flow relies on `concert-bench worker` processes instead of running the
    /// relay and consumers in this process.
    #[arg(long)]
    pub external_workers: bool,

    /// How long the events flow waits for one saga's outcome, and for every event to be
    /// applied after the load.
    #[arg(long, default_value = "60s", value_parser = duration_up_to(HOUR, "1h"), allow_hyphen_values = true)]
    pub settle_timeout: Duration,

    /// N concurrent charges of 1,000 points to one wallet (--user, default 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub charge_race: Option<u64>,

    /// Release lapsed holds (the sweeper), then audit.
    #[arg(long)]
    pub sweep: bool,

    /// Only audit the tables.
    #[arg(long)]
    pub audit: bool,

    /// Seed for which seat each simulated user picks.
    #[arg(long, default_value_t = 42)]
    pub rng_seed: u64,

    #[command(flatten)]
    #[serde(skip)]
    pub gate: BaselineArgs,

    #[command(flatten)]
    #[serde(skip)]
    pub plot: PlotArgs,
}

fn parse_seats(raw: &str) -> Result<SeatChoice, String> {
    raw.parse()
}
