//! A whole file in, its AST and diagnostics out: the item loop that hands pest one top-level
//! item at a time (`parser.rs`) and lowers each (`lower.rs`), resuming at the next item line
//! after a syntax error, and runs on several threads over chunks of a large file.

use super::ast;
use super::lower::Lower;
use super::parser::{
    broken_block_name, parse_item, prescan, resync, skip_lead, syntax_error, too_deep,
    too_large_item, Prescan, MAX_ITEM_BYTES,
};
use crate::diagnostic::{Diagnostic, FileId};

/// Files at least this large are parsed in parallel chunks.
const PARALLEL_MIN_BYTES: usize = 256 * 1024;
/// Chunks per thread (see `parse_file`), each at least this large.
const CHUNKS_PER_THREAD: usize = 8;
const CHUNK_MIN_BYTES: usize = 64 * 1024;

pub(super) fn parse_file(file: FileId, text: &str, tokens: bool) -> (ast::File, Vec<Diagnostic>) {
    let Prescan {
        deep,
        item_lines: lines,
    } = prescan(text);
    // A byte-order mark is not part of the text.
    let start = if text.starts_with('\u{FEFF}') { 3 } else { 0 };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    // Several chunks per thread, taken from a shared counter: a thread slowed down by other
    // work on the machine leaves its next chunks to the others instead of holding them up.
    let bounds = if text.len() >= PARALLEL_MIN_BYTES && threads > 1 {
        let chunks = (threads * CHUNKS_PER_THREAD)
            .min(text.len() / CHUNK_MIN_BYTES)
            .max(threads);
        chunk_bounds(&lines, start, text.len(), chunks)
    } else {
        vec![start, text.len()]
    };
    if bounds.len() <= 2 {
        let (lower, _) = parse_range(file, text, &deep, &lines, start, text.len(), false, tokens);
        return (lower.file, lower.diags);
    }
    // Chunks start at top-level lines, so each parses on its own. Should an item run past its
    // chunk's end (a `block` line inside a triple-quoted string, say), the next chunk's result
    // is dropped and that stretch is parsed again from where the item really ended.
    let count = bounds.len() - 1;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i >= count {
                return done;
            }
            done.push((
                i,
                parse_range(
                    file,
                    text,
                    &deep,
                    &lines,
                    bounds[i],
                    bounds[i + 1],
                    i > 0,
                    tokens,
                ),
            ));
        }
    };
    let parsed: Option<Vec<(usize, (Lower, usize))>> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads.min(count)).map(|_| scope.spawn(work)).collect();
        let mut all = work();
        for h in helpers {
            all.extend(h.join().ok()?);
        }
        Some(all)
    });
    let results: Vec<(Lower, usize)> = match parsed {
        Some(mut all) if all.len() == count => {
            all.sort_by_key(|(i, _)| *i);
            all.into_iter().map(|(_, r)| r).collect()
        }
        _ => vec![parse_range(
            file,
            text,
            &deep,
            &lines,
            start,
            text.len(),
            false,
            tokens,
        )],
    };
    let mut results = results.into_iter();
    let Some((mut lower, mut reached)) = results.next() else {
        return (ast::File::default(), Vec::new());
    };
    for (i, (chunk, end)) in results.enumerate() {
        let (chunk_start, chunk_end) = (bounds[i + 1], bounds[i + 2]);
        if reached == chunk_start {
            lower.append(chunk);
            reached = end;
        } else if reached < chunk_end {
            let (redo, end) =
                parse_range(file, text, &deep, &lines, reached, chunk_end, true, tokens);
            lower.append(redo);
            reached = end;
        }
    }
    (lower.file, lower.diags)
}

/// Up to `n` chunk boundaries (`start`, …, `end`), each at a line that starts an item.
fn chunk_bounds(item_lines: &[usize], start: usize, end: usize, n: usize) -> Vec<usize> {
    let mut bounds = vec![start];
    for i in 1..n {
        let target = start + (end - start) * i / n;
        if let Some(&line) = item_lines.get(item_lines.partition_point(|&l| l < target)) {
            if line > *bounds.last().unwrap_or(&0) {
                bounds.push(line);
            }
        }
    }
    bounds.push(end);
    bounds.dedup();
    bounds
}

/// Parses the items that start in `start..stop`; returns them and where the last one ended.
#[allow(clippy::too_many_arguments)]
fn parse_range(
    file: FileId,
    text: &str,
    deep: &[usize],
    item_lines: &[usize],
    start: usize,
    stop: usize,
    seen_item: bool,
    tokens: bool,
) -> (Lower, usize) {
    let mut lower = Lower::new(file, seen_item, tokens);
    let mut k = start;
    while k < stop {
        lower.cap_diagnostics();
        k = skip_lead(text, k);
        if k >= text.len() {
            break;
        }
        let next_item = item_lines
            .get(item_lines.partition_point(|&l| l <= k))
            .copied()
            .unwrap_or(text.len());
        if next_item - k > MAX_ITEM_BYTES {
            lower.diags.push(too_large_item(file, k, next_item - k));
            if let Some(name) = broken_block_name(text, k) {
                lower.file.broken_blocks.push(name);
            }
            k = next_item;
            continue;
        }
        let limit = deep
            .get(deep.partition_point(|&p| p < k))
            .copied()
            .unwrap_or(text.len());
        match parse_item(text, k, limit, item_lines) {
            Ok(pairs) => {
                let (end, found_item) = lower.item_step(pairs, k);
                if !found_item {
                    if limit >= text.len() {
                        k = text.len();
                        break;
                    }
                    lower.diags.push(too_deep(file, limit));
                    k = resync(text, k, limit);
                    continue;
                }
                if end <= k {
                    k = text.len();
                    break;
                }
                k = end;
            }
            Err((at, variant)) => {
                if limit < text.len() && at >= limit {
                    lower.diags.push(too_deep(file, limit));
                } else {
                    lower.diags.push(syntax_error(file, text, at, &variant));
                }
                if let Some(name) = broken_block_name(text, k) {
                    lower.file.broken_blocks.push(name);
                }
                k = resync(text, k, at);
            }
        }
    }
    (lower, k)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file big enough to be parsed in chunks, whose triple-quoted strings hold lines that
    /// look like the start of a block: chunk boundaries will fall inside them.
    fn tricky_file() -> String {
        let mut s = String::from("scenario \"Big\"\n");
        for i in 0..5000 {
            s.push_str(&format!(
                "block b{i} {{\n  say \"\"\"\nblock fake{i} {{\n  say 'not a block'\n}}\n\"\"\"\n  goto b{}\n}}\n",
                (i + 1) % 5000
            ));
        }
        s
    }

    #[test]
    fn chunked_parse_equals_sequential_parse() {
        let text = tricky_file();
        assert!(text.len() >= PARALLEL_MIN_BYTES);
        let Prescan {
            deep,
            item_lines: lines,
        } = prescan(&text);
        assert_eq!(
            lines.len(),
            5000,
            "lines inside strings are not item starts"
        );
        assert!(chunk_bounds(&lines, 0, text.len(), 4).len() > 2);
        let (seq, _) = parse_range(0, &text, &deep, &lines, 0, text.len(), false, false);
        let (par, diags) = parse_file(0, &text, false);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(par, seq.file);
        assert_eq!(par.blocks.len(), 5000);
        assert!(par
            .blocks
            .iter()
            .zip(&seq.file.blocks)
            .all(|(a, b)| a.span.same(b.span)));
    }

    #[test]
    fn chunked_parse_reports_errors_once() {
        let mut text = tricky_file();
        text.push_str("block broken {\n  say (\n}\n");
        let (_, diags) = parse_file(0, &text, false);
        assert_eq!(diags.len(), 1, "{diags:?}");
    }
}
