//! [`Graph`] in, Graphviz DOT out: one `cluster_N` subgraph per scenario file, edges after
//! them, every attribute a quoted string.
//!
//! Nodes and edges carry a `class` (`block`, `unreachable`, `trigger`, `goto`, `button`…), which
//! Graphviz copies into SVG, so a rendered picture can be restyled or searched by kind.

use std::fmt::Write as _;

use super::{block_node_id, EdgeKind, Graph};

const FONT: &str = "Helvetica,Arial,sans-serif";

/// Renders the whole graph; the text ends with a line break.
pub fn render(graph: &Graph) -> String {
    let mut out = String::from("digraph bot {\n");
    let _ = writeln!(
        out,
        "  graph [rankdir=\"TB\", fontname=\"{FONT}\", fontsize=\"12\", nodesep=\"0.3\", ranksep=\"0.45\"];"
    );
    let _ = writeln!(
        out,
        "  node [shape=\"box\", style=\"rounded,filled\", fillcolor=\"#ffffff\", color=\"#57606a\", fontname=\"{FONT}\", fontsize=\"11\"];"
    );
    let _ = writeln!(
        out,
        "  edge [color=\"#57606a\", fontname=\"{FONT}\", fontsize=\"9\"];"
    );
    for (i, cluster) in graph.clusters.iter().enumerate() {
        let _ = writeln!(out, "  subgraph cluster_{i} {{");
        let _ = writeln!(out, "    label=\"{}\";", escape(&cluster.label()));
        out.push_str("    style=\"rounded,dashed\";\n    color=\"#8c959f\";\n");
        for entry in &cluster.entries {
            let _ = writeln!(
                out,
                "    t{} [label=\"{}\", shape=\"ellipse\", fillcolor=\"#e6f4ea\", color=\"#2e7d32\", class=\"trigger\"];",
                entry.index,
                escape(&entry.label)
            );
        }
        for node in &cluster.blocks {
            let id = block_node_id(node.id);
            let label = node.label(escape, "\\n");
            if node.unreachable {
                let _ = writeln!(
                    out,
                    "    {id} [label=\"{label}\", style=\"rounded,filled,dashed\", fillcolor=\"#f2f2f2\", color=\"#8c8c8c\", fontcolor=\"#6e6e6e\", class=\"block unreachable\"];"
                );
            } else {
                let _ = writeln!(out, "    {id} [label=\"{label}\", class=\"block\"];");
            }
        }
        out.push_str("  }\n");
    }
    for edge in &graph.edges {
        let style = match edge.kind {
            EdgeKind::Trigger => ", color=\"#2e7d32\"",
            EdgeKind::Goto => "",
            EdgeKind::Call => ", style=\"dashed\"",
            EdgeKind::Button => ", color=\"#1f6feb\", fontcolor=\"#1f6feb\"",
            EdgeKind::ExtractElse | EdgeKind::OnError => {
                ", style=\"dashed\", color=\"#cf222e\", fontcolor=\"#cf222e\""
            }
            EdgeKind::Timer => ", style=\"dashed\", color=\"#8250df\", fontcolor=\"#8250df\"",
        };
        let label = if edge.label.is_empty() {
            String::new()
        } else {
            format!("label=\"{}\", ", escape(&edge.label))
        };
        let _ = writeln!(
            out,
            "  {} -> {} [{label}class=\"{}\"{style}];",
            edge.from.node_id(),
            block_node_id(edge.to),
            edge.kind.as_str()
        );
    }
    out.push_str("}\n");
    out
}

/// Text for inside a DOT `"…"` string used as a label. `\` and `"` are escaped for the DOT
/// grammar (a lone backslash would also start a Graphviz label escape such as `\N`); `&`
/// becomes `&amp;` because Graphviz decodes character entities in labels (`&lt;` written by a
/// scenario must show as written). Line breaks and other control characters become spaces.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '&' => out.push_str("&amp;"),
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
    fn quotes_backslashes_and_entities_are_escaped() {
        assert_eq!(
            escape(r#"say "hi" \N \" &lt; <b> [x] {y} | 50%"#),
            r#"say \"hi\" \\N \\\" &amp;lt; <b> [x] {y} | 50%"#
        );
    }

    #[test]
    fn a_trailing_backslash_cannot_close_the_string() {
        assert_eq!(escape("C:\\"), "C:\\\\");
    }

    #[test]
    fn cyrillic_stays_and_breaks_become_spaces() {
        assert_eq!(escape("Запись\r\nна завтра\t✅"), "Запись  на завтра ✅");
    }
}
