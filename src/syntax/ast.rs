//! The typed syntax tree of one scenario file. Every node carries its [`Span`]; spans are left
//! out of equality (see [`Span`]) so tests compare structure.

use super::Span;

/// A name written in the source: block, scenario, function or lambda parameter.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// One `.scn` file: one scenario.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct File {
    /// `scenario "Display name"`, when the file starts with one.
    pub display_name: Option<(String, Span)>,
    pub declarations: Vec<Declaration>,
    pub triggers: Vec<Trigger>,
    pub blocks: Vec<Block>,
    /// Names of blocks that failed to parse: they exist (so references to them resolve) but
    /// have no body. Only present when the file also has syntax errors.
    pub broken_blocks: Vec<Ident>,
    /// Where every string and regex literal is, in the order they were lowered (those inside
    /// `{{ }}` holes too): text that layout tools such as the formatter leave as written.
    pub literals: Vec<Span>,
    /// The tokens of the source, for the formatter's spacing: collected only by
    /// [`crate::syntax::parse_with_tokens`], empty otherwise.
    pub tokens: Vec<Token>,
    /// Syntax errors found past [`crate::diagnostic::MAX_DIAGNOSTICS`] and only counted.
    pub omitted_errors: usize,
}

/// A piece of source text the formatter treats as one token, or a punctuation character whose
/// role the text alone does not tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    /// A word-like token copied as written: a keyword, name, variable, header name, …
    Word,
    /// A string or regex literal (may span lines).
    Literal,
    /// A number or duration (a `.` after it is kept apart: `1 .5` is not `1.5`).
    Number,
    /// The name of a function or method being called: `(` follows it without a space.
    Callee,
    /// `not in`, written with any spaces between the words.
    NotIn,
    /// The `-` of a negation (not a subtraction).
    Neg,
    /// The `{` and `}` of a dictionary (not of a block of statements).
    DictOpen,
    DictClose,
    /// The `[` and `]` of an index or slice (not of a list).
    IndexOpen,
    IndexClose,
    /// A `:` of a slice (not of a dictionary pair or an http option).
    SliceColon,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    User,
    Global,
}

/// `user %x% = INIT` or `global %x% = INIT`.
#[derive(Clone, Debug, PartialEq)]
pub struct Declaration {
    pub scope: Scope,
    pub var: Ident,
    pub init: Expr,
    pub span: Span,
}

/// `on [anytime] EVENT goto TARGET`.
#[derive(Clone, Debug, PartialEq)]
pub struct Trigger {
    pub anytime: bool,
    pub event: Event,
    pub target: Target,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    Start,
    /// `on message "text"`: equal ignoring case and outer spaces.
    Message(String),
    /// `on message like "text"`.
    MessageLike(String),
    /// `on message contains "text"`.
    MessageContains(String),
    /// `on message matches /re/`.
    MessageMatches(RegexLit),
    /// `on webhook "name"` (later: server).
    Webhook(String),
    Fallback,
}

/// A block reference: `name` (same scenario) or `scenario::name`.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub scenario: Option<Ident>,
    pub block: Ident,
    pub span: Span,
}

/// `block name { … }`.
#[derive(Clone, Debug, PartialEq)]
pub struct Block {
    pub name: Ident,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Stmt {
    pub kind: StmtKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignOp {
    Set,
    Add,
    Sub,
    Mul,
    Div,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StmtKind {
    Say {
        text: Template,
        /// What the `{ }` body holds: buttons, attachments, `for` loops of them.
        buttons: Vec<SayItem>,
    },
    Wait {
        into: Option<VarPath>,
        /// `timeout DURATION goto BLOCK`.
        timeout: Option<Box<Timeout>>,
    },
    /// `for %x% in EXPR { … }`.
    For {
        var: Box<VarPath>,
        iter: Box<Expr>,
        body: Vec<Stmt>,
    },
    /// `schedule DURATION goto B [as "name"]`, `schedule at EXPR goto B [as "name"]`.
    Schedule(Box<Schedule>),
    /// `cancel "name"`.
    Cancel(String, Span),
    // Large parts are boxed so that a statement stays small: a `Vec<Stmt>` holds every
    // statement at the size of the largest kind (368 bytes before, 112 now; checking a 6.6 MB
    // bot peaks at 163 MB instead of 214 MB).
    Set {
        target: Box<LValue>,
        op: AssignOp,
        value: Box<Expr>,
    },
    Unset {
        target: Box<LValue>,
    },
    If {
        /// `if` and every `elif`, in order.
        branches: Vec<(Expr, Vec<Stmt>)>,
        otherwise: Option<Vec<Stmt>>,
    },
    Match {
        subject: Box<Expr>,
        arms: Vec<MatchArm>,
        otherwise: Option<Vec<Stmt>>,
    },
    Goto(Box<Target>),
    Call(Box<Target>),
    Return,
    End,
    Extract {
        kind: ExtractKind,
        from: Box<Expr>,
        into: Box<VarPath>,
        otherwise: Box<Target>,
    },
    Http(Box<Http>),
    Notify(Template),
    Log(Template),
}

/// `wait … timeout DURATION goto BLOCK`.
#[derive(Clone, Debug, PartialEq)]
pub struct Timeout {
    pub ms: u64,
    pub target: Target,
    /// The `timeout … goto …` part.
    pub span: Span,
}

/// When a `schedule` comes due.
#[derive(Clone, Debug, PartialEq)]
pub enum When {
    /// `schedule 1d …`: that long after the statement runs.
    After(u64, Span),
    /// `schedule at EXPR …`: a time as `now()` gives it, or Unix milliseconds.
    At(Expr),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Schedule {
    pub when: When,
    pub target: Target,
    /// `as "name"`, with the span of the string.
    pub name: Option<(String, Span)>,
}

/// One item of a `say` body.
#[derive(Clone, Debug, PartialEq)]
pub enum SayItem {
    Button(Button),
    /// `image "URL"`.
    Image(Template, Span),
    /// `file "URL" "name"`.
    File(Template, Template, Span),
    /// `for %x% in EXPR { items }`.
    For {
        var: VarPath,
        iter: Expr,
        items: Vec<SayItem>,
        span: Span,
    },
}

/// A button under a message.
#[derive(Clone, Debug, PartialEq)]
pub struct Button {
    pub label: Template,
    pub kind: ButtonKind,
    /// A transition button's `set %v% = EXPR`: computed when the message is sent, assigned
    /// when the button is pressed.
    pub set: Option<Box<(VarPath, Expr)>>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ButtonKind {
    /// Pressing it sends the label as the user's message.
    Text,
    /// Pressing it jumps to a block.
    Goto(Target),
    /// Opens a URL; sends nothing.
    Link(Template),
}

/// One arm of `match`: one or more patterns, then a statement or a body.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchArm {
    pub patterns: Vec<Pattern>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Pattern {
    /// Equal ignoring case and outer spaces.
    Text(Template),
    /// Numerically equal.
    Number(String, Span),
    /// The regex finds a match; named groups go to `%match%`.
    Regex(RegexLit),
    /// `like "…"`: similar text.
    Like(Template),
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExtractKind {
    Number,
    Integer,
    Email,
    Phone,
    Url,
    Date,
    Regex(RegexLit),
}

/// `/pattern/flags`, the pattern as written between the slashes with `\/` turned into `/`.
#[derive(Clone, Debug, PartialEq)]
pub struct RegexLit {
    pub pattern: String,
    pub flags: String,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
    Head,
    Options,
}

impl Method {
    pub const ALL: [Method; 7] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
        Method::Head,
        Method::Options,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }
}

/// The request body of an `http` statement.
#[derive(Clone, Debug, PartialEq)]
pub enum HttpBody {
    Form(Expr),
    Json(Expr),
    Text(Template),
}

/// `header NAME: TEMPLATE`.
#[derive(Clone, Debug, PartialEq)]
pub struct Header {
    pub name: String,
    pub value: Template,
    pub span: Span,
}

/// `query NAME: EXPR`.
#[derive(Clone, Debug, PartialEq)]
pub struct QueryParam {
    pub name: String,
    pub value: Expr,
    pub span: Span,
}

/// The `http` statement (LANGUAGE.md §8).
#[derive(Clone, Debug, PartialEq)]
pub struct Http {
    pub method: Method,
    pub url: Template,
    pub headers: Vec<Header>,
    pub query: Vec<QueryParam>,
    pub body: Option<(HttpBody, Span)>,
    /// Milliseconds; `None` means the default (10 s).
    pub timeout_ms: Option<u64>,
    /// `None` means the default (10).
    pub redirects: Option<u32>,
    pub body_to: Option<VarPath>,
    pub status_to: Option<VarPath>,
    pub headers_to: Option<VarPath>,
    pub on_error: Option<Target>,
}

impl Http {
    /// A request with no options: the defaults of §8.
    pub fn new(method: Method, url: Template) -> Http {
        Http {
            method,
            url,
            headers: Vec::new(),
            query: Vec::new(),
            body: None,
            timeout_ms: None,
            redirects: None,
            body_to: None,
            status_to: None,
            headers_to: None,
            on_error: None,
        }
    }
}

/// A string literal: text with `%var%` and `{{ expr }}` holes.
#[derive(Clone, Debug, PartialEq)]
pub struct Template {
    pub parts: Vec<TemplatePart>,
    pub span: Span,
}

impl Template {
    /// The text when the template has no holes.
    pub fn as_constant(&self) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Text(t) => out.push_str(t),
                _ => return None,
            }
        }
        Some(out)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum TemplatePart {
    /// Literal text, escapes already applied.
    Text(String),
    Var(VarPath),
    Expr(Box<Expr>),
}

/// `%name%` or `%name.key.0%`.
#[derive(Clone, Debug, PartialEq)]
pub struct VarPath {
    pub root: Ident,
    /// Later segments: keys, or list indexes when made of digits.
    pub path: Vec<Ident>,
    pub span: Span,
    /// The temporary variable's slot, when the interpreter resolved one (`None` from the
    /// parser): reading a slot is an index, not a name look-up.
    pub slot: Option<u32>,
}

/// Target of `set`/`unset`: a variable path plus `[EXPR]` indexes.
#[derive(Clone, Debug, PartialEq)]
pub struct LValue {
    pub var: VarPath,
    pub index: Vec<Expr>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
    Not,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Like,
    Matches,
    Add,
    Sub,
    Mul,
    Div,
    FloorDiv,
    Pow,
}

impl BinaryOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::NotIn => "not in",
            BinaryOp::Like => "like",
            BinaryOp::Matches => "matches",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::FloorDiv => "//",
            BinaryOp::Pow => "**",
        }
    }
}

/// How a call was written; all three mean `f(receiver, args…)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallStyle {
    /// `f(x, y)`
    Plain,
    /// `x.f(y)`
    Method,
    /// `x | f(y)`
    Pipe,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    Null,
    Bool(bool),
    /// A number literal (`42`, `3.14`, `1e3`), parsed once here rather than at every
    /// evaluation.
    Number(crate::value::Number),
    Str(Template),
    List(Vec<Expr>),
    Dict(Vec<(Expr, Expr)>),
    Var(VarPath),
    /// A bare name: a lambda parameter.
    Name(Ident),
    /// Only valid as the right side of `matches`.
    Regex(RegexLit),
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    /// `then if cond else otherwise`
    Cond {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// Arguments include the receiver for methods and pipes.
    Call {
        func: Ident,
        args: Vec<Expr>,
        style: CallStyle,
    },
    Index(Box<Expr>, Box<Expr>),
    /// `x[from:to:step]`, each part optional (Python's slices).
    Slice {
        value: Box<Expr>,
        from: Option<Box<Expr>>,
        to: Option<Box<Expr>>,
        step: Option<Box<Expr>>,
    },
    /// `x.key`
    Member(Box<Expr>, Ident),
    /// `x => body` / `(a, b) => body`; only valid as a call argument.
    Lambda {
        params: Vec<Ident>,
        body: Box<Expr>,
    },
    /// Stands in for an expression that failed to lower (a diagnostic was reported).
    Invalid,
}
