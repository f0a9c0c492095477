//! The flat `key path -> value` view of a spec that runs are compared by
//! (`head.2.rate`, `train.optimizer.lr`).

use std::collections::BTreeMap;

use serde_json::Value;

use super::PipelineSpec;

/// Flattens nested tables and arrays of tables into dotted key paths; arrays of plain values
/// (such as `data.image_size`) stay whole. `[executor]` is left out: where a run trained
/// does not change what it trained.
pub fn flatten_params(spec: &PipelineSpec) -> BTreeMap<String, Value> {
    let mut params = BTreeMap::new();
    let spec = PipelineSpec {
        executor: None,
        ..spec.clone()
    };
    let value = serde_json::to_value(spec).expect("a spec always serializes to JSON");
    flatten_into(&mut params, String::new(), value);
    params
}

fn flatten_into(params: &mut BTreeMap<String, Value>, prefix: String, value: Value) {
    let join = |key: &str| {
        if prefix.is_empty() {
            key.to_string()
        } else {
            format!("{prefix}.{key}")
        }
    };
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                flatten_into(params, join(&key), value);
            }
        }
        Value::Array(items) if items.iter().any(serde_json::Value::is_object) => {
            for (index, item) in items.into_iter().enumerate() {
                flatten_into(params, join(&index.to_string()), item);
            }
        }
        Value::Null => {}
        other => {
            params.insert(prefix, other);
        }
    }
}
