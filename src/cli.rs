//! Raw command-line types (clap). Validation that needs more than one flag lives with the
//! command that uses them (for example `seed::plan`), so these types stay declarations.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::concerts::{CacheLevel, Invalidation, Workload};
use crate::output::OutputFormat;
use crate::queue::{Arrival, Policy, duration_up_to, parse_duration};
use crate::scenarios::Scenario;

pub const DEFAULT_DATABASE_URL: &str = "mysql://root@127.0.0.1:3306/concert_bench";
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";

const EXAMPLES: &str = "\
Examples:
  concert-bench seed                         # the week-8 data set into concert_bench
  concert-bench seed --reset --scale 10      # ten times larger, replacing what is there
  concert-bench -o json seed --reset -q      # one JSON document on stdout, for CI
  DATABASE_URL=mysql://app:secret@db:3306/tickets concert-bench seed";

#[derive(Debug, Parser)]
#[command(
    name = "concert-bench",
    version,
    about = "Admin and benchmarking tool for a concert-ticket reservation backend (MySQL/MariaDB + Redis)",
    after_help = EXAMPLES
)]
pub struct Cli {
    #[command(flatten)]
    pub connect: ConnectOpts,

    /// Output format: tables for people, JSON or CSV for machines.
    #[arg(short = 'o', long, value_enum, default_value_t, global = true, help_heading = GLOBAL)]
    pub output: OutputFormat,

    /// No progress bars or warnings on stderr.
    #[arg(short, long, global = true, help_heading = GLOBAL)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// The heading the global options are listed under in every command's `--help`, apart from
/// that command's own options.
const GLOBAL: &str = "Global options";

/// Where the databases are. Env values are hidden from `--help` because they may hold passwords.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = GLOBAL)]
pub struct ConnectOpts {
    /// MySQL/MariaDB URL; `seed` creates the database it names if missing.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true,
        global = true
    )]
    pub database_url: String,

    /// Redis URL.
    #[arg(
        long,
        env = "REDIS_URL",
        default_value = DEFAULT_REDIS_URL,
        hide_env_values = true,
        global = true
    )]
    pub redis_url: String,

    /// Namespace for every Redis key the tool writes.
    #[arg(long, default_value = "cb:", global = true)]
    pub key_prefix: String,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the schema and generate the week-8 data set (or a scaled one).
    #[command(after_help = SEED_EXAMPLES, allow_negative_numbers = true)]
    Seed(SeedArgs),
    /// Time the six scenario queries with and without indexes (the week-8 analysis).
    #[command(after_help = QUERY_EXAMPLES, allow_negative_numbers = true)]
    Query(QueryArgs),
    /// Show and compare query plans; advise indexes and prove them by measurement.
    #[command(after_help = EXPLAIN_EXAMPLES, allow_negative_numbers = true)]
    Explain(ExplainArgs),
    /// Database vs Redis cache (response level vs repository level): throughput, hits, staleness.
    #[command(after_help = CACHE_BENCH_EXAMPLES, allow_negative_numbers = true)]
    CacheBench(CacheBenchArgs),
    /// Run reservations: one by hand, or thousands concurrently, then audit the result.
    #[command(after_help = RESERVE_EXAMPLES, allow_negative_numbers = true)]
    Reserve(ReserveArgs),
    /// Simulate the Redis waiting queue (and the database queue it replaced).
    #[command(after_help = QUEUE_SIM_EXAMPLES, allow_negative_numbers = true)]
    QueueSim(QueueSimArgs),
    /// Run the event relay and service consumers (the events flow's back end).
    #[command(after_help = WORKER_EXAMPLES)]
    Worker(WorkerArgs),
}

const WORKER_EXAMPLES: &str =
    "Publishes outbox rows to the Redis stream (the relay) and applies events for the chosen
services, until Ctrl-C or --for. Start as many as you like, on as many machines: each service
is one consumer group, so its events are shared out, and a worker that dies mid-event has its
deliveries taken over after --claim-after. An event that fails --max-deliveries times is
parked (processed_event.outcome = PARKED, and the <prefix>events:parked stream): the audit
reports it until `--replay-parked` drives it again. A database that is down does not count
against --max-deliveries: events wait for it.

Examples:
  concert-bench worker                                   # relay + all four services
  concert-bench worker --service payment --service point --no-relay
  concert-bench worker --for 60s -o json                 # stop after a minute, print counts
  concert-bench worker --replay-parked --for 30s         # re-drive parked events, then stop";

#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// A service to consume for (repeatable; default: all four).
    #[arg(long = "service", value_enum)]
    pub services: Vec<crate::services::Service>,

    /// Do not run the outbox relay in this worker.
    #[arg(long)]
    pub no_relay: bool,

    /// First drive every parked event again (after fixing what made it fail); they are then
    /// applied by this worker's consumers, or parked again if the cause remains.
    #[arg(long)]
    pub replay_parked: bool,

    /// Stop after this long and print what was done (default: until Ctrl-C).
    #[arg(long = "for", value_parser = parse_duration, allow_hyphen_values = true)]
    pub run_for: Option<Duration>,

    /// A delivery left unacknowledged this long is taken over by another consumer.
    #[arg(long, default_value = "5s", value_parser = duration_up_to(HOUR, "1h"), allow_hyphen_values = true)]
    pub claim_after: Duration,

    /// Deliveries of one event before it is parked.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub max_deliveries: u64,

    /// Events published this long ago that a service has not applied are published again
    /// (a Redis that restarted without persistence lost them).
    #[arg(long, default_value = "30s", value_parser = duration_up_to(DAY, "24h"), allow_hyphen_values = true)]
    pub republish_after: Duration,
}

const CACHE_BENCH_EXAMPLES: &str = "\
Runs every chosen workload x strategy x invalidation cell against the seeded database and Redis
through the Concert service: `response` caches the serialized answer (an interceptor),
`repository` caches the entities (decoded and re-serialized on a hit). `ttl` lets values live
until they expire; `on-write` moves a version on after each write, so no read that starts
after a write returns can see the old value. Stale reads are detected by a version stamp in
each answer. Then a cold key is hit by --stampede-clients at once, with and without single
flight. Seats the mixed workload held are released after each cell.

Examples:
  concert-bench cache-bench
  concert-bench cache-bench --workload concert_list -c 50 --anchor
  concert-bench cache-bench --workload mixed --write-ratio 0.1 --duration 5s
  concert-bench cache-bench --workload concert_detail --rate 2000      # open loop
  concert-bench -o json cache-bench | jq '.results[] | {workload, strategy, throughput_rps}'";

#[derive(Debug, Clone, Args)]
pub struct CacheBenchArgs {
    /// Workload (repeatable; default: all three).
    #[arg(long = "workload", value_enum)]
    pub workloads: Vec<Workload>,

    /// Cache strategy (repeatable; default: none, response and repository).
    #[arg(long = "strategy", value_enum)]
    pub strategies: Vec<CacheLevel>,

    /// Invalidation (repeatable; default: ttl and on-write).
    #[arg(long = "invalidation", value_enum)]
    pub invalidations: Vec<Invalidation>,

    /// Concurrent clients.
    #[arg(short = 'c', long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub clients: u32,

    /// How long each cell runs.
    #[arg(long, default_value = "3s", value_parser = duration_up_to(DAY, "24h"), allow_hyphen_values = true)]
    pub duration: Duration,

    /// Requests per cell instead of a duration.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=MAX_REQUESTS))]
    pub requests: Option<u64>,

    /// Open loop: start requests at this rate (per second) whatever the latency.
    #[arg(long, value_parser = parse_rate)]
    pub rate: Option<f64>,

    /// Unmeasured requests per cell first (fills the cache and the pools).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=MAX_REQUESTS))]
    pub warmup: u64,

    /// Fraction of the mixed workload's operations that write (hold or release a seat).
    #[arg(long, default_value_t = 0.05, value_parser = parse_fraction)]
    pub write_ratio: f64,

    /// How long a cached value lives.
    #[arg(long, default_value = "60s", value_parser = duration_up_to(30 * DAY, "720h"), allow_hyphen_values = true)]
    pub ttl: Duration,

    /// Single flight (a short Redis lock) on misses during the load cells too.
    #[arg(long)]
    pub single_flight: bool,

    /// When Redis fails, serve from the database instead of failing the request.
    #[arg(long)]
    pub fail_open: bool,

    /// Clients in the stampede test (0 skips it).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub stampede_clients: u32,

    /// Also run redis-benchmark GET of a value the size of the cached concert list.
    #[arg(long)]
    pub anchor: bool,

    /// Seed for which concert, seat and operation each request picks.
    #[arg(long, default_value_t = 42)]
    pub rng_seed: u64,
}

fn parse_rate(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(r) if (MIN_RATE..=MAX_RATE).contains(&r) => Ok(r),
        _ => Err(format!(
            "{raw:?} must be a number of requests per second from {MIN_RATE} to {MAX_RATE}"
        )),
    }
}

/// Bounds every open-loop rate: slower than one request a minute is not a benchmark, and the
/// schedule of a faster one than a million a second cannot be kept.
const MIN_RATE: f64 = 0.01;
const MAX_RATE: f64 = 1_000_000.0;
/// Requests (or warm-up requests) per cell at most.
const MAX_REQUESTS: u64 = 1_000_000_000;
const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);
/// Simulated users at most (`reserve --load`, `queue-sim`): the seed's and the simulator's
/// memory budget.
pub const MAX_USERS: u64 = 10_000_000;

const RESERVE_EXAMPLES: &str = "\
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StrategyChoice {
    Pessimistic,
    Optimistic,
    Conditional,
    RedisLock,
    All,
}

/// Which seats a load's users want.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

impl std::fmt::Display for SeatChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SeatChoice::Hot => write!(f, "hot"),
            SeatChoice::Few(n) => write!(f, "few:{n}"),
            SeatChoice::Spread => write!(f, "spread"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FlowChoice {
    Direct,
    Events,
    Both,
}

#[derive(Debug, Clone, Args)]
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

    /// Seat strategy (repeatable; default: conditional by hand, all four under --load).
    #[arg(long = "strategy", value_enum)]
    pub strategies: Vec<StrategyChoice>,

    /// How long a hold lasts before payment.
    #[arg(long, default_value = "5m", value_parser = duration_up_to(DAY, "24h"), allow_hyphen_values = true)]
    pub hold: Duration,

    /// Admission policy of the queue when reserving by hand.
    #[arg(long, default_value = "capacity:100", value_parser = parse_policy)]
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
}

fn parse_seats(raw: &str) -> Result<SeatChoice, String> {
    raw.parse()
}

const QUEUE_SIM_EXAMPLES: &str = "\
Users arrive, enter the queue, poll their position with back-off, are admitted by a scheduler,
hold their turn for a random service time, then pay or let the token expire. Time is
compressed by --speed (a 5-minute TTL takes 3 s at the default 100x); the Redis data model is
the production one. Every run checks FIFO order, the cap, the rate and that no admitted user
is left waiting, and exits with code 3 if any check fails.

Before the simulation, a probe measures enter and position throughput at saturation with -c
clients (--probe-size users, --probe-lookups lookups); --anchor runs redis-benchmark's ZADD and
ZRANK with the same clients beside it.

Examples:
  concert-bench queue-sim
  concert-bench queue-sim --backend both --users 2000
  concert-bench queue-sim --policy rate:200/1s --arrival rate:500/1s --users 20000
  concert-bench queue-sim --users 1000000 --policy rate:20000/1s --speed 20 --probe-size 0
  concert-bench -o json queue-sim --anchor | jq '.results[0].wait_ms'";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QueueBackendArg {
    Redis,
    Database,
    Both,
}

#[derive(Debug, Clone, Args)]
pub struct QueueSimArgs {
    /// Which queue store to simulate: the Redis queue, the database queue, or both side by side.
    #[arg(long, value_enum, default_value = "redis")]
    pub backend: QueueBackendArg,

    /// Simulated users.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=MAX_USERS))]
    pub users: u64,

    /// Admission policy: capacity:N (at most N active) or rate:N/PERIOD (N every PERIOD).
    #[arg(long, default_value = "capacity:1000", value_parser = parse_policy)]
    pub policy: Policy,

    /// How long an admitted user stays active without paying (queue time).
    #[arg(long, default_value = "5m", value_parser = duration_up_to(DAY, "24h"), allow_hyphen_values = true)]
    pub ttl: Duration,

    /// When users arrive: all, rate:N/PERIOD (evenly spaced) or burst:N/PERIOD (N at once).
    #[arg(long, default_value = "all", value_parser = parse_arrival)]
    pub arrival: Arrival,

    /// Time an admitted user holds their turn, uniform in LOW..HIGH (queue time).
    #[arg(long, default_value = "10s..60s", value_parser = parse_service)]
    pub service: (Duration, Duration),

    /// Fraction of admitted users who never pay and let their token expire.
    #[arg(long, default_value_t = 0.1, value_parser = parse_fraction)]
    pub abandon: f64,

    /// Queue seconds per wall-clock second.
    #[arg(long, default_value_t = 100.0, value_parser = parse_speed)]
    pub speed: f64,

    /// Scheduler interval (queue time).
    #[arg(long, default_value = "1s", value_parser = duration_up_to(HOUR, "1h"), allow_hyphen_values = true)]
    pub tick: Duration,

    /// Concurrent operations in flight (simulated clients).
    #[arg(short = 'c', long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub clients: u32,

    /// Queue id to simulate on; 0 is no real concert, so a live queue is never touched.
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=MAX_ID))]
    pub concert: u64,

    /// Users the throughput probe enters (0 skips the probe; default: --users, at most 100,000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub probe_size: Option<u64>,

    /// Position lookups in the throughput probe.
    #[arg(long, default_value_t = 50_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub probe_lookups: u64,

    /// Also run redis-benchmark (ZADD, ZRANK) with the same clients, as the anchor.
    #[arg(long)]
    pub anchor: bool,

    /// Seed for service times and who abandons.
    #[arg(long, default_value_t = 42)]
    pub rng_seed: u64,
}

fn parse_policy(raw: &str) -> Result<Policy, String> {
    raw.parse()
}

fn parse_arrival(raw: &str) -> Result<Arrival, String> {
    raw.parse()
}

fn parse_service(raw: &str) -> Result<(Duration, Duration), String> {
    let (low, high) = raw
        .split_once("..")
        .ok_or_else(|| format!("{raw:?}: expected LOW..HIGH, e.g. 10s..60s"))?;
    let day = duration_up_to(DAY, "24h");
    let (low, high) = (day(low)?, day(high)?);
    if low > high {
        return Err(format!("{raw:?}: LOW must not exceed HIGH"));
    }
    Ok((low, high))
}

fn parse_fraction(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(f) if (0.0..=1.0).contains(&f) => Ok(f),
        _ => Err(format!("{raw:?} must be a fraction between 0 and 1")),
    }
}

fn parse_speed(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(f) if f.is_finite() && (0.001..=1e6).contains(&f) => Ok(f),
        _ => Err(format!(
            "{raw:?} must be a number between 0.001 and 1000000"
        )),
    }
}

const EXPLAIN_EXAMPLES: &str = "\
Plans use the same columns on MySQL 8 and MariaDB. Findings point at full scans of large tables
inside joins, indexes the optimizer declined, and plans that changed between variants. The
advisor proposes an index for each large scan under `none`, times it against `none`, and
prints DDL only when the 95% interval's low end clears --min-speedup.

Examples:
  concert-bench explain
  concert-bench explain --analyze --scenario concert_detail
  concert-bench explain --raw -o json | jq '.plans[0].raw'";

#[derive(Debug, Clone, Args)]
pub struct ExplainArgs {
    /// Scenario to explain (repeatable; default: all six).
    #[arg(long = "scenario", value_enum)]
    pub scenarios: Vec<Scenario>,

    /// Index variant to compare with `none` (repeatable; default: week8).
    #[arg(long = "variant", value_name = "VARIANT")]
    pub variants: Vec<String>,

    /// Run the queries (MariaDB ANALYZE) to show rows actually read.
    #[arg(long)]
    pub analyze: bool,

    /// Include the server's raw JSON plan (in -o json output).
    #[arg(long)]
    pub raw: bool,

    /// Skip the advisor.
    #[arg(long)]
    pub no_advice: bool,

    /// The advisor keeps an index only if its 95% CI low end is at least this speedup
    /// (1 to 1000).
    #[arg(long, default_value_t = 2.0, value_parser = parse_min_speedup)]
    pub min_speedup: f64,

    /// Create the indexes the variants and the advisor name that do not exist (online, named
    /// cb_tmp_*), so the advisor can prove them too; dropped again after the run, after an
    /// error and on Ctrl-C.
    #[arg(long)]
    pub create_indexes: bool,

    /// How long a --create-indexes DDL statement waits for the table's metadata lock before it
    /// gives up (the server's default is a year).
    #[arg(long, default_value = "10s", value_parser = duration_up_to(HOUR, "1h"), allow_hyphen_values = true)]
    pub lock_wait_timeout: Duration,

    /// Measured runs per scenario when the advisor proves an index.
    #[arg(long, default_value_t = 15, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub iterations: u32,

    /// Warm-up runs before the advisor measures.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub warmup: u32,
}

const QUERY_EXAMPLES: &str = "\
Variants are per-query index hints, so the schema is never changed:
  none   no secondary index (always run: the baseline, the write-up's AS-IS)
  week8  performance(concert_id) and seat(performance_id) (the default comparison)
  advised  the explain advisor's proposals (that an existing index can stand for)
  NAME=table(col,..)+table(col,..)  the existing indexes whose leading columns these are

Examples:
  concert-bench query
  concert-bench query --scenario concert_detail --iterations 100
  concert-bench query --variant week8 --variant seat-only=seat(performance_id)
  concert-bench query --scenario concert_detail --scales 1,10   # how the gap grows with the data
  concert-bench -o json query > week8.json";

#[derive(Debug, Clone, Args)]
pub struct QueryArgs {
    /// Scenario to run (repeatable; default: all six).
    #[arg(long = "scenario", value_enum)]
    pub scenarios: Vec<Scenario>,

    /// Index variant to compare with `none` (repeatable; default: week8).
    #[arg(long = "variant", value_name = "VARIANT")]
    pub variants: Vec<String>,

    /// Measured runs per scenario and variant.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub iterations: u32,

    /// Unmeasured runs first, to warm caches and the statement cache.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub warmup: u32,

    /// Runs under ANALYZE for the server's own time (0 to skip).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
    pub server_runs: u32,

    /// Seed and measure at each of these scales (comma-separated), each in a scratch database
    /// beside --database-url that is dropped afterwards; the database itself is not touched.
    #[arg(long, value_delimiter = ',', value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub scales: Vec<u64>,

    /// Create the indexes a --variant names that do not exist (online, named cb_tmp_*, on
    /// concert-bench's own tables only), and drop them again after the run, after an error
    /// and on Ctrl-C.
    #[arg(long)]
    pub create_indexes: bool,

    /// How long a --create-indexes DDL statement waits for the table's metadata lock before it
    /// gives up (the server's default is a year).
    #[arg(long, default_value = "10s", value_parser = duration_up_to(HOUR, "1h"), allow_hyphen_values = true)]
    pub lock_wait_timeout: Duration,
}

fn parse_min_speedup(raw: &str) -> Result<f64, String> {
    match raw.parse::<f64>() {
        Ok(x) if (1.0..=1000.0).contains(&x) => Ok(x),
        _ => Err(format!(
            "{raw:?} must be a speedup from 1 to 1000 (e.g. 2 for twice as fast)"
        )),
    }
}

/// The largest id a flag takes: ids are signed 64-bit in the database.
const MAX_ID: u64 = i64::MAX.unsigned_abs();

const SEED_EXAMPLES: &str = "\
Defaults are the write-up's week-8 data set: 1,000 users, 100 concerts x 20 performances
x 100 seats (200,000 seats), 3 concerts open with 60 seats reserved and paid in each.
--scale multiplies users, concerts and open concerts.

Examples:
  concert-bench seed
  concert-bench seed --reset --scale 10 --rng-seed 7
  concert-bench seed --reset --concerts 5 --users 50      # a tiny set for experiments
  concert-bench seed --tsv-dir /tmp/week8                 # files for LOAD DATA (the anchor)";

#[derive(Debug, Clone, Args)]
pub struct SeedArgs {
    /// Users, each with a point wallet (multiplied by --scale).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(0..=MAX_SEED_COUNT))]
    pub users: u64,

    /// Concerts (multiplied by --scale).
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=MAX_SEED_COUNT))]
    pub concerts: u64,

    /// Performances (dates) per concert.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub performances_per_concert: u64,

    /// Seats per performance.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(0..=100_000))]
    pub seats_per_performance: u64,

    /// Concerts open for booking now; the rest open later (multiplied by --scale).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=MAX_SEED_COUNT))]
    pub open_concerts: u64,

    /// Seats already reserved and paid in each open concert.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub reserved_per_open_concert: u64,

    /// Multiplies users, concerts and open concerts.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub scale: u64,

    /// Seed of the generator: the same seed gives identical tables.
    #[arg(long, default_value_t = 42)]
    pub rng_seed: u64,

    /// Drop and recreate concert-bench's own tables (never any other table) before loading.
    #[arg(long)]
    pub reset: bool,

    /// Parallel insert connections.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub connections: u32,

    /// Rows per INSERT statement (capped by the 65,535-placeholder limit).
    #[arg(long, default_value_t = 5_000, value_parser = clap::value_parser!(u64).range(1..=65_535))]
    pub batch_rows: u64,

    /// Write the data set as LOAD DATA files (one .tsv per table plus load.sql) into this
    /// directory instead of loading it; the database is not touched.
    #[arg(long, value_name = "DIR")]
    pub tsv_dir: Option<PathBuf>,
}

impl SeedArgs {
    /// `seed`'s arguments as its command line gives them (`extra` on top of the defaults), from
    /// clap itself so the defaults live in one place.
    pub fn parse_with(extra: &[&str]) -> Self {
        #[derive(Parser)]
        struct Seed {
            #[command(flatten)]
            args: SeedArgs,
        }
        Seed::parse_from(std::iter::once("seed").chain(extra.iter().copied())).args
    }
}

/// Users, concerts or open concerts a seed takes before --scale (ids stay far from overflow).
const MAX_SEED_COUNT: u64 = 1_000_000_000;
