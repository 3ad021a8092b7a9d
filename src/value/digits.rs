//! Decimal text ↔ an exact digits-and-exponent form: number text in, canonical digits out.
//!
//! `Number` keeps integers as `i64` and everything else as `rust_decimal::Decimal`, but JSON may
//! carry numbers neither can hold (`1e400`, a 40-digit id). This form is exact for any finite
//! decimal, so it decides which variant a text fits, compares `Big` numbers exactly and rounds
//! them, and never overflows: exponents are clamped to ±[`EXP_LIMIT`].

use std::cmp::Ordering;

/// Exponents beyond this are clamped. 10^(10^15) is far past anything a bot meets, and the clamp
/// keeps `exp + digits.len()` from overflowing `i64`.
pub(crate) const EXP_LIMIT: i64 = 1_000_000_000_000_000;

/// An exact finite decimal: `(-1)^neg × digits × 10^exp`.
///
/// `digits` are ASCII digits with no leading or trailing zeros; zero is the empty string (and is
/// never negative), so equal values have equal fields.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Sci {
    pub neg: bool,
    pub digits: String,
    pub exp: i64,
}

/// How [`Sci::round`] treats the dropped digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rounding {
    /// Towards −∞.
    Floor,
    /// Towards +∞.
    Ceil,
    /// Towards zero.
    Trunc,
    /// To nearest, ties to the even neighbour (Python's `round`).
    HalfEven,
}

impl Sci {
    /// Zero.
    pub fn zero() -> Sci {
        Sci {
            neg: false,
            digits: String::new(),
            exp: 0,
        }
    }

    /// Parses `[+-]digits[.digits][(e|E)[+-]digits]` (also `.5` and `5.`), nothing around it.
    pub fn parse(text: &str) -> Option<Sci> {
        let b = text.as_bytes();
        let mut i = 0;
        let neg = match b.first() {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let int_start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let int_part = &text[int_start..i];
        let mut frac_part = "";
        if i < b.len() && b[i] == b'.' {
            i += 1;
            let frac_start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            frac_part = &text[frac_start..i];
        }
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let mut exp: i64 = 0;
        if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
            i += 1;
            let exp_neg = match b.get(i) {
                Some(b'-') => {
                    i += 1;
                    true
                }
                Some(b'+') => {
                    i += 1;
                    false
                }
                _ => false,
            };
            let exp_start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                // Saturate: the clamp below makes any larger exponent equivalent.
                exp = (exp * 10 + i64::from(b[i] - b'0')).min(EXP_LIMIT * 10);
                i += 1;
            }
            if i == exp_start {
                return None;
            }
            if exp_neg {
                exp = -exp;
            }
        }
        if i != b.len() {
            return None;
        }
        let mut digits = String::with_capacity(int_part.len() + frac_part.len());
        digits.push_str(int_part.trim_start_matches('0'));
        if digits.is_empty() {
            digits.push_str(frac_part.trim_start_matches('0'));
        } else {
            digits.push_str(frac_part);
        }
        let frac_len = i64::try_from(frac_part.len()).unwrap_or(i64::MAX);
        Some(Sci::new(neg, digits, exp.saturating_sub(frac_len)))
    }

    /// Builds a canonical value from digits that may carry trailing zeros (leading zeros must
    /// already be gone).
    pub fn new(neg: bool, mut digits: String, exp: i64) -> Sci {
        let trimmed = digits.trim_end_matches('0').len();
        let zeros = digits.len() - trimmed;
        digits.truncate(trimmed);
        if digits.is_empty() {
            return Sci::zero();
        }
        let zeros = i64::try_from(zeros).unwrap_or(i64::MAX);
        Sci {
            neg,
            digits,
            exp: exp.saturating_add(zeros).clamp(-EXP_LIMIT, EXP_LIMIT),
        }
    }

    /// An exact integer mantissa with a decimal scale (the value is `mantissa / 10^scale`), as
    /// `rust_decimal` stores it.
    pub fn from_scaled(mantissa: i128, scale: u32) -> Sci {
        Sci::new(
            mantissa < 0,
            mantissa.unsigned_abs().to_string(),
            -i64::from(scale),
        )
    }

    pub fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    /// Whether the value has no fractional part.
    pub fn is_integer(&self) -> bool {
        self.exp >= 0
    }

    /// The position of the leading digit: the value's magnitude lies in [10^(a-1), 10^a).
    fn adjusted(&self) -> i64 {
        self.exp + i64::try_from(self.digits.len()).unwrap_or(i64::MAX / 2)
    }

    /// The magnitude as an integer mantissa and a scale, when both fit `rust_decimal`'s limits
    /// (mantissa below 2^96, scale at most 28). `None` means the value needs a `Big` number.
    pub fn to_scaled(&self) -> Option<(i128, u32)> {
        const MAX_MANTISSA: u128 = (1 << 96) - 1;
        if self.is_zero() {
            return Some((0, 0));
        }
        // 2^96 has 29 digits, so a longer mantissa cannot fit whatever the scale.
        if self.adjusted() > 29 || self.exp < -28 {
            return None;
        }
        let mut m: u128 = 0;
        for d in self.digits.bytes() {
            m = m.checked_mul(10)?.checked_add(u128::from(d - b'0'))?;
        }
        let scale = if self.exp >= 0 {
            for _ in 0..self.exp {
                m = m.checked_mul(10)?;
            }
            0
        } else {
            u32::try_from(-self.exp).ok()?
        };
        if m > MAX_MANTISSA {
            return None;
        }
        let m = i128::try_from(m).ok()?;
        Some((if self.neg { -m } else { m }, scale))
    }

    /// Exact comparison of two values.
    pub fn cmp_value(&self, other: &Sci) -> Ordering {
        let sign = |s: &Sci| -> i8 {
            if s.is_zero() {
                0
            } else if s.neg {
                -1
            } else {
                1
            }
        };
        let (a, b) = (sign(self), sign(other));
        if a != b || a == 0 {
            return a.cmp(&b);
        }
        // Same sign, both non-zero: compare magnitudes, then flip for negatives. Digit strings
        // carry no trailing zeros, so byte order is numeric order once the leading positions agree.
        let magnitude = self
            .adjusted()
            .cmp(&other.adjusted())
            .then_with(|| self.digits.as_bytes().cmp(other.digits.as_bytes()));
        if self.neg {
            magnitude.reverse()
        } else {
            magnitude
        }
    }

    /// Rounds to `dp` decimal places (negative `dp` rounds to tens, hundreds, …).
    pub fn round(&self, dp: i64, mode: Rounding) -> Sci {
        // How many trailing digits fall below 10^-dp.
        let cut = dp.saturating_neg().saturating_sub(self.exp);
        if cut <= 0 || self.is_zero() {
            return self.clone();
        }
        let len = self.digits.len();
        let cut_len = usize::try_from(cut).unwrap_or(usize::MAX);
        let (kept, dropped) = if cut_len >= len {
            ("", self.digits.as_str())
        } else {
            self.digits.split_at(len - cut_len)
        };
        // `dropped` is never zero: the last digit of a canonical value is not 0.
        let away = match mode {
            Rounding::Trunc => false,
            Rounding::Floor => self.neg,
            Rounding::Ceil => !self.neg,
            Rounding::HalfEven => {
                // The first dropped digit sits right below the kept ones; when `cut` exceeds the
                // digit count, implicit zeros come first and the rest is below one half.
                let first = if cut_len > len {
                    b'0'
                } else {
                    dropped.as_bytes()[0]
                };
                match first.cmp(&b'5') {
                    Ordering::Greater => true,
                    Ordering::Less => false,
                    Ordering::Equal if dropped.len() > 1 => true,
                    Ordering::Equal => kept.as_bytes().last().is_some_and(|d| (d - b'0') % 2 == 1),
                }
            }
        };
        let mut digits = kept.to_owned();
        if away {
            increment(&mut digits);
        }
        Sci::new(self.neg, digits, dp.saturating_neg())
    }

    /// Scientific text that JSON accepts: `1.2345e404`, `-5e-400`.
    pub fn to_json_text(&self) -> String {
        if self.is_zero() {
            return "0".to_owned();
        }
        let mut out = String::with_capacity(self.digits.len() + 24);
        if self.neg {
            out.push('-');
        }
        out.push_str(&self.digits[..1]);
        if self.digits.len() > 1 {
            out.push('.');
            out.push_str(&self.digits[1..]);
        }
        out.push('e');
        out.push_str(&(self.adjusted() - 1).to_string());
        out
    }
}

/// Adds one to a string of decimal digits ("" is zero), carrying as far as needed.
fn increment(digits: &mut String) {
    let mut bytes = std::mem::take(digits).into_bytes();
    let mut i = bytes.len();
    loop {
        if i == 0 {
            bytes.insert(0, b'1');
            break;
        }
        i -= 1;
        if bytes[i] == b'9' {
            bytes[i] = b'0';
        } else {
            bytes[i] += 1;
            break;
        }
    }
    *digits = String::from_utf8(bytes).unwrap_or_default();
}

/// Whether `text` is a number exactly as JSON writes one: `-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`.
pub(crate) fn is_json_number(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    let int_start = i;
    let n = digits(&mut i);
    if n == 0 || (n > 1 && b[int_start] == b'0') {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sci(text: &str) -> Sci {
        Sci::parse(text).expect("valid number text")
    }

    #[test]
    fn parses_to_canonical_form() {
        assert_eq!(sci("42"), Sci::new(false, "42".into(), 0));
        assert_eq!(sci("-0042.500"), Sci::new(true, "425".into(), -1));
        assert_eq!(sci("1e3"), Sci::new(false, "1".into(), 3));
        assert_eq!(sci("1000"), sci("1e3"));
        assert_eq!(sci(".5"), sci("0.5"));
        assert_eq!(sci("5."), sci("5"));
        assert_eq!(sci("-0.0"), Sci::zero());
        assert_eq!(sci("0.000"), Sci::zero());
        assert_eq!(sci("+7"), sci("7"));
        assert_eq!(sci("1E-2"), sci("0.01"));
    }

    #[test]
    fn rejects_what_is_not_a_number() {
        for bad in [
            "", "-", ".", "e5", "1e", "1e+", "1.2.3", " 1", "1 ", "0x10", "1_000", "inf", "nan",
            "1,5", "--1",
        ] {
            assert_eq!(Sci::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn huge_exponents_saturate_without_overflow() {
        let big = sci("1e999999999999999999999999");
        assert_eq!(big.exp, EXP_LIMIT);
        let small = sci("1e-999999999999999999999999");
        assert_eq!(small.exp, -EXP_LIMIT);
        assert_eq!(big.cmp_value(&small), Ordering::Greater);
        assert_eq!(big.to_scaled(), None);
    }

    #[test]
    fn compares_exactly() {
        let order = [
            "-1e400", "-12", "-11.5", "-1e-400", "0", "1e-400", "0.1", "0.12", "0.123", "1", "9",
            "10", "1e400",
        ];
        for (i, a) in order.iter().enumerate() {
            for (j, b) in order.iter().enumerate() {
                assert_eq!(sci(a).cmp_value(&sci(b)), i.cmp(&j), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn fits_decimal_only_when_exact() {
        assert_eq!(sci("2.5").to_scaled(), Some((25, 1)));
        assert_eq!(sci("-1e3").to_scaled(), Some((-1000, 0)));
        assert!(sci("79228162514264337593543950335").to_scaled().is_some());
        assert_eq!(sci("79228162514264337593543950336").to_scaled(), None);
        assert_eq!(sci("1e-28").to_scaled(), Some((1, 28)));
        assert_eq!(sci("1e-29").to_scaled(), None);
        assert_eq!(sci("1e400").to_scaled(), None);
    }

    #[test]
    fn rounds_in_every_mode() {
        let r = |t: &str, dp: i64, mode| sci(t).round(dp, mode).to_json_text();
        assert_eq!(r("2.5", 0, Rounding::HalfEven), "2e0");
        assert_eq!(r("3.5", 0, Rounding::HalfEven), "4e0");
        assert_eq!(r("2.51", 0, Rounding::HalfEven), "3e0");
        assert_eq!(r("-2.5", 0, Rounding::HalfEven), "-2e0");
        assert_eq!(r("0.4", 0, Rounding::HalfEven), "0");
        assert_eq!(r("0.05", 0, Rounding::HalfEven), "0");
        assert_eq!(r("9.99", 1, Rounding::HalfEven), "1e1");
        assert_eq!(r("1234", -2, Rounding::HalfEven), "1.2e3");
        assert_eq!(r("1250", -2, Rounding::HalfEven), "1.2e3");
        assert_eq!(r("-1.5", 0, Rounding::Floor), "-2e0");
        assert_eq!(r("-1.5", 0, Rounding::Ceil), "-1e0");
        assert_eq!(r("1.5", 0, Rounding::Floor), "1e0");
        assert_eq!(r("1e-400", 0, Rounding::Ceil), "1e0");
        assert_eq!(r("-1e-400", 0, Rounding::Floor), "-1e0");
        assert_eq!(r("-1e-400", 0, Rounding::Trunc), "0");
        assert_eq!(r("1e400", 0, Rounding::Floor), "1e400");
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_text_is_safe(text in "[-+0-9.eE ]{0,40}|\\PC{0,20}") {
            if let Some(v) = Sci::parse(&text) {
                // The canonical text is valid JSON and means the same number.
                let json = v.to_json_text();
                proptest::prop_assert!(is_json_number(&json));
                proptest::prop_assert_eq!(Sci::parse(&json), Some(v.clone()));
                for mode in [Rounding::Floor, Rounding::Ceil, Rounding::Trunc, Rounding::HalfEven] {
                    let _ = v.round(2, mode);
                }
            }
        }
    }

    #[test]
    fn json_text() {
        assert_eq!(sci("12345e400").to_json_text(), "1.2345e404");
        assert_eq!(sci("-5e-400").to_json_text(), "-5e-400");
        for good in ["0", "-0", "1", "-1.5", "1e400", "1E+5", "0.5e-3", "10"] {
            assert!(is_json_number(good), "{good}");
        }
        for bad in ["01", "+1", ".5", "5.", "1e", "", "-", "1.e3", "- 1"] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }
}
