//! JSON in and out: serde_json values and text to [`Value`] and back, and serde for sessions.
//!
//! Lossless both ways: serde_json runs with `arbitrary_precision`, so a number arrives as its text
//! and we parse it ourselves (`9007199254740993` stays an exact `Int`, `1e400` a `Big` written as
//! it came); `preserve_order` keeps object keys in order; `null` stays a present `Null`. Writing
//! stops at [`MAX_DEPTH`] levels of nesting, which is what serde_json reads back.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Error as _, Serialize, SerializeMap, SerializeSeq, Serializer};

use super::{Number, Value, ValueError, MAX_DEPTH, MAX_VALUE_BYTES};

impl Value {
    /// Converts a parsed JSON document.
    pub fn from_json(json: &serde_json::Value) -> Value {
        match json {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => Value::Number(number_from_json(n)),
            serde_json::Value::String(s) => Value::String(s.as_str().into()),
            serde_json::Value::Array(items) => {
                Value::List(Arc::new(items.iter().map(Value::from_json).collect()))
            }
            serde_json::Value::Object(map) => Value::Dict(Arc::new(
                map.iter()
                    .map(|(k, v)| (Arc::from(k.as_str()), Value::from_json(v)))
                    .collect(),
            )),
        }
    }

    /// Converts a parsed JSON document, reusing its strings where it can.
    pub fn from_json_owned(json: serde_json::Value) -> Value {
        match json {
            serde_json::Value::Array(items) => Value::List(Arc::new(
                items.into_iter().map(Value::from_json_owned).collect(),
            )),
            serde_json::Value::Object(map) => Value::Dict(Arc::new(
                map.into_iter()
                    .map(|(k, v)| (Arc::from(k), Value::from_json_owned(v)))
                    .collect(),
            )),
            serde_json::Value::String(s) => Value::String(s.into()),
            other => Value::from_json(&other),
        }
    }

    /// Parses JSON text (an API response body, `json_parse(s)`).
    /// JSON nested deeper than [`MAX_DEPTH`] is refused like invalid JSON (§9: it is kept as
    /// text, with a warning).
    pub fn parse_json(text: &str) -> Result<Value, serde_json::Error> {
        let value = serde_json::from_str::<serde_json::Value>(text).map(Value::from_json_owned)?;
        if value.nesting_exceeds(MAX_DEPTH) {
            return Err(serde::de::Error::custom(format!(
                "nested more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(value)
    }

    /// The JSON document for this value; fails only past [`MAX_DEPTH`] levels of nesting.
    pub fn to_json(&self) -> Result<serde_json::Value, ValueError> {
        to_json_at(self, 0)
    }

    /// Compact JSON text (`json(v)`, request bodies); fails past [`MAX_DEPTH`] levels or
    /// [`MAX_VALUE_BYTES`] (measured first, so a value that shares one big part many times
    /// fails at once instead of filling the memory).
    pub fn to_json_string(&self) -> Result<String, ValueError> {
        self.measure(MAX_DEPTH, MAX_VALUE_BYTES)?;
        serde_json::to_string(&Bounded::new(self, OnTooDeep::Fail)).map_err(|_| ValueError::TooDeep)
    }
}

fn to_json_at(value: &Value, depth: usize) -> Result<serde_json::Value, ValueError> {
    Ok(match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => serde_json::Value::Number(number_to_json(n)),
        Value::String(s) => serde_json::Value::String(s.to_string()),
        Value::List(_) | Value::Dict(_) if depth >= MAX_DEPTH => return Err(ValueError::TooDeep),
        Value::List(items) => serde_json::Value::Array(
            items
                .iter()
                .map(|v| to_json_at(v, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Value::Dict(map) => serde_json::Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.to_string(), to_json_at(v, depth + 1)?)))
                .collect::<Result<_, ValueError>>()?,
        ),
    })
}

fn number_from_json(n: &serde_json::Number) -> Number {
    if let Some(i) = n.as_i64() {
        return Number::Int(i);
    }
    // serde_json only hands out valid JSON number text, which always parses.
    let text = n.as_str();
    Number::parse(text).unwrap_or_else(|| Number::Big(text.into()))
}

/// The serde_json number with our digits (`Number`'s text is always valid JSON; serde_json spells
/// an exponent `e+400`).
fn number_to_json(n: &Number) -> serde_json::Number {
    match n {
        Number::Int(i) => serde_json::Number::from(*i),
        other => serde_json::Number::from_str(&other.to_string())
            .unwrap_or_else(|_| serde_json::Number::from(0)),
    }
}

/// Writes a List or Dictionary as compact JSON for [`Value`]'s `Display`. Containers nested past
/// [`MAX_DEPTH`] show as `"…"`: display must not fail, and this depth only comes from a runaway
/// loop.
pub(super) fn write_compact(value: &Value, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    // Display must not fail, nor write without end: past the size bound it shows `"…"` (a
    // template checks the size first and reports it).
    if value.shown_size(MAX_VALUE_BYTES).is_err() {
        return f.write_str("\"…\"");
    }
    match serde_json::to_string(&Bounded::new(value, OnTooDeep::Ellipsis)) {
        Ok(text) => f.write_str(&text),
        Err(_) => f.write_str("\"…\""),
    }
}

#[derive(Clone, Copy)]
enum OnTooDeep {
    Fail,
    Ellipsis,
}

/// A value being serialised `depth` levels down: serde gives no context, so the depth bound
/// travels in this wrapper.
struct Bounded<'a> {
    value: &'a Value,
    depth: usize,
    on_too_deep: OnTooDeep,
}

impl<'a> Bounded<'a> {
    fn new(value: &'a Value, on_too_deep: OnTooDeep) -> Bounded<'a> {
        Bounded {
            value,
            depth: 0,
            on_too_deep,
        }
    }

    fn child(&self, value: &'a Value) -> Bounded<'a> {
        Bounded {
            value,
            depth: self.depth + 1,
            on_too_deep: self.on_too_deep,
        }
    }
}

impl Serialize for Bounded<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(n) => n.serialize(s),
            Value::String(text) => s.serialize_str(text),
            Value::List(_) | Value::Dict(_) if self.depth >= MAX_DEPTH => match self.on_too_deep {
                OnTooDeep::Fail => Err(S::Error::custom(ValueError::TooDeep)),
                OnTooDeep::Ellipsis => s.serialize_str("…"),
            },
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items.iter() {
                    seq.serialize_element(&self.child(item))?;
                }
                seq.end()
            }
            Value::Dict(map) => {
                let mut out = s.serialize_map(Some(map.len()))?;
                for (k, v) in map.iter() {
                    out.serialize_entry(&**k, &self.child(v))?;
                }
                out.end()
            }
        }
    }
}

/// As plain JSON (a session stores values this way). Numbers keep every digit with serde_json;
/// other serializers see an `i64` or serde_json's arbitrary-precision number struct.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Bounded::new(self, OnTooDeep::Fail).serialize(s)
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        // Through serde_json's own Value: it alone understands the arbitrary-precision number
        // token serde_json's deserializer produces.
        serde_json::Value::deserialize(d).map(Value::from_json_owned)
    }
}

impl Serialize for Number {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Number::Int(i) => s.serialize_i64(*i),
            // As raw JSON, so the digits go out exactly as we show them (a serde_json::Number
            // would respell `1e400` as `1e+400`).
            other => serde_json::value::RawValue::from_string(other.to_string())
                .map_err(S::Error::custom)?
                .serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Number {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Number, D::Error> {
        match serde_json::Number::deserialize(d) {
            Ok(n) => Ok(number_from_json(&n)),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip_text(text: &str) -> String {
        let v = Value::parse_json(text).expect("valid JSON");
        v.to_json_string().expect("shallow")
    }

    #[test]
    fn big_integers_survive() {
        let v = Value::parse_json("9007199254740993").expect("json");
        assert_eq!(v, Value::Number(Number::Int(9_007_199_254_740_993)));
        assert_eq!(v.to_string(), "9007199254740993");
        assert_eq!(round_trip_text("9007199254740993"), "9007199254740993");
        assert_eq!(
            round_trip_text(
                "[12345678901234567890123456789012345678901, -1e400, 1E+400, 2.50, 1.0]"
            ),
            "[12345678901234567890123456789012345678901,-1e400,1e400,2.5,1]"
        );
        let v = Value::parse_json("1e400").expect("json");
        assert!(matches!(v, Value::Number(Number::Big(_))));
        assert_eq!(v.to_string(), "1e400");
        // serde_json's own Value spells the exponent its way; the number is the same.
        let doc = v.to_json().expect("shallow");
        assert_eq!(doc.to_string(), "1e+400");
        assert_eq!(Value::from_json(&doc), v);
        assert_eq!(Value::from_json(&doc).to_string(), "1e400");
    }

    #[test]
    fn key_order_is_kept() {
        let text = r#"{"z":1,"a":{"y":[true,null],"b":"два"},"m":0.1}"#;
        assert_eq!(round_trip_text(text), text);
        let v = Value::parse_json(text).expect("json");
        assert_eq!(v.to_string(), text);
        let keys: Vec<&str> = v.as_dict().expect("dict").keys().map(|k| &**k).collect();
        assert_eq!(keys, ["z", "a", "m"]);
        assert_eq!(v.to_json().expect("shallow").to_string(), text);
    }

    #[test]
    fn serde_round_trip_of_a_nested_value() {
        let text = r#"{"cart":[{"id":9007199254740993,"price":19.99,"note":null}],"big":1e400,"tiny":-2.5e-300,"ok":true,"empty":{},"s":"a\"b\n"}"#;
        let v = Value::parse_json(text).expect("json");
        let saved = serde_json::to_string(&v).expect("serialize");
        assert_eq!(saved, text);
        let back: Value = serde_json::from_str(&saved).expect("deserialize");
        assert_eq!(back, v);
        assert_eq!(serde_json::to_string(&back).expect("serialize"), text);
        // Null stays present, not missing.
        let note = &back.as_dict().expect("dict")["cart"]
            .as_list()
            .expect("list")[0];
        assert_eq!(
            note.as_dict().expect("dict").get("note"),
            Some(&Value::Null)
        );
        // Inside a larger serde structure, and pretty-printed.
        let pretty = serde_json::to_string_pretty(&vec![v.clone()]).expect("serialize");
        let back: Vec<Value> = serde_json::from_str(&pretty).expect("deserialize");
        assert_eq!(back, vec![v]);
    }

    #[test]
    fn numbers_serialize_on_their_own() {
        for text in ["3", "-2.5", "1e400", "9223372036854775808"] {
            let n = Number::parse(text).expect("number");
            let saved = serde_json::to_string(&n).expect("serialize");
            assert_eq!(saved, text);
            let back: Number = serde_json::from_str(&saved).expect("deserialize");
            assert_eq!(back, n);
        }
    }

    #[test]
    fn nesting_is_bounded_so_output_reads_back() {
        let mut deep = Value::Null;
        for _ in 0..MAX_DEPTH {
            deep = Value::from(vec![deep]);
        }
        let text = deep.to_json_string().expect("at the limit");
        assert_eq!(Value::parse_json(&text).expect("reads back"), deep);
        let too_deep = Value::from(vec![deep.clone()]);
        assert_eq!(too_deep.to_json_string(), Err(ValueError::TooDeep));
        assert_eq!(too_deep.to_json(), Err(ValueError::TooDeep));
        assert!(serde_json::to_string(&too_deep).is_err());
        assert!(too_deep.to_string().contains("\"…\""));
        assert!(Value::parse_json(&format!("[{text}]")).is_err());
    }
}
