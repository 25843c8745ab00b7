//! JSON parsing that refuses duplicate object keys anywhere in the document. serde_json keeps
//! the last of two equal keys, so `{"risk":{"score":95},"risk":{"score":1}}` would quietly pick
//! a lighter workflow than a reader of the body (or another parser, keeping the first) expects.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Parses `bytes` like `serde_json::from_slice::<Value>`, but a repeated key is an error.
pub fn from_slice(bytes: &[u8]) -> serde_json::Result<Value> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = de.deserialize_any(Strict)?;
    de.end()?;
    Ok(value)
}

/// Builds a [`Value`] like serde_json's own visitor, checking each map's keys as they come.
struct Strict;

impl<'de> de::DeserializeSeed<'de> for Strict {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Strict {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key `{key}`")));
            }
            let value = map.next_value_seed(Strict)?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

#[cfg(test)]
mod tests {
    use super::from_slice;
    use serde_json::json;

    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for doc in [
            r#"{"a":1,"a":2}"#,
            r#"{"risk":{"score":95},"risk":{"score":1}}"#,
            r#"{"x":[{"k":1,"k":1}]}"#,
            r#"{"a":1,"\u0061":2}"#,
        ] {
            let e = from_slice(doc.as_bytes()).unwrap_err().to_string();
            assert!(e.contains("duplicate key"), "{doc}: {e}");
        }
    }

    #[test]
    fn other_documents_parse_as_serde_json_does() {
        for doc in [
            r#"{"a":{"b":[1,-2,3.5,null,true,"s"]},"b":{"a":1}}"#,
            "[]",
            "7",
            r#""x""#,
        ] {
            let ours = from_slice(doc.as_bytes()).unwrap();
            let theirs: serde_json::Value = serde_json::from_str(doc).unwrap();
            assert_eq!(ours, theirs);
        }
        assert!(from_slice(b"{} x").is_err());
        assert_eq!(from_slice(b" {\"a\": 1} ").unwrap(), json!({"a": 1}));
    }
}
