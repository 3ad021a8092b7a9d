//! Reaching into values: keys, indexes, `%a.b.0%` paths, lengths and slices (characters for
//! Strings), and copy-on-write updates for `set %d%[k] = v` and `unset`.
//!
//! Reading something that is not there gives `None` (the evaluator turns it into Null and a
//! `warning` event, §4); only a question that makes no sense for the types is an error
//! (`5["a"]`, `%list%["x"]`, `%list%[1.5]`).

use std::borrow::Cow;
use std::sync::Arc;

use super::error::{Mismatch, Op, Operand};
use super::{check_dict_len, Number, Value, ValueError};

impl Value {
    /// The length for `len(x)`: characters (Unicode scalar values) of a String, elements of a
    /// List, keys of a Dictionary. Other types are an error.
    pub fn length(&self) -> Result<usize, ValueError> {
        match self {
            Value::String(s) => Ok(s.chars().count()),
            Value::List(items) => Ok(items.len()),
            Value::Dict(map) => Ok(map.len()),
            _ => Err(ValueError::operand(Op::Len, self)),
        }
    }

    /// List element `i`, counting from the end when negative (`-1` is the last), as in Python.
    pub fn get_index(&self, i: i64) -> Option<&Value> {
        match self {
            Value::List(items) => resolve_index(i, items.len()).map(|i| &items[i]),
            _ => None,
        }
    }

    /// Dictionary entry `key`.
    pub fn get_key(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(map) => map.get(key),
            _ => None,
        }
    }

    /// One segment of a variable path (§4): a segment of ASCII digits indexes a List; any
    /// segment is a key of a Dictionary (so `%d.0%` reads key `"0"` of a Dictionary).
    pub fn get_segment(&self, segment: &str) -> Option<&Value> {
        match self {
            Value::Dict(map) => map.get(segment),
            Value::List(items) => {
                if segment.is_empty() || !segment.bytes().all(|b| b.is_ascii_digit()) {
                    return None;
                }
                segment.parse::<usize>().ok().and_then(|i| items.get(i))
            }
            _ => None,
        }
    }

    /// The value at a path of segments (`body.items.0.name` without the variable name).
    pub fn get_path<S: AsRef<str>>(&self, segments: &[S]) -> Option<&Value> {
        segments
            .iter()
            .try_fold(self, |v, seg| v.get_segment(seg.as_ref()))
    }

    /// `x[key]` and `x.key` in expressions. A List or String takes a whole-number index (a
    /// Number or a numeric String; negative counts from the end) and a String gives the
    /// character there; a Dictionary takes a String key (a Number key as its text). `None` when
    /// nothing is there, including indexing Null (a missing value stays missing).
    pub fn index(&self, key: &Value) -> Result<Option<Value>, ValueError> {
        match self {
            Value::Null => Ok(None),
            Value::Dict(map) => {
                let k = dict_key(key).ok_or_else(|| ValueError::operands(Op::Index, self, key))?;
                Ok(map.get(&*k).cloned())
            }
            Value::List(items) => {
                let i = list_index("list", key)?;
                Ok(resolve_index(i, items.len()).map(|i| items[i].clone()))
            }
            Value::String(s) => {
                let i = list_index("string", key)?;
                let found = if i >= 0 {
                    usize::try_from(i).ok().and_then(|i| s.chars().nth(i))
                } else {
                    usize::try_from(-(i + 1))
                        .ok()
                        .and_then(|i| s.chars().rev().nth(i))
                };
                Ok(found.map(|c| Value::String(c.to_string().into())))
            }
            _ => Err(ValueError::operands(Op::Index, self, key)),
        }
    }

    /// `slice(x, from, to)` and `x[from:to]`: Python's rules — negative bounds count from the
    /// end, bounds past either end are clamped, an empty range gives an empty result. Strings
    /// are sliced by characters.
    pub fn slice(&self, from: Option<i64>, to: Option<i64>) -> Result<Value, ValueError> {
        match self {
            Value::List(items) => {
                let (start, end) = slice_bounds(from, to, items.len());
                Ok(Value::List(Arc::new(items[start..end].to_vec())))
            }
            Value::String(s) => {
                let len = s.chars().count();
                let (start, end) = slice_bounds(from, to, len);
                let byte = |chars: usize| s.char_indices().nth(chars).map_or(s.len(), |(b, _)| b);
                let (b0, b1) = (byte(start), byte(end));
                Ok(Value::String(s[b0..b1].into()))
            }
            _ => Err(ValueError::operand(Op::Slice, self)),
        }
    }

    /// `x[from:to:step]` with Python's rules: every part optional, negative indexes count from
    /// the end, a negative step walks backwards (`[::-1]` reverses); a step of 0 is an error.
    /// Strings are sliced by character.
    pub fn slice_step(
        &self,
        from: Option<i64>,
        to: Option<i64>,
        step: Option<i64>,
    ) -> Result<Value, ValueError> {
        let step = step.unwrap_or(1);
        if step == 1 {
            return self.slice(from, to);
        }
        if step == 0 {
            return Err(ValueError::SliceStep);
        }
        let chars: Vec<char> = match self {
            Value::String(s) => s.chars().collect(),
            _ => Vec::new(),
        };
        let len = match self {
            Value::List(items) => items.len(),
            Value::String(_) => chars.len(),
            _ => return Err(ValueError::operand(Op::Slice, self)),
        };
        let picked = step_indices(from, to, step, len);
        Ok(match self {
            Value::List(items) => Value::List(Arc::new(picked.map(|i| items[i].clone()).collect())),
            _ => Value::String(picked.map(|i| chars[i]).collect::<String>().into()),
        })
    }

    /// Assigns `value` at `path` below this value: `set %cart%[%item%] = 1`,
    /// `set %profile.name% = …`. Keys and indexes are read as by [`Value::index`]. Missing
    /// Dictionaries on the way (and a Null being assigned into) are created; a List index must
    /// exist. Shared containers are copied first (`Arc::make_mut`), so other holders of the old
    /// value never see the change.
    pub fn set_in(&mut self, path: &[Value], value: Value) -> Result<(), ValueError> {
        let Some((key, rest)) = path.split_first() else {
            *self = value;
            return Ok(());
        };
        if self.is_null() {
            *self = Value::empty_dict();
        }
        let slot = match self {
            Value::Dict(map) => {
                let Some(k) = dict_key(key) else {
                    return Err(ValueError::operands(Op::Index, self, key));
                };
                if !map.contains_key(&*k) {
                    check_dict_len(map.len() + 1)?;
                }
                Arc::make_mut(map)
                    .entry(Arc::from(&*k))
                    .or_insert(Value::Null)
            }
            Value::List(items) => {
                let i = list_index("list", key)?;
                let len = items.len();
                let Some(at) = resolve_index(i, len) else {
                    return Err(ValueError::IndexOutOfRange {
                        index: i,
                        len: u32::try_from(len).unwrap_or(u32::MAX),
                    });
                };
                &mut Arc::make_mut(items)[at]
            }
            _ => return Err(ValueError::operands(Op::Index, self, key)),
        };
        slot.set_in(rest, value)
    }

    /// Deletes what `path` points at (`unset %d.key%`): a Dictionary key (the others keep their
    /// order) or a List element. Returns what was removed; a missing target is `Ok(None)`.
    pub fn remove_in(&mut self, path: &[Value]) -> Result<Option<Value>, ValueError> {
        let Some((key, rest)) = path.split_first() else {
            return Ok(Some(std::mem::take(self)));
        };
        if !rest.is_empty() {
            let child = match self {
                Value::Null => return Ok(None),
                Value::Dict(map) => {
                    let Some(k) = dict_key(key) else {
                        return Err(ValueError::operands(Op::Index, self, key));
                    };
                    if !map.contains_key(&*k) {
                        return Ok(None);
                    }
                    Arc::make_mut(map).get_mut(&*k)
                }
                Value::List(items) => {
                    let i = list_index("list", key)?;
                    match resolve_index(i, items.len()) {
                        Some(at) => Arc::make_mut(items).get_mut(at),
                        None => return Ok(None),
                    }
                }
                _ => return Err(ValueError::operands(Op::Index, self, key)),
            };
            return match child {
                Some(child) => child.remove_in(rest),
                None => Ok(None),
            };
        }
        match self {
            Value::Null => Ok(None),
            Value::Dict(map) => {
                let Some(k) = dict_key(key) else {
                    return Err(ValueError::operands(Op::Index, self, key));
                };
                if !map.contains_key(&*k) {
                    return Ok(None);
                }
                Ok(Arc::make_mut(map).shift_remove(&*k))
            }
            Value::List(items) => {
                let i = list_index("list", key)?;
                Ok(resolve_index(i, items.len()).map(|at| Arc::make_mut(items).remove(at)))
            }
            _ => Err(ValueError::operands(Op::Index, self, key)),
        }
    }
}

/// A Dictionary key from a key value: a String, or a Number as its text.
fn dict_key(key: &Value) -> Option<Cow<'_, str>> {
    match key {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// A List or String index from a key value: a whole Number or a String holding one. An integer
/// beyond `i64` is simply out of range. `container` is the type named in the error (given as a
/// name so callers may hold the container mutably).
fn list_index(container: &'static str, key: &Value) -> Result<i64, ValueError> {
    let mismatch = || {
        ValueError::Operands(Box::new(Mismatch {
            op: Op::Index,
            left: Operand {
                type_name: container,
                quote: None,
            },
            right: Some(Operand::of(key)),
        }))
    };
    let n: Cow<'_, Number> = match key {
        Value::Number(n) => Cow::Borrowed(n),
        Value::String(s) => Cow::Owned(Number::parse(s).ok_or_else(mismatch)?),
        _ => return Err(mismatch()),
    };
    if !n.is_integer() {
        return Err(ValueError::NotAnIndex(Box::new(n.into_owned())));
    }
    Ok(n.to_i64()
        .unwrap_or(if n.is_negative() { i64::MIN } else { i64::MAX }))
}

/// Position `i` of `len` elements, negative counting from the end.
fn resolve_index(i: i64, len: usize) -> Option<usize> {
    let len = i128::try_from(len).ok()?;
    let at = if i < 0 {
        len + i128::from(i)
    } else {
        i128::from(i)
    };
    if (0..len).contains(&at) {
        usize::try_from(at).ok()
    } else {
        None
    }
}

/// Python's slice bounds, clamped into `0..=len` with `start <= end`.
/// The indexes a slice with a step other than 1 picks (CPython's `PySlice_AdjustIndices`).
fn step_indices(
    from: Option<i64>,
    to: Option<i64>,
    step: i64,
    len: usize,
) -> impl Iterator<Item = usize> {
    let n = i128::try_from(len).unwrap_or(i128::MAX);
    let step = i128::from(step);
    let adjust = |bound: Option<i64>, default: i128| match bound {
        None => default,
        Some(i) => {
            let mut i = i128::from(i);
            if i < 0 {
                i += n;
                if i < 0 {
                    i = if step < 0 { -1 } else { 0 };
                }
            } else if i >= n {
                i = if step < 0 { n - 1 } else { n };
            }
            i
        }
    };
    let (start, stop) = if step < 0 {
        (adjust(from, n - 1), adjust(to, -1))
    } else {
        (adjust(from, 0), adjust(to, n))
    };
    let mut i = start;
    std::iter::from_fn(move || {
        let inside = if step > 0 { i < stop } else { i > stop };
        if !inside {
            return None;
        }
        let at = usize::try_from(i).ok()?;
        i += step;
        Some(at)
    })
}

fn slice_bounds(from: Option<i64>, to: Option<i64>, len: usize) -> (usize, usize) {
    let n = i128::try_from(len).unwrap_or(i128::MAX);
    let clamp = |bound: Option<i64>, default: i128| {
        let at = match bound {
            None => default,
            Some(i) if i < 0 => n + i128::from(i),
            Some(i) => i128::from(i),
        };
        usize::try_from(at.clamp(0, n)).unwrap_or(len)
    };
    let start = clamp(from, 0);
    let end = clamp(to, n).max(start);
    (start, end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Limit, Map, MAX_LEN};

    fn json(text: &str) -> Value {
        Value::parse_json(text).expect("json")
    }

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    fn i(n: i64) -> Value {
        Value::from(n)
    }

    #[test]
    fn lengths_count_characters() {
        assert_eq!(s("héllo😀").length(), Ok(6));
        assert_eq!(json("[1,2,3]").length(), Ok(3));
        assert_eq!(json(r#"{"a":1}"#).length(), Ok(1));
        assert_eq!(
            i(5).length()
                .map_err(|e| crate::value::unmark(&e.to_string())),
            Err("cannot take the length of a number".into())
        );
    }

    #[test]
    fn indexing() {
        let l = json(r#"[10, 20, 30]"#);
        assert_eq!(l.get_index(0), Some(&i(10)));
        assert_eq!(l.get_index(-1), Some(&i(30)));
        assert_eq!(l.get_index(-4), None);
        assert_eq!(l.get_index(3), None);
        assert_eq!(l.index(&i(1)), Ok(Some(i(20))));
        assert_eq!(l.index(&i(-3)), Ok(Some(i(10))));
        assert_eq!(l.index(&s("2")), Ok(Some(i(30))));
        assert_eq!(l.index(&i(7)), Ok(None));
        assert_eq!(
            l.index(&Value::Number(Number::parse("1e30").expect("n"))),
            Ok(None)
        );
        assert_eq!(
            l.index(&Value::Number(Number::parse("1.5").expect("n"))),
            Err(ValueError::NotAnIndex(Box::new(
                Number::parse("1.5").expect("n")
            )))
        );
        assert_eq!(
            l.index(&s("x"))
                .map_err(|e| crate::value::unmark(&e.to_string())),
            Err(r#"cannot index a list with a string ("x")"#.into())
        );
        assert_eq!(s("привет").index(&i(1)), Ok(Some(s("р"))));
        assert_eq!(s("привет").index(&i(-1)), Ok(Some(s("т"))));
        assert_eq!(s("abc").index(&i(3)), Ok(None));
        let d = json(r#"{"a": 1, "2": "two"}"#);
        assert_eq!(d.index(&s("a")), Ok(Some(i(1))));
        assert_eq!(d.index(&i(2)), Ok(Some(s("two"))));
        assert_eq!(d.index(&s("zz")), Ok(None));
        assert!(d.index(&Value::Null).is_err());
        assert_eq!(Value::Null.index(&s("a")), Ok(None));
        assert_eq!(
            i(5).index(&s("a"))
                .map_err(|e| crate::value::unmark(&e.to_string())),
            Err(r#"cannot index a number with a string ("a")"#.into())
        );
    }

    #[test]
    fn paths() {
        let body = json(r#"{"items": [{"name": "tea"}], "0": "zero", "content-type": "json"}"#);
        assert_eq!(body.get_path(&["items", "0", "name"]), Some(&s("tea")));
        assert_eq!(body.get_path(&["0"]), Some(&s("zero")));
        assert_eq!(body.get_path(&["content-type"]), Some(&s("json")));
        assert_eq!(body.get_path(&["items", "-1"]), None);
        assert_eq!(body.get_path(&["items", "1"]), None);
        assert_eq!(body.get_path(&["items", "0", "name", "x"]), None);
        assert_eq!(body.get_path::<&str>(&[]), Some(&body));
        assert_eq!(body.get_key("0"), Some(&s("zero")));
    }

    #[test]
    fn slices() {
        let l = json("[1,2,3,4,5]");
        assert_eq!(l.slice(Some(1), Some(3)), Ok(json("[2,3]")));
        assert_eq!(l.slice(Some(-2), None), Ok(json("[4,5]")));
        assert_eq!(l.slice(None, Some(-3)), Ok(json("[1,2]")));
        assert_eq!(l.slice(Some(4), Some(2)), Ok(json("[]")));
        assert_eq!(l.slice(Some(-100), Some(100)), Ok(l.clone()));
        assert_eq!(l.slice(Some(i64::MIN), Some(i64::MAX)), Ok(l.clone()));
        assert_eq!(s("привет").slice(Some(1), Some(-1)), Ok(s("риве")));
        assert_eq!(s("abc").slice(Some(5), None), Ok(s("")));
        assert!(i(1).slice(None, None).is_err());
    }

    #[test]
    fn set_creates_dictionaries_and_copies_on_write() {
        let mut v = Value::Null;
        v.set_in(&[s("profile"), s("name")], s("Ann")).expect("set");
        assert_eq!(v.to_string(), r#"{"profile":{"name":"Ann"}}"#);

        let shared = v.clone();
        v.set_in(&[s("profile"), s("age")], i(30)).expect("set");
        assert_eq!(v.to_string(), r#"{"profile":{"name":"Ann","age":30}}"#);
        assert_eq!(shared.to_string(), r#"{"profile":{"name":"Ann"}}"#);

        v.set_in(&[s("profile"), s("name")], s("Bo")).expect("set");
        assert_eq!(v.to_string(), r#"{"profile":{"name":"Bo","age":30}}"#);

        let mut cart = json(r#"{"items":[1,2,3]}"#);
        cart.set_in(&[s("items"), i(-1)], s("x")).expect("set");
        cart.set_in(&[s("items"), s("0")], i(0)).expect("set");
        cart.set_in(&[i(7)], Value::Bool(true)).expect("set");
        assert_eq!(cart.to_string(), r#"{"items":[0,2,"x"],"7":true}"#);
        assert_eq!(
            cart.set_in(&[s("items"), i(3)], i(1)),
            Err(ValueError::IndexOutOfRange { index: 3, len: 3 })
        );
        assert_eq!(
            cart.set_in(&[s("items"), i(0), s("a")], i(1))
                .map_err(|e| crate::value::unmark(&e.to_string())),
            Err(r#"cannot index a number with a string ("a")"#.into())
        );
        let mut whole = i(1);
        whole.set_in(&[], s("replaced")).expect("set");
        assert_eq!(whole, s("replaced"));
    }

    #[test]
    fn set_is_bounded() {
        let map: Map = (0..MAX_LEN)
            .map(|i| (Arc::from(i.to_string()), Value::Null))
            .collect();
        let mut d = Value::from(map);
        assert_eq!(
            d.set_in(&[s("one more")], i(1)),
            Err(ValueError::TooLarge(Limit::Dict))
        );
        d.set_in(&[s("0")], i(1)).expect("replacing a key is fine");
    }

    #[test]
    fn remove() {
        let mut v = json(r#"{"a":1,"b":{"c":[1,2,3]},"d":4}"#);
        assert_eq!(v.remove_in(&[s("a")]), Ok(Some(i(1))));
        assert_eq!(v.remove_in(&[s("b"), s("c"), i(-1)]), Ok(Some(i(3))));
        assert_eq!(v.remove_in(&[s("zz")]), Ok(None));
        assert_eq!(v.remove_in(&[s("zz"), s("y")]), Ok(None));
        assert_eq!(v.remove_in(&[s("b"), s("c"), i(9)]), Ok(None));
        assert_eq!(v.to_string(), r#"{"b":{"c":[1,2]},"d":4}"#);
        assert!(v.remove_in(&[s("d"), s("x")]).is_err());
    }
}
