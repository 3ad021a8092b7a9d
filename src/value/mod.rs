//! The dynamic value of a running bot (§4): JSON, literals and user text in; typed values with
//! every coercion rule of §6 and their text (§5) and JSON forms out.
//!
//! A [`Value`] is immutable and cheap to clone (containers and strings sit behind `Arc`), so
//! variables, events and sessions share data freely; updating a container in place goes through
//! `Arc::make_mut` (copy on write: [`Value::set_in`]). Submodules:
//! - [`number`] — exact numbers with an `i64` fast path;
//! - [`ops`] — the operators and their coercions (`+`, `==`, `<`, `in`, `like`, …);
//! - `access` — indexing, paths, lengths, slices and in-place updates;
//! - `json` — JSON conversion and serde (lossless, key order kept);
//! - [`error`] — [`ValueError`], the messages a bot author reads.

mod access;
mod digits;
pub mod error;
mod json;
pub mod number;
pub mod ops;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use indexmap::IndexMap;

pub use error::{quoted, unmark, Limit, ValueError, QUOTE_OPEN};
pub use number::Number;

/// A Dictionary: string keys in insertion order.
pub type Map = IndexMap<Arc<str>, Value>;

/// Most elements a List or keys a Dictionary may have once an expression builds it (§6).
pub const MAX_LEN: usize = 100_000;

/// Most bytes a String may have once an expression builds it (§6): 10 MiB.
pub const MAX_STRING_BYTES: usize = 10 * 1024 * 1024;

/// Deepest nesting of Lists and Dictionaries, for everything the interpreter builds, reads
/// (JSON) or writes (§9): well below what serde_json reads back (128 levels), so whatever can
/// be saved, with the session around it, loads again.
pub const MAX_DEPTH: usize = 100;

/// Most bytes a value stored in a variable, a request body, and a whole session may take as
/// JSON (§9): 10 MiB.
pub const MAX_VALUE_BYTES: usize = 10 << 20;

/// A value of the scenario language.
///
/// `PartialEq` is strict structural equality (a Number never equals a String, Dictionaries
/// compare regardless of key order); the language's `==`, which lets `1 == "1"`, is [`ops::eq`].
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// JSON null; also what a missing variable reads as.
    #[default]
    Null,
    Bool(bool),
    Number(Number),
    String(Arc<str>),
    List(Arc<Vec<Value>>),
    Dict(Arc<Map>),
}

impl Value {
    /// A String value.
    pub fn string(s: impl Into<Arc<str>>) -> Value {
        Value::String(s.into())
    }

    /// A String value, refused over [`MAX_STRING_BYTES`].
    pub fn checked_string(s: impl Into<Arc<str>> + AsRef<str>) -> Result<Value, ValueError> {
        check_string_len(s.as_ref().len())?;
        Ok(Value::String(s.into()))
    }

    /// A List value, refused over [`MAX_LEN`] elements.
    pub fn list(items: Vec<Value>) -> Result<Value, ValueError> {
        check_list_len(items.len())?;
        Ok(Value::List(Arc::new(items)))
    }

    /// A Dictionary value, refused over [`MAX_LEN`] keys.
    pub fn dict(map: Map) -> Result<Value, ValueError> {
        check_dict_len(map.len())?;
        Ok(Value::Dict(Arc::new(map)))
    }

    /// An empty List.
    pub fn empty_list() -> Value {
        Value::List(Arc::default())
    }

    /// An empty Dictionary.
    pub fn empty_dict() -> Value {
        Value::Dict(Arc::default())
    }

    /// The name `type(x)` returns: `"string"`, `"number"`, `"dictionary"`, `"list"`, `"boolean"`
    /// or `"null"`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Dict(_) => "dictionary",
        }
    }

    /// Truthiness (§6): `false`, `null`, `0`, `""`, `[]` and `{}` are false; all else is true
    /// (including the String `"0"` and `"false"`).
    #[inline]
    pub fn truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => !n.is_zero(),
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Dict(d) => !d.is_empty(),
        }
    }

    /// Whether Lists and Dictionaries nest more than `limit` levels deep here. Stops as soon
    /// as it knows, and looks only at containers; a container shared many times (`[%l%, %l%]`
    /// in a loop) is looked at once, so the time is linear in the distinct containers.
    #[inline]
    pub fn nesting_exceeds(&self, limit: usize) -> bool {
        // Scalars, the common case of every `set`, answer without a call.
        match self {
            Value::List(_) | Value::Dict(_) => {
                matches!(self.measure(limit, usize::MAX), Err(ValueError::TooDeep))
            }
            _ => false,
        }
    }

    /// The size of the value as compact JSON (strings counted without escapes), checking on the
    /// way that containers nest at most `max_depth` levels and that the size stays within
    /// `max_bytes`. Linear in the distinct containers: one shared many times is measured once.
    pub fn measure(&self, max_depth: usize, max_bytes: usize) -> Result<usize, ValueError> {
        self.measure_with(max_depth, max_bytes, false)
    }

    /// [`Value::measure`] of the value as `Display` shows it: containers past [`MAX_DEPTH`]
    /// count as `"…"` instead of failing.
    pub fn shown_size(&self, max_bytes: usize) -> Result<usize, ValueError> {
        self.measure_with(MAX_DEPTH, max_bytes, true)
    }

    fn measure_with(
        &self,
        max_depth: usize,
        max_bytes: usize,
        clip: bool,
    ) -> Result<usize, ValueError> {
        match self {
            Value::List(_) | Value::Dict(_) => Measure {
                memo: rustc_hash::FxHashMap::default(),
                max_depth,
                max_bytes,
                clip,
            }
            .walk(self, 0)
            .map(|(bytes, _)| bytes),
            scalar => Ok(scalar_bytes(scalar)),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The text, if this is a String.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The number, if this is a Number (no coercion; see [`Value::to_number`]).
    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            _ => None,
        }
    }

    /// The elements, if this is a List.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The entries, if this is a Dictionary.
    pub fn as_dict(&self) -> Option<&Map> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// The number this value stands for in arithmetic: a Number, or a String holding one
    /// (surrounding spaces ignored). Everything else is `None`.
    #[inline]
    pub fn to_number(&self) -> Option<Number> {
        match self {
            Value::Number(n) => Some(n.clone()),
            Value::String(s) => Number::parse(s),
            _ => None,
        }
    }

    /// The value as text (§5): a String as is, a Number in shortest form, `true`/`false`, Null
    /// as `""`, a List or Dictionary as compact JSON. Borrows when it can.
    pub fn render(&self) -> Cow<'_, str> {
        match self {
            Value::String(s) => Cow::Borrowed(s),
            Value::Null => Cow::Borrowed(""),
            Value::Bool(true) => Cow::Borrowed("true"),
            Value::Bool(false) => Cow::Borrowed("false"),
            other => Cow::Owned(other.to_string()),
        }
    }
}

/// The text form of §5 (see [`Value::render`]).
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Number(n) => fmt::Display::fmt(n, f),
            Value::String(s) => f.write_str(s),
            Value::List(_) | Value::Dict(_) => json::write_compact(self, f),
        }
    }
}

/// JSON bytes of a scalar: strings without escapes, numbers as shown.
fn scalar_bytes(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Bool(true) => 4,
        Value::Bool(false) => 5,
        Value::Number(Number::Int(i)) => {
            i.unsigned_abs().checked_ilog10().unwrap_or(0) as usize + 2
        }
        Value::Number(n) => n.to_string().len(),
        Value::String(s) => s.len() + 2,
        Value::List(_) | Value::Dict(_) => 0,
    }
}

/// One [`Value::measure`]: sizes and heights of the shared containers seen so far.
struct Measure {
    memo: rustc_hash::FxHashMap<usize, (usize, usize)>,
    max_depth: usize,
    max_bytes: usize,
    /// Past `max_depth` a container counts as `"…"` rather than failing.
    clip: bool,
}

impl Measure {
    /// (bytes, height) of a value found `depth` containers down.
    fn walk(&mut self, v: &Value, depth: usize) -> Result<(usize, usize), ValueError> {
        let (key, shared) = match v {
            Value::List(l) => (
                Arc::as_ptr(l) as *const () as usize,
                Arc::strong_count(l) > 1,
            ),
            Value::Dict(d) => (
                Arc::as_ptr(d) as *const () as usize,
                Arc::strong_count(d) > 1,
            ),
            scalar => return Ok((scalar_bytes(scalar), 0)),
        };
        if depth >= self.max_depth {
            if self.clip {
                // Reaches the limit: the containers above are not memoized (their size
                // depends on how deep they are met).
                return Ok((5, self.max_depth));
            }
            return Err(ValueError::TooDeep);
        }
        if shared {
            if let Some(&(bytes, height)) = self.memo.get(&key) {
                if depth + height > self.max_depth && !self.clip {
                    return Err(ValueError::TooDeep);
                }
                return Ok((bytes, height));
            }
        }
        let mut bytes = 2usize;
        let mut height = 0;
        let mut add = |this: &mut Measure, extra: usize, child: &Value| {
            let (b, h) = this.walk(child, depth + 1)?;
            bytes = bytes.saturating_add(b + extra);
            height = height.max(h);
            if bytes > this.max_bytes {
                return Err(ValueError::TooLarge(Limit::Value));
            }
            Ok(())
        };
        match v {
            Value::List(items) => {
                for item in items.iter() {
                    add(self, 1, item)?;
                }
            }
            Value::Dict(map) => {
                for (k, item) in map.iter() {
                    add(self, k.len() + 4, item)?;
                }
            }
            _ => {}
        }
        let result = (bytes, height + 1);
        if shared && !(self.clip && depth + height + 1 >= self.max_depth) {
            self.memo.insert(key, result);
        }
        Ok(result)
    }
}

/// Refuses a List longer than [`MAX_LEN`].
#[inline]
pub fn check_list_len(len: usize) -> Result<(), ValueError> {
    if len > MAX_LEN {
        Err(ValueError::TooLarge(Limit::List))
    } else {
        Ok(())
    }
}

/// Refuses a Dictionary with more than [`MAX_LEN`] keys.
#[inline]
pub fn check_dict_len(len: usize) -> Result<(), ValueError> {
    if len > MAX_LEN {
        Err(ValueError::TooLarge(Limit::Dict))
    } else {
        Ok(())
    }
}

/// Refuses a String over [`MAX_STRING_BYTES`].
#[inline]
pub fn check_string_len(bytes: usize) -> Result<(), ValueError> {
    if bytes > MAX_STRING_BYTES {
        Err(ValueError::TooLarge(Limit::String))
    } else {
        Ok(())
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Number(Number::Int(i))
    }
}

impl From<i32> for Value {
    fn from(i: i32) -> Value {
        Value::Number(Number::Int(i64::from(i)))
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Value {
        Value::Number(Number::from(n))
    }
}

impl From<Number> for Value {
    fn from(n: Number) -> Value {
        Value::Number(n)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.into())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s.into())
    }
}

impl From<Arc<str>> for Value {
    fn from(s: Arc<str>) -> Value {
        Value::String(s)
    }
}

impl From<Vec<Value>> for Value {
    /// Unchecked: use [`Value::list`] where the length comes from input.
    fn from(items: Vec<Value>) -> Value {
        Value::List(Arc::new(items))
    }
}

impl From<Map> for Value {
    /// Unchecked: use [`Value::dict`] where the size comes from input.
    fn from(map: Map) -> Value {
        Value::Dict(Arc::new(map))
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_small() {
        // Every variable, list element and stack slot is a Value: keep it at three words.
        assert!(
            std::mem::size_of::<Value>() <= 24,
            "{}",
            std::mem::size_of::<Value>()
        );
        assert!(std::mem::size_of::<Number>() <= 24);
        assert!(std::mem::size_of::<ValueError>() <= 16);
        assert!(std::mem::size_of::<Result<Value, ValueError>>() <= 24);
    }

    #[test]
    fn type_names() {
        let cases = [
            (Value::from("x"), "string"),
            (Value::from(1), "number"),
            (Value::empty_dict(), "dictionary"),
            (Value::empty_list(), "list"),
            (Value::Bool(true), "boolean"),
            (Value::Null, "null"),
        ];
        for (v, name) in cases {
            assert_eq!(v.type_name(), name);
        }
    }

    #[test]
    fn truthiness_table() {
        let n = |t: &str| Value::Number(Number::parse(t).expect("number"));
        let falsy = [
            Value::Bool(false),
            Value::Null,
            n("0"),
            n("0.0"),
            Value::from(""),
            Value::empty_list(),
            Value::empty_dict(),
        ];
        for v in falsy {
            assert!(!v.truthy(), "{v:?}");
        }
        let truthy = [
            Value::Bool(true),
            n("1"),
            n("-0.5"),
            n("1e400"),
            n("1e-400"),
            Value::from("0"),
            Value::from("false"),
            Value::from(" "),
            Value::from(vec![Value::Null]),
            Value::from(Map::from_iter([(Arc::from("a"), Value::Null)])),
        ];
        for v in truthy {
            assert!(v.truthy(), "{v:?}");
        }
    }

    #[test]
    fn rendering_table() {
        let n = |t: &str| Value::Number(Number::parse(t).expect("number"));
        let map = Map::from_iter([
            (Arc::from("b"), Value::from(1)),
            (
                Arc::from("a"),
                Value::from(vec![Value::from("x\"y"), Value::Null]),
            ),
        ]);
        let cases = [
            (n("3"), "3"),
            (n("2.5"), "2.5"),
            (n("3.0"), "3"),
            (n("1e3"), "1000"),
            (n("-0.5"), "-0.5"),
            (n("2.50"), "2.5"),
            (n("1e400"), "1e400"),
            (Value::from("as is %x%"), "as is %x%"),
            (Value::Bool(true), "true"),
            (Value::Bool(false), "false"),
            (Value::Null, ""),
            (Value::from(vec![n("1"), Value::from("два")]), "[1,\"два\"]"),
            (Value::from(map), r#"{"b":1,"a":["x\"y",null]}"#),
            (Value::empty_dict(), "{}"),
        ];
        for (v, text) in cases {
            assert_eq!(v.to_string(), text);
            assert_eq!(v.render(), text);
        }
    }

    #[test]
    fn bounds() {
        assert_eq!(
            Value::list(vec![Value::Null; MAX_LEN + 1]),
            Err(ValueError::TooLarge(Limit::List))
        );
        assert!(Value::list(vec![Value::Null; MAX_LEN]).is_ok());
        let big = "x".repeat(MAX_STRING_BYTES + 1);
        assert_eq!(
            Value::checked_string(big.as_str()),
            Err(ValueError::TooLarge(Limit::String))
        );
        assert_eq!(
            ValueError::TooLarge(Limit::String).to_string(),
            "too large: a string may be at most 10 MiB long"
        );
        let map: Map = (0..=MAX_LEN)
            .map(|i| (Arc::from(i.to_string()), Value::Null))
            .collect();
        assert_eq!(Value::dict(map), Err(ValueError::TooLarge(Limit::Dict)));
    }

    #[test]
    fn to_number_coerces_numeric_strings_only() {
        assert_eq!(Value::from(" 21 ").to_number(), Some(Number::Int(21)));
        assert_eq!(Value::from("abc").to_number(), None);
        assert_eq!(Value::from("").to_number(), None);
        assert_eq!(Value::Bool(true).to_number(), None);
        assert_eq!(Value::Null.to_number(), None);
    }
}
