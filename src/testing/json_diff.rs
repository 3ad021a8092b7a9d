//! JSON bodies in golden tests compare by value, as JSON: `13.90` equals `13.9`, `2.0` equals
//! `2`, and the order of an object's keys does not matter. When they differ, the actual body is
//! first aligned with the expected one — its keys put in the expected order, its numbers that
//! are equal in value written as expected — so the diff shows only real differences.

use serde_json::Value as Json;

use crate::value::{ops, Number, Value};

/// `got`, aligned with `want` as far as they agree; equal to `want` when they are equal as
/// JSON values.
pub fn align(got: Json, want: &Json) -> Json {
    match (got, want) {
        (Json::Number(a), Json::Number(b)) if same_number(&a, b) => Json::Number(b.clone()),
        (Json::Object(mut got), Json::Object(want)) => {
            let mut out = serde_json::Map::with_capacity(got.len());
            for (k, w) in want {
                if let Some(g) = got.shift_remove(k) {
                    out.insert(k.clone(), align(g, w));
                }
            }
            out.extend(got);
            Json::Object(out)
        }
        (Json::Array(got), Json::Array(want)) => Json::Array(
            got.into_iter()
                .enumerate()
                .map(|(i, g)| match want.get(i) {
                    Some(w) => align(g, w),
                    None => g,
                })
                .collect(),
        ),
        (got, _) => got,
    }
}

fn same_number(a: &serde_json::Number, b: &serde_json::Number) -> bool {
    match (Number::parse(a.as_str()), Number::parse(b.as_str())) {
        (Some(x), Some(y)) => ops::eq(&Value::Number(x), &Value::Number(y)),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(text: &str) -> Json {
        serde_json::from_str(text).expect("JSON")
    }

    #[test]
    fn equal_values_align_to_the_expected_text() {
        let want = j(r#"{"price": 13.90, "n": 2, "items": [{"a": 1, "b": 2}]}"#);
        let got = j(r#"{"items": [{"b": 2.0, "a": 1}], "n": 2.0, "price": 13.9}"#);
        assert_eq!(align(got, &want), want);
    }

    #[test]
    fn only_real_differences_remain() {
        let want = j(r#"{"a": 1, "b": "x", "c": 3}"#);
        let got = j(r#"{"c": 3.0, "b": "y", "a": 1, "d": true}"#);
        let aligned = align(got, &want);
        assert_eq!(
            serde_json::to_string(&aligned).expect("text"),
            r#"{"a":1,"b":"y","c":3,"d":true}"#
        );
        assert_ne!(aligned, want);
    }
}
