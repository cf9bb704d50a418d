//! The JSON Schema of the native matrix file, derived from its types.
//!
//! Editors read it through the `# yaml-language-server: $schema=` line;
//! `strata schema` prints it, and `schema/strata.schema.json` is a copy kept
//! current by a test. The schema describes the file's shape; the checks that
//! need the whole file (axes named by an exclusion, templates that render)
//! remain the parser's.

use super::native::NativeConfig;

/// Where the repository ships the schema, relative to its root.
pub const SHIPPED_PATH: &str = "schema/strata.schema.json";

/// The schema of `strata.yml`, as a JSON value.
pub fn native() -> serde_json::Value {
    let mut schema = schemars::generate::SchemaSettings::draft07()
        .into_generator()
        .into_root_schema_for::<NativeConfig>();
    schema.insert("title".into(), "strata matrix file (strata.yml)".into());
    let mut value = schema.to_value();
    drop_null_defaults(&mut value);
    value
}

/// Removes `"default": null`, which says nothing an absent key does not.
fn drop_null_defaults(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            if map.get("default").is_some_and(|d| d.is_null()) {
                map.remove("default");
            }
            map.values_mut().for_each(drop_null_defaults);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_null_defaults),
        _ => {}
    }
}

/// The schema as the shipped file holds it: pretty JSON and a final newline.
pub fn native_text() -> String {
    let mut text = serde_json::to_string_pretty(&native()).expect("a schema serializes");
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_every_top_level_key_and_refuses_others() {
        let schema = native();
        let props = schema["properties"].as_object().unwrap();
        for key in super::super::native::TOP_KEYS {
            assert!(props.contains_key(*key), "{key} missing from the schema");
        }
        assert_eq!(props.len(), super::super::native::TOP_KEYS.len());
        assert_eq!(schema["additionalProperties"], false);
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(required, ["feed", "os", "image"]);
    }
}
