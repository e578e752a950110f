//! Parameter values for a workload's statements, drawn from the data: each statement gets one
//! tuple of values per execution, from a seeded generator, so that every variant runs on the
//! same inputs (interleaved round by round) and a run can be repeated exactly.

use anyhow::{Result, bail};
use fake::RngExt;
use fake::rand::SeedableRng;
use fake::rand::rngs::ChaCha8Rng;
use serde::Serialize;
use sqlx::mysql::MySqlRow;
use sqlx::{AssertSqlSafe, MySqlPool, Row};

use super::Catalog;
use super::workload::{Distribution, Source, Statement};
use crate::storage::db::quote_identifier as quote;

/// Values drawn from one source at most: a seeded random sample of the column, so a large
/// table costs one scan, not its whole column in memory.
pub const POOL_SIZE: usize = 10_000;

/// One bound value.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(untagged)]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    Text(String),
}

impl ParamValue {
    /// The value as SQL text, for ANALYZE and EXPLAIN (which take no bound parameters). A
    /// string is quoted with both of its escapes doubled, so it stays one literal whatever
    /// the server's `NO_BACKSLASH_ESCAPES`.
    pub fn literal(&self) -> String {
        match self {
            ParamValue::Int(n) => n.to_string(),
            ParamValue::Float(x) => format!("{x:?}"),
            ParamValue::Text(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''")),
        }
    }

    /// A literal as SQL writes it: a number, or a string in single or double quotes (its
    /// doubled quotes and backslash escapes undone).
    pub fn parse_literal(text: &str) -> Self {
        for q in ['\'', '"'] {
            if let Some(inner) = text.strip_prefix(q).and_then(|t| t.strip_suffix(q)) {
                let mut out = String::with_capacity(inner.len());
                let mut chars = inner.chars().peekable();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => match chars.next() {
                            Some('n') => out.push('\n'),
                            Some('t') => out.push('\t'),
                            Some('0') => out.push('\0'),
                            Some(other) => out.push(other),
                            None => {}
                        },
                        c if c == q && chars.peek() == Some(&q) => {
                            chars.next();
                            out.push(q);
                        }
                        c => out.push(c),
                    }
                }
                return ParamValue::Text(out);
            }
        }
        if let Ok(n) = text.parse::<i64>() {
            ParamValue::Int(n)
        } else {
            ParamValue::Float(text.parse().unwrap_or(0.0))
        }
    }
}

/// What a report says about one parameter: where its values came from and how many there
/// were to draw from.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ParamSummary {
    pub statement: String,
    pub name: String,
    /// As written in the workload: `uniform(seat.id)`, `zipf(1.1, SELECT ...)`, `value(42)`.
    pub distribution: String,
    /// Distinct values it drew from (1 for a fixed value).
    pub pool: usize,
}

/// The values one statement binds, one tuple per execution round.
#[derive(Debug, Clone)]
pub struct Draws {
    pub rounds: Vec<Vec<ParamValue>>,
}

impl Draws {
    /// The tuple of round `i` (no parameters: an empty tuple).
    pub fn round(&self, i: usize) -> &[ParamValue] {
        self.rounds.get(i).map_or(&[], Vec::as_slice)
    }
}

/// Values to draw from, with their cumulative weights under the distribution.
struct Pool {
    values: Vec<ParamValue>,
    /// Zipf's cumulative weights; `None` for uniform.
    cumulative: Option<Vec<f64>>,
}

impl Pool {
    fn draw(&self, rng: &mut ChaCha8Rng) -> ParamValue {
        let index = match &self.cumulative {
            None => rng.random_range(0..self.values.len()),
            Some(cdf) => {
                let total = cdf[cdf.len() - 1];
                let x = rng.random_range(0.0..total);
                cdf.partition_point(|&c| c <= x).min(cdf.len() - 1)
            }
        };
        self.values[index].clone()
    }
}

/// Draws `rounds` tuples for each statement, from pools loaded once per source. `seed` makes
/// the draws repeatable; a source that yields no value is an error naming the statement.
pub async fn draw(
    pool: &MySqlPool,
    catalog: &Catalog,
    statements: &[Statement],
    rounds: usize,
    seed: u64,
) -> Result<(Vec<Draws>, Vec<ParamSummary>)> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut draws = Vec::new();
    let mut summaries = Vec::new();
    for statement in statements {
        if statement
            .params
            .iter()
            .any(|p| p.distribution == Distribution::Observed)
        {
            let (drawn, summary) = draw_observed(statement, rounds, &mut rng)?;
            draws.push(drawn);
            summaries.extend(summary);
            continue;
        }
        let mut pools = Vec::new();
        for param in &statement.params {
            let loaded = load_pool(pool, catalog, &param.distribution, seed)
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "statement {}, parameter {} = {}: {e:#}",
                        statement.name,
                        param.name,
                        param.distribution
                    )
                })?;
            summaries.push(ParamSummary {
                statement: statement.name.clone(),
                name: param.name.clone(),
                distribution: param.distribution.to_string(),
                pool: loaded.values.len(),
            });
            pools.push((param.name.clone(), loaded));
        }
        let rounds = (0..rounds)
            .map(|_| {
                let drawn: Vec<(String, ParamValue)> = pools
                    .iter()
                    .map(|(name, p)| (name.clone(), p.draw(&mut rng)))
                    .collect();
                statement
                    .binds
                    .iter()
                    .map(|bind| {
                        drawn
                            .iter()
                            .find(|(name, _)| name == bind)
                            .map(|(_, v)| v.clone())
                            .expect("every bind is declared (checked when parsed)")
                    })
                    .collect()
            })
            .collect();
        draws.push(Draws { rounds });
    }
    Ok((draws, summaries))
}

/// Whole tuples of values that logged executions bound, one per round.
fn draw_observed(
    statement: &Statement,
    rounds: usize,
    rng: &mut ChaCha8Rng,
) -> Result<(Draws, Vec<ParamSummary>)> {
    let tuples: Vec<Vec<ParamValue>> = statement
        .observed
        .iter()
        .map(|tuple| tuple.iter().map(|t| ParamValue::parse_literal(t)).collect())
        .collect();
    if tuples.is_empty() {
        bail!(
            "statement {}: no logged execution to take parameter values from",
            statement.name
        );
    }
    let summaries = statement
        .params
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut distinct: Vec<&ParamValue> = Vec::new();
            for value in tuples.iter().map(|t| &t[i]) {
                if !distinct.contains(&value) {
                    distinct.push(value);
                }
            }
            ParamSummary {
                statement: statement.name.clone(),
                name: p.name.clone(),
                distribution: format!("observed ({} logged executions)", tuples.len()),
                pool: distinct.len(),
            }
        })
        .collect();
    let rounds = (0..rounds)
        .map(|_| tuples[rng.random_range(0..tuples.len())].clone())
        .collect();
    Ok((Draws { rounds }, summaries))
}

async fn load_pool(
    pool: &MySqlPool,
    catalog: &Catalog,
    distribution: &Distribution,
    seed: u64,
) -> Result<Pool> {
    let (source, s) = match distribution {
        Distribution::Fixed(text) => {
            return Ok(Pool {
                values: vec![ParamValue::parse_literal(text)],
                cumulative: None,
            });
        }
        Distribution::Observed => bail!("observed values come with their statement"),
        Distribution::Uniform(source) => (source, None),
        Distribution::Zipf { s, source } => (source, Some(*s)),
    };
    let sql = match source {
        Source::Column { table, column } => {
            if !catalog.has_column(table, column) {
                bail!("the database has no column {table}.{column}");
            }
            // Names checked against information_schema above, and quoted.
            format!(
                "SELECT {col} FROM {tab} WHERE {col} IS NOT NULL ORDER BY RAND({seed}) LIMIT {POOL_SIZE}",
                col = quote(column),
                tab = quote(table)
            )
        }
        Source::Query(sql) => format!("SELECT * FROM ({sql}) AS cb_values LIMIT {POOL_SIZE}"),
    };
    let rows = sqlx::query(AssertSqlSafe(sql)).fetch_all(pool).await?;
    let values: Vec<ParamValue> = rows.iter().filter_map(first_value).collect();
    if values.is_empty() {
        bail!("no values to draw from");
    }
    let cumulative = s.map(|s| {
        let mut total = 0.0;
        (1..=values.len())
            .map(|k| {
                total += 1.0 / (k as f64).powf(s);
                total
            })
            .collect()
    });
    Ok(Pool { values, cumulative })
}

/// The first column of a row, as the type the server sent (NULL and types with no plain
/// value are left out).
fn first_value(row: &MySqlRow) -> Option<ParamValue> {
    if let Ok(n) = row.try_get::<i64, _>(0) {
        return Some(ParamValue::Int(n));
    }
    if let Ok(n) = row.try_get::<u64, _>(0) {
        return i64::try_from(n).ok().map(ParamValue::Int);
    }
    if let Ok(x) = row.try_get::<f64, _>(0) {
        return Some(ParamValue::Float(x));
    }
    if let Ok(s) = row.try_get::<String, _>(0) {
        return Some(ParamValue::Text(s));
    }
    if let Ok(t) = row.try_get::<chrono::NaiveDateTime, _>(0) {
        return Some(ParamValue::Text(
            t.format("%Y-%m-%d %H:%M:%S%.f").to_string(),
        ));
    }
    if let Ok(d) = row.try_get::<chrono::NaiveDate, _>(0) {
        return Some(ParamValue::Text(d.to_string()));
    }
    None
}

/// The statement with its values written in (ANALYZE and EXPLAIN take no bound parameters).
pub fn with_literals(sql: &str, values: &[ParamValue]) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut values = values.iter();
    let mut in_string: Option<char> = None;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match (in_string, c) {
            (Some(q), c) if c == q => {
                in_string = None;
                out.push(c);
            }
            (Some(_), '\\') => {
                out.push(c);
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            (Some(_), c) => out.push(c),
            (None, '\'' | '"' | '`') => {
                in_string = Some(c);
                out.push(c);
            }
            (None, '?') => match values.next() {
                Some(v) => out.push_str(&v.literal()),
                None => out.push('?'),
            },
            (None, c) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_quoted_and_placed_outside_strings() {
        let values = [ParamValue::Int(42), ParamValue::Text("O'Brien \\ x".into())];
        assert_eq!(
            with_literals("SELECT '?' FROM t WHERE a = ? AND b = ?", &values),
            "SELECT '?' FROM t WHERE a = 42 AND b = 'O''Brien \\\\ x'"
        );
    }

    #[test]
    fn zipf_favours_the_first_values_and_uniform_does_not() {
        let values: Vec<ParamValue> = (0..100).map(ParamValue::Int).collect();
        let mut total = 0.0;
        let cdf: Vec<f64> = (1..=100)
            .map(|k| {
                total += 1.0 / (k as f64).powf(1.2);
                total
            })
            .collect();
        let zipf = Pool {
            values: values.clone(),
            cumulative: Some(cdf),
        };
        let uniform = Pool {
            values,
            cumulative: None,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let first = |p: &Pool, rng: &mut ChaCha8Rng| {
            (0..10_000)
                .filter(|_| p.draw(rng) == ParamValue::Int(0))
                .count()
        };
        // 1/H(100, 1.2) of the draws are the first value under zipf; 1% under uniform.
        let (z, u) = (first(&zipf, &mut rng), first(&uniform, &mut rng));
        assert!(z > 2_500 && z < 3_500, "{z}");
        assert!(u > 50 && u < 160, "{u}");
    }
}
