//! The block graph and the warnings read from it: blocks nothing reaches, and cycles of blocks
//! that can run forever without a `wait`. Bots may have tens of thousands of blocks, so every
//! walk over blocks here is iterative and linear.

use std::collections::VecDeque;

use super::{BlockId, Program};
use crate::diagnostic::{Code, Diagnostic, Diagnostics};
use crate::syntax::ast::{Stmt, StmtKind};
use crate::syntax::Span;

/// A possible transfer of control from one block to another.
#[derive(Clone, Copy, Debug)]
pub(super) struct Edge {
    pub to: BlockId,
    /// A `goto`, `call`, `extract … else` or `on error` reached without a `wait` since the
    /// block began (buttons never are: they need the user).
    pub unwaited: bool,
    /// The target as written.
    pub span: Span,
}

/// Edges grouped by source block (compressed rows: block `b` owns
/// `edges[starts[b]..starts[b + 1]]`), plus the blocks triggers start.
pub(super) struct Graph {
    pub edges: Vec<Edge>,
    starts: Vec<u32>,
    pub roots: Vec<BlockId>,
}

impl Graph {
    pub fn with_capacity(blocks: usize) -> Graph {
        Graph {
            edges: Vec::new(),
            starts: Vec::with_capacity(blocks + 1),
            roots: Vec::new(),
        }
    }

    /// Edges pushed from now on leave `id`; blocks must be started in order.
    pub fn start_block(&mut self, id: BlockId) {
        debug_assert_eq!(self.starts.len(), id.index());
        self.starts.push(self.edges.len() as u32);
    }

    pub fn finish(&mut self) {
        self.starts.push(self.edges.len() as u32);
    }

    fn block_count(&self) -> usize {
        self.starts.len().saturating_sub(1)
    }

    fn out(&self, id: u32) -> &[Edge] {
        let id = id as usize;
        &self.edges[self.starts[id] as usize..self.starts[id + 1] as usize]
    }
}

/// Whether a block, run by `call`, certainly waits before control can come back to the
/// caller. Calls inside it are not followed (they count as not waiting), which keeps this linear
/// and errs towards reporting a loop.
pub(super) fn waits_before_leaving(body: &[Stmt]) -> bool {
    let mut ok = true;
    let end = leave(body, false, &mut ok);
    ok && end != Some(false)
}

/// Follows `body` from a state where a wait has (`waited`) or has not happened; clears `ok` on
/// any way out before a wait. Returns the state at the end, `None` when no path gets there.
fn leave(body: &[Stmt], mut waited: bool, ok: &mut bool) -> Option<bool> {
    for stmt in body {
        match &stmt.kind {
            StmtKind::Wait { .. } => waited = true,
            StmtKind::Goto(_) | StmtKind::Return => {
                *ok &= waited;
                return None;
            }
            StmtKind::End => return None,
            StmtKind::Extract { .. } => *ok &= waited,
            StmtKind::Http(http) if http.on_error.is_some() => *ok &= waited,
            StmtKind::If {
                branches,
                otherwise,
            } => {
                let mut out = None;
                for (_, branch) in branches {
                    out = join(out, leave(branch, waited, ok));
                }
                let rest = otherwise
                    .as_ref()
                    .map_or(Some(waited), |o| leave(o, waited, ok));
                waited = join(out, rest)?;
            }
            StmtKind::Match {
                arms, otherwise, ..
            } => {
                let mut out = None;
                for arm in arms {
                    out = join(out, leave(&arm.body, waited, ok));
                }
                let rest = otherwise
                    .as_ref()
                    .map_or(Some(waited), |o| leave(o, waited, ok));
                waited = join(out, rest)?;
            }
            _ => {}
        }
        if !*ok {
            return None;
        }
    }
    Some(waited)
}

fn join(a: Option<bool>, b: Option<bool>) -> Option<bool> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some(a), Some(b)) => Some(a && b),
    }
}

/// Unreachable blocks (unless some target did not resolve) and loops without `wait`.
pub(super) fn graph_warnings(
    program: &Program,
    graph: &Graph,
    complete: bool,
    diagnostics: &mut Diagnostics,
) {
    if complete {
        unreachable_blocks(program, graph, diagnostics);
    }
    loops_without_wait(program, graph, diagnostics);
}

fn unreachable_blocks(program: &Program, graph: &Graph, diagnostics: &mut Diagnostics) {
    for id in unreachable(program, graph) {
        let info = program.block(id);
        let file = program.scenarios[info.scenario].file;
        diagnostics.push(
            Diagnostic::new(
                Code::UnreachableBlock,
                file,
                info.span,
                format!("block `{}` is never reached", info.name),
            )
            .with_label("no trigger, goto, call or button leads here")
            .with_help(format!(
                "start it with a trigger (`on message \"…\" goto {0}`) or jump to it (`goto {0}`), or delete it",
                info.name
            )),
        );
    }
}

/// The blocks no trigger leads to through any chain of edges, in block order.
pub(super) fn unreachable(program: &Program, graph: &Graph) -> Vec<BlockId> {
    let n = graph.block_count();
    let mut reached = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    for root in &graph.roots {
        if !reached[root.index()] {
            reached[root.index()] = true;
            stack.push(root.0);
        }
    }
    while let Some(id) = stack.pop() {
        for edge in graph.out(id) {
            if !reached[edge.to.index()] {
                reached[edge.to.index()] = true;
                stack.push(edge.to.0);
            }
        }
    }
    let mut found = Vec::new();
    for (id, info) in program.blocks.iter().enumerate() {
        // A repeated name is already an error, and a broken block only exists with syntax errors.
        let canonical =
            program.scenarios[info.scenario].blocks.get(&info.name) == Some(&BlockId(id as u32));
        if !reached[id] && info.index.is_some() && canonical {
            found.push(BlockId(id as u32));
        }
    }
    found
}

/// Reports each cycle of unwaited edges once (per strongly connected component), at the block
/// of the component that comes first in source order.
fn loops_without_wait(program: &Program, graph: &Graph, diagnostics: &mut Diagnostics) {
    let mut components = cyclic_components(graph);
    for component in &mut components {
        component.sort_unstable();
    }
    components.sort_unstable_by_key(|c| c[0]);
    let n = graph.block_count();
    let mut member = vec![u32::MAX; n];
    for (c, component) in components.iter().enumerate() {
        for &id in component {
            member[id as usize] = c as u32;
        }
    }
    let mut parent: Vec<Option<(u32, usize)>> = vec![None; n];
    for (c, component) in components.iter().enumerate() {
        let first = component[0];
        let cycle = cycle_through(
            graph,
            first,
            |id| member[id as usize] == c as u32,
            &mut parent,
        );
        let info = program.block(BlockId(first));
        let scenario = info.scenario;
        const SHOWN: usize = 8;
        let mut names: Vec<String> = std::iter::once(first)
            .chain(cycle.iter().map(|e| e.1.to.0))
            .take(SHOWN)
            .map(|id| format!("`{}`", program.block_display(BlockId(id), scenario)))
            .collect();
        if cycle.len() >= SHOWN {
            names.push("…".to_string());
            names.push(format!("`{}`", info.name));
        }
        let mut diagnostic = Diagnostic::new(
            Code::LoopWithoutWait,
            program.scenarios[scenario].file,
            info.span,
            format!(
                "blocks {} can repeat forever without waiting for the user",
                names.join(" → ")
            ),
        )
        .with_label("this loop has no `wait`")
        .with_help(
            "a turn stops after --max-steps statements; add `wait` or make sure the loop ends",
        );
        for (from, edge) in cycle.iter().take(SHOWN) {
            let from = program.block(BlockId(*from));
            let to = program.block_display(edge.to, from.scenario);
            diagnostic = diagnostic.with_related(
                program.scenarios[from.scenario].file,
                edge.span,
                format!("goes on to `{to}` without a `wait`"),
            );
        }
        diagnostics.push(diagnostic);
    }
}

/// Strongly connected components of the unwaited edges that contain a cycle: more than one
/// block, or one block with an edge to itself. Tarjan's algorithm with an explicit stack.
fn cyclic_components(graph: &Graph) -> Vec<Vec<u32>> {
    const UNSEEN: u32 = u32::MAX;
    let n = graph.block_count();
    let mut order = vec![UNSEEN; n];
    let mut low = vec![0u32; n];
    let mut on_stack = vec![false; n];
    let mut stack: Vec<u32> = Vec::new();
    let mut frames: Vec<(u32, usize)> = Vec::new();
    let mut next = 0u32;
    let mut found = Vec::new();
    for root in 0..n as u32 {
        if order[root as usize] != UNSEEN {
            continue;
        }
        order[root as usize] = next;
        low[root as usize] = next;
        next += 1;
        stack.push(root);
        on_stack[root as usize] = true;
        frames.push((root, 0));
        while let Some(frame) = frames.last_mut() {
            let (v, position) = *frame;
            let out = graph.out(v);
            if position < out.len() {
                frame.1 += 1;
                let edge = out[position];
                if !edge.unwaited {
                    continue;
                }
                let w = edge.to.0;
                if order[w as usize] == UNSEEN {
                    order[w as usize] = next;
                    low[w as usize] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w as usize] = true;
                    frames.push((w, 0));
                } else if on_stack[w as usize] {
                    low[v as usize] = low[v as usize].min(order[w as usize]);
                }
                continue;
            }
            frames.pop();
            if let Some(&(parent, _)) = frames.last() {
                low[parent as usize] = low[parent as usize].min(low[v as usize]);
            }
            if low[v as usize] != order[v as usize] {
                continue;
            }
            let mut component = Vec::new();
            while let Some(w) = stack.pop() {
                on_stack[w as usize] = false;
                component.push(w);
                if w == v {
                    break;
                }
            }
            let cyclic =
                component.len() > 1 || graph.out(v).iter().any(|e| e.unwaited && e.to.0 == v);
            if cyclic {
                found.push(component);
            }
        }
    }
    found
}

/// A shortest cycle of unwaited edges from `start` back to it, staying inside the component:
/// the edges in order, each with the block it leaves. `parent` is scratch space reused across
/// components (they are disjoint, so each entry is written once).
fn cycle_through(
    graph: &Graph,
    start: u32,
    inside: impl Fn(u32) -> bool,
    parent: &mut [Option<(u32, usize)>],
) -> Vec<(u32, Edge)> {
    let mut queue = VecDeque::from([start]);
    let mut last = None;
    'search: while let Some(v) = queue.pop_front() {
        for (k, edge) in graph.out(v).iter().enumerate() {
            let w = edge.to.0;
            if !edge.unwaited || !inside(w) {
                continue;
            }
            if w == start {
                last = Some((v, k));
                break 'search;
            }
            if parent[w as usize].is_none() {
                parent[w as usize] = Some((v, k));
                queue.push_back(w);
            }
        }
    }
    let mut cycle = Vec::new();
    let mut step = last;
    while let Some((from, k)) = step {
        cycle.push((from, graph.out(from)[k]));
        step = if from == start {
            None
        } else {
            parent[from as usize]
        };
    }
    cycle.reverse();
    cycle
}

#[cfg(test)]
mod tests {
    use super::*;

    fn graph(n: u32, edges: &[(u32, u32, bool)]) -> Graph {
        // `edges` are sorted by source block.
        let mut g = Graph::with_capacity(n as usize);
        let mut rest = edges.iter().peekable();
        for b in 0..n {
            g.start_block(BlockId(b));
            while let Some(&(_, to, unwaited)) = rest.next_if(|e| e.0 == b) {
                g.edges.push(Edge {
                    to: BlockId(to),
                    unwaited,
                    span: Span::default(),
                });
            }
        }
        g.finish();
        g
    }

    fn components(g: &Graph) -> Vec<Vec<u32>> {
        let mut found = cyclic_components(g);
        for c in &mut found {
            c.sort_unstable();
        }
        found.sort();
        found
    }

    #[test]
    fn finds_cycles_and_self_loops() {
        let g = graph(
            6,
            &[
                (0, 1, true),
                (1, 2, true),
                (2, 0, true),
                (3, 3, true),
                (4, 5, true),
                (5, 4, false),
            ],
        );
        assert_eq!(components(&g), vec![vec![0, 1, 2], vec![3]]);
    }

    #[test]
    fn long_chains_do_not_overflow_the_stack() {
        let n = 200_000;
        let edges: Vec<_> = (0..n).map(|b| (b, (b + 1) % n, true)).collect();
        let g = graph(n, &edges);
        let found = cyclic_components(&g);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].len(), n as usize);
        let mut parent = vec![None; n as usize];
        let cycle = cycle_through(&g, 0, |_| true, &mut parent);
        assert_eq!(cycle.len(), n as usize);
        assert_eq!(cycle[0].0, 0);
    }

    #[test]
    fn shortest_cycle_is_shown() {
        let g = graph(
            4,
            &[
                (0, 1, true),
                (1, 2, true),
                (1, 0, true),
                (2, 3, true),
                (3, 0, true),
            ],
        );
        let mut parent = vec![None; 4];
        let cycle = cycle_through(&g, 0, |_| true, &mut parent);
        let path: Vec<_> = cycle.iter().map(|(from, e)| (*from, e.to.0)).collect();
        assert_eq!(path, vec![(0, 1), (1, 0)]);
    }
}
