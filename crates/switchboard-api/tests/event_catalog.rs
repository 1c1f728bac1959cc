//! Event schemas change compatibly, or get a new version.
//!
//! Each `type@version` has a frozen schema in `event-schemas/`, recorded when that version first
//! appeared. The current schema must stay compatible with it: new optional fields are fine;
//! removed, renamed, retyped or newly required fields need a new version (and the old version's
//! frozen file stays as the record of what integrators were promised).
#![allow(clippy::unwrap_used, clippy::panic)]

use switchboard_api::catalog::{compatible, event_catalog};

#[test]
fn event_schemas_change_compatibly_or_get_a_new_version() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("event-schemas");
    let record = std::env::var("SWITCHBOARD_FREEZE_EVENT_SCHEMAS").as_deref() == Ok("1");
    for t in event_catalog() {
        let path = dir.join(format!("{}@{}.json", t.name, t.version));
        match std::fs::read(&path) {
            Ok(bytes) => {
                let frozen: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
                if let Err(why) = compatible(&frozen, &t.schema) {
                    panic!(
                        "{} version {}: {why}. An incompatible change needs a new version in \
                         the catalog (crates/switchboard-types/src/catalog.rs).",
                        t.name, t.version
                    );
                }
            }
            Err(_) if record => {
                std::fs::create_dir_all(&dir).unwrap();
                std::fs::write(&path, serde_json::to_string_pretty(&t.schema).unwrap()).unwrap();
            }
            Err(_) => panic!(
                "no frozen schema for {} version {}: record it with \
                 SWITCHBOARD_FREEZE_EVENT_SCHEMAS=1 cargo test -p switchboard-api --test event_catalog",
                t.name, t.version
            ),
        }
    }
}

#[test]
fn a_removed_field_is_caught_against_the_frozen_schema() {
    let t = event_catalog()
        .into_iter()
        .find(|t| t.name == "message.created")
        .unwrap();
    let mut changed = t.schema.clone();
    changed["properties"]["data"]["properties"]
        .as_object_mut()
        .unwrap()
        .remove("content");
    assert!(compatible(&t.schema, &changed)
        .unwrap_err()
        .contains("content"));
    let mut retyped = t.schema.clone();
    retyped["properties"]["data"]["properties"]["private"] = serde_json::json!({"type": "string"});
    assert!(compatible(&t.schema, &retyped).is_err());
}
