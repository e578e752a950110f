//! The seed generator alone, with no database: how fast rows are produced, per table.
//! Run with `cargo bench --bench generator`.

use clap::Parser;
use concert_bench::cli::{Cli, Command};
use concert_bench::commands::seed::{SeedPlan, SeedTable, generate};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const ROWS: u64 = 10_000;

fn week8_plan() -> SeedPlan {
    let cli = Cli::parse_from(["concert-bench", "seed"]);
    let Command::Seed(args) = cli.command else {
        unreachable!("parsed a seed command")
    };
    SeedPlan::new(&args).expect("week-8 defaults are valid")
}

fn generator(c: &mut Criterion) {
    let plan = week8_plan();
    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Elements(ROWS));
    for table in [
        SeedTable::Seat,
        SeedTable::Users,
        SeedTable::Concert,
        SeedTable::PointLedger,
    ] {
        let rows = ROWS.min(table.rows(&plan));
        group.throughput(Throughput::Elements(rows));
        let mut values = Vec::new();
        group.bench_function(table.name(), |b| {
            b.iter(|| {
                values.clear();
                generate(&plan, table, 0, rows, &mut values);
                std::hint::black_box(values.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, generator);
criterion_main!(benches);
