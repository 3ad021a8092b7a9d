//! Expressions, templates and assignments against a session: variables are looked up in the
//! order lambda parameter → temporary → special → preset → user → global; a missing one reads
//! as Null (or "" in a template) and leaves a warning.

use std::cmp::Ordering;
use std::sync::Arc;

use super::{fail, Env, Eval, Failure};
use crate::eval::ir::Fast;
use crate::eval::session::Vars;
use crate::syntax::ast::{
    AssignOp, BinaryOp, Expr, ExprKind, LValue, Pattern, Scope, Template, TemplatePart, UnaryOp,
    VarPath,
};
use crate::syntax::Span;
use crate::value::{ops, Map, Number, Value, ValueError};

fn value_error<T>(span: Span, e: ValueError) -> Eval<T> {
    fail(span, e.to_string())
}

impl Env<'_> {
    fn special(&self, name: &str) -> Option<Value> {
        Some(match name {
            "user_id" => Value::from(self.session.user_id.as_str()),
            "user_name" => Value::from(self.session.user_name.as_str()),
            "scenario" => match self.at {
                Some((program, block)) => {
                    Value::from(program.scenarios[program.block(block).scenario].id.as_str())
                }
                None => Value::Null,
            },
            "block" => match self.at {
                Some((program, block)) => Value::from(program.block(block).name.as_str()),
                None => Value::Null,
            },
            "message" | "ref" | "match" | "error" | "webhook" => self
                .session
                .specials
                .get(name)
                .cloned()
                .unwrap_or(Value::Null),
            _ => return None,
        })
    }

    /// A variable's value, or `None` when it does not exist.
    fn variable(&self, name: &str) -> Option<Value> {
        // Temporaries first: they are what loops read. The checker refuses assignments to
        // special names, so no temporary can hide one.
        if let Some(v) = self.session.temps.get(name) {
            return Some(v.clone());
        }
        if let Some(v) = self.special(name) {
            return Some(v);
        }
        self.session
            .presets
            .get(name)
            .or_else(|| self.session.user.get(name))
            .or_else(|| self.globals.vars.get(name))
            .cloned()
    }

    /// `%a.b.0%`: the variable, then each segment as a key (or, on a List, an index).
    /// Where a resolved temporary lives now: its slot, unless a preset (`--var`) of the same
    /// name still stands in for it (then it is updated by name, like a `user` variable).
    fn slot_index(&self, var: &VarPath) -> Option<usize> {
        let i = var.slot? as usize;
        if self.slots.get(i)?.is_none() && self.session.presets.contains_key(&var.root.name) {
            return None;
        }
        Some(i)
    }

    /// The value of the variable itself (before any path segment).
    fn root_value(&self, var: &VarPath) -> Option<Value> {
        match var.slot.and_then(|i| self.slots.get(i as usize)) {
            Some(Some(v)) => Some(v.clone()),
            _ => self.variable(&var.root.name),
        }
    }

    pub(super) fn path(&mut self, path: &VarPath) -> Option<Value> {
        let mut value = match self.root_value(path) {
            Some(v) => v,
            None => {
                self.warnings
                    .push((format!("`%{}%` is not set", path.root.name), path.span));
                return None;
            }
        };
        for seg in &path.path {
            match value.get_segment(&seg.name).cloned() {
                Some(v) => value = v,
                None => {
                    self.warnings.push((
                        format!("`%{}%` has no `{}`", shown(path), seg.name),
                        path.span,
                    ));
                    return None;
                }
            }
        }
        Some(value)
    }

    /// A value as text (§5), refusing a List or Dictionary whose text would pass the string
    /// bound — measured before anything is written.
    pub(super) fn text<'v>(&self, v: &'v Value, span: Span) -> Eval<std::borrow::Cow<'v, str>> {
        if matches!(v, Value::List(_) | Value::Dict(_))
            && v.shown_size(crate::value::MAX_STRING_BYTES).is_err()
        {
            return value_error(span, ValueError::TooLarge(crate::value::Limit::String));
        }
        Ok(v.render())
    }

    /// Renders a template: holes are filled in as text, never substituted again.
    pub(super) fn render(&mut self, t: &Template) -> Eval<String> {
        if let [TemplatePart::Text(text)] = t.parts.as_slice() {
            return Ok(text.clone());
        }
        let mut out = String::new();
        for part in &t.parts {
            match part {
                TemplatePart::Text(text) => out.push_str(text),
                TemplatePart::Var(path) => {
                    if let Some(v) = self.path(path) {
                        out.push_str(&self.text(&v, path.span)?);
                    }
                }
                TemplatePart::Expr(e) => {
                    let v = self.eval(e)?;
                    out.push_str(&self.text(&v, e.span)?);
                }
            }
            if out.len() > crate::value::MAX_STRING_BYTES {
                return value_error(t.span, ValueError::TooLarge(crate::value::Limit::String));
            }
        }
        Ok(out)
    }

    /// Evaluates an expression. The arms loops live on are kept here; the rest sit in
    /// [`Env::eval_rest`] so that this function's frame stays small.
    pub(super) fn eval(&mut self, e: &Expr) -> Eval<Value> {
        match &e.kind {
            ExprKind::Number(n) => Ok(Value::Number(n.clone())),
            ExprKind::Var(path) => Ok(self.path(path).unwrap_or(Value::Null)),
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, e.span),
            _ => self.eval_rest(e),
        }
    }

    #[inline(never)]
    fn eval_rest(&mut self, e: &Expr) -> Eval<Value> {
        match &e.kind {
            ExprKind::Null | ExprKind::Invalid => Ok(Value::Null),
            ExprKind::Bool(b) => Ok(Value::Bool(*b)),
            ExprKind::Number(n) => Ok(Value::Number(n.clone())),
            ExprKind::Str(t) => Ok(Value::from(self.render(t)?)),
            ExprKind::List(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(self.eval(item)?);
                }
                Value::list(out).or_else(|err| value_error(e.span, err))
            }
            ExprKind::Dict(entries) => {
                let mut map = Map::with_capacity(entries.len());
                for (k, v) in entries {
                    let key = self.eval(k)?.render().into_owned();
                    let value = self.eval(v)?;
                    map.insert(Arc::from(key), value);
                }
                Value::dict(map).or_else(|err| value_error(e.span, err))
            }
            ExprKind::Var(path) => Ok(self.path(path).unwrap_or(Value::Null)),
            ExprKind::Name(name) => {
                match self.lambdas.iter().rev().find(|(n, _)| *n == name.name) {
                    Some((_, v)) => Ok(v.clone()),
                    None => fail(name.span, format!("unknown name `{}`", name.name)),
                }
            }
            ExprKind::Regex(r) => Ok(Value::from(r.pattern.as_str())),
            ExprKind::Unary(op, x) => {
                let v = self.eval(x)?;
                match op {
                    UnaryOp::Not => Ok(Value::Bool(!v.truthy())),
                    UnaryOp::Neg => ops::neg(&v).or_else(|err| value_error(e.span, err)),
                }
            }
            ExprKind::Binary(op, a, b) => self.binary(*op, a, b, e.span),
            ExprKind::Cond {
                cond,
                then,
                otherwise,
            } => {
                if self.eval(cond)?.truthy() {
                    self.eval(then)
                } else {
                    self.eval(otherwise)
                }
            }
            ExprKind::Call { func, args, .. } => self.call(&func.name, args, e.span),
            ExprKind::Index(x, i) => {
                let v = self.eval(x)?;
                let i = self.eval(i)?;
                match v.index(&i) {
                    Ok(found) => Ok(found.unwrap_or(Value::Null)),
                    Err(err) => value_error(e.span, err),
                }
            }
            ExprKind::Member(x, key) => {
                let v = self.eval(x)?;
                Ok(v.get_segment(&key.name).cloned().unwrap_or(Value::Null))
            }
            ExprKind::Slice {
                value,
                from,
                to,
                step,
            } => {
                let v = self.eval(value)?;
                let mut bound = |part: &Option<Box<Expr>>, what: &str| -> Eval<Option<i64>> {
                    let Some(part) = part else { return Ok(None) };
                    match self.eval(part)? {
                        Value::Null => Ok(None),
                        n => match n.to_number().and_then(|n| n.to_i64()) {
                            Some(i) => Ok(Some(i)),
                            None => fail(
                                part.span,
                                format!("a slice's {what} must be a whole number, not {}", {
                                    let t = n.type_name();
                                    if t == "null" {
                                        "null".to_string()
                                    } else {
                                        format!("a {t}")
                                    }
                                }),
                            ),
                        },
                    }
                };
                let (a, b, c) = (
                    bound(from, "start")?,
                    bound(to, "end")?,
                    bound(step, "step")?,
                );
                v.slice_step(a, b, c)
                    .or_else(|err| value_error(e.span, err))
            }
            ExprKind::Lambda { .. } => fail(e.span, "a lambda can only be passed to a function"),
        }
    }

    fn binary(&mut self, op: BinaryOp, a: &Expr, b: &Expr, span: Span) -> Eval<Value> {
        // `and`/`or` short-circuit and return the operand that decided, as in Python.
        match op {
            BinaryOp::And => {
                let l = self.eval(a)?;
                return if l.truthy() { self.eval(b) } else { Ok(l) };
            }
            BinaryOp::Or => {
                let l = self.eval(a)?;
                return if l.truthy() { Ok(l) } else { self.eval(b) };
            }
            BinaryOp::Matches => return self.matches(a, b),
            _ => {}
        }
        let l = self.eval(a)?;
        let r = self.eval(b)?;
        apply(op, &l, &r).or_else(|err| value_error(span, err))
    }

    /// Evaluates a [`Fast`] expression: constants, slots and integer arithmetic without the
    /// general machinery; anything else through [`Env::eval`].
    pub(super) fn fast(&mut self, f: &Fast) -> Eval<Value> {
        match f {
            Fast::Const(v) => Ok(v.clone()),
            Fast::Var(path) => {
                if let Some(Some(v)) = path.slot.and_then(|i| self.slots.get(i as usize)) {
                    return Ok(v.clone());
                }
                Ok(self.path(path).unwrap_or(Value::Null))
            }
            Fast::Bin(op, a, b, span) => {
                let l = self.fast(a)?;
                let r = self.fast(b)?;
                if let (Value::Number(Number::Int(x)), Value::Number(Number::Int(y))) = (&l, &r) {
                    if let Some(v) = int_op(*op, *x, *y) {
                        discard(l);
                        discard(r);
                        return Ok(v);
                    }
                }
                apply(*op, &l, &r).or_else(|err| value_error(*span, err))
            }
            Fast::Expr(e) => self.eval(e),
        }
    }

    /// `a matches /re/` (or a pattern given as a string).
    #[inline(never)]
    fn matches(&mut self, a: &Expr, b: &Expr) -> Eval<Value> {
        let subject = self.eval(a)?.render().into_owned();
        let regex = match &b.kind {
            ExprKind::Regex(r) => crate::check::cached_regex(&r.pattern, &r.flags),
            _ => {
                let pattern = self.eval(b)?.render().into_owned();
                crate::check::cached_regex(&pattern, "")
            }
        };
        match regex {
            Ok(re) => Ok(Value::Bool(self.regex_match(&re, &subject))),
            Err(msg) => fail(b.span, format!("invalid regex: {msg}")),
        }
    }

    /// Searches `subject`; on a match, its named groups become `%match%`.
    pub(super) fn regex_match(&mut self, re: &regex::Regex, subject: &str) -> bool {
        match re.captures(subject) {
            Some(caps) => {
                self.session
                    .specials
                    .insert("match".into(), super::named_groups(re, &caps));
                true
            }
            None => false,
        }
    }

    pub(super) fn pattern_matches(&mut self, value: &Value, pattern: &Pattern) -> Eval<bool> {
        Ok(match pattern {
            Pattern::Text(t) => {
                let expected = self.render(t)?;
                super::normalize(&value.render()) == super::normalize(&expected)
            }
            Pattern::Number(text, span) => match crate::value::Number::parse(text) {
                Some(n) => ops::eq(value, &Value::Number(n)),
                None => return fail(*span, format!("`{text}` is not a number")),
            },
            Pattern::Regex(r) => match crate::check::cached_regex(&r.pattern, &r.flags) {
                Ok(re) => self.regex_match(&re, &value.render()),
                Err(msg) => return fail(r.span, format!("invalid regex: {msg}")),
            },
            Pattern::Like(t) => {
                let expected = self.render(t)?;
                ops::like_text(&value.render(), &expected)
            }
        })
    }

    #[inline(never)]
    fn call(&mut self, name: &str, args: &[Expr], span: Span) -> Eval<Value> {
        // Functions taking a lambda evaluate it per element here; the rest get plain values.
        if let Some(result) = self.call_with_lambda(name, args, span) {
            return result;
        }
        let mut values = Vec::with_capacity(args.len());
        for a in args {
            values.push(self.eval(a)?);
        }
        crate::eval::functions::call(name, &values, &mut self.cx)
            .map_err(|message| Box::new(Failure { message, span }))
    }

    fn call_with_lambda(&mut self, name: &str, args: &[Expr], span: Span) -> Option<Eval<Value>> {
        let (first, rest) = args.split_first()?;
        let (lambda, extra) = rest.split_first()?;
        let ExprKind::Lambda { params, body } = &lambda.kind else {
            return None;
        };
        if !matches!(name, "map" | "filter" | "reduce" | "sorted") {
            return None;
        }
        let params: Vec<String> = params.iter().map(|p| p.name.clone()).collect();
        Some((|| {
            let subject = self.eval(first)?;
            let items: Vec<(Value, Value)> = match &subject {
                Value::List(xs) => xs.iter().map(|x| (x.clone(), Value::Null)).collect(),
                Value::Dict(d) => d
                    .iter()
                    .map(|(k, v)| (Value::from(k.clone()), v.clone()))
                    .collect(),
                other => {
                    return fail(
                        first.span,
                        format!("`{name}` needs a list, not a {}", other.type_name()),
                    )
                }
            };
            let two = params.len() >= 2;
            match name {
                "map" | "filter" | "sorted" => {
                    let mut out = Vec::with_capacity(items.len());
                    let mut keys = Vec::new();
                    for (x, v) in items {
                        let r = if two && matches!(subject, Value::Dict(_)) {
                            self.apply(&params, &[x.clone(), v.clone()], body)?
                        } else {
                            self.apply(&params, std::slice::from_ref(&x), body)?
                        };
                        match name {
                            "map" => out.push(r),
                            "filter" => {
                                if r.truthy() {
                                    out.push(if matches!(subject, Value::Dict(_)) {
                                        Value::list(vec![x, v]).unwrap_or_default()
                                    } else {
                                        x
                                    });
                                }
                            }
                            _ => {
                                keys.push(r);
                                out.push(x);
                            }
                        }
                    }
                    if name == "sorted" {
                        // `sorted(x, key, reverse)`: reverse keeps equal elements in order.
                        let reverse = match extra.first() {
                            Some(r) => self.eval(r)?.truthy(),
                            None => false,
                        };
                        let mut pairs: Vec<(Value, Value)> = keys.into_iter().zip(out).collect();
                        let mut error = None;
                        pairs.sort_by(|(a, _), (b, _)| match ops::compare(a, b) {
                            Ok(o) => o,
                            Err(e) => {
                                error.get_or_insert(e);
                                Ordering::Equal
                            }
                        });
                        if let Some(e) = error {
                            return value_error(span, e);
                        }
                        if reverse {
                            pairs.reverse();
                            let mut k = 0;
                            while k < pairs.len() {
                                let mut end = k + 1;
                                while end < pairs.len()
                                    && ops::compare(&pairs[end].0, &pairs[k].0)
                                        == Ok(Ordering::Equal)
                                {
                                    end += 1;
                                }
                                pairs[k..end].reverse();
                                k = end;
                            }
                        }
                        out = pairs.into_iter().map(|(_, x)| x).collect();
                        // A Dictionary comes back as a Dictionary, in the new key order.
                        if let Value::Dict(d) = &subject {
                            let map: Map = out
                                .iter()
                                .filter_map(|k| {
                                    let k = k.as_str()?;
                                    Some((Arc::from(k), d.get(k)?.clone()))
                                })
                                .collect();
                            return Ok(Value::from(map));
                        }
                    }
                    Value::list(out).or_else(|err| value_error(span, err))
                }
                _ => {
                    let mut acc = match extra.first() {
                        Some(init) => self.eval(init)?,
                        None => Value::Null,
                    };
                    let mut started = !extra.is_empty();
                    for (x, _) in items {
                        if started {
                            acc = self.apply(&params, &[acc, x], body)?;
                        } else {
                            acc = x;
                            started = true;
                        }
                    }
                    Ok(acc)
                }
            }
        })())
    }

    fn apply(&mut self, params: &[String], args: &[Value], body: &Expr) -> Eval<Value> {
        let depth = self.lambdas.len();
        for (p, a) in params.iter().zip(args) {
            self.lambdas.push((p.clone(), a.clone()));
        }
        let result = self.eval(body);
        self.lambdas.truncate(depth);
        result
    }

    /// The map a variable name is written to: a preset of that name (`--var`: the assignment
    /// lasts until the run ends, and is never saved); else its declared scope; else the
    /// temporaries.
    fn storage(&mut self, name: &str) -> &mut Vars {
        if !self.session.temps.contains_key(name) {
            if self.session.presets.contains_key(name) {
                return &mut self.session.presets;
            }
            match self.decls.and_then(|d| d.get(name)).map(|d| d.scope) {
                Some(Scope::User) => return &mut self.session.user,
                Some(Scope::Global) => return &mut self.globals.vars,
                None => {}
            }
        }
        &mut self.session.temps
    }

    /// The keys below the variable: `%d.a%[%k%]` → `["a", k]`.
    fn target_keys(&mut self, target: &LValue) -> Eval<Vec<Value>> {
        let mut keys: Vec<Value> = target
            .var
            .path
            .iter()
            .map(|s| Value::from(s.name.as_str()))
            .collect();
        for i in &target.index {
            keys.push(self.eval(i)?);
        }
        Ok(keys)
    }

    /// `set TARGET OP= value`: missing dictionaries along the path are created.
    pub(super) fn assign(&mut self, target: &LValue, op: AssignOp, value: Value) -> Eval<()> {
        let name = target.var.root.name.as_str();
        // A runaway `set %x% = [%x%]` or `set %l% = [%l%, %l%]` must stop here, not when the
        // value is finally dropped (recursively), shown or saved: depth and size are checked
        // in time linear in the value's distinct parts.
        let depth_left =
            crate::value::MAX_DEPTH.saturating_sub(target.var.path.len() + target.index.len());
        if matches!(value, Value::List(_) | Value::Dict(_)) {
            if let Err(e) = value.measure(depth_left, crate::value::MAX_VALUE_BYTES) {
                return value_error(target.span, e);
            }
        }
        let slot_index = self.slot_index(&target.var);
        if let Some(i) = slot_index {
            // The hot path of loops: a whole temporary, updated in its slot.
            if target.var.path.is_empty() && target.index.is_empty() {
                let slot = &mut self.slots[i];
                let new = combine(op, slot.as_ref().unwrap_or(&Value::Null), value)
                    .or_else(|err| value_error(target.span, err))?;
                if let Some(old) = slot.replace(new) {
                    discard(old);
                }
                return Ok(());
            }
        }
        let keys = self.target_keys(target)?;
        let value = if op == AssignOp::Set {
            value
        } else {
            let current = self.read_target(target, &keys).unwrap_or(Value::Null);
            combine(op, &current, value).or_else(|err| value_error(target.span, err))?
        };
        if let Some(i) = slot_index {
            let root = self.slots[i].get_or_insert(Value::Null);
            return root
                .set_in(&keys, value)
                .or_else(|err| value_error(target.span, err));
        }
        let vars = self.storage(name);
        if keys.is_empty() {
            // Replace in place when it exists: no new key to allocate on the hot path.
            match vars.get_mut(name) {
                Some(slot) => *slot = value,
                None => {
                    vars.insert(name.to_string(), value);
                }
            }
            return Ok(());
        }
        if !vars.contains_key(name) {
            vars.insert(name.to_string(), Value::Null);
        }
        let Some(root) = vars.get_mut(name) else {
            return Ok(());
        };
        root.set_in(&keys, value)
            .or_else(|err| value_error(target.span, err))
    }

    fn read_target(&self, target: &LValue, keys: &[Value]) -> Option<Value> {
        let mut v = self.root_value(&target.var)?;
        for k in keys {
            v = v.index(k).ok()??;
        }
        Some(v)
    }

    /// `unset %x%` or `unset %d.key%`.
    pub(super) fn unset(&mut self, target: &LValue) -> Eval<()> {
        let name = target.var.root.name.as_str();
        let keys = self.target_keys(target)?;
        if let Some(i) = self.slot_index(&target.var) {
            if keys.is_empty() {
                self.slots[i] = None;
            } else if let Some(root) = self.slots[i].as_mut() {
                root.remove_in(&keys)
                    .or_else(|err| value_error(target.span, err))?;
            }
            return Ok(());
        }
        let vars = self.storage(name);
        if keys.is_empty() {
            vars.shift_remove(name);
        } else if let Some(root) = vars.get_mut(name) {
            root.remove_in(&keys)
                .or_else(|err| value_error(target.span, err))?;
        }
        Ok(())
    }
}

/// The new value of `set x OP= value`; a missing (Null) `x` counts as 0 for `+=` and `-=`.
/// Drops a value, skipping the out-of-line drop glue for the scalars that own nothing (the
/// values of loop counters and arithmetic: a tenth of a tight loop's time went to that call).
#[inline(always)]
fn discard(value: Value) {
    if matches!(
        value,
        Value::Null | Value::Bool(_) | Value::Number(Number::Int(_))
    ) {
        // Nothing to free: these variants hold no heap data.
        std::mem::forget(value);
    } else {
        drop(value);
    }
}

fn combine(op: AssignOp, current: &Value, value: Value) -> Result<Value, ValueError> {
    let zero;
    let current = if current.is_null() && matches!(op, AssignOp::Add | AssignOp::Sub) {
        zero = Value::from(0i64);
        &zero
    } else {
        current
    };
    match op {
        AssignOp::Set => Ok(value),
        AssignOp::Add => ops::add(current, &value),
        AssignOp::Sub => ops::sub(current, &value),
        AssignOp::Mul => ops::mul(current, &value),
        AssignOp::Div => ops::div(current, &value),
    }
}

/// A binary operator on two values (all but `and`, `or` and `matches`, which need their
/// operands unevaluated).
fn apply(op: BinaryOp, l: &Value, r: &Value) -> Result<Value, ValueError> {
    match op {
        BinaryOp::Add => ops::add(l, r),
        BinaryOp::Sub => ops::sub(l, r),
        BinaryOp::Mul => ops::mul(l, r),
        BinaryOp::Div => ops::div(l, r),
        BinaryOp::FloorDiv => ops::floor_div(l, r),
        BinaryOp::Pow => ops::pow(l, r),
        BinaryOp::Eq => Ok(Value::Bool(ops::eq(l, r))),
        BinaryOp::Ne => Ok(Value::Bool(!ops::eq(l, r))),
        BinaryOp::Lt => ops::compare(l, r).map(|o| Value::Bool(o == Ordering::Less)),
        BinaryOp::Le => ops::compare(l, r).map(|o| Value::Bool(o != Ordering::Greater)),
        BinaryOp::Gt => ops::compare(l, r).map(|o| Value::Bool(o == Ordering::Greater)),
        BinaryOp::Ge => ops::compare(l, r).map(|o| Value::Bool(o != Ordering::Less)),
        BinaryOp::In => ops::contains(l, r).map(Value::Bool),
        BinaryOp::NotIn => ops::contains(l, r).map(|c| Value::Bool(!c)),
        BinaryOp::Like => Ok(Value::Bool(ops::like(l, r))),
        BinaryOp::And | BinaryOp::Or | BinaryOp::Matches => Ok(Value::Null),
    }
}

/// Integer arithmetic and comparison without overflow; `None` when the general rules must
/// decide (overflow, division).
#[inline]
fn int_op(op: BinaryOp, x: i64, y: i64) -> Option<Value> {
    let n = |v: Option<i64>| v.map(|v| Value::Number(Number::Int(v)));
    match op {
        BinaryOp::Add => n(x.checked_add(y)),
        BinaryOp::Sub => n(x.checked_sub(y)),
        BinaryOp::Mul => n(x.checked_mul(y)),
        BinaryOp::Lt => Some(Value::Bool(x < y)),
        BinaryOp::Le => Some(Value::Bool(x <= y)),
        BinaryOp::Gt => Some(Value::Bool(x > y)),
        BinaryOp::Ge => Some(Value::Bool(x >= y)),
        BinaryOp::Eq => Some(Value::Bool(x == y)),
        BinaryOp::Ne => Some(Value::Bool(x != y)),
        _ => None,
    }
}

/// `%x.name%` shown back to the user in warnings.
fn shown(path: &VarPath) -> String {
    let mut s = path.root.name.clone();
    for seg in &path.path {
        s.push('.');
        s.push_str(&seg.name);
    }
    s
}
