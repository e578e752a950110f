//! The data set's shape, checked once: every count, every id range, and the few facts that
//! several tables must agree on (which seats are sold, to whom, and what each user spent).
//! Everything large (seats above all) is generated later, chunk by chunk, from these facts.

use std::collections::{HashMap, HashSet};

use anyhow::{Result, bail};
use fake::RngExt;
use fake::rand::SeedableRng;
use fake::rand::rngs::ChaCha8Rng;
use fake::rand::seq::index::sample;
use serde::Serialize;

use super::SeedArgs;

const MAX_BOOKINGS: u64 = 10_000_000;

/// A seat sold in the seeded data: one reservation, one payment, one ledger USE row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Booking {
    pub seat_id: i64,
    pub user_id: i64,
    pub price: i64,
    /// Minutes before the data set's epoch at which the seat was held.
    pub minutes_before_epoch: i64,
}

/// The counts the data set is generated from, after `--scale`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct Sizes {
    pub users: u64,
    pub concerts: u64,
    pub performances_per_concert: u64,
    pub seats_per_performance: u64,
    pub open_concerts: u64,
    pub reserved_per_open_concert: u64,
}

#[derive(Debug, Clone)]
pub struct SeedPlan {
    pub sizes: Sizes,
    pub rng_seed: u64,
    /// Concert ids open for booking, ascending.
    pub open_concerts: Vec<i64>,
    /// Sold seats in seat-id order; reservation, payment and USE ids follow this order.
    pub bookings: Vec<Booking>,
    sold_seats: HashSet<i64>,
    /// Points each booking user spent; users without bookings spent nothing.
    spent: HashMap<i64, i64>,
}

impl SeedPlan {
    pub fn new(args: &SeedArgs) -> Result<Self> {
        let sizes = Sizes::from_args(args)?;
        let mut rng = ChaCha8Rng::seed_from_u64(args.rng_seed);
        let mut open_concerts: Vec<i64> = sample(
            &mut rng,
            sizes.concerts as usize,
            sizes.open_concerts as usize,
        )
        .into_iter()
        .map(|i| i as i64 + 1)
        .collect();
        open_concerts.sort_unstable();

        let seats_per_concert = sizes.performances_per_concert * sizes.seats_per_performance;
        let mut bookings =
            Vec::with_capacity((sizes.open_concerts * sizes.reserved_per_open_concert) as usize);
        let mut spent = HashMap::new();
        for &concert in &open_concerts {
            let first_seat = (concert - 1) * seats_per_concert as i64 + 1;
            let mut offsets: Vec<usize> = sample(
                &mut rng,
                seats_per_concert as usize,
                sizes.reserved_per_open_concert as usize,
            )
            .into_vec();
            offsets.sort_unstable();
            for offset in offsets {
                let seat_id = first_seat + offset as i64;
                let user_id = rng.random_range(1..=sizes.users as i64);
                let price = sizes.seat_price(seat_id);
                *spent.entry(user_id).or_insert(0) += price;
                bookings.push(Booking {
                    seat_id,
                    user_id,
                    price,
                    minutes_before_epoch: rng.random_range(10..=60 * 24 * 14),
                });
            }
        }
        let sold_seats = bookings.iter().map(|b| b.seat_id).collect();
        Ok(Self {
            sizes,
            rng_seed: args.rng_seed,
            open_concerts,
            bookings,
            sold_seats,
            spent,
        })
    }

    pub fn is_sold(&self, seat_id: i64) -> bool {
        self.sold_seats.contains(&seat_id)
    }

    pub fn is_open(&self, concert_id: i64) -> bool {
        self.open_concerts.binary_search(&concert_id).is_ok()
    }

    pub fn spent_by(&self, user_id: i64) -> i64 {
        self.spent.get(&user_id).copied().unwrap_or(0)
    }
}

impl Sizes {
    fn from_args(args: &SeedArgs) -> Result<Self> {
        let scaled = |name: &str, n: u64| -> Result<u64> {
            n.checked_mul(args.scale)
                .filter(|v| *v <= i64::MAX as u64)
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "--{name} {n} x --scale {} is too large for 64-bit ids",
                        args.scale
                    )
                })
        };
        let sizes = Sizes {
            users: scaled("users", args.users)?,
            concerts: scaled("concerts", args.concerts)?,
            performances_per_concert: args.performances_per_concert,
            seats_per_performance: args.seats_per_performance,
            open_concerts: scaled("open-concerts", args.open_concerts)?,
            reserved_per_open_concert: args.reserved_per_open_concert,
        };
        sizes.validate()?;
        Ok(sizes)
    }

    fn validate(&self) -> Result<()> {
        let Some(seats) = self
            .performances()
            .and_then(|p| p.checked_mul(self.seats_per_performance))
        else {
            bail!(
                "{} concerts x {} performances x {} seats is too large for 64-bit ids",
                self.concerts,
                self.performances_per_concert,
                self.seats_per_performance
            );
        };
        if seats > i64::MAX as u64 {
            bail!("{seats} seats is too large for 64-bit ids");
        }
        if self.open_concerts > self.concerts {
            bail!(
                "--open-concerts ({}) cannot exceed --concerts ({})",
                self.open_concerts,
                self.concerts
            );
        }
        let seats_per_concert = self.performances_per_concert * self.seats_per_performance;
        if self.reserved_per_open_concert > seats_per_concert {
            bail!(
                "--reserved-per-open-concert ({}) exceeds the {seats_per_concert} seats of a concert",
                self.reserved_per_open_concert
            );
        }
        // Bookings are the one thing held in memory whole; everything else is streamed.
        let bookings = self
            .open_concerts
            .saturating_mul(self.reserved_per_open_concert);
        if bookings > MAX_BOOKINGS {
            bail!(
                "{bookings} reserved seats is more than a seed holds in memory (at most {MAX_BOOKINGS}): lower --scale or --reserved-per-open-concert"
            );
        }
        if self.users == 0 && self.open_concerts * self.reserved_per_open_concert > 0 {
            bail!("reserved seats need someone to pay for them: --users must be at least 1");
        }
        Ok(())
    }

    pub fn performances(&self) -> Option<u64> {
        self.concerts.checked_mul(self.performances_per_concert)
    }

    pub fn seats(&self) -> u64 {
        self.concerts * self.performances_per_concert * self.seats_per_performance
    }

    /// Seat grade by position in the hall: the front 10% VIP, then 20% R, 30% S, the rest A.
    pub fn seat_grade(&self, seat_id: i64) -> (&'static str, i64) {
        let seat_no = self.seat_no(seat_id) as u64;
        let per = self.seats_per_performance;
        match seat_no * 10 {
            n if n <= per => ("VIP", 150_000),
            n if n <= per * 3 => ("R", 120_000),
            n if n <= per * 6 => ("S", 90_000),
            _ => ("A", 60_000),
        }
    }

    pub fn seat_price(&self, seat_id: i64) -> i64 {
        self.seat_grade(seat_id).1
    }

    /// 1-based seat number within its performance.
    pub fn seat_no(&self, seat_id: i64) -> i64 {
        (seat_id - 1) % self.seats_per_performance as i64 + 1
    }

    pub fn performance_of_seat(&self, seat_id: i64) -> i64 {
        (seat_id - 1) / self.seats_per_performance as i64 + 1
    }

    pub fn concert_of_performance(&self, performance_id: i64) -> i64 {
        (performance_id - 1) / self.performances_per_concert as i64 + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::seed::tests::args;

    #[test]
    fn week8_defaults() {
        let plan = SeedPlan::new(&args(&[])).unwrap();
        assert_eq!(plan.sizes.seats(), 200_000);
        assert_eq!(plan.open_concerts.len(), 3);
        assert_eq!(plan.bookings.len(), 180);
        let spent: i64 = (1..=1000).map(|u| plan.spent_by(u)).sum();
        assert_eq!(spent, plan.bookings.iter().map(|b| b.price).sum::<i64>());
        for b in &plan.bookings {
            let concert = plan
                .sizes
                .concert_of_performance(plan.sizes.performance_of_seat(b.seat_id));
            assert!(plan.is_open(concert) && plan.is_sold(b.seat_id));
        }
    }

    #[test]
    fn scale_multiplies_users_concerts_and_open_concerts() {
        let plan = SeedPlan::new(&args(&["--scale", "10"])).unwrap();
        assert_eq!(
            (
                plan.sizes.users,
                plan.sizes.concerts,
                plan.sizes.open_concerts
            ),
            (10_000, 1_000, 30)
        );
        assert_eq!(plan.bookings.len(), 1_800);
    }

    #[test]
    fn same_seed_same_plan_other_seed_other_plan() {
        let a = SeedPlan::new(&args(&["--rng-seed", "7"])).unwrap();
        let b = SeedPlan::new(&args(&["--rng-seed", "7"])).unwrap();
        let c = SeedPlan::new(&args(&["--rng-seed", "8"])).unwrap();
        assert_eq!(a.bookings, b.bookings);
        assert_ne!(a.bookings, c.bookings);
    }

    #[test]
    fn overflowing_and_inconsistent_sizes_are_refused() {
        let err = |extra: &[&str]| SeedPlan::new(&args(extra)).unwrap_err().to_string();
        // Each flag is bounded by its parser; their product can still overflow.
        let big = [
            "--concerts",
            "1000000000",
            "--performances-per-concert",
            "100000",
        ];
        assert!(
            err(&[&big[..], &["--scale", "1000"]].concat()).contains("too large for 64-bit ids")
        );
        assert!(
            err(&[&big[..], &["--seats-per-performance", "100000"]].concat()).contains("too large")
        );
        assert!(err(&["--open-concerts", "101"]).contains("cannot exceed --concerts"));
        assert!(err(&["--reserved-per-open-concert", "2001"]).contains("exceeds the 2000 seats"));
        assert!(err(&["--users", "0"]).contains("--users must be at least 1"));
    }

    #[test]
    fn grades_follow_the_seat_number() {
        let plan = SeedPlan::new(&args(&[])).unwrap();
        let sizes = &plan.sizes;
        assert_eq!(sizes.seat_grade(1), ("VIP", 150_000));
        assert_eq!(sizes.seat_grade(10), ("VIP", 150_000));
        assert_eq!(sizes.seat_grade(11), ("R", 120_000));
        assert_eq!(sizes.seat_grade(100), ("A", 60_000));
        assert_eq!(sizes.seat_no(101), 1);
        assert_eq!(sizes.performance_of_seat(101), 2);
        assert_eq!(sizes.concert_of_performance(21), 2);
    }
}
