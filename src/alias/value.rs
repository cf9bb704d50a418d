//! Turning JSON facts into template values.
//!
//! minijinja 3 takes contexts as its own `Value`, and its serde bridge is an
//! optional feature; facts are plain JSON, so a direct conversion is short
//! and keeps object keys and number types exactly as the facts had them.

use std::collections::BTreeMap;

use minijinja::Value;

/// Converts a JSON value (usually an object of facts) into a template value.
pub fn from_json(json: &serde_json::Value) -> Value {
    match json {
        serde_json::Value::Null => Value::from(()),
        serde_json::Value::Bool(b) => Value::from(*b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        serde_json::Value::String(s) => Value::from(s.as_str()),
        serde_json::Value::Array(items) => {
            Value::from(items.iter().map(from_json).collect::<Vec<_>>())
        }
        serde_json::Value::Object(map) => Value::from(
            map.iter()
                .map(|(k, v)| (k.clone(), from_json(v)))
                .collect::<BTreeMap<String, Value>>(),
        ),
    }
}

/// True when the dotted `path` (`os.name`) leads to a value in `json`;
/// used to name the missing field when a template hits strict undefined.
pub fn has_path(json: &serde_json::Value, path: &str) -> bool {
    path.split('.')
        .try_fold(json, |at, key| at.get(key))
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn converts_nested_objects() {
        let facts =
            json!({"os": {"name": "jessie", "default": true}, "major": 4, "codename": null});
        let value = from_json(&facts);
        let env = minijinja::Environment::new();
        let out = env
            .render_str(
                "{{ os.name }}:{{ major + 1 }}:{{ os.default }}:{{ codename is none }}",
                value,
            )
            .unwrap();
        // minijinja prints booleans the Jinja way.
        assert_eq!(out, "jessie:5:True:True");
    }

    #[test]
    fn finds_paths() {
        let facts = json!({"os": {"name": "jessie"}});
        assert!(has_path(&facts, "os.name"));
        assert!(!has_path(&facts, "os.codename"));
        assert!(!has_path(&facts, "variant"));
    }
}
