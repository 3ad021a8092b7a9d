//! pest pairs in, AST out: one lowering function per grammar rule, operators through pest's
//! `PrattParser`. Problems that the grammar cannot express (bad escapes, unknown units,
//! duplicated http options…) are reported here as diagnostics.

use std::sync::LazyLock;

use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};

use super::ast::*;
use super::parser::{hole_syntax_error, parse_template_expr, skip_lead, Rule};
use super::template;
use super::Span;
use crate::diagnostic::{did_you_mean, Code, Diagnostic, FileId};

/// Longest operator chain, postfix chain or pipe chain in one expression, and deepest
/// expression tree: beyond these the checker and the interpreter would recurse too deeply.
const MAX_CHAIN: usize = 100;
const MAX_EXPR_DEPTH: usize = 256;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::or, Assoc::Left))
        .op(Op::infix(Rule::and, Assoc::Left))
        .op(Op::prefix(Rule::not))
        .op(Op::infix(Rule::eq, Assoc::Left)
            | Op::infix(Rule::ne, Assoc::Left)
            | Op::infix(Rule::lt, Assoc::Left)
            | Op::infix(Rule::le, Assoc::Left)
            | Op::infix(Rule::gt, Assoc::Left)
            | Op::infix(Rule::ge, Assoc::Left)
            | Op::infix(Rule::in_op, Assoc::Left)
            | Op::infix(Rule::not_in, Assoc::Left)
            | Op::infix(Rule::like, Assoc::Left)
            | Op::infix(Rule::matches, Assoc::Left))
        .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
        .op(Op::infix(Rule::mul, Assoc::Left)
            | Op::infix(Rule::div, Assoc::Left)
            | Op::infix(Rule::floor_div, Assoc::Left))
        .op(Op::prefix(Rule::neg))
        .op(Op::infix(Rule::pow, Assoc::Right))
});

pub(super) struct Lower {
    pub file: File,
    pub diags: Vec<Diagnostic>,
    file_id: FileId,
    /// Absolute offset of the text the current pairs were parsed from.
    base: usize,
    seen_item: bool,
    /// Whether to collect [`File::tokens`] (for the formatter).
    collect_tokens: bool,
}

fn is_keyword(rule: Rule) -> bool {
    use Rule::*;
    matches!(
        rule,
        kw_block
            | kw_scenario
            | kw_user
            | kw_global
            | kw_on
            | kw_anytime
            | kw_start
            | kw_message
            | kw_webhook
            | kw_fallback
            | kw_contains
            | kw_say
            | kw_button
            | kw_link
            | kw_wait
            | kw_timeout
            | kw_set
            | kw_unset
            | kw_elif
            | kw_match
            | kw_goto
            | kw_call
            | kw_return
            | kw_end
            | kw_extract
            | kw_from
            | kw_http
            | kw_notify
            | kw_log
            | kw_schedule
            | kw_cancel
            | kw_as
            | kw_at
            | kw_for
            | kw_in
            | kw_image
            | kw_file
            | kw_header
            | kw_query
            | kw_form
            | kw_json
            | kw_text
            | kw_redirects
            | kw_body
            | kw_status
            | kw_headers
            | kw_error
            | kw_if
            | kw_else
            | kw_like
            | kw_matches
    )
}

/// The children of a pair that carry meaning (keywords dropped).
fn inner(pair: Pair<'_, Rule>) -> impl Iterator<Item = Pair<'_, Rule>> {
    pair.into_inner().filter(|p| !is_keyword(p.as_rule()))
}

fn expr(kind: ExprKind, span: Span) -> Expr {
    Expr { kind, span }
}

/// Bounded depth of an expression tree: stops counting past `limit`.
fn depth_exceeds(e: &Expr, limit: usize) -> bool {
    if limit == 0 {
        return true;
    }
    let l = limit - 1;
    match &e.kind {
        ExprKind::Str(t) => t.parts.iter().any(|p| match p {
            TemplatePart::Expr(x) => depth_exceeds(x, l),
            _ => false,
        }),
        ExprKind::List(xs) => xs.iter().any(|x| depth_exceeds(x, l)),
        ExprKind::Dict(kv) => kv
            .iter()
            .any(|(k, v)| depth_exceeds(k, l) || depth_exceeds(v, l)),
        ExprKind::Unary(_, x) | ExprKind::Member(x, _) => depth_exceeds(x, l),
        ExprKind::Lambda { body, .. } => depth_exceeds(body, l),
        ExprKind::Binary(_, a, b) | ExprKind::Index(a, b) => {
            depth_exceeds(a, l) || depth_exceeds(b, l)
        }
        ExprKind::Cond {
            cond,
            then,
            otherwise,
        } => depth_exceeds(cond, l) || depth_exceeds(then, l) || depth_exceeds(otherwise, l),
        ExprKind::Call { args, .. } => args.iter().any(|x| depth_exceeds(x, l)),
        _ => false,
    }
}

/// `[then0, cond1, then1, cond2, then2, …]` of `a if c1 else b if c2 else d`, folded from the
/// right: `a if c1 else (b if c2 else d)`.
fn fold_cond(mut parts: Vec<Expr>) -> Option<Expr> {
    let mut value = parts.pop()?;
    while let (Some(cond), Some(then)) = (parts.pop(), parts.pop()) {
        let whole = then.span.join(value.span);
        value = expr(
            ExprKind::Cond {
                cond: Box::new(cond),
                then: Box::new(then),
                otherwise: Box::new(value),
            },
            whole,
        );
    }
    Some(value)
}

/// What `extract` can find, by name.
const EXTRACT_KINDS: [&str; 6] = ["number", "integer", "email", "phone", "url", "date"];

fn extract_kind_named(name: &str) -> Option<ExtractKind> {
    Some(match name {
        "number" => ExtractKind::Number,
        "integer" => ExtractKind::Integer,
        "email" => ExtractKind::Email,
        "phone" => ExtractKind::Phone,
        "url" => ExtractKind::Url,
        "date" => ExtractKind::Date,
        _ => return None,
    })
}

/// Milliseconds as the largest unit that divides them: `1800000` → `30m`, `1500` → `1500ms`.
pub fn duration_text(ms: u64) -> String {
    for (unit, size) in [
        ("d", 86_400_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
    ] {
        if ms >= size && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// `250ms`, `30s`, `5m`, `2h`, `1d` → milliseconds; `None` for a bad number or unit.
pub fn duration_ms(text: &str) -> Option<u64> {
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    let factor = match unit {
        "ms" => 1.0,
        "s" => 1_000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        _ => return None,
    };
    let v = num.parse::<f64>().ok()?;
    ((v * factor).is_finite() && v * factor <= 1e15).then(|| (v * factor).round() as u64)
}

impl Lower {
    pub fn new(file_id: FileId, seen_item: bool, collect_tokens: bool) -> Lower {
        Lower {
            file: File::default(),
            diags: Vec::new(),
            file_id,
            base: 0,
            seen_item,
            collect_tokens,
        }
    }

    /// Appends what a later chunk of the same file lowered.
    pub fn append(&mut self, later: Lower) {
        let f = later.file;
        if self.file.display_name.is_none() {
            self.file.display_name = f.display_name;
        }
        self.file.declarations.extend(f.declarations);
        self.file.triggers.extend(f.triggers);
        self.file.blocks.extend(f.blocks);
        self.file.broken_blocks.extend(f.broken_blocks);
        self.file.literals.extend(f.literals);
        self.file.tokens.extend(f.tokens);
        self.file.omitted_errors += f.omitted_errors;
        self.diags.extend(later.diags);
        self.cap_diagnostics();
    }

    /// Keeps at most [`crate::diagnostic::MAX_DIAGNOSTICS`], counting the rest: a file of
    /// errors must not cost memory per error.
    pub fn cap_diagnostics(&mut self) {
        let max = crate::diagnostic::MAX_DIAGNOSTICS;
        if self.diags.len() > max {
            self.file.omitted_errors += self.diags.len() - max;
            self.diags.truncate(max);
        }
    }

    fn span(&self, pair: &Pair<'_, Rule>) -> Span {
        let s = pair.as_span();
        Span::new(self.base + s.start(), self.base + s.end())
    }

    fn ident(&self, pair: &Pair<'_, Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(pair),
        }
    }

    fn error(&mut self, code: Code, span: Span, message: impl Into<String>) -> &mut Diagnostic {
        self.diags
            .push(Diagnostic::new(code, self.file_id, span, message));
        let last = self.diags.len() - 1;
        &mut self.diags[last]
    }

    /// Lowers one `item_step` parsed at absolute offset `base`; returns where it ended and
    /// whether it held an item (rather than only the end of the input).
    pub fn item_step(&mut self, mut pairs: Pairs<'_, Rule>, base: usize) -> (usize, bool) {
        self.base = base;
        let Some(step) = pairs.next() else {
            return (base, false);
        };
        let end = self.span(&step).end;
        if self.collect_tokens {
            collect_tokens(step.clone(), base, &mut self.file.tokens);
        }
        let mut found = false;
        for item in step.into_inner() {
            match item.as_rule() {
                Rule::header => self.header(item),
                Rule::declaration => self.declaration(item),
                Rule::trigger => self.trigger(item),
                Rule::block => self.block(item),
                _ => continue,
            }
            found = true;
        }
        (end, found)
    }

    fn header(&mut self, pair: Pair<'_, Rule>) {
        let span = self.span(&pair);
        let Some(s) = inner(pair).next() else { return };
        let name = self.template(s);
        if self.seen_item || self.file.display_name.is_some() {
            let e = self.error(
                Code::MisplacedHeader,
                span,
                "`scenario \"…\"` must be the first line of the file",
            );
            e.label = "not at the top".into();
            e.help = Some("a file has at most one `scenario` header, before its declarations, triggers and blocks".into());
            return;
        }
        self.seen_item = true;
        let text = name.as_constant().unwrap_or_default();
        self.file.display_name = Some((text, span));
    }

    fn declaration(&mut self, pair: Pair<'_, Rule>) {
        self.seen_item = true;
        let span = self.span(&pair);
        let mut parts = pair.into_inner();
        let scope = match parts.next().map(|p| p.as_rule()) {
            Some(Rule::kw_global) => Scope::Global,
            _ => Scope::User,
        };
        let (Some(var), Some(init)) = (parts.next(), parts.next()) else {
            return;
        };
        let var = self.var(var);
        if !var.path.is_empty() {
            self.error(
                Code::Syntax,
                var.span,
                "a declaration names a variable, not a path",
            )
            .label = "write `%name%` without `.key`".into();
        }
        let init = self.expr(init);
        self.file.declarations.push(Declaration {
            scope,
            var: var.root,
            init,
            span,
        });
    }

    fn trigger(&mut self, pair: Pair<'_, Rule>) {
        self.seen_item = true;
        let span = self.span(&pair);
        let mut anytime = false;
        let mut event = None;
        let mut target = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::kw_anytime => anytime = true,
                Rule::event => event = self.event(p),
                Rule::target => target = Some(self.target(p)),
                _ => {}
            }
        }
        if let (Some(event), Some(target)) = (event, target) {
            self.file.triggers.push(Trigger {
                anytime,
                event,
                target,
                span,
            });
        }
    }

    fn event(&mut self, pair: Pair<'_, Rule>) -> Option<Event> {
        let ev = pair.into_inner().next()?;
        Some(match ev.as_rule() {
            Rule::ev_start => Event::Start,
            Rule::ev_fallback | Rule::ev_any_message => Event::Fallback,
            Rule::ev_webhook => Event::Webhook(self.constant_text(inner(ev).next()?)),
            Rule::ev_message => {
                let mut kind = Rule::ev_message;
                let mut event = None;
                for p in ev.into_inner() {
                    match p.as_rule() {
                        Rule::kw_like | Rule::kw_contains => kind = p.as_rule(),
                        Rule::regex => event = Some(Event::MessageMatches(self.regex(p))),
                        Rule::string => {
                            let text = self.constant_text(p);
                            event = Some(match kind {
                                Rule::kw_like => Event::MessageLike(text),
                                Rule::kw_contains => Event::MessageContains(text),
                                _ => Event::Message(text),
                            });
                        }
                        _ => {}
                    }
                }
                event?
            }
            _ => return None,
        })
    }

    /// A string that must not contain holes (trigger texts).
    fn constant_text(&mut self, pair: Pair<'_, Rule>) -> String {
        let t = self.template(pair);
        match t.as_constant() {
            Some(s) => s,
            None => {
                let e = self.error(
                    Code::DynamicTrigger,
                    t.span,
                    "a trigger text must be constant",
                );
                e.label = "contains a variable or `{{ }}`".into();
                e.help = Some("triggers are matched before any variable is set; use `on message matches /…/` or `match` inside a block".into());
                String::new()
            }
        }
    }

    fn target(&self, pair: Pair<'_, Rule>) -> Target {
        let span = self.span(&pair);
        let names: Vec<Ident> = pair.into_inner().map(|p| self.ident(&p)).collect();
        let mut names = names.into_iter();
        let first = names.next().unwrap_or(Ident {
            name: String::new(),
            span,
        });
        match names.next() {
            Some(block) => Target {
                scenario: Some(first),
                block,
                span,
            },
            None => Target {
                scenario: None,
                block: first,
                span,
            },
        }
    }

    fn block(&mut self, pair: Pair<'_, Rule>) {
        self.seen_item = true;
        let span = self.span(&pair);
        let mut parts = inner(pair);
        let (Some(name), Some(body)) = (parts.next(), parts.next()) else {
            return;
        };
        let name = self.ident(&name);
        let body = self.body(body);
        self.file.blocks.push(Block { name, body, span });
    }

    fn body(&mut self, pair: Pair<'_, Rule>) -> Vec<Stmt> {
        pair.into_inner()
            .filter_map(|p| self.statement(p))
            .collect()
    }

    fn statement(&mut self, pair: Pair<'_, Rule>) -> Option<Stmt> {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let kind = match rule {
            Rule::say => {
                let mut parts = inner(pair);
                let text = self.template(parts.next()?);
                let buttons = parts.next().map(|b| self.buttons(b)).unwrap_or_default();
                StmtKind::Say { text, buttons }
            }
            Rule::wait => {
                let mut into = None;
                let mut timeout = None;
                for p in inner(pair) {
                    match p.as_rule() {
                        Rule::var => into = Some(self.var(p)),
                        Rule::wait_timeout => {
                            let span = self.span(&p);
                            let mut parts = inner(p);
                            let ms = self.timer_duration(parts.next()?);
                            let target = self.target(parts.next()?);
                            timeout = ms.map(|ms| Box::new(Timeout { ms, target, span }));
                        }
                        _ => {}
                    }
                }
                StmtKind::Wait { into, timeout }
            }
            Rule::for_stmt => {
                let mut parts = inner(pair);
                let var = self.var(parts.next()?);
                let iter = self.expr(parts.next()?);
                let body = self.body(parts.next()?);
                StmtKind::For {
                    var: Box::new(var),
                    iter: Box::new(iter),
                    body,
                }
            }
            Rule::set => {
                let mut parts = inner(pair);
                let target = self.lvalue(parts.next()?);
                let op = match parts.next()?.as_str() {
                    "+=" => AssignOp::Add,
                    "-=" => AssignOp::Sub,
                    "*=" => AssignOp::Mul,
                    "/=" => AssignOp::Div,
                    _ => AssignOp::Set,
                };
                let value = self.expr(parts.next()?);
                StmtKind::Set {
                    target: Box::new(target),
                    op,
                    value: Box::new(value),
                }
            }
            Rule::unset => StmtKind::Unset {
                target: Box::new(self.lvalue(inner(pair).next()?)),
            },
            Rule::if_stmt => {
                let mut branches = Vec::new();
                let mut otherwise = None;
                let mut parts = inner(pair);
                let cond = self.expr(parts.next()?);
                let body = self.body(parts.next()?);
                branches.push((cond, body));
                for p in parts {
                    match p.as_rule() {
                        Rule::elif_part => {
                            let mut q = inner(p);
                            let cond = self.expr(q.next()?);
                            let body = self.body(q.next()?);
                            branches.push((cond, body));
                        }
                        Rule::else_part => otherwise = Some(self.body(inner(p).next()?)),
                        _ => {}
                    }
                }
                StmtKind::If {
                    branches,
                    otherwise,
                }
            }
            Rule::match_stmt => self.match_stmt(pair)?,
            Rule::goto => StmtKind::Goto(Box::new(self.target(inner(pair).next()?))),
            Rule::call => StmtKind::Call(Box::new(self.target(inner(pair).next()?))),
            Rule::return_stmt => StmtKind::Return,
            Rule::end_stmt => StmtKind::End,
            Rule::extract => {
                let mut parts = inner(pair);
                let kind = self.extract_kind(parts.next()?)?;
                let from = self.expr(parts.next()?);
                let into = self.var(parts.next()?);
                let otherwise = self.target(parts.next()?);
                StmtKind::Extract {
                    kind,
                    from: Box::new(from),
                    into: Box::new(into),
                    otherwise: Box::new(otherwise),
                }
            }
            Rule::http => self.http(pair)?,
            Rule::notify => StmtKind::Notify(self.template(inner(pair).next()?)),
            Rule::log => StmtKind::Log(self.template(inner(pair).next()?)),
            Rule::schedule => {
                let mut parts = inner(pair);
                let when = parts.next()?;
                let when = if when.as_rule() == Rule::schedule_at {
                    When::At(self.expr(inner(when).next()?))
                } else {
                    let at = self.span(&when);
                    When::After(self.timer_duration(when)?, at)
                };
                let target = self.target(parts.next()?);
                let name = parts.next().map(|p| {
                    let at = self.span(&p);
                    (self.timer_name(p), at)
                });
                StmtKind::Schedule(Box::new(Schedule { when, target, name }))
            }
            Rule::cancel => {
                let p = inner(pair).next()?;
                let at = self.span(&p);
                StmtKind::Cancel(self.timer_name(p), at)
            }
            Rule::image | Rule::file | Rule::button | Rule::link => {
                let what = match rule {
                    Rule::image => "image",
                    Rule::file => "file",
                    Rule::button => "button",
                    _ => "link",
                };
                let e = self.error(
                    Code::MisplacedItem,
                    span,
                    format!("`{what}` belongs inside a `say` body"),
                );
                e.label = "not a statement on its own".into();
                e.help = Some(format!(
                    "attach it to a message: `say \"…\" {{ {} }}`",
                    match rule {
                        Rule::image => "image \"https://…/photo.jpg\"",
                        Rule::file => "file \"https://…/invoice.pdf\" \"Invoice.pdf\"",
                        Rule::button => "button \"Yes\" goto confirm",
                        _ => "link \"Site\" \"https://…\"",
                    }
                ));
                return None;
            }
            _ => return None,
        };
        Some(Stmt { kind, span })
    }

    /// A timer's duration: between 1 s and 366 days (LANGUAGE.md §7.4).
    fn timer_duration(&mut self, pair: Pair<'_, Rule>) -> Option<u64> {
        let span = self.span(&pair);
        let text = pair.as_str().to_string();
        let ms = self.duration(pair)?;
        const MAX: u64 = 366 * 86_400_000;
        if (1000..=MAX).contains(&ms) {
            return Some(ms);
        }
        let e = self.error(
            Code::InvalidDuration,
            span,
            format!("a timer's duration must be between 1s and 366d; `{text}` is not"),
        );
        e.label = if ms < 1000 {
            "shorter than 1s"
        } else {
            "longer than 366d"
        }
        .into();
        e.help = Some("timers count in seconds to days: 30s, 30m, 2h, 1d".into());
        None
    }

    /// The name of a timer (`as "cart"`, `cancel "cart"`): constant text.
    fn timer_name(&mut self, pair: Pair<'_, Rule>) -> String {
        let t = self.template(pair);
        t.as_constant().unwrap_or_else(|| {
            let e = self.error(
                Code::DynamicTimerName,
                t.span,
                "a timer's name must be constant",
            );
            e.label = "contains a variable or `{{ }}`".into();
            e.help = Some("`cancel` finds a timer by the name `schedule … as` gave it; write the name as plain text".into());
            String::new()
        })
    }

    fn buttons(&mut self, pair: Pair<'_, Rule>) -> Vec<SayItem> {
        let mut out = Vec::new();
        for b in pair.into_inner() {
            let span = self.span(&b);
            let rule = b.as_rule();
            let mut parts = inner(b);
            let Some(first) = parts.next() else { continue };
            match rule {
                Rule::button_for => {
                    let var = self.var(first);
                    let (Some(iter), Some(items)) = (parts.next(), parts.next()) else {
                        continue;
                    };
                    let iter = self.expr(iter);
                    let items = self.buttons(items);
                    out.push(SayItem::For {
                        var,
                        iter,
                        items,
                        span,
                    });
                    continue;
                }
                Rule::image => {
                    let url = self.template(first);
                    out.push(SayItem::Image(url, span));
                    continue;
                }
                Rule::file => {
                    let url = self.template(first);
                    let Some(name) = parts.next() else { continue };
                    let name = self.template(name);
                    out.push(SayItem::File(url, name, span));
                    continue;
                }
                _ => {}
            }
            let label = self.template(first);
            let mut set = None;
            let kind = match (rule, parts.next()) {
                (Rule::link, Some(url)) => ButtonKind::Link(self.template(url)),
                (Rule::button, Some(t)) => {
                    if let Some(s) = parts.next() {
                        let mut q = inner(s);
                        if let (Some(v), Some(e)) = (q.next(), q.next()) {
                            set = Some(Box::new((self.var(v), self.expr(e))));
                        }
                    }
                    ButtonKind::Goto(self.target(t))
                }
                _ => ButtonKind::Text,
            };
            out.push(SayItem::Button(Button {
                label,
                kind,
                set,
                span,
            }));
        }
        out
    }

    fn match_stmt(&mut self, pair: Pair<'_, Rule>) -> Option<StmtKind> {
        let mut parts = inner(pair);
        let subject = self.expr(parts.next()?);
        let mut arms = Vec::new();
        let mut otherwise: Option<Vec<Stmt>> = None;
        for arm in parts {
            let span = self.span(&arm);
            let mut q = arm.into_inner();
            let head = q.next()?;
            let body_pair = q.next()?;
            let body = if body_pair.as_rule() == Rule::body {
                self.body(body_pair)
            } else {
                self.statement(body_pair).into_iter().collect()
            };
            if head.as_rule() == Rule::arm_else {
                if otherwise.is_some() {
                    self.error(Code::Syntax, span, "`match` has two `else` arms")
                        .label = "second `else`".into();
                }
                otherwise = Some(body);
                continue;
            }
            // `like "a", "b"` applies `like` to both (§7.2): after a `like`, the text
            // patterns of the arm are compared by similarity too.
            let mut like = false;
            let patterns = head
                .into_inner()
                .filter_map(|p| self.pattern(p))
                .map(|p| match p {
                    Pattern::Like(_) => {
                        like = true;
                        p
                    }
                    Pattern::Text(t) if like => Pattern::Like(t),
                    other => other,
                })
                .collect();
            arms.push(MatchArm {
                patterns,
                body,
                span,
            });
        }
        Some(StmtKind::Match {
            subject: Box::new(subject),
            arms,
            otherwise,
        })
    }

    fn pattern(&mut self, pair: Pair<'_, Rule>) -> Option<Pattern> {
        let p = pair.into_inner().next()?;
        Some(match p.as_rule() {
            Rule::like_pattern => Pattern::Like(self.template(inner(p).next()?)),
            Rule::string | Rule::var => Pattern::Text(self.template(p)),
            Rule::signed_number => Pattern::Number(p.as_str().to_string(), self.span(&p)),
            Rule::regex => Pattern::Regex(self.regex(p)),
            _ => return None,
        })
    }

    fn extract_kind(&mut self, pair: Pair<'_, Rule>) -> Option<ExtractKind> {
        let p = pair.into_inner().next()?;
        if p.as_rule() == Rule::regex {
            return Some(ExtractKind::Regex(self.regex(p)));
        }
        match extract_kind_named(p.as_str()) {
            Some(kind) => Some(kind),
            None => {
                let other = p.as_str();
                let span = self.span(&p);
                let hint = did_you_mean(other, EXTRACT_KINDS);
                let e = self.error(
                    Code::UnknownExtractKind,
                    span,
                    format!("cannot extract `{other}`"),
                );
                e.label = "unknown kind".into();
                e.help = Some(match hint {
                    Some(h) => format!("did you mean `{h}`?"),
                    None => "extract number, integer, email, phone, url, date or a /regex/".into(),
                });
                None
            }
        }
    }

    fn http(&mut self, pair: Pair<'_, Rule>) -> Option<StmtKind> {
        let mut parts = inner(pair);
        let method_pair = parts.next()?;
        let method_span = self.span(&method_pair);
        let written = method_pair.as_str();
        let method = Method::ALL
            .iter()
            .copied()
            .find(|m| m.as_str().eq_ignore_ascii_case(written));
        let url = self.template(parts.next()?);
        let mut http = Http::new(method.unwrap_or(Method::Get), url);
        if method.is_none() {
            let upper = written.to_ascii_uppercase();
            let hint = did_you_mean(&upper, Method::ALL.iter().map(|m| m.as_str()));
            let e = self.error(
                Code::UnknownMethod,
                method_span,
                format!("`{written}` is not an HTTP method"),
            );
            e.label = "unknown method".into();
            e.help = Some(match hint {
                Some(h) => format!("did you mean `{h}`?"),
                None => "methods are GET, POST, PUT, PATCH, DELETE, HEAD and OPTIONS".into(),
            });
        }
        let Some(options) = parts.next() else {
            return Some(StmtKind::Http(Box::new(http)));
        };
        let mut seen: Vec<(Rule, Span)> = Vec::new();
        for opt in options.into_inner() {
            let span = self.span(&opt);
            let rule = opt.as_rule();
            let once = !matches!(rule, Rule::header_opt | Rule::query_opt);
            let is_body = matches!(rule, Rule::form_opt | Rule::json_opt | Rule::text_opt);
            if once {
                let earlier = seen.iter().find(|(r, _)| {
                    *r == rule
                        || (is_body
                            && matches!(r, Rule::form_opt | Rule::json_opt | Rule::text_opt))
                });
                if let Some((_, first)) = earlier.copied() {
                    let (code, message, help) = if is_body {
                        (
                            Code::DuplicateBody,
                            "an `http` statement has at most one body".to_string(),
                            "choose one of `form`, `json` or `text`",
                        )
                    } else {
                        (
                            Code::DuplicateOption,
                            format!(
                                "`{}` is given twice",
                                opt.as_str().split_whitespace().next().unwrap_or("")
                            ),
                            "remove one of them",
                        )
                    };
                    let file = self.file_id;
                    let e = self.error(code, span, message);
                    e.label = "second one here".into();
                    e.help = Some(help.into());
                    e.related.push(crate::diagnostic::Related {
                        file,
                        span: first,
                        label: "first one here".into(),
                    });
                    continue;
                }
                seen.push((rule, span));
            }
            let mut q = inner(opt);
            match rule {
                Rule::header_opt => {
                    let (Some(name), Some(value)) = (q.next(), q.next()) else {
                        continue;
                    };
                    let name = name.as_str().to_string();
                    let value = self.template(value);
                    http.headers.push(Header { name, value, span });
                }
                Rule::query_opt => {
                    let (Some(name), Some(value)) = (q.next(), q.next()) else {
                        continue;
                    };
                    let name = match name.into_inner().next() {
                        Some(n) if n.as_rule() == Rule::string => {
                            let t = self.template(n);
                            t.as_constant().unwrap_or_default()
                        }
                        Some(n) => n.as_str().to_string(),
                        None => continue,
                    };
                    let value = self.expr(value);
                    http.query.push(QueryParam { name, value, span });
                }
                Rule::form_opt => {
                    let Some(e) = q.next() else { continue };
                    http.body = Some((HttpBody::Form(self.expr(e)), span));
                }
                Rule::json_opt => {
                    let Some(e) = q.next() else { continue };
                    http.body = Some((HttpBody::Json(self.expr(e)), span));
                }
                Rule::text_opt => {
                    let Some(e) = q.next() else { continue };
                    http.body = Some((HttpBody::Text(self.template(e)), span));
                }
                Rule::timeout_opt => {
                    let Some(d) = q.next() else { continue };
                    http.timeout_ms = self.duration(d);
                }
                Rule::redirects_opt => {
                    let Some(n) = q.next() else { continue };
                    match n.as_str().parse::<u32>() {
                        Ok(v) if v <= 100 => http.redirects = Some(v),
                        _ => {
                            let e = self.error(
                                Code::InvalidNumber,
                                self.span(&n),
                                "too many redirects",
                            );
                            e.label = "at most 100".into();
                        }
                    }
                }
                Rule::body_to => http.body_to = q.next().map(|v| self.var(v)),
                Rule::status_to => http.status_to = q.next().map(|v| self.var(v)),
                Rule::headers_to => http.headers_to = q.next().map(|v| self.var(v)),
                Rule::on_error => http.on_error = q.next().map(|t| self.target(t)),
                _ => {}
            }
        }
        Some(StmtKind::Http(Box::new(http)))
    }

    /// `250ms`, `30s`, `5m`, `2h`, `1d` → milliseconds.
    fn duration(&mut self, pair: Pair<'_, Rule>) -> Option<u64> {
        let text = pair.as_str();
        match duration_ms(text) {
            Some(ms) => Some(ms),
            None => {
                let unit = text.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
                let span = self.span(&pair);
                let e = self.error(
                    Code::InvalidDuration,
                    span,
                    format!("`{text}` is not a duration"),
                );
                e.label = if unit.is_empty() {
                    "no unit".into()
                } else {
                    format!("unknown unit `{unit}`")
                };
                e.help = Some("a duration is a number and a unit: 250ms, 30s, 5m, 2h, 1d".into());
                None
            }
        }
    }

    fn var(&mut self, pair: Pair<'_, Rule>) -> VarPath {
        let span = self.span(&pair);
        let path_pair = pair.into_inner().next();
        let mut segments = path_pair.into_iter().flat_map(|p| p.into_inner());
        let root = segments.next().map(|r| self.ident(&r)).unwrap_or(Ident {
            name: String::new(),
            span,
        });
        let path = segments.map(|s| self.ident(&s)).collect();
        VarPath {
            root,
            path,
            span,
            slot: None,
        }
    }

    fn lvalue(&mut self, pair: Pair<'_, Rule>) -> LValue {
        let span = self.span(&pair);
        let mut parts = pair.into_inner();
        let var = match parts.next() {
            Some(v) => self.var(v),
            None => VarPath {
                root: Ident {
                    name: String::new(),
                    span,
                },
                path: Vec::new(),
                span,
                slot: None,
            },
        };
        let mut index = Vec::new();
        for p in parts {
            let pspan = self.span(&p);
            match p.as_rule() {
                Rule::index => {
                    let mut parts = p.into_inner();
                    match (parts.next(), parts.next()) {
                        (Some(e), None) if e.as_rule() != Rule::slice_rest => {
                            index.push(self.expr(e));
                        }
                        _ => {
                            self.error(
                                Code::Syntax,
                                pspan,
                                "a slice cannot be assigned to; set one element (`%x%[1]`) or \
                                 the whole variable",
                            );
                        }
                    }
                }
                Rule::member => {
                    if let Some(k) = p.into_inner().next() {
                        let key = Template {
                            parts: vec![TemplatePart::Text(k.as_str().to_string())],
                            span: pspan,
                        };
                        index.push(expr(ExprKind::Str(key), pspan));
                    }
                }
                _ => {}
            }
        }
        LValue { var, index, span }
    }

    fn regex(&mut self, pair: Pair<'_, Rule>) -> RegexLit {
        let span = self.span(&pair);
        self.file.literals.push(span);
        let mut pattern = String::new();
        let mut flags = String::new();
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::regex_body => pattern = p.as_str().replace("\\/", "/"),
                Rule::regex_flags => flags = p.as_str().to_string(),
                _ => {}
            }
        }
        RegexLit {
            pattern,
            flags,
            span,
        }
    }

    /// A `text` (string or lone variable) or `string` pair as a template.
    fn template(&mut self, pair: Pair<'_, Rule>) -> Template {
        let pair = if pair.as_rule() == Rule::text {
            match pair.into_inner().next() {
                Some(p) => p,
                None => {
                    return Template {
                        parts: Vec::new(),
                        span: Span::default(),
                    }
                }
            }
        } else {
            pair
        };
        let span = self.span(&pair);
        if pair.as_rule() == Rule::var {
            let v = self.var(pair);
            return Template {
                parts: vec![TemplatePart::Var(v)],
                span,
            };
        }
        self.file.literals.push(span);
        let raw = pair.as_str();
        let mut problems = Vec::new();
        let parts = template::scan(raw, span.start, &mut problems);
        for p in problems {
            let e = self.error(p.code, p.span, p.message);
            e.label = "here".into();
            e.help = p.help.map(String::from);
        }
        // The source of expression holes lies within this literal.
        let literal_base = span.start;
        let saved = self.base;
        let t = template::build(parts, span, |s, e| {
            let src = &raw[s - literal_base..e - literal_base];
            self.template_expr(src, s)
        });
        self.base = saved;
        t
    }

    fn template_expr(&mut self, src: &str, at: usize) -> Expr {
        let whole = Span::new(at, at + src.len());
        if src.trim().is_empty() {
            let e = self.error(
                Code::Syntax,
                Span::new(at.saturating_sub(2), at + src.len() + 2),
                "this `{{ }}` is empty",
            );
            e.label = "an expression goes here".into();
            e.help = Some(
                "write the value to show between the braces, e.g. `{{ %n% + 1 }}`; for literal \
                 braces write `\\{{`"
                    .into(),
            );
            return expr(ExprKind::Invalid, whole);
        }
        match parse_template_expr(src) {
            Ok(mut pairs) => {
                self.base = at;
                let e = pairs
                    .next()
                    .and_then(|p| p.into_inner().find(|p| p.as_rule() == Rule::expr))
                    .map(|p| self.expr(p));
                e.unwrap_or(expr(ExprKind::Invalid, Span::new(at, at + src.len())))
            }
            Err((pos, variant)) => {
                let whole = Span::new(at, at + src.len());
                // Render against the hole's own text, then shift to the file.
                let mut d = hole_syntax_error(self.file_id, src, pos, &variant);
                d.span = Span::new(at + d.span.start, at + d.span.end);
                for r in &mut d.related {
                    r.span = Span::new(at + r.span.start, at + r.span.end);
                }
                d.message = format!("in `{{{{ }}}}`: {}", d.message);
                if d.help.is_none() && src.contains(['\\', '"', '\'']) {
                    d.help = Some(
                        "inside a \"…\" template write strings as '…' (and the other way round)"
                            .into(),
                    );
                }
                self.diags.push(d);
                expr(ExprKind::Invalid, whole)
            }
        }
    }

    // ------------------------------------------------------------ expressions

    /// `expr`: a conditional expression followed by pipes.
    fn expr(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let span = self.span(&pair);
        let e = self.expr_inner(pair);
        if depth_exceeds(&e, MAX_EXPR_DEPTH) {
            return self.too_complex(span);
        }
        e
    }

    fn too_complex(&mut self, span: Span) -> Expr {
        let e = self.error(Code::TooDeep, span, "this expression is nested too deeply");
        e.label = "too complex".into();
        e.help = Some("split it into several `set` statements".into());
        expr(ExprKind::Invalid, span)
    }

    fn expr_inner(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let span = self.span(&pair);
        let mut parts = pair.into_inner();
        let Some(first) = parts.next() else {
            return expr(ExprKind::Invalid, span);
        };
        let mut value = self.cond_expr(first);
        let mut chain = 0;
        for p in parts {
            chain += 1;
            if chain > MAX_CHAIN {
                return self.too_complex(span);
            }
            let pspan = self.span(&p);
            let (func, mut args) = match p.as_rule() {
                Rule::call_expr => match self.call_parts(p) {
                    Some(c) => c,
                    None => return expr(ExprKind::Invalid, span),
                },
                _ => (self.ident(&p), Vec::new()),
            };
            let whole = value.span.join(pspan);
            args.insert(0, value);
            value = expr(
                ExprKind::Call {
                    func,
                    args,
                    style: CallStyle::Pipe,
                },
                whole,
            );
        }
        value
    }

    /// `a if c1 else b if c2 else d` → `a if c1 else (b if c2 else d)`.
    fn cond_expr(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let span = self.span(&pair);
        let mut parts = pair.into_inner();
        // Nearly every expression has no `if … else`: lower its one operand directly.
        if parts.len() == 1 {
            if let Some(only) = parts.next() {
                return self.op_expr(only);
            }
        }
        let ops: Vec<Pair<'_, Rule>> = parts.filter(|p| !is_keyword(p.as_rule())).collect();
        if ops.len() > 2 * MAX_CHAIN + 1 {
            return self.too_complex(span);
        }
        let lowered: Vec<Expr> = ops.into_iter().map(|p| self.op_expr(p)).collect();
        fold_cond(lowered).unwrap_or(expr(ExprKind::Invalid, span))
    }

    fn op_expr(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let span = self.span(&pair);
        let mut pairs = pair.into_inner();
        // A lone operand (the common case) needs no operator parsing.
        if pairs.len() == 1 {
            if let Some(only) = pairs.clone().next() {
                if only.as_rule() == Rule::postfix_expr {
                    pairs.next();
                    return self.postfix_expr(only);
                }
            }
        }
        let operators = pairs
            .clone()
            .filter(|p| p.as_rule() != Rule::postfix_expr)
            .count();
        if operators > MAX_CHAIN {
            return self.too_complex(span);
        }
        let mut primaries: std::vec::IntoIter<Expr> = pairs
            .clone()
            .filter(|p| p.as_rule() == Rule::postfix_expr)
            .map(|p| self.postfix_expr(p))
            .collect::<Vec<_>>()
            .into_iter();
        let base = self.base;
        let at = move |p: &Pair<'_, Rule>| {
            let s = p.as_span();
            Span::new(base + s.start(), base + s.end())
        };
        PRATT
            .map_primary(|_| primaries.next().unwrap_or(expr(ExprKind::Invalid, span)))
            .map_prefix(move |op, rhs| {
                let o = if op.as_rule() == Rule::neg {
                    UnaryOp::Neg
                } else {
                    UnaryOp::Not
                };
                let whole = at(&op).join(rhs.span);
                expr(ExprKind::Unary(o, Box::new(rhs)), whole)
            })
            .map_infix(|lhs, op, rhs| {
                let o = match op.as_rule() {
                    Rule::or => BinaryOp::Or,
                    Rule::and => BinaryOp::And,
                    Rule::eq => BinaryOp::Eq,
                    Rule::ne => BinaryOp::Ne,
                    Rule::lt => BinaryOp::Lt,
                    Rule::le => BinaryOp::Le,
                    Rule::gt => BinaryOp::Gt,
                    Rule::ge => BinaryOp::Ge,
                    Rule::in_op => BinaryOp::In,
                    Rule::not_in => BinaryOp::NotIn,
                    Rule::like => BinaryOp::Like,
                    Rule::matches => BinaryOp::Matches,
                    Rule::add => BinaryOp::Add,
                    Rule::sub => BinaryOp::Sub,
                    Rule::mul => BinaryOp::Mul,
                    Rule::div => BinaryOp::Div,
                    Rule::floor_div => BinaryOp::FloorDiv,
                    _ => BinaryOp::Pow,
                };
                let whole = lhs.span.join(rhs.span);
                expr(ExprKind::Binary(o, Box::new(lhs), Box::new(rhs)), whole)
            })
            .parse(pairs)
    }

    fn postfix_expr(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let span = self.span(&pair);
        let mut parts = pair.into_inner();
        let Some(first) = parts.next() else {
            return expr(ExprKind::Invalid, span);
        };
        let mut value = self.primary(first);
        for (n, p) in parts.enumerate() {
            if n >= MAX_CHAIN {
                return self.too_complex(span);
            }
            let whole = value.span.join(self.span(&p));
            value = match p.as_rule() {
                Rule::method_call => {
                    let mut q = p.into_inner();
                    let Some(func) = q.next() else {
                        return expr(ExprKind::Invalid, span);
                    };
                    let func = self.ident(&func);
                    let mut args = vec![value];
                    if let Some(a) = q.next() {
                        args.extend(self.args(a));
                    }
                    expr(
                        ExprKind::Call {
                            func,
                            args,
                            style: CallStyle::Method,
                        },
                        whole,
                    )
                }
                Rule::index => {
                    let mut from = None;
                    let mut rest = None;
                    for part in p.into_inner() {
                        match part.as_rule() {
                            Rule::slice_rest => rest = Some(part),
                            _ => from = Some(self.expr(part)),
                        }
                    }
                    match (from, rest) {
                        (Some(i), None) => {
                            expr(ExprKind::Index(Box::new(value), Box::new(i)), whole)
                        }
                        (from, Some(rest)) => {
                            let (mut to, mut step) = (None, None);
                            for part in rest.into_inner() {
                                let rule = part.as_rule();
                                let Some(e) = part.into_inner().next() else {
                                    continue;
                                };
                                let e = Some(Box::new(self.expr(e)));
                                if rule == Rule::slice_to {
                                    to = e;
                                } else {
                                    step = e;
                                }
                            }
                            expr(
                                ExprKind::Slice {
                                    value: Box::new(value),
                                    from: from.map(Box::new),
                                    to,
                                    step,
                                },
                                whole,
                            )
                        }
                        (None, None) => expr(ExprKind::Invalid, span),
                    }
                }
                _ => {
                    let Some(k) = p.into_inner().next() else {
                        return expr(ExprKind::Invalid, span);
                    };
                    expr(ExprKind::Member(Box::new(value), self.ident(&k)), whole)
                }
            };
        }
        value
    }

    fn primary(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::literal => match pair.as_str() {
                "true" | "True" => ExprKind::Bool(true),
                "false" | "False" => ExprKind::Bool(false),
                _ => ExprKind::Null,
            },
            Rule::number => match crate::value::Number::parse(pair.as_str()) {
                Some(n) => ExprKind::Number(n),
                None => {
                    let e = self.error(
                        Code::InvalidNumber,
                        span,
                        format!("`{}` is not a number scenarist can hold", pair.as_str()),
                    );
                    e.label = "invalid number".into();
                    ExprKind::Invalid
                }
            },
            Rule::string => ExprKind::Str(self.template(pair)),
            Rule::regex => ExprKind::Regex(self.regex(pair)),
            Rule::var => ExprKind::Var(self.var(pair)),
            Rule::list => ExprKind::List(pair.into_inner().map(|p| self.expr(p)).collect()),
            Rule::dict => {
                let mut entries = Vec::new();
                for kv in pair.into_inner() {
                    let mut q = kv.into_inner();
                    if let (Some(k), Some(v)) = (q.next(), q.next()) {
                        let k = self.expr(k);
                        let v = self.expr(v);
                        entries.push((k, v));
                    }
                }
                ExprKind::Dict(entries)
            }
            Rule::paren => match pair.into_inner().next() {
                Some(e) => return self.expr(e),
                None => ExprKind::Invalid,
            },
            Rule::call_expr => match self.call_parts(pair) {
                Some((func, args)) => ExprKind::Call {
                    func,
                    args,
                    style: CallStyle::Plain,
                },
                None => ExprKind::Invalid,
            },
            Rule::name => ExprKind::Name(self.ident(&pair)),
            _ => ExprKind::Invalid,
        };
        expr(kind, span)
    }

    fn call_parts(&mut self, pair: Pair<'_, Rule>) -> Option<(Ident, Vec<Expr>)> {
        let mut q = pair.into_inner();
        let func = self.ident(&q.next()?);
        let args = q.next().map(|a| self.args(a)).unwrap_or_default();
        Some((func, args))
    }

    fn args(&mut self, pair: Pair<'_, Rule>) -> Vec<Expr> {
        pair.into_inner()
            .map(|a| match a.as_rule() {
                Rule::lambda => self.lambda(a),
                _ => self.expr(a),
            })
            .collect()
    }

    fn lambda(&mut self, pair: Pair<'_, Rule>) -> Expr {
        let span = self.span(&pair);
        let mut params = Vec::new();
        let mut body = None;
        for p in pair.into_inner() {
            match p.as_rule() {
                Rule::ident => {
                    let param = self.ident(&p);
                    if super::parser::RESERVED.contains(&param.name.as_str()) {
                        let e = self.error(
                            Code::Syntax,
                            param.span,
                            format!(
                                "`{}` is a keyword: it cannot name a lambda parameter",
                                param.name
                            ),
                        );
                        e.label = "a keyword".into();
                        e.help = Some("pick another name: `x => x * 2`".into());
                    }
                    params.push(param);
                }
                Rule::expr => body = Some(self.expr(p)),
                _ => {}
            }
        }
        let body = body.unwrap_or(expr(ExprKind::Invalid, span));
        expr(
            ExprKind::Lambda {
                params,
                body: Box::new(body),
            },
            span,
        )
    }
}

/// The tokens of one parsed item for [`File::tokens`]: the words, names, numbers and literals
/// of the grammar (compound ones such as `var`, `target` or `signed_number` whole) and the
/// punctuation whose role the text alone does not tell. Operators and other punctuation are
/// left out: the formatter reads them from the text between tokens.
fn collect_tokens(step: Pair<'_, Rule>, base: usize, out: &mut Vec<Token>) {
    let span = |start: usize, end: usize| Span::new(base + start, base + end);
    let mut push = |kind: TokenKind, start: usize, end: usize| {
        out.push(Token {
            kind,
            span: span(start, end),
        })
    };
    let mut marks: Vec<(TokenKind, usize)> = Vec::new();
    // Where the name of the call or method just entered starts: pairs come parent first, so
    // that name is among the next few pairs.
    let mut callee: Option<usize> = None;
    let mut inside_atom = 0usize;
    for p in step.into_inner().flatten() {
        let (start, end) = (p.as_span().start(), p.as_span().end());
        if start < inside_atom || start == end {
            continue;
        }
        let rule = p.as_rule();
        let kind = match rule {
            Rule::string | Rule::regex => Some(TokenKind::Literal),
            Rule::number | Rule::integer | Rule::duration | Rule::signed_number => {
                Some(TokenKind::Number)
            }
            Rule::not_in => Some(TokenKind::NotIn),
            Rule::ident if callee == Some(start) => Some(TokenKind::Callee),
            Rule::var | Rule::target => Some(TokenKind::Word),
            Rule::call_expr => {
                callee = Some(start);
                None
            }
            Rule::method_call => {
                if let Some(name) = p.clone().into_inner().next() {
                    callee = Some(name.as_span().start());
                }
                None
            }
            Rule::dict => {
                marks.push((TokenKind::DictOpen, start));
                marks.push((TokenKind::DictClose, end - 1));
                None
            }
            Rule::index => {
                marks.push((TokenKind::IndexOpen, start));
                marks.push((TokenKind::IndexClose, end - 1));
                None
            }
            Rule::slice_rest => {
                marks.push((TokenKind::SliceColon, start));
                // The second `:`, if any, is the first thing after the slice's end bound.
                let text = p.as_str();
                let from = p
                    .clone()
                    .into_inner()
                    .find(|q| q.as_rule() == Rule::slice_to)
                    .map_or(1, |q| q.as_span().end() - start);
                let at = skip_lead(text, from);
                if text[at..].starts_with(':') {
                    marks.push((TokenKind::SliceColon, start + at));
                }
                None
            }
            Rule::neg => {
                marks.push((TokenKind::Neg, start));
                None
            }
            Rule::ident
            | Rule::name
            | Rule::literal
            | Rule::method
            | Rule::header_name
            | Rule::param_name
            | Rule::member_name
            | Rule::or
            | Rule::and
            | Rule::not
            | Rule::in_op
            | Rule::like
            | Rule::matches => Some(TokenKind::Word),
            rule if is_keyword(rule) => Some(TokenKind::Word),
            _ => None,
        };
        if let Some(kind) = kind {
            push(kind, start, end);
            inside_atom = end;
        }
    }
    for (kind, at) in marks {
        push(kind, at, at + 1);
    }
}
