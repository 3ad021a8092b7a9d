//! URL templates: rendered pieces in, a checked URL out (LANGUAGE.md §8.1).
//!
//! A value placed in the path or the query is percent-encoded as one component, so a message
//! such as `a&b=c d/e` can add neither parameters nor path segments. A value that begins the
//! URL, or lies in the scheme or host part, is inserted as it is, so `"%api_base%/orders"`
//! works. `query NAME: EXPR` lines are appended, encoded the same way.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// One piece of a rendered URL template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Text written in the scenario: used as written.
    Literal(String),
    /// The text of a `%var%` or `{{ }}` hole.
    Value(String),
}

/// Everything but the unreserved characters of RFC 3986 is encoded in a component.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes text as one URL component.
pub fn encode_component(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// Where the pieces seen so far have brought the URL.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Scheme, `://`, user info, host and port: values go in verbatim.
    Origin,
    /// Path, query or fragment: values are encoded.
    Rest,
}

/// What the text so far says about the origin part (one pass, nothing kept but this).
#[derive(Default)]
struct Seen {
    /// Bytes so far.
    len: usize,
    /// Whether a `:` appeared.
    colon: bool,
    /// The byte offset just after the first `://`.
    after_scheme: Option<usize>,
    /// The last two characters.
    last: [char; 2],
}

/// Follows the URL text to learn whether the origin part is over: at the first `/`, `?` or
/// `#` after `scheme://`, or — before any `:` — at the first of them.
fn advance(part: Part, text: &str, seen: &mut Seen) -> Part {
    if part == Part::Rest {
        return Part::Rest;
    }
    for c in text.chars() {
        let at = seen.len;
        seen.len += c.len_utf8();
        if seen.after_scheme.is_none() && c == '/' && seen.last == [':', '/'] {
            seen.after_scheme = Some(seen.len);
        } else if matches!(c, '/' | '?' | '#') {
            match seen.after_scheme {
                Some(start) if at >= start => return Part::Rest,
                None if !seen.colon => return Part::Rest,
                _ => {}
            }
        }
        seen.colon |= c == ':';
        seen.last = [seen.last[1], c];
    }
    Part::Origin
}

/// Joins the pieces (and extra query parameters) into a URL and checks it.
pub fn build(pieces: &[Piece], query: &[(String, String)]) -> Result<url::Url, String> {
    let mut out = String::new();
    let mut seen = Seen::default();
    let mut part = Part::Origin;
    for piece in pieces {
        match piece {
            Piece::Literal(text) => {
                out.push_str(text);
                part = advance(part, text, &mut seen);
            }
            Piece::Value(text) if part == Part::Origin => {
                out.push_str(text);
                part = advance(part, text, &mut seen);
            }
            Piece::Value(text) => out.push_str(&encode_component(text)),
        }
    }
    if !query.is_empty() {
        let (base, fragment) = match out.find('#') {
            Some(i) => (out[..i].to_string(), out[i..].to_string()),
            None => (out.clone(), String::new()),
        };
        let mut with_query = base;
        let mut separator = if with_query.contains('?') {
            if with_query.ends_with('?') || with_query.ends_with('&') {
                ""
            } else {
                "&"
            }
        } else {
            "?"
        };
        for (name, value) in query {
            with_query.push_str(separator);
            with_query.push_str(&encode_component(name));
            with_query.push('=');
            with_query.push_str(&encode_component(value));
            separator = "&";
        }
        with_query.push_str(&fragment);
        out = with_query;
    }
    let url = url::Url::parse(&out).map_err(|e| format!("`{out}` is not a valid URL ({e})"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => Err(format!("`{out}` has no host")),
        other => Err(format!(
            "`{out}` uses `{other}:`; only http and https URLs can be called"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Piece {
        Piece::Literal(s.into())
    }

    fn val(s: &str) -> Piece {
        Piece::Value(s.into())
    }

    fn url(pieces: &[Piece]) -> String {
        build(pieces, &[])
            .map(String::from)
            .unwrap_or_else(|e| format!("ERR {e}"))
    }

    #[test]
    fn values_in_the_path_are_one_segment() {
        assert_eq!(
            url(&[
                lit("https://shop.example.com/api/orders/"),
                val("a&b=c d/e")
            ]),
            "https://shop.example.com/api/orders/a%26b%3Dc%20d%2Fe"
        );
        assert_eq!(
            url(&[lit("https://x.example.com/"), val("../admin")]),
            "https://x.example.com/..%2Fadmin"
        );
        assert_eq!(
            url(&[lit("https://x.example.com/u/"), val("Иван")]),
            "https://x.example.com/u/%D0%98%D0%B2%D0%B0%D0%BD"
        );
    }

    #[test]
    fn values_in_the_query_cannot_add_parameters() {
        assert_eq!(
            url(&[
                lit("https://x.example.com/s?q="),
                val("tea & cake=1#x"),
                lit("&n=2")
            ]),
            "https://x.example.com/s?q=tea%20%26%20cake%3D1%23x&n=2"
        );
    }

    #[test]
    fn values_in_the_origin_are_verbatim() {
        assert_eq!(
            url(&[
                val("https://api.example.com/v1"),
                lit("/orders/"),
                val("7/8")
            ]),
            "https://api.example.com/v1/orders/7%2F8"
        );
        assert_eq!(
            url(&[lit("https://"), val("api.example.com:8443"), lit("/ping")]),
            "https://api.example.com:8443/ping"
        );
        assert_eq!(
            url(&[lit("http://127.0.0.1:"), val("8080"), lit("/x")]),
            "http://127.0.0.1:8080/x"
        );
    }

    #[test]
    fn query_lines_are_encoded_and_appended() {
        let q = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let built = |base: &str, pairs: &[(&str, &str)]| {
            build(&[lit(base)], &q(pairs))
                .map(String::from)
                .unwrap_or_default()
        };
        assert_eq!(
            built(
                "https://crm.example.com/leads?source=bot",
                &[("utm", "a b&c")]
            ),
            "https://crm.example.com/leads?source=bot&utm=a%20b%26c"
        );
        assert_eq!(
            built("https://x.example.com/p", &[("a", "1"), ("b c", "ж")]),
            "https://x.example.com/p?a=1&b%20c=%D0%B6"
        );
        assert_eq!(
            built("https://x.example.com/p#top", &[("a", "1")]),
            "https://x.example.com/p?a=1#top"
        );
    }

    #[test]
    fn only_http_urls_with_a_host() {
        assert!(url(&[lit("ftp://x.example.com/f")]).starts_with("ERR"));
        assert!(url(&[lit("not a url")]).starts_with("ERR"));
        assert!(url(&[val("file:///etc/passwd")]).starts_with("ERR"));
    }
}
