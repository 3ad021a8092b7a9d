//! A checked [`Program`] (and its [`Sources`], for the text of conditions) in, the block graph
//! out — triggers as entry nodes, blocks as nodes grouped by scenario file, and every transfer of
//! control as an edge — rendered as Mermaid ([`mermaid`]), Graphviz DOT ([`dot`]) or SVG through
//! Graphviz ([`svg`]).
//!
//! The graph is data; the renderers only escape and lay it out. Everything is in source order
//! (files sorted by path, triggers and blocks as written, edges in statement order), so the same
//! bot always gives the same text.

mod dot;
mod mermaid;
mod svg;

use std::collections::HashSet;
use std::path::Path;

use crate::check::{unreachable_blocks, BlockId, Program};
use crate::source::Sources;
use crate::syntax::ast::{
    self, ButtonKind, Event, ExtractKind, Pattern, Stmt, StmtKind, Template, TemplatePart,
};
use crate::syntax::Span;

pub use dot::render as dot;
pub use mermaid::render as mermaid;
pub use svg::{render as svg, SvgError};

/// How many characters of a block's first message (or request) its node shows.
const SUMMARY_CHARS: usize = 40;
/// How many characters of a condition, match arm or button label an edge shows.
const LABEL_CHARS: usize = 32;

/// The block graph of a bot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Graph {
    /// One cluster per scenario file, in the order of the files.
    pub clusters: Vec<Cluster>,
    /// File by file: the edges of its triggers, then those leaving each of its blocks.
    pub edges: Vec<Edge>,
}

/// One scenario file: its triggers and its blocks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cluster {
    /// The file name without its directory (`orders.scn`).
    pub file: String,
    /// The scenario's display name (`scenario "…"`), when it has one.
    pub title: Option<String>,
    pub entries: Vec<Entry>,
    pub blocks: Vec<Node>,
}

impl Cluster {
    /// What the cluster is labelled with: `orders.scn — Order status`.
    pub fn label(&self) -> String {
        match &self.title {
            Some(title) => format!("{} — {title}", self.file),
            None => self.file.clone(),
        }
    }
}

/// A trigger: where a conversation can enter the bot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Numbered across the whole bot, in order.
    pub index: usize,
    /// The trigger as written, without its target: `on message like "menu"`.
    pub label: String,
}

/// A block.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    pub id: BlockId,
    pub name: String,
    /// The first message the block sends (or request it makes), shortened.
    pub summary: Option<String>,
    /// No trigger leads here (the checker's `scn::unreachable-block`).
    pub unreachable: bool,
}

impl Node {
    /// The name (marked when unreachable), then the summary on a second line, in a format's
    /// own escaping and line break.
    pub(crate) fn label(&self, escape: fn(&str) -> String, line_break: &str) -> String {
        let mut label = escape(&self.name);
        if self.unreachable {
            label.push_str(" (unreachable)");
        }
        if let Some(summary) = &self.summary {
            label.push_str(line_break);
            label.push_str(&escape(summary));
        }
        label
    }
}

/// Where an edge starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    Entry(usize),
    Block(BlockId),
}

impl Origin {
    /// The node's identifier in both output formats: `t3` for a trigger, `b7` for a block.
    pub fn node_id(self) -> String {
        match self {
            Origin::Entry(index) => format!("t{index}"),
            Origin::Block(id) => block_node_id(id),
        }
    }
}

/// The identifier of a block's node: `b` and its number. Names stay out of identifiers, so any
/// script or spelling is safe in both formats.
pub fn block_node_id(id: BlockId) -> String {
    format!("b{}", id.0)
}

/// What makes control move along an edge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EdgeKind {
    /// A trigger starts the scenario here.
    Trigger,
    Goto,
    Call,
    /// A transition button (`button "…" goto …`).
    Button,
    /// `extract … else goto …`: the text held no such value.
    ExtractElse,
    /// `http … { on error goto … }`: the request failed.
    OnError,
    /// `wait … timeout … goto …` or `schedule … goto …`: time passed.
    Timer,
}

impl EdgeKind {
    /// A short stable name (the `class` of DOT edges, so SVG can be styled by kind).
    pub fn as_str(self) -> &'static str {
        match self {
            EdgeKind::Trigger => "trigger",
            EdgeKind::Goto => "goto",
            EdgeKind::Call => "call",
            EdgeKind::Button => "button",
            EdgeKind::ExtractElse => "extract-else",
            EdgeKind::OnError => "on-error",
            EdgeKind::Timer => "timer",
        }
    }
}

/// A possible transfer of control.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Edge {
    pub from: Origin,
    pub to: BlockId,
    pub kind: EdgeKind,
    /// What the reader needs to know about it: the button, the branch it is taken in
    /// (`if %status% == 200`, `else`, a match arm's patterns), `call`, `on error`. May be empty.
    pub label: String,
}

/// Builds the graph of a compiled bot. `sources` must be the files `program` was compiled from.
pub fn build(program: &Program, sources: &Sources) -> Graph {
    let unreachable: HashSet<BlockId> = unreachable_blocks(program).into_iter().collect();
    let mut builder = Builder {
        program,
        sources,
        scenario: 0,
        from: Origin::Entry(0),
        edges: Vec::new(),
        seen: HashSet::new(),
    };
    let mut clusters = Vec::with_capacity(program.scenarios.len());
    let mut entries = 0;
    for (index, scenario) in program.scenarios.iter().enumerate() {
        builder.scenario = index;
        let file_name = sources.files.get(scenario.file).map_or_else(
            || format!("{}.scn", scenario.id),
            |f| {
                Path::new(&f.name)
                    .file_name()
                    .map_or_else(|| f.name.clone(), |n| n.to_string_lossy().into_owned())
            },
        );
        let mut cluster = Cluster {
            file: file_name,
            title: (scenario.name != scenario.id).then(|| scenario.name.clone()),
            entries: Vec::new(),
            blocks: Vec::new(),
        };
        let Some(file) = program.files.get(scenario.file) else {
            clusters.push(cluster);
            continue;
        };
        for trigger in &file.triggers {
            let Some(to) = program.resolve(index, &trigger.target) else {
                continue;
            };
            cluster.entries.push(Entry {
                index: entries,
                label: trigger_label(trigger),
            });
            builder.from = Origin::Entry(entries);
            builder.edge(to, EdgeKind::Trigger, String::new());
            entries += 1;
        }
        for id in scenario.block_range.clone().map(BlockId) {
            let info = program.block(id);
            // Only the definition a name resolves to is a node (a repeated name is an error).
            if scenario.blocks.get(&info.name) != Some(&id) {
                continue;
            }
            let Some(block) = program.block_ast(id) else {
                continue;
            };
            builder.from = Origin::Block(id);
            builder.stmts(&block.body, None);
            cluster.blocks.push(Node {
                id,
                name: info.name.clone(),
                summary: builder.summary(&block.body),
                unreachable: unreachable.contains(&id),
            });
        }
        clusters.push(cluster);
    }
    Graph {
        clusters,
        edges: builder.edges,
    }
}

struct Builder<'p> {
    program: &'p Program,
    sources: &'p Sources,
    /// The scenario being walked (targets without `scenario::` resolve in it).
    scenario: usize,
    from: Origin,
    edges: Vec<Edge>,
    /// Edges already recorded: a block that jumps to the same place twice the same way shows
    /// one arrow.
    seen: HashSet<Edge>,
}

impl Builder<'_> {
    fn edge(&mut self, to: BlockId, kind: EdgeKind, label: String) {
        let edge = Edge {
            from: self.from,
            to,
            kind,
            label,
        };
        if self.seen.insert(edge.clone()) {
            self.edges.push(edge);
        }
    }

    /// An edge to `target` taken `how` (`call`, a button…) inside the branch `context`.
    fn jump(&mut self, target: &ast::Target, kind: EdgeKind, how: &str, context: Option<&str>) {
        let Some(to) = self.program.resolve(self.scenario, target) else {
            return;
        };
        let label = match (how, context) {
            ("", None) => String::new(),
            ("", Some(context)) => context.to_string(),
            (how, None) => how.to_string(),
            (how, Some(context)) => format!("{how} ({context})"),
        };
        self.edge(to, kind, label);
    }

    /// Records the edges of `body`; `context` is the innermost branch it is in.
    fn stmts(&mut self, body: &[Stmt], context: Option<&str>) {
        for stmt in body {
            self.stmt(stmt, context);
        }
    }

    fn stmt(&mut self, stmt: &Stmt, context: Option<&str>) {
        match &stmt.kind {
            StmtKind::Say { buttons, .. } => self.say_items(buttons, context),
            StmtKind::For { body, var, .. } => {
                let branch = format!("for %{}%", var.root.name);
                self.stmts(body, Some(context.unwrap_or(&branch)));
            }
            StmtKind::Wait {
                timeout: Some(t), ..
            } => {
                let how = format!("timeout {}", crate::syntax::duration_text(t.ms));
                self.jump(&t.target, EdgeKind::Timer, &how, context);
            }
            StmtKind::Schedule(s) => {
                let how = match &s.name {
                    Some((name, _)) => format!("schedule {name:?}"),
                    None => "schedule".to_string(),
                };
                self.jump(&s.target, EdgeKind::Timer, &how, context);
            }
            StmtKind::If {
                branches,
                otherwise,
            } => {
                for (i, (cond, body)) in branches.iter().enumerate() {
                    let keyword = if i == 0 { "if" } else { "elif" };
                    let branch = truncate(
                        &format!("{keyword} {}", self.source(cond.span)),
                        LABEL_CHARS,
                    );
                    self.stmts(body, Some(&branch));
                }
                if let Some(body) = otherwise {
                    self.stmts(body, Some("else"));
                }
            }
            StmtKind::Match {
                arms, otherwise, ..
            } => {
                for arm in arms {
                    let patterns: Vec<String> =
                        arm.patterns.iter().map(|p| self.pattern(p)).collect();
                    let branch = truncate(&patterns.join(", "), LABEL_CHARS);
                    self.stmts(&arm.body, Some(&branch));
                }
                if let Some(body) = otherwise {
                    self.stmts(body, Some("else"));
                }
            }
            StmtKind::Goto(target) => self.jump(target, EdgeKind::Goto, "", context),
            StmtKind::Call(target) => self.jump(target, EdgeKind::Call, "call", context),
            StmtKind::Extract {
                kind, otherwise, ..
            } => {
                let how = match kind {
                    ExtractKind::Number => "no number",
                    ExtractKind::Integer => "no integer",
                    ExtractKind::Email => "no email",
                    ExtractKind::Phone => "no phone",
                    ExtractKind::Url => "no url",
                    ExtractKind::Date => "no date",
                    ExtractKind::Regex(_) => "no match",
                };
                self.jump(otherwise, EdgeKind::ExtractElse, how, context);
            }
            StmtKind::Http(http) => {
                if let Some(target) = &http.on_error {
                    self.jump(target, EdgeKind::OnError, "on error", context);
                }
            }
            StmtKind::Wait { .. }
            | StmtKind::Cancel(..)
            | StmtKind::Set { .. }
            | StmtKind::Unset { .. }
            | StmtKind::Return
            | StmtKind::End
            | StmtKind::Notify(_)
            | StmtKind::Log(_) => {}
        }
    }

    fn say_items(&mut self, items: &[ast::SayItem], context: Option<&str>) {
        for item in items {
            match item {
                ast::SayItem::Button(button) => {
                    if let ButtonKind::Goto(target) = &button.kind {
                        let how =
                            format!("[{}]", truncate(&self.template(&button.label), LABEL_CHARS));
                        self.jump(target, EdgeKind::Button, &how, context);
                    }
                }
                ast::SayItem::For { items, .. } => self.say_items(items, context),
                ast::SayItem::Image(..) | ast::SayItem::File(..) => {}
            }
        }
    }

    /// The first message the block sends or the first request it makes, looking into branches
    /// in source order. The walk is iterative: bodies nest as deep as the parser allows.
    fn summary(&self, body: &[Stmt]) -> Option<String> {
        let mut pending: Vec<&[Stmt]> = vec![body];
        while let Some(body) = pending.pop() {
            let Some((stmt, rest)) = body.split_first() else {
                continue;
            };
            let text = match &stmt.kind {
                StmtKind::Say { text, .. } => self.template(text),
                StmtKind::Http(http) => {
                    format!("{} {}", http.method.as_str(), self.template(&http.url))
                }
                StmtKind::If {
                    branches,
                    otherwise,
                } => {
                    pending.push(rest);
                    pending.extend(otherwise.as_deref());
                    pending.extend(branches.iter().rev().map(|(_, b)| b.as_slice()));
                    continue;
                }
                StmtKind::Match {
                    arms, otherwise, ..
                } => {
                    pending.push(rest);
                    pending.extend(otherwise.as_deref());
                    pending.extend(arms.iter().rev().map(|a| a.body.as_slice()));
                    continue;
                }
                StmtKind::For { body, .. } => {
                    pending.push(rest);
                    pending.push(body);
                    continue;
                }
                _ => {
                    pending.push(rest);
                    continue;
                }
            };
            let text = one_line(&text);
            if !text.is_empty() {
                return Some(truncate(&text, SUMMARY_CHARS));
            }
            pending.push(rest);
        }
        None
    }

    /// A template as its author would recognise it: text, `%variables%`, `{{ expressions }}`.
    fn template(&self, template: &Template) -> String {
        let mut out = String::new();
        for part in &template.parts {
            match part {
                TemplatePart::Text(text) => out.push_str(text),
                TemplatePart::Var(var) => {
                    out.push('%');
                    out.push_str(&var.root.name);
                    for segment in &var.path {
                        out.push('.');
                        out.push_str(&segment.name);
                    }
                    out.push('%');
                }
                TemplatePart::Expr(expr) => {
                    out.push_str("{{ ");
                    out.push_str(&self.source(expr.span));
                    out.push_str(" }}");
                }
            }
        }
        out
    }

    fn pattern(&self, pattern: &Pattern) -> String {
        match pattern {
            Pattern::Text(text) => format!("\"{}\"", self.template(text)),
            Pattern::Number(number, _) => number.clone(),
            Pattern::Regex(re) => format!("/{}/{}", re.pattern, re.flags),
            Pattern::Like(text) => format!("like \"{}\"", self.template(text)),
        }
    }

    /// The source text of `span` in the current file, on one line.
    fn source(&self, span: Span) -> String {
        let file = self.program.scenarios[self.scenario].file;
        let text = self
            .sources
            .files
            .get(file)
            .and_then(|f| f.text.get(span.start..span.end))
            .unwrap_or("…");
        one_line(text)
    }
}

/// A trigger as written, without `goto …`.
fn trigger_label(trigger: &ast::Trigger) -> String {
    let event = match &trigger.event {
        Event::Start => "start".to_string(),
        Event::Message(text) => format!("message \"{text}\""),
        Event::MessageLike(text) => format!("message like \"{text}\""),
        Event::MessageContains(text) => format!("message contains \"{text}\""),
        Event::MessageMatches(re) => format!("message matches /{}/{}", re.pattern, re.flags),
        Event::Webhook(name) => format!("webhook \"{name}\""),
        Event::Fallback => "fallback".to_string(),
    };
    let anytime = if trigger.anytime { "anytime " } else { "" };
    truncate(&one_line(&format!("on {anytime}{event}")), SUMMARY_CHARS)
}

/// Runs of whitespace (line breaks included) and control characters become one space.
fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// At most `max` characters, the last one `…` when something was cut.
fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some(_) => {
            let keep = text
                .char_indices()
                .nth(max.saturating_sub(1))
                .map_or(text.len(), |(i, _)| i);
            format!("{}…", text[..keep].trim_end())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(files: &[(&str, &str)]) -> Graph {
        let sources = Sources::from_texts(files.iter().copied());
        let program = crate::compile(&sources).expect("the bot compiles");
        build(&program, &sources)
    }

    #[test]
    fn truncates_by_characters() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("exactly10!", 10), "exactly10!");
        assert_eq!(truncate("Привет, как дела?", 8), "Привет,…");
        assert_eq!(truncate("a b c d e", 4), "a b…");
    }

    #[test]
    fn one_line_collapses_breaks_and_controls() {
        assert_eq!(one_line("  a\n\tb \r\n c\u{7}d "), "a b c d");
    }

    #[test]
    fn labels_say_how_control_moves() {
        let g = graph(&[(
            "bot.scn",
            r#"
on start goto a
on anytime message "/stop" goto b
block a {
  wait -> %x%
  extract integer from %x% -> %n% else goto a
  if %n% > 3 { goto b } elif %n% == 2 { call b } else { say "hm" { button "Again" goto a } }
  match %x% { "yes", 4 => goto b
    else => goto a }
  http GET "https://example.com/" { on error goto b }
  goto b
}
block b { say "Bye" }
"#,
        )]);
        let labels: Vec<(String, &str, String)> = g
            .edges
            .iter()
            .map(|e| (e.from.node_id(), e.kind.as_str(), e.label.clone()))
            .collect();
        fn expect(from: &str, kind: &'static str, label: &str) -> (String, &'static str, String) {
            (from.to_string(), kind, label.to_string())
        }
        assert_eq!(
            labels,
            vec![
                expect("t0", "trigger", ""),
                expect("t1", "trigger", ""),
                expect("b0", "extract-else", "no integer"),
                expect("b0", "goto", "if %n% > 3"),
                expect("b0", "call", "call (elif %n% == 2)"),
                expect("b0", "button", "[Again] (else)"),
                expect("b0", "goto", "\"yes\", 4"),
                expect("b0", "goto", "else"),
                expect("b0", "on-error", "on error"),
                expect("b0", "goto", ""),
            ]
        );
        assert_eq!(
            g.clusters[0].entries[1].label,
            "on anytime message \"/stop\""
        );
        assert_eq!(g.clusters[0].blocks[1].summary.as_deref(), Some("Bye"));
        assert!(g.clusters[0].blocks.iter().all(|b| !b.unreachable));
    }

    #[test]
    fn summary_is_the_first_message_or_request() {
        let g = graph(&[(
            "bot.scn",
            r#"
on start goto a
block a {
  set %x% = 1
  if %x% { log "x" } else { say """
    Line one
    line   two, %x.y% and {{ %x%  +  1 }}
    """ }
  say "later"
  goto b
}
block b { http POST "https://example.com/%x%" { on error goto a }
  say "after" }
block c { end }
"#,
        )]);
        let blocks = &g.clusters[0].blocks;
        assert_eq!(
            blocks[0].summary.as_deref(),
            Some("Line one line two, %x.y% and {{ %x% + 1…")
        );
        assert_eq!(
            blocks[1].summary.as_deref(),
            Some("POST https://example.com/%x%")
        );
        assert_eq!(blocks[2].summary, None);
        assert!(
            blocks[2].unreachable,
            "c: the checker's warning says so too"
        );
        assert!(!blocks[0].unreachable && !blocks[1].unreachable);
    }

    #[test]
    fn same_jump_twice_is_one_edge_and_gotos_cross_files() {
        let g = graph(&[
            (
                "a.scn",
                "scenario \"First\"\non start goto x\nblock x { goto b::y\n goto b::y }",
            ),
            ("b.scn", "block y { call a::x }"),
        ]);
        assert_eq!(g.clusters[0].label(), "a.scn — First");
        assert_eq!(g.clusters[1].label(), "b.scn");
        let edges: Vec<(String, String)> = g
            .edges
            .iter()
            .map(|e| (e.from.node_id(), block_node_id(e.to)))
            .collect();
        assert_eq!(
            edges,
            vec![
                ("t0".to_string(), "b0".to_string()),
                ("b0".to_string(), "b1".to_string()),
                ("b1".to_string(), "b0".to_string()),
            ]
        );
    }
}
