//! The command line: arguments in (clap), an exit status out. One module per subcommand; each
//! prints through `report/` and returns its status instead of exiting.

mod check;
mod fmt;
mod graph;
mod run;
mod run_input;
mod serve;
mod test;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Exit statuses shared by every command (CLI.md).
pub mod status {
    /// Success; warnings allowed.
    pub const OK: u8 = 0;
    /// The bot has errors (or warnings, with `--deny-warnings`), or tests failed.
    pub const FAILED: u8 = 1;
    /// Bad flags, a missing file: the command could not start.
    pub const USAGE: u8 = 2;
    /// `run` finished, but at least one turn ended in a runtime `error` event.
    pub const RUNTIME_ERROR: u8 = 3;
}

/// Stack for compiling a bot: the parser and checker recurse over nested input, and an
/// adversarial file must not overflow the stack even if it slips past the nesting limit.
const COMPILER_STACK: usize = 256 << 20;

/// scenarist: chatbot scenarios written as text — checked, run and tested headless.
#[derive(Debug, Parser)]
#[command(name = "scenarist", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse and check a bot; print every diagnostic.
    Check(check::CheckArgs),
    /// Talk to a bot: one conversation, messages from the prompt or stdin.
    Run(run::RunArgs),
    /// Serve the bot to real users over HTTP: sessions persisted, timers, webhooks, an outbox.
    Serve(serve::ServeArgs),
    /// Replay golden transcript tests (`*.test`) against their bots, with stubbed HTTP.
    Test(test::TestArgs),
    /// Print the bot's block graph: Mermaid (default), Graphviz DOT or SVG.
    Graph(graph::GraphArgs),
    /// Rewrite .scn files in the canonical layout (`--check`: only list the ones that differ).
    Fmt(fmt::FmtArgs),
    /// Run the language server for editors (LSP over stdin/stdout).
    Lsp,
}

/// Runs the parsed command line; the caller exits with the returned status.
pub fn main(cli: Cli) -> ExitCode {
    let status = match cli.command {
        Command::Check(args) => check::run(args),
        Command::Run(args) => run::run(args),
        Command::Serve(args) => serve::run(args),
        Command::Test(args) => test::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Fmt(args) => fmt::run(args),
        Command::Lsp => lsp(),
    };
    ExitCode::from(status)
}

/// `scenarist lsp`: the server checks bots as the user types, on a thread with the compiler's
/// large stack.
fn lsp() -> u8 {
    let served = std::thread::Builder::new()
        .name("lsp".into())
        .stack_size(COMPILER_STACK)
        .spawn(crate::lsp::run_stdio)
        .map_err(|e| e.to_string())
        .and_then(|handle| {
            handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
        });
    match served {
        Ok(()) => status::OK,
        Err(e) => {
            eprintln!("error: lsp: {e}");
            status::FAILED
        }
    }
}

/// Prints a usage error (`error: …` on stderr) and gives the usage status.
fn usage_error(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    status::USAGE
}

/// Compiles on a thread with a large stack. A panic in the compiler is a bug: it is resumed
/// here, after the panic hook has printed its message.
fn compile_with_big_stack(sources: &crate::Sources) -> Result<crate::Program, crate::Diagnostics> {
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("compile".into())
            .stack_size(COMPILER_STACK)
            .spawn_scoped(scope, || crate::compile(sources));
        match spawned {
            Ok(handle) => handle
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            // No thread to be had (resource limits): compile here rather than not at all.
            Err(_) => crate::compile(sources),
        }
    })
}
