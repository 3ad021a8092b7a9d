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

const fn f(name: &'static str, min: usize, max: usize, signature: &'static str) -> Function {
    Function {
        name,
        min,
        max: Some(max),
        lambda_arg: None,
        signature,
    }
}

const fn lambda(name: &'static str, min: usize, max: usize, signature: &'static str) -> Function {
    Function {
        name,
        min,
        max: Some(max),
        lambda_arg: Some(1),
        signature,
    }
}

const fn variadic(name: &'static str, min: usize, signature: &'static str) -> Function {
    Function {
        name,
        min,
        max: None,
        lambda_arg: None,
        signature,
    }
}

/// Every built-in, sorted by name (lookups binary-search it).
pub const FUNCTIONS: &[Function] = &[
    f("abs", 1, 1, "abs(x)"),
    f("bool", 1, 1, "bool(x)"),
    f("ceil", 1, 1, "ceil(x)"),
    f("dict", 0, 1, "dict() or dict(x)"),
    f("endswith", 2, 2, "endswith(s, suffix)"),
    f("enumerate", 1, 1, "enumerate(list)"),
    lambda("filter", 2, 2, "filter(list, x => condition)"),
    f("fixed", 2, 2, "fixed(x, n)"),
    f("float", 1, 1, "float(x)"),
    f("floor", 1, 1, "floor(x)"),
    f("format_date", 2, 2, "format_date(t, fmt)"),
    f("format_number", 1, 3, "format_number(x, n?, sep?)"),
    f("get", 2, 3, "get(c, key, default?)"),
    f("has", 2, 2, "has(d, key)"),
    f("index_of", 2, 2, "index_of(list_or_str, x)"),
    f("insert", 3, 3, "insert(list, index, x)"),
    f("int", 1, 1, "int(x)"),
    f("items", 1, 1, "items(d)"),
    f("join", 1, 2, "join(list, sep?)"),
    f("json", 1, 1, "json(v)"),
    f("json_parse", 1, 1, "json_parse(s)"),
    f("keys", 1, 1, "keys(d)"),
    f("len", 1, 1, "len(x)"),
    variadic("list", 0, "list(a, b, …)"),
    f("lower", 1, 1, "lower(s)"),
    lambda("map", 2, 2, "map(list, x => value)"),
    f("match", 2, 3, "match(s, pattern, flags?)"),
    f("match_all", 2, 3, "match_all(s, pattern, flags?)"),
    f("match_groups", 2, 3, "match_groups(s, pattern, flags?)"),
    variadic("max", 1, "max(list) or max(a, b, …)"),
    variadic("min", 1, "min(list) or min(a, b, …)"),
    f("mod", 2, 2, "mod(a, b)"),
    f("now", 0, 0, "now()"),
    f("number", 1, 1, "number(x)"),
    f("pop", 1, 2, "pop(list, index?)"),
    f("pretty", 1, 2, "pretty(x, sep?)"),
    f("push", 2, 2, "push(list, x)"),
    f("rand", 0, 2, "rand(), rand(a, b) or rand(list)"),
    lambda("reduce", 2, 3, "reduce(list, (acc, x) => value, initial?)"),
    f("remove", 2, 2, "remove(list, x)"),
    f("replace", 3, 4, "replace(s, old, new, count?)"),
    f("reversed", 1, 1, "reversed(x)"),
    f("round", 1, 2, "round(x, n?)"),
    f("shuffle", 1, 1, "shuffle(list)"),
    f("slice", 2, 3, "slice(x, from, to?)"),
    lambda("sorted", 1, 3, "sorted(x, key?, reverse?)"),
    f("split", 1, 3, "split(s, sep?, maxsplit?)"),
    f("startswith", 2, 2, "startswith(s, prefix)"),
    f("str", 1, 1, "str(x)"),
    f("strip", 1, 2, "strip(s, chars?)"),
    f("sum", 1, 1, "sum(list)"),
    f("today", 0, 0, "today()"),
    f("trim", 1, 2, "trim(s, chars?)"),
    f("type", 1, 1, "type(x)"),
    f("unique", 1, 1, "unique(list)"),
    f("upper", 1, 1, "upper(s)"),
    f("urlencode", 1, 1, "urlencode(s)"),
    f("values", 1, 1, "values(d)"),
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
            json_parse json urlencode now today format_date fixed format_number";
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
