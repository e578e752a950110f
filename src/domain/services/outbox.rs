//! The transactional outbox: events are rows written in the transaction of the state change
//! they describe, so a change is never committed without its events, nor an event sent for a
//! change that rolled back. The [`relay`](super::relay) publishes them later.

use sqlx::{MySql, QueryBuilder, Transaction};

use super::{Event, Service};

/// Adds `events`, emitted by `from`, to the outbox inside `tx`.
pub async fn append(
    tx: &mut Transaction<'_, MySql>,
    from: Service,
    events: &[Event],
) -> Result<(), sqlx::Error> {
    if events.is_empty() {
        return Ok(());
    }
    let mut insert = QueryBuilder::<MySql>::new(
        "INSERT INTO outbox (aggregate, event_type, payload, created_at) ",
    );
    insert.push_values(events, |mut row, event| {
        row.push_bind(from.name())
            .push_bind(event.kind())
            .push_bind(serde_json::to_string(event).expect("events serialize to JSON"))
            .push("NOW(3)");
    });
    insert.build().execute(&mut **tx).await?;
    Ok(())
}
