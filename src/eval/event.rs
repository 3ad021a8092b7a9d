//! What a turn produces: events, plain data that reporters render (human text, JSON lines,
//! transcripts). The interpreter never prints.

use serde::Serialize;

/// Where in the bot something happened, as users read it (1-based line and column).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Location {
    pub file: String,
    pub line: usize,
    pub column: usize,
}

/// A button under a message, as `run --json` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ButtonEvent {
    /// Pressing it sends the label as the user's message.
    Text { label: String },
    /// Pressing it jumps to `target` (the block name as written).
    Goto { label: String, target: String },
    /// Opens `url`; sends nothing.
    Link { label: String, url: String },
}

impl ButtonEvent {
    pub fn label(&self) -> &str {
        match self {
            ButtonEvent::Text { label }
            | ButtonEvent::Goto { label, .. }
            | ButtonEvent::Link { label, .. } => label,
        }
    }
}

/// An attachment of a message (`image`, `file` in a `say` body).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Attachment {
    Image { url: String },
    File { url: String, name: String },
}

/// One event of a conversation, in the order it happened (CLI.md, "Events of `run --json`").
/// Every turn ends with exactly one [`Event::Wait`] or [`Event::End`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// The user's message that started the turn.
    Input { text: String },
    /// The webhook that started the turn, with its payload.
    Webhook {
        name: String,
        payload: serde_json::Value,
    },
    /// The timer that started the turn: a `schedule` (named or not) or, with `name` null and
    /// `kind` `timeout`, a `wait … timeout`.
    Timer {
        name: Option<String>,
        block: String,
        kind: TimerKind,
    },
    /// A message to the user; `buttons` is empty for a plain message, `attachments` is left out
    /// when it has none.
    Message {
        text: String,
        buttons: Vec<ButtonEvent>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<Attachment>,
    },
    /// An HTTP request made by the bot: `status` is `None` (JSON `null`) when it failed, and
    /// `error` then says why.
    Http {
        method: String,
        url: String,
        status: Option<u16>,
        #[serde(skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        duration_ms: u64,
    },
    /// A message to the bot's operators.
    Notify { text: String },
    /// A trace line for the author.
    Log { text: String },
    Warning {
        message: String,
        #[serde(flatten)]
        at: Option<Location>,
    },
    /// A runtime error: the turn stopped here.
    Error {
        message: String,
        #[serde(flatten)]
        at: Option<Location>,
    },
    /// The session waits for the user's next message.
    Wait,
    /// The scenario run is over; the session is idle.
    End,
}

/// What kind of timer came due.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimerKind {
    Schedule,
    Timeout,
}

impl Event {
    /// Whether this event closes a turn.
    pub fn ends_turn(&self) -> bool {
        matches!(self, Event::Wait | Event::End)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(e: &Event) -> String {
        serde_json::to_string(e).unwrap_or_default()
    }

    #[test]
    fn json_follows_the_cli_contract() {
        assert_eq!(
            json(&Event::Input {
                text: "12345".into()
            }),
            r#"{"type":"input","text":"12345"}"#
        );
        let message = Event::Message {
            text: "Pick a size".into(),
            buttons: vec![
                ButtonEvent::Text { label: "S".into() },
                ButtonEvent::Goto {
                    label: "Cancel".into(),
                    target: "cancelled".into(),
                },
                ButtonEvent::Link {
                    label: "Size chart".into(),
                    url: "https://shop.example.com/sizes".into(),
                },
            ],
            attachments: vec![],
        };
        assert_eq!(
            json(&message),
            r#"{"type":"message","text":"Pick a size","buttons":[{"kind":"text","label":"S"},{"kind":"goto","label":"Cancel","target":"cancelled"},{"kind":"link","label":"Size chart","url":"https://shop.example.com/sizes"}]}"#
        );
        let ok = Event::Http {
            method: "GET".into(),
            url: "https://shop.example.com/api/orders/12345".into(),
            status: Some(200),
            error: None,
            duration_ms: 12,
        };
        assert_eq!(
            json(&ok),
            r#"{"type":"http","method":"GET","url":"https://shop.example.com/api/orders/12345","status":200,"duration_ms":12}"#
        );
        let failed = Event::Http {
            method: "POST".into(),
            url: "https://crm.example.com/leads".into(),
            status: None,
            error: Some("connection refused".into()),
            duration_ms: 3,
        };
        assert_eq!(
            json(&failed),
            r#"{"type":"http","method":"POST","url":"https://crm.example.com/leads","status":null,"error":"connection refused","duration_ms":3}"#
        );
        let at = Some(Location {
            file: "orders.scn".into(),
            line: 12,
            column: 5,
        });
        assert_eq!(
            json(&Event::Error {
                message: "…".into(),
                at
            }),
            r#"{"type":"error","message":"…","file":"orders.scn","line":12,"column":5}"#
        );
        assert_eq!(json(&Event::Wait), r#"{"type":"wait"}"#);
        assert_eq!(json(&Event::End), r#"{"type":"end"}"#);
        assert_eq!(
            json(&Event::Notify {
                text: "New lead: Ann".into()
            }),
            r#"{"type":"notify","text":"New lead: Ann"}"#
        );
    }
}
