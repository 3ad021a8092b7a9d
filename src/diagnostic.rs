//! Diagnostics: what the parser and checker report (data only; `report/` renders them).

use crate::syntax::Span;

/// Index of a file in [`crate::source::Sources`].
pub type FileId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

macro_rules! codes {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal, $sev:ident; )*) => {
        /// Every stable diagnostic code. The string form (`scn::unknown-block`) is part of the
        /// public contract: tools match on it, so a code is never renamed.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Code {
            $( $(#[$doc])* $variant, )*
        }

        impl Code {
            /// All codes, in declaration order.
            pub const ALL: &'static [Code] = &[ $( Code::$variant, )* ];

            /// The stable name, e.g. `scn::unknown-block`.
            pub fn as_str(self) -> &'static str {
                match self { $( Code::$variant => concat!("scn::", $name), )* }
            }

            /// The severity this code is always reported with.
            pub fn severity(self) -> Severity {
                match self { $( Code::$variant => Severity::$sev, )* }
            }
        }
    };
}

codes! {
    /// The file is not valid UTF-8.
    InvalidUtf8 = "invalid-utf8", Error;
    /// The grammar does not accept the text.
    Syntax = "syntax", Error;
    /// Brackets or operators nested beyond what the parser accepts.
    TooDeep = "too-deep", Error;
    /// A top-level item (block) too long to parse.
    TooLarge = "too-large", Error;
    /// A backslash escape that does not exist.
    InvalidEscape = "invalid-escape", Error;
    /// A number literal that is not a number.
    InvalidNumber = "invalid-number", Error;
    /// A duration without a valid unit.
    InvalidDuration = "invalid-duration", Error;
    /// A regex literal that does not compile, or has unknown flags.
    InvalidRegex = "invalid-regex", Error;
    /// A URL that cannot be a valid http(s) URL.
    InvalidUrl = "invalid-url", Error;
    /// A `header` the runtime owns: `Host`, `Content-Length`, `Transfer-Encoding`.
    ForbiddenHeader = "forbidden-header", Error;
    /// An HTTP method outside GET POST PUT PATCH DELETE HEAD OPTIONS.
    UnknownMethod = "unknown-method", Error;
    /// An `extract` kind that does not exist.
    UnknownExtractKind = "unknown-extract-kind", Error;
    /// `goto`/`call`/a button/a trigger names a block that does not exist.
    UnknownBlock = "unknown-block", Error;
    /// `goto scenario::block` names a scenario that does not exist.
    UnknownScenario = "unknown-scenario", Error;
    /// Two blocks with one name in one scenario.
    DuplicateBlock = "duplicate-block", Error;
    /// Two files whose stems give the same scenario id.
    DuplicateScenario = "duplicate-scenario", Error;
    /// A call of a function that does not exist.
    UnknownFunction = "unknown-function", Error;
    /// A call with the wrong number of arguments.
    WrongArity = "wrong-arity", Error;
    /// A bare name that is not a parameter of an enclosing lambda.
    UnknownName = "unknown-name", Error;
    /// A lambda where only a value can stand.
    MisplacedLambda = "misplaced-lambda", Error;
    /// A regex literal outside `matches`, a match arm, `extract` or a trigger.
    MisplacedRegex = "misplaced-regex", Error;
    /// Two bodies (`form`, `json`, `text`) in one `http` statement.
    DuplicateBody = "duplicate-body", Error;
    /// An `http` option given twice.
    DuplicateOption = "duplicate-option", Error;
    /// A `user`/`global` variable declared more than once.
    DuplicateDeclaration = "duplicate-declaration", Error;
    /// Assignment to a variable the runtime owns (`%message%`, `%user_id%`…).
    ReadOnlyVariable = "read-only-variable", Error;
    /// `scenario "…"` anywhere but at the top of the file, or twice.
    MisplacedHeader = "misplaced-header", Error;
    /// A trigger text that is not constant.
    DynamicTrigger = "dynamic-trigger", Error;
    /// `image`, `file`, `button` or `link` outside a `say` body.
    MisplacedItem = "misplaced-item", Error;
    /// A timer name (`schedule … as`, `cancel`) that is not constant.
    DynamicTimerName = "dynamic-timer-name", Error;
    /// `for` over a literal that is not a List, Dictionary or String.
    NotIterable = "not-iterable", Error;
    /// A block no trigger, goto, call or button can reach.
    UnreachableBlock = "unreachable-block", Warning;
    /// A variable read somewhere but assigned or declared nowhere in the bot.
    UnassignedVariable = "unassigned-variable", Warning;
    /// An `http` statement without `on error goto`.
    HttpWithoutOnError = "http-without-on-error", Warning;
    /// Blocks that can loop forever without waiting for the user.
    LoopWithoutWait = "loop-without-wait", Warning;
    /// `cancel` of a name no `schedule … as` gives.
    UnknownTimer = "unknown-timer", Warning;
    /// A trigger that an earlier one with the same event always wins over: it never fires.
    ShadowedTrigger = "shadowed-trigger", Warning;
}

/// A secondary label: another place that explains the problem ("first defined here").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Related {
    pub file: FileId,
    pub span: Span,
    pub label: String,
}

/// One problem found in a bot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub file: FileId,
    pub span: Span,
    /// Text shown under the underlined span.
    pub label: String,
    pub help: Option<String>,
    pub related: Vec<Related>,
}

impl Diagnostic {
    /// A diagnostic with the code's own severity and the message as its label.
    pub fn new(code: Code, file: FileId, span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity: code.severity(),
            message: message.into(),
            file,
            span,
            label: String::new(),
            help: None,
            related: Vec::new(),
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Diagnostic {
        self.label = label.into();
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn with_related(
        mut self,
        file: FileId,
        span: Span,
        label: impl Into<String>,
    ) -> Diagnostic {
        self.related.push(Related {
            file,
            span,
            label: label.into(),
        });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Most diagnostics kept: past this many, they are only counted ("and N more"), so a file of
/// errors costs bounded memory and output.
pub const MAX_DIAGNOSTICS: usize = 1000;

/// How many diagnostics were found past [`MAX_DIAGNOSTICS`] and not kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Omitted {
    pub errors: usize,
    pub warnings: usize,
}

impl Omitted {
    pub fn total(&self) -> usize {
        self.errors + self.warnings
    }
}

/// Many diagnostics at once, kept in the order they were found: the first
/// [`MAX_DIAGNOSTICS`], and a count of the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Diagnostics(pub Vec<Diagnostic>, pub Omitted);

impl From<Vec<Diagnostic>> for Diagnostics {
    fn from(list: Vec<Diagnostic>) -> Diagnostics {
        let mut d = Diagnostics::default();
        d.extend(list);
        d
    }
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        if self.0.len() < MAX_DIAGNOSTICS {
            self.0.push(d);
        } else if d.is_error() {
            self.1.errors += 1;
        } else {
            self.1.warnings += 1;
        }
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        for d in other {
            self.push(d);
        }
    }

    /// Counts errors found but not kept (a parser that stopped collecting).
    pub fn omit_errors(&mut self, n: usize) {
        self.1.errors += n;
    }

    /// Those found past the limit and not kept.
    pub fn omitted(&self) -> Omitted {
        self.1
    }

    pub fn has_errors(&self) -> bool {
        self.1.errors > 0 || self.0.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count() + self.1.errors
    }

    pub fn warning_count(&self) -> usize {
        self.0.len() - self.0.iter().filter(|d| d.is_error()).count() + self.1.warnings
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty() && self.1.total() == 0
    }

    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }

    /// Sorts by file, then position, keeping the found order among equals.
    pub fn sort(&mut self) {
        self.0.sort_by_key(|d| (d.file, d.span.start, d.span.end));
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

/// "Did you mean …?" — the closest candidate within a small edit distance (a swap of two
/// neighbouring letters counts as one edit: `wiat` → `wait`).
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let limit = (name.chars().count() / 3).max(1);
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| {
            (
                strsim::osa_distance(&name.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = ["greet", "lookup", "cancelled"];
        assert_eq!(did_you_mean("gret", names), Some("greet"));
        assert_eq!(did_you_mean("canceled", names), Some("cancelled"));
        assert_eq!(did_you_mean("zzz", names), None);
        assert_eq!(did_you_mean("wiat", ["wait", "set"]), Some("wait"));
    }

    #[test]
    fn codes_are_unique_and_prefixed() {
        let mut seen = std::collections::HashSet::new();
        for code in Code::ALL {
            assert!(code.as_str().starts_with("scn::"));
            assert!(seen.insert(code.as_str()), "{} twice", code.as_str());
        }
    }
}
