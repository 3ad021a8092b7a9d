//! Checked program in, flat code out: each block becomes a list of instructions with explicit
//! jumps, so a session's position is just (block, instruction) and `wait` can stop and resume
//! anywhere — inside an `if`, a `match` arm or a called block — without a saved tree path.
//! Every block, scenario and button target is resolved to a [`BlockId`] here.

use std::collections::HashMap;

use crate::check::{is_special, BlockId, Program};
use crate::diagnostic::FileId;
use crate::syntax::ast::{
    self, AssignOp, BinaryOp, ButtonKind, Expr, ExprKind, ExtractKind, LValue, Pattern, StmtKind,
    Template, TemplatePart, VarPath,
};
use crate::syntax::Span;
use crate::value::Value;

/// An item of a `say` body as the interpreter keeps it.
#[derive(Clone, Debug)]
pub enum Button {
    Text(Template),
    /// Label, target, the target as written, and the `set %v% = EXPR` it carries.
    Goto(Template, BlockId, String, Option<Box<(VarPath, Expr)>>),
    Link(Template, Template),
    Image(Template),
    File(Template, Template),
    /// `for %x% in EXPR { items }`.
    For(Box<(VarPath, Expr)>, Vec<Button>),
}

/// When a `schedule` comes due.
#[derive(Clone, Debug)]
pub enum When {
    After(u64),
    At(Expr),
}

/// One arm of a compiled `match`: its patterns and where its code starts.
#[derive(Clone, Debug)]
pub struct Arm {
    pub patterns: Vec<Pattern>,
    pub to: usize,
}

#[derive(Clone, Debug)]
pub enum Instr {
    Say {
        text: Template,
        buttons: Vec<Button>,
    },
    Wait {
        into: Option<VarPath>,
        /// `timeout DURATION goto BLOCK`: milliseconds and the block.
        timeout: Option<(u64, BlockId)>,
    },
    /// The start of a `for`: the elements of `iter` go into the hidden variable `state`
    /// (with the position reached), so a `wait` inside the loop is saved with the session.
    ForStart {
        state: VarPath,
        iter: Expr,
    },
    /// The next element into `var`, or on to `end` when there is none.
    ForNext {
        state: VarPath,
        var: VarPath,
        end: usize,
    },
    Schedule {
        when: When,
        to: BlockId,
        name: Option<String>,
        span: Span,
    },
    Cancel(String),
    Set {
        target: LValue,
        op: AssignOp,
        value: Fast,
    },
    Unset {
        target: LValue,
    },
    /// Continue at `to` when `cond` is false.
    JumpUnless {
        cond: Fast,
        to: usize,
    },
    Jump {
        to: usize,
    },
    /// Evaluate the subject, try the arms in order; `otherwise` when none matches.
    Match {
        subject: Expr,
        arms: Vec<Arm>,
        otherwise: usize,
    },
    Goto(BlockId),
    Call(BlockId),
    Return,
    End,
    Extract {
        kind: ExtractKind,
        from: Expr,
        into: VarPath,
        otherwise: BlockId,
    },
    Http(Box<ast::Http>, Option<BlockId>),
    Notify(Template),
    Log(Template),
}

/// An expression of a `set` or a condition, specialised for the interpreter's hot path:
/// constants are values already, temporaries are slots, arithmetic and comparisons on them are
/// nodes of their own; everything else stays a syntax tree ([`Fast::Expr`]).
#[derive(Clone, Debug)]
pub enum Fast {
    Const(Value),
    /// A whole variable (no path) that has a slot.
    Var(VarPath),
    Bin(BinaryOp, Box<Fast>, Box<Fast>, Span),
    Expr(Expr),
}

impl Fast {
    /// Specialises an expression whose variables already have their slots.
    fn from_expr(e: Expr) -> Fast {
        match e.kind {
            ExprKind::Number(n) => Fast::Const(Value::Number(n)),
            ExprKind::Bool(b) => Fast::Const(Value::Bool(b)),
            ExprKind::Null => Fast::Const(Value::Null),
            ExprKind::Var(v) if v.slot.is_some() && v.path.is_empty() => Fast::Var(v),
            ExprKind::Binary(op, a, b) if FAST_OPS.contains(&op) => Fast::Bin(
                op,
                Box::new(Fast::from_expr(*a)),
                Box::new(Fast::from_expr(*b)),
                e.span,
            ),
            kind => Fast::Expr(Expr { kind, span: e.span }),
        }
    }

    /// The syntax tree still inside, for the passes that walk expressions.
    fn exprs_mut(&mut self, f: &mut dyn FnMut(&mut Expr)) {
        match self {
            Fast::Expr(e) => f(e),
            Fast::Bin(_, a, b, _) => {
                a.exprs_mut(f);
                b.exprs_mut(f);
            }
            Fast::Const(_) | Fast::Var(_) => {}
        }
    }
}

/// Operators that take both operands evaluated (not `and`, `or`, `matches`).
const FAST_OPS: [BinaryOp; 11] = [
    BinaryOp::Add,
    BinaryOp::Sub,
    BinaryOp::Mul,
    BinaryOp::Div,
    BinaryOp::FloorDiv,
    BinaryOp::Eq,
    BinaryOp::Ne,
    BinaryOp::Lt,
    BinaryOp::Le,
    BinaryOp::Gt,
    BinaryOp::Ge,
];

/// An instruction and the source it came from (for error events).
#[derive(Clone, Debug)]
pub struct Op {
    pub instr: Instr,
    pub span: Span,
}

#[derive(Clone, Debug)]
pub struct Block {
    pub name: String,
    pub scenario: usize,
    pub file: FileId,
    pub code: Vec<Op>,
}

/// The whole bot as flat code, indexed by [`BlockId`].
#[derive(Clone, Debug, Default)]
pub struct Code {
    pub blocks: Vec<Block>,
    /// Names of the temporary variables, by slot.
    pub slots: Vec<String>,
    /// Slot of each temporary variable name.
    pub slot_of: HashMap<String, u32>,
}

impl Code {
    /// Compiles every block of a checked program. Targets were resolved by the checker, so a
    /// failed lookup here is a bug; it degrades to ending the run rather than panicking.
    pub fn compile(program: &Program) -> Code {
        let mut blocks = Vec::with_capacity(program.blocks.len());
        for (i, info) in program.blocks.iter().enumerate() {
            let scenario = &program.scenarios[info.scenario];
            let mut c = Compiler {
                program,
                scenario: info.scenario,
                block: i,
                code: Vec::new(),
            };
            if let Some(block) = program.block_ast(BlockId(i as u32)) {
                c.stmts(&block.body);
            }
            c.code.push(Op {
                instr: Instr::End,
                span: info.span,
            });
            blocks.push(Block {
                name: info.name.clone(),
                scenario: info.scenario,
                file: scenario.file,
                code: c.code,
            });
        }
        let mut slots = Slots {
            program,
            names: Vec::new(),
            index: HashMap::new(),
        };
        for block in &mut blocks {
            for op in &mut block.code {
                slots.instr(&mut op.instr);
                specialise(&mut op.instr);
            }
        }
        Code {
            blocks,
            slots: slots.names,
            slot_of: slots.index,
        }
    }
}

/// Turns the expressions of `set` and conditions into [`Fast`] form (after slots are known).
fn specialise(instr: &mut Instr) {
    let slot = match instr {
        Instr::Set { value, .. } => value,
        Instr::JumpUnless { cond, .. } => cond,
        _ => return,
    };
    if let Fast::Expr(e) = std::mem::replace(slot, Fast::Const(Value::Null)) {
        *slot = Fast::from_expr(e);
    }
}

/// Gives every temporary variable (neither declared `user`/`global` nor special) a slot and
/// writes it into each `%var%` of the code.
struct Slots<'p> {
    program: &'p Program,
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Slots<'_> {
    fn var(&mut self, v: &mut VarPath) {
        let name = &v.root.name;
        if is_special(name) || self.program.declarations.contains_key(name) {
            return;
        }
        let next = self.names.len() as u32;
        let slot = *self.index.entry(name.clone()).or_insert_with(|| {
            self.names.push(name.clone());
            next
        });
        v.slot = Some(slot);
    }

    fn template(&mut self, t: &mut Template) {
        for part in &mut t.parts {
            match part {
                TemplatePart::Var(v) => self.var(v),
                TemplatePart::Expr(e) => self.expr(e),
                TemplatePart::Text(_) => {}
            }
        }
    }

    fn expr(&mut self, e: &mut Expr) {
        match &mut e.kind {
            ExprKind::Var(v) => self.var(v),
            ExprKind::Str(t) => self.template(t),
            ExprKind::List(xs) => xs.iter_mut().for_each(|x| self.expr(x)),
            ExprKind::Dict(kv) => kv.iter_mut().for_each(|(k, v)| {
                self.expr(k);
                self.expr(v);
            }),
            ExprKind::Unary(_, x) | ExprKind::Member(x, _) => self.expr(x),
            ExprKind::Binary(_, a, b) | ExprKind::Index(a, b) => {
                self.expr(a);
                self.expr(b);
            }
            ExprKind::Slice {
                value,
                from,
                to,
                step,
            } => {
                self.expr(value);
                for part in [from, to, step].into_iter().flatten() {
                    self.expr(part);
                }
            }
            ExprKind::Cond {
                cond,
                then,
                otherwise,
            } => {
                self.expr(cond);
                self.expr(then);
                self.expr(otherwise);
            }
            ExprKind::Call { args, .. } => args.iter_mut().for_each(|x| self.expr(x)),
            ExprKind::Lambda { body, .. } => self.expr(body),
            ExprKind::Null
            | ExprKind::Bool(_)
            | ExprKind::Number(_)
            | ExprKind::Name(_)
            | ExprKind::Regex(_)
            | ExprKind::Invalid => {}
        }
    }

    fn buttons(&mut self, buttons: &mut [Button]) {
        for b in buttons {
            match b {
                Button::Text(l) | Button::Image(l) => self.template(l),
                Button::Goto(l, _, _, set) => {
                    self.template(l);
                    if let Some(set) = set {
                        self.var(&mut set.0);
                        self.expr(&mut set.1);
                    }
                }
                Button::Link(l, u) | Button::File(l, u) => {
                    self.template(l);
                    self.template(u);
                }
                Button::For(head, items) => {
                    self.var(&mut head.0);
                    self.expr(&mut head.1);
                    self.buttons(items);
                }
            }
        }
    }

    fn lvalue(&mut self, l: &mut LValue) {
        self.var(&mut l.var);
        l.index.iter_mut().for_each(|x| self.expr(x));
    }

    fn instr(&mut self, instr: &mut Instr) {
        match instr {
            Instr::Say { text, buttons } => {
                self.template(text);
                self.buttons(buttons);
            }
            Instr::Wait { into, .. } => {
                if let Some(v) = into {
                    self.var(v);
                }
            }
            Instr::ForStart { state, iter } => {
                self.var(state);
                self.expr(iter);
            }
            Instr::ForNext { state, var, .. } => {
                self.var(state);
                self.var(var);
            }
            Instr::Schedule { when, .. } => {
                if let When::At(e) = when {
                    self.expr(e);
                }
            }
            Instr::Cancel(_) => {}
            Instr::Set { target, value, .. } => {
                self.lvalue(target);
                value.exprs_mut(&mut |e| self.expr(e));
            }
            Instr::Unset { target } => self.lvalue(target),
            Instr::JumpUnless { cond, .. } => cond.exprs_mut(&mut |e| self.expr(e)),
            Instr::Match { subject, arms, .. } => {
                self.expr(subject);
                for arm in arms {
                    for p in &mut arm.patterns {
                        if let Pattern::Text(t) | Pattern::Like(t) = p {
                            self.template(t);
                        }
                    }
                }
            }
            Instr::Extract { from, into, .. } => {
                self.expr(from);
                self.var(into);
            }
            Instr::Http(http, _) => {
                self.template(&mut http.url);
                for h in &mut http.headers {
                    self.template(&mut h.value);
                }
                for q in &mut http.query {
                    self.expr(&mut q.value);
                }
                match &mut http.body {
                    Some((ast::HttpBody::Form(e) | ast::HttpBody::Json(e), _)) => self.expr(e),
                    Some((ast::HttpBody::Text(t), _)) => self.template(t),
                    None => {}
                }
                for v in [&mut http.body_to, &mut http.status_to, &mut http.headers_to]
                    .into_iter()
                    .flatten()
                {
                    self.var(v);
                }
            }
            Instr::Notify(t) | Instr::Log(t) => self.template(t),
            Instr::Jump { .. } | Instr::Goto(_) | Instr::Call(_) | Instr::Return | Instr::End => {}
        }
    }
}

struct Compiler<'p> {
    program: &'p Program,
    scenario: usize,
    /// The block being compiled, by index.
    block: usize,
    code: Vec<Op>,
}

impl Compiler<'_> {
    fn buttons(&self, items: &[ast::SayItem]) -> Vec<Button> {
        items
            .iter()
            .filter_map(|item| match item {
                ast::SayItem::Button(b) => match &b.kind {
                    ButtonKind::Text => Some(Button::Text(b.label.clone())),
                    ButtonKind::Link(url) => Some(Button::Link(b.label.clone(), url.clone())),
                    ButtonKind::Goto(t) => self.resolve(t).map(|id| {
                        Button::Goto(b.label.clone(), id, t.block.name.clone(), b.set.clone())
                    }),
                },
                ast::SayItem::Image(url, _) => Some(Button::Image(url.clone())),
                ast::SayItem::File(url, name, _) => Some(Button::File(url.clone(), name.clone())),
                ast::SayItem::For {
                    var, iter, items, ..
                } => Some(Button::For(
                    Box::new((var.clone(), iter.clone())),
                    self.buttons(items),
                )),
            })
            .collect()
    }

    fn resolve(&self, target: &ast::Target) -> Option<BlockId> {
        self.program.resolve(self.scenario, target)
    }

    fn emit(&mut self, instr: Instr, span: Span) -> usize {
        self.code.push(Op { instr, span });
        self.code.len() - 1
    }

    fn here(&self) -> usize {
        self.code.len()
    }

    fn patch(&mut self, at: usize, to: usize) {
        match &mut self.code[at].instr {
            Instr::JumpUnless { to: t, .. } | Instr::Jump { to: t } => *t = to,
            Instr::Match { otherwise, .. } => *otherwise = to,
            Instr::ForNext { end, .. } => *end = to,
            _ => {}
        }
    }

    fn jump_to(&mut self, target: &ast::Target, span: Span, make: fn(BlockId) -> Instr) {
        match self.resolve(target) {
            Some(id) => self.emit(make(id), span),
            None => self.emit(Instr::End, span),
        };
    }

    fn stmts(&mut self, stmts: &[ast::Stmt]) {
        for stmt in stmts {
            self.stmt(stmt);
        }
    }

    fn stmt(&mut self, stmt: &ast::Stmt) {
        let span = stmt.span;
        match &stmt.kind {
            StmtKind::Say { text, buttons } => {
                let buttons = self.buttons(buttons);
                self.emit(
                    Instr::Say {
                        text: text.clone(),
                        buttons,
                    },
                    span,
                );
            }
            StmtKind::Wait { into, timeout } => {
                let timeout = timeout
                    .as_ref()
                    .and_then(|t| Some((t.ms, self.resolve(&t.target)?)));
                let into = into.clone();
                self.emit(Instr::Wait { into, timeout }, span);
            }
            StmtKind::For { var, iter, body } => {
                // A name no variable can have: `#` cannot start one.
                let state = ast::VarPath {
                    root: ast::Ident {
                        name: format!("#for:{}:{}", self.block, self.here()),
                        span,
                    },
                    path: Vec::new(),
                    span,
                    slot: None,
                };
                let iter = (**iter).clone();
                self.emit(
                    Instr::ForStart {
                        state: state.clone(),
                        iter,
                    },
                    span,
                );
                let next = self.emit(
                    Instr::ForNext {
                        state,
                        var: (**var).clone(),
                        end: 0,
                    },
                    var.span,
                );
                self.stmts(body);
                self.emit(Instr::Jump { to: next }, span);
                let end = self.here();
                self.patch(next, end);
            }
            StmtKind::Schedule(s) => {
                let when = match &s.when {
                    ast::When::After(ms, _) => When::After(*ms),
                    ast::When::At(e) => When::At(e.clone()),
                };
                let name = s.name.as_ref().map(|(n, _)| n.clone());
                match self.resolve(&s.target) {
                    Some(to) => self.emit(
                        Instr::Schedule {
                            when,
                            to,
                            name,
                            span,
                        },
                        span,
                    ),
                    None => self.emit(Instr::End, span),
                };
            }
            StmtKind::Cancel(name, _) => {
                self.emit(Instr::Cancel(name.clone()), span);
            }
            StmtKind::Set { target, op, value } => {
                let instr = Instr::Set {
                    target: (**target).clone(),
                    op: *op,
                    value: Fast::Expr((**value).clone()),
                };
                self.emit(instr, span);
            }
            StmtKind::Unset { target } => {
                self.emit(
                    Instr::Unset {
                        target: (**target).clone(),
                    },
                    span,
                );
            }
            StmtKind::If {
                branches,
                otherwise,
            } => {
                let mut exits = Vec::new();
                for (cond, body) in branches {
                    let test = self.emit(
                        Instr::JumpUnless {
                            cond: Fast::Expr(cond.clone()),
                            to: 0,
                        },
                        cond.span,
                    );
                    self.stmts(body);
                    exits.push(self.emit(Instr::Jump { to: 0 }, span));
                    let next = self.here();
                    self.patch(test, next);
                }
                if let Some(body) = otherwise {
                    self.stmts(body);
                }
                let end = self.here();
                for exit in exits {
                    self.patch(exit, end);
                }
            }
            StmtKind::Match {
                subject,
                arms,
                otherwise,
            } => {
                let head = self.emit(
                    Instr::Match {
                        subject: (**subject).clone(),
                        arms: Vec::new(),
                        otherwise: 0,
                    },
                    subject.span,
                );
                let mut compiled = Vec::new();
                let mut exits = Vec::new();
                for arm in arms {
                    compiled.push(Arm {
                        patterns: arm.patterns.clone(),
                        to: self.here(),
                    });
                    self.stmts(&arm.body);
                    exits.push(self.emit(Instr::Jump { to: 0 }, arm.span));
                }
                let fallback = self.here();
                if let Some(body) = otherwise {
                    self.stmts(body);
                }
                let end = self.here();
                for exit in exits {
                    self.patch(exit, end);
                }
                if let Instr::Match {
                    arms, otherwise, ..
                } = &mut self.code[head].instr
                {
                    *arms = compiled;
                    *otherwise = fallback;
                }
            }
            StmtKind::Goto(t) => self.jump_to(t, span, Instr::Goto),
            StmtKind::Call(t) => self.jump_to(t, span, Instr::Call),
            StmtKind::Return => {
                self.emit(Instr::Return, span);
            }
            StmtKind::End => {
                self.emit(Instr::End, span);
            }
            StmtKind::Extract {
                kind,
                from,
                into,
                otherwise,
            } => match self.resolve(otherwise) {
                Some(id) => {
                    let instr = Instr::Extract {
                        kind: kind.clone(),
                        from: (**from).clone(),
                        into: (**into).clone(),
                        otherwise: id,
                    };
                    self.emit(instr, span);
                }
                None => {
                    self.emit(Instr::End, span);
                }
            },
            StmtKind::Http(http) => {
                let on_error = http.on_error.as_ref().and_then(|t| self.resolve(t));
                let mut http = http.clone();
                // The default targets are written out, so they get slots like any variable.
                let at = http.url.span;
                for (target, name) in [
                    (&mut http.body_to, "body"),
                    (&mut http.status_to, "status"),
                    (&mut http.headers_to, "headers"),
                ] {
                    target.get_or_insert_with(|| ast::VarPath {
                        root: ast::Ident {
                            name: name.into(),
                            span: at,
                        },
                        path: Vec::new(),
                        span: at,
                        slot: None,
                    });
                }
                self.emit(Instr::Http(http, on_error), span);
            }
            StmtKind::Notify(t) => {
                self.emit(Instr::Notify(t.clone()), span);
            }
            StmtKind::Log(t) => {
                self.emit(Instr::Log(t.clone()), span);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Sources;

    fn code(text: &str) -> Code {
        let sources = Sources::from_texts([("a.scn", text)]);
        match crate::compile(&sources) {
            Ok(program) => Code::compile(&program),
            Err(d) => panic!("{d:#?}"),
        }
    }

    fn shape(block: &Block) -> Vec<String> {
        block
            .code
            .iter()
            .map(|op| match &op.instr {
                Instr::Say { .. } => "say".into(),
                Instr::Wait { .. } => "wait".into(),
                Instr::ForStart { .. } => "for".into(),
                Instr::ForNext { end, .. } => format!("next else->{end}"),
                Instr::Schedule { to, .. } => format!("schedule {}", to.0),
                Instr::Cancel(_) => "cancel".into(),
                Instr::Set { .. } => "set".into(),
                Instr::Unset { .. } => "unset".into(),
                Instr::JumpUnless { to, .. } => format!("unless->{to}"),
                Instr::Jump { to } => format!("jump->{to}"),
                Instr::Match {
                    arms, otherwise, ..
                } => format!(
                    "match[{}]else->{otherwise}",
                    arms.iter()
                        .map(|a| a.to.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                Instr::Goto(b) => format!("goto {}", b.0),
                Instr::Call(b) => format!("call {}", b.0),
                Instr::Return => "return".into(),
                Instr::End => "end".into(),
                Instr::Extract { otherwise, .. } => format!("extract else {}", otherwise.0),
                Instr::Http(_, e) => format!("http {:?}", e.map(|b| b.0)),
                Instr::Notify(_) => "notify".into(),
                Instr::Log(_) => "log".into(),
            })
            .collect()
    }

    #[test]
    fn if_elif_else_becomes_jumps() {
        let c = code("on start goto a\nblock a {\n  if %x% == 1 { say 'one' } elif %x% == 2 { say 'two' } else { say 'many' }\n  wait\n}\n");
        assert_eq!(
            shape(&c.blocks[0]),
            [
                "unless->3",
                "say",
                "jump->7",
                "unless->6",
                "say",
                "jump->7",
                "say",
                "wait",
                "end"
            ]
        );
    }

    #[test]
    fn match_arms_jump_to_their_code() {
        let c = code("on start goto a\nblock a {\n  match %m% {\n    'a', 'b' => say 'x'\n    like 'c' => { say 'y'; goto b }\n    else => say 'z'\n  }\n}\nblock b { end }\n");
        assert_eq!(
            shape(&c.blocks[0]),
            [
                "match[1,3]else->6",
                "say",
                "jump->7",
                "say",
                "goto 1",
                "jump->7",
                "say",
                "end"
            ]
        );
    }
}
