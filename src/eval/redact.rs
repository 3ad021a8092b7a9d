//! Secrets (`--secret`, a test's `secret`) shown as `***`: as written, and in the forms they
//! take once placed in a URL, a form body or a JSON string, so that a token in a query does
//! not leak through an `http` event.

/// The forms of every secret, longest first (so a longer form is hidden before a shorter one
/// inside it).
#[derive(Clone, Debug, Default)]
pub struct Redactor {
    forms: Vec<String>,
}

impl Redactor {
    pub fn new(secrets: &[String]) -> Redactor {
        let mut forms: Vec<String> = Vec::new();
        for s in secrets.iter().filter(|s| !s.is_empty()) {
            let json = serde_json::to_string(s).unwrap_or_default();
            let candidates = [
                s.clone(),
                crate::http::url::encode_component(s),
                form_urlencoded::byte_serialize(s.as_bytes()).collect(),
                json.get(1..json.len().saturating_sub(1))
                    .unwrap_or_default()
                    .to_string(),
            ];
            for c in candidates {
                if !c.is_empty() && !forms.contains(&c) {
                    forms.push(c);
                }
            }
        }
        forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
        Redactor { forms }
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
}
