//! Request bodies and headers as the scenario wrote them, in; bytes and the headers to send,
//! out (LANGUAGE.md §8.1). Response bodies, in; the value `%body%` gets, out (§8.2).

use crate::value::{Map, Value};

/// A request body, rendered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Body {
    pub bytes: Vec<u8>,
    /// The Content-Type to send when the scenario set none; `None` for `text`.
    pub default_type: Option<&'static str>,
}

/// The charset a `charset=` parameter of the scenario's own Content-Type names, for a `form`
/// or `text` body (`windows-1251` for legacy backends); `None` for UTF-8 or no parameter. An
/// unknown charset is an error: nothing is sent.
pub fn request_encoding(
    content_type: Option<&str>,
) -> Result<Option<&'static encoding_rs::Encoding>, String> {
    let Some(label) = content_type.and_then(charset) else {
        return Ok(None);
    };
    match encoding_rs::Encoding::for_label(label.as_bytes()) {
        Some(e) if e == encoding_rs::UTF_8 => Ok(None),
        // Encoding to UTF-16 is not offered by the standard; its label means UTF-8 there.
        Some(e) if e.output_encoding() != e => Err(format!(
            "the Content-Type names the charset `{label}`, which a request body cannot be encoded in"
        )),
        Some(e) => Ok(Some(e)),
        None => Err(format!(
            "the Content-Type names the charset `{label}`, which is not a known charset"
        )),
    }
}

/// `form EXPR`: a Dictionary sent `application/x-www-form-urlencoded`; values are rendered as
/// text and a List value repeats its key; in `encoding` (UTF-8 when `None`) before being
/// percent-encoded. A character the charset lacks is sent as an HTML character reference
/// (`&#128512;`), as browsers do.
pub fn form(
    value: &Value,
    encoding: Option<&'static encoding_rs::Encoding>,
) -> Result<Body, String> {
    let Value::Dict(map) = value else {
        return Err(format!(
            "`form` needs a dictionary, not a {}",
            value.type_name()
        ));
    };
    // Measured first: a Dictionary sharing one big value many times fails at once.
    value
        .measure(crate::value::MAX_DEPTH, MAX_BODY_BYTES)
        .map_err(too_large)?;
    let encode: &dyn Fn(&str) -> std::borrow::Cow<'_, [u8]> = &move |text| match encoding {
        Some(e) => e.encode(text).0,
        None => std::borrow::Cow::Borrowed(text.as_bytes()),
    };
    let mut out = form_urlencoded::Serializer::new(String::new());
    out.encoding_override(Some(encode));
    for (key, v) in map.iter() {
        match v {
            Value::List(items) => {
                for item in items.iter() {
                    out.append_pair(key, &item.render());
                }
            }
            other => {
                out.append_pair(key, &other.render());
            }
        }
    }
    let bytes = out.finish().into_bytes();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(body_too_large());
    }
    Ok(Body {
        bytes,
        default_type: Some("application/x-www-form-urlencoded"),
    })
}

/// The largest request body (§8.3): 10 MiB.
pub const MAX_BODY_BYTES: usize = crate::value::MAX_VALUE_BYTES;

fn body_too_large() -> String {
    format!(
        "the request body would be larger than {} MiB; nothing was sent",
        MAX_BODY_BYTES >> 20
    )
}

fn too_large(e: crate::value::ValueError) -> String {
    match e {
        crate::value::ValueError::TooLarge(_) => body_too_large(),
        other => other.to_string(),
    }
}

/// `json EXPR`: always valid JSON, whatever the strings hold; numbers stay exact.
pub fn json(value: &Value) -> Result<Body, String> {
    let text = value.to_json_string().map_err(too_large)?;
    Ok(Body {
        bytes: text.into_bytes(),
        default_type: Some("application/json"),
    })
}

/// `text TEMPLATE`: sent as it is (in `encoding`, UTF-8 when `None`), with no Content-Type
/// added.
pub fn text(
    rendered: &str,
    encoding: Option<&'static encoding_rs::Encoding>,
) -> Result<Body, String> {
    if rendered.len() > MAX_BODY_BYTES {
        return Err(body_too_large());
    }
    let bytes = match encoding {
        Some(e) => e.encode(rendered).0.into_owned(),
        None => rendered.as_bytes().to_vec(),
    };
    Ok(Body {
        bytes,
        default_type: None,
    })
}

/// A header value the scenario rendered: refused if it would contain a line break (header
/// injection), so nothing is sent.
pub fn header_value(name: &str, value: &str) -> Result<(), String> {
    if value.contains(['\r', '\n']) {
        return Err(format!(
            "the value of header `{name}` contains a line break; the request was not sent"
        ));
    }
    // Other control characters cannot be sent in a header either (HTTP allows only tab).
    if let Some(c) = value.chars().find(|c| c.is_ascii_control() && *c != '\t') {
        return Err(format!(
            "the value of header `{name}` contains the control character {:?}; the request was not sent",
            c
        ));
    }
    Ok(())
}

/// What `%body%` gets from a response (§8.2), and whether JSON failed to parse (a warning).
#[derive(Debug, PartialEq)]
pub struct Decoded {
    pub value: Value,
    pub bad_json: Option<String>,
}

/// The media type of a Content-Type header, lowercased, without parameters.
fn media_type(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The `charset` parameter of a Content-Type header.
fn charset(content_type: &str) -> Option<String> {
    content_type.split(';').skip(1).find_map(|param| {
        let (k, v) = param.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches('"').to_string())
    })
}

/// Decodes a response body: parsed JSON for `application/json` and `*+json` (key order and big
/// numbers kept), else text in the response's charset (UTF-8 by default, invalid bytes
/// replaced). An empty body — or the answer to HEAD — is `""`.
pub fn decode(content_type: Option<&str>, bytes: &[u8]) -> Decoded {
    if bytes.is_empty() {
        return Decoded {
            value: Value::from(""),
            bad_json: None,
        };
    }
    let content_type = content_type.unwrap_or("");
    let media = media_type(content_type);
    let encoding = charset(content_type)
        .and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes()))
        .unwrap_or(encoding_rs::UTF_8);
    let (text, _, _) = encoding.decode(bytes);
    if media == "application/json" || media.ends_with("+json") {
        return match Value::parse_json(&text) {
            Ok(value) => Decoded {
                value,
                bad_json: None,
            },
            Err(e) => Decoded {
                value: Value::from(text.as_ref()),
                bad_json: Some(e.to_string()),
            },
        };
    }
    Decoded {
        value: Value::from(text.as_ref()),
        bad_json: None,
    }
}

/// `%headers%`: names lowercased, in received order, repeated headers joined by `, `.
pub fn headers<'a>(received: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Value {
    let mut map = Map::new();
    for (name, value) in received {
        let value = String::from_utf8_lossy(value);
        let name: std::sync::Arc<str> = name.to_ascii_lowercase().into();
        match map.get_mut(&name) {
            Some(Value::String(existing)) => {
                *existing = format!("{existing}, {value}").into();
            }
            _ => {
                map.insert(name, Value::from(value.as_ref()));
            }
        }
    }
    Value::from(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(json: &str) -> Value {
        Value::parse_json(json).unwrap_or_default()
    }

    #[test]
    fn form_bodies_repeat_list_keys_and_encode() {
        let body = form(
            &v(r#"{"name": "Анна Ли", "tags": ["a", "b&c"], "n": 2.50, "ok": true, "none": null}"#),
            None,
        );
        let body = body.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            String::from_utf8_lossy(&body.bytes),
            "name=%D0%90%D0%BD%D0%BD%D0%B0+%D0%9B%D0%B8&tags=a&tags=b%26c&n=2.5&ok=true&none="
        );
        assert_eq!(body.default_type, Some("application/x-www-form-urlencoded"));
        assert!(form(&v("[1]"), None).is_err());
    }

    #[test]
    fn json_bodies_are_always_valid() {
        let value = v(r#"{"q": "He said \"hi\"\\n\n", "big": 9007199254740993, "ru": "да"}"#);
        let body = json(&value).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8_lossy(&body.bytes).into_owned();
        assert_eq!(
            text,
            r#"{"q":"He said \"hi\"\\n\n","big":9007199254740993,"ru":"да"}"#
        );
        assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok());
        assert_eq!(body.default_type, Some("application/json"));
        assert_eq!(text_body_type(), None);
    }

    fn text_body_type() -> Option<&'static str> {
        text("raw", None).ok().and_then(|b| b.default_type)
    }

    #[test]
    fn header_injection_is_refused() {
        assert!(header_value("X-A", "ok value").is_ok());
        assert!(header_value("X-A", "a\r\nX-Evil: 1").is_err());
        assert!(header_value("X-A", "a\nb").is_err());
        assert!(header_value("X-A", "tab\tand Кириллица").is_ok());
        assert_eq!(
            header_value("X-A", "nul\0"),
            Err("the value of header `X-A` contains the control character '\\0'; the request was not sent".into())
        );
    }

    #[test]
    fn responses_decode_by_media_type_and_charset() {
        let d = decode(
            Some("application/json; charset=utf-8"),
            br#"{"b": 1, "a": [9007199254740993]}"#,
        );
        assert_eq!(
            d.value.to_json_string().unwrap_or_default(),
            r#"{"b":1,"a":[9007199254740993]}"#
        );
        let d = decode(Some("application/problem+json"), br#"{"title": "x"}"#);
        assert!(matches!(d.value, Value::Dict(_)));
        let d = decode(Some("application/json"), b"{oops");
        assert_eq!(d.value, Value::from("{oops"));
        assert!(d.bad_json.is_some());
        // "Привет" in windows-1251.
        let d = decode(
            Some("text/plain; charset=windows-1251"),
            &[0xCF, 0xF0, 0xE8, 0xE2, 0xE5, 0xF2],
        );
        assert_eq!(d.value, Value::from("Привет"));
        let d = decode(Some("text/html"), &[b'a', 0xFF, b'b']);
        assert_eq!(d.value, Value::from("a\u{FFFD}b"));
        assert_eq!(decode(Some("application/json"), b"").value, Value::from(""));
        assert_eq!(decode(None, b"plain").value, Value::from("plain"));
    }

    #[test]
    fn headers_are_lowercased_ordered_and_joined() {
        let h = headers([
            ("Content-Type", b"text/plain".as_slice()),
            ("Set-Cookie", b"a=1".as_slice()),
            ("set-cookie", b"b=2".as_slice()),
        ]);
        assert_eq!(
            h.to_json_string().unwrap_or_default(),
            r#"{"content-type":"text/plain","set-cookie":"a=1, b=2"}"#
        );
    }

    #[test]
    fn form_and_text_bodies_use_the_scenarios_charset() {
        let cp1251 = request_encoding(Some(
            "application/x-www-form-urlencoded; charset=windows-1251",
        ))
        .expect("known")
        .expect("not UTF-8");
        let body = form(&v(r#"{"name": "Анна", "x": "a b"}"#), Some(cp1251)).expect("form");
        assert_eq!(
            String::from_utf8(body.bytes).expect("ascii"),
            "name=%C0%ED%ED%E0&x=a+b"
        );
        let body = text("Привет", Some(cp1251)).expect("text");
        assert_eq!(body.bytes, vec![0xCF, 0xF0, 0xE8, 0xE2, 0xE5, 0xF2]);
        assert_eq!(
            request_encoding(Some("text/plain; charset=UTF-8")),
            Ok(None)
        );
        assert_eq!(request_encoding(Some("text/plain")), Ok(None));
        assert!(request_encoding(Some("text/plain; charset=klingon")).is_err());
    }
}
