//! The published JSON Schemas (`schemas/`) are what the types generate: regenerate them with
//! `scripts/schemas.sh` after changing a report. (Every document the other tests read is
//! validated against these files, see `common::run_tool`.)

use crate::common;

use concert_bench::commands::schema::documented;
use concert_bench::commands::schema_of;
use concert_bench::render::output::SCHEMA_VERSION;

#[test]
fn the_published_schemas_are_the_generated_ones() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let names = documented();
    assert_eq!(names.len(), 10, "{names:?}");
    for name in names {
        let path = dir.join(format!("{name}.schema.json"));
        let published: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
        )
        .unwrap();
        assert_eq!(
            published,
            schema_of(name).unwrap(),
            "{} is stale: run scripts/schemas.sh",
            path.display()
        );
        assert_eq!(published["properties"]["command"]["const"], name);
        assert_eq!(
            published["properties"]["schema_version"]["const"],
            SCHEMA_VERSION
        );
    }
}

#[test]
fn a_document_of_another_command_or_version_does_not_validate() {
    let doc = serde_json::json!({"schema_version": SCHEMA_VERSION, "command": "worker",
        "services": ["concert"], "relay": true, "replayed_parked": null,
        "events": {"published": 0, "publish_errors": 0, "republished": 0, "delivered": 0,
                   "redelivered": 0, "duplicates": 0, "handler_errors": 0, "parked": 0},
        "backlog": {"unpublished": 0, "unapplied": 0, "pending_reservations": 0, "pending_payments": 0}});
    common::assert_matches_published_schema(&doc);
    let schema = schema_of("worker").unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut newer = doc.clone();
    newer["schema_version"] = serde_json::json!(SCHEMA_VERSION + 1);
    assert!(!validator.is_valid(&newer));
    let mut missing = doc.clone();
    missing["events"].as_object_mut().unwrap().remove("parked");
    assert!(!validator.is_valid(&missing));
    let seed = jsonschema::validator_for(&schema_of("seed").unwrap()).unwrap();
    assert!(
        !seed.is_valid(&doc),
        "a worker document is not a seed document"
    );
}

#[tokio::test]
async fn the_schema_command_prints_the_schema() {
    let out = common::run_tool(&["concert-bench", "schema", "queue-sim"])
        .await
        .unwrap();
    let printed: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(printed, schema_of("queue-sim").unwrap());
}

#[tokio::test]
async fn the_schema_list_is_every_documented_command() {
    let out = common::run_tool(&["concert-bench", "schema", "--list"])
        .await
        .unwrap();
    assert_eq!(out.lines().collect::<Vec<_>>(), documented());
}
