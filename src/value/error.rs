//! Errors of value operations: typed causes in, one short sentence for the user out.
//!
//! These messages end up in the `error` event a bot author reads, so they name the types involved
//! (and quote a string operand, since "not a number" is usually about what the user typed).

use std::fmt;

use super::{Number, Value, MAX_DEPTH, MAX_LEN, MAX_STRING_BYTES, MAX_VALUE_BYTES};

/// Why a value operation failed.
///
/// Kept to two words (payloads boxed) so that `Result<Value, ValueError>` is no larger than a
/// `Value`: every operator returns one, and a bigger result costs the integer fast path a
/// memory round trip.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// The operation makes no sense for these types: `"abc" * 2`, `{} - 1`, `"a" < 1`.
    #[error("cannot {0}")]
    Operands(Box<Mismatch>),
    /// `/`, `//` or `mod` by zero (also `0 ** -1`).
    #[error("division by zero")]
    DivisionByZero,
    /// A result beyond what a number can hold (about 1.8e308 once past the exact range).
    #[error("the number is too large to compute with")]
    NumberTooLarge,
    /// `x[::0]`.
    #[error("a slice's step cannot be 0")]
    SliceStep,
    /// `(-8) ** 0.5` and the like.
    #[error("the result is not a real number")]
    NotReal,
    /// A List, Dictionary or String over the evaluation bounds of §6.
    #[error("too large: {0}")]
    TooLarge(Limit),
    /// Lists and Dictionaries nested deeper than [`MAX_DEPTH`] cannot be written as JSON (nor
    /// read back).
    #[error("too deeply nested: lists and dictionaries may nest at most {MAX_DEPTH} levels")]
    TooDeep,
    /// A List or String index that is not a whole number (`%list%[1.5]`).
    #[error("an index must be a whole number, not {0}")]
    NotAnIndex(Box<Number>),
    /// Assigning to a List element that does not exist.
    #[error("index {index} is out of range for a list of {len} elements")]
    IndexOutOfRange { index: i64, len: u32 },
}

impl ValueError {
    /// A type mismatch of a binary operation.
    pub fn operands(op: Op, left: &Value, right: &Value) -> ValueError {
        ValueError::Operands(Box::new(Mismatch {
            op,
            left: Operand::of(left),
            right: Some(Operand::of(right)),
        }))
    }

    /// A type mismatch of a unary operation.
    pub fn operand(op: Op, value: &Value) -> ValueError {
        ValueError::Operands(Box::new(Mismatch {
            op,
            left: Operand::of(value),
            right: None,
        }))
    }
}

/// The bound a value ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// More than [`MAX_LEN`] list elements.
    List,
    /// More than [`MAX_LEN`] dictionary keys.
    Dict,
    /// More than [`MAX_STRING_BYTES`] bytes of text.
    String,
    /// More than [`MAX_VALUE_BYTES`] bytes as JSON.
    Value,
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Limit::List => write!(f, "a list may have at most {MAX_LEN} elements"),
            Limit::Dict => write!(f, "a dictionary may have at most {MAX_LEN} keys"),
            Limit::String => write!(
                f,
                "a string may be at most {} MiB long",
                MAX_STRING_BYTES >> 20
            ),
            Limit::Value => write!(
                f,
                "a value may take at most {} MiB as JSON",
                MAX_VALUE_BYTES >> 20
            ),
        }
    }
}

/// The operation that met operands of the wrong types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Mod,
    Pow,
    Neg,
    Compare,
    /// `x in y`: the left operand is the needle, the right one the container.
    Contains,
    /// `x[i]`, `x.key`, and assigning through them: left is the container, right the key.
    Index,
    Len,
    Slice,
    /// `number(x)` and other explicit conversions.
    ToNumber,
}

/// Operands described for a message: `cannot multiply a string ("abc") by a number`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub op: Op,
    pub left: Operand,
    pub right: Option<Operand>,
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let l = &self.left;
        let Some(r) = &self.right else {
            return match self.op {
                Op::Neg => write!(f, "negate {l}"),
                Op::Len => write!(f, "take the length of {l}"),
                Op::Slice => write!(f, "slice {l}"),
                Op::ToNumber => write!(f, "convert {l} to a number"),
                _ => write!(f, "use {l} here"),
            };
        };
        match self.op {
            Op::Add => {
                write!(f, "add {r} to {l}")?;
                let text_and_number = matches!(
                    (l.type_name, r.type_name),
                    ("string", "number") | ("number", "string")
                );
                if text_and_number {
                    // What a SmartQuery user expects to work: say how it is written here.
                    f.write_str(
                        "; to put a number into a text, write a template (\"Total: %n%\" or \
                         \"Total: {{ %n% }}\") or convert it: \"Total: \" + str(%n%)",
                    )?;
                }
                Ok(())
            }
            Op::Sub => write!(f, "subtract {r} from {l}"),
            Op::Mul => write!(f, "multiply {l} by {r}"),
            Op::Div | Op::FloorDiv => write!(f, "divide {l} by {r}"),
            Op::Mod => write!(f, "take {l} modulo {r}"),
            Op::Pow => write!(f, "raise {l} to the power of {r}"),
            Op::Compare => write!(f, "compare {l} with {r}"),
            Op::Contains => write!(f, "look for {l} in {r}"),
            Op::Index => write!(f, "index {l} with {r}"),
            _ => write!(f, "use {l} with {r}"),
        }
    }
}

/// One operand as a message names it: its type, and a short quote if it is a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operand {
    /// [`Value::type_name`] of the operand.
    pub type_name: &'static str,
    /// A string operand, [`quoted`].
    pub quote: Option<Box<str>>,
}

/// Longest string quoted in a message, in characters.
const QUOTE_CHARS: usize = 24;
/// Opens a quoted value in a message until the output is finished ([`unmark`]).
pub const QUOTE_OPEN: char = '\u{E000}';
/// Closes a quoted value.
const QUOTE_CLOSE: char = '\u{E001}';

/// A value to be quoted in a message. The whole text is kept, marked, until the message is
/// output: secrets are hidden first, then [`unmark`] cuts the quote to its first characters
/// and escapes it. (Cutting first would leave a secret's prefix that no longer matches it.)
pub fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 6);
    out.push(QUOTE_OPEN);
    out.extend(
        text.chars()
            .filter(|&c| c != QUOTE_OPEN && c != QUOTE_CLOSE),
    );
    out.push(QUOTE_CLOSE);
    out
}

/// A message with every [`quoted`] value cut to 24 characters (`…` when cut) and escaped.
pub fn unmark(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4096));
    let mut rest = text;
    while let Some(open) = rest.find(QUOTE_OPEN) {
        out.push_str(&rest[..open]);
        let inner = &rest[open + QUOTE_OPEN.len_utf8()..];
        let (quote, after) = match inner.find(QUOTE_CLOSE) {
            Some(close) => (&inner[..close], &inner[close + QUOTE_CLOSE.len_utf8()..]),
            None => (inner, ""),
        };
        let mut shown: String = quote.chars().take(QUOTE_CHARS).collect();
        if shown.len() < quote.len() {
            shown.push('…');
        }
        out.push_str(&format!("{shown:?}"));
        rest = after;
    }
    out.push_str(rest);
    out
}

impl Operand {
    pub fn of(value: &Value) -> Operand {
        let quote = match value {
            Value::String(s) => Some(quoted(s).into_boxed_str()),
            _ => None,
        };
        Operand {
            type_name: value.type_name(),
            quote,
        }
    }
}

impl fmt::Display for Operand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.type_name {
            "null" => f.write_str("null")?,
            name => write!(f, "a {name}")?,
        }
        if let Some(q) = &self.quote {
            write!(f, " ({q})")?;
        }
        Ok(())
    }
}
