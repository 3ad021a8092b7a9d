//! The fast path of the parser: a hand-written recursive-descent parser for one top-level item
//! of *valid* input, producing the same AST, spans included, as the pest grammar and its
//! lowering (`grammar/scenario.pest`, [`super::lower`]).
//!
//! It mirrors the grammar step by step, including where pest skips whitespace: between the
//! elements of every non-atomic sequence, so a rule that ends in an optional part or a
//! repetition that matched nothing ends *after* the whitespace and comment that follow it
//! (`say "hi"  # note` spans the comment). Inside a repetition, the skip before an element
//! that does not match is undone.
//!
//! It never reports anything. Wherever the input is not plainly valid (a syntax error, or any
//! problem the lowering would report: a bad escape, an unknown unit, a duplicated option…) it
//! gives up on the item by returning `None`, and the caller parses that item again with pest,
//! whose diagnostics are therefore the only ones users ever see. Giving up is always safe;
//! accepting what pest rejects, or building a different tree, is not: `tests/fast_parse.rs`
//! compares both parsers on every example and fixture and on thousands of mutated files.

use super::ast::*;
use super::lower::{
    depth_exceeds, duration_ms, extract_kind_named, fold_cond, MAX_CHAIN, MAX_EXPR_DEPTH,
};
use super::parser::{nests_too_deep, MAX_NESTING};
use super::template;
use super::Span;

/// A top-level item, as the lowering would add it to the file.
pub(super) enum Item {
    Header(String, Span),
    Declaration(Declaration),
    Trigger(Trigger),
    Block(Block),
}

/// Parses the item starting at `k` (past blank lines and comments) in `text[..limit]`, and the
/// separator after it; returns the item and where the next one may start, as pest's
/// `item_step` would. The item must end by `window`, the end of the first text pest would be
/// given (the next line that starts with an item keyword). `header_allowed` says whether a
/// `scenario` header may come here.
pub(super) fn item(
    text: &str,
    k: usize,
    window: usize,
    limit: usize,
    header_allowed: bool,
) -> Option<(Item, usize)> {
    let src = text.get(..limit)?;
    let mut p = Fast {
        src,
        b: src.as_bytes(),
        pos: k,
        depth: 0,
    };
    let item = p.item(header_allowed)?;
    if p.pos > window {
        return None;
    }
    p.skip();
    // `item_end = sep | &EOI`
    if p.pos < p.b.len() && !p.sep() {
        return None;
    }
    Some((item, p.pos))
}

struct Fast<'t> {
    src: &'t str,
    b: &'t [u8],
    pos: usize,
    /// Brackets open around the current position (blocks, lists, calls, `{{ }}` holes…).
    depth: usize,
}

/// One element of an operator chain, for the Pratt parser.
enum Tok {
    Prefix(UnaryOp, Span),
    Infix(BinaryOp),
    Operand(Expr),
}

/// Binding power of the operators, as `PRATT` in `lower.rs` numbers them.
fn prefix_power(op: UnaryOp) -> u32 {
    match op {
        UnaryOp::Not => 40,
        UnaryOp::Neg => 80,
    }
}

fn infix_power(op: BinaryOp) -> u32 {
    use BinaryOp::*;
    match op {
        Or => 20,
        And => 30,
        Eq | Ne | Lt | Le | Gt | Ge | In | NotIn | Like | Matches => 50,
        Add | Sub => 60,
        Mul | Div | FloorDiv => 70,
        Pow => 90,
    }
}

fn mk(kind: ExprKind, span: Span) -> Expr {
    Expr { kind, span }
}

fn is_ident_continue(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || c == '_'
    } else {
        pest::unicode::LETTER(c) || pest::unicode::MARK(c) || pest::unicode::DECIMAL_NUMBER(c)
    }
}

fn is_ident_start(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphabetic() || c == '_'
    } else {
        pest::unicode::LETTER(c)
    }
}

impl<'t> Fast<'t> {
    // ------------------------------------------------------------ characters

    fn peek(&self) -> u8 {
        self.b.get(self.pos).copied().unwrap_or(0)
    }

    fn at(&self, c: u8) -> bool {
        self.b.get(self.pos) == Some(&c)
    }

    fn starts(&self, s: &str) -> bool {
        self.b[self.pos.min(self.b.len())..].starts_with(s.as_bytes())
    }

    fn eat(&mut self, c: u8) -> bool {
        let yes = self.at(c);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn eat_str(&mut self, s: &str) -> bool {
        let yes = self.starts(s);
        if yes {
            self.pos += s.len();
        }
        yes
    }

    fn char_at(&self, i: usize) -> Option<char> {
        self.src.get(i..)?.chars().next()
    }

    fn continues_ident(&self, i: usize) -> bool {
        match self.b.get(i) {
            None => false,
            Some(&c) if c < 0x80 => c.is_ascii_alphanumeric() || c == b'_',
            Some(_) => self.char_at(i).is_some_and(is_ident_continue),
        }
    }

    fn span(&self, start: usize) -> Span {
        Span::new(start, self.pos)
    }

    /// pest's implicit `WHITESPACE*`: spaces, tabs, `\` line continuations and comments.
    fn skip(&mut self) {
        loop {
            match self.peek() {
                b' ' | b'\t' => self.pos += 1,
                b'\\' => match self.b.get(self.pos + 1) {
                    Some(b'\n') => self.pos += 2,
                    Some(b'\r') => {
                        self.pos += if self.b.get(self.pos + 2) == Some(&b'\n') {
                            3
                        } else {
                            2
                        }
                    }
                    _ => return,
                },
                b'#' => {
                    self.pos = self.b[self.pos..]
                        .iter()
                        .position(|&c| c == b'\n')
                        .map_or(self.b.len(), |n| self.pos + n);
                }
                _ => return,
            }
        }
    }

    /// `nl`: one line break.
    fn nl(&mut self) -> bool {
        match self.peek() {
            b'\n' => self.pos += 1,
            b'\r' => {
                self.pos += if self.b.get(self.pos + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                }
            }
            _ => return false,
        }
        true
    }

    /// `nl*`
    fn nls(&mut self) {
        if self.nl() {
            loop {
                let save = self.pos;
                self.skip();
                if !self.nl() {
                    self.pos = save;
                    break;
                }
            }
        }
    }

    /// `skip ~ nl* ~ skip`: what separates two elements around an optional line break.
    fn gap(&mut self) {
        self.skip();
        self.nls();
        self.skip();
    }

    /// `sep = (nl | ";")+`
    fn sep(&mut self) -> bool {
        if !(self.nl() || self.eat(b';')) {
            return false;
        }
        loop {
            let save = self.pos;
            self.skip();
            if !(self.nl() || self.eat(b';')) {
                self.pos = save;
                return true;
            }
        }
    }

    /// `sep?` between skips, as at the start and end of every `{ … }` list.
    fn sep_opt(&mut self) {
        self.skip();
        self.sep();
        self.skip();
    }

    /// A keyword: the word, not followed by a letter or digit.
    fn kw(&mut self, word: &str) -> bool {
        let yes = self.starts(word) && !self.continues_ident(self.pos + word.len());
        if yes {
            self.pos += word.len();
        }
        yes
    }

    fn enter(&mut self) -> Option<()> {
        self.depth += 1;
        (self.depth <= MAX_NESTING).then_some(())
    }

    fn leave(&mut self) {
        self.depth -= 1;
    }

    /// `{ ELEMENT (sep ELEMENT)* }` with optional separators inside the braces: blocks,
    /// buttons, http options and match arms.
    fn braced<T>(&mut self, mut element: impl FnMut(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        if !self.eat(b'{') {
            return None;
        }
        self.enter()?;
        self.sep_opt();
        let mut out = Vec::new();
        if !self.at(b'}') {
            out.push(element(self)?);
            loop {
                let save = self.pos;
                self.skip();
                if !self.sep() {
                    self.pos = save;
                    break;
                }
                self.skip();
                if self.at(b'}') {
                    self.pos = save;
                    break;
                }
                out.push(element(self)?);
            }
        }
        self.sep_opt();
        if !self.eat(b'}') {
            return None;
        }
        self.leave();
        Some(out)
    }

    // ------------------------------------------------------------ tokens

    /// `ident`, or `None` (nothing consumed) when no name starts here.
    fn ident(&mut self) -> Option<Ident> {
        let start = self.pos;
        match self.b.get(self.pos) {
            Some(&c) if c < 0x80 => {
                if !(c.is_ascii_alphabetic() || c == b'_') {
                    return None;
                }
                self.pos += 1;
            }
            Some(_) => {
                let c = self.char_at(self.pos).filter(|c| is_ident_start(*c))?;
                self.pos += c.len_utf8();
            }
            None => return None,
        }
        loop {
            match self.b.get(self.pos) {
                Some(&c) if c < 0x80 => {
                    if c.is_ascii_alphanumeric() || c == b'_' {
                        self.pos += 1;
                    } else {
                        break;
                    }
                }
                Some(_) => match self.char_at(self.pos) {
                    Some(c) if is_ident_continue(c) => self.pos += c.len_utf8(),
                    _ => break,
                },
                None => break,
            }
        }
        Some(Ident {
            name: self.src[start..self.pos].to_string(),
            span: self.span(start),
        })
    }

    fn digits(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_ascii_digit() {
            self.pos += 1;
        }
        self.pos > start
    }

    /// `("." ~ ASCII_DIGIT+)?` after the digits of a number or a duration.
    fn fraction(&mut self) {
        if self.at(b'.') && self.b.get(self.pos + 1).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
            self.digits();
        }
    }

    /// `target = ${ ident ~ ("::" ~ ident)? }`
    fn target(&mut self) -> Option<Target> {
        let start = self.pos;
        let first = self.ident()?;
        if self.starts("::") {
            let save = self.pos;
            self.pos += 2;
            match self.ident() {
                Some(block) => {
                    return Some(Target {
                        scenario: Some(first),
                        block,
                        span: self.span(start),
                    })
                }
                None => self.pos = save,
            }
        }
        Some(Target {
            scenario: None,
            block: first,
            span: self.span(start),
        })
    }

    /// `var = ${ "%" ~ var_path ~ "%" }`
    fn var(&mut self) -> Option<VarPath> {
        let start = self.pos;
        if !self.eat(b'%') {
            return None;
        }
        let root = self.ident()?;
        let mut path = Vec::new();
        while self.at(b'.') {
            let s = self.pos + 1;
            let len = self.b[s..]
                .iter()
                .position(|c| matches!(c, b'.' | b'%' | b' ' | b'\t' | b'\n' | b'\r'))
                .unwrap_or(self.b.len() - s);
            if len == 0 {
                break;
            }
            self.pos = s + len;
            path.push(Ident {
                name: self.src[s..self.pos].to_string(),
                span: Span::new(s, self.pos),
            });
        }
        if !self.eat(b'%') {
            return None;
        }
        Some(VarPath {
            root,
            path,
            span: self.span(start),
            slot: None,
        })
    }

    /// A string literal's extent: `"""…"""`, `"…"` or `'…'`.
    fn string_raw(&mut self) -> Option<(usize, usize)> {
        let start = self.pos;
        if self.starts("\"\"\"") {
            let close = self.src[start + 3..].find("\"\"\"")?;
            self.pos = start + 3 + close + 3;
            return Some((start, self.pos));
        }
        let quote = self.peek();
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        self.pos += 1;
        loop {
            match self.b.get(self.pos)? {
                &c if c == quote => {
                    self.pos += 1;
                    return Some((start, self.pos));
                }
                b'\\' => match self.b.get(self.pos + 1)? {
                    b'\n' | b'\r' => return None,
                    _ => self.pos += 2,
                },
                b'\n' | b'\r' => return None,
                _ => self.pos += 1,
            }
        }
    }

    /// A string literal as a template; its `{{ }}` holes parsed by this parser too.
    fn string(&mut self) -> Option<Template> {
        let (s, e) = self.string_raw()?;
        let src = self.src;
        let raw = &src[s..e];
        let mut problems = Vec::new();
        let parts = template::scan(raw, s, &mut problems);
        if !problems.is_empty() {
            return None;
        }
        let mut ok = true;
        let t = template::build(parts, Span::new(s, e), |hs, he| match self.hole(hs, he) {
            Some(x) => x,
            None => {
                ok = false;
                mk(ExprKind::Invalid, Span::new(hs, he))
            }
        });
        ok.then_some(t)
    }

    /// The expression of a `{{ }}` hole at `start..end`: `SOI ~ nl* ~ expr ~ nl* ~ EOI`.
    fn hole(&mut self, start: usize, end: usize) -> Option<Expr> {
        if nests_too_deep(&self.src[start..end]) {
            return None;
        }
        let src = &self.src[..end];
        let mut sub = Fast {
            src,
            b: src.as_bytes(),
            pos: start,
            depth: self.depth + 1,
        };
        if sub.depth > MAX_NESTING {
            return None;
        }
        sub.gap();
        let e = sub.top_expr()?;
        sub.gap();
        (sub.pos == end).then_some(e)
    }

    /// `text = { string | var }`
    fn text(&mut self) -> Option<Template> {
        match self.peek() {
            b'"' | b'\'' => self.string(),
            b'%' => {
                let v = self.var()?;
                let span = v.span;
                Some(Template {
                    parts: vec![TemplatePart::Var(v)],
                    span,
                })
            }
            _ => None,
        }
    }

    /// `regex = ${ "/" ~ regex_body ~ "/" ~ regex_flags }`
    fn regex(&mut self) -> Option<RegexLit> {
        let start = self.pos;
        if !self.eat(b'/') {
            return None;
        }
        let body = self.pos;
        loop {
            match self.b.get(self.pos) {
                None | Some(b'/' | b'\n' | b'\r') => break,
                Some(b'\\') => match self.char_at(self.pos + 1) {
                    None | Some('\n' | '\r') => break,
                    Some(c) => self.pos += 1 + c.len_utf8(),
                },
                Some(_) => self.pos += 1,
            }
        }
        let pattern = self.src[body..self.pos].replace("\\/", "/");
        if !self.eat(b'/') {
            return None;
        }
        let flags = self.pos;
        while let Some(c) = self.char_at(self.pos).filter(|c| is_ident_continue(*c)) {
            self.pos += c.len_utf8();
        }
        Some(RegexLit {
            pattern,
            flags: self.src[flags..self.pos].to_string(),
            span: self.span(start),
        })
    }

    /// `number = @{ digits ("." digits)? (e [+-]? digits)? !ident_continue }`: its text.
    fn number_text(&mut self) -> Option<&'t str> {
        let start = self.pos;
        if !self.digits() {
            return None;
        }
        self.fraction();
        if matches!(self.peek(), b'e' | b'E') {
            let save = self.pos;
            self.pos += 1;
            if matches!(self.peek(), b'+' | b'-') {
                self.pos += 1;
            }
            if !self.digits() {
                self.pos = save;
            }
        }
        if self.continues_ident(self.pos) {
            return None;
        }
        Some(&self.src[start..self.pos])
    }

    // ------------------------------------------------------------ items

    fn item(&mut self, header_allowed: bool) -> Option<Item> {
        let start = self.pos;
        if self.kw("block") {
            self.skip();
            let name = self.ident()?;
            self.skip();
            let body = self.body()?;
            Some(Item::Block(Block {
                name,
                body,
                span: self.span(start),
            }))
        } else if self.kw("on") {
            self.skip();
            let anytime = self.kw("anytime");
            self.skip();
            let event = self.event()?;
            self.skip();
            if !self.kw("goto") {
                return None;
            }
            self.skip();
            let target = self.target()?;
            Some(Item::Trigger(Trigger {
                anytime,
                event,
                target,
                span: self.span(start),
            }))
        } else if self.kw("user") || self.kw("global") {
            let scope = if self.b[start] == b'u' {
                Scope::User
            } else {
                Scope::Global
            };
            self.skip();
            let var = self.var()?;
            if !var.path.is_empty() {
                return None;
            }
            self.skip();
            if !self.eat(b'=') {
                return None;
            }
            self.gap();
            let init = self.top_expr()?;
            Some(Item::Declaration(Declaration {
                scope,
                var: var.root,
                init,
                span: self.span(start),
            }))
        } else if self.kw("scenario") {
            self.skip();
            let name = self.string()?;
            if !header_allowed {
                return None;
            }
            Some(Item::Header(
                name.as_constant().unwrap_or_default(),
                self.span(start),
            ))
        } else {
            None
        }
    }

    /// A trigger's text: a string without holes.
    fn constant(&mut self) -> Option<String> {
        self.string()?.as_constant()
    }

    fn event(&mut self) -> Option<Event> {
        if self.kw("start") {
            Some(Event::Start)
        } else if self.kw("fallback") {
            Some(Event::Fallback)
        } else if self.kw("webhook") {
            self.skip();
            Some(Event::Webhook(self.constant()?))
        } else if self.kw("message") {
            self.skip();
            if self.kw("like") {
                self.skip();
                Some(Event::MessageLike(self.constant()?))
            } else if self.kw("contains") {
                self.skip();
                Some(Event::MessageContains(self.constant()?))
            } else if self.kw("matches") {
                self.skip();
                Some(Event::MessageMatches(self.regex()?))
            } else {
                Some(Event::Message(self.constant()?))
            }
        } else {
            None
        }
    }

    // ------------------------------------------------------------ statements

    /// `body = { "{" ~ sep? ~ (statement ~ (sep ~ statement)*)? ~ sep? ~ "}" }`
    fn body(&mut self) -> Option<Vec<Stmt>> {
        self.braced(Self::statement)
    }

    fn statement(&mut self) -> Option<Stmt> {
        let start = self.pos;
        let kind = match self.peek() {
            b's' if self.kw("say") => {
                self.skip();
                let text = self.text()?;
                self.skip();
                let buttons = if self.at(b'{') {
                    self.braced(Self::button)?
                } else {
                    Vec::new()
                };
                StmtKind::Say { text, buttons }
            }
            b's' if self.kw("set") => {
                self.skip();
                let target = self.lvalue()?;
                self.skip();
                let op = if self.eat_str("+=") {
                    AssignOp::Add
                } else if self.eat_str("-=") {
                    AssignOp::Sub
                } else if self.eat_str("*=") {
                    AssignOp::Mul
                } else if self.eat_str("/=") {
                    AssignOp::Div
                } else if self.eat(b'=') {
                    AssignOp::Set
                } else {
                    return None;
                };
                self.gap();
                let value = self.top_expr()?;
                StmtKind::Set {
                    target: Box::new(target),
                    op,
                    value: Box::new(value),
                }
            }
            b'g' if self.kw("goto") => {
                self.skip();
                StmtKind::Goto(Box::new(self.target()?))
            }
            b'w' if self.kw("wait") => {
                self.skip();
                let into = if self.eat_str("->") {
                    self.skip();
                    Some(self.var()?)
                } else {
                    None
                };
                self.skip();
                // `wait … timeout … goto` is reported as not supported yet.
                if self.starts("timeout") {
                    return None;
                }
                StmtKind::Wait { into }
            }
            b'i' if self.kw("if") => self.if_stmt()?,
            b'h' if self.kw("http") => self.http()?,
            b'm' if self.kw("match") => self.match_stmt()?,
            b'e' if self.kw("end") => StmtKind::End,
            b'e' if self.kw("extract") => {
                self.skip();
                let kind = if self.at(b'/') {
                    ExtractKind::Regex(self.regex()?)
                } else {
                    extract_kind_named(&self.ident()?.name)?
                };
                self.skip();
                if !self.kw("from") {
                    return None;
                }
                self.skip();
                let from = self.top_expr()?;
                self.skip();
                if !self.eat_str("->") {
                    return None;
                }
                self.skip();
                let into = self.var()?;
                self.skip();
                if !self.kw("else") {
                    return None;
                }
                self.skip();
                if !self.kw("goto") {
                    return None;
                }
                self.skip();
                let otherwise = self.target()?;
                StmtKind::Extract {
                    kind,
                    from: Box::new(from),
                    into: Box::new(into),
                    otherwise: Box::new(otherwise),
                }
            }
            b'c' if self.kw("call") => {
                self.skip();
                StmtKind::Call(Box::new(self.target()?))
            }
            b'u' if self.kw("unset") => {
                self.skip();
                StmtKind::Unset {
                    target: Box::new(self.lvalue()?),
                }
            }
            b'r' if self.kw("return") => StmtKind::Return,
            b'n' if self.kw("notify") => {
                self.skip();
                StmtKind::Notify(self.text()?)
            }
            b'l' if self.kw("log") => {
                self.skip();
                StmtKind::Log(self.text()?)
            }
            // Anything else, `schedule` and `cancel` included (not supported yet), is left to
            // pest and its diagnostics.
            _ => return None,
        };
        Some(Stmt {
            kind,
            span: self.span(start),
        })
    }

    /// `button = { kw_button ~ text ~ (kw_goto ~ target)? }` or
    /// `link = { kw_link ~ text ~ text }`
    fn button(&mut self) -> Option<Button> {
        let start = self.pos;
        let (label, kind) = if self.kw("button") {
            self.skip();
            let label = self.text()?;
            self.skip();
            let kind = if self.kw("goto") {
                self.skip();
                ButtonKind::Goto(self.target()?)
            } else {
                ButtonKind::Text
            };
            (label, kind)
        } else if self.kw("link") {
            self.skip();
            let label = self.text()?;
            self.skip();
            (label, ButtonKind::Link(self.text()?))
        } else {
            return None;
        };
        Some(Button {
            label,
            kind,
            span: self.span(start),
        })
    }

    /// `lvalue = { var ~ (index | member)* }`
    fn lvalue(&mut self) -> Option<LValue> {
        let start = self.pos;
        let var = self.var()?;
        self.skip();
        let mut index = Vec::new();
        let mut first = true;
        loop {
            let save = self.pos;
            if !first {
                self.skip();
            }
            match self.peek() {
                b'[' => index.push(self.enclosed(b']', true)?),
                b'.' => {
                    let s = self.pos;
                    self.pos += 1;
                    self.skip();
                    let name = self.member_name()?;
                    let span = self.span(s);
                    let key = Template {
                        parts: vec![TemplatePart::Text(name)],
                        span,
                    };
                    index.push(mk(ExprKind::Str(key), span));
                }
                _ => {
                    self.pos = save;
                    break;
                }
            }
            first = false;
        }
        Some(LValue {
            var,
            index,
            span: self.span(start),
        })
    }

    /// `member_name = @{ ident | ASCII_DIGIT+ }`
    fn member_name(&mut self) -> Option<String> {
        let start = self.pos;
        if self.ident().is_none() && !self.digits() {
            return None;
        }
        Some(self.src[start..self.pos].to_string())
    }

    /// `if_stmt = { kw_if ~ expr ~ body ~ elif_part* ~ else_part? }`
    fn if_stmt(&mut self) -> Option<StmtKind> {
        self.skip();
        let cond = self.top_expr()?;
        self.skip();
        let body = self.body()?;
        let mut branches = vec![(cond, body)];
        self.skip();
        let mut first = true;
        loop {
            let save = self.pos;
            if !first {
                self.skip();
            }
            self.nls();
            self.skip();
            if !self.kw("elif") {
                self.pos = save;
                break;
            }
            self.skip();
            let cond = self.top_expr()?;
            self.skip();
            let body = self.body()?;
            branches.push((cond, body));
            first = false;
        }
        self.skip();
        let save = self.pos;
        self.nls();
        self.skip();
        let mut otherwise = None;
        if self.kw("else") {
            self.skip();
            if self.at(b'{') {
                otherwise = Some(self.body()?);
            } else {
                // Not this statement's `else`: in a `match`, the next arm's.
                self.pos = save;
            }
        } else {
            self.pos = save;
        }
        Some(StmtKind::If {
            branches,
            otherwise,
        })
    }

    /// `match_stmt = { kw_match ~ expr ~ "{" ~ … arm … ~ "}" }`
    fn match_stmt(&mut self) -> Option<StmtKind> {
        self.skip();
        let subject = self.top_expr()?;
        self.skip();
        let mut otherwise = None;
        let mut twice = false;
        let arms = self.braced(|p| {
            let start = p.pos;
            let is_else = p.kw("else");
            let patterns = if is_else { Vec::new() } else { p.patterns()? };
            p.skip();
            if !p.eat_str("=>") {
                return None;
            }
            p.gap();
            let body = if p.at(b'{') {
                p.body()?
            } else {
                vec![p.statement()?]
            };
            Some((is_else, patterns, body, p.span(start)))
        })?;
        let mut out = Vec::new();
        for (is_else, patterns, body, span) in arms {
            if is_else {
                twice |= otherwise.is_some();
                otherwise = Some(body);
            } else {
                out.push(MatchArm {
                    patterns,
                    body,
                    span,
                });
            }
        }
        if twice {
            return None;
        }
        Some(StmtKind::Match {
            subject: Box::new(subject),
            arms: out,
            otherwise,
        })
    }

    /// `patterns = { pattern ~ ("," ~ nl* ~ pattern)* }`
    fn patterns(&mut self) -> Option<Vec<Pattern>> {
        let mut out = vec![self.pattern()?];
        self.skip();
        let mut first = true;
        loop {
            let save = self.pos;
            if !first {
                self.skip();
            }
            if !self.eat(b',') {
                self.pos = save;
                break;
            }
            self.gap();
            out.push(self.pattern()?);
            first = false;
        }
        Some(out)
    }

    /// `pattern = { like_pattern | string | var | signed_number | regex }`
    fn pattern(&mut self) -> Option<Pattern> {
        match self.peek() {
            b'l' if self.kw("like") => {
                self.skip();
                Some(Pattern::Like(self.text()?))
            }
            b'"' | b'\'' | b'%' => Some(Pattern::Text(self.text()?)),
            b'-' | b'0'..=b'9' => {
                let start = self.pos;
                self.eat(b'-');
                self.number_text()?;
                Some(Pattern::Number(
                    self.src[start..self.pos].to_string(),
                    self.span(start),
                ))
            }
            b'/' => Some(Pattern::Regex(self.regex()?)),
            _ => None,
        }
    }

    /// `http = { kw_http ~ method ~ text ~ http_block? }`
    fn http(&mut self) -> Option<StmtKind> {
        self.skip();
        let m = self.pos;
        while self.peek().is_ascii_alphabetic() {
            self.pos += 1;
        }
        let written = &self.src[m..self.pos];
        let method = Method::ALL
            .iter()
            .copied()
            .find(|x| x.as_str().eq_ignore_ascii_case(written))?;
        self.skip();
        let url = self.text()?;
        let mut http = Http::new(method, url);
        self.skip();
        if self.at(b'{') {
            // Options given at most once, by bit; the three bodies share one.
            let mut seen = 0u32;
            self.braced(|p| {
                let start = p.pos;
                let once = |seen: &mut u32, bit: u32| {
                    let first = *seen & bit == 0;
                    *seen |= bit;
                    first.then_some(())
                };
                if p.kw("header") {
                    p.skip();
                    let n = p.pos;
                    while matches!(p.peek(), b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_')
                    {
                        p.pos += 1;
                    }
                    if p.pos == n {
                        return None;
                    }
                    let name = p.src[n..p.pos].to_string();
                    p.skip();
                    if !p.eat(b':') {
                        return None;
                    }
                    p.skip();
                    let value = p.text()?;
                    http.headers.push(Header {
                        name,
                        value,
                        span: p.span(start),
                    });
                } else if p.kw("headers") {
                    once(&mut seen, 1)?;
                    http.headers_to = Some(p.arrow_var()?);
                } else if p.kw("query") {
                    p.skip();
                    let name = if matches!(p.peek(), b'"' | b'\'') {
                        p.string()?.as_constant().unwrap_or_default()
                    } else {
                        p.param_name()?
                    };
                    p.skip();
                    if !p.eat(b':') {
                        return None;
                    }
                    p.gap();
                    let value = p.top_expr()?;
                    http.query.push(QueryParam {
                        name,
                        value,
                        span: p.span(start),
                    });
                } else if p.kw("form") || p.kw("json") {
                    once(&mut seen, 2)?;
                    let json = p.src[start..].starts_with('j');
                    p.skip();
                    let e = p.top_expr()?;
                    let body = if json {
                        HttpBody::Json(e)
                    } else {
                        HttpBody::Form(e)
                    };
                    http.body = Some((body, p.span(start)));
                } else if p.kw("text") {
                    once(&mut seen, 2)?;
                    p.skip();
                    let t = p.text()?;
                    http.body = Some((HttpBody::Text(t), p.span(start)));
                } else if p.kw("timeout") {
                    once(&mut seen, 4)?;
                    p.skip();
                    let d = p.pos;
                    if !p.digits() {
                        return None;
                    }
                    p.fraction();
                    while let Some(c) = p.char_at(p.pos).filter(|c| is_ident_continue(*c)) {
                        p.pos += c.len_utf8();
                    }
                    http.timeout_ms = Some(duration_ms(&p.src[d..p.pos])?);
                } else if p.kw("redirects") {
                    once(&mut seen, 8)?;
                    p.skip();
                    let d = p.pos;
                    if !p.digits() || p.continues_ident(p.pos) {
                        return None;
                    }
                    let n = p.src[d..p.pos].parse::<u32>().ok().filter(|n| *n <= 100)?;
                    http.redirects = Some(n);
                } else if p.kw("body") {
                    once(&mut seen, 16)?;
                    http.body_to = Some(p.arrow_var()?);
                } else if p.kw("status") {
                    once(&mut seen, 32)?;
                    http.status_to = Some(p.arrow_var()?);
                } else if p.kw("on") {
                    once(&mut seen, 64)?;
                    p.skip();
                    if !p.kw("error") {
                        return None;
                    }
                    p.skip();
                    if !p.kw("goto") {
                        return None;
                    }
                    p.skip();
                    http.on_error = Some(p.target()?);
                } else {
                    return None;
                }
                Some(())
            })?;
        }
        Some(StmtKind::Http(Box::new(http)))
    }

    /// `-> %var%` after `body`, `status` or `headers`.
    fn arrow_var(&mut self) -> Option<VarPath> {
        self.skip();
        if !self.eat_str("->") {
            return None;
        }
        self.skip();
        self.var()
    }

    /// `param_name = @{ (!(":" | WHITE_SPACE | "#") ~ ANY)+ }`
    fn param_name(&mut self) -> Option<String> {
        let start = self.pos;
        while let Some(c) = self.char_at(self.pos) {
            if c == ':' || c == '#' || pest::unicode::WHITE_SPACE(c) {
                break;
            }
            self.pos += c.len_utf8();
        }
        (self.pos > start).then(|| self.src[start..self.pos].to_string())
    }

    // ------------------------------------------------------------ expressions

    /// An expression where the lowering calls `expr` on its own: checked for depth as it does.
    fn top_expr(&mut self) -> Option<Expr> {
        let e = self.expr()?;
        (!depth_exceeds(&e, MAX_EXPR_DEPTH)).then_some(e)
    }

    /// `expr = { cond_expr ~ (nl* ~ pipe ~ nl* ~ (call_expr | ident))* }`
    fn expr(&mut self) -> Option<Expr> {
        let mut value = self.cond_expr()?;
        self.skip();
        let mut chain = 0;
        loop {
            let save = self.pos;
            if chain > 0 {
                self.skip();
            }
            self.nls();
            self.skip();
            if !self.eat(b'|') {
                self.pos = save;
                break;
            }
            chain += 1;
            if chain > MAX_CHAIN {
                return None;
            }
            self.gap();
            let start = self.pos;
            let func = self.ident()?;
            let after = self.pos;
            self.skip();
            let mut args = if self.at(b'(') {
                self.call_args()?
            } else {
                self.pos = after;
                Vec::new()
            };
            let whole = value.span.join(self.span(start));
            args.insert(0, value);
            value = mk(
                ExprKind::Call {
                    func,
                    args,
                    style: CallStyle::Pipe,
                },
                whole,
            );
        }
        Some(value)
    }

    /// `cond_expr = { op_expr ~ (kw_if ~ op_expr ~ kw_else ~ op_expr)* }`
    fn cond_expr(&mut self) -> Option<Expr> {
        let first = self.op_expr()?;
        self.skip();
        if !self.kw("if") {
            return Some(first);
        }
        let mut parts = vec![first];
        loop {
            self.skip();
            let cond = self.op_expr()?;
            self.skip();
            if !self.kw("else") {
                return None;
            }
            self.skip();
            let otherwise = self.op_expr()?;
            parts.push(cond);
            parts.push(otherwise);
            if parts.len() > 2 * MAX_CHAIN + 1 {
                return None;
            }
            let save = self.pos;
            self.skip();
            if !self.kw("if") {
                self.pos = save;
                break;
            }
        }
        fold_cond(parts)
    }

    /// `prefix*`, appended to `toks`; returns how many.
    fn prefixes(&mut self, toks: &mut Vec<Tok>) -> usize {
        let mut n = 0;
        loop {
            let save = self.pos;
            if n > 0 {
                self.skip();
            }
            let start = self.pos;
            let op = if self.eat(b'-') {
                UnaryOp::Neg
            } else if self.kw("not") {
                UnaryOp::Not
            } else {
                self.pos = save;
                return n;
            };
            toks.push(Tok::Prefix(op, self.span(start)));
            n += 1;
        }
    }

    /// `infix`, in the grammar's order of alternatives.
    fn infix(&mut self) -> Option<BinaryOp> {
        use BinaryOp::*;
        let next = self.b.get(self.pos + 1).copied().unwrap_or(0);
        let (op, len) = match self.peek() {
            b'o' if self.kw("or") => return Some(Or),
            b'a' if self.kw("and") => return Some(And),
            b'=' if next == b'=' => (Eq, 2),
            b'!' if next == b'=' => (Ne, 2),
            b'<' if next == b'=' => (Le, 2),
            b'>' if next == b'=' => (Ge, 2),
            b'<' => (Lt, 1),
            b'>' => (Gt, 1),
            b'n' => {
                if self.starts("not_in") && !self.continues_ident(self.pos + 6) {
                    self.pos += 6;
                    return Some(NotIn);
                }
                if !self.starts("not") {
                    return None;
                }
                let mut i = self.pos + 3;
                while matches!(self.b.get(i), Some(b' ' | b'\t')) {
                    i += 1;
                }
                if i == self.pos + 3
                    || !self.b[i..].starts_with(b"in")
                    || self.continues_ident(i + 2)
                {
                    return None;
                }
                self.pos = i + 2;
                return Some(NotIn);
            }
            b'i' if self.kw("in") => return Some(In),
            b'l' if self.kw("like") => return Some(Like),
            b'm' if self.kw("matches") => return Some(Matches),
            b'+' if next != b'=' => (Add, 1),
            b'-' if next != b'=' && next != b'>' => (Sub, 1),
            b'*' if next == b'*' => (Pow, 2),
            b'*' if next != b'=' => (Mul, 1),
            b'/' if next == b'/' => (FloorDiv, 2),
            b'/' if next != b'=' => (Div, 1),
            _ => return None,
        };
        self.pos += len;
        Some(op)
    }

    /// `op_expr = { prefix* ~ postfix_expr ~ (infix ~ nl* ~ prefix* ~ postfix_expr)* }`,
    /// resolved by precedence the way pest's `PrattParser` does.
    fn op_expr(&mut self) -> Option<Expr> {
        let mut toks = Vec::new();
        let mut operators = self.prefixes(&mut toks);
        self.skip();
        let first = self.postfix_expr()?;
        self.skip();
        let save = self.pos;
        let Some(op) = self.infix() else {
            self.pos = save;
            if toks.is_empty() {
                return Some(first);
            }
            if operators > MAX_CHAIN {
                return None;
            }
            toks.push(Tok::Operand(first));
            return Some(pratt(&mut toks.into_iter().peekable(), 0));
        };
        toks.push(Tok::Operand(first));
        toks.push(Tok::Infix(op));
        operators += 1;
        loop {
            self.gap();
            operators += self.prefixes(&mut toks);
            self.skip();
            toks.push(Tok::Operand(self.postfix_expr()?));
            if operators > MAX_CHAIN {
                return None;
            }
            let save = self.pos;
            self.skip();
            match self.infix() {
                Some(op) => {
                    toks.push(Tok::Infix(op));
                    operators += 1;
                }
                None => {
                    self.pos = save;
                    break;
                }
            }
        }
        if operators > MAX_CHAIN {
            return None;
        }
        Some(pratt(&mut toks.into_iter().peekable(), 0))
    }

    /// `postfix_expr = { primary ~ (&("." | "[") ~ (method_call | index | member))* }`
    fn postfix_expr(&mut self) -> Option<Expr> {
        let mut value = self.primary()?;
        self.skip();
        let mut n = 0;
        loop {
            let save = self.pos;
            if n > 0 {
                self.skip();
            }
            let start = self.pos;
            value = match self.peek() {
                b'.' => {
                    self.pos += 1;
                    self.skip();
                    let name_at = self.pos;
                    if let Some(func) = self.ident() {
                        let after = self.pos;
                        self.skip();
                        if self.at(b'(') {
                            let mut args = vec![value];
                            args.extend(self.call_args()?);
                            let whole = args[0].span.join(self.span(start));
                            mk(
                                ExprKind::Call {
                                    func,
                                    args,
                                    style: CallStyle::Method,
                                },
                                whole,
                            )
                        } else {
                            self.pos = after;
                            let whole = value.span.join(self.span(start));
                            mk(ExprKind::Member(Box::new(value), func), whole)
                        }
                    } else if self.digits() {
                        let key = Ident {
                            name: self.src[name_at..self.pos].to_string(),
                            span: self.span(name_at),
                        };
                        let whole = value.span.join(self.span(start));
                        mk(ExprKind::Member(Box::new(value), key), whole)
                    } else {
                        self.pos = save;
                        break;
                    }
                }
                b'[' => {
                    let i = self.enclosed(b']', false)?;
                    let whole = value.span.join(self.span(start));
                    mk(ExprKind::Index(Box::new(value), Box::new(i)), whole)
                }
                _ => {
                    self.pos = save;
                    break;
                }
            };
            n += 1;
            if n > MAX_CHAIN {
                return None;
            }
        }
        Some(value)
    }

    /// `primary = _{ var | string | number | call_expr | literal | name | list | dict | paren
    /// | regex }`: the first character decides, except among the last three that start with a
    /// letter.
    fn primary(&mut self) -> Option<Expr> {
        let start = self.pos;
        let kind = match self.peek() {
            b'%' => ExprKind::Var(self.var()?),
            b'"' | b'\'' => ExprKind::Str(self.string()?),
            b'0'..=b'9' => ExprKind::Number(crate::value::Number::parse(self.number_text()?)?),
            b'[' => {
                self.pos += 1;
                ExprKind::List(self.list_items(b']', Self::expr)?)
            }
            b'{' => {
                self.pos += 1;
                ExprKind::Dict(self.list_items(b'}', |p| {
                    let k = p.expr()?;
                    p.gap();
                    if !p.eat(b':') {
                        return None;
                    }
                    p.gap();
                    Some((k, p.expr()?))
                })?)
            }
            b'(' => return self.enclosed(b')', false),
            b'/' => ExprKind::Regex(self.regex()?),
            _ => {
                let id = self.ident()?;
                let after = self.pos;
                self.skip();
                if self.at(b'(') {
                    let args = self.call_args()?;
                    ExprKind::Call {
                        func: id,
                        args,
                        style: CallStyle::Plain,
                    }
                } else {
                    self.pos = after;
                    match id.name.as_str() {
                        "true" | "True" => ExprKind::Bool(true),
                        "false" | "False" => ExprKind::Bool(false),
                        "null" | "None" => ExprKind::Null,
                        "and" | "or" | "not" | "in" | "if" | "else" | "like" | "matches" => {
                            return None
                        }
                        _ => ExprKind::Name(id),
                    }
                }
            }
        };
        Some(mk(kind, self.span(start)))
    }

    /// The elements of a list, a dict or call arguments after the opening bracket, separated
    /// by commas (a trailing one allowed) with line breaks anywhere, up to the closing one.
    fn list_items<T>(
        &mut self,
        close: u8,
        mut element: impl FnMut(&mut Self) -> Option<T>,
    ) -> Option<Vec<T>> {
        self.enter()?;
        self.gap();
        let mut out = Vec::new();
        if !self.at(close) {
            out.push(element(self)?);
            self.gap();
            while self.eat(b',') {
                self.gap();
                if self.at(close) {
                    break;
                }
                out.push(element(self)?);
                self.gap();
            }
        }
        if !self.eat(close) {
            return None;
        }
        self.leave();
        Some(out)
    }

    /// One expression between brackets, line breaks allowed inside: an index `[…]` or
    /// parentheses, at the opening bracket. `top`: the lowering checks its depth on its own.
    fn enclosed(&mut self, close: u8, top: bool) -> Option<Expr> {
        self.pos += 1;
        self.enter()?;
        self.gap();
        let e = if top { self.top_expr()? } else { self.expr()? };
        self.gap();
        if !self.eat(close) {
            return None;
        }
        self.leave();
        Some(e)
    }

    /// `"(" ~ args ~ ")"`, at the `(`.
    fn call_args(&mut self) -> Option<Vec<Expr>> {
        self.pos += 1;
        self.list_items(b')', Self::arg)
    }

    /// `arg = _{ lambda | expr }`
    fn arg(&mut self) -> Option<Expr> {
        let start = self.pos;
        let Some(params) = self.lambda_head() else {
            return self.expr();
        };
        self.gap();
        let body = self.expr()?;
        Some(mk(
            ExprKind::Lambda {
                params,
                body: Box::new(body),
            },
            self.span(start),
        ))
    }

    /// A lambda's parameters and its `=>`; `None`, with nothing consumed, when the argument
    /// is not a lambda.
    fn lambda_head(&mut self) -> Option<Vec<Ident>> {
        let save = self.pos;
        let head = self.lambda_params();
        if head.is_none() {
            self.pos = save;
        }
        head
    }

    fn lambda_params(&mut self) -> Option<Vec<Ident>> {
        let params = if self.eat(b'(') {
            self.gap();
            let mut params = Vec::new();
            if let Some(first) = self.ident() {
                params.push(first);
                self.gap();
                while self.eat(b',') {
                    self.gap();
                    params.push(self.ident()?);
                    self.gap();
                }
            }
            if !self.eat(b')') {
                return None;
            }
            params
        } else {
            vec![self.ident()?]
        };
        self.skip();
        self.eat_str("=>").then_some(params)
    }
}

/// pest's Pratt parser over an operator chain (`pratt_parser.rs`, `expr`/`nud`/`led`).
fn pratt(toks: &mut std::iter::Peekable<std::vec::IntoIter<Tok>>, rbp: u32) -> Expr {
    let mut lhs = match toks.next() {
        Some(Tok::Prefix(op, span)) => {
            let rhs = pratt(toks, prefix_power(op) - 1);
            let whole = span.join(rhs.span);
            mk(ExprKind::Unary(op, Box::new(rhs)), whole)
        }
        Some(Tok::Operand(e)) => e,
        _ => mk(ExprKind::Invalid, Span::default()),
    };
    while let Some(Tok::Infix(op)) = toks.peek() {
        let op = *op;
        let power = infix_power(op);
        if rbp >= power {
            break;
        }
        toks.next();
        let rhs = if op == BinaryOp::Pow {
            pratt(toks, power - 1)
        } else {
            pratt(toks, power)
        };
        let whole = lhs.span.join(rhs.span);
        lhs = mk(ExprKind::Binary(op, Box::new(lhs), Box::new(rhs)), whole);
    }
    lhs
}
