//! Every numeric flag has bounds in its parser: a value past them is a usage error (exit 2,
//! one line naming the flag), never a panic, a hang, or a run that silently does nothing.
//! The first rows are the cases that once panicked or did nothing.

use crate::common;

/// (command, arguments, text the error must contain)
const CASES: &[(&str, &[&str], &str)] = &[
    // Once panicked or did nothing.
    (
        "cache-bench",
        &["--duration", "99999999999999999999s"],
        "more than a year",
    ),
    (
        "cache-bench",
        &["--rate", "1e-20", "--requests", "2"],
        "--rate",
    ),
    (
        "queue-sim",
        &["--backend", "database", "--ttl", "9000000000000s"],
        "--ttl",
    ),
    (
        "queue-sim",
        &["--probe-lookups", "10000000000"],
        "--probe-lookups",
    ),
    (
        "reserve",
        &[
            "--load",
            "--flow",
            "events",
            "--settle-timeout",
            "10000000000000000000s",
        ],
        "--settle-timeout",
    ),
    (
        "reserve",
        &["--load", "--users", "18446744073709551615"],
        "--users",
    ),
    ("explain", &["--min-speedup", "nan"], "--min-speedup"),
    ("explain", &["--min-speedup", "-1"], "--min-speedup"),
    ("explain", &["--min-speedup", "inf"], "--min-speedup"),
    // cache-bench
    ("cache-bench", &["-c", "0"], "--clients"),
    ("cache-bench", &["-c", "10001"], "--clients"),
    ("cache-bench", &["--duration", "25h"], "24h"),
    ("cache-bench", &["--requests", "0"], "--requests"),
    ("cache-bench", &["--requests", "1000000001"], "--requests"),
    ("cache-bench", &["--rate", "1000001"], "--rate"),
    ("cache-bench", &["--rate", "NaN"], "--rate"),
    ("cache-bench", &["--warmup", "1000000001"], "--warmup"),
    ("cache-bench", &["--write-ratio", "1.5"], "--write-ratio"),
    ("cache-bench", &["--ttl", "721h"], "720h"),
    ("cache-bench", &["--ttl", "0s"], "at least 1ms"),
    (
        "cache-bench",
        &["--stampede-clients", "10001"],
        "--stampede-clients",
    ),
    (
        "cache-bench",
        &["--rng-seed", "18446744073709551616"],
        "--rng-seed",
    ),
    // queue-sim
    ("queue-sim", &["--users", "0"], "--users"),
    ("queue-sim", &["--users", "10000001"], "--users"),
    (
        "queue-sim",
        &["--policy", "capacity:10000001"],
        "at most 10000000",
    ),
    ("queue-sim", &["--policy", "rate:10/25h"], "24h"),
    ("queue-sim", &["--arrival", "burst:1/8761h"], "--arrival"),
    (
        "queue-sim",
        &["--arrival", "rate:99999999999/1s"],
        "--arrival",
    ),
    ("queue-sim", &["--ttl", "25h"], "24h"),
    ("queue-sim", &["--service", "1s..25h"], "24h"),
    ("queue-sim", &["--abandon", "-0.1"], "--abandon"),
    ("queue-sim", &["--speed", "1e7"], "--speed"),
    ("queue-sim", &["--tick", "2h"], "1h"),
    ("queue-sim", &["-c", "10001"], "--clients"),
    (
        "queue-sim",
        &["--concert", "9223372036854775808"],
        "--concert",
    ),
    ("queue-sim", &["--probe-size", "1000001"], "--probe-size"),
    // reserve
    ("reserve", &["--hold", "25h"], "24h"),
    ("reserve", &["--users", "10000001"], "--users"),
    ("reserve", &["-c", "1001"], "--clients"),
    ("reserve", &["--seats", "few:0"], "--seats"),
    ("reserve", &["--seats", "few:4294967296"], "--seats"),
    ("reserve", &["--settle-timeout", "2h"], "1h"),
    ("reserve", &["--charge-race", "1000001"], "--charge-race"),
    (
        "reserve",
        &["--queue-policy", "capacity:0"],
        "--queue-policy",
    ),
    ("reserve", &["--user", "9223372036854775808"], "--user"),
    // query and explain
    ("query", &["--iterations", "0"], "--iterations"),
    ("query", &["--iterations", "1000001"], "--iterations"),
    ("query", &["--warmup", "1000001"], "--warmup"),
    ("query", &["--server-runs", "1000001"], "--server-runs"),
    ("query", &["--scales", "0"], "--scales"),
    ("query", &["--scales", "1001"], "--scales"),
    ("query", &["--lock-wait-timeout", "2h"], "1h"),
    ("explain", &["--iterations", "0"], "--iterations"),
    ("explain", &["--warmup", "1000001"], "--warmup"),
    ("explain", &["--lock-wait-timeout", "0s"], "at least 1ms"),
    ("explain", &["--min-speedup", "1001"], "--min-speedup"),
    // seed
    ("seed", &["--users", "1000000001"], "--users"),
    ("seed", &["--concerts", "1000000001"], "--concerts"),
    (
        "seed",
        &["--performances-per-concert", "100001"],
        "--performances-per-concert",
    ),
    (
        "seed",
        &["--seats-per-performance", "100001"],
        "--seats-per-performance",
    ),
    (
        "seed",
        &["--open-concerts", "1000000001"],
        "--open-concerts",
    ),
    (
        "seed",
        &["--reserved-per-open-concert", "10000001"],
        "--reserved-per-open-concert",
    ),
    ("seed", &["--scale", "0"], "--scale"),
    ("seed", &["--scale", "1001"], "--scale"),
    ("seed", &["--connections", "65"], "--connections"),
    ("seed", &["--batch-rows", "65536"], "--batch-rows"),
    // staleness
    ("staleness", &["--probes", "0"], "--probes"),
    ("staleness", &["--probes", "100001"], "--probes"),
    ("staleness", &["--timeout", "11m"], "10m"),
    ("query", &["--read-from", "secondary"], "--read-from"),
    // worker
    ("worker", &["--for", "8761h"], "more than a year"),
    ("worker", &["--claim-after", "2h"], "1h"),
    ("worker", &["--max-deliveries", "0"], "--max-deliveries"),
    ("worker", &["--republish-after", "25h"], "24h"),
];

#[test]
fn every_numeric_flag_refuses_values_past_its_bounds() {
    for (command, args, expected) in CASES {
        common::assert_usage_errors(command, &[(args, expected)]);
    }
}

#[test]
fn a_usage_error_is_one_line_of_reason() {
    let out = assert_cmd::cargo::cargo_bin_cmd!("concert-bench")
        .args(["cache-bench", "--duration", "99999999999999999999s"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
}
