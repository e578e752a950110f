//! Reading MySQL's `EXPLAIN ANALYZE FORMAT=TREE`: one node a line,
//! `-> Index lookup on s using idx (performance_id = p.id)  (cost=25.8 rows=101) (actual
//! time=0.0812..0.0857 rows=100 loops=20)`, children indented under their parent. Times are
//! milliseconds (small ones in exponent form, `84.7e-6`); `rows` is per loop.

use std::collections::BTreeMap;

/// Nodes that report no execution time: the value was read while planning (a const lookup),
/// so the server measured nothing and the time is unknown, not zero.
const PLANNED_AWAY: [&str; 2] = ["Rows fetched before execution", "Zero rows"];

/// The root's time to its last row, in ms; `None` when the server gives none.
pub fn root_time_ms(tree: &str) -> Option<f64> {
    let root = tree.lines().find(|l| l.trim_start().starts_with("->"))?;
    let operation = root.trim_start().trim_start_matches("->").trim_start();
    if PLANNED_AWAY.iter().any(|p| operation.starts_with(p)) {
        return None;
    }
    actual(root).map(|a| a.last_row_ms)
}

/// Rows actually read per loop from each table alias (the access nodes: table scans, index
/// lookups and scans), as MariaDB's `r_rows` counts them. A const table has no node.
pub fn rows_read(tree: &str) -> BTreeMap<String, f64> {
    let mut read = BTreeMap::new();
    for line in tree.lines() {
        let (Some(alias), Some(a)) = (accessed_alias(line), actual(line)) else {
            continue;
        };
        *read.entry(alias).or_insert(0.0) += a.rows;
    }
    read
}

struct Actual {
    last_row_ms: f64,
    rows: f64,
}

fn actual(line: &str) -> Option<Actual> {
    let after = line.split("(actual time=").nth(1)?;
    let mut fields = after.trim_end_matches(')').split_whitespace();
    let last_row_ms = fields.next()?.split("..").nth(1)?.parse().ok()?;
    let rows = fields.find_map(|f| f.strip_prefix("rows="))?.parse().ok()?;
    Some(Actual { last_row_ms, rows })
}

/// `Table scan on s`, `Index lookup on s using ..`, `Covering index scan on c using ..`:
/// the alias the node reads. Filters, joins and sorts read none.
fn accessed_alias(line: &str) -> Option<String> {
    let operation = line.trim_start().strip_prefix("->")?.trim_start();
    let operation = operation.split("  (").next()?;
    let head = operation.split(" (").next()?;
    let is_access = ["scan on ", "lookup on ", "search on "]
        .iter()
        .any(|kind| head.contains(kind));
    if !is_access {
        return None;
    }
    let after = head.rsplit(" on ").next()?;
    after.split_whitespace().next().map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const JOIN: &str = "-> Nested loop inner join  (cost=9125 rows=2022) (actual time=0.224..10.2 rows=2000 loops=1)
    -> Table scan on s  (cost=2047 rows=20224) (actual time=0.205..3 rows=20000 loops=1)
    -> Filter: (p.concert_id = 1)  (cost=0.25 rows=0.1) (actual time=257e-6..269e-6 rows=0.1 loops=20000)
        -> Single-row index lookup on p using PRIMARY (id = s.performance_id)  (cost=0.25 rows=1) (actual time=84.7e-6..111e-6 rows=1 loops=20000)";

    #[test]
    fn the_root_time_is_its_last_row() {
        assert_eq!(root_time_ms(JOIN), Some(10.2));
        assert_eq!(root_time_ms("no timing"), None);
    }

    #[test]
    fn a_const_lookup_has_no_time() {
        let tree = "-> Rows fetched before execution  (cost=0..0 rows=1) (actual time=80e-6..130e-6 rows=1 loops=1)";
        assert_eq!(root_time_ms(tree), None);
    }

    #[test]
    fn rows_read_come_from_the_access_nodes_per_alias() {
        let read = rows_read(JOIN);
        assert_eq!(read.get("s"), Some(&20_000.0));
        assert_eq!(read.get("p"), Some(&1.0));
        assert_eq!(read.len(), 2, "{read:?}");
        let covering = "-> Covering index lookup on p using idx_performance_concert (concert_id = c.id)  (cost=0.459 rows=20) (actual time=0.00479..0.00677 rows=20 loops=10)";
        assert_eq!(rows_read(covering).get("p"), Some(&20.0));
    }
}
