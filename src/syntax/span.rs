//! Byte-offset spans into a source file; line and column are computed only when rendering.

/// A half-open byte range `start..end` into one source file.
///
/// Spans compare equal to every other span, so that AST values can be compared by structure
/// in tests; use [`Span::same`] when the positions themselves matter.
#[derive(Clone, Copy, Debug, Default, Eq)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn join(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }

    /// Exact positional equality (unlike `==`, which ignores positions).
    pub fn same(self, other: Span) -> bool {
        self.start == other.start && self.end == other.end
    }

    pub fn len(self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}
