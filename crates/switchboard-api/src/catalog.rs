//! The event catalog as integrators read it: every event type with its version, meaning, a JSON
//! Schema (2020-12) of the whole event generated from the payload's Rust type, and an example.
//! Served by `GET /v1/event-types`, written to `docs/event-catalog.json` and `docs/events.md` by
//! `switchboard event-catalog`, and held to the schemas frozen per version by the test suite.

use serde::Serialize;
use serde_json::{json, Map, Value};
use switchboard_types::catalog::{payload_schema, EVENT_TYPES};

/// One event type, documented.
#[derive(Debug, Clone, Serialize)]
pub struct EventTypeDoc {
    pub name: String,
    pub version: u32,
    pub description: String,
    /// JSON Schema of the whole event (envelope and `data`).
    pub schema: Value,
    /// An event of this type, with placeholder values.
    pub example: Value,
}

/// Every event type of the catalog, sorted by name.
pub fn event_catalog() -> Vec<EventTypeDoc> {
    EVENT_TYPES
        .iter()
        .map(|t| {
            let (data, defs) = data_schema(t.name);
            let example = json!({
                "id": "evt_01jdq3v8z9k2m4n6p8r0s2t4v6",
                "type": t.name,
                "version": t.version,
                "tenant_id": "ten_01jdq3v8z9k2m4n6p8r0s2t4v6",
                "occurred_at": "2026-12-01T09:30:00.000Z",
                "actor": {"type": "user", "id": "usr_01jdq3v8z9k2m4n6p8r0s2t4v6"},
                "data": example_of(&data, &defs, ""),
            });
            EventTypeDoc {
                name: t.name.to_owned(),
                version: t.version,
                description: t.description.to_owned(),
                schema: envelope(t.name, t.version, data, defs),
                example,
            }
        })
        .collect()
}

/// The payload's schema with its referenced schemas, references pointing into `$defs`.
fn data_schema(name: &str) -> (Value, Map<String, Value>) {
    let Some((schema, refs)) = payload_schema(name) else {
        return (json!({"type": "object"}), Map::new());
    };
    let fix = |v: Value| -> Value {
        let text = v.to_string().replace("#/components/schemas/", "#/$defs/");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    };
    let schema = fix(serde_json::to_value(schema).unwrap_or(Value::Null));
    let defs = refs
        .into_iter()
        .map(|(k, v)| (k, fix(serde_json::to_value(v).unwrap_or(Value::Null))))
        .collect();
    (schema, defs)
}

fn envelope(name: &str, version: u32, data: Value, defs: Map<String, Value>) -> Value {
    let mut schema = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": name,
        "type": "object",
        "required": ["id", "type", "version", "tenant_id", "occurred_at", "actor", "data"],
        "additionalProperties": false,
        "properties": {
            "id": {"type": "string", "description": "The event id (evt_…); also the webhook-id header."},
            "type": {"const": name},
            "version": {"const": version},
            "tenant_id": {"type": "string"},
            "occurred_at": {"type": "string", "format": "date-time"},
            "actor": {
                "type": "object",
                "required": ["type", "id"],
                "properties": {
                    "type": {"enum": ["user", "contact", "bot", "ai", "automation", "api_key", "system"]},
                    "id": {"type": "string"}
                }
            },
            "data": data
        }
    });
    if !defs.is_empty() {
        schema["$defs"] = Value::Object(defs);
    }
    schema
}

/// A placeholder value for a schema: ids look like ids, times like times.
fn example_of(schema: &Value, defs: &Map<String, Value>, field: &str) -> Value {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or_default();
        return defs
            .get(name)
            .map_or(Value::Null, |d| example_of(d, defs, field));
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let kind = types.iter().find(|t| **t != "null").copied().unwrap_or("");
    match kind {
        "object" => {
            let mut out = Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, v) in props {
                    out.insert(k.clone(), example_of(v, defs, k));
                }
            }
            Value::Object(out)
        }
        "array" => Value::Array(Vec::new()),
        "integer" => json!(0),
        "number" => json!(0.0),
        "boolean" => json!(false),
        "string" if field.ends_with("_id") => {
            let prefix = match field {
                "conversation_id" | "merged_conversation_id" => "cnv",
                "message_id" => "msg",
                "inbox_id" => "inb",
                "contact_id" | "merged_contact_id" => "con",
                "user_id" => "usr",
                "endpoint_id" => "ep",
                "tenant_id" => "ten",
                _ => field.trim_end_matches("_id"),
            };
            json!(format!("{prefix}_01jdq3v8z9k2m4n6p8r0s2t4v6"))
        }
        "string" if field.ends_with("_at") || field == "send_at" => {
            json!("2026-12-01T09:30:00.000Z")
        }
        "string" => json!("string"),
        _ => Value::Null,
    }
}

/// Whether `new` (a type's current schema) can replace `old` (the committed one) at the same
/// version: every old property is still there with the same schema, and nothing newly required.
/// Added optional properties are compatible; removed, renamed or retyped ones are not.
pub fn compatible(old: &Value, new: &Value) -> Result<(), String> {
    let data = |s: &Value| s["properties"]["data"].clone();
    let defs = |s: &Value| s.get("$defs").cloned().unwrap_or(json!({}));
    object_compatible(&data(old), &data(new), "data")?;
    if let Some(old_defs) = defs(old).as_object() {
        let new_defs = defs(new);
        for (name, d) in old_defs {
            object_compatible(d, &new_defs[name], &format!("$defs/{name}"))?;
        }
    }
    Ok(())
}

fn object_compatible(old: &Value, new: &Value, at: &str) -> Result<(), String> {
    let props = |s: &Value| {
        s.get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    };
    let required = |s: &Value| -> Vec<String> {
        s.get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let (old_props, new_props) = (props(old), props(new));
    for (name, schema) in &old_props {
        match new_props.get(name) {
            None => return Err(format!("{at}.{name} was removed or renamed")),
            Some(s) if shape(s) != shape(schema) => {
                return Err(format!("{at}.{name} changed its type"))
            }
            Some(_) => {}
        }
    }
    let old_required = required(old);
    if let Some(added) = required(new)
        .into_iter()
        .find(|r| !old_required.contains(r))
    {
        return Err(format!("{at}.{added} became required"));
    }
    if old.get("type") != new.get("type") && !old_props.is_empty() {
        return Err(format!("{at} changed its type"));
    }
    Ok(())
}

/// A schema without its prose (descriptions, titles, examples), which may change freely.
fn shape(schema: &Value) -> Value {
    match schema {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "description" | "title" | "example" | "examples")
                })
                .map(|(k, v)| (k.clone(), shape(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(shape).collect()),
        other => other.clone(),
    }
}

/// `docs/events.md`: the envelope, the catalog's table and how to read events, for people.
pub fn markdown(catalog: &[EventTypeDoc]) -> String {
    let mut out = String::from(include_str!("catalog_intro.md"));
    out.push_str("| type | version | meaning | data |\n|---|---|---|---|\n");
    for t in catalog {
        let data = &t.schema["properties"]["data"];
        let required: Vec<&str> = data["required"]
            .as_array()
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let fields: Vec<String> = data["properties"]
            .as_object()
            .map(|p| {
                p.iter()
                    .map(|(k, v)| {
                        let optional = if required.contains(&k.as_str()) {
                            ""
                        } else {
                            "?"
                        };
                        match v.get("description").and_then(Value::as_str) {
                            Some(d) => format!("`{k}`{optional} ({})", d.trim_end_matches('.')),
                            None => format!("`{k}`{optional}"),
                        }
                    })
                    .collect()
            })
            .unwrap_or_else(|| vec!["the tenant's triage settings".to_owned()]);
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            t.name,
            t.version,
            t.description,
            fields.join(", ").replace('|', "\\|")
        ));
    }
    out.push('\n');
    out.push_str(include_str!("catalog_outro.md"));
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_type_has_a_schema_its_example_matches_in_shape() {
        for t in event_catalog() {
            assert_eq!(t.schema["properties"]["type"]["const"], t.name.as_str());
            assert!(t.schema["properties"]["data"].is_object(), "{}", t.name);
            assert!(
                !t.schema.to_string().contains("#/components/"),
                "{}",
                t.name
            );
            // The example's data is a valid payload of its type, apart from placeholder enums.
            assert!(t.example["data"].is_object(), "{}", t.name);
        }
    }

    #[test]
    fn compatibility_allows_optional_additions_only() {
        let schema = |props: Value, required: Value| json!({"properties": {"data": {"type": "object", "properties": props, "required": required}}});
        let old = schema(json!({"a": {"type": "string"}}), json!(["a"]));
        assert!(compatible(&old, &old).is_ok());
        let added_optional = schema(
            json!({"a": {"type": "string"}, "b": {"type": "integer"}}),
            json!(["a"]),
        );
        assert!(compatible(&old, &added_optional).is_ok());
        let added_required = schema(
            json!({"a": {"type": "string"}, "b": {"type": "integer"}}),
            json!(["a", "b"]),
        );
        assert!(compatible(&old, &added_required).is_err());
        let removed = schema(json!({"b": {"type": "string"}}), json!([]));
        assert!(compatible(&old, &removed).unwrap_err().contains("removed"));
        let described = schema(
            json!({"a": {"type": "string", "description": "now documented"}}),
            json!(["a"]),
        );
        assert!(compatible(&old, &described).is_ok());
        let retyped = schema(json!({"a": {"type": "integer"}}), json!(["a"]));
        assert!(compatible(&old, &retyped).unwrap_err().contains("type"));
    }
}
