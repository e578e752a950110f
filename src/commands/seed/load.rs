//! Loading the generated rows: workers pull chunks from one list, generate them and send each
//! as one multi-row INSERT with bound values, so generation overlaps the server's work and
//! several connections keep the server busy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Result;
use indicatif::{MultiProgress, ProgressBar};
use sqlx::{MySql, MySqlPool, QueryBuilder};
use tokio::task::JoinSet;

use super::generate::{SeedTable, Value, generate};
use super::plan::SeedPlan;
use crate::render::progress;

/// MySQL's limit on placeholders in one prepared statement.
const MAX_PLACEHOLDERS: u64 = 65_535;

#[derive(Debug, Clone, Copy)]
struct Chunk {
    table: SeedTable,
    first: u64,
    count: u64,
}

/// Rows and busy time of one table. Tables load concurrently, so their seconds overlap.
#[derive(Debug, Clone)]
pub struct TableTiming {
    pub table: SeedTable,
    pub rows: u64,
    pub seconds: f64,
}

#[derive(Debug)]
pub struct LoadOutcome {
    pub tables: Vec<TableTiming>,
    pub seconds: f64,
}

/// The chunks of every table, in load order, each small enough for one statement.
fn chunks(plan: &SeedPlan, batch_rows: u64) -> Vec<Chunk> {
    let mut out = Vec::new();
    for table in SeedTable::ALL {
        let per_statement = batch_rows.min(MAX_PLACEHOLDERS / table.columns().len() as u64);
        let total = table.rows(plan);
        let mut first = 0;
        while first < total {
            let count = per_statement.min(total - first);
            out.push(Chunk {
                table,
                first,
                count,
            });
            first += count;
        }
    }
    out
}

pub async fn load(
    pool: &MySqlPool,
    plan: Arc<SeedPlan>,
    connections: u32,
    batch_rows: u64,
    bars: &MultiProgress,
) -> Result<LoadOutcome> {
    let chunks = Arc::new(chunks(&plan, batch_rows));
    let next = Arc::new(AtomicUsize::new(0));
    let spans: Arc<Mutex<HashMap<&'static str, (Instant, Instant)>>> = Arc::default();
    let bars: Arc<HashMap<&'static str, ProgressBar>> = Arc::new(
        SeedTable::ALL
            .iter()
            .map(|t| (t.name(), progress::rows_bar(bars, t.name(), t.rows(&plan))))
            .collect(),
    );

    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..connections {
        let (pool, plan, chunks, next, spans, bars) = (
            pool.clone(),
            plan.clone(),
            chunks.clone(),
            next.clone(),
            spans.clone(),
            bars.clone(),
        );
        workers.spawn(async move {
            let mut values = Vec::new();
            while let Some(chunk) = chunks.get(next.fetch_add(1, Ordering::Relaxed)) {
                let begun = Instant::now();
                values.clear();
                generate(&plan, chunk.table, chunk.first, chunk.count, &mut values);
                insert(&pool, chunk.table, &values).await?;
                crate::measure::slowdown::per_operation();
                let ended = Instant::now();
                spans
                    .lock()
                    .expect("no worker panics holding the lock")
                    .entry(chunk.table.name())
                    .and_modify(|(s, e)| (*s, *e) = ((*s).min(begun), (*e).max(ended)))
                    .or_insert((begun, ended));
                bars[chunk.table.name()].inc(chunk.count);
            }
            Ok::<_, sqlx::Error>(())
        });
    }
    while let Some(joined) = workers.join_next().await {
        joined??;
    }
    let seconds = started.elapsed().as_secs_f64();
    bars.values().for_each(ProgressBar::finish);

    let spans = spans.lock().expect("workers have finished");
    let tables = SeedTable::ALL
        .iter()
        .map(|&table| TableTiming {
            table,
            rows: table.rows(&plan),
            seconds: spans
                .get(table.name())
                .map_or(Duration::ZERO, |(s, e)| *e - *s)
                .as_secs_f64(),
        })
        .collect();
    Ok(LoadOutcome { tables, seconds })
}

/// One multi-row INSERT. Identifiers come from `SeedTable`; every value is a bound parameter.
async fn insert(pool: &MySqlPool, table: SeedTable, values: &[Value]) -> Result<(), sqlx::Error> {
    let columns = table.columns();
    let mut query = QueryBuilder::<MySql>::new(format!(
        "INSERT INTO {} ({}) ",
        table.name(),
        columns.join(", ")
    ));
    query.push_values(values.chunks(columns.len()), |mut row, cells| {
        for cell in cells {
            match cell {
                Value::Int(v) => row.push_bind(*v),
                Value::Text(v) => row.push_bind(v.as_str()),
                Value::Enum(v) => row.push_bind(*v),
                Value::Time(v) => row.push_bind(*v),
                Value::Null => row.push_bind(None::<i64>),
            };
        }
    });
    query.build().execute(pool).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_row_once_within_the_placeholder_limit() {
        let args = crate::commands::seed::tests::week8_args();
        let plan = SeedPlan::new(&args).unwrap();
        let chunks = chunks(&plan, 20_000);
        for table in SeedTable::ALL {
            let mine: Vec<_> = chunks.iter().filter(|c| c.table == table).collect();
            assert_eq!(mine.iter().map(|c| c.count).sum::<u64>(), table.rows(&plan));
            for pair in mine.windows(2) {
                assert_eq!(pair[0].first + pair[0].count, pair[1].first);
            }
            for c in mine {
                assert!(c.count * table.columns().len() as u64 <= MAX_PLACEHOLDERS);
            }
        }
    }
}
