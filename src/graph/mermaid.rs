//! [`Graph`] in, a Mermaid flowchart out (renders on GitHub and in most editors).
//!
//! Every label is a quoted string with the characters Mermaid reads as syntax written as its
//! entity codes (`#quot;`, `#35;`…), so no scenario text can end a label, start a directive
//! (`%%{…}%%`) or inject markup. Node identifiers are `t3`/`b7`, never names.

use std::fmt::Write as _;

use super::{block_node_id, EdgeKind, Graph};

/// Renders the whole graph; the text ends with a line break.
pub fn render(graph: &Graph) -> String {
    let mut out = String::from("flowchart TD\n");
    for (i, cluster) in graph.clusters.iter().enumerate() {
        let _ = writeln!(out, "  subgraph s{i}[\"{}\"]", escape(&cluster.label()));
        for entry in &cluster.entries {
            let _ = writeln!(out, "    t{}([\"{}\"])", entry.index, escape(&entry.label));
        }
        for node in &cluster.blocks {
            let _ = writeln!(
                out,
                "    {}[\"{}\"]",
                block_node_id(node.id),
                node.label(escape, "<br/>")
            );
        }
        out.push_str("  end\n");
    }
    // `linkStyle` addresses links by their position among all links.
    let mut buttons = Vec::new();
    let mut failures = Vec::new();
    let mut timers = Vec::new();
    for (i, edge) in graph.edges.iter().enumerate() {
        let arrow = match edge.kind {
            EdgeKind::Trigger | EdgeKind::Goto => "-->",
            EdgeKind::Button => {
                buttons.push(i.to_string());
                "-->"
            }
            EdgeKind::Call => "-.->",
            EdgeKind::ExtractElse | EdgeKind::OnError => {
                failures.push(i.to_string());
                "-.->"
            }
            EdgeKind::Timer => {
                timers.push(i.to_string());
                "-.->"
            }
        };
        let from = edge.from.node_id();
        let to = block_node_id(edge.to);
        if edge.label.is_empty() {
            let _ = writeln!(out, "  {from} {arrow} {to}");
        } else {
            let _ = writeln!(out, "  {from} {arrow}|\"{}\"| {to}", escape(&edge.label));
        }
    }
    if !buttons.is_empty() {
        let _ = writeln!(out, "  linkStyle {} stroke:#1f6feb", buttons.join(","));
    }
    if !failures.is_empty() {
        let _ = writeln!(out, "  linkStyle {} stroke:#cf222e", failures.join(","));
    }
    if !timers.is_empty() {
        let _ = writeln!(out, "  linkStyle {} stroke:#8250df", timers.join(","));
    }
    out.push_str("  classDef trigger fill:#e6f4ea,stroke:#2e7d32,color:#1b4d20\n");
    out.push_str(
        "  classDef unreachable fill:#f2f2f2,stroke:#8c8c8c,stroke-dasharray:5 4,color:#6e6e6e\n",
    );
    let triggers: Vec<String> = graph
        .clusters
        .iter()
        .flat_map(|c| &c.entries)
        .map(|e| format!("t{}", e.index))
        .collect();
    if !triggers.is_empty() {
        let _ = writeln!(out, "  class {} trigger", triggers.join(","));
    }
    let unreachable: Vec<String> = graph
        .clusters
        .iter()
        .flat_map(|c| &c.blocks)
        .filter(|n| n.unreachable)
        .map(|n| block_node_id(n.id))
        .collect();
    if !unreachable.is_empty() {
        let _ = writeln!(out, "  class {} unreachable", unreachable.join(","));
    }
    out
}

/// Text for inside a Mermaid `"…"` label. Mermaid turns `#name;`/`#123;` into character
/// entities, so `#` itself must be one; a `%` right after another is one, so that `%%` (which
/// starts directives and comments) never appears while `%name%` stays readable; `<`, `>`, `&`
/// so that text is never markup; `|` so edge labels stay closed; a backtick would start a
/// Markdown string. Line breaks become spaces.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '#' => out.push_str("#35;"),
            '%' if out.ends_with('%') => out.push_str("#37;"),
            '&' => out.push_str("#amp;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '|' => out.push_str("#124;"),
            '`' => out.push_str("#96;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_characters_become_entities() {
        assert_eq!(
            escape(r#"say "hi" <b>&amp; [x] {y} (z) | 50%% #1;"#),
            "say #quot;hi#quot; #lt;b#gt;#amp;amp; [x] {y} (z) #124; 50%#37; #35;1;"
        );
    }

    #[test]
    fn no_directive_or_entity_survives() {
        let nasty = "%%{init: {\"theme\": \"dark\"}}%% #quot; `md` end";
        let escaped = escape(nasty);
        assert!(!escaped.contains("%%"));
        assert_eq!(escape("%a%%b%%%"), "%a%#37;b%#37;%");
        assert!(!escaped.contains('"'));
        assert!(!escaped.contains('`'));
        // Every `#` left starts an entity written here.
        let mut rest = escaped.clone();
        for entity in ["#quot;", "#35;", "#37;", "#96;"] {
            rest = rest.replace(entity, "");
        }
        assert!(!rest.contains('#'), "{escaped}");
    }

    #[test]
    fn cyrillic_and_emoji_stay_and_breaks_become_spaces() {
        assert_eq!(escape("Запись 📅\nна\tзавтра"), "Запись 📅 на завтра");
    }
}
