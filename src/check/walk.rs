//! One visit of every trigger, statement and expression: resolves targets and function calls,
//! validates lambdas, bare names, regexes, URLs and assignments (errors), and collects the facts
//! the warnings are computed from: the jumps between blocks and which variables are read and
//! assigned.

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet};

use super::flow::{self, Edge, Graph};
use super::functions::{self, Function, FUNCTIONS};
use super::names::read_only;
use super::patterns::{check_url, compile_regex};
use super::{is_special, BlockId, Program, SPECIAL_VARIABLES};
use crate::diagnostic::{did_you_mean, Code, Diagnostic, Diagnostics, FileId};
use crate::syntax::ast::{
    BinaryOp, ButtonKind, CallStyle, Event, Expr, ExprKind, ExtractKind, HttpBody, Ident, LValue,
    Pattern, RegexLit, Stmt, StmtKind, Target, Template, TemplatePart, VarPath,
};
use crate::syntax::{ast, Span};

/// What the warnings need to know about the whole bot.
pub(super) struct Facts<'a> {
    pub graph: Graph,
    /// Whether some target did not resolve: the graph then misses edges, and blocks it seems
    /// not to reach may be reached through the misspelt name.
    pub unresolved_targets: bool,
    /// The first read of each variable that is not special, in the order found.
    reads: Vec<Read<'a>>,
    assigned: HashSet<&'a str>,
    /// Every target that resolved, where it is written (for go to definition, references).
    pub references: Vec<super::Reference>,
    /// Every variable written in the bot, where (editor support).
    pub uses: Vec<super::VariableUse>,
    /// `cancel`s of a name no `schedule … as` gives.
    pub unknown_cancels: Vec<(&'a str, FileId, Span)>,
}

struct Read<'a> {
    name: &'a str,
    file: FileId,
    span: Span,
}

/// Whether the statements ahead can run, and if so whether a `wait` has certainly run before
/// them in this block: `Some(waited)`, or `None` after `goto`, `return` or `end`.
type Flow = Option<bool>;

/// The flow after branches that each start from the same point: a path that stopped does not
/// count, and a `wait` counts only if every path that goes on has waited.
fn join(a: Flow, b: Flow) -> Flow {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => Some(a && b),
    }
}

pub(super) fn walk<'a>(
    program: &Program,
    files: &'a [ast::File],
    warnings: bool,
    diagnostics: &mut Diagnostics,
) -> Facts<'a> {
    let mut walker = Walker {
        program,
        diagnostics,
        warnings,
        file: 0,
        params: Vec::new(),
        files,
        callee_waits: vec![None; program.blocks.len()],
        graph: Graph::with_capacity(program.blocks.len()),
        first_read: HashMap::new(),
        reads: Vec::new(),
        assigned: HashSet::new(),
        valid_regexes: HashSet::new(),
        unresolved_targets: false,
        references: Vec::new(),
        uses: Vec::new(),
        timer_names: HashSet::new(),
        cancels: Vec::new(),
    };
    for (file_id, file) in files.iter().enumerate() {
        walker.file = file_id;
        for decl in &file.declarations {
            walker.assigned.insert(&decl.var.name);
            walker.uses.push(super::VariableUse {
                file: file_id,
                span: decl.var.span,
                name: decl.var.name.clone(),
            });
            walker.expr(&decl.init);
        }
        for trigger in &file.triggers {
            walker.trigger(trigger);
        }
        let range = program.scenarios[file_id].block_range.clone();
        for id in range {
            walker.graph.start_block(BlockId(id));
            if let Some(index) = program.blocks[id as usize].index {
                walker.stmts(&file.blocks[index].body, Some(false));
            }
        }
    }
    walker.graph.finish();
    let unknown_cancels = walker
        .cancels
        .iter()
        .filter(|(name, ..)| !walker.timer_names.contains(name))
        .map(|&(name, file, span)| (name, file, span))
        .collect();
    Facts {
        unknown_cancels,
        graph: walker.graph,
        unresolved_targets: walker.unresolved_targets,
        reads: walker.reads,
        assigned: walker.assigned,
        references: walker.references,
        uses: walker.uses,
    }
}

impl Facts<'_> {
    /// The names assigned anywhere, sorted.
    pub fn assigned_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.assigned.iter().map(|n| n.to_string()).collect();
        names.sort();
        names
    }
}

/// `scn::unknown-timer`: a `cancel` of a name that no `schedule … as` in the bot gives.
pub(super) fn unknown_cancels(facts: &Facts<'_>, diagnostics: &mut Diagnostics) {
    for &(name, file, span) in &facts.unknown_cancels {
        diagnostics.push(
            Diagnostic::new(
                Code::UnknownTimer,
                file,
                span,
                format!(
                    "no `schedule … as {name:?}` in the bot: this `cancel` never cancels anything"
                ),
            )
            .with_label("no timer has this name")
            .with_help(
                "name the timer where it is scheduled: `schedule 1d goto follow_up as \"cart\"`",
            ),
        );
    }
}

/// Warns about each variable read somewhere and assigned or declared nowhere, once, at its
/// first read.
pub(super) fn unassigned_variables(facts: &Facts<'_>, diagnostics: &mut Diagnostics) {
    let mut candidates: Option<Vec<&str>> = None;
    for read in &facts.reads {
        // Declarations are among the assigned names.
        if facts.assigned.contains(read.name) {
            continue;
        }
        // Sorted so that the suggestion does not depend on hash order.
        let candidates = candidates.get_or_insert_with(|| {
            let mut names: Vec<&str> = facts
                .assigned
                .iter()
                .copied()
                .chain(SPECIAL_VARIABLES.iter().copied())
                .collect();
            names.sort_unstable();
            names
        });
        let name = read.name;
        let help = match did_you_mean(name, candidates.iter().copied()) {
            Some(close) => format!("did you mean `%{close}%`?"),
            None => {
                format!("assign it first (`set %{name}% = …`) or declare it (`user %{name}% = …`)")
            }
        };
        diagnostics.push(
            Diagnostic::new(
                Code::UnassignedVariable,
                read.file,
                read.span,
                format!("`%{name}%` is read but never assigned"),
            )
            .with_label("no statement or declaration in the bot sets it")
            .with_help(help),
        );
    }
}

struct Walker<'a, 'p> {
    program: &'p Program,
    diagnostics: &'p mut Diagnostics,
    /// Whether facts for warnings are collected (not after syntax errors).
    warnings: bool,
    /// The file being visited; scenario `i` is file `i`.
    file: FileId,
    /// Parameters of the lambdas around the expression being visited, innermost last.
    params: Vec<&'a str>,
    files: &'a [ast::File],
    /// Per block, once a `call` of it is seen: whether it certainly waits before control comes
    /// back.
    callee_waits: Vec<Option<bool>>,
    graph: Graph,
    first_read: HashMap<&'a str, usize>,
    reads: Vec<Read<'a>>,
    assigned: HashSet<&'a str>,
    /// Regexes already compiled successfully, so a pattern repeated across a bot compiles once.
    valid_regexes: HashSet<(&'a str, &'a str)>,
    unresolved_targets: bool,
    references: Vec<super::Reference>,
    uses: Vec<super::VariableUse>,
    /// Names `schedule … as` gives, anywhere in the bot.
    timer_names: HashSet<&'a str>,
    /// Every `cancel`: its name and place.
    cancels: Vec<(&'a str, FileId, Span)>,
}

impl<'a> Walker<'a, '_> {
    fn report(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn trigger(&mut self, trigger: &'a ast::Trigger) {
        if let Event::MessageMatches(re) = &trigger.event {
            self.regex(re);
        }
        if let Some(id) = self.target(&trigger.target) {
            self.graph.roots.push(id);
        }
    }

    // ------------------------------------------------------------------ statements

    fn stmts(&mut self, body: &'a [Stmt], mut flow: Flow) -> Flow {
        for stmt in body {
            flow = self.stmt(stmt, flow);
        }
        flow
    }

    fn stmt(&mut self, stmt: &'a Stmt, flow: Flow) -> Flow {
        match &stmt.kind {
            StmtKind::Say { text, buttons } => {
                self.template(text);
                self.say_items(buttons);
                flow
            }
            StmtKind::Wait { into, timeout } => {
                if let Some(var) = into {
                    self.assign(var);
                }
                if let Some(t) = timeout {
                    self.jump(&t.target, flow.map(|_| true));
                }
                flow.map(|_| true)
            }
            StmtKind::For { var, iter, body } => {
                self.expr(iter);
                self.iterable(iter);
                self.assign(var);
                let out = self.stmts(body, flow);
                join(flow, out)
            }
            StmtKind::Schedule(schedule) => {
                if let ast::When::At(e) = &schedule.when {
                    self.expr(e);
                }
                if let Some((name, _)) = &schedule.name {
                    self.timer_names.insert(name);
                }
                // It fires in a turn of its own: never a loop without the user.
                self.jump(&schedule.target, None);
                flow
            }
            StmtKind::Cancel(name, span) => {
                self.cancels.push((name, self.file, *span));
                flow
            }
            StmtKind::Set { target, value, .. } => {
                self.lvalue(target);
                self.expr(value);
                flow
            }
            StmtKind::Unset { target } => {
                self.lvalue(target);
                flow
            }
            StmtKind::If {
                branches,
                otherwise,
            } => {
                let mut out = None;
                for (cond, body) in branches {
                    self.expr(cond);
                    out = join(out, self.stmts(body, flow));
                }
                join(out, self.otherwise(otherwise.as_deref(), flow))
            }
            StmtKind::Match {
                subject,
                arms,
                otherwise,
            } => {
                self.expr(subject);
                let mut out = None;
                for arm in arms {
                    for pattern in &arm.patterns {
                        match pattern {
                            Pattern::Text(t) | Pattern::Like(t) => self.template(t),
                            Pattern::Number(..) => {}
                            Pattern::Regex(re) => self.regex(re),
                        }
                    }
                    out = join(out, self.stmts(&arm.body, flow));
                }
                join(out, self.otherwise(otherwise.as_deref(), flow))
            }
            StmtKind::Goto(target) => {
                self.jump(target, flow);
                None
            }
            StmtKind::Call(target) => {
                let callee = self.jump(target, flow);
                match flow {
                    Some(false) => Some(callee.is_some_and(|id| self.callee_waits(id))),
                    other => other,
                }
            }
            StmtKind::Return | StmtKind::End => None,
            StmtKind::Extract {
                kind,
                from,
                into,
                otherwise,
            } => {
                self.expr(from);
                if let ExtractKind::Regex(re) = kind {
                    self.regex(re);
                }
                self.assign(into);
                self.jump(otherwise, flow);
                flow
            }
            StmtKind::Http(http) => {
                self.http(http, stmt.span, flow);
                flow
            }
            StmtKind::Notify(text) | StmtKind::Log(text) => {
                self.template(text);
                flow
            }
        }
    }

    /// The buttons and attachments of a `say` body.
    fn say_items(&mut self, items: &'a [ast::SayItem]) {
        for item in items {
            match item {
                ast::SayItem::Button(button) => {
                    self.template(&button.label);
                    match &button.kind {
                        ButtonKind::Text => {}
                        ButtonKind::Goto(target) => {
                            self.jump(target, None);
                        }
                        ButtonKind::Link(url) => self.template(url),
                    }
                    if let Some(set) = &button.set {
                        self.expr(&set.1);
                        self.assign(&set.0);
                    }
                }
                ast::SayItem::Image(url, _) => self.template(url),
                ast::SayItem::File(url, name, _) => {
                    self.template(url);
                    self.template(name);
                }
                ast::SayItem::For {
                    var, iter, items, ..
                } => {
                    self.expr(iter);
                    self.iterable(iter);
                    self.assign(var);
                    self.say_items(items);
                }
            }
        }
    }

    /// `scn::not-iterable`: `for` over a literal that is not a List, Dictionary or String.
    fn iterable(&mut self, iter: &Expr) {
        let what = match &iter.kind {
            ExprKind::Number(_) => "a Number",
            ExprKind::Bool(_) => "a Boolean",
            ExprKind::Null => "null",
            ExprKind::Regex(_) => "a regex",
            _ => return,
        };
        self.report(
            Diagnostic::new(
                Code::NotIterable,
                self.file,
                iter.span,
                format!("`for` goes over a List, a Dictionary or a String, not {what}"),
            )
            .with_label("nothing to go over")
            .with_help("go over a List (`[1, 2, 3]`), a Dictionary (its keys) or a String (its characters)"),
        );
    }

    /// An `else` branch; without one, the flow that skips the whole statement.
    fn otherwise(&mut self, otherwise: Option<&'a [Stmt]>, flow: Flow) -> Flow {
        match otherwise {
            Some(body) => self.stmts(body, flow),
            None => flow,
        }
    }

    fn http(&mut self, http: &'a ast::Http, span: Span, flow: Flow) {
        self.template(&http.url);
        if let Err(reason) = check_url(&http.url) {
            self.report(
                Diagnostic::new(
                    Code::InvalidUrl,
                    self.file,
                    http.url.span,
                    format!("invalid URL: {reason}"),
                )
                .with_label("not an http(s) URL")
                .with_help("URLs start with https:// or http://"),
            );
        }
        for header in &http.headers {
            self.template(&header.value);
            let owned = ["Host", "Content-Length", "Transfer-Encoding"]
                .into_iter()
                .find(|n| n.eq_ignore_ascii_case(&header.name));
            if let Some(owned) = owned {
                self.report(
                    Diagnostic::new(
                        Code::ForbiddenHeader,
                        self.file,
                        header.span,
                        format!("the `{owned}` header cannot be set by a scenario"),
                    )
                    .with_label("set by the runtime")
                    .with_help(if owned == "Host" {
                        "the host comes from the URL; with a value in it, a user could pick \
                         which site gets the request"
                    } else {
                        "the runtime frames the body itself; remove this header"
                    }),
                );
            }
        }
        for param in &http.query {
            self.expr(&param.value);
        }
        match &http.body {
            Some((HttpBody::Form(e) | HttpBody::Json(e), _)) => self.expr(e),
            Some((HttpBody::Text(t), _)) => self.template(t),
            None => {}
        }
        for (to, default) in [
            (&http.body_to, "body"),
            (&http.status_to, "status"),
            (&http.headers_to, "headers"),
        ] {
            match to {
                Some(var) => self.assign(var),
                None if self.warnings => {
                    self.assigned.insert(default);
                }
                None => {}
            }
        }
        match &http.on_error {
            Some(target) => {
                self.jump(target, flow);
            }
            None if self.warnings => self.report(
                Diagnostic::new(
                    Code::HttpWithoutOnError,
                    self.file,
                    // `http METHOD "url"`: the options below it are not the point.
                    Span::new(span.start, http.url.span.end.max(span.start)),
                    "`http` without `on error goto`",
                )
                .with_label("a timeout or refused connection here stops the conversation")
                .with_help(
                    "add `on error goto BLOCK` to handle timeouts and refused connections; \
                     without it a failure stops the conversation",
                ),
            ),
            None => {}
        }
    }

    fn lvalue(&mut self, target: &'a LValue) {
        self.assign(&target.var);
        for index in &target.index {
            self.expr(index);
        }
    }

    fn callee_waits(&mut self, id: BlockId) -> bool {
        if let Some(known) = self.callee_waits[id.index()] {
            return known;
        }
        let waits = self
            .program
            .block_ast_in(self.files, id)
            .is_some_and(|b| flow::waits_before_leaving(&b.body));
        self.callee_waits[id.index()] = Some(waits);
        waits
    }

    // ------------------------------------------------------------------ names

    /// Records an edge to the target's block; `flow` is `None` for a button (or dead code),
    /// which never makes a loop without the user.
    fn jump(&mut self, target: &'a Target, flow: Flow) -> Option<BlockId> {
        let id = self.target(target)?;
        self.graph.edges.push(Edge {
            to: id,
            unwaited: flow == Some(false),
            span: target.span,
        });
        Some(id)
    }

    /// Resolves a target, reporting an unknown scenario or block.
    fn target(&mut self, target: &'a Target) -> Option<BlockId> {
        if let Some(id) = self.program.resolve(self.file, target) {
            self.references.push(super::Reference {
                file: self.file,
                span: target.span,
                name_span: target.block.span,
                block: id,
            });
            return Some(id);
        }
        self.unresolved_targets = true;
        let program = self.program;
        let scenario = match &target.scenario {
            None => self.file,
            Some(scen) => match program.scenario_index(&scen.name) {
                Some(index) => index,
                None => {
                    let ids = program.scenarios.iter().map(|s| s.id.as_str());
                    let help = match did_you_mean(&scen.name, ids) {
                        Some(close) => format!("did you mean `{close}`?"),
                        None => "a scenario's id is its file name without `.scn`".to_string(),
                    };
                    self.report(
                        Diagnostic::new(
                            Code::UnknownScenario,
                            self.file,
                            scen.span,
                            format!("unknown scenario `{}`", scen.name),
                        )
                        .with_label("no file of the bot has this name")
                        .with_help(help),
                    );
                    return None;
                }
            },
        };
        let name = &target.block;
        let info = &program.scenarios[scenario];
        let blocks = info
            .block_range
            .clone()
            .map(|id| program.blocks[id as usize].name.as_str());
        let (message, prefix) = if scenario == self.file && target.scenario.is_none() {
            (format!("unknown block `{}`", name.name), String::new())
        } else {
            (
                format!("scenario `{}` has no block `{}`", info.id, name.name),
                format!("{}::", info.id),
            )
        };
        let help = match did_you_mean(&name.name, blocks) {
            Some(close) => Some(format!("did you mean `{prefix}{close}`?")),
            None if target.scenario.is_none() && program.scenario_index(&name.name).is_some() => {
                Some(format!(
                    "`{0}` is a scenario; to go to one of its blocks, write `{0}::BLOCK`",
                    name.name
                ))
            }
            None => None,
        };
        let mut diagnostic = Diagnostic::new(Code::UnknownBlock, self.file, name.span, message)
            .with_label("no block with this name");
        if let Some(help) = help {
            diagnostic = diagnostic.with_help(help);
        }
        self.report(diagnostic);
        None
    }

    fn assign(&mut self, var: &'a VarPath) {
        self.note_use(var);
        let name = var.root.name.as_str();
        if is_special(name) {
            self.report(read_only(self.file, var.root.span, name));
        } else if self.warnings {
            self.assigned.insert(name);
        }
    }

    fn note_use(&mut self, var: &VarPath) {
        self.uses.push(super::VariableUse {
            file: self.file,
            span: var.root.span,
            name: var.root.name.clone(),
        });
    }

    fn read(&mut self, var: &'a VarPath) {
        self.note_use(var);
        if !self.warnings {
            return;
        }
        let name = var.root.name.as_str();
        if is_special(name) {
            return;
        }
        let read = Read {
            name,
            file: self.file,
            span: var.root.span,
        };
        match self.first_read.entry(name) {
            Entry::Vacant(slot) => {
                slot.insert(self.reads.len());
                self.reads.push(read);
            }
            Entry::Occupied(slot) => {
                let first = &mut self.reads[*slot.get()];
                if (read.file, read.span.start) < (first.file, first.span.start) {
                    *first = read;
                }
            }
        }
    }

    fn regex(&mut self, re: &'a RegexLit) {
        let key = (re.pattern.as_str(), re.flags.as_str());
        if self.valid_regexes.contains(&key) {
            return;
        }
        match compile_regex(re) {
            Ok(_) => {
                self.valid_regexes.insert(key);
            }
            Err(message) => self.report(
                Diagnostic::new(
                    Code::InvalidRegex,
                    self.file,
                    re.span,
                    format!("invalid regex: {message}"),
                )
                .with_label("this regex does not compile"),
            ),
        }
    }

    // ------------------------------------------------------------------ expressions

    fn template(&mut self, template: &'a Template) {
        for part in &template.parts {
            match part {
                TemplatePart::Text(_) => {}
                TemplatePart::Var(var) => self.read(var),
                TemplatePart::Expr(expr) => self.expr(expr),
            }
        }
    }

    fn expr(&mut self, expr: &'a Expr) {
        match &expr.kind {
            ExprKind::Null | ExprKind::Bool(_) | ExprKind::Number(_) | ExprKind::Invalid => {}
            ExprKind::Str(template) => self.template(template),
            ExprKind::List(items) => {
                for item in items {
                    self.expr(item);
                }
            }
            ExprKind::Dict(pairs) => {
                for (key, value) in pairs {
                    self.expr(key);
                    self.expr(value);
                }
            }
            ExprKind::Var(var) => self.read(var),
            ExprKind::Name(name) => self.name(name),
            ExprKind::Regex(_) => self.report(
                Diagnostic::new(
                    Code::MisplacedRegex,
                    self.file,
                    expr.span,
                    "a regex literal can only follow `matches`",
                )
                .with_label("regex literal here")
                .with_help("functions such as match(s, pattern) take the pattern as a string"),
            ),
            ExprKind::Unary(_, operand) => self.expr(operand),
            ExprKind::Binary(BinaryOp::Matches, subject, pattern) => {
                self.expr(subject);
                match &pattern.kind {
                    ExprKind::Regex(re) => self.regex(re),
                    _ => self.expr(pattern),
                }
            }
            ExprKind::Binary(_, left, right) => {
                self.expr(left);
                self.expr(right);
            }
            ExprKind::Cond {
                cond,
                then,
                otherwise,
            } => {
                self.expr(then);
                self.expr(cond);
                self.expr(otherwise);
            }
            ExprKind::Call { func, args, style } => self.call(expr.span, func, args, *style),
            ExprKind::Index(value, index) => {
                self.expr(value);
                self.expr(index);
            }
            ExprKind::Member(value, _) => self.expr(value),
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
            ExprKind::Lambda { params, body } => {
                self.report(misplaced_lambda(self.file, expr.span, None));
                self.lambda(params, body);
            }
        }
    }

    /// Visits a lambda's body with its parameters in scope.
    fn lambda(&mut self, params: &'a [Ident], body: &'a Expr) {
        let depth = self.params.len();
        self.params.extend(params.iter().map(|p| p.name.as_str()));
        self.expr(body);
        self.params.truncate(depth);
    }

    fn name(&mut self, name: &'a Ident) {
        if self.params.contains(&name.name.as_str()) {
            return;
        }
        let n = &name.name;
        let mut help = format!("variables are written `%{n}%`");
        if functions::lookup(n).is_some() {
            help.push_str(&format!("; to call the function, write `{n}(…)`"));
        }
        let label = if self.params.is_empty() {
            "not a variable or lambda parameter"
        } else {
            "not a parameter of the lambda"
        };
        self.report(
            Diagnostic::new(
                Code::UnknownName,
                self.file,
                name.span,
                format!("unknown name `{n}`"),
            )
            .with_label(label)
            .with_help(help),
        );
    }

    fn call(&mut self, span: Span, func: &'a Ident, args: &'a [Expr], style: CallStyle) {
        let function = functions::lookup(&func.name);
        match function {
            Some(function) if !function.accepts(args.len()) => {
                self.wrong_arity(span, function, args.len(), style)
            }
            Some(_) => {}
            None => {
                let help = match did_you_mean(&func.name, FUNCTIONS.iter().map(|f| f.name)) {
                    Some(close) => format!("did you mean `{close}`?"),
                    None => "the built-in functions are listed in docs/REFERENCE.md (Functions)"
                        .to_string(),
                };
                self.report(
                    Diagnostic::new(
                        Code::UnknownFunction,
                        self.file,
                        func.span,
                        format!("unknown function `{}`", func.name),
                    )
                    .with_label("not a built-in function")
                    .with_help(help),
                );
            }
        }
        for (k, arg) in args.iter().enumerate() {
            match &arg.kind {
                // After an unknown function, any lambda argument is given the benefit of the doubt.
                ExprKind::Lambda { params, body } => {
                    if let Some(function) = function.filter(|f| !f.takes_lambda_at(k)) {
                        self.report(misplaced_lambda(self.file, arg.span, Some(function)));
                    }
                    self.lambda(params, body);
                }
                _ => self.expr(arg),
            }
        }
    }

    fn wrong_arity(&mut self, span: Span, function: &Function, given: usize, style: CallStyle) {
        let given_text = match given {
            1 => "1 was given".to_string(),
            n => format!("{n} were given"),
        };
        let counting = match style {
            CallStyle::Plain => "",
            CallStyle::Method => " (counting the value before `.`)",
            CallStyle::Pipe => " (counting the value before `|`)",
        };
        self.report(
            Diagnostic::new(
                Code::WrongArity,
                self.file,
                span,
                format!(
                    "`{}` takes {}, but {given_text}{counting}",
                    function.name,
                    function.arity_text()
                ),
            )
            .with_label("wrong number of arguments")
            .with_help(format!("usage: {}", function.signature)),
        );
    }
}

fn misplaced_lambda(file: FileId, span: Span, function: Option<&Function>) -> Diagnostic {
    let help = match function.and_then(|f| f.lambda_arg.map(|k| (f, k))) {
        Some((f, k)) => format!(
            "`{}` takes a lambda as argument {}: {}",
            f.name,
            k + 1,
            f.signature
        ),
        None => "lambdas are arguments of `map`, `filter`, `reduce` and `sorted`, e.g. \
                 `map(%items%, x => x.name)`"
            .to_string(),
    };
    let message = match function {
        Some(f) if f.lambda_arg.is_none() => format!("`{}` does not take a lambda", f.name),
        _ => "a lambda cannot stand here".to_string(),
    };
    Diagnostic::new(Code::MisplacedLambda, file, span, message)
        .with_label("lambda here")
        .with_help(help)
}
