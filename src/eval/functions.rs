//! The built-in functions of §6: a name and already evaluated arguments in, a value or a short
//! sentence for the bot author out. Arity comes from [`crate::check::functions::FUNCTIONS`];
//! `map`, `filter`, `reduce` and `sorted` with a lambda are run by the evaluator itself.
//!
//! Choices where the reference is silent:
//! - String functions (`lower`, `split`, `replace`, `match`, `urlencode`, …) accept a Number as
//!   its text; lengths, indexes and slices of Strings count characters; a negative index counts
//!   from the end. An optional argument given as `null` counts as left out.
//! - `int` truncates towards zero and reads numeric Strings (`int("3.9")` is 3); `float` and
//!   `number` are the same function and return the exact Number; both read `true`/`false` as 1/0.
//! - `round(x, n)` rounds the exact decimal half to even (`round(2.5)` is 2, `round(2.675, 2)`
//!   is 2.68 because 2.675 is exact here); a negative `n` rounds to tens, hundreds, ….
//! - `sorted`, `min` and `max` compare numerically when every element is a Number or a numeric
//!   String (the originals are returned), by code points when all are Strings, Booleans as
//!   `false < true`, Lists element by element; any other mix (and Dictionaries) is an error.
//!   `sorted` is stable; `min`/`max` return the first of equal elements.
//! - `sum` adds Numbers and numeric Strings (`sum([])` is 0).
//! - Values are immutable: `push`, `pop`, `insert` and `remove` return a new List. `pop(list, i)`
//!   returns the list *without* element `i` (default: the last), since the removed element can be
//!   read beforehand with `list[i]`; an index out of range is an error. `insert` clamps its index
//!   as Python does. `remove(list, x)` drops the first element `== x` (the list is returned
//!   unchanged when there is none); `remove(dict, key)` drops a key.
//! - `index_of` returns null when absent (as SmartQuery); `get` returns the default (or null) for a missing key or
//!   index and for a null container; `has(c, x)` is `x in c`, and false for null.
//! - `unique` keeps the first of elements equal by `==` (so `1` and `"1"` are one element).
//! - SmartQuery's signatures and results: `list(a, b, …)` is the List of its arguments;
//!   `sorted(x, key?, reverse?)` (without a lambda the second argument is `reverse`) sorts a
//!   Dictionary by key and returns a Dictionary; `replace(s, old, new, count?)` and
//!   `split(s, sep?, maxsplit?)` as Python's; `dict(pairs)` reads `[key, value]` Lists,
//!   `reversed(s)` reverses a String; `bool("false")` is true (truthiness, §6).
//! - `split(s)` without a separator splits on runs of whitespace (SmartQuery splits on one
//!   space: a deliberate difference, since users type double spaces); `split(s, "")` into
//!   characters.
//! - `match_groups` lists the whole match, then every group (null for one that took no part);
//!   null when nothing matches. `match_all` is Python's `findall`: the whole matches, or the
//!   group when the pattern has one, or a List of the groups when it has several.
//! - `pretty(x, sep?)`: a Dictionary as `key: value` lines, a List joined by `, `, a Number
//!   grouped by spaces from five integer digits on (`1234`, `12 345`; SmartQuery's own rule, but
//!   only the integer part is grouped where SmartQuery would also cut the decimals); `sep`
//!   replaces the line break, the `, ` or the space. `fixed(x, n)` shows exactly n decimals;
//!   `format_number(x, n?, sep?)` also groups from four digits on (`1 234.50`).
//! - `urlencode(dict)` builds a query string (`a=1&b=x%20y`), each key and value encoded as one
//!   component.
//! - `rand()` is a Number in [0, 1) with 6 decimals; `rand(a, b)` an integer in [a, b] (a whole
//!   number each); `rand(list)` an element. Randomness comes from [`Context::rng`] (splitmix64),
//!   so a session with a fixed seed repeats.
//! - Dates: `now()` is `2026-11-28T14:03:05Z` (UTC, whole seconds), `today()` `2026-11-28`.
//!   `format_date(t, fmt)` reads such text — a date, or a date and time with optional seconds,
//!   fraction and zone (`Z`, `+03:00`) — or a Number of Unix seconds. The time is formatted as
//!   written (an offset is kept, not converted to UTC). Directives: `%Y %y %m %d %e %H %I %p %M
//!   %S %j %a %A %b %B %u %w %F %T %R %z %Z %s %%`, and `%-d`-style for no padding (English
//!   names).

use std::borrow::Cow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io;
use std::sync::Arc;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use rust_decimal::Decimal;

use crate::check::functions;
use crate::value::{ops, Limit, Map, Number, Value, ValueError, MAX_DEPTH, MAX_STRING_BYTES};

/// Clock and randomness for the functions that need them; fixed in tests so runs repeat.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Context {
    /// Unix time in milliseconds, UTC: what `now()` and `today()` read.
    pub now_ms: i64,
    /// splitmix64 state, advanced by each use (`rand`, `shuffle`).
    pub rng: u64,
}

impl Context {
    /// The next 64 random bits (splitmix64).
    fn next_u64(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A random number in `[0, n)` for `n >= 1` (multiply-shift: no division, bias below 2^-40
    /// for any list size).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
}

/// Calls built-in `name` with already evaluated arguments (for methods and pipes the receiver is
/// `args[0]`). Errors are one short sentence for the user, e.g.
/// "`int` cannot read \"abc\" as a number".
pub fn call(name: &str, args: &[Value], cx: &mut Context) -> Result<Value, String> {
    let Some(f) = functions::lookup(name) else {
        return Err(format!("there is no function `{name}`"));
    };
    if !f.accepts(args.len()) {
        return Err(format!(
            "`{name}` takes {}: {}",
            f.arity_text(),
            f.signature
        ));
    }
    let a = Args { name, values: args };
    match name {
        "abs" => Ok(a.number(0)?.abs().into()),
        "bool" => Ok(a.get(0).truthy().into()),
        "ceil" => Ok(a.number(0)?.ceil().into()),
        "dict" => dict(&a),
        "endswith" => Ok(a.text(0)?.ends_with(&*a.text(1)?).into()),
        "enumerate" => enumerate(&a),
        "filter" | "map" | "reduce" => Err(format!(
            "`{name}` needs a lambda as its second argument: {}",
            f.signature
        )),
        "float" | "number" => to_number(&a),
        "fixed" => fixed(&a),
        "floor" => Ok(a.number(0)?.floor().into()),
        "format_date" => format_date(&a),
        "format_number" => format_number(&a),
        "get" => get(&a),
        "has" => has(&a),
        "index_of" => index_of(&a),
        "insert" => insert(&a),
        "int" => int(&a),
        "items" => items(&a),
        "join" => join(&a),
        "json" => Ok(Value::String(
            json_text(&a, a.get(0), MAX_STRING_BYTES)?.into(),
        )),
        "json_parse" => json_parse(&a),
        "keys" => {
            let keys = a.dict(0)?.keys().map(|k| Value::String(k.clone()));
            Ok(Value::from(keys.collect::<Vec<_>>()))
        }
        "len" => len(&a),
        "list" => list(&a),
        "lower" => a.string(a.text(0)?.to_lowercase()),
        "match" | "match_all" | "match_groups" => regex_match(&a),
        "max" => extreme(&a, Ordering::Greater),
        "min" => extreme(&a, Ordering::Less),
        "mod" => a.value(ops::rem(a.get(0), a.get(1))),
        "now" => Ok(Value::from(Stamp::from_unix_ms(cx.now_ms).iso())),
        "time_add" => time_add(&a),
        "pop" => pop(&a),
        "pretty" => pretty(&a),
        "push" => {
            let mut items = a.list(0)?.to_vec();
            items.push(a.get(1).clone());
            a.list_value(items)
        }
        "rand" => rand(&a, cx),
        "remove" => remove(&a),
        "replace" => replace(&a),
        "reversed" => reversed(&a),
        "round" => round(&a),
        "shuffle" => {
            let mut items = a.list(0)?.to_vec();
            for i in (1..items.len()).rev() {
                let j = cx.below(i as u64 + 1) as usize;
                items.swap(i, j);
            }
            Ok(Value::from(items))
        }
        "slice" => slice(&a),
        "sorted" => sorted(&a),
        "split" => split(&a),
        "startswith" => Ok(a.text(0)?.starts_with(&*a.text(1)?).into()),
        "str" => match a.get(0) {
            v @ (Value::List(_) | Value::Dict(_)) => {
                Ok(Value::String(json_text(&a, v, MAX_STRING_BYTES)?.into()))
            }
            v => Ok(Value::String(v.render().into())),
        },
        "strip" | "trim" => strip(&a),
        "sum" => sum(&a),
        "today" => Ok(Value::from(Stamp::from_unix_ms(cx.now_ms).date())),
        "type" => Ok(a.get(0).type_name().into()),
        "unique" => unique(&a),
        "upper" => a.string(a.text(0)?.to_uppercase()),
        "urlencode" => urlencode(&a),
        "values" => Ok(Value::from(
            a.dict(0)?.values().cloned().collect::<Vec<_>>(),
        )),
        // A name in the checker's table but not here: a bug, reported rather than panicking.
        _ => Err(format!("the function `{name}` is not available yet")),
    }
}

type Out = Result<Value, String>;

static NULL: Value = Value::Null;

/// The arguments of one call, with the accessors that name the function in their errors.
struct Args<'a> {
    name: &'a str,
    values: &'a [Value],
}

impl<'a> Args<'a> {
    /// Argument `i`; null when left out (only optional ones can be: arity is checked first).
    fn get(&self, i: usize) -> &'a Value {
        self.values.get(i).unwrap_or(&NULL)
    }

    /// An optional argument: `None` when left out or null.
    fn opt(&self, i: usize) -> Option<&'a Value> {
        self.values.get(i).filter(|v| !v.is_null())
    }

    /// "`upper` needs a string, not a list".
    fn need(&self, i: usize, what: &str) -> String {
        format!(
            "`{}` needs {what}, not {}",
            self.name,
            describe(self.get(i))
        )
    }

    /// A String argument, or a Number as its text.
    fn text(&self, i: usize) -> Result<Cow<'a, str>, String> {
        text_of(self.get(i)).ok_or_else(|| self.need(i, "a string"))
    }

    fn list(&self, i: usize) -> Result<&'a [Value], String> {
        self.get(i).as_list().ok_or_else(|| self.need(i, "a list"))
    }

    fn dict(&self, i: usize) -> Result<&'a Map, String> {
        self.get(i)
            .as_dict()
            .ok_or_else(|| self.need(i, "a dictionary"))
    }

    /// A Number, or a String holding one.
    fn number(&self, i: usize) -> Result<Number, String> {
        self.get(i)
            .to_number()
            .ok_or_else(|| self.need(i, "a number"))
    }

    /// A whole number that fits 64 bits (an index, a count of places), `role` saying which.
    fn whole(&self, i: usize, role: &str) -> Result<i64, String> {
        self.get(i)
            .to_number()
            .and_then(|n| n.to_i64())
            .ok_or_else(|| self.need(i, &format!("a whole number as {role}")))
    }

    fn error(&self, e: ValueError) -> String {
        format!("`{}`: {e}", self.name)
    }

    fn value(&self, r: Result<Value, ValueError>) -> Out {
        r.map_err(|e| self.error(e))
    }

    /// A String result, refused over the size bound.
    fn string(&self, s: String) -> Out {
        self.value(Value::checked_string(s))
    }

    /// A List result, refused over the length bound.
    fn list_value(&self, items: Vec<Value>) -> Out {
        self.value(Value::list(items))
    }

    fn too_long(&self) -> String {
        self.error(ValueError::TooLarge(Limit::String))
    }

    fn too_many(&self) -> String {
        self.error(ValueError::TooLarge(Limit::List))
    }
}

/// A value as an error message names it: `a list`, `null`, `a string ("abc")`.
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".to_string(),
        Value::String(s) => format!("a string ({})", quote(s)),
        other => format!("a {}", other.type_name()),
    }
}

/// A text quoted in a message (cut short when the message is output, after redaction).
fn quote(s: &str) -> String {
    crate::value::quoted(s)
}

/// The text of a String, or of a Number.
fn text_of(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(&**s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// A dictionary key given as a String or a Number.
fn key_text(v: &Value) -> Option<Cow<'_, str>> {
    text_of(v)
}

/// A position in a sequence of `len` from a possibly negative index; `None` out of range.
fn position(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let i = if index < 0 { index + len } else { index };
    (0..len).contains(&i).then_some(i as usize)
}

/// Python's slice bound: negative counts from the end, then clamped to `[0, len]`.
fn clamp_bound(index: i64, len: usize) -> usize {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let i = if index < 0 {
        index.saturating_add(len_i)
    } else {
        index
    };
    i.clamp(0, len_i) as usize
}

/// Text built piece by piece, refused as soon as it passes the String bound.
struct Text {
    buf: String,
}

impl Text {
    fn new() -> Text {
        Text { buf: String::new() }
    }

    fn push(&mut self, a: &Args, s: &str) -> Result<(), String> {
        if self.buf.len() + s.len() > MAX_STRING_BYTES {
            return Err(a.too_long());
        }
        self.buf.push_str(s);
        Ok(())
    }

    fn push_char(&mut self, a: &Args, c: char) -> Result<(), String> {
        self.push(a, c.encode_utf8(&mut [0; 4]))
    }

    /// A value as text (§5), Lists and Dictionaries as compact JSON within the bound.
    fn push_value(&mut self, a: &Args, v: &Value) -> Result<(), String> {
        match v {
            Value::List(_) | Value::Dict(_) => {
                let room = MAX_STRING_BYTES - self.buf.len();
                let json = json_text(a, v, room)?;
                self.push(a, &json)
            }
            other => self.push(a, &other.render()),
        }
    }
}

// ---- conversions ----------------------------------------------------------------------------

fn int(a: &Args) -> Out {
    match a.get(0) {
        Value::Number(n) => Ok(n.trunc().into()),
        Value::String(s) => Number::parse(s)
            .map(|n| n.trunc().into())
            .ok_or_else(|| format!("`int` cannot read {} as a number", quote(s))),
        Value::Bool(b) => Ok(Value::from(i64::from(*b))),
        _ => Err(a.need(0, "a number or a string")),
    }
}

fn to_number(a: &Args) -> Out {
    match a.get(0) {
        Value::Number(n) => Ok(n.clone().into()),
        Value::String(s) => Number::parse(s)
            .map(Value::from)
            .ok_or_else(|| format!("`{}` cannot read {} as a number", a.name, quote(s))),
        Value::Bool(b) => Ok(Value::from(i64::from(*b))),
        _ => Err(a.need(0, "a number or a string")),
    }
}

fn dict(a: &Args) -> Out {
    match a.opt(0) {
        None => Ok(Value::empty_dict()),
        Some(d @ Value::Dict(_)) => Ok(d.clone()),
        Some(Value::List(items)) => {
            let mut map = Map::with_capacity(items.len());
            for item in items.iter() {
                let pair = match item.as_list() {
                    Some([k, v]) => key_text(k).map(|k| (Arc::from(&*k), v.clone())),
                    _ => None,
                };
                let Some((k, v)) = pair else {
                    return Err(format!(
                        "`dict` needs a list of [key, value] pairs, but it holds {}",
                        describe(item)
                    ));
                };
                map.insert(k, v);
            }
            a.value(Value::dict(map))
        }
        Some(_) => Err(a.need(0, "a dictionary or a list of [key, value] pairs")),
    }
}

fn list(a: &Args) -> Out {
    // SmartQuery's `list(*args)`: the arguments themselves (`keys(d)` gives a Dictionary's keys).
    a.list_value(a.values.to_vec())
}

fn len(a: &Args) -> Out {
    let n = match a.get(0) {
        Value::String(s) => s.chars().count(),
        Value::List(l) => l.len(),
        Value::Dict(d) => d.len(),
        _ => return Err(a.need(0, "a string, list or dictionary")),
    };
    Ok(Value::from(n))
}

// ---- strings --------------------------------------------------------------------------------

fn strip(a: &Args) -> Out {
    let s = a.text(0)?;
    let stripped = match a.opt(1) {
        None => s.trim(),
        Some(_) => {
            let chars = a.text(1)?;
            s.trim_matches(|c| chars.contains(c))
        }
    };
    Ok(Value::from(stripped))
}

fn replace(a: &Args) -> Out {
    let (s, old, new) = (a.text(0)?, a.text(1)?, a.text(2)?);
    // `count` as Python's: at most that many, from the left; negative (or absent) means all.
    let limit = match a.opt(3) {
        Some(_) => a.whole(3, "the count")?,
        None => -1,
    };
    if limit >= 0 {
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let found = if old.is_empty() {
            (s.chars().count() + 1).min(limit)
        } else {
            s.matches(&*old).take(limit).count()
        };
        if found.saturating_mul(new.len()).saturating_add(s.len()) > MAX_STRING_BYTES {
            return Err(a.too_long());
        }
        return Ok(Value::from(if old.is_empty() {
            // Python inserts `new` before each character (and at the end), `count` times.
            let mut out = String::new();
            let mut inserted = 0;
            for c in s.chars() {
                if inserted < limit {
                    out.push_str(&new);
                    inserted += 1;
                }
                out.push(c);
            }
            if inserted < limit {
                out.push_str(&new);
            }
            out
        } else {
            s.replacen(&*old, &new, limit)
        }));
    }
    // Sized before building: a short text with many matches can ask for terabytes.
    let count = s.matches(&*old).count();
    let size = count
        .checked_mul(new.len())
        .and_then(|added| (s.len() - count * old.len()).checked_add(added));
    match size {
        Some(n) if n <= MAX_STRING_BYTES => Ok(Value::from(s.replace(&*old, &new))),
        _ => Err(a.too_long()),
    }
}

fn split(a: &Args) -> Out {
    let s = a.text(0)?;
    let sep = match a.opt(1) {
        Some(_) => Some(a.text(1)?),
        None => None,
    };
    // `maxsplit` as Python's: at most that many splits, the rest left in the last part.
    let max = match a.opt(2) {
        Some(_) => a.whole(2, "the maximum number of splits")?,
        None => -1,
    };
    let pieces = usize::try_from(max).map_or(usize::MAX, |m| m.saturating_add(1));
    let parts: Box<dyn Iterator<Item = &str>> = match sep.as_deref() {
        None if max >= 0 => Box::new(split_whitespace_n(&s, pieces)),
        None => Box::new(s.split_whitespace()),
        Some("") => Box::new(s.char_indices().map(|(i, c)| &s[i..i + c.len_utf8()])),
        Some(sep) => Box::new(s.splitn(pieces, sep)),
    };
    let mut out = Vec::new();
    for part in parts {
        if out.len() == crate::value::MAX_LEN {
            return Err(a.too_many());
        }
        out.push(Value::from(part));
    }
    Ok(Value::from(out))
}

fn join(a: &Args) -> Out {
    let items = a.list(0)?;
    let sep = match a.opt(1) {
        Some(_) => a.text(1)?,
        None => Cow::Borrowed("\n"),
    };
    let mut text = Text::new();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            text.push(a, &sep)?;
        }
        text.push_value(a, item)?;
    }
    Ok(Value::from(text.buf))
}

/// The `urlencode` set: everything but RFC 3986's unreserved characters.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn urlencode(a: &Args) -> Out {
    let mut text = Text::new();
    if let Some(d) = a.get(0).as_dict() {
        for (i, (k, v)) in d.iter().enumerate() {
            if i > 0 {
                text.push(a, "&")?;
            }
            for piece in utf8_percent_encode(k, COMPONENT) {
                text.push(a, piece)?;
            }
            text.push(a, "=")?;
            let mut value = Text::new();
            value.push_value(a, v)?;
            for piece in utf8_percent_encode(&value.buf, COMPONENT) {
                text.push(a, piece)?;
            }
        }
        return Ok(Value::from(text.buf));
    }
    let s = text_of(a.get(0)).ok_or_else(|| a.need(0, "a string or a dictionary"))?;
    for piece in utf8_percent_encode(&s, COMPONENT) {
        text.push(a, piece)?;
    }
    Ok(Value::from(text.buf))
}

// ---- regular expressions --------------------------------------------------------------------

/// Python's `s.split(None, n)`: runs of whitespace, at most `pieces` parts, the last one holding
/// the rest (leading whitespace dropped).
fn split_whitespace_n(s: &str, pieces: usize) -> impl Iterator<Item = &str> {
    let mut rest = s.trim_start();
    let mut made = 0;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        made += 1;
        if made == pieces {
            let last = rest.trim_end();
            rest = "";
            return Some(last);
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let part = &rest[..end];
        rest = rest[end..].trim_start();
        Some(part)
    })
}

fn regex_match(a: &Args) -> Out {
    let s = a.text(0)?;
    let pattern = a.text(1)?;
    let flags = match a.opt(2) {
        Some(_) => a.text(2)?,
        None => Cow::Borrowed(""),
    };
    let re = crate::check::cached_regex(&pattern, &flags)
        .map_err(|e| format!("`{}`: invalid regex: {e}", a.name))?;
    match a.name {
        "match" => Ok(re.find(&s).map(|m| Value::from(m.as_str())).into()),
        // Python's `findall`: the whole matches without groups, the group with one, a List
        // of the groups with several.
        "match_all" => {
            let mut out = Vec::new();
            let groups = re.captures_len() - 1;
            for caps in re.captures_iter(&s) {
                if out.len() == crate::value::MAX_LEN {
                    return Err(a.too_many());
                }
                let group = |i: usize| Value::from(caps.get(i).map_or("", |m| m.as_str()));
                out.push(match groups {
                    0 => group(0),
                    1 => group(1),
                    n => Value::from((1..=n).map(group).collect::<Vec<_>>()),
                });
            }
            Ok(Value::from(out))
        }
        // The whole match first, then every group (null for one that took no part).
        _ => {
            let Some(caps) = re.captures(&s) else {
                return Ok(Value::Null);
            };
            let group = |i: usize| Value::from(caps.get(i).map(|m| m.as_str()));
            Ok(Value::from((0..caps.len()).map(group).collect::<Vec<_>>()))
        }
    }
}

// ---- containers -----------------------------------------------------------------------------

fn items(a: &Args) -> Out {
    let pairs = a
        .dict(0)?
        .iter()
        .map(|(k, v)| Value::from(vec![Value::String(k.clone()), v.clone()]));
    Ok(Value::from(pairs.collect::<Vec<_>>()))
}

fn get(a: &Args) -> Out {
    let default = || a.get(2).clone();
    let key = a.get(1);
    let index = || key.to_number().and_then(|n| n.to_i64());
    match a.get(0) {
        Value::Null => Ok(default()),
        Value::Dict(d) => Ok(key_text(key)
            .and_then(|k| d.get(&*k).cloned())
            .unwrap_or_else(default)),
        Value::List(l) => Ok(index()
            .and_then(|i| position(i, l.len()))
            .map_or_else(default, |i| l[i].clone())),
        Value::String(s) => {
            let n = s.chars().count();
            Ok(index()
                .and_then(|i| position(i, n))
                .and_then(|i| s.chars().nth(i))
                .map_or_else(default, |c| Value::from(c.to_string())))
        }
        _ => Err(a.need(0, "a dictionary, list or string")),
    }
}

fn has(a: &Args) -> Out {
    let (container, x) = (a.get(0), a.get(1));
    match container {
        Value::Null => Ok(false.into()),
        Value::Dict(_) | Value::List(_) | Value::String(_) => {
            a.value(ops::contains(x, container).map(Value::from))
        }
        _ => Err(a.need(0, "a dictionary, list or string")),
    }
}

fn index_of(a: &Args) -> Out {
    let found = match a.get(0) {
        Value::List(l) => l.iter().position(|x| ops::eq(x, a.get(1))),
        Value::String(s) => {
            let needle = a.text(1)?;
            s.find(&*needle).map(|byte| s[..byte].chars().count())
        }
        _ => return Err(a.need(0, "a list or a string")),
    };
    Ok(found.map_or(Value::Null, Value::from))
}

fn enumerate(a: &Args) -> Out {
    let pairs = a
        .list(0)?
        .iter()
        .enumerate()
        .map(|(i, x)| Value::from(vec![Value::from(i), x.clone()]));
    Ok(Value::from(pairs.collect::<Vec<_>>()))
}

fn reversed(a: &Args) -> Out {
    match a.get(0) {
        Value::List(l) => Ok(Value::from(l.iter().rev().cloned().collect::<Vec<_>>())),
        Value::String(s) => Ok(Value::from(s.chars().rev().collect::<String>())),
        _ => Err(a.need(0, "a list or a string")),
    }
}

fn pop(a: &Args) -> Out {
    let items = a.list(0)?;
    let index = match a.opt(1) {
        Some(_) => a.whole(1, "the index")?,
        None => -1,
    };
    let Some(i) = position(index, items.len()) else {
        return Err(if items.is_empty() {
            "`pop` cannot remove from an empty list".to_string()
        } else {
            format!(
                "`pop`: index {index} is out of range for a list of {} elements",
                items.len()
            )
        });
    };
    let mut out = items.to_vec();
    out.remove(i);
    Ok(Value::from(out))
}

fn insert(a: &Args) -> Out {
    let items = a.list(0)?;
    let index = a.whole(1, "the index")?;
    let mut out = items.to_vec();
    out.insert(clamp_bound(index, items.len()), a.get(2).clone());
    a.list_value(out)
}

fn remove(a: &Args) -> Out {
    let x = a.get(1);
    match a.get(0) {
        Value::List(l) => match l.iter().position(|item| ops::eq(item, x)) {
            Some(i) => {
                let mut out = l.to_vec();
                out.remove(i);
                Ok(Value::from(out))
            }
            None => Ok(a.get(0).clone()),
        },
        Value::Dict(d) => {
            let Some(k) = key_text(x) else {
                return Ok(a.get(0).clone());
            };
            if !d.contains_key(&*k) {
                return Ok(a.get(0).clone());
            }
            let mut out = (**d).clone();
            out.shift_remove(&*k);
            Ok(Value::from(out))
        }
        _ => Err(a.need(0, "a list or a dictionary")),
    }
}

fn slice(a: &Args) -> Out {
    let from = match a.opt(1) {
        Some(_) => Some(a.whole(1, "the start")?),
        None => None,
    };
    let to = match a.opt(2) {
        Some(_) => Some(a.whole(2, "the end")?),
        None => None,
    };
    match a.get(0) {
        // Python's rules, shared with `x[from:to]`.
        v @ (Value::List(_) | Value::String(_)) => a.value(v.slice(from, to)),
        _ => Err(a.need(0, "a list or a string")),
    }
}

fn unique(a: &Args) -> Out {
    let items = a.list(0)?;
    let mut kept: Vec<Value> = Vec::new();
    // Buckets of kept elements by a hash that agrees with `==`; `==` decides within a bucket.
    let mut buckets: HashMap<u64, Vec<usize>> = HashMap::new();
    for item in items {
        let bucket = buckets.entry(eq_hash(item)).or_default();
        if bucket.iter().any(|&i| ops::eq(&kept[i], item)) {
            continue;
        }
        bucket.push(kept.len());
        kept.push(item.clone());
    }
    Ok(Value::from(kept))
}

/// A hash equal for values that `==` finds equal: a numeric String hashes as its number,
/// Dictionary entries in any order.
fn eq_hash(v: &Value) -> u64 {
    fn feed(v: &Value, h: &mut DefaultHasher, depth: usize) {
        match v {
            Value::Null => 0u8.hash(h),
            Value::Bool(b) => (1u8, b).hash(h),
            Value::Number(n) => (2u8, n).hash(h),
            Value::String(s) => match Number::parse(s) {
                Some(n) => (2u8, n).hash(h),
                None => (3u8, s).hash(h),
            },
            Value::List(l) => {
                (4u8, l.len()).hash(h);
                if depth < 8 {
                    l.iter().for_each(|x| feed(x, h, depth + 1));
                }
            }
            Value::Dict(d) => {
                (5u8, d.len()).hash(h);
                if depth < 8 {
                    let entries = d.iter().fold(0u64, |acc, (k, x)| {
                        let mut e = DefaultHasher::new();
                        k.hash(&mut e);
                        feed(x, &mut e, depth + 1);
                        acc.wrapping_add(e.finish())
                    });
                    entries.hash(h);
                }
            }
        }
    }
    let mut h = DefaultHasher::new();
    feed(v, &mut h, 0);
    h.finish()
}

// ---- ordering -------------------------------------------------------------------------------

/// What `sorted`, `min` and `max` compare: a total order, so sorting can never meet an
/// inconsistent comparison.
#[derive(Debug)]
enum Key {
    Null,
    Bool(bool),
    Num(Number),
    Str(Arc<str>),
    List(Vec<Key>),
}

impl Key {
    fn rank(&self) -> u8 {
        match self {
            Key::Null => 0,
            Key::Bool(_) => 1,
            Key::Num(_) => 2,
            Key::Str(_) => 3,
            Key::List(_) => 4,
        }
    }

    /// The key of a List element, no coercion between types (they order by type).
    fn nested(v: &Value, depth: usize) -> Option<Key> {
        Some(match v {
            Value::Null => Key::Null,
            Value::Bool(b) => Key::Bool(*b),
            Value::Number(n) => Key::Num(n.clone()),
            Value::String(s) => Key::Str(s.clone()),
            Value::List(l) if depth < MAX_DEPTH => Key::List(
                l.iter()
                    .map(|x| Key::nested(x, depth + 1))
                    .collect::<Option<_>>()?,
            ),
            Value::List(_) | Value::Dict(_) => return None,
        })
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        match (self, other) {
            (Key::Bool(x), Key::Bool(y)) => x.cmp(y),
            (Key::Num(x), Key::Num(y)) => x.cmp(y),
            (Key::Str(x), Key::Str(y)) => x.cmp(y),
            (Key::List(x), Key::List(y)) => x.cmp(y),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Key {}

/// The keys to order `items` by (see the module docs), or why they cannot be ordered.
fn order_keys(name: &str, items: &[Value]) -> Result<Vec<Key>, String> {
    if let Some(numbers) = items
        .iter()
        .map(Value::to_number)
        .collect::<Option<Vec<_>>>()
    {
        return Ok(numbers.into_iter().map(Key::Num).collect());
    }
    if let Some(texts) = items
        .iter()
        .map(|v| v.as_str().map(Arc::from))
        .collect::<Option<Vec<_>>>()
    {
        return Ok(texts.into_iter().map(Key::Str).collect());
    }
    let first = items.first().map_or("null", Value::type_name);
    if items.iter().all(|v| v.type_name() == first) && matches!(first, "boolean" | "list") {
        if let Some(keys) = items
            .iter()
            .map(|v| Key::nested(v, 0))
            .collect::<Option<Vec<_>>>()
        {
            return Ok(keys);
        }
        return Err(format!(
            "`{name}` cannot compare lists that hold dictionaries or nest too deeply"
        ));
    }
    if items.iter().any(|v| matches!(v, Value::Dict(_))) {
        let hint = if name == "sorted" {
            "; sort by a key instead: sorted(list, x => x.name)"
        } else {
            ""
        };
        return Err(format!("`{name}` cannot compare dictionaries{hint}"));
    }
    // Numbers and Strings mix only when every String holds a number.
    let number = items.iter().find(|v| matches!(v, Value::Number(_)));
    let word = items
        .iter()
        .find(|v| v.as_str().is_some_and(|s| Number::parse(s).is_none()));
    let (x, y) = match (number, word) {
        (Some(x), Some(y)) => (x, y),
        _ => {
            let x = &items[0];
            let y = items
                .iter()
                .find(|v| v.type_name() != x.type_name() && v.to_number().is_none())
                .or_else(|| items.iter().find(|v| v.type_name() != x.type_name()))
                .unwrap_or(x);
            (x, y)
        }
    };
    Err(format!(
        "`{name}` cannot compare {} with {}",
        describe(x),
        describe(y)
    ))
}

fn sorted(a: &Args) -> Out {
    // Without a lambda (that case is evaluated in `Env`), the second argument is `reverse`.
    if a.values.len() > 2 {
        return Err(
            "`sorted` takes a lambda as its second argument: sorted(list, x => x.price, true)"
                .to_string(),
        );
    }
    let reverse = a.opt(1).is_some_and(Value::truthy);
    let items: Cow<[Value]> = match a.get(0) {
        Value::List(l) => Cow::Borrowed(&l[..]),
        Value::Dict(d) => Cow::Owned(d.keys().map(|k| Value::String(k.clone())).collect()),
        _ => return Err(a.need(0, "a list or a dictionary")),
    };
    let keys = order_keys("sorted", &items)?;
    let mut order: Vec<usize> = (0..items.len()).collect();
    order.sort_by(|&i, &j| keys[i].cmp(&keys[j]));
    if reverse {
        // Python's reverse keeps equal elements in their order.
        order.reverse();
        let mut k = 0;
        while k < order.len() {
            let mut end = k + 1;
            while end < order.len() && keys[order[end]].cmp(&keys[order[k]]) == Ordering::Equal {
                end += 1;
            }
            order[k..end].reverse();
            k = end;
        }
    }
    // A Dictionary comes back as a Dictionary, sorted by key.
    if let Value::Dict(d) = a.get(0) {
        let map: Map = order
            .into_iter()
            .filter_map(|i| {
                let (k, v) = d.get_index(i)?;
                Some((k.clone(), v.clone()))
            })
            .collect();
        return Ok(Value::from(map));
    }
    Ok(Value::from(
        order
            .into_iter()
            .map(|i| items[i].clone())
            .collect::<Vec<_>>(),
    ))
}

/// `min` (`want` = Less) and `max` (Greater): of one List, or of several arguments.
fn extreme(a: &Args, want: Ordering) -> Out {
    let items = match a.values {
        [Value::List(l)] => &l[..],
        [_] => return Err(a.need(0, "a list or several values")),
        several => several,
    };
    if items.is_empty() {
        return Err(format!(
            "`{}` needs at least one value, not an empty list",
            a.name
        ));
    }
    let keys = order_keys(a.name, items)?;
    let mut best = 0;
    for (i, key) in keys.iter().enumerate().skip(1) {
        if key.cmp(&keys[best]) == want {
            best = i;
        }
    }
    Ok(items[best].clone())
}

// ---- numbers --------------------------------------------------------------------------------

fn round(a: &Args) -> Out {
    let x = a.number(0)?;
    let places = match a.opt(1) {
        Some(_) => a.whole(1, "the number of places")?,
        None => 0,
    };
    // Past a few hundred places nothing changes (or everything is 0); keeps the digit work small.
    Ok(x.round(places.clamp(-1000, 1000)).into())
}

fn sum(a: &Args) -> Out {
    let mut total = Number::ZERO;
    for item in a.list(0)? {
        let Some(n) = item.to_number() else {
            return Err(format!(
                "`sum` needs numbers, but the list holds {}",
                describe(item)
            ));
        };
        total = total.add(&n).map_err(|e| a.error(e))?;
    }
    Ok(total.into())
}

fn rand(a: &Args, cx: &mut Context) -> Out {
    match a.values {
        [] => {
            let micro = cx.below(1_000_000) as i64;
            Ok(Number::from_decimal(Decimal::new(micro, 6)).into())
        }
        [Value::List(l)] => {
            if l.is_empty() {
                return Err("`rand` cannot pick from an empty list".to_string());
            }
            Ok(l[cx.below(l.len() as u64) as usize].clone())
        }
        [_] => Err(format!(
            "`rand` with one argument picks from a list, not {}; rand(a, b) gives a whole number from a to b",
            describe(a.get(0))
        )),
        _ => {
            let low = a.whole(0, "the lower bound")?;
            let high = a.whole(1, "the upper bound")?;
            if low > high {
                return Err(format!(
                    "`rand(a, b)` needs a ≤ b, but {low} is greater than {high}"
                ));
            }
            let span = (i128::from(high) - i128::from(low) + 1) as u128;
            let offset = (u128::from(cx.next_u64()) * span) >> 64;
            let n = i128::from(low) + offset as i128;
            Ok(Number::from_i128(n).into())
        }
    }
}

// ---- text forms -----------------------------------------------------------------------------

/// Compact JSON text of `v`, at most `limit` bytes.
fn json_text(a: &Args, v: &Value, limit: usize) -> Result<String, String> {
    /// Stops serde_json once the text passes the bound instead of building it whole.
    struct Bounded {
        out: Vec<u8>,
        limit: usize,
        over: bool,
    }
    impl io::Write for Bounded {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            if self.out.len() + bytes.len() > self.limit {
                self.over = true;
                return Err(io::Error::other("too large"));
            }
            self.out.extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    let mut w = Bounded {
        out: Vec::new(),
        limit,
        over: false,
    };
    match serde_json::to_writer(&mut w, v) {
        Ok(()) => String::from_utf8(w.out).map_err(|e| format!("`{}`: {e}", a.name)),
        Err(_) if w.over => Err(a.too_long()),
        Err(_) => Err(a.error(ValueError::TooDeep)),
    }
}

fn json_parse(a: &Args) -> Out {
    let text = a.text(0)?;
    let v = Value::parse_json(&text)
        .map_err(|e| format!("`json_parse` cannot read the text as JSON: {e}"))?;
    // A short text can hold more elements than an expression may build.
    fn check(v: &Value) -> Result<(), ValueError> {
        match v {
            Value::List(l) => {
                crate::value::check_list_len(l.len())?;
                l.iter().try_for_each(check)
            }
            Value::Dict(d) => {
                crate::value::check_dict_len(d.len())?;
                d.values().try_for_each(check)
            }
            _ => Ok(()),
        }
    }
    check(&v).map_err(|e| a.error(e))?;
    Ok(v)
}

fn pretty(a: &Args) -> Out {
    /// A value inside a List or on a Dictionary line.
    fn inline(text: &mut Text, a: &Args, v: &Value) -> Result<(), String> {
        match v {
            Value::Number(n) => text.push(a, &n.grouped(" ", 5)),
            other => text.push_value(a, other),
        }
    }
    fn joined(text: &mut Text, a: &Args, items: &[Value], sep: &str) -> Result<(), String> {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                text.push(a, sep)?;
            }
            inline(text, a, item)?;
        }
        Ok(())
    }
    // `sep` as SmartQuery's: between a Dictionary's lines, a List's elements, a Number's groups.
    let sep = match a.opt(1) {
        Some(_) => Some(a.text(1)?),
        None => None,
    };
    let mut text = Text::new();
    match a.get(0) {
        Value::Number(n) => text.push(a, &n.grouped(sep.as_deref().unwrap_or(" "), 5))?,
        Value::Dict(d) => {
            for (i, (k, v)) in d.iter().enumerate() {
                if i > 0 {
                    text.push(a, sep.as_deref().unwrap_or("\n"))?;
                }
                text.push(a, k)?;
                text.push(a, ": ")?;
                match v {
                    Value::List(l) => joined(&mut text, a, l, ", ")?,
                    other => inline(&mut text, a, other)?,
                }
            }
        }
        Value::List(l) => joined(&mut text, a, l, sep.as_deref().unwrap_or(", "))?,
        other => inline(&mut text, a, other)?,
    }
    Ok(Value::from(text.buf))
}

/// `fixed(x, n)`: exactly `n` decimals (rounded half to even, as `round`): `fixed(13.9, 2)` is
/// `"13.90"`, so prices show as prices.
fn fixed(a: &Args) -> Out {
    let x = a.number(0)?;
    let places = a.whole(1, "the number of decimals")?;
    if !(0..=28).contains(&places) {
        return Err("`fixed` shows 0 to 28 decimals".to_string());
    }
    Ok(Value::from(x.fixed(places as usize)))
}

/// `format_number(x, n, sep)`: `n` decimals (default: as the number has them) and the
/// thousands grouped by `sep` (default a space): `format_number(1234.5, 2)` is `"1 234.50"`.
fn format_number(a: &Args) -> Out {
    let x = a.number(0)?;
    let text = match a.opt(1) {
        Some(_) => {
            let places = a.whole(1, "the number of decimals")?;
            if !(0..=28).contains(&places) {
                return Err("`format_number` shows 0 to 28 decimals".to_string());
            }
            x.fixed(places as usize)
        }
        None => x.to_string(),
    };
    let sep = match a.opt(2) {
        Some(_) => a.text(2)?,
        None => Cow::Borrowed(" "),
    };
    // The text is grouped, not the value: the trailing zeros of `n` decimals stay.
    Ok(Value::from(group_text(&text, &sep).unwrap_or(text)))
}

/// Groups the integer digits of a plain decimal text (`-1234.50` → `-1 234.50`).
fn group_text(text: &str, sep: &str) -> Option<String> {
    let (sign, unsigned) = match text.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", text),
    };
    let (int, frac) = match unsigned.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (unsigned, None),
    };
    if !int.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut out = String::from(sign);
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 && int.len() >= 4 {
            out.push_str(sep);
        }
        out.push(c);
    }
    if let Some(f) = frac {
        out.push('.');
        out.push_str(f);
    }
    Some(out)
}

// ---- dates ----------------------------------------------------------------------------------

/// A civil date and time as written (no time zone arithmetic beyond reading Unix time).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// Minutes east of UTC when the text gave a zone.
    offset: Option<i32>,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

impl Stamp {
    fn from_unix_ms(ms: i64) -> Stamp {
        Stamp::from_unix_seconds(ms.div_euclid(1000), Some(0))
    }

    fn from_unix_seconds(secs: i64, offset: Option<i32>) -> Stamp {
        let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
        let of_day = secs.rem_euclid(86_400) as u32;
        Stamp {
            year,
            month,
            day,
            hour: of_day / 3600,
            minute: of_day / 60 % 60,
            second: of_day % 60,
            offset,
        }
    }

    /// Reads `2026-11-28`, `2026-11-28T14:03`, `2026-11-28 14:03:05.123+03:00`, `…Z`.
    fn parse(text: &str) -> Option<Stamp> {
        let b = text.trim().as_bytes();
        let num = |from: usize, len: usize| -> Option<u32> {
            let digits = b.get(from..from + len)?;
            digits.iter().try_fold(0u32, |acc, &d| {
                d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
            })
        };
        if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
            return None;
        }
        let year = i64::from(num(0, 4)?);
        let (month, day) = (num(5, 2)?, num(8, 2)?);
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        let mut stamp = Stamp {
            year,
            month,
            day,
            hour: 0,
            minute: 0,
            second: 0,
            offset: None,
        };
        let mut at = 10;
        if at == b.len() {
            return Some(stamp);
        }
        if !matches!(b[at], b'T' | b't' | b' ') || b.get(at + 3) != Some(&b':') {
            return None;
        }
        stamp.hour = num(at + 1, 2)?;
        stamp.minute = num(at + 4, 2)?;
        at += 6;
        if b.get(at) == Some(&b':') {
            stamp.second = num(at + 1, 2)?;
            at += 3;
            if b.get(at) == Some(&b'.') {
                at += 1;
                let start = at;
                while b.get(at).is_some_and(u8::is_ascii_digit) {
                    at += 1;
                }
                if at == start {
                    return None;
                }
            }
        }
        if stamp.hour > 23 || stamp.minute > 59 || stamp.second > 59 {
            return None;
        }
        match b.get(at) {
            None => {}
            Some(b'Z' | b'z') => {
                stamp.offset = Some(0);
                at += 1;
            }
            Some(&sign @ (b'+' | b'-')) => {
                let hours = num(at + 1, 2)?;
                at += 3;
                if b.get(at) == Some(&b':') {
                    at += 1;
                }
                let minutes = if at < b.len() {
                    let m = num(at, 2)?;
                    at += 2;
                    m
                } else {
                    0
                };
                if hours > 23 || minutes > 59 {
                    return None;
                }
                let total = (hours * 60 + minutes) as i32;
                stamp.offset = Some(if sign == b'-' { -total } else { total });
            }
            Some(_) => return None,
        }
        (at == b.len()).then_some(stamp)
    }

    fn days(&self) -> i64 {
        days_from_civil(self.year, self.month, self.day)
    }

    /// Unix milliseconds (a text without a zone is read as UTC).
    fn unix_ms(&self) -> i64 {
        let secs = self.days() * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.offset.unwrap_or(0)) * 60;
        secs * 1000
    }

    fn iso(&self) -> String {
        format!(
            "{}T{:02}:{:02}:{:02}Z",
            self.date(),
            self.hour,
            self.minute,
            self.second
        )
    }

    fn date(&self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }

    /// `+0300`, `-0130`; UTC when the text gave no zone.
    fn offset_text(&self) -> String {
        let minutes = self.offset.unwrap_or(0);
        let sign = if minutes < 0 { '-' } else { '+' };
        let m = minutes.unsigned_abs();
        format!("{sign}{:02}{:02}", m / 60, m % 60)
    }
}

/// A point in time as `schedule at` and `time_add` take it: a text like `now()` gives
/// (`2026-03-02T10:00:00Z`, also with an offset, or a date alone), or Unix milliseconds.
pub(crate) fn time_ms(value: &Value) -> Result<i64, String> {
    const EXPECTED: &str = "a time like 2026-03-02T10:00:00Z, or Unix milliseconds";
    match value {
        Value::String(s) => Stamp::parse(s)
            .map(|t| t.unix_ms())
            .ok_or_else(|| format!("cannot read {} as a time ({EXPECTED})", quote(s))),
        Value::Number(n) => n
            .floor()
            .to_i64()
            .filter(|ms| ms.unsigned_abs() < 1 << 53)
            .ok_or_else(|| format!("cannot read {n} as a time ({EXPECTED})")),
        other => Err(format!(
            "cannot read {} as a time ({EXPECTED})",
            other.type_name()
        )),
    }
}

fn time_add(a: &Args) -> Out {
    let start = time_ms(a.get(0)).map_err(|e| format!("`time_add` {e}"))?;
    let seconds = a.number(1)?;
    let ms = seconds
        .mul(&Number::from(1000))
        .ok()
        .and_then(|ms| ms.floor().to_i64());
    let Some(end) = ms.and_then(|ms| start.checked_add(ms)) else {
        return Err(format!("`time_add`: {seconds} seconds is out of range"));
    };
    Ok(match a.get(0) {
        Value::Number(_) => Value::from(end),
        _ => Value::from(Stamp::from_unix_ms(end).iso()),
    })
}

fn format_date(a: &Args) -> Out {
    const EXPECTED: &str = "a date like 2026-11-28 or 2026-11-28T14:03:05Z, or Unix seconds";
    // 9999-12-31T23:59:59Z: four-digit years keep the text forms readable back.
    const LAST_SECOND: i64 = 253_402_300_799;
    let stamp = match a.get(0) {
        Value::String(s) => Stamp::parse(s).ok_or_else(|| {
            format!(
                "`format_date` cannot read {} as a date ({EXPECTED})",
                quote(s)
            )
        })?,
        Value::Number(n) => match n.floor().to_i64() {
            Some(secs) if (-62_167_219_200..=LAST_SECOND).contains(&secs) => {
                Stamp::from_unix_seconds(secs, Some(0))
            }
            _ => {
                return Err(format!(
                    "`format_date` cannot read {n} as a date ({EXPECTED})"
                ))
            }
        },
        _ => return Err(a.need(0, EXPECTED)),
    };
    let fmt = a.text(1)?;
    let mut out = Text::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push_char(a, c)?;
            continue;
        }
        let mut directive = chars.next();
        let pad = directive != Some('-');
        if !pad {
            directive = chars.next();
        }
        let two = |n: u32| {
            if pad {
                format!("{n:02}")
            } else {
                n.to_string()
            }
        };
        let hour12 = match stamp.hour % 12 {
            0 => 12,
            h => h,
        };
        let weekday = (stamp.days() + 4).rem_euclid(7) as usize;
        let piece = match directive {
            Some('Y') => format!("{:04}", stamp.year),
            Some('y') => format!("{:02}", stamp.year.rem_euclid(100)),
            Some('m') => two(stamp.month),
            Some('d') => two(stamp.day),
            Some('e') => format!("{:>2}", stamp.day),
            Some('H') => two(stamp.hour),
            Some('I') => two(hour12),
            Some('p') => if stamp.hour < 12 { "AM" } else { "PM" }.to_string(),
            Some('M') => two(stamp.minute),
            Some('S') => two(stamp.second),
            Some('j') => {
                let n = stamp.days() - days_from_civil(stamp.year, 1, 1) + 1;
                if pad {
                    format!("{n:03}")
                } else {
                    n.to_string()
                }
            }
            Some('a') => WEEKDAYS[weekday][..3].to_string(),
            Some('A') => WEEKDAYS[weekday].to_string(),
            Some('b') => MONTHS[stamp.month as usize - 1][..3].to_string(),
            Some('B') => MONTHS[stamp.month as usize - 1].to_string(),
            Some('u') => (if weekday == 0 { 7 } else { weekday }).to_string(),
            Some('w') => weekday.to_string(),
            Some('F') => stamp.date(),
            Some('T') => format!("{:02}:{:02}:{:02}", stamp.hour, stamp.minute, stamp.second),
            Some('R') => format!("{:02}:{:02}", stamp.hour, stamp.minute),
            Some('z') => stamp.offset_text(),
            Some('Z') => match stamp.offset {
                None | Some(0) => "UTC".to_string(),
                Some(_) => stamp.offset_text(),
            },
            Some('s') => {
                let local = stamp.days() * 86_400
                    + i64::from(stamp.hour * 3600 + stamp.minute * 60 + stamp.second);
                (local - i64::from(stamp.offset.unwrap_or(0)) * 60).to_string()
            }
            Some('%') => "%".to_string(),
            Some(other) => {
                return Err(format!(
                    "`format_date` does not know `%{other}` (use %Y %m %d %H %M %S and the like)"
                ))
            }
            None => return Err("`format_date`: the format ends with a lone `%`".to_string()),
        };
        out.push(a, &piece)?;
    }
    Ok(Value::from(out.buf))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-11-28T14:03:05Z.
    const NOW_MS: i64 = 1_795_874_585_000;

    fn cx() -> Context {
        Context {
            now_ms: NOW_MS,
            rng: 42,
        }
    }

    fn run(name: &str, args: &[Value]) -> Result<Value, String> {
        call(name, args, &mut cx()).map_err(|e| crate::value::unmark(&e))
    }

    /// The result as JSON text, or `error: …`.
    fn show(name: &str, args: &[Value]) -> String {
        match run(name, args) {
            Ok(v) => v.to_json_string().expect("shallow"),
            Err(e) => format!("error: {e}"),
        }
    }

    fn err(name: &str, args: &[Value]) -> String {
        match run(name, args) {
            Ok(v) => panic!("{name}: expected an error, got {v:?}"),
            Err(e) => e,
        }
    }

    fn j(text: &str) -> Value {
        Value::parse_json(text).expect("json")
    }

    fn s(text: &str) -> Value {
        Value::from(text)
    }

    fn n(text: &str) -> Value {
        Value::Number(Number::parse(text).expect("number"))
    }

    #[test]
    fn every_table_entry_is_implemented() {
        for f in functions::FUNCTIONS {
            let args = vec![Value::Null; f.min];
            if let Err(e) = run(f.name, &args) {
                assert!(!e.contains("not available"), "{}: {e}", f.name);
            }
        }
        assert_eq!(err("nope", &[]), "there is no function `nope`");
        assert_eq!(
            err("replace", &[s("a")]),
            "`replace` takes 3 or 4 arguments: replace(s, old, new, count?)"
        );
    }

    #[test]
    fn len_counts_characters() {
        assert_eq!(show("len", &[s("привет")]), "6");
        assert_eq!(show("len", &[j("[1,2,3]")]), "3");
        assert_eq!(show("len", &[j(r#"{"a":1}"#)]), "1");
        assert_eq!(
            err("len", &[n("5")]),
            "`len` needs a string, list or dictionary, not a number"
        );
    }

    #[test]
    fn conversions() {
        assert_eq!(show("int", &[s("42")]), "42");
        assert_eq!(show("int", &[n("3.9")]), "3");
        assert_eq!(show("int", &[n("-3.9")]), "-3");
        assert_eq!(show("int", &[s(" 3.9 ")]), "3");
        assert_eq!(show("int", &[Value::Bool(true)]), "1");
        assert_eq!(
            err("int", &[s("abc")]),
            r#"`int` cannot read "abc" as a number"#
        );
        assert_eq!(
            err("int", &[Value::Null]),
            "`int` needs a number or a string, not null"
        );
        assert_eq!(show("float", &[s(" 2.50 ")]), "2.5");
        assert_eq!(show("number", &[s("9007199254740993")]), "9007199254740993");
        assert_eq!(
            err("float", &[s("1,5")]),
            r#"`float` cannot read "1,5" as a number"#
        );
        assert_eq!(show("str", &[n("2.50")]), r#""2.5""#);
        assert_eq!(show("str", &[Value::Null]), r#""""#);
        assert_eq!(
            show("str", &[j(r#"{"a":[1,"x"]}"#)]),
            r#""{\"a\":[1,\"x\"]}""#
        );
        assert_eq!(show("bool", &[s("false")]), "true");
        assert_eq!(show("bool", &[j("[]")]), "false");
        assert_eq!(show("bool", &[n("0")]), "false");
        for (v, t) in [
            (s("x"), "string"),
            (n("1"), "number"),
            (j("{}"), "dictionary"),
            (j("[]"), "list"),
            (Value::Bool(false), "boolean"),
            (Value::Null, "null"),
        ] {
            assert_eq!(run("type", &[v]), Ok(s(t)));
        }
    }

    #[test]
    fn dict_and_list() {
        assert_eq!(show("dict", &[]), "{}");
        assert_eq!(
            show("dict", &[j(r#"[["a",1],[2,"b"]]"#)]),
            r#"{"a":1,"2":"b"}"#
        );
        assert_eq!(show("dict", &[j(r#"{"k":1}"#)]), r#"{"k":1}"#);
        assert_eq!(
            err("dict", &[j("[1]")]),
            "`dict` needs a list of [key, value] pairs, but it holds a number"
        );
        assert_eq!(show("list", &[]), "[]");
        // SmartQuery's `list(*args)`: the arguments themselves.
        assert_eq!(show("list", &[s("aб")]), r#"["aб"]"#);
        assert_eq!(show("list", &[n("1"), n("2"), n("3")]), "[1,2,3]");
        assert_eq!(show("list", &[j("[1]"), Value::Null]), "[[1],null]");
    }

    #[test]
    fn string_functions() {
        assert_eq!(show("startswith", &[s("hello"), s("he")]), "true");
        assert_eq!(show("endswith", &[s("hello"), s("he")]), "false");
        assert_eq!(show("startswith", &[n("123"), s("12")]), "true");
        assert_eq!(show("lower", &[s("ÀBC")]), r#""àbc""#);
        assert_eq!(show("upper", &[s("straße")]), r#""STRASSE""#);
        assert_eq!(
            err("upper", &[j("[]")]),
            "`upper` needs a string, not a list"
        );
        assert_eq!(show("strip", &[s("  a b \n")]), r#""a b""#);
        assert_eq!(show("trim", &[s("--a-b--"), s("-")]), r#""a-b""#);
        assert_eq!(
            err("trim", &[Value::Null]),
            "`trim` needs a string, not null"
        );
        assert_eq!(show("replace", &[s("a-b-c"), s("-"), s("")]), r#""abc""#);
        assert_eq!(show("replace", &[s("ab"), s(""), s("-")]), r#""-a-b-""#);
        assert_eq!(
            err(
                "replace",
                &[s(&"x".repeat(1000)), s("x"), s(&"y".repeat(20_000))]
            ),
            "`replace`: too large: a string may be at most 10 MiB long"
        );
    }

    #[test]
    fn split_and_join() {
        assert_eq!(show("split", &[s("a,b"), s(",")]), r#"["a","b"]"#);
        assert_eq!(show("split", &[s(" a  b\n")]), r#"["a","b"]"#);
        assert_eq!(show("split", &[s("аб"), s("")]), r#"["а","б"]"#);
        assert_eq!(show("split", &[s(""), s(",")]), r#"[""]"#);
        assert_eq!(
            err("split", &[s(&",".repeat(200_000)), s(",")]),
            "`split`: too large: a list may have at most 100000 elements"
        );
        assert_eq!(show("join", &[j(r#"["a","b"]"#)]), r#""a\nb""#);
        assert_eq!(
            show("join", &[j(r#"["a",1,null,[2]]"#), s(", ")]),
            r#""a, 1, , [2]""#
        );
        assert_eq!(
            err("join", &[s("ab")]),
            r#"`join` needs a list, not a string ("ab")"#
        );
        let big = Value::from(vec![s(&"x".repeat(1 << 20)); 11]);
        assert_eq!(
            err("join", &[big]),
            "`join`: too large: a string may be at most 10 MiB long"
        );
    }

    #[test]
    fn regex_functions() {
        assert_eq!(show("match", &[s("order 123, 456"), s(r"\d+")]), r#""123""#);
        assert_eq!(show("match", &[s("no digits"), s(r"\d+")]), "null");
        assert_eq!(
            show("match", &[s("Hello"), s("hello"), s("i")]),
            r#""Hello""#
        );
        assert_eq!(
            show(
                "match_groups",
                &[s("from 10 to 20"), s(r"from (?P<a>\d+) to (?P<b>\d+)")]
            ),
            r#"["from 10 to 20","10","20"]"#
        );
        assert_eq!(
            show("match_groups", &[s("10-20"), s(r"(\d+)-(\d+)(x)?")]),
            r#"["10-20","10","20",null]"#
        );
        // SmartQuery's own cases: the whole match comes first.
        assert_eq!(
            show("match_groups", &[s("1234 test"), s(r"\d+")]),
            r#"["1234"]"#
        );
        assert_eq!(
            show("match_groups", &[s("1234 test"), s(r"(\d+)")]),
            r#"["1234","1234"]"#
        );
        // `match_all` is Python's findall: the group when there is one, the groups when several.
        assert_eq!(
            show("match_all", &[s("a=1, b=2"), s(r"(\w)=\d")]),
            r#"["a","b"]"#
        );
        assert_eq!(
            show("match_all", &[s("a=1, b=2"), s(r"(\w)=(\d)")]),
            r#"[["a","1"],["b","2"]]"#
        );
        assert_eq!(show("match_groups", &[s("x"), s(r"(\d+)")]), "null");
        assert_eq!(
            show("match_all", &[s("a1b22c333"), s(r"\d+")]),
            r#"["1","22","333"]"#
        );
        assert!(err("match", &[s("x"), s("(")]).starts_with("`match`: invalid regex:"));
        assert_eq!(
            err("match", &[s("x"), s("x"), s("q")]),
            "`match`: invalid regex: unknown regex flag `q` (flags are i, m, s and x)"
        );
        // The cache hands back the pattern compiled with the right flags.
        assert_eq!(show("match", &[s("ABC"), s("b")]), "null");
        assert_eq!(show("match", &[s("ABC"), s("b"), s("i")]), r#""B""#);
    }

    #[test]
    fn dictionary_functions() {
        let d = j(r#"{"a":1,"b":null}"#);
        assert_eq!(show("keys", std::slice::from_ref(&d)), r#"["a","b"]"#);
        assert_eq!(show("values", std::slice::from_ref(&d)), "[1,null]");
        assert_eq!(
            show("items", std::slice::from_ref(&d)),
            r#"[["a",1],["b",null]]"#
        );
        assert_eq!(
            err("keys", &[j("[]")]),
            "`keys` needs a dictionary, not a list"
        );
        assert_eq!(
            err("values", &[s("x")]),
            r#"`values` needs a dictionary, not a string ("x")"#
        );
        assert_eq!(
            err("items", &[Value::Null]),
            "`items` needs a dictionary, not null"
        );
        assert_eq!(show("get", &[d.clone(), s("a")]), "1");
        assert_eq!(show("get", &[d.clone(), s("z"), s("none")]), r#""none""#);
        assert_eq!(show("get", &[d.clone(), s("b"), s("none")]), "null");
        assert_eq!(show("get", &[j("[1,2,3]"), n("-1")]), "3");
        assert_eq!(show("get", &[j("[1,2,3]"), n("5"), n("0")]), "0");
        assert_eq!(show("get", &[s("héllo"), n("1")]), r#""é""#);
        assert_eq!(show("get", &[Value::Null, s("a"), n("7")]), "7");
        assert_eq!(
            err("get", &[n("1"), s("a")]),
            "`get` needs a dictionary, list or string, not a number"
        );
        assert_eq!(show("has", &[d.clone(), s("b")]), "true");
        assert_eq!(show("has", &[d, s("z")]), "false");
        assert_eq!(show("has", &[j(r#"["vip"]"#), s("vip")]), "true");
        assert_eq!(show("has", &[s("hello"), s("ell")]), "true");
        assert_eq!(show("has", &[Value::Null, s("a")]), "false");
        assert_eq!(
            err("has", &[n("1"), n("1")]),
            "`has` needs a dictionary, list or string, not a number"
        );
    }

    #[test]
    fn sums_and_pretty() {
        assert_eq!(show("sum", &[j(r#"[1, "2", 0.1, 0.2]"#)]), "3.3");
        assert_eq!(show("sum", &[j("[]")]), "0");
        assert_eq!(
            err("sum", &[j(r#"[1, "x"]"#)]),
            r#"`sum` needs numbers, but the list holds a string ("x")"#
        );
        assert_eq!(show("pretty", &[n("12345")]), r#""12 345""#);
        assert_eq!(show("pretty", &[n("1234.5")]), r#""1234.5""#);
        assert_eq!(show("pretty", &[n("1234")]), r#""1234""#);
        assert_eq!(show("pretty", &[n("-1234")]), r#""-1234""#);
        assert_eq!(show("pretty", &[n("-123456789")]), r#""-123 456 789""#);
        assert_eq!(show("pretty", &[n("1234567"), s(",")]), r#""1,234,567""#);
        assert_eq!(
            show("pretty", &[j(r#"["tea", 10000, null]"#)]),
            r#""tea, 10 000, ""#
        );
        assert_eq!(show("pretty", &[j("[1, 2]"), s(" | ")]), r#""1 | 2""#);
        assert_eq!(
            show("pretty", &[j(r#"{"a":1,"b":2}"#), s("; ")]),
            r#""a: 1; b: 2""#
        );
        assert_eq!(show("fixed", &[n("13.9"), n("2")]), r#""13.90""#);
        assert_eq!(show("fixed", &[n("2.5"), n("0")]), r#""2""#);
        assert_eq!(show("fixed", &[s("7"), n("1")]), r#""7.0""#);
        assert!(err("fixed", &[n("1"), n("-1")]).contains("0 to 28 decimals"));
        assert_eq!(
            show("format_number", &[n("1234.5"), n("2")]),
            r#""1 234.50""#
        );
        assert_eq!(show("format_number", &[n("-1234567")]), r#""-1 234 567""#);
        assert_eq!(
            show("format_number", &[n("1234567.891"), n("2"), s(",")]),
            r#""1,234,567.89""#
        );
        assert_eq!(show("format_number", &[n("999.5"), n("0")]), r#""1 000""#);
        assert_eq!(
            show(
                "pretty",
                &[j(
                    r#"{"total": 12345, "items": ["tea", "cake"], "x": {"a": 1}}"#
                )]
            ),
            r#""total: 12 345\nitems: tea, cake\nx: {\"a\":1}""#
        );
        assert_eq!(show("pretty", &[s("as is")]), r#""as is""#);
    }

    #[test]
    fn lambda_functions_without_a_lambda() {
        assert_eq!(
            err("map", &[j("[1]"), n("1")]),
            "`map` needs a lambda as its second argument: map(list, x => value)"
        );
        assert!(err("filter", &[j("[1]"), n("1")]).starts_with("`filter` needs a lambda"));
        assert!(err("reduce", &[j("[1]"), n("1")]).starts_with("`reduce` needs a lambda"));
        assert_eq!(
            show("sorted", &[j("[1, 3, 2]"), Value::Bool(true)]),
            "[3,2,1]"
        );
    }

    #[test]
    fn sorting() {
        assert_eq!(show("sorted", &[j("[3, 1, 2.5, 10]")]), "[1,2.5,3,10]");
        assert_eq!(
            show("sorted", &[j(r#"["10", 9, "8.5"]"#)]),
            r#"["8.5",9,"10"]"#
        );
        assert_eq!(
            show("sorted", &[j(r#"["b", "a", "B", "é"]"#)]),
            r#"["B","a","b","é"]"#
        );
        assert_eq!(
            show("sorted", &[j(r#"["b", "10", "9"]"#)]),
            r#"["10","9","b"]"#
        );
        assert_eq!(
            show("sorted", &[j("[[2, 1], [1, 5], [1]]")]),
            "[[1],[1,5],[2,1]]"
        );
        assert_eq!(show("sorted", &[j("[true, false]")]), "[false,true]");
        // A Dictionary is sorted by key, and stays a Dictionary.
        assert_eq!(show("sorted", &[j(r#"{"b":1,"a":2}"#)]), r#"{"a":2,"b":1}"#);
        assert_eq!(
            show("sorted", &[j(r#"{"b":1,"a":2}"#), Value::Bool(true)]),
            r#"{"b":1,"a":2}"#
        );
        assert_eq!(show("sorted", &[j("[]")]), "[]");
        assert_eq!(
            err("sorted", &[j(r#"[1, "x"]"#)]),
            r#"`sorted` cannot compare a number with a string ("x")"#
        );
        assert_eq!(
            err("sorted", &[j(r#"["10", "x", 1]"#)]),
            r#"`sorted` cannot compare a number with a string ("x")"#
        );
        assert_eq!(
            err("sorted", &[j(r#"[{"a":1}]"#)]),
            "`sorted` cannot compare dictionaries; sort by a key instead: sorted(list, x => x.name)"
        );
        assert_eq!(
            err("sorted", &[j("[null, 1]")]),
            "`sorted` cannot compare null with a number"
        );
    }

    #[test]
    fn min_and_max() {
        assert_eq!(show("max", &[j("[3, 10, 2]")]), "10");
        assert_eq!(show("min", &[n("3"), n("-1"), n("2")]), "-1");
        assert_eq!(show("max", &[j(r#"["9", "10"]"#)]), r#""10""#);
        assert_eq!(show("max", &[j(r#"["pear", "apple"]"#)]), r#""pear""#);
        assert_eq!(show("min", &[j(r#"[1, "1"]"#)]), "1");
        assert_eq!(
            err("max", &[j("[]")]),
            "`max` needs at least one value, not an empty list"
        );
        assert_eq!(
            err("min", &[n("5")]),
            "`min` needs a list or several values, not a number"
        );
        assert_eq!(
            err("max", &[n("1"), s("a")]),
            r#"`max` cannot compare a number with a string ("a")"#
        );
    }

    #[test]
    fn list_functions() {
        assert_eq!(show("reversed", &[j("[1,2,3]")]), "[3,2,1]");
        assert_eq!(show("reversed", &[s("абв")]), r#""вба""#);
        assert_eq!(
            err("reversed", &[n("1")]),
            "`reversed` needs a list or a string, not a number"
        );
        assert_eq!(
            show("enumerate", &[j(r#"["a","b"]"#)]),
            r#"[[0,"a"],[1,"b"]]"#
        );
        assert_eq!(
            err("enumerate", &[j("{}")]),
            "`enumerate` needs a list, not a dictionary"
        );
        assert_eq!(show("index_of", &[j(r#"[1,"2",3]"#), n("2")]), "1");
        assert_eq!(show("index_of", &[j("[1]"), n("5")]), "null");
        assert_eq!(show("index_of", &[s("привет"), s("вет")]), "3");
        assert_eq!(show("index_of", &[s("abc"), s("z")]), "null");
        assert_eq!(
            err("index_of", &[n("1"), n("1")]),
            "`index_of` needs a list or a string, not a number"
        );
        assert_eq!(show("push", &[j("[1]"), s("tea")]), r#"[1,"tea"]"#);
        assert_eq!(
            err("push", &[s("x"), n("1")]),
            r#"`push` needs a list, not a string ("x")"#
        );
        let full = Value::from(vec![Value::Null; crate::value::MAX_LEN]);
        assert_eq!(
            err("push", &[full, n("1")]),
            "`push`: too large: a list may have at most 100000 elements"
        );
        assert_eq!(show("pop", &[j("[1,2,3]")]), "[1,2]");
        assert_eq!(show("pop", &[j("[1,2,3]"), n("0")]), "[2,3]");
        assert_eq!(show("pop", &[j("[1,2,3]"), n("-2")]), "[1,3]");
        assert_eq!(
            err("pop", &[j("[1,2,3]"), n("3")]),
            "`pop`: index 3 is out of range for a list of 3 elements"
        );
        assert_eq!(
            err("pop", &[j("[]")]),
            "`pop` cannot remove from an empty list"
        );
        assert_eq!(show("insert", &[j("[1,3]"), n("1"), n("2")]), "[1,2,3]");
        assert_eq!(show("insert", &[j("[1,2]"), n("-1"), n("9")]), "[1,9,2]");
        assert_eq!(show("insert", &[j("[1]"), n("99"), n("2")]), "[1,2]");
        assert_eq!(
            err("insert", &[j("[1]"), n("0.5"), n("2")]),
            "`insert` needs a whole number as the index, not a number"
        );
        assert_eq!(show("remove", &[j("[1,2,1]"), n("1")]), "[2,1]");
        assert_eq!(show("remove", &[j("[1,2]"), n("5")]), "[1,2]");
        assert_eq!(
            show("remove", &[j(r#"{"a":1,"b":2,"c":3}"#), s("b")]),
            r#"{"a":1,"c":3}"#
        );
        assert_eq!(
            err("remove", &[s("abc"), s("a")]),
            r#"`remove` needs a list or a dictionary, not a string ("abc")"#
        );
        assert_eq!(
            show(
                "unique",
                &[j(
                    r#"[1, "1", 2, "a", "a", [1], ["1"], {"x":1}, {"x":"1"}, null, null]"#
                )]
            ),
            r#"[1,2,"a",[1],{"x":1},null]"#
        );
        assert_eq!(
            show("unique", &[j(r#"["1", "1.0", "01"]"#)]),
            r#"["1","1.0","01"]"#
        );
        assert_eq!(
            err("unique", &[j("{}")]),
            "`unique` needs a list, not a dictionary"
        );
    }

    #[test]
    fn slices() {
        assert_eq!(show("slice", &[j("[1,2,3,4]"), n("1"), n("3")]), "[2,3]");
        assert_eq!(show("slice", &[j("[1,2,3,4]"), n("-2")]), "[3,4]");
        assert_eq!(show("slice", &[j("[1,2,3,4]"), n("3"), n("1")]), "[]");
        assert_eq!(show("slice", &[j("[1,2]"), n("-10"), n("10")]), "[1,2]");
        assert_eq!(show("slice", &[s("привет"), n("0"), n("-3")]), r#""при""#);
        assert_eq!(show("slice", &[s("abc"), Value::Null, n("2")]), r#""ab""#);
        assert_eq!(
            err("slice", &[s("abc"), s("x")]),
            r#"`slice` needs a whole number as the start, not a string ("x")"#
        );
        assert_eq!(
            err("slice", &[n("5"), n("1")]),
            "`slice` needs a list or a string, not a number"
        );
    }

    #[test]
    fn number_functions() {
        assert_eq!(show("round", &[n("2.675"), n("2")]), "2.68");
        assert_eq!(show("round", &[n("2.5")]), "2");
        assert_eq!(show("round", &[n("3.5")]), "4");
        assert_eq!(show("round", &[s("1234"), n("-2")]), "1200");
        assert_eq!(
            err("round", &[s("x")]),
            r#"`round` needs a number, not a string ("x")"#
        );
        assert_eq!(show("floor", &[n("-2.5")]), "-3");
        assert_eq!(show("ceil", &[s("2.1")]), "3");
        assert_eq!(show("abs", &[n("-4.5")]), "4.5");
        assert_eq!(err("abs", &[Value::Null]), "`abs` needs a number, not null");
        assert_eq!(
            err("floor", &[j("[]")]),
            "`floor` needs a number, not a list"
        );
        assert_eq!(show("mod", &[n("-7"), n("3")]), "2");
        assert_eq!(show("mod", &[s("10"), n("4")]), "2");
        assert_eq!(err("mod", &[n("1"), n("0")]), "`mod`: division by zero");
    }

    #[test]
    fn rand_repeats_for_a_seed() {
        let mut a = cx();
        let mut b = cx();
        let draws: Vec<Value> = (0..5)
            .map(|_| call("rand", &[], &mut a).expect("rand"))
            .collect();
        let again: Vec<Value> = (0..5)
            .map(|_| call("rand", &[], &mut b).expect("rand"))
            .collect();
        assert_eq!(draws, again);
        assert_ne!(draws[0], draws[1]);
        for d in &draws {
            let x = d.as_number().expect("number");
            assert!(*x >= Number::ZERO && *x < Number::ONE, "{x}");
            assert!(x.round(6) == *x);
        }
        let mut c = cx();
        for _ in 0..200 {
            let v = call("rand", &[n("1"), n("6")], &mut c).expect("rand");
            let k = v.as_number().and_then(Number::to_i64).expect("int");
            assert!((1..=6).contains(&k));
        }
        assert_eq!(show("rand", &[n("5"), n("5")]), "5");
        let big = call(
            "rand",
            &[n("-9223372036854775808"), n("9223372036854775807")],
            &mut c,
        );
        assert!(big.is_ok());
        let picked = run("rand", &[j(r#"["a","b","c"]"#)]).expect("pick");
        assert!(ops::contains(&picked, &j(r#"["a","b","c"]"#)).expect("list"));
        assert_eq!(
            err("rand", &[j("[]")]),
            "`rand` cannot pick from an empty list"
        );
        assert_eq!(
            err("rand", &[n("5"), n("1")]),
            "`rand(a, b)` needs a ≤ b, but 5 is greater than 1"
        );
        assert!(err("rand", &[n("5")]).starts_with("`rand` with one argument picks from a list"));
        assert_eq!(
            err("rand", &[n("1.5"), n("3")]),
            "`rand` needs a whole number as the lower bound, not a number"
        );
    }

    #[test]
    fn shuffle_is_a_permutation_that_repeats() {
        let list = Value::from((0..50).map(Value::from).collect::<Vec<_>>());
        let first = run("shuffle", std::slice::from_ref(&list)).expect("shuffle");
        assert_eq!(
            run("shuffle", std::slice::from_ref(&list)),
            Ok(first.clone())
        );
        assert_ne!(first, list);
        let sorted = run("sorted", &[first]).expect("sorted");
        assert_eq!(sorted, list);
        let mut c = cx();
        call("shuffle", std::slice::from_ref(&list), &mut c).expect("shuffle");
        assert_ne!(c.rng, cx().rng, "each use advances the state");
        assert_eq!(
            err("shuffle", &[s("ab")]),
            r#"`shuffle` needs a list, not a string ("ab")"#
        );
    }

    #[test]
    fn json_functions() {
        let text = r#"{"z":1,"a":[9007199254740993,1e400,2.50,null,true,"x"]}"#;
        assert_eq!(
            run("json", &[run("json_parse", &[s(text)]).expect("parse")]),
            Ok(s(
                r#"{"z":1,"a":[9007199254740993,1e400,2.5,null,true,"x"]}"#
            ))
        );
        assert_eq!(show("json", &[s("a\"b")]), r#""\"a\\\"b\"""#);
        assert_eq!(show("json", &[Value::Null]), r#""null""#);
        assert!(err("json_parse", &[s("{oops")])
            .starts_with("`json_parse` cannot read the text as JSON: "));
        assert_eq!(
            err("json_parse", &[Value::Null]),
            "`json_parse` needs a string, not null"
        );
        let many = format!("[{}0]", "0,".repeat(crate::value::MAX_LEN));
        assert_eq!(
            err("json_parse", &[s(&many)]),
            "`json_parse`: too large: a list may have at most 100000 elements"
        );
        let mut deep = Value::Null;
        for _ in 0..=MAX_DEPTH {
            deep = Value::from(vec![deep]);
        }
        assert_eq!(
            err("json", &[deep]),
            format!("`json`: too deeply nested: lists and dictionaries may nest at most {MAX_DEPTH} levels")
        );
    }

    #[test]
    fn urlencode_is_one_component() {
        assert_eq!(
            show("urlencode", &[s("a&b=c d/e")]),
            r#""a%26b%3Dc%20d%2Fe""#
        );
        assert_eq!(show("urlencode", &[s("-._~ü")]), r#""-._~%C3%BC""#);
        assert_eq!(
            show("urlencode", &[j(r#"{"q":"tea & cake","n":2}"#)]),
            r#""q=tea%20%26%20cake&n=2""#
        );
        assert_eq!(
            err("urlencode", &[j("[]")]),
            "`urlencode` needs a string or a dictionary, not a list"
        );
    }

    #[test]
    fn clock() {
        assert_eq!(show("now", &[]), r#""2026-11-28T14:03:05Z""#);
        assert_eq!(show("today", &[]), r#""2026-11-28""#);
        let mut before_epoch = Context { now_ms: -1, rng: 0 };
        assert_eq!(
            call("now", &[], &mut before_epoch),
            Ok(s("1969-12-31T23:59:59Z"))
        );
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in (-800_000..800_000).step_by(997) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn format_dates() {
        let t = s("2026-11-28T14:03:05Z");
        let f = |t: &Value, fmt: &str| show("format_date", &[t.clone(), s(fmt)]);
        assert_eq!(f(&t, "%d.%m.%Y %H:%M"), r#""28.11.2026 14:03""#);
        assert_eq!(
            f(&t, "%A, %B %-d, %y %I:%M %p"),
            r#""Saturday, November 28, 26 02:03 PM""#
        );
        assert_eq!(f(&t, "%a %b %e %j %u %w %%"), r#""Sat Nov 28 332 6 6 %""#);
        assert_eq!(
            f(&t, "%F %T %R %z %Z %s"),
            r#""2026-11-28 14:03:05 14:03 +0000 UTC 1795874585""#
        );
        assert_eq!(f(&s("2024-02-29"), "%d/%m %H:%M:%S"), r#""29/02 00:00:00""#);
        assert_eq!(
            f(&s("2026-01-05 09:07"), "%-H:%M %-m/%-d %j"),
            r#""9:07 1/5 005""#
        );
        let zoned = s("2026-11-28T14:03:05.123+03:00");
        assert_eq!(f(&zoned, "%H:%M %z %s"), r#""14:03 +0300 1795863785""#);
        assert_eq!(f(&s("2026-11-28T14:03:05-0130"), "%z"), r#""-0130""#);
        assert_eq!(f(&n("1795874585"), "%F %T"), r#""2026-11-28 14:03:05""#);
        assert_eq!(f(&n("0"), "%F"), r#""1970-01-01""#);
        let bad = |t: Value| err("format_date", &[t, s("%Y")]);
        for text in [
            "2026-02-30",
            "2026-13-01",
            "28.11.2026",
            "2026-11-28T25:00",
            "2026-11-28Tx",
            "2026-11-28T14:03Zjunk",
            "",
        ] {
            assert!(
                bad(s(text)).starts_with("`format_date` cannot read"),
                "{text}"
            );
        }
        assert!(bad(n("1e20")).starts_with("`format_date` cannot read 100000000000000000000 as"));
        assert_eq!(
            err("format_date", &[t.clone(), s("%Q")]),
            "`format_date` does not know `%Q` (use %Y %m %d %H %M %S and the like)"
        );
        assert_eq!(
            err("format_date", &[t, s("50%")]),
            "`format_date`: the format ends with a lone `%`"
        );
    }
}
