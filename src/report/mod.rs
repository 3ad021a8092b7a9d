//! Rendering: data in (diagnostics, later events and transcripts), text out — rustc-style reports
//! for people, JSON for tools. Nothing here decides what happened; it only shows it.

pub mod diagnostics;
pub mod events;

pub use diagnostics::{render_check, render_human, render_json, to_json, Summary, WIDTH};
pub use events::{render_events, terminal_safe, Rendered, Stream};

use std::io::IsTerminal;

/// Whether to colour output written to `stream`: only on a terminal, and never when `NO_COLOR`
/// is set to a non-empty value (<https://no-color.org>).
pub fn use_color(stream: &impl IsTerminal) -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && stream.is_terminal()
}
