//! Regex literals and `http` URLs: validating them the way the interpreter will use them.

use std::cell::RefCell;

use regex::{Regex, RegexBuilder};

use crate::syntax::ast::{RegexLit, Template, TemplatePart};

/// Compiles a regex literal with its flags (`i m s x`), exactly as the interpreter runs it.
/// The error is one line, fit for a diagnostic.
pub fn compile_regex(lit: &RegexLit) -> Result<Regex, String> {
    build_regex(&lit.pattern, &lit.flags)
}

/// A compiled pattern with the pattern and flags it came from.
type Cached = (Box<str>, Box<str>, Regex);

/// [`build_regex`] with a small per-thread cache of recent patterns: the interpreter asks for
/// the same regex every time a `matches`, a match arm, an `extract` or `match()` runs, and a
/// loop must not compile it each time.
pub fn cached_regex(pattern: &str, flags: &str) -> Result<Regex, String> {
    const ENTRIES: usize = 32;
    const LONGEST: usize = 1024;
    thread_local! {
        static CACHE: RefCell<Vec<Cached>> = const { RefCell::new(Vec::new()) };
    }
    let hit = CACHE.with(|c| {
        c.borrow()
            .iter()
            .find(|(p, f, _)| &**p == pattern && &**f == flags)
            .map(|(_, _, re)| re.clone())
    });
    if let Some(re) = hit {
        return Ok(re);
    }
    let re = build_regex(pattern, flags)?;
    if pattern.len() <= LONGEST {
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() == ENTRIES {
                c.remove(0);
            }
            c.push((pattern.into(), flags.into(), re.clone()));
        });
    }
    Ok(re)
}

/// Compiles `pattern` with `flags` (`i` case-insensitive, `m` multi-line, `s` dot matches a
/// newline, `x` ignore whitespace). Also serves `match(s, pattern, flags)` at run time.
pub fn build_regex(pattern: &str, flags: &str) -> Result<Regex, String> {
    let mut builder = RegexBuilder::new(pattern);
    for flag in flags.chars() {
        match flag {
            'i' => builder.case_insensitive(true),
            'm' => builder.multi_line(true),
            's' => builder.dot_matches_new_line(true),
            'x' => builder.ignore_whitespace(true),
            other => {
                return Err(format!(
                    "unknown regex flag `{other}` (flags are i, m, s and x)"
                ))
            }
        };
    }
    builder.build().map_err(|e| condense(&e.to_string()))
}

/// The regex crate's messages draw the pattern with a caret under it over several lines; a
/// diagnostic already underlines the literal, so only the `error: …` line is kept.
fn condense(message: &str) -> String {
    if let Some(line) = message
        .lines()
        .find_map(|l| l.trim().strip_prefix("error:"))
    {
        return line.trim().to_string();
    }
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Why the URL of an `http` statement cannot work (a short reason), when that can be seen
/// before running it.
/// URLs that begin with a hole (`"%api_base%/orders"`) are not checked: the scheme and host come
/// from a variable.
pub fn check_url(url: &Template) -> Result<(), String> {
    if !matches!(url.parts.first(), Some(TemplatePart::Text(_))) {
        return Ok(());
    }
    // A hole stands for a value the runtime inserts; "x" suits a path, query or host, but not a
    // port, so a URL is refused only when neither stand-in gives a valid one.
    let first = sample_url(url, "x");
    match first {
        Ok(()) => Ok(()),
        Err(message) if url.parts.len() > 1 => sample_url(url, "1").map_err(|_| message),
        Err(message) => Err(message),
    }
}

fn sample_url(url: &Template, hole: &str) -> Result<(), String> {
    let mut text = String::new();
    for part in &url.parts {
        match part {
            TemplatePart::Text(t) => text.push_str(t),
            TemplatePart::Var(_) | TemplatePart::Expr(_) => text.push_str(hole),
        }
    }
    let parsed = url::Url::parse(text.trim()).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => "it has no scheme".to_string(),
        other => other.to_string(),
    })?;
    match parsed.scheme() {
        "http" | "https" => Ok(()),
        other => Err(format!("the scheme is `{other}`, not http or https")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syntax::ast::{Ident, VarPath};
    use crate::syntax::Span;

    fn lit(pattern: &str, flags: &str) -> RegexLit {
        RegexLit {
            pattern: pattern.into(),
            flags: flags.into(),
            span: Span::default(),
        }
    }

    #[test]
    fn flags_apply() {
        let re = compile_regex(&lit("^hello$", "i")).expect("compiles");
        assert!(re.is_match("HeLLo"));
        let re = compile_regex(&lit("a.b", "s")).expect("compiles");
        assert!(re.is_match("a\nb"));
        let re = compile_regex(&lit("^b$", "m")).expect("compiles");
        assert!(re.is_match("a\nb"));
        let re = compile_regex(&lit("a b # comment", "x")).expect("compiles");
        assert!(re.is_match("ab"));
    }

    #[test]
    fn errors_are_one_line() {
        let err = compile_regex(&lit("(abc", "")).expect_err("unclosed");
        assert!(!err.contains('\n'), "{err}");
        assert!(err.contains("unclosed group"), "{err}");
        let err = compile_regex(&lit("abc", "g")).expect_err("flag");
        assert!(err.contains("`g`"), "{err}");
    }

    fn template(parts: Vec<TemplatePart>) -> Template {
        Template {
            parts,
            span: Span::default(),
        }
    }

    fn text(t: &str) -> TemplatePart {
        TemplatePart::Text(t.into())
    }

    fn var(name: &str) -> TemplatePart {
        let root = Ident {
            name: name.into(),
            span: Span::default(),
        };
        TemplatePart::Var(VarPath {
            root,
            path: Vec::new(),
            span: Span::default(),
            slot: None,
        })
    }

    #[test]
    fn urls() {
        assert!(check_url(&template(vec![text("https://shop.example.com/api")])).is_ok());
        assert!(check_url(&template(vec![text("http://a.example/o/"), var("id")])).is_ok());
        assert!(check_url(&template(vec![text("https://"), var("host"), text("/x")])).is_ok());
        assert!(check_url(&template(vec![text("http://h:"), var("port"), text("/x")])).is_ok());
        assert!(check_url(&template(vec![var("base"), text("/orders")])).is_ok());
        assert!(check_url(&template(vec![text("shop.example.com/api")])).is_err());
        assert!(check_url(&template(vec![text("ftp://example.com/")])).is_err());
        assert!(check_url(&template(vec![text("https://exa mple.com/")])).is_err());
        assert!(check_url(&template(vec![text("https://")])).is_err());
    }
}
