//! `scenarist graph [PATH]...`: a bot in, its block graph out — Mermaid, DOT or SVG, on stdout
//! or in `-o FILE`; exit status 0, 1 (the bot has errors: its diagnostics on stderr, as `check`
//! prints them) or 2 (usage error, or SVG asked for without Graphviz).

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{status, usage_error};
use crate::graph::{self, Graph, SvgError};
use crate::report::{self, Summary};
use crate::{Program, Sources};

#[derive(Debug, Args)]
pub struct GraphArgs {
    /// Scenario files (.scn) or directories; together they form one bot.
    #[arg(value_name = "PATH", default_value = ".")]
    paths: Vec<PathBuf>,

    /// What to print: a Mermaid flowchart, Graphviz DOT, or SVG rendered by Graphviz `dot`.
    #[arg(long, value_enum, default_value_t = Format::Mermaid)]
    format: Format,

    /// Write the graph to FILE instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// A Mermaid flowchart: renders on GitHub and in most editors.
    Mermaid,
    /// Graphviz DOT, for `dot` and the tools that read it.
    Dot,
    /// An SVG picture, laid out by Graphviz `dot` (which must be installed).
    Svg,
}

pub fn run(args: GraphArgs) -> u8 {
    let sources = match Sources::load(&args.paths) {
        Ok(sources) => sources,
        Err(e) => return usage_error(e),
    };
    let program = match super::compile_with_big_stack(&sources) {
        Ok(program) => program,
        Err(diagnostics) => {
            let summary = Summary::new(sources.files.len(), &diagnostics, false);
            let stderr = std::io::stderr();
            let text =
                report::render_check(&sources, &diagnostics, &summary, report::use_color(&stderr));
            let _ = stderr.lock().write_all(text.as_bytes());
            return status::FAILED;
        }
    };
    let graph = build_with_big_stack(&program, &sources);
    // The process ends right after printing: freeing a large bot's syntax tree node by node
    // would only cost time.
    std::mem::forget(program);
    let bytes = match args.format {
        Format::Mermaid => graph::mermaid(&graph).into_bytes(),
        Format::Dot => graph::dot(&graph).into_bytes(),
        Format::Svg => match graph::svg(&graph::dot(&graph)) {
            Ok(svg) => svg,
            Err(SvgError::NotInstalled) => {
                eprintln!(
                    "error: `--format svg` needs Graphviz, and its `dot` program was not found on PATH\n  \
                     help: install Graphviz: `apt-get install graphviz` (Debian, Ubuntu), \
                     `brew install graphviz` (macOS),\n        \
                     or see https://graphviz.org/download/\n        \
                     `--format dot` (Graphviz input) and `--format mermaid` work without it"
                );
                return status::USAGE;
            }
            Err(e) => return usage_error(e),
        },
    };
    match &args.output {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &bytes) {
                return usage_error(format!("{}: {e}", path.display()));
            }
        }
        // A closed pipe (`| head`) is not an error of the bot: write errors are ignored.
        None => {
            let _ = std::io::stdout().lock().write_all(&bytes);
        }
    }
    status::OK
}

/// Builds the graph on a thread with the compiler's stack: it walks the same nested input.
fn build_with_big_stack(program: &Program, sources: &Sources) -> Graph {
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("graph".into())
            .stack_size(super::COMPILER_STACK)
            .spawn_scoped(scope, || graph::build(program, sources));
        match spawned {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => graph::build(program, sources),
        }
    })
}
