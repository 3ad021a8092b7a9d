//! Exact numbers: literal or user text in; arithmetic, comparison, rounding and shortest text out.
//!
//! Three representations, always normalised so that one value has one form:
//! - [`Number::Int`] — every integral value that fits `i64`. The fast path: `checked_*`
//!   arithmetic on machine integers, no allocation.
//! - [`Number::Dec`] — everything else `rust_decimal` holds exactly (96-bit mantissa, up to 28
//!   decimal places): non-integral values, and integers beyond `i64` up to about 7.9e28. Stored
//!   normalised (no trailing zeros), so it renders in shortest form.
//! - [`Number::Big`] — a finite number neither can hold exactly (`1e400`, a 40-digit id, `1e-30`),
//!   kept as its JSON text so it renders and serialises with the digits as written (the exponent
//!   spelt `e400`, not `E+400`). Comparisons stay
//!   exact; arithmetic on it goes through `f64` (about 16 significant digits), and a result past
//!   `f64`'s range (about 1.8e308) is [`ValueError::NumberTooLarge`].
//!
//! Precision: `+ - *` are exact while the result fits `Dec`; `/` rounds at 28 significant digits
//! (`1 / 3` is `0.3333333333333333333333333333`); a product needing more than 28 decimal places is
//! rounded to 28. A result too large for `Dec` becomes `Big`: exactly for integer arithmetic that
//! fits `i128` (about 1.7e38: any product of two `i64`), through `f64` otherwise.

use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::digits::{is_json_number, Rounding, Sci};
use super::error::ValueError;

/// An exact number (see the module docs for the three forms and their invariants).
///
/// Build values through [`Number::parse`], [`Number::from_decimal`], [`Number::from_i128`],
/// [`Number::from_f64`] or `From<i64>` to keep the normalisation; a hand-built unnormalised value
/// still compares and hashes correctly.
#[derive(Clone, Debug)]
pub enum Number {
    /// An integer that fits `i64`.
    Int(i64),
    /// A decimal that is not an `i64`: fractional, or an integer beyond `i64`.
    Dec(Decimal),
    /// A finite number beyond `Dec`, as valid JSON number text.
    Big(Arc<str>),
}

/// The arithmetic operations that share the slow path.
#[derive(Clone, Copy)]
enum Arith {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
}

impl Number {
    /// Zero.
    pub const ZERO: Number = Number::Int(0);
    /// One.
    pub const ONE: Number = Number::Int(1);

    /// Parses number text: a literal (`42`, `-7`, `3.14`, `1e3`) or a user's message. Surrounding
    /// whitespace is ignored; a leading `+`, `.5` and `5.` are accepted. Only `.` separates
    /// decimals (`extract number` deals with `2,5`); `inf`, `nan`, `0x10` and `1_000` are not
    /// numbers.
    pub fn parse(text: &str) -> Option<Number> {
        let text = text.trim();
        if let Some(i) = parse_small_int(text) {
            return Some(Number::Int(i));
        }
        let sci = Sci::parse(text)?;
        Some(Number::from_sci(&sci, Some(text)))
    }

    /// The normal form of a decimal: `Int` when integral and within `i64`.
    pub fn from_decimal(d: Decimal) -> Number {
        let d = d.normalize();
        if d.scale() == 0 {
            if let Ok(i) = i64::try_from(d.mantissa()) {
                return Number::Int(i);
            }
        }
        Number::Dec(d)
    }

    /// An exact integer of any `i128` size (`Big` beyond `Dec`'s range).
    pub fn from_i128(v: i128) -> Number {
        if let Ok(i) = i64::try_from(v) {
            return Number::Int(i);
        }
        match Decimal::try_from_i128_with_scale(v, 0) {
            Ok(d) => Number::Dec(d),
            Err(_) => Number::Big(v.to_string().into()),
        }
    }

    /// The decimal a float prints as (shortest round-trip digits: `0.1`, not
    /// `0.1000000000000000055…`). `None` for NaN and infinities.
    pub fn from_f64(f: f64) -> Option<Number> {
        if !f.is_finite() {
            return None;
        }
        // Integral floats below 2^53 are exact integers; skip the text round trip.
        if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 {
            return Some(Number::Int(f as i64));
        }
        let sci = Sci::parse(&format!("{f:e}"))?;
        Some(Number::from_sci(&sci, None))
    }

    /// Picks the representation for an exact value; `original` is the text it was parsed from,
    /// kept for a `Big` number when it is valid JSON.
    pub(crate) fn from_sci(sci: &Sci, original: Option<&str>) -> Number {
        match sci.to_scaled() {
            Some((m, 0)) => Number::from_i128(m),
            Some((m, scale)) => match Decimal::try_from_i128_with_scale(m, scale) {
                Ok(d) => Number::Dec(d),
                Err(_) => Number::Big(sci.to_json_text().into()),
            },
            None => match original {
                Some(text) if is_json_number(text) => Number::Big(tidy_exponent(text).into()),
                _ => Number::Big(sci.to_json_text().into()),
            },
        }
    }

    /// The exact digits-and-exponent form.
    pub(crate) fn to_sci(&self) -> Sci {
        match self {
            Number::Int(i) => Sci::from_scaled(i128::from(*i), 0),
            Number::Dec(d) => Sci::from_scaled(d.mantissa(), d.scale()),
            Number::Big(text) => Sci::parse(text).unwrap_or_else(Sci::zero),
        }
    }

    /// The value as a `Decimal`, when it fits one exactly.
    pub fn to_decimal(&self) -> Option<Decimal> {
        match self {
            Number::Int(i) => Some(Decimal::from(*i)),
            Number::Dec(d) => Some(*d),
            Number::Big(_) => None,
        }
    }

    /// The nearest `f64` (infinite for a `Big` number past its range).
    pub fn to_f64(&self) -> f64 {
        match self {
            Number::Int(i) => *i as f64,
            Number::Dec(d) => d.to_f64().unwrap_or(f64::NAN),
            Number::Big(text) => text.parse().unwrap_or(f64::NAN),
        }
    }

    /// The value as an `i64`, when it is an integer in range.
    pub fn to_i64(&self) -> Option<i64> {
        match self {
            Number::Int(i) => Some(*i),
            Number::Dec(d) if d.is_integer() => d.to_i64(),
            _ => None,
        }
    }

    /// The value as an `i128`, when it is an integer in range.
    fn to_i128(&self) -> Option<i128> {
        match self {
            Number::Int(i) => Some(i128::from(*i)),
            Number::Dec(d) if d.is_integer() => Some(d.trunc().normalize().mantissa()),
            Number::Dec(_) => None,
            Number::Big(_) => {
                let sci = self.to_sci();
                if !sci.is_integer() || sci.digits.len() > 39 {
                    return None;
                }
                let mut v: i128 = 0;
                for d in sci.digits.bytes() {
                    v = v.checked_mul(10)?.checked_add(i128::from(d - b'0'))?;
                }
                for _ in 0..sci.exp {
                    v = v.checked_mul(10)?;
                }
                Some(if sci.neg { -v } else { v })
            }
        }
    }

    /// Whether the value has no fractional part.
    pub fn is_integer(&self) -> bool {
        match self {
            Number::Int(_) => true,
            Number::Dec(d) => d.is_integer(),
            Number::Big(_) => self.to_sci().is_integer(),
        }
    }

    pub fn is_zero(&self) -> bool {
        match self {
            Number::Int(i) => *i == 0,
            Number::Dec(d) => d.is_zero(),
            Number::Big(_) => self.to_sci().is_zero(),
        }
    }

    /// Strictly below zero.
    pub fn is_negative(&self) -> bool {
        match self {
            Number::Int(i) => *i < 0,
            Number::Dec(d) => d.is_sign_negative() && !d.is_zero(),
            Number::Big(text) => text.starts_with('-'),
        }
    }

    // ---- arithmetic -------------------------------------------------------------------------

    /// `a + b`.
    #[inline]
    pub fn add(&self, other: &Number) -> Result<Number, ValueError> {
        if let (Number::Int(a), Number::Int(b)) = (self, other) {
            return Ok(match a.checked_add(*b) {
                Some(s) => Number::Int(s),
                None => Number::from_i128(i128::from(*a) + i128::from(*b)),
            });
        }
        self.arith(other, Arith::Add)
    }

    /// `a - b`.
    #[inline]
    pub fn sub(&self, other: &Number) -> Result<Number, ValueError> {
        if let (Number::Int(a), Number::Int(b)) = (self, other) {
            return Ok(match a.checked_sub(*b) {
                Some(s) => Number::Int(s),
                None => Number::from_i128(i128::from(*a) - i128::from(*b)),
            });
        }
        self.arith(other, Arith::Sub)
    }

    /// `a * b`.
    #[inline]
    pub fn mul(&self, other: &Number) -> Result<Number, ValueError> {
        if let (Number::Int(a), Number::Int(b)) = (self, other) {
            return Ok(match a.checked_mul(*b) {
                Some(p) => Number::Int(p),
                // An i64 product always fits i128, so this stays exact even as a Big number.
                None => Number::from_i128(i128::from(*a) * i128::from(*b)),
            });
        }
        self.arith(other, Arith::Mul)
    }

    /// `a / b`: exact when the quotient terminates within 28 digits (`7 / 2` is `3.5`).
    pub fn div(&self, other: &Number) -> Result<Number, ValueError> {
        if let (Number::Int(a), Number::Int(b)) = (self, other) {
            if *b == 0 {
                return Err(ValueError::DivisionByZero);
            }
            if a.checked_rem(*b) == Some(0) {
                if let Some(q) = a.checked_div(*b) {
                    return Ok(Number::Int(q));
                }
            }
        }
        self.arith(other, Arith::Div)
    }

    /// `a // b`: the quotient rounded towards −∞, as in Python (`-7 // 2` is `-4`).
    pub fn floor_div(&self, other: &Number) -> Result<Number, ValueError> {
        if let (Number::Int(a), Number::Int(b)) = (self, other) {
            if *b == 0 {
                return Err(ValueError::DivisionByZero);
            }
            // checked_div fails only for i64::MIN // -1, which the slow path handles.
            if let Some(q) = a.checked_div(*b) {
                let r = a - q * b;
                let floor = if r != 0 && ((r < 0) != (*b < 0)) {
                    q - 1
                } else {
                    q
                };
                return Ok(Number::Int(floor));
            }
        }
        self.arith(other, Arith::FloorDiv)
    }

    /// `mod(a, b)`: the remainder with the sign of the divisor, as Python's `%`
    /// (`mod(-7, 3)` is `2`, `mod(7, -3)` is `-2`).
    pub fn rem(&self, other: &Number) -> Result<Number, ValueError> {
        if let (Number::Int(a), Number::Int(b)) = (self, other) {
            if *b == 0 {
                return Err(ValueError::DivisionByZero);
            }
            // Only i64::MIN % -1 overflows, and its remainder is 0.
            let r = a.checked_rem(*b).unwrap_or(0);
            let r = if r != 0 && ((r < 0) != (*b < 0)) {
                r + b
            } else {
                r
            };
            return Ok(Number::Int(r));
        }
        self.arith(other, Arith::Mod)
    }

    /// The operations past the integer fast path: `Decimal` when both operands fit it and the
    /// result does, `f64` otherwise.
    fn arith(&self, other: &Number, op: Arith) -> Result<Number, ValueError> {
        if matches!(op, Arith::Div | Arith::FloorDiv | Arith::Mod) && other.is_zero() {
            return Err(ValueError::DivisionByZero);
        }
        if let (Some(a), Some(b)) = (self.to_decimal(), other.to_decimal()) {
            let exact = match op {
                Arith::Add => a.checked_add(b),
                Arith::Sub => a.checked_sub(b),
                Arith::Mul => a.checked_mul(b),
                Arith::Div => a.checked_div(b),
                Arith::Mod => decimal_mod(a, b),
                // (a - mod(a, b)) / b is an exact integer, unlike a rounded a / b floored.
                Arith::FloorDiv => decimal_mod(a, b)
                    .and_then(|r| a.checked_sub(r))
                    .and_then(|m| m.checked_div(b))
                    .map(|q| q.floor()),
            };
            if let Some(r) = exact {
                return Ok(Number::from_decimal(r));
            }
        }
        // Integers past Decimal (products of two i64, say) stay exact while they fit i128.
        if let (Some(a), Some(b)) = (self.to_i128(), other.to_i128()) {
            let exact = match op {
                Arith::Add => a.checked_add(b),
                Arith::Sub => a.checked_sub(b),
                Arith::Mul => a.checked_mul(b),
                Arith::Div => a
                    .checked_rem(b)
                    .filter(|r| *r == 0)
                    .and_then(|_| a.checked_div(b)),
                Arith::Mod => a.checked_rem(b).map(|r| {
                    if r != 0 && ((r < 0) != (b < 0)) {
                        r + b
                    } else {
                        r
                    }
                }),
                Arith::FloorDiv => a.checked_div(b).map(|q| {
                    let r = a - q * b;
                    if r != 0 && ((r < 0) != (b < 0)) {
                        q - 1
                    } else {
                        q
                    }
                }),
            };
            if let Some(r) = exact {
                return Ok(Number::from_i128(r));
            }
        }
        via_f64(self, other, |a, b| match op {
            Arith::Add => a + b,
            Arith::Sub => a - b,
            Arith::Mul => a * b,
            Arith::Div => a / b,
            Arith::FloorDiv => (a / b).floor(),
            Arith::Mod => {
                let r = a % b;
                if r != 0.0 && ((r < 0.0) != (b < 0.0)) {
                    r + b
                } else {
                    r
                }
            }
        })
    }

    /// `a ** b`. Integer exponents are exact (a negative one divides: `2 ** -2` is `0.25`);
    /// a fractional exponent goes through `f64` and back (`2 ** 0.5` is `1.4142135623730951`,
    /// `4 ** 0.5` is `2`). `0 ** 0` is `1`, as in Python.
    pub fn pow(&self, exponent: &Number) -> Result<Number, ValueError> {
        if let Some(e) = exponent.to_i64() {
            return match self.pow_u64(e.unsigned_abs()) {
                // `0.5 ** -100000`: the power underflowed to 0, so its inverse is too large.
                Ok(p) if e < 0 && p.is_zero() && !self.is_zero() => Err(ValueError::NumberTooLarge),
                Ok(p) if e < 0 => Number::ONE.div(&p),
                // `2 ** -100000`: the power is too large to hold, so its inverse is below the
                // smallest number there is: 0, as in Python.
                Err(ValueError::NumberTooLarge) if e < 0 => Ok(Number::ZERO),
                other => other,
            };
        }
        via_f64(self, exponent, f64::powf)
    }

    fn pow_u64(&self, e: u64) -> Result<Number, ValueError> {
        if let Number::Int(a) = self {
            if let Ok(e32) = u32::try_from(e) {
                if let Some(p) = a.checked_pow(e32) {
                    return Ok(Number::Int(p));
                }
                if let Some(p) = i128::from(*a).checked_pow(e32) {
                    return Ok(Number::from_i128(p));
                }
            }
            // Bases whose powers never grow, for any exponent size.
            match a {
                0 => return Ok(Number::ZERO),
                1 => return Ok(Number::ONE),
                -1 => return Ok(Number::Int(if e & 1 == 0 { 1 } else { -1 })),
                _ => {}
            }
        }
        if let Some(base) = self.to_decimal() {
            if let Some(p) = decimal_pow(base, e) {
                return Ok(Number::from_decimal(p));
            }
        }
        let e = e as f64;
        via_f64(self, &Number::ZERO, |a, _| a.powf(e))
    }

    /// `-a`.
    #[inline]
    pub fn neg(&self) -> Number {
        match self {
            Number::Int(i) => match i.checked_neg() {
                Some(n) => Number::Int(n),
                None => Number::from_i128(-i128::from(*i)),
            },
            Number::Dec(d) => Number::from_decimal(-*d),
            Number::Big(text) => match text.strip_prefix('-') {
                Some(abs) => Number::Big(abs.into()),
                None => Number::Big(format!("-{text}").into()),
            },
        }
    }

    /// `abs(a)`.
    pub fn abs(&self) -> Number {
        if self.is_negative() {
            self.neg()
        } else {
            self.clone()
        }
    }

    // ---- rounding ---------------------------------------------------------------------------

    /// `round(x, n)`: to `n` decimal places, ties to even as Python's `round` (`round(2.5)` is 2,
    /// `round(3.5)` is 4, `round(0.125, 2)` is 0.12). Unlike Python's floats, the input is the
    /// exact decimal, so `round(2.675, 2)` is 2.68. A negative `n` rounds to tens, hundreds, ….
    pub fn round(&self, dp: i64) -> Number {
        self.round_with(dp, Rounding::HalfEven)
    }

    /// `floor(x)`: the largest integer not above `x`.
    pub fn floor(&self) -> Number {
        self.round_with(0, Rounding::Floor)
    }

    /// `ceil(x)`: the smallest integer not below `x`.
    pub fn ceil(&self) -> Number {
        self.round_with(0, Rounding::Ceil)
    }

    /// `int(x)`: the integer part, towards zero.
    pub fn trunc(&self) -> Number {
        self.round_with(0, Rounding::Trunc)
    }

    fn round_with(&self, dp: i64, mode: Rounding) -> Number {
        if let Number::Int(i) = self {
            if dp >= 0 {
                return Number::Int(*i);
            }
        }
        Number::from_sci(&self.to_sci().round(dp, mode), None)
    }

    // ---- text -------------------------------------------------------------------------------

    /// The text with thousands grouped by spaces, as `pretty` shows numbers: `12 345`,
    /// `-1 234 567.891` (from five integer digits on, as SmartQuery: `1234` stays). Scientific
    /// `Big` text is returned as written.
    pub fn to_grouped_string(&self) -> String {
        self.grouped(" ", 5)
    }

    /// The text with the integer digits grouped by threes with `sep`, when there are at least
    /// `min_digits` of them.
    pub fn grouped(&self, sep: &str, min_digits: usize) -> String {
        let text = self.to_string();
        if text.contains(['e', 'E']) {
            return text;
        }
        let (sign, unsigned) = match text.strip_prefix('-') {
            Some(rest) => ("-", rest),
            None => ("", text.as_str()),
        };
        let (int, frac) = match unsigned.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (unsigned, None),
        };
        if int.len() < min_digits {
            return text;
        }
        let mut out = String::with_capacity(text.len() + int.len() / 3 * sep.len());
        out.push_str(sign);
        for (i, c) in int.chars().enumerate() {
            if i > 0 && (int.len() - i) % 3 == 0 {
                out.push_str(sep);
            }
            out.push(c);
        }
        if let Some(frac) = frac {
            out.push('.');
            out.push_str(frac);
        }
        out
    }

    /// The text with exactly `places` decimals, rounded half to even: `13.9` → `13.90`.
    pub fn fixed(&self, places: usize) -> String {
        let rounded = self.round(places as i64);
        let text = rounded.to_string();
        if text.contains(['e', 'E']) {
            return text;
        }
        let (int, frac) = match text.split_once('.') {
            Some((i, f)) => (i.to_string(), f.to_string()),
            None => (text.clone(), String::new()),
        };
        if places == 0 {
            return int;
        }
        let mut frac = frac;
        while frac.len() < places {
            frac.push('0');
        }
        format!("{int}.{frac}")
    }
}

/// The digits as written, with the exponent marker in one spelling: serde_json hands `1e400` over
/// as `1e+400`, and `1E400` and `1e400` should show alike.
fn tidy_exponent(text: &str) -> String {
    match text.find(['e', 'E']) {
        Some(at) => {
            let exp = &text[at + 1..];
            format!("{}e{}", &text[..at], exp.strip_prefix('+').unwrap_or(exp))
        }
        None => text.to_owned(),
    }
}

/// A fast path for the common case of short integer text; `None` sends it to the full parser.
fn parse_small_int(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    // 18 bytes hold at most 18 digits, below i64::MAX.
    if b.is_empty() || b.len() > 18 {
        return None;
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(if neg { -v } else { v })
}

/// Python's `%` on decimals: the remainder takes the sign of the divisor.
fn decimal_mod(a: Decimal, b: Decimal) -> Option<Decimal> {
    let r = a.checked_rem(b)?;
    if !r.is_zero() && r.is_sign_negative() != b.is_sign_negative() {
        r.checked_add(b)
    } else {
        Some(r)
    }
}

/// `base ** e` by squaring; `None` when an intermediate overflows `Decimal`.
fn decimal_pow(base: Decimal, mut e: u64) -> Option<Decimal> {
    let mut result = Decimal::ONE;
    let mut square = base;
    while e > 0 {
        if e & 1 == 1 {
            result = result.checked_mul(square)?;
        }
        e >>= 1;
        if e > 0 {
            square = square.checked_mul(square)?;
        }
    }
    Some(result)
}

/// Floating-point fallback for operands or results beyond `Decimal`: documented as inexact.
fn via_f64(a: &Number, b: &Number, f: impl Fn(f64, f64) -> f64) -> Result<Number, ValueError> {
    let (x, y) = (a.to_f64(), b.to_f64());
    if !x.is_finite() || !y.is_finite() {
        return Err(ValueError::NumberTooLarge);
    }
    let r = f(x, y);
    if r.is_nan() {
        return Err(ValueError::NotReal);
    }
    Number::from_f64(r).ok_or(ValueError::NumberTooLarge)
}

impl From<i64> for Number {
    fn from(i: i64) -> Number {
        Number::Int(i)
    }
}

impl From<i32> for Number {
    fn from(i: i32) -> Number {
        Number::Int(i64::from(i))
    }
}

impl From<usize> for Number {
    fn from(n: usize) -> Number {
        match i64::try_from(n) {
            Ok(i) => Number::Int(i),
            Err(_) => Number::from_i128(n as i128),
        }
    }
}

impl From<Decimal> for Number {
    fn from(d: Decimal) -> Number {
        Number::from_decimal(d)
    }
}

/// Shortest decimal form: `3`, `2.5`, `0.3`, never `3.0` or `2.50`, no exponent (except a `Big`
/// number, shown as written).
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Number::Int(i) => fmt::Display::fmt(i, f),
            Number::Dec(d) => fmt::Display::fmt(&d.normalize(), f),
            Number::Big(text) => f.write_str(text),
        }
    }
}

impl PartialEq for Number {
    #[inline]
    fn eq(&self, other: &Number) -> bool {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a == b,
            _ => self.cmp(other) == Ordering::Equal,
        }
    }
}

impl Eq for Number {}

impl PartialOrd for Number {
    #[inline]
    fn partial_cmp(&self, other: &Number) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Numeric order, exact in every representation.
impl Ord for Number {
    #[inline]
    fn cmp(&self, other: &Number) -> Ordering {
        match (self, other) {
            (Number::Int(a), Number::Int(b)) => a.cmp(b),
            (Number::Big(_), _) | (_, Number::Big(_)) => self.to_sci().cmp_value(&other.to_sci()),
            _ => match (self.to_decimal(), other.to_decimal()) {
                (Some(a), Some(b)) => a.cmp(&b),
                _ => self.to_sci().cmp_value(&other.to_sci()),
            },
        }
    }
}

impl Hash for Number {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // Equal numbers must hash alike whatever their form: integers in i64 hash as Int.
        match self {
            Number::Int(i) => i.hash(state),
            Number::Dec(d) => match self.to_i64() {
                Some(i) => i.hash(state),
                None => d.normalize().hash(state),
            },
            Number::Big(_) => self.to_sci().hash(state),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(text: &str) -> Number {
        Number::parse(text).expect("number text")
    }

    fn show(r: Result<Number, ValueError>) -> String {
        match r {
            Ok(v) => v.to_string(),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn parsing_normalises() {
        assert!(matches!(n("42"), Number::Int(42)));
        assert!(matches!(n(" -7 "), Number::Int(-7)));
        assert!(matches!(n("3.0"), Number::Int(3)));
        assert!(matches!(n("1e3"), Number::Int(1000)));
        assert!(matches!(n("+5"), Number::Int(5)));
        assert!(matches!(n("3.14"), Number::Dec(_)));
        assert!(matches!(
            n("9007199254740993"),
            Number::Int(9_007_199_254_740_993)
        ));
        assert!(matches!(n("9223372036854775808"), Number::Dec(_)));
        assert!(matches!(n("1e400"), Number::Big(_)));
        assert!(matches!(n("1e-30"), Number::Big(_)));
        assert!(matches!(
            n("1234567890123456789012345678901234567890"),
            Number::Big(_)
        ));
        assert!(matches!(n("-0"), Number::Int(0)));
        for bad in [
            "", "abc", "2,5", "1 000", "inf", "NaN", "0x1F", "1_000", "--1", "12abc",
        ] {
            assert_eq!(Number::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn renders_shortest() {
        let cases = [
            ("3", "3"),
            ("2.5", "2.5"),
            ("3.0", "3"),
            ("2.50", "2.5"),
            ("1e3", "1000"),
            ("-0.5", "-0.5"),
            ("0.1", "0.1"),
            ("1e-28", "0.0000000000000000000000000001"),
            ("9007199254740993", "9007199254740993"),
            (
                "79228162514264337593543950335",
                "79228162514264337593543950335",
            ),
            ("1e400", "1e400"),
            ("1E400", "1e400"),
            ("1.50e+400", "1.50e400"),
            ("+1e400", "1e400"),
            ("-.5e-400", "-5e-401"),
            (
                "12345678901234567890123456789012345",
                "12345678901234567890123456789012345",
            ),
        ];
        for (text, shown) in cases {
            assert_eq!(n(text).to_string(), shown, "{text}");
        }
    }

    #[test]
    fn decimal_sums_are_exact() {
        assert_eq!(n("0.1").add(&n("0.2")), Ok(n("0.3")));
        assert_eq!(show(n("0.1").add(&n("0.2"))), "0.3");
        assert_eq!(show(n("2.5").mul(&n("2"))), "5");
        assert!(matches!(n("2.5").mul(&n("2")), Ok(Number::Int(5))));
        assert_eq!(show(n("1").sub(&n("0.9"))), "0.1");
    }

    #[test]
    fn integer_overflow_promotes() {
        let max = Number::Int(i64::MAX);
        assert_eq!(show(max.add(&Number::ONE)), "9223372036854775808");
        assert!(matches!(max.add(&Number::ONE), Ok(Number::Dec(_))));
        assert_eq!(
            show(Number::Int(i64::MIN).sub(&Number::ONE)),
            "-9223372036854775809"
        );
        assert_eq!(
            show(max.mul(&max)),
            "85070591730234615847396907784232501249"
        );
        assert!(matches!(max.mul(&max), Ok(Number::Big(_))));
        assert_eq!(
            Number::Int(i64::MIN).neg().to_string(),
            "9223372036854775808"
        );
        // A product past Decimal's range divides back exactly (i128, not f64).
        let (a, b) = (
            Number::Int(-25_711_277_346_326_149),
            Number::Int(-3_081_455_714_825),
        );
        assert_eq!(a.mul(&b).and_then(|p| p.div(&b)), Ok(a));
        assert_eq!(
            show(max.add(&Number::ONE).and_then(|v| v.sub(&Number::ONE))),
            i64::MAX.to_string()
        );
        assert!(matches!(
            max.add(&Number::ONE).and_then(|v| v.sub(&Number::ONE)),
            Ok(Number::Int(i64::MAX))
        ));
    }

    #[test]
    fn division() {
        assert_eq!(show(n("7").div(&n("2"))), "3.5");
        assert_eq!(show(n("6").div(&n("2"))), "3");
        assert_eq!(show(n("1").div(&n("3"))), "0.3333333333333333333333333333");
        assert_eq!(show(n("7").floor_div(&n("2"))), "3");
        assert_eq!(show(n("-7").floor_div(&n("2"))), "-4");
        assert_eq!(show(n("7").floor_div(&n("-2"))), "-4");
        assert_eq!(show(n("-7").floor_div(&n("-2"))), "3");
        assert_eq!(show(n("7.5").floor_div(&n("2"))), "3");
        assert_eq!(show(n("-7.5").floor_div(&n("2"))), "-4");
        assert_eq!(
            show(Number::Int(i64::MIN).floor_div(&n("-1"))),
            "9223372036854775808"
        );
        assert_eq!(
            show(Number::Int(i64::MIN).div(&n("-1"))),
            "9223372036854775808"
        );
        for zero in ["0", "0.0"] {
            assert_eq!(n("1").div(&n(zero)), Err(ValueError::DivisionByZero));
            assert_eq!(
                n("1.5").floor_div(&n(zero)),
                Err(ValueError::DivisionByZero)
            );
            assert_eq!(n("1").rem(&n(zero)), Err(ValueError::DivisionByZero));
        }
        assert_eq!(n("1e400").div(&n("0")), Err(ValueError::DivisionByZero));
    }

    #[test]
    fn modulo_takes_the_sign_of_the_divisor() {
        assert_eq!(show(n("-7").rem(&n("3"))), "2");
        assert_eq!(show(n("7").rem(&n("-3"))), "-2");
        assert_eq!(show(n("7").rem(&n("3"))), "1");
        assert_eq!(show(n("-7").rem(&n("-3"))), "-1");
        assert_eq!(show(n("5.5").rem(&n("2"))), "1.5");
        assert_eq!(show(n("-5.5").rem(&n("2"))), "0.5");
        assert_eq!(show(Number::Int(i64::MIN).rem(&n("-1"))), "0");
    }

    #[test]
    fn powers() {
        assert_eq!(show(n("2").pow(&n("10"))), "1024");
        assert_eq!(show(n("2").pow(&n("-2"))), "0.25");
        assert_eq!(show(n("0.5").pow(&n("2"))), "0.25");
        assert_eq!(
            show(n("2").pow(&n("100"))),
            "1267650600228229401496703205376"
        );
        assert_eq!(show(n("4").pow(&n("0.5"))), "2");
        assert_eq!(show(n("2").pow(&n("0.5"))), "1.4142135623730951");
        assert_eq!(show(n("0").pow(&n("0"))), "1");
        assert_eq!(show(n("-1").pow(&n("9223372036854775807"))), "-1");
        assert_eq!(n("0").pow(&n("-1")), Err(ValueError::DivisionByZero));
        assert_eq!(n("-8").pow(&n("0.5")), Err(ValueError::NotReal));
        assert_eq!(n("10").pow(&n("1000")), Err(ValueError::NumberTooLarge));
        assert_eq!(show(n("2").pow(&n("-100000"))), "0");
        assert_eq!(show(n("-3").pow(&n("-99999"))), "0");
        assert_eq!(n("0.5").pow(&n("-100000")), Err(ValueError::NumberTooLarge));
        assert_eq!(show(n("1.1").pow(&n("2"))), "1.21");
    }

    #[test]
    fn rounding() {
        assert_eq!(n("2.5").round(0).to_string(), "2");
        assert_eq!(n("3.5").round(0).to_string(), "4");
        assert_eq!(n("-2.5").round(0).to_string(), "-2");
        assert_eq!(n("2.675").round(2).to_string(), "2.68");
        assert_eq!(n("0.125").round(2).to_string(), "0.12");
        assert_eq!(n("1234").round(-2).to_string(), "1200");
        assert_eq!(n("7").round(2).to_string(), "7");
        assert_eq!(n("2.7").floor().to_string(), "2");
        assert_eq!(n("-2.1").floor().to_string(), "-3");
        assert_eq!(n("2.1").ceil().to_string(), "3");
        assert_eq!(n("-2.7").ceil().to_string(), "-2");
        assert_eq!(n("-2.7").trunc().to_string(), "-2");
        assert!(matches!(n("2.7").floor(), Number::Int(2)));
        assert_eq!(n("1e-400").ceil().to_string(), "1");
        assert_eq!(n("1e400").floor().to_string(), "1e400");
        assert_eq!(n("-3.5").abs().to_string(), "3.5");
        assert_eq!(n("-1e400").abs().to_string(), "1e400");
        assert_eq!(n("1e400").neg().to_string(), "-1e400");
        // Absurd precisions neither panic nor overflow.
        assert_eq!(n("2.5").round(i64::MAX).to_string(), "2.5");
        assert_eq!(n("2.5").round(i64::MIN).to_string(), "0");
        assert_eq!(Number::Int(7).round(i64::MIN).to_string(), "0");
    }

    #[test]
    fn comparisons_are_exact_across_forms() {
        let ascending = [
            "-1e400",
            "-9223372036854775809",
            "-3",
            "-2.5",
            "0",
            "1e-400",
            "0.3",
            "1",
            "9007199254740992",
            "9007199254740993",
            "9223372036854775808",
            "79228162514264337593543950336",
            "1e400",
        ];
        for (i, a) in ascending.iter().enumerate() {
            for (j, b) in ascending.iter().enumerate() {
                assert_eq!(n(a).cmp(&n(b)), i.cmp(&j), "{a} vs {b}");
            }
        }
        assert_eq!(n("1e400"), n("10e399"));
        assert_eq!(Number::Dec(Decimal::new(30, 1)), Number::Int(3));
    }

    #[test]
    fn equal_numbers_hash_alike() {
        use std::collections::hash_map::DefaultHasher;
        let hash = |v: &Number| {
            let mut h = DefaultHasher::new();
            v.hash(&mut h);
            h.finish()
        };
        assert_eq!(
            hash(&Number::Dec(Decimal::new(30, 1))),
            hash(&Number::Int(3))
        );
        assert_eq!(hash(&n("1e400")), hash(&n("10e399")));
        assert_eq!(hash(&n("2.50")), hash(&n("2.5")));
    }

    #[test]
    fn big_numbers_compute_through_f64() {
        assert_eq!(show(n("1e300").mul(&n("10"))), "1e301");
        assert_eq!(n("1e400").add(&n("1")), Err(ValueError::NumberTooLarge));
        assert_eq!(show(n("1e-400").add(&n("1"))), "1");
        let huge_dec = n("79228162514264337593543950335");
        assert_eq!(
            show(huge_dec.add(&huge_dec)),
            "158456325028528675187087900670"
        );
        let beyond_i128 = n("1234567890123456789012345678901234567890");
        assert_eq!(show(beyond_i128.add(&n("1"))), "1.2345678901234568e39");
        assert_eq!(show(n("1.5e30").add(&n("0.5"))), "1.5e30");
    }

    #[test]
    fn from_f64_uses_shortest_digits() {
        assert_eq!(
            Number::from_f64(0.1).map(|v| v.to_string()),
            Some("0.1".into())
        );
        assert_eq!(Number::from_f64(2.0), Some(Number::Int(2)));
        assert_eq!(Number::from_f64(-0.0), Some(Number::Int(0)));
        assert_eq!(Number::from_f64(f64::NAN), None);
        assert_eq!(
            Number::from_f64(1e300).map(|v| v.to_string()),
            Some("1e300".into())
        );
    }

    fn any_number() -> impl proptest::strategy::Strategy<Value = Number> {
        use proptest::prelude::*;
        prop_oneof![
            any::<i64>().prop_map(Number::Int),
            (any::<i64>(), 0u32..=28).prop_map(|(m, s)| Number::from_decimal(Decimal::new(m, s))),
            "-?[0-9]{1,45}(\\.[0-9]{1,40})?([eE][-+]?[0-9]{1,4})?"
                .prop_map(|t| Number::parse(&t).expect("generated number text")),
        ]
    }

    proptest::proptest! {
        #[test]
        fn text_and_json_round_trip(a in any_number()) {
            let text = a.to_string();
            let back = Number::parse(&text).expect("own text parses");
            proptest::prop_assert_eq!(&back, &a);
            proptest::prop_assert_eq!(back.to_string(), text.clone());
            let saved = serde_json::to_string(&a).expect("serialize");
            proptest::prop_assert_eq!(&saved, &text);
            let loaded: Number = serde_json::from_str(&saved).expect("deserialize");
            proptest::prop_assert_eq!(loaded, a);
        }

        #[test]
        fn arithmetic_never_panics(a in any_number(), b in any_number()) {
            let results = [a.add(&b), a.sub(&b), a.mul(&b), a.div(&b), a.floor_div(&b), a.rem(&b)];
            // Whatever comes out is in normal form and prints as it parses.
            for r in results.into_iter().flatten() {
                proptest::prop_assert_eq!(Number::parse(&r.to_string()), Some(r));
            }
            let _ = a.pow(&Number::Int(3));
            let _ = (a.neg(), a.abs(), a.floor(), a.ceil(), a.round(2), a.round(-3));
            proptest::prop_assert_eq!(a.cmp(&b), b.cmp(&a).reverse());
        }

        #[test]
        fn integer_sums_undo_exactly(a in proptest::prelude::any::<i64>(), b in proptest::prelude::any::<i64>()) {
            let (x, y) = (Number::Int(a), Number::Int(b));
            let sum = x.add(&y).expect("exact");
            proptest::prop_assert_eq!(sum.sub(&y).expect("exact"), Number::Int(a));
            let product = x.mul(&y).expect("exact");
            if b != 0 {
                proptest::prop_assert_eq!(product.div(&y).expect("exact"), Number::Int(a));
            }
        }
    }

    #[test]
    fn grouped_text() {
        assert_eq!(n("12345").to_grouped_string(), "12 345");
        assert_eq!(n("-1234567.891").to_grouped_string(), "-1 234 567.891");
        assert_eq!(n("999").to_grouped_string(), "999");
        assert_eq!(n("1234").to_grouped_string(), "1234");
        assert_eq!(n("-1234").to_grouped_string(), "-1234");
        assert_eq!(n("-123456789").to_grouped_string(), "-123 456 789");
        assert_eq!(n("1234.5").grouped(",", 4), "1,234.5");
        assert_eq!(n("13.9").fixed(2), "13.90");
        assert_eq!(n("2.675").fixed(2), "2.68");
        assert_eq!(n("2.665").fixed(2), "2.66");
        assert_eq!(n("-0.5").fixed(0), "0");
        assert_eq!(n("7").fixed(3), "7.000");
        assert_eq!(n("1e400").to_grouped_string(), "1e400");
    }
}
