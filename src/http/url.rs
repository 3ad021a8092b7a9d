//! URL templates: rendered pieces in, a checked URL out (LANGUAGE.md §8.1).
//!
//! A value placed in the path or the query is percent-encoded as one component, so a message
//! such as `a&b=c d/e` can add neither parameters nor path segments, and a path component
//! that comes out as `.` or `..` is refused (it would remove a segment). A value that begins
//! the URL is inserted as it is, so `"%api_base%/orders"` works (the operator's base URL). A
//! value anywhere else in the host may hold only letters, digits, `-` and `.` (in the port:
//! digits), so a user cannot move the request, with its credentials, to another host; a value
//! in the user info is encoded as one component. `query NAME: EXPR` lines are appended,
//! encoded the same way.

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
    /// Scheme, `://`, user info, host and port.
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
    /// Inside `[…]` (an IPv6 host).
    bracket: bool,
    /// A `:` outside brackets since the host began: the port follows.
    port: bool,
}

/// Follows the URL text to learn whether the origin part is over: at the first `/`, `?` or
/// `#` after `scheme://`, or — before any `:` — at the first of them. Returns the byte offset
/// in `text` of the character that ended it.
fn advance(text: &str, seen: &mut Seen) -> Option<usize> {
    for (i, c) in text.char_indices() {
        let at = seen.len;
        seen.len += c.len_utf8();
        if seen.after_scheme.is_none() && c == '/' && seen.last == [':', '/'] {
            seen.after_scheme = Some(seen.len);
            seen.port = false;
        } else if matches!(c, '/' | '?' | '#') {
            match seen.after_scheme {
                Some(start) if at >= start => return Some(i),
                None if !seen.colon => return Some(i),
                _ => {}
            }
        } else if seen.after_scheme.is_some() {
            match c {
                '@' => seen.port = false,
                '[' => seen.bracket = true,
                ']' => seen.bracket = false,
                ':' if !seen.bracket => seen.port = true,
                _ => {}
            }
        }
        seen.colon |= c == ':';
        seen.last = [seen.last[1], c];
    }
    None
}

/// Whether the literal text after a value, up to the end of the origin, holds an `@`: the
/// value is then in the user info.
fn in_userinfo(rest: &[Piece]) -> bool {
    for piece in rest {
        if let Piece::Literal(text) = piece {
            for c in text.chars() {
                match c {
                    '@' => return true,
                    '/' | '?' | '#' => return false,
                    _ => {}
                }
            }
        }
    }
    false
}

/// The path component being built, to refuse a value that makes it `.` or `..`.
#[derive(Default)]
struct Segment {
    /// Still in the path (not yet in the query or fragment).
    path: bool,
    text: String,
    has_value: bool,
}

impl Segment {
    fn literal(&mut self, text: &str) -> Result<(), String> {
        if !self.path {
            return Ok(());
        }
        for c in text.chars() {
            match c {
                '/' => self.close()?,
                '?' | '#' => {
                    self.close()?;
                    self.path = false;
                    return Ok(());
                }
                c => self.text.push(c),
            }
        }
        Ok(())
    }

    fn value(&mut self, encoded: &str) {
        if self.path {
            self.text.push_str(encoded);
            self.has_value = true;
        }
    }

    fn close(&mut self) -> Result<(), String> {
        if self.has_value && (self.text == "." || self.text == "..") {
            return Err(format!(
                "this URL: a value makes a path component `{}`, which would remove a segment",
                self.text
            ));
        }
        self.text.clear();
        self.has_value = false;
        Ok(())
    }
}

/// A character named in an error without quoting the value around it (it may be a secret).
fn describe(c: char) -> String {
    match c {
        ' ' => "a space".to_string(),
        c if c.is_control() => format!("the control character U+{:04X}", c as u32),
        c => format!("`{c}`"),
    }
}

/// Joins the pieces (and extra query parameters) into a URL and checks it.
pub fn build(pieces: &[Piece], query: &[(String, String)]) -> Result<url::Url, String> {
    let mut out = String::new();
    let mut seen = Seen::default();
    let mut part = Part::Origin;
    let mut segment = Segment::default();
    for (i, piece) in pieces.iter().enumerate() {
        match (piece, part) {
            (Piece::Literal(text), Part::Rest) => {
                out.push_str(text);
                segment.literal(text)?;
            }
            (Piece::Value(text), Part::Rest) => {
                let encoded = encode_component(text);
                segment.value(&encoded);
                out.push_str(&encoded);
            }
            (Piece::Value(text), Part::Origin) if i > 0 && in_userinfo(&pieces[i + 1..]) => {
                let encoded = encode_component(text);
                advance(&encoded, &mut seen);
                out.push_str(&encoded);
            }
            (Piece::Value(text), Part::Origin) if i > 0 => {
                let port = seen.port;
                let allowed = |c: char| {
                    if port {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphanumeric() || c == '-' || c == '.'
                    }
                };
                if let Some(bad) = text.chars().find(|&c| !allowed(c)) {
                    return Err(format!(
                        "this URL: a value in its {} holds {}; only {} may be placed there",
                        if port { "port" } else { "host" },
                        describe(bad),
                        if port {
                            "digits"
                        } else {
                            "letters, digits, `-` and `.`"
                        }
                    ));
                }
                advance(text, &mut seen);
                out.push_str(text);
            }
            (Piece::Literal(text) | Piece::Value(text), Part::Origin) => {
                out.push_str(text);
                if let Some(end) = advance(text, &mut seen) {
                    part = Part::Rest;
                    segment.path = text[end..].starts_with('/');
                    segment.literal(&text[end + 1..])?;
                }
            }
        }
    }
    segment.close()?;
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
            url(&[lit("https://"), val("api.example.com"), lit("/ping")]),
            "https://api.example.com/ping"
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

    #[test]
    fn a_value_in_the_host_cannot_move_the_request() {
        let host = |v: &str| url(&[lit("http://"), val(v), lit(".example.com/ok")]);
        assert_eq!(host("eu-1"), "http://eu-1.example.com/ok");
        for bad in [
            "evil.test:47614/steal?",
            "evil.test/",
            "a@evil.test",
            "x y",
            "a\\b",
            "[::1]",
        ] {
            let got = host(bad);
            assert!(
                got.starts_with("ERR this URL: a value in its host"),
                "{bad}: {got}"
            );
            assert!(!got.contains("evil"), "the value is not quoted: {got}");
        }
        let port = |v: &str| url(&[lit("http://api.example.com:"), val(v), lit("/x")]);
        assert_eq!(port("8080"), "http://api.example.com:8080/x");
        assert!(port("80@evil.test").starts_with("ERR this URL: a value in its port"));
        assert!(port("80.1").starts_with("ERR"));
        // In the user info a value is one encoded component: it cannot end the user info.
        assert_eq!(
            url(&[
                lit("https://bot:"),
                val("p@ss/w:rd"),
                lit("@api.example.com/")
            ]),
            "https://bot:p%40ss%2Fw%3Ard@api.example.com/"
        );
        // Only a value that begins the URL is verbatim.
        assert_eq!(
            url(&[val("https://api.example.com:8443/v1"), lit("/x")]),
            "https://api.example.com:8443/v1/x"
        );
    }

    #[test]
    fn a_value_cannot_be_a_dot_segment() {
        let path = |v: &str| url(&[lit("https://x.example.com/orders/"), val(v), lit("/status")]);
        assert_eq!(path(".x"), "https://x.example.com/orders/.x/status");
        assert_eq!(path("..."), "https://x.example.com/orders/.../status");
        for bad in [".", ".."] {
            let got = path(bad);
            assert!(
                got.starts_with("ERR this URL: a value makes a path component"),
                "{got}"
            );
        }
        assert!(url(&[lit("https://x.example.com/f/"), val("..")]).starts_with("ERR"));
        assert!(url(&[lit("https://x.example.com/f/."), val(".")]).starts_with("ERR"));
        assert_eq!(
            url(&[lit("https://x.example.com/f/a"), val(".")]),
            "https://x.example.com/f/a."
        );
        // In the query a dot is only text.
        assert_eq!(
            url(&[lit("https://x.example.com/f?q="), val("..")]),
            "https://x.example.com/f?q=.."
        );
        // The operator's own base URL is theirs to write.
        assert_eq!(
            url(&[val("https://x.example.com/a/../b"), lit("/c")]),
            "https://x.example.com/b/c"
        );
    }
}
