//! Integers written with a fraction of zero (`image_size = [224.0, 224.0]`, `units =
//! 1024.0`) are taken as integers: Keras takes `Dense(1024.0)`, and a JSON Schema's
//! `integer` matches 224.0, so validate and the schema agree on them. `4.5` stays an error.

use serde::de::DeserializeOwned;
use serde_path_to_error::{Error, Path, Segment};

/// `value` as a `T`, each float with no fraction that stands where `T` has an integer
/// taken as that integer. `value` is a pipeline file's TOML, or a sweep trial's JSON.
pub(super) fn from_value<V: Tree, T: DeserializeOwned>(mut value: V) -> Result<T, Error<V::Error>> {
    loop {
        let error = match value.clone().parse::<T>() {
            Ok(parsed) => return Ok(parsed),
            Err(error) => error,
        };
        // serde names the float it could not take as an integer; the path leads to it, or
        // (through an internally tagged enum such as a head layer) to a table holding it.
        let message = error.inner().to_string();
        let float = message
            .strip_prefix("invalid type: floating point `")
            .and_then(|rest| rest.split('`').next())
            .and_then(|number| number.parse::<f64>().ok());
        // Each pass turns at least one float into an integer, so the loop ends.
        let converted =
            float.is_some_and(|float| deepest(&mut value, error.path()).make_integers(float) > 0);
        if !converted {
            return Err(error);
        }
    }
}

/// A parsed document: TOML's or JSON's value tree.
pub(super) trait Tree: Clone {
    type Error: std::error::Error;
    fn parse<T: DeserializeOwned>(self) -> Result<T, Error<Self::Error>>;
    fn child(&mut self, segment: &Segment) -> Option<&mut Self>;
    /// Turns every float equal to `float` with no fraction in this tree into an integer;
    /// returns how many. Elsewhere than at the failing key this changes nothing: a float
    /// key takes an integer as well.
    fn make_integers(&mut self, float: f64) -> usize;
}

/// The deepest value along `path` that the tree has.
fn deepest<'a, V: Tree>(value: &'a mut V, path: &Path) -> &'a mut V {
    let mut node = value;
    for segment in path {
        if matches!(segment, Segment::Enum { .. }) {
            continue;
        }
        if node.child(segment).is_none() {
            break;
        }
        node = node.child(segment).expect("checked above");
    }
    node
}

/// `float` as an integer, when it has no fraction and fits an `i64`.
fn whole(float: f64) -> Option<i64> {
    (float.fract() == 0.0 && float.abs() < 2f64.powi(63)).then_some(float as i64)
}

impl Tree for toml::Value {
    type Error = toml::de::Error;

    fn parse<T: DeserializeOwned>(self) -> Result<T, Error<Self::Error>> {
        serde_path_to_error::deserialize(self)
    }

    fn child(&mut self, segment: &Segment) -> Option<&mut Self> {
        match segment {
            Segment::Seq { index } => self.get_mut(*index),
            Segment::Map { key } => self.get_mut(key.as_str()),
            Segment::Enum { .. } | Segment::Unknown => None,
        }
    }

    fn make_integers(&mut self, float: f64) -> usize {
        match self {
            toml::Value::Float(value) if *value == float => match whole(float) {
                Some(integer) => {
                    *self = toml::Value::Integer(integer);
                    1
                }
                None => 0,
            },
            toml::Value::Array(items) => {
                items.iter_mut().map(|item| item.make_integers(float)).sum()
            }
            toml::Value::Table(table) => table
                .iter_mut()
                .map(|(_, item)| item.make_integers(float))
                .sum(),
            _ => 0,
        }
    }
}

impl Tree for serde_json::Value {
    type Error = serde_json::Error;

    fn parse<T: DeserializeOwned>(self) -> Result<T, Error<Self::Error>> {
        serde_path_to_error::deserialize(self)
    }

    fn child(&mut self, segment: &Segment) -> Option<&mut Self> {
        match segment {
            Segment::Seq { index } => self.get_mut(*index),
            Segment::Map { key } => self.get_mut(key.as_str()),
            Segment::Enum { .. } | Segment::Unknown => None,
        }
    }

    fn make_integers(&mut self, float: f64) -> usize {
        match self {
            serde_json::Value::Number(number)
                if number.as_f64() == Some(float) && number.is_f64() =>
            {
                match whole(float) {
                    Some(integer) => {
                        *self = serde_json::Value::from(integer);
                        1
                    }
                    None => 0,
                }
            }
            serde_json::Value::Array(items) => {
                items.iter_mut().map(|item| item.make_integers(float)).sum()
            }
            serde_json::Value::Object(map) => {
                map.values_mut().map(|item| item.make_integers(float)).sum()
            }
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::types::{DataSpec, HeadLayerSpec};

    #[test]
    fn whole_floats_are_integers_and_fractions_are_refused() {
        let data: toml::Value = toml::from_str(
            "train = \"t\"\nvalidation = \"v\"\nimage_size = [224.0, 160.0]\nbatch_size = 8.0",
        )
        .unwrap();
        let parsed: DataSpec = from_value(data).unwrap();
        assert_eq!(parsed.image_size, [224, 160]);
        assert_eq!(parsed.batch_size, 8);
        // Through an internally tagged enum, whose errors have no path inside it.
        let dense: toml::Value = toml::from_str("type = \"dense\"\nunits = 1024.0").unwrap();
        let parsed: HeadLayerSpec = from_value(dense).unwrap();
        assert!(matches!(parsed, HeadLayerSpec::Dense { units: 1024, .. }));
        let half = serde_json::json!({ "train": "t", "image_size": [224, 224], "batch_size": 4.5 });
        let error = from_value::<_, DataSpec>(half).unwrap_err();
        assert_eq!(error.path().to_string(), "batch_size");
        assert!(error.inner().to_string().contains("floating point `4.5`"));
    }
}
