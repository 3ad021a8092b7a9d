//! The built-in functions (LANGUAGE.md §6): names, arities and where a lambda may stand. The
//! checker validates every call against [`FUNCTIONS`]; the interpreter dispatches on the same
//! names, so this table is the one place a built-in is declared.

/// One built-in function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    pub name: &'static str,
    /// Fewest arguments accepted (a method or pipe receiver counts as the first).
    pub min: usize,
    /// Most arguments accepted; `None` for any number (`min`, `max`).
    pub max: Option<usize>,
    /// The argument position (0-based) that may be a lambda (`map`, `filter`, `reduce`, `sorted`).
    pub lambda_arg: Option<usize>,
    /// How it is called, for help messages: `replace(s, old, new)`.
    pub signature: &'static str,
    /// What it does, in one sentence (hover in the editor; the reference says more).
    pub doc: &'static str,
}

impl Function {
    /// Whether `n` arguments are acceptable.
    pub fn accepts(&self, n: usize) -> bool {
        n >= self.min && self.max.is_none_or(|max| n <= max)
    }

    /// Whether argument `k` may be a lambda.
    pub fn takes_lambda_at(&self, k: usize) -> bool {
        self.lambda_arg == Some(k)
    }

    /// "3 arguments", "1 or 2 arguments", "at least 1 argument", "no arguments".
    pub fn arity_text(&self) -> String {
        let noun = |n: usize| if n == 1 { "argument" } else { "arguments" };
        match self.max {
            None => format!("at least {} {}", self.min, noun(self.min)),
            Some(0) => "no arguments".to_string(),
            Some(max) if max == self.min => format!("{max} {}", noun(max)),
            Some(max) if max == self.min + 1 => format!("{} or {max} {}", self.min, noun(max)),
            Some(max) => format!("{} to {max} {}", self.min, noun(max)),
        }
    }
}

const fn f(
    name: &'static str,
    min: usize,
    max: usize,
    signature: &'static str,
    doc: &'static str,
) -> Function {
    Function {
        name,
        min,
        max: Some(max),
        lambda_arg: None,
        signature,
        doc,
    }
}

const fn lambda(
    name: &'static str,
    min: usize,
    max: usize,
    signature: &'static str,
    doc: &'static str,
) -> Function {
    Function {
        name,
        min,
        max: Some(max),
        lambda_arg: Some(1),
        signature,
        doc,
    }
}

const fn variadic(
    name: &'static str,
    min: usize,
    signature: &'static str,
    doc: &'static str,
) -> Function {
    Function {
        name,
        min,
        max: None,
        lambda_arg: None,
        signature,
        doc,
    }
}

/// Every built-in, sorted by name (lookups binary-search it).
pub const FUNCTIONS: &[Function] = &[
    f("abs", 1, 1, "abs(x)",
        "The absolute value: `abs(-3)` is 3.",
    ),
    f("bool", 1, 1, "bool(x)",
        "Truthiness as a Boolean: `false`, `null`, `0`, `\"\"`, `[]`, `{}` are false (`bool(\"false\")` is true).",
    ),
    f("ceil", 1, 1, "ceil(x)",
        "Rounds up to a whole number: `ceil(2.1)` is 3.",
    ),
    f("dict", 0, 1, "dict() or dict(x)",
        "An empty Dictionary, or one built from `[key, value]` pairs (a Dictionary is copied).",
    ),
    f("endswith", 2, 2, "endswith(s, suffix)",
        "Whether the text ends with `suffix`.",
    ),
    f("enumerate", 1, 1, "enumerate(list)",
        "The `[index, element]` pairs of a List: `enumerate([\"a\"])` is `[[0, \"a\"]]`.",
    ),
    lambda("filter", 2, 2, "filter(list, x => condition)",
        "The elements for which the lambda is true (for a Dictionary, `[key, value]` pairs).",
    ),
    f("fixed", 2, 2, "fixed(x, n)",
        "The number with exactly `n` decimals, as text: `fixed(13.9, 2)` is `\"13.90\"`.",
    ),
    f("float", 1, 1, "float(x)",
        "The number in a text (or a Number): `float(\"2.50\")` is 2.5; an error if there is none.",
    ),
    f("floor", 1, 1, "floor(x)",
        "Rounds down to a whole number: `floor(-2.5)` is -3.",
    ),
    f("format_date", 2, 2, "format_date(t, fmt)",
        "A date or time (ISO text or Unix seconds) formatted with `%Y-%m-%d`-style directives.",
    ),
    f("format_number", 1, 3, "format_number(x, n?, sep?)",
        "The number with `n` decimals and thousands grouped by `sep` (a space): `\"1 234.50\"`.",
    ),
    f("get", 2, 3, "get(c, key, default?)",
        "The value at a key or index, or `default` (null) when there is none; null for a null container.",
    ),
    f("has", 2, 2, "has(d, key)",
        "Whether the key (Dictionary), element (List) or text (String) is in it: `x in c`.",
    ),
    f("index_of", 2, 2, "index_of(list_or_str, x)",
        "Where `x` first is in a List or text (from 0), or null when it is not there.",
    ),
    f("insert", 3, 3, "insert(list, index, x)",
        "A new List with `x` inserted before `index` (clamped, as Python).",
    ),
    f("int", 1, 1, "int(x)",
        "The whole number in a text or Number, rounded toward zero: `int(\"42\")` is 42.",
    ),
    f("items", 1, 1, "items(d)",
        "The `[key, value]` pairs of a Dictionary, in order.",
    ),
    f("join", 1, 2, "join(list, sep?)",
        "The elements as text, separated by `sep` (a line break when left out).",
    ),
    f("json", 1, 1, "json(v)",
        "The value as compact JSON text.",
    ),
    f("json_parse", 1, 1, "json_parse(s)",
        "The value a JSON text holds (an error if it is not JSON).",
    ),
    f("keys", 1, 1, "keys(d)",
        "The keys of a Dictionary, in order.",
    ),
    f("len", 1, 1, "len(x)",
        "The length of a text (in characters), a List or a Dictionary.",
    ),
    variadic("list", 0, "list(a, b, …)",
        "The List of its arguments: `list(1, 2, 3)` is `[1, 2, 3]`.",
    ),
    f("lower", 1, 1, "lower(s)",
        "The text in lowercase (Unicode-aware).",
    ),
    lambda("map", 2, 2, "map(list, x => value)",
        "The lambda's result for every element (for a Dictionary, `(k, v) =>` gets key and value).",
    ),
    f("match", 2, 3, "match(s, pattern, flags?)",
        "The first match of a regex pattern in the text, or null; flags `i`, `m`, `s`, `x`.",
    ),
    f("match_all", 2, 3, "match_all(s, pattern, flags?)",
        "Every match of the pattern (with one group: that group; with several: their Lists).",
    ),
    f("match_groups", 2, 3, "match_groups(s, pattern, flags?)",
        "The whole first match, then its groups (null for a group that took no part), or null.",
    ),
    variadic("max", 1, "max(list) or max(a, b, …)",
        "The largest of a List, or of several values.",
    ),
    variadic("min", 1, "min(list) or min(a, b, …)",
        "The smallest of a List, or of several values.",
    ),
    f("mod", 2, 2, "mod(a, b)",
        "The remainder of `a / b`, with the sign of `b` (as Python's `%`).",
    ),
    f("now", 0, 0, "now()",
        "The current time, `2026-11-28T14:03:05Z` (UTC).",
    ),
    f("number", 1, 1, "number(x)",
        "The number in a text (or a Number); an error if there is none.",
    ),
    f("pop", 1, 2, "pop(list, index?)",
        "A new List without the element at `index` (the last one when left out).",
    ),
    f("pretty", 1, 2, "pretty(x, sep?)",
        "The human form: Dictionary lines `key: value`, a List joined by `, `, `12 345`.",
    ),
    f("push", 2, 2, "push(list, x)",
        "A new List with `x` added at the end: `set %cart% = %cart% | push(\"tea\")`.",
    ),
    f("rand", 0, 2, "rand(), rand(a, b) or rand(list)",
        "A random Number in [0, 1), a whole number in [a, b], or an element of a List.",
    ),
    lambda("reduce", 2, 3, "reduce(list, (acc, x) => value, initial?)",
        "Folds a List with the lambda `(acc, x) => …`, from `initial` or the first element.",
    ),
    f("remove", 2, 2, "remove(list, x)",
        "A new List without the first element equal to `x` (or a Dictionary without a key).",
    ),
    f("replace", 3, 4, "replace(s, old, new, count?)",
        "The text with `old` replaced by `new` (at most `count` times, from the left).",
    ),
    f("reversed", 1, 1, "reversed(x)",
        "A List or text in reverse order.",
    ),
    f("round", 1, 2, "round(x, n?)",
        "Rounds to `n` decimals (0 when left out), half to even as Python: `round(2.5)` is 2.",
    ),
    f("shuffle", 1, 1, "shuffle(list)",
        "A new List with the elements in random order.",
    ),
    f("slice", 2, 3, "slice(x, from, to?)",
        "The part of a List or text from `from` to `to` (negative counts from the end).",
    ),
    lambda("sorted", 1, 3, "sorted(x, key?, reverse?)",
        "Sorted by value or by the lambda's key; `reverse` for descending; a Dictionary by key.",
    ),
    f("split", 1, 3, "split(s, sep?, maxsplit?)",
        "The parts of a text between `sep` (runs of whitespace when left out), at most `maxsplit` splits.",
    ),
    f("startswith", 2, 2, "startswith(s, prefix)",
        "Whether the text starts with `prefix`.",
    ),
    f("str", 1, 1, "str(x)",
        "The value as text, as a template shows it.",
    ),
    f("strip", 1, 2, "strip(s, chars?)",
        "The text without the spaces (or the given characters) at both ends.",
    ),
    f("sum", 1, 1, "sum(list)",
        "The sum of a List of numbers (0 for an empty one).",
    ),
    f("time_add", 2, 2, "time_add(t, seconds)",
        "The time `seconds` after `t` (before it when negative), in the form of `t`: a text like `now()` gives, or Unix milliseconds.",
    ),
    f("today", 0, 0, "today()",
        "Today's date, `2026-11-28` (UTC).",
    ),
    f("trim", 1, 2, "trim(s, chars?)",
        "The text without the spaces (or the given characters) at both ends; same as `strip`.",
    ),
    f("type", 1, 1, "type(x)",
        "The type's name: `\"string\"`, `\"number\"`, `\"dictionary\"`, `\"list\"`, `\"boolean\"` or `\"null\"`.",
    ),
    f("unique", 1, 1, "unique(list)",
        "The List without repeated elements (the first of equal ones kept).",
    ),
    f("upper", 1, 1, "upper(s)",
        "The text in uppercase (Unicode-aware).",
    ),
    f("urlencode", 1, 1, "urlencode(s)",
        "The text percent-encoded as one URL component (a Dictionary becomes a query string).",
    ),
    f("values", 1, 1, "values(d)",
        "The values of a Dictionary, in order.",
    ),
];

/// The built-in called `name`.
pub fn lookup(name: &str) -> Option<&'static Function> {
    FUNCTIONS
        .binary_search_by(|f| f.name.cmp(name))
        .ok()
        .map(|i| &FUNCTIONS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for pair in FUNCTIONS.windows(2) {
            assert!(
                pair[0].name < pair[1].name,
                "{} before {}",
                pair[0].name,
                pair[1].name
            );
        }
    }

    #[test]
    fn every_function_of_the_reference_is_there() {
        let reference = "len int float str dict list startswith endswith lower upper strip \
            replace split match match_groups match_all keys values items get sum pretty map \
            filter reduce join sorted reversed enumerate shuffle index_of push pop insert remove \
            round floor ceil abs min max rand type number bool trim has mod unique slice \
            json_parse json urlencode now today format_date fixed format_number time_add";
        for name in reference.split_whitespace() {
            assert!(lookup(name).is_some(), "{name} missing");
        }
        assert_eq!(FUNCTIONS.len(), reference.split_whitespace().count());
        assert!(lookup("length").is_none());
    }

    #[test]
    fn arities() {
        let get = |name| lookup(name).expect("known");
        assert!(get("replace").accepts(3) && !get("replace").accepts(2));
        assert!(get("replace").accepts(4) && !get("replace").accepts(5));
        assert!(get("rand").accepts(0) && get("rand").accepts(1) && get("rand").accepts(2));
        assert!(get("max").accepts(5) && !get("max").accepts(0));
        assert!(get("now").accepts(0) && !get("now").accepts(1));
        assert!(get("map").takes_lambda_at(1) && !get("map").takes_lambda_at(0));
        assert!(!get("join").takes_lambda_at(1));
        assert_eq!(get("replace").arity_text(), "3 or 4 arguments");
        assert_eq!(get("len").arity_text(), "1 argument");
        assert_eq!(get("get").arity_text(), "2 or 3 arguments");
        assert_eq!(get("rand").arity_text(), "0 to 2 arguments");
        assert_eq!(get("min").arity_text(), "at least 1 argument");
        assert_eq!(get("today").arity_text(), "no arguments");
    }
}
