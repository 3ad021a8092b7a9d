//! `extract KIND from TEXT`: text in, the value found (or `None`, which sends control to the
//! `else` block) out. LANGUAGE.md §7.3.

use std::sync::LazyLock;

use regex::Regex;

use super::{fail, Eval};
use crate::syntax::ast::ExtractKind;
use crate::syntax::Span;
use crate::value::{Number, Value};

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|e| unreachable!("built-in regex {pattern}: {e}"))
}

static NUMBER: LazyLock<Regex> = LazyLock::new(|| re(r"-?\d+(?:[.,]\d+)?"));
static EMAIL: LazyLock<Regex> =
    LazyLock::new(|| re(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}"));
static PHONE: LazyLock<Regex> = LazyLock::new(|| re(r"\+?\d[\d\s().\-]{8,}\d"));
static URL: LazyLock<Regex> = LazyLock::new(|| re(r#"(?i)(?:https?://|www\.)[^\s<>"']+"#));
static ISO_DATE: LazyLock<Regex> = LazyLock::new(|| re(r"\b(\d{4})-(\d{1,2})-(\d{1,2})\b"));
static DMY_DATE: LazyLock<Regex> = LazyLock::new(|| re(r"\b(\d{1,2})[./](\d{1,2})[./](\d{4})\b"));

pub(super) fn extract(kind: &ExtractKind, text: &str, span: Span) -> Eval<Option<Value>> {
    Ok(match kind {
        ExtractKind::Number => first_number(text).map(Value::Number),
        ExtractKind::Integer => first_number(text)
            .filter(Number::is_integer)
            .map(Value::Number),
        ExtractKind::Email => EMAIL.find(text).map(|m| Value::from(m.as_str())),
        ExtractKind::Phone => phone(text).map(Value::from),
        ExtractKind::Url => URL.find(text).map(|m| {
            Value::from(
                m.as_str()
                    .trim_end_matches(['.', ',', ';', ':', '!', '?', ')']),
            )
        }),
        ExtractKind::Date => date(text).map(Value::from),
        ExtractKind::Regex(lit) => {
            let regex = match crate::check::cached_regex(&lit.pattern, &lit.flags) {
                Ok(r) => r,
                Err(msg) => return fail(span, format!("invalid regex: {msg}")),
            };
            match regex.captures(text) {
                None => None,
                Some(caps) if regex.capture_names().flatten().next().is_some() => {
                    Some(super::named_groups(&regex, &caps))
                }
                Some(caps) => caps.get(0).map(|m| Value::from(m.as_str())),
            }
        }
    })
}

/// The first number of the text; a decimal comma counts as a point (`2,5 kg` → 2.5).
fn first_number(text: &str) -> Option<Number> {
    let m = NUMBER.find(text)?;
    Number::parse(&m.as_str().replace(',', "."))
}

/// Digits with an optional leading `+`, 10 to 15 of them, separators removed.
fn phone(text: &str) -> Option<String> {
    PHONE.find_iter(text).find_map(|m| {
        let digits: String = m.as_str().chars().filter(char::is_ascii_digit).collect();
        (10..=15).contains(&digits.len()).then(|| {
            if m.as_str().starts_with('+') {
                format!("+{digits}")
            } else {
                digits
            }
        })
    })
}

/// `2026-11-28`, `28.11.2026` or `28/11/2026` → `2026-11-28`, if it is a real calendar day.
fn date(text: &str) -> Option<String> {
    let iso = ISO_DATE
        .captures_iter(text)
        .map(|c| (c[1].to_string(), c[2].to_string(), c[3].to_string()));
    let dmy = DMY_DATE
        .captures_iter(text)
        .map(|c| (c[3].to_string(), c[2].to_string(), c[1].to_string()));
    let mut found: Vec<(usize, (String, String, String))> = Vec::new();
    for (pos, ymd) in ISO_DATE
        .find_iter(text)
        .map(|m| m.start())
        .zip(iso)
        .chain(DMY_DATE.find_iter(text).map(|m| m.start()).zip(dmy))
    {
        found.push((pos, ymd));
    }
    found.sort_by_key(|(pos, _)| *pos);
    found.into_iter().find_map(|(_, (y, m, d))| {
        let (y, m, d) = (
            y.parse::<u32>().ok()?,
            m.parse::<u32>().ok()?,
            d.parse::<u32>().ok()?,
        );
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        let days = match m {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        (1..=days)
            .contains(&d)
            .then(|| format!("{y:04}-{m:02}-{d:02}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(kind: ExtractKind, text: &str) -> Option<String> {
        match extract(&kind, text, Span::default()) {
            Ok(v) => v.map(|v| v.render().into_owned()),
            Err(_) => Some("ERROR".into()),
        }
    }

    #[test]
    fn numbers() {
        assert_eq!(x(ExtractKind::Number, "2,5 kg"), Some("2.5".into()));
        assert_eq!(x(ExtractKind::Number, "about 12 items"), Some("12".into()));
        assert_eq!(x(ExtractKind::Number, "none"), None);
        assert_eq!(
            x(ExtractKind::Integer, "order 104233 please"),
            Some("104233".into())
        );
        assert_eq!(x(ExtractKind::Integer, "2.5"), None);
    }

    #[test]
    fn emails_phones_urls() {
        assert_eq!(
            x(ExtractKind::Email, "mail me: ann@example.com."),
            Some("ann@example.com".into())
        );
        assert_eq!(x(ExtractKind::Email, "ann at example"), None);
        assert_eq!(
            x(ExtractKind::Phone, "+7 (900) 123-45-67"),
            Some("+79001234567".into())
        );
        assert_eq!(
            x(ExtractKind::Phone, "call 8 900 123 45 67"),
            Some("89001234567".into())
        );
        assert_eq!(x(ExtractKind::Phone, "123-45"), None);
        assert_eq!(
            x(ExtractKind::Url, "see https://shop.example.com/a?b=1."),
            Some("https://shop.example.com/a?b=1".into())
        );
    }

    #[test]
    fn dates() {
        assert_eq!(
            x(ExtractKind::Date, "2026-11-28"),
            Some("2026-11-28".into())
        );
        assert_eq!(
            x(ExtractKind::Date, "on 28.11.2026 at 10"),
            Some("2026-11-28".into())
        );
        assert_eq!(
            x(ExtractKind::Date, "28/11/2026"),
            Some("2026-11-28".into())
        );
        assert_eq!(x(ExtractKind::Date, "31.02.2026"), None);
        assert_eq!(
            x(ExtractKind::Date, "29.02.2024"),
            Some("2024-02-29".into())
        );
    }
}
