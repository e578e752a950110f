//! `report --quick`: the whole write-up on scratch databases beside the test's own, a page a
//! real browser renders, figures that parse, and nothing left behind (also after Ctrl-C).

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::TestDb;

const SECTIONS: [&str; 6] = [
    "summary",
    "caching",
    "queue",
    "indexes",
    "services",
    "reproduce",
];

async fn scratch_databases(db: &TestDb) -> i64 {
    db.count(&format!(
        "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name LIKE '{}\\_report%'",
        db.name
    ))
    .await
}

/// The page as Chromium's DOM after loading it (`--dump-dom`), and a screenshot beside it.
fn render_in_chromium(page: &Path) -> String {
    let profile = tempfile_dir("chromium-profile");
    let url = format!("file://{}", page.display());
    let common = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
    ];
    let run = |extra: &[&str]| {
        Command::new("chromium")
            .args(common)
            .arg(format!("--user-data-dir={}", profile.display()))
            .args(extra)
            .arg(&url)
            .output()
            .expect("chromium runs (Debian: apt install chromium)")
    };
    let shot = page.with_file_name("screenshot.png");
    let screenshot = run(&[
        "--window-size=1200,8000",
        &format!("--screenshot={}", shot.display()),
    ]);
    assert!(screenshot.status.success(), "{screenshot:?}");
    assert!(
        std::fs::metadata(&shot).unwrap().len() > 10_000,
        "an empty screenshot"
    );
    let dom = run(&["--dump-dom"]);
    assert!(dom.status.success(), "{dom:?}");
    std::fs::remove_dir_all(&profile).ok();
    String::from_utf8(dom.stdout).unwrap()
}

fn tempfile_dir(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(common::unique_name(label));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn quick_report_renders_every_section_and_figure_and_leaves_nothing_behind() {
    let db = TestDb::new().await;
    let out = tempfile_dir("cb-report");
    let printed = db
        .run(&[
            "-o",
            "json",
            "-q",
            "report",
            "--quick",
            "--out",
            out.to_str().unwrap(),
        ])
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&printed).unwrap();
    assert_eq!(doc["command"], "report");
    assert_eq!(
        scratch_databases(&db).await,
        0,
        "a scratch database was left behind"
    );
    let left = common::keys_under(&db.prefix).await;
    assert!(left.is_empty(), "Redis keys left behind: {left:?}");

    // The file is the same document as -o json.
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(file["claims"], doc["claims"]);
    let claims = doc["claims"].as_array().unwrap();
    assert!(claims.len() >= 8, "{claims:?}");
    for claim in claims {
        assert!(
            ["agrees", "differs", "unclear"].contains(&claim["verdict"].as_str().unwrap()),
            "{claim}"
        );
        assert!(!claim["here"].as_str().unwrap().is_empty(), "{claim}");
    }
    assert_eq!(
        doc["seed"]["rows"]["seats"], 200_000,
        "the write-up's data set"
    );
    assert_eq!(doc["scales"]["sweep"].as_array().unwrap().len(), 2);

    // Every SVG parses as XML and carries its title and axis names as text.
    let figures: Vec<&str> = doc["figures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    for wanted in [
        "cache-bench-throughput.svg",
        "cache-bench-latency-concert_list.svg",
        "queue-sim-users.svg",
        "queue-sim-admissions.svg",
        "queue-sim-wait.svg",
        "queue-sim-estimates.svg",
        "query-concert_detail.svg",
        "query-scales.svg",
        "explain-advice.svg",
        "reserve-flows-throughput.svg",
        "reserve-hot-hot-seat.svg",
    ] {
        assert!(
            figures.contains(&wanted),
            "{wanted} missing from {figures:?}"
        );
    }
    for name in &figures {
        let svg = std::fs::read_to_string(out.join(name)).unwrap();
        let tree = roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{name}: {e}"));
        let texts: Vec<&str> = tree
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text())
            .map(str::trim)
            .collect();
        assert!(texts.len() >= 5, "{name} has too little text: {texts:?}");
        let title = tree
            .descendants()
            .find(|n| n.has_tag_name("title"))
            .and_then(|n| n.text())
            .unwrap_or_else(|| panic!("{name} has no <title>"));
        assert!(
            texts.contains(&title),
            "{name}: its title {title:?} is not drawn"
        );
        assert!(
            texts.iter().any(|t| t.starts_with("concert-bench ")),
            "{name} has no caption with its command"
        );
    }

    let dom = render_in_chromium(&out.join("index.html"));
    for section in SECTIONS {
        assert!(
            dom.contains(&format!("<section id=\"{section}\">")),
            "section {section} not rendered"
        );
    }
    assert_eq!(
        dom.matches("<figure id=").count(),
        figures.len(),
        "every figure inline"
    );
    assert!(dom.matches("<svg").count() >= figures.len());
    assert!(!dom.contains("<script"), "the page runs no scripts");
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn ctrl_c_drops_the_scratch_databases_and_exits_130() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDb::new());
    let out = tempfile_dir("cb-report-int");
    let child = common::spawn_tool(&db, &["report", "--quick", "--out", out.to_str().unwrap()]);
    common::wait_for("the scratch databases", Duration::from_secs(60), || {
        runtime.block_on(scratch_databases(&db)) == 2
    });
    // Into the seed, then Ctrl-C.
    std::thread::sleep(Duration::from_millis(300));
    common::interrupt(&child);
    let result = child.wait_with_output().unwrap();
    assert_eq!(result.status.code(), Some(130));
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(stderr.contains("scratch databases"), "{stderr}");
    assert_eq!(runtime.block_on(scratch_databases(&db)), 0);
    std::fs::remove_dir_all(&out).ok();
}

#[tokio::test]
async fn a_scratch_name_already_taken_is_refused_and_left_alone() {
    let db = TestDb::new().await;
    let taken = format!("{}_report_large", db.name);
    let admin = common::admin_pool().await;
    common::exec(&admin, &format!("CREATE DATABASE `{taken}`")).await;
    common::exec(&admin, &format!("CREATE TABLE `{taken}`.theirs (id INT)")).await;
    let out = tempfile_dir("cb-report-taken");
    let err = db
        .run(&["report", "--quick", "--out", out.to_str().unwrap()])
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("already exists") && !err.contains('\n'),
        "{err}"
    );
    let theirs: i64 = db
        .count(&format!(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{taken}'"
        ))
        .await;
    assert_eq!(theirs, 1, "their database was touched");
    assert_eq!(scratch_databases(&db).await, 1, "only theirs remains");
    common::exec(&admin, &format!("DROP DATABASE `{taken}`")).await;
    std::fs::remove_dir_all(&out).ok();
}

#[tokio::test]
async fn an_out_path_that_is_a_file_is_one_line_and_touches_no_database() {
    let db = TestDb::new().await;
    let file = std::env::temp_dir().join(common::unique_name("cb-report-file"));
    std::fs::write(&file, "not a directory").unwrap();
    let err = db
        .run(&["report", "--quick", "--out", file.to_str().unwrap()])
        .await
        .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("cannot create the directory"), "{text}");
    assert_eq!(scratch_databases(&db).await, 0);
    std::fs::remove_file(&file).ok();
}
