//! Secrets (`--secret`, a test's `secret`) shown as `***`. A secret is hidden in every form in
//! which the interpreter can print it: as rendered (a JSON `"quoted"` secret is the text
//! `quoted`, a `1.50` the text `1.50`), as JSON, JSON-escaped inside a string, percent-encoded
//! (URL component, form field), and lowercased (a host). Values quoted in error messages are
//! marked where they are made ([`crate::value::quoted`]) and cut short only here, after the
//! secrets are hidden, so a cut cannot leave a prefix that escapes redaction.
//!
//! What cannot be hidden: a value the bot transforms (`upper(%token%)`, a slice, a hash) is
//! no longer the secret's text.

use std::sync::Arc;

use crate::value::{Map, Value};

/// The forms of every secret, longest first (so a longer form is hidden before a shorter one
/// inside it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Redactor {
    forms: Vec<String>,
}

impl Redactor {
    /// The forms of a set of secret values.
    pub fn new(secrets: &[Value]) -> Redactor {
        let mut r = Redactor::default();
        for s in secrets {
            r.add(s);
        }
        r
    }

    /// Adds a secret value (all its forms).
    pub fn add(&mut self, secret: &Value) {
        let rendered = secret.render().into_owned();
        let mut texts = vec![rendered.clone()];
        if let Ok(json) = secret.to_json_string() {
            texts.push(json);
        }
        let lower = rendered.to_lowercase();
        if lower != rendered {
            texts.push(lower);
        }
        for text in texts {
            let escaped = serde_json::to_string(&text).unwrap_or_default();
            let candidates = [
                crate::http::url::encode_component(&text),
                form_urlencoded::byte_serialize(text.as_bytes()).collect(),
                escaped
                    .get(1..escaped.len().saturating_sub(1))
                    .unwrap_or_default()
                    .to_string(),
                text,
            ];
            for c in candidates {
                if !c.is_empty() && !self.forms.contains(&c) {
                    self.forms.push(c);
                }
            }
        }
        self.forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    }

    /// Whether there is nothing to hide.
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// Hides every secret in `text`; no allocation when none occurs.
    pub fn hide(&self, text: &mut String) {
        for f in &self.forms {
            if text.contains(f.as_str()) {
                *text = text.replace(f.as_str(), "***");
            }
        }
    }

    /// `text` with every secret hidden.
    pub fn apply(&self, text: &str) -> String {
        let mut text = text.to_string();
        self.hide(&mut text);
        text
    }

    /// Hides every secret in the strings (and object keys) of a JSON value (a webhook's
    /// payload as its event shows it).
    pub fn hide_json(&self, json: &mut serde_json::Value) {
        if self.forms.is_empty() {
            return;
        }
        match json {
            serde_json::Value::String(s) => self.hide(s),
            serde_json::Value::Array(items) => {
                for item in items {
                    self.hide_json(item);
                }
            }
            serde_json::Value::Object(map) => {
                let entries = std::mem::take(map);
                for (mut k, mut v) in entries {
                    self.hide(&mut k);
                    self.hide_json(&mut v);
                    map.insert(k, v);
                }
            }
            _ => {}
        }
    }

    /// Hides every secret in the strings (and dictionary keys) of a value.
    pub fn hide_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => {
                if self.forms.iter().any(|f| s.contains(f.as_str())) {
                    *s = Arc::from(self.apply(s));
                }
            }
            Value::List(items) => {
                for item in Arc::make_mut(items) {
                    self.hide_value(item);
                }
            }
            Value::Dict(map) => {
                let mut out = Map::with_capacity(map.len());
                for (k, v) in map.iter() {
                    let mut v = v.clone();
                    self.hide_value(&mut v);
                    out.insert(Arc::from(self.apply(k)), v);
                }
                *map = Arc::new(out);
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }

    /// The final form of an output text: secrets hidden, then the values quoted in it cut to
    /// their first characters and escaped.
    pub fn finish(&self, text: &mut String) {
        self.hide(text);
        if text.contains(crate::value::QUOTE_OPEN) {
            *text = crate::value::unmark(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_printable_form_is_hidden() {
        let r = Redactor::new(&[
            Value::from("Sk_Live ABC/+"),
            Value::parse_json("1.50").expect("number"),
            Value::parse_json(r#"{"k":"v"}"#).expect("dict"),
        ]);
        for shown in [
            "Sk_Live ABC/+",
            "sk_live abc/+",
            "Sk_Live%20ABC%2F%2B",
            "Sk_Live+ABC%2F%2B",
            "price 1.50",
            r#"{"k":"v"}"#,
            r#"{\"k\":\"v\"}"#,
        ] {
            let out = r.apply(shown);
            assert!(out.contains("***"), "{shown} → {out}");
            assert!(!out.contains("ABC") && !out.contains("abc") && !out.contains("1.50"));
        }
    }

    #[test]
    fn a_quote_is_cut_after_the_secret_is_hidden() {
        let r = Redactor::new(&[Value::from("sk_live_ABCDEFGHIJKLMNOPQRSTUVWXYZ")]);
        let mut text = format!(
            "cannot read {} as a number",
            crate::value::quoted("sk_live_ABCDEFGHIJKLMNOPQRSTUVWXYZ and more text after it")
        );
        r.finish(&mut text);
        assert_eq!(
            text,
            r#"cannot read "*** and more text after …" as a number"#
        );
        let mut long = format!("x {}", crate::value::quoted(&"й".repeat(30)));
        Redactor::default().finish(&mut long);
        assert_eq!(long, format!("x \"{}…\"", "й".repeat(24)));
    }
}
