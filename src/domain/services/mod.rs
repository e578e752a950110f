//! The backend split into Concert, Reservation, Payment and Point services that cooperate by
//! events, built so that the split would survive separate processes and databases.
//!
//! - Each service is the only writer of its own tables ([`Service::tables`]); it reads another
//!   service's data only where the write-up's flow asks for it (seat info before a
//!   reservation, reservation info before a payment).
//! - A state change and the events it causes commit in one transaction ([`outbox`]); the
//!   [`relay`] publishes each outbox row to the Redis stream of every service that consumes it
//!   (client-facing outcomes to an outcomes stream), and each service reads its stream through
//!   its consumer group ([`consumer`]), recording each applied event in `processed_event`
//!   in the same transaction as its effect, so a redelivery changes nothing.
//! - The two sagas of the write-up ([`reservation`] and [`payment`] start them; the handlers
//!   in each service module move them on) compensate instead of rolling back: a seat that
//!   cannot be held cancels the reservation, a hold cancelled before its seat came back
//!   releases the seat, a payment without enough points fails with nothing deducted, and
//!   points deducted for a hold that lapsed meanwhile are refunded.
//! - [`worker`] runs the relay and any set of consumers, in this process or in several.

pub mod concert;
pub mod consumer;
pub mod outbox;
pub mod payment;
pub mod point;
pub mod relay;
pub mod reservation;
pub mod worker;

use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sqlx::{MySql, Transaction};

/// Every event of both sagas. The serialized form (tagged by `type`) is the outbox payload and
/// the stream entry, so a worker of another build can read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Event {
    /// Reservation asks Concert for the seat.
    ReservationRequested {
        reservation_id: i64,
        user_id: i64,
        seat_id: i64,
        hold_ms: i64,
    },
    SeatHeld {
        reservation_id: i64,
        user_id: i64,
        seat_id: i64,
        price: i64,
        /// Milliseconds since the Unix epoch (UTC), the seat's own expiry.
        held_until_ms: i64,
    },
    SeatHoldFailed {
        reservation_id: i64,
        seat_id: i64,
    },
    /// Compensation: the reservation was cancelled before its seat was held.
    SeatReleaseRequested {
        reservation_id: i64,
        user_id: i64,
        seat_id: i64,
    },
    /// The reservation saga's outcomes, for whoever waits on them.
    ReservationHeld {
        reservation_id: i64,
    },
    ReservationRejected {
        reservation_id: i64,
        reason: String,
    },
    /// Payment asks Point to deduct.
    PaymentRequested {
        payment_id: i64,
        reservation_id: i64,
        seat_id: i64,
        user_id: i64,
        amount: i64,
    },
    PointsDeducted {
        payment_id: i64,
        reservation_id: i64,
        seat_id: i64,
        user_id: i64,
        amount: i64,
    },
    PointsRejected {
        payment_id: i64,
        reservation_id: i64,
        balance: i64,
        amount: i64,
    },
    ReservationConfirmed {
        payment_id: i64,
        reservation_id: i64,
        seat_id: i64,
    },
    /// Compensation: the hold lapsed after the points were deducted; Point refunds them.
    ConfirmationRefused {
        payment_id: i64,
        reservation_id: i64,
        user_id: i64,
        amount: i64,
    },
    PointsRefunded {
        payment_id: i64,
        reservation_id: i64,
    },
    /// The payment saga's outcomes.
    PaymentCompleted {
        payment_id: i64,
        reservation_id: i64,
    },
    PaymentFailed {
        payment_id: i64,
        reservation_id: i64,
        reason: String,
    },
}

impl Event {
    /// The `type` tag, as stored in `outbox.event_type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::ReservationRequested { .. } => "ReservationRequested",
            Event::SeatHeld { .. } => "SeatHeld",
            Event::SeatHoldFailed { .. } => "SeatHoldFailed",
            Event::SeatReleaseRequested { .. } => "SeatReleaseRequested",
            Event::ReservationHeld { .. } => "ReservationHeld",
            Event::ReservationRejected { .. } => "ReservationRejected",
            Event::PaymentRequested { .. } => "PaymentRequested",
            Event::PointsDeducted { .. } => "PointsDeducted",
            Event::PointsRejected { .. } => "PointsRejected",
            Event::ReservationConfirmed { .. } => "ReservationConfirmed",
            Event::ConfirmationRefused { .. } => "ConfirmationRefused",
            Event::PointsRefunded { .. } => "PointsRefunded",
            Event::PaymentCompleted { .. } => "PaymentCompleted",
            Event::PaymentFailed { .. } => "PaymentFailed",
        }
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Concert,
    Reservation,
    Payment,
    Point,
}

impl Service {
    pub const ALL: [Service; 4] = [
        Service::Concert,
        Service::Reservation,
        Service::Payment,
        Service::Point,
    ];

    /// The consumer group's name, and the `consumer` in `processed_event`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Concert => "concert",
            Service::Reservation => "reservation",
            Service::Payment => "payment",
            Service::Point => "point",
        }
    }

    /// The tables only this service writes (besides the shared outbox and processed_event).
    pub fn tables(self) -> &'static [&'static str] {
        match self {
            Service::Concert => &["concert", "performance", "seat"],
            Service::Reservation => &["reservation"],
            Service::Payment => &["payment"],
            Service::Point => &["point_wallet", "point_ledger"],
        }
    }

    /// The event types this service consumes; everything else its group acknowledges unread.
    pub fn consumes(self) -> &'static [&'static str] {
        match self {
            Service::Concert => &[
                "ReservationRequested",
                "SeatReleaseRequested",
                "ReservationConfirmed",
            ],
            Service::Reservation => &["SeatHeld", "SeatHoldFailed", "PointsDeducted"],
            Service::Payment => &["PointsRejected", "ReservationConfirmed", "PointsRefunded"],
            Service::Point => &["PaymentRequested", "ConfirmationRefused"],
        }
    }

    /// Applies one event inside the consumer's transaction and returns the events it causes.
    pub async fn handle(
        self,
        tx: &mut Transaction<'_, MySql>,
        event: &Event,
    ) -> Result<Vec<Event>, sqlx::Error> {
        match self {
            Service::Concert => concert::handle(tx, event).await,
            Service::Reservation => reservation::handle(tx, event).await,
            Service::Payment => payment::handle(tx, event).await,
            Service::Point => point::handle(tx, event).await,
        }
    }
}

/// The topic the client-facing outcome events go to (no service consumes them).
pub const OUTCOMES: &str = "outcomes";

/// Where an event is published: the stream of each service that consumes it, or the outcomes
/// stream. A stream per consumer means each consumer group reads only its own events.
pub fn topics(kind: &str) -> Vec<&'static str> {
    let consumers: Vec<&'static str> = Service::ALL
        .iter()
        .filter(|s| s.consumes().contains(&kind))
        .map(|s| s.name())
        .collect();
    if consumers.is_empty() {
        vec![OUTCOMES]
    } else {
        consumers
    }
}

/// SQL counting outbox rows some consuming service has not applied: with `processed_event`'s
/// primary key, zero means every event took effect exactly once. A parked event was not
/// applied either, but no waiting will apply it: `Parked::Included` counts it (the audit),
/// `Parked::Excluded` does not (the backlog a worker works through, and the relay's
/// republishing).
pub fn unapplied_events_sql(parked: Parked) -> String {
    let routes: Vec<String> = Service::ALL
        .iter()
        .flat_map(|s| {
            s.consumes()
                .iter()
                .map(move |kind| format!("SELECT '{kind}' AS kind, '{}' AS consumer", s.name()))
        })
        .collect();
    format!(
        "SELECT COUNT(*) FROM outbox o JOIN ({}) r ON r.kind = o.event_type
         LEFT JOIN processed_event p ON p.consumer = r.consumer AND p.event_id = o.id
         WHERE p.event_id IS NULL{}",
        routes.join(" UNION ALL "),
        match parked {
            Parked::Included => " OR p.outcome = 'PARKED'",
            Parked::Excluded => "",
        }
    )
}

/// Whether [`unapplied_events_sql`] counts parked events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parked {
    Included,
    Excluded,
}

/// What the relay and the consumers did, counted as they go (shared by every task of a
/// worker).
#[derive(Debug, Default)]
pub struct EventStats {
    pub published: AtomicU64,
    pub publish_errors: AtomicU64,
    pub republished: AtomicU64,
    pub delivered: AtomicU64,
    /// Deliveries taken over from a consumer that stopped acknowledging (XAUTOCLAIM).
    pub redelivered: AtomicU64,
    /// Deliveries of an event the consumer had already applied (skipped).
    pub duplicates: AtomicU64,
    pub handler_errors: AtomicU64,
    pub parked: AtomicU64,
}

impl EventStats {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> EventCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        EventCounts {
            published: get(&self.published),
            publish_errors: get(&self.publish_errors),
            republished: get(&self.republished),
            delivered: get(&self.delivered),
            redelivered: get(&self.redelivered),
            duplicates: get(&self.duplicates),
            handler_errors: get(&self.handler_errors),
            parked: get(&self.parked),
        }
    }
}

/// What a relay and its consumers did, counted as they did it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct EventCounts {
    pub published: u64,
    pub publish_errors: u64,
    /// Published again because no service had applied them (a Redis that lost its streams).
    pub republished: u64,
    pub delivered: u64,
    pub redelivered: u64,
    /// Deliveries of events already applied, skipped.
    pub duplicates: u64,
    pub handler_errors: u64,
    pub parked: u64,
}

impl EventCounts {
    /// Name and count of each, for a table.
    pub fn rows(&self) -> [(&'static str, u64); 8] {
        [
            ("published", self.published),
            ("publish_errors", self.publish_errors),
            ("republished", self.republished),
            ("delivered", self.delivered),
            ("redelivered", self.redelivered),
            ("duplicates", self.duplicates),
            ("handler_errors", self.handler_errors),
            ("parked", self.parked),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_type_tag_is_the_kind() {
        let event = Event::SeatHoldFailed {
            reservation_id: 1,
            seat_id: 2,
        };
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["type"], event.kind());
        assert_eq!(serde_json::from_value::<Event>(json).unwrap(), event);
    }

    /// The tables a module's SQL writes (UPDATE, INSERT INTO, DELETE FROM), by reading it.
    fn written_tables(source: &str) -> Vec<String> {
        let mut written = Vec::new();
        for verb in [
            "UPDATE ",
            "INSERT INTO ",
            "INSERT IGNORE INTO ",
            "DELETE FROM ",
        ] {
            for rest in source.split(verb).skip(1) {
                let table: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !table.is_empty() && !written.contains(&table) {
                    written.push(table);
                }
            }
        }
        written
    }

    #[test]
    fn each_service_writes_only_its_own_tables() {
        let modules = [
            (Service::Concert, include_str!("concert.rs")),
            (Service::Reservation, include_str!("reservation.rs")),
            (Service::Payment, include_str!("payment.rs")),
            (Service::Point, include_str!("point.rs")),
        ];
        for (service, source) in modules {
            let written = written_tables(source);
            assert!(!written.is_empty(), "{service:?} writes nothing?");
            for table in written {
                assert!(
                    service.tables().contains(&table.as_str()),
                    "{service:?} writes {table}, which is not its table"
                );
            }
        }
    }

    #[test]
    fn every_consumed_kind_is_an_event() {
        let kinds = [
            "ReservationRequested",
            "SeatHeld",
            "SeatHoldFailed",
            "SeatReleaseRequested",
            "ReservationHeld",
            "ReservationRejected",
            "PaymentRequested",
            "PointsDeducted",
            "PointsRejected",
            "ReservationConfirmed",
            "ConfirmationRefused",
            "PointsRefunded",
            "PaymentCompleted",
            "PaymentFailed",
        ];
        for service in Service::ALL {
            for kind in service.consumes() {
                assert!(kinds.contains(kind), "{kind}");
            }
        }
    }
}
