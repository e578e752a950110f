//! The binary, as a person or a CI job runs it: bad input gets one line on stderr and a
//! non-zero exit, never a panic, a hang or a password.

use assert_cmd::Command;

fn tool() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_concert-bench"));
    cmd.env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .timeout(std::time::Duration::from_secs(60));
    cmd
}

/// Runs and returns (exit code, stderr), asserting the error is one line with no secret.
fn fails(args: &[&str]) -> (i32, String) {
    let out = tool().args(args).output().unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(out.stdout.is_empty(), "{args:?} printed a result");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "password printed: {stderr}");
    let first = stderr.lines().next().unwrap_or_default().to_string();
    assert!(first.starts_with("error: "), "{stderr}");
    (out.status.code().unwrap(), first)
}

#[test]
fn unreachable_or_wrong_servers_get_a_clear_line() {
    let cases = [
        ("mysql://root:hunter2@127.0.0.1:1/x", "connection refused"),
        (
            "mysql://root:hunter2@no-such-host.invalid:3306/x",
            "cannot reach MySQL at no-such-host.invalid:3306",
        ),
        (
            "mysql://root:hunter2@127.0.0.1:3306/x",
            "access denied for user 'root'",
        ),
        (
            "postgres://root:hunter2@127.0.0.1/x",
            "must be a mysql:// URL",
        ),
        ("mysql://root:hunter2@127.0.0.1:3306", "names no database"),
    ];
    for (url, expected) in cases {
        let (code, line) = fails(&["--database-url", url, "seed"]);
        assert_eq!(code, 1, "{url}");
        assert!(line.contains(expected), "{url}: {line}");
    }
}

/// A Redis URL that is malformed, unreachable, or names a single server as a cluster: one
/// line that says what to write instead. (A plain URL at a cluster node: tests/cluster.rs.)
#[test]
fn wrong_redis_urls_get_a_clear_line() {
    // queue-sim's Redis back end needs no database: port 1 would say so if it were reached.
    let cases = [
        (
            "localhost:6379",
            "has no scheme: expected redis://host:6379",
        ),
        ("redis+cluster://", "lists a cluster node \"\""),
        (
            "redis+cluster://127.0.0.1:1",
            "cannot reach the Redis Cluster at 127.0.0.1:1 (connection refused)",
        ),
        (
            "redis+cluster://127.0.0.1:6379",
            "is not a Redis Cluster (cluster support disabled): name it as --redis-url redis://127.0.0.1:6379",
        ),
        (
            "redis+cluster://u:hunter2@127.0.0.1:6379",
            "refused the credentials",
        ),
    ];
    for (url, expected) in cases {
        let (code, line) = fails(&[
            "--database-url",
            "mysql://root@127.0.0.1:1/x",
            "--redis-url",
            url,
            "queue-sim",
            "--backend",
            "redis",
            "--users",
            "10",
        ]);
        assert_eq!(code, 1, "{url}");
        assert!(line.contains(expected), "{url}: {line}");
    }
}

#[test]
fn nonsense_sizes_are_refused_before_connecting() {
    // Port 1 refuses connections: reaching it would print a different error.
    let url = "mysql://root@127.0.0.1:1/x";
    for (args, expected, code) in [
        (vec!["--scale", "0"], "0 is not in 1..", 2),
        (vec!["--scale", "-3"], "invalid digit", 2),
        (vec!["--users", "-1"], "invalid digit", 2),
        (vec!["--scale", "100000000000000"], "not in 1..=1000", 2),
        (
            vec!["--seats-per-performance", "18446744073709551615"],
            "not in 0..=100000",
            2,
        ),
        (
            vec![
                "--concerts",
                "1000000000",
                "--performances-per-concert",
                "100000",
                "--seats-per-performance",
                "100000",
            ],
            "too large for 64-bit ids",
            1,
        ),
        (
            vec!["--open-concerts", "500"],
            "cannot exceed --concerts",
            1,
        ),
    ] {
        let (actual, line) = fails(&[&["--database-url", url, "seed"], args.as_slice()].concat());
        assert_eq!(actual, code, "{args:?}: {line}");
        assert!(line.contains(expected), "{args:?}: {line}");
    }
}

#[test]
fn help_teaches_with_examples_and_hides_env_values() {
    let out = tool()
        .env("DATABASE_URL", "mysql://root:hunter2@h/db")
        .args(["seed", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(out.status.success());
    assert!(
        help.contains("Examples:") && help.contains("--rng-seed") && help.contains("--reset"),
        "{help}"
    );
    assert!(!help.contains("hunter2"), "{help}");
}

/// A scenario is a statement of the workload, so its name is checked against the workload
/// (the built-in one here), before any connection: the server at port 1 is never asked.
#[test]
fn unknown_scenarios_are_refused_before_connecting() {
    let (code, line) = fails(&[
        "--database-url",
        "mysql://root@127.0.0.1:1/x",
        "query",
        "--scenario",
        "all_of_them",
    ]);
    assert_eq!(code, 1);
    assert!(
        line.contains("--scenario all_of_them: workloads/week8.sql (built in) has no statement of that name (it has concerts_with_dates, concert_detail"),
        "{line}"
    );
}

#[test]
fn help_lists_global_options_apart_from_the_commands_own() {
    for command in [
        "seed",
        "query",
        "explain",
        "cache-bench",
        "queue-sim",
        "reserve",
        "worker",
    ] {
        let out = tool().args([command, "--help"]).output().unwrap();
        let help = String::from_utf8_lossy(&out.stdout);
        let heading = help
            .find("\nGlobal options:")
            .unwrap_or_else(|| panic!("{command}: {help}"));
        let own = help.find("\nOptions:").unwrap();
        assert!(own < heading, "{command}: its own options first");
        // An option is declared where a line starts with it (its text may mention others).
        let declares = |section: &str, flag: &str| {
            section.lines().any(|line| {
                let line = line.trim_start();
                line.starts_with(flag) || line.get(4..).is_some_and(|l| l.starts_with(flag))
            })
        };
        for global in [
            "--database-url",
            "--redis-url",
            "--key-prefix",
            "--output",
            "--quiet",
        ] {
            assert!(
                declares(&help[heading..], global),
                "{command}: {global} under Global options"
            );
            assert!(
                !declares(&help[own..heading], global),
                "{command}: {global} among its own"
            );
        }
    }
}

/// clap names a subcommand after its variant; the registry after its document. They must
/// agree, or `schema` and the gate would name another command than the one typed.
#[test]
fn the_typed_names_are_the_documents_names() {
    use clap::CommandFactory;
    let typed: Vec<String> = concert_bench::cli::Cli::command()
        .get_subcommands()
        .map(|c| c.get_name().to_string())
        .filter(|name| name != "help")
        .collect();
    assert_eq!(typed, concert_bench::commands::NAMES);
}
