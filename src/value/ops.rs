//! The operators of §6 with all their coercions: operand values in, a value (or a
//! [`ValueError`] naming the types) out.
//!
//! The rules, in one place:
//! - Arithmetic (`+ - * / // ** mod`, unary `-`) works on Numbers and on Strings that hold a
//!   number (`"21" * 2` is 42, surrounding spaces ignored). `+` of two Strings concatenates (even
//!   numeric ones: `"1" + "2"` is `"12"`), `+` of two Lists concatenates. Anything else —
//!   `"abc" * 2`, `{} - 1`, `null + 1`, `true + 1`, `"ab" * 2` — is an error.
//! - `==` is exact and type-aware, except that a Number equals a String holding the same number
//!   (`1 == "1"`, `1 == "1.0"`); Lists compare element by element with the same rule,
//!   Dictionaries key by key regardless of order. `true == 1` is false.
//! - `< <= > >=`: Numbers numerically, Strings by code points, a Number against a numeric String
//!   numerically (`"9" < 10`), Booleans `false < true`, Lists lexicographically. Anything else
//!   (`"abc" < 1`, `null < 1`, two Dictionaries) is an error.
//! - `x in y`: substring for a String (a Number needle is searched as its text), element (by `==`)
//!   for a List, key for a Dictionary (a Number key as its text).
//! - `like`: see [`like_text`].
//!
//! Integers take a fast path first: the common loop `%i% + 1`, `%i% < n` does no allocation.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::sync::{Arc, LazyLock};

use regex::Regex;

use super::error::Op;
use super::{check_list_len, check_string_len, Number, Value, ValueError, MAX_DEPTH};

/// `a + b`.
#[inline]
pub fn add(a: &Value, b: &Value) -> Result<Value, ValueError> {
    if let (Value::Number(Number::Int(x)), Value::Number(Number::Int(y))) = (a, b) {
        if let Some(s) = x.checked_add(*y) {
            return Ok(Value::Number(Number::Int(s)));
        }
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => concat_strings(x, y),
        (Value::List(x), Value::List(y)) => {
            check_list_len(x.len() + y.len())?;
            let mut items = Vec::with_capacity(x.len() + y.len());
            items.extend_from_slice(x);
            items.extend_from_slice(y);
            Ok(Value::List(Arc::new(items)))
        }
        _ => arith(a, b, Op::Add, Number::add),
    }
}

/// `a - b`.
#[inline]
pub fn sub(a: &Value, b: &Value) -> Result<Value, ValueError> {
    if let (Value::Number(Number::Int(x)), Value::Number(Number::Int(y))) = (a, b) {
        if let Some(s) = x.checked_sub(*y) {
            return Ok(Value::Number(Number::Int(s)));
        }
    }
    arith(a, b, Op::Sub, Number::sub)
}

/// `a * b`. No string repetition: `"ab" * 2` is an error, `"21" * 2` is 42.
#[inline]
pub fn mul(a: &Value, b: &Value) -> Result<Value, ValueError> {
    if let (Value::Number(Number::Int(x)), Value::Number(Number::Int(y))) = (a, b) {
        if let Some(p) = x.checked_mul(*y) {
            return Ok(Value::Number(Number::Int(p)));
        }
    }
    arith(a, b, Op::Mul, Number::mul)
}

/// `a / b`: exact (`7 / 2` is 3.5); by zero is an error.
pub fn div(a: &Value, b: &Value) -> Result<Value, ValueError> {
    arith(a, b, Op::Div, Number::div)
}

/// `a // b`: floored (`-7 // 2` is -4).
pub fn floor_div(a: &Value, b: &Value) -> Result<Value, ValueError> {
    arith(a, b, Op::FloorDiv, Number::floor_div)
}

/// `mod(a, b)`: the remainder with the divisor's sign (`mod(-7, 3)` is 2).
pub fn rem(a: &Value, b: &Value) -> Result<Value, ValueError> {
    arith(a, b, Op::Mod, Number::rem)
}

/// `a ** b`.
pub fn pow(a: &Value, b: &Value) -> Result<Value, ValueError> {
    arith(a, b, Op::Pow, Number::pow)
}

/// Unary `-a`.
pub fn neg(a: &Value) -> Result<Value, ValueError> {
    match numeric(a) {
        Some(n) => Ok(Value::Number(n.neg())),
        None => Err(ValueError::operand(Op::Neg, a)),
    }
}

/// The number a value stands for when a function asks for one explicitly (`number(x)`,
/// `round(x)`, …): a Number, a numeric String, or a Boolean as 1 or 0.
pub fn to_number(a: &Value) -> Result<Number, ValueError> {
    match a {
        Value::Bool(b) => Ok(Number::Int(i64::from(*b))),
        _ => numeric(a)
            .map(Cow::into_owned)
            .ok_or_else(|| ValueError::operand(Op::ToNumber, a)),
    }
}

/// A Number, or the number a String holds.
#[inline]
fn numeric(v: &Value) -> Option<Cow<'_, Number>> {
    match v {
        Value::Number(n) => Some(Cow::Borrowed(n)),
        Value::String(s) => Number::parse(s).map(Cow::Owned),
        _ => None,
    }
}

fn arith(
    a: &Value,
    b: &Value,
    op: Op,
    f: fn(&Number, &Number) -> Result<Number, ValueError>,
) -> Result<Value, ValueError> {
    match (numeric(a), numeric(b)) {
        (Some(x), Some(y)) => f(&x, &y).map(Value::Number),
        _ => Err(ValueError::operands(op, a, b)),
    }
}

fn concat_strings(x: &str, y: &str) -> Result<Value, ValueError> {
    check_string_len(x.len() + y.len())?;
    let mut s = String::with_capacity(x.len() + y.len());
    s.push_str(x);
    s.push_str(y);
    Ok(Value::String(s.into()))
}

// ---- equality and order ---------------------------------------------------------------------

/// `a == b` (see the module docs).
#[inline]
pub fn eq(a: &Value, b: &Value) -> bool {
    if let (Value::Number(Number::Int(x)), Value::Number(Number::Int(y))) = (a, b) {
        return x == y;
    }
    eq_at(a, b, 0)
}

/// `a != b`.
#[inline]
pub fn ne(a: &Value, b: &Value) -> bool {
    !eq(a, b)
}

fn eq_at(a: &Value, b: &Value, depth: usize) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Number(x), Value::Number(y)) => x == y,
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Number(n), Value::String(s)) | (Value::String(s), Value::Number(n)) => {
            Number::parse(s).is_some_and(|m| m == *n)
        }
        (Value::List(x), Value::List(y)) => {
            Arc::ptr_eq(x, y)
                || (x.len() == y.len()
                    && depth < MAX_DEPTH
                    && x.iter().zip(y.iter()).all(|(p, q)| eq_at(p, q, depth + 1)))
        }
        (Value::Dict(x), Value::Dict(y)) => {
            Arc::ptr_eq(x, y)
                || (x.len() == y.len()
                    && depth < MAX_DEPTH
                    && x.iter()
                        .all(|(k, v)| y.get(k).is_some_and(|w| eq_at(v, w, depth + 1))))
        }
        _ => false,
    }
}

/// The order of `a` and `b` for `<`-style comparisons, `min`, `max` and `sorted` (see the module
/// docs for what compares).
#[inline]
pub fn compare(a: &Value, b: &Value) -> Result<Ordering, ValueError> {
    if let (Value::Number(Number::Int(x)), Value::Number(Number::Int(y))) = (a, b) {
        return Ok(x.cmp(y));
    }
    compare_at(a, b, 0)
}

fn compare_at(a: &Value, b: &Value, depth: usize) -> Result<Ordering, ValueError> {
    let mismatch = || ValueError::operands(Op::Compare, a, b);
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => Ok(x.cmp(y)),
        // UTF-8 byte order is code point order.
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        (Value::Number(x), Value::String(s)) => {
            Number::parse(s).map(|y| x.cmp(&y)).ok_or_else(mismatch)
        }
        (Value::String(s), Value::Number(y)) => {
            Number::parse(s).map(|x| x.cmp(y)).ok_or_else(mismatch)
        }
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        (Value::List(x), Value::List(y)) => {
            if depth >= MAX_DEPTH {
                return Err(ValueError::TooDeep);
            }
            for (p, q) in x.iter().zip(y.iter()) {
                match compare_at(p, q, depth + 1)? {
                    Ordering::Equal => {}
                    unequal => return Ok(unequal),
                }
            }
            Ok(x.len().cmp(&y.len()))
        }
        _ => Err(mismatch()),
    }
}

/// `a < b`.
#[inline]
pub fn lt(a: &Value, b: &Value) -> Result<bool, ValueError> {
    compare(a, b).map(Ordering::is_lt)
}

/// `a <= b`.
#[inline]
pub fn le(a: &Value, b: &Value) -> Result<bool, ValueError> {
    compare(a, b).map(Ordering::is_le)
}

/// `a > b`.
#[inline]
pub fn gt(a: &Value, b: &Value) -> Result<bool, ValueError> {
    compare(a, b).map(Ordering::is_gt)
}

/// `a >= b`.
#[inline]
pub fn ge(a: &Value, b: &Value) -> Result<bool, ValueError> {
    compare(a, b).map(Ordering::is_ge)
}

// ---- membership and similarity --------------------------------------------------------------

/// `needle in haystack` (see the module docs).
pub fn contains(needle: &Value, haystack: &Value) -> Result<bool, ValueError> {
    let mismatch = || ValueError::operands(Op::Contains, needle, haystack);
    match haystack {
        Value::String(h) => match needle {
            Value::String(n) => Ok(h.contains(&**n)),
            Value::Number(n) => Ok(h.contains(&n.to_string())),
            _ => Err(mismatch()),
        },
        Value::List(items) => Ok(items.iter().any(|item| eq(needle, item))),
        Value::Dict(map) => match needle {
            Value::String(k) => Ok(map.contains_key(&**k)),
            Value::Number(n) => Ok(map.contains_key(n.to_string().as_str())),
            // Keys are strings: nothing else can be one.
            Value::Null | Value::Bool(_) | Value::List(_) | Value::Dict(_) => Ok(false),
        },
        _ => Err(mismatch()),
    }
}

/// `a like b` on any values, compared as their text (§5).
pub fn like(a: &Value, b: &Value) -> bool {
    like_text(&a.render(), &b.render())
}

/// Above this many characters (after normalising) only equal texts are alike: the edit distance
/// costs length², and a user may send megabytes.
const LIKE_MAX_CHARS: usize = 2_000;

/// Similarity of §6: both lowercased and trimmed, punctuation removed and runs of spaces made
/// one, then equal or within edit distance ⌊n/5⌋ (n = the longer one's length in characters).
/// So `"helo"` is like `"Hello!"`, and short words must match exactly (n < 5 allows no edit).
pub fn like_text(a: &str, b: &str) -> bool {
    let (a, b) = (normalize_for_like(a), normalize_for_like(b));
    if a == b {
        return true;
    }
    let (la, lb) = (a.chars().count(), b.chars().count());
    let n = la.max(lb);
    let allowed = n / 5;
    if la.abs_diff(lb) > allowed || n > LIKE_MAX_CHARS {
        return false;
    }
    strsim::levenshtein(&a, &b) <= allowed
}

fn normalize_for_like(text: &str) -> String {
    static PUNCTUATION: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\p{P}+").expect("a valid constant pattern"));
    // Russian writes `ё` as `е` as often as not: the two are the same letter here.
    let lower = text.to_lowercase().replace('ё', "е");
    let bare = PUNCTUATION.replace_all(&lower, "");
    let mut out = String::with_capacity(bare.len());
    for word in bare.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Limit, MAX_LEN, MAX_STRING_BYTES};

    fn num(text: &str) -> Value {
        Value::Number(Number::parse(text).expect("number"))
    }

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    fn list(items: &[Value]) -> Value {
        Value::from(items.to_vec())
    }

    fn json(text: &str) -> Value {
        Value::parse_json(text).expect("json")
    }

    fn err(r: Result<Value, ValueError>) -> String {
        match r {
            Ok(v) => panic!("expected an error, got {v:?}"),
            Err(e) => crate::value::unmark(&e.to_string()),
        }
    }

    #[test]
    fn arithmetic_on_numbers() {
        assert_eq!(add(&num("0.1"), &num("0.2")), Ok(num("0.3")));
        assert_eq!(
            add(&num("0.1"), &num("0.2")).map(|v| v.to_string()),
            Ok("0.3".into())
        );
        assert_eq!(div(&num("7"), &num("2")), Ok(num("3.5")));
        assert_eq!(floor_div(&num("7"), &num("2")), Ok(num("3")));
        assert_eq!(floor_div(&num("-7"), &num("2")), Ok(num("-4")));
        assert_eq!(rem(&num("-7"), &num("3")), Ok(num("2")));
        assert_eq!(pow(&num("2"), &num("10")), Ok(num("1024")));
        assert_eq!(neg(&num("5")), Ok(num("-5")));
        assert_eq!(
            add(&Value::from(i64::MAX), &num("1")).map(|v| v.to_string()),
            Ok("9223372036854775808".into())
        );
        assert_eq!(
            mul(&Value::from(i64::MAX), &num("2")).map(|v| v.to_string()),
            Ok("18446744073709551614".into())
        );
        assert_eq!(sub(&num("1"), &num("3")), Ok(num("-2")));
    }

    #[test]
    fn numeric_strings_take_part_in_arithmetic() {
        assert_eq!(mul(&s("21"), &num("2")), Ok(num("42")));
        assert_eq!(mul(&num("2"), &s(" 21 ")), Ok(num("42")));
        assert_eq!(add(&num("1"), &s("2.5")), Ok(num("3.5")));
        assert_eq!(add(&s("2.5"), &num("1")), Ok(num("3.5")));
        assert_eq!(sub(&s("10"), &s("4")), Ok(num("6")));
        assert_eq!(neg(&s("3")), Ok(num("-3")));
        // + of two Strings concatenates, numeric or not.
        assert_eq!(add(&s("1"), &s("2")), Ok(s("12")));
        assert_eq!(add(&s("ab"), &s("cd")), Ok(s("abcd")));
    }

    #[test]
    fn nonsense_is_an_error_naming_the_types() {
        assert_eq!(
            err(mul(&s("abc"), &num("2"))),
            r#"cannot multiply a string ("abc") by a number"#
        );
        assert_eq!(
            err(sub(&Value::empty_dict(), &num("1"))),
            "cannot subtract a number from a dictionary"
        );
        assert_eq!(
            err(add(&Value::Null, &num("1"))),
            "cannot add a number to null"
        );
        assert_eq!(
            err(add(&Value::Bool(true), &num("1"))),
            "cannot add a number to a boolean"
        );
        assert_eq!(
            err(add(&s("a"), &num("1"))),
            r#"cannot add a number to a string ("a"); to put a number into a text, write a template ("Total: %n%" or "Total: {{ %n% }}") or convert it: "Total: " + str(%n%)"#
        );
        assert_eq!(
            err(add(&list(&[]), &s("x"))),
            r#"cannot add a string ("x") to a list"#
        );
        assert_eq!(err(div(&num("1"), &num("0"))), "division by zero");
        assert_eq!(err(rem(&num("1"), &s("0"))), "division by zero");
        assert_eq!(err(neg(&list(&[]))), "cannot negate a list");
        assert_eq!(
            err(pow(&s("x"), &num("2"))),
            r#"cannot raise a string ("x") to the power of a number"#
        );
        let long = "a".repeat(100);
        assert_eq!(
            err(mul(&s(&long), &num("2"))),
            format!(
                "cannot multiply a string (\"{}…\") by a number",
                "a".repeat(24)
            )
        );
        assert_eq!(
            to_number(&s("abc")),
            Err(ValueError::operand(Op::ToNumber, &s("abc")))
        );
        assert_eq!(
            crate::value::unmark(&ValueError::operand(Op::ToNumber, &s("abc")).to_string()),
            r#"cannot convert a string ("abc") to a number"#
        );
        assert_eq!(to_number(&Value::Bool(true)), Ok(Number::ONE));
    }

    #[test]
    fn lists_concatenate() {
        assert_eq!(
            add(&list(&[num("1")]), &list(&[num("2")])),
            Ok(list(&[num("1"), num("2")]))
        );
    }

    #[test]
    fn concatenation_is_bounded() {
        let half = Value::from(vec![Value::Null; MAX_LEN / 2 + 1]);
        assert_eq!(add(&half, &half), Err(ValueError::TooLarge(Limit::List)));
        let text = s(&"x".repeat(MAX_STRING_BYTES / 2 + 1));
        assert_eq!(add(&text, &text), Err(ValueError::TooLarge(Limit::String)));
    }

    #[test]
    fn equality() {
        assert!(eq(&num("1"), &s("1")));
        assert!(eq(&s("1"), &num("1")));
        assert!(eq(&num("1"), &s(" 1.0 ")));
        assert!(eq(&num("9007199254740993"), &s("9007199254740993")));
        assert!(!eq(&num("9007199254740993"), &s("9007199254740992")));
        assert!(!eq(&s("1"), &s("1.0")));
        assert!(!eq(&num("1"), &s("one")));
        assert!(!eq(&Value::Bool(true), &num("1")));
        assert!(!eq(&Value::Null, &s("")));
        assert!(!eq(&Value::Null, &num("0")));
        assert!(eq(&Value::Null, &Value::Null));
        assert!(eq(&num("0.30"), &num("0.3")));
        assert!(eq(&list(&[num("1"), s("a")]), &list(&[s("1"), s("a")])));
        assert!(!eq(&list(&[num("1")]), &list(&[num("1"), num("1")])));
        assert!(eq(&json(r#"{"a":1,"b":2}"#), &json(r#"{"b":2,"a":1}"#)));
        assert!(!eq(&json(r#"{"a":1}"#), &json(r#"{"a":2}"#)));
        assert!(ne(&s("a"), &s("b")));
    }

    #[test]
    fn ordering() {
        assert_eq!(lt(&s("9"), &num("10")), Ok(true));
        assert_eq!(lt(&num("10"), &s("9")), Ok(false));
        assert_eq!(lt(&s("a"), &s("b")), Ok(true));
        // Code points, not numbers, between two strings.
        assert_eq!(lt(&s("9"), &s("10")), Ok(false));
        assert_eq!(lt(&s("Z"), &s("a")), Ok(true));
        assert_eq!(lt(&s("я"), &s("😀")), Ok(true));
        assert_eq!(le(&num("2.5"), &num("2.50")), Ok(true));
        assert_eq!(gt(&num("1e400"), &num("9223372036854775808")), Ok(true));
        assert_eq!(ge(&num("-1"), &num("0")), Ok(false));
        assert_eq!(lt(&Value::Bool(false), &Value::Bool(true)), Ok(true));
        assert_eq!(
            lt(&list(&[num("1"), num("2")]), &list(&[num("1"), num("3")])),
            Ok(true)
        );
        assert_eq!(
            lt(&list(&[num("1")]), &list(&[num("1"), num("0")])),
            Ok(true)
        );
        assert_eq!(
            lt(&s("abc"), &num("1")).map_err(|e| crate::value::unmark(&e.to_string())),
            Err(r#"cannot compare a string ("abc") with a number"#.into())
        );
        assert!(lt(&Value::Null, &num("1")).is_err());
        assert!(lt(&Value::empty_dict(), &Value::empty_dict()).is_err());
        assert!(lt(&num("1"), &Value::Bool(true)).is_err());
    }

    #[test]
    fn membership() {
        assert_eq!(contains(&s("ell"), &s("hello")), Ok(true));
        assert_eq!(contains(&s("L"), &s("hello")), Ok(false));
        assert_eq!(contains(&num("5"), &s("12345")), Ok(true));
        assert_eq!(contains(&num("2"), &list(&[num("1"), s("2")])), Ok(true));
        assert_eq!(contains(&s("x"), &list(&[num("1")])), Ok(false));
        let d = json(r#"{"a":1,"1":2}"#);
        assert_eq!(contains(&s("a"), &d), Ok(true));
        assert_eq!(contains(&s("b"), &d), Ok(false));
        assert_eq!(contains(&num("1"), &d), Ok(true));
        assert_eq!(contains(&Value::Null, &d), Ok(false));
        assert_eq!(
            contains(&s("a"), &num("1")).map_err(|e| crate::value::unmark(&e.to_string())),
            Err(r#"cannot look for a string ("a") in a number"#.into())
        );
        assert!(contains(&list(&[]), &s("abc")).is_err());
        assert!(contains(&s("a"), &Value::Null).is_err());
    }

    #[test]
    fn similarity() {
        assert!(like(&s("helo"), &s("Hello!")));
        assert!(like(&s("  HELLO,   world "), &s("hello world")));
        assert!(like(&s("Привет!"), &s("привет")));
        // ё and е are one letter, even in words too short for an edit.
        assert!(like(&s("ещё"), &s("еще")));
        assert!(like(&s("Ёж"), &s("еж")));
        assert!(like(&s("ёлка"), &s("ЕЛКА")));
        assert!(like(&s("don't"), &s("dont")));
        assert!(like(&s("cancel order"), &s("cancle order")));
        assert!(!like(&s("yes"), &s("yea")));
        assert!(!like(&s("no"), &s("yes")));
        assert!(!like(&s("hello"), &s("")));
        assert!(like(&num("42"), &s("42")));
        assert!(!like(&s(&"a".repeat(5000)), &s(&"b".repeat(5000))));
        assert!(like(&s(&"a".repeat(5000)), &s(&"A".repeat(5000))));
    }

    #[test]
    fn integer_fast_path_does_not_allocate() {
        let (a, b, limit) = (Value::from(20), Value::from(22), Value::from(1_000_000));
        let info = allocation_counter::measure(|| {
            let sum = add(&a, &b).expect("int add");
            let product = mul(&sum, &b).expect("int mul");
            let diff = sub(&product, &a).expect("int sub");
            assert!(lt(&diff, &limit).expect("int compare"));
            assert!(eq(&diff, &Value::from(904)));
            assert!(diff.truthy());
            std::hint::black_box(diff);
        });
        assert_eq!(info.count_total, 0);
    }

    #[test]
    fn nested_comparisons_are_bounded() {
        let mut deep = Value::Null;
        for _ in 0..=MAX_DEPTH + 1 {
            deep = Value::from(vec![deep]);
        }
        let other = deep.clone();
        assert!(eq(&deep, &other), "the same Arc needs no recursion");
        assert_eq!(compare(&deep, &other), Err(ValueError::TooDeep));
    }
}
