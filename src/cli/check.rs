//! `scenarist check [PATH]...`: PATHs in, diagnostics out (stderr, or a JSON array on stdout),
//! exit status 0, 1 or 2.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, ValueEnum};

use super::{status, usage_error};
use crate::report::{self, Summary};
use crate::Sources;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scenario files (.scn) or directories; together they form one bot.
    #[arg(value_name = "PATH", default_value = ".")]
    paths: Vec<PathBuf>,

    /// How to print diagnostics: for people (stderr) or as a JSON array (stdout).
    #[arg(long, value_enum, default_value_t = Format::Human)]
    format: Format,

    /// Fail (exit status 1) on warnings too.
    #[arg(long)]
    deny_warnings: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// rustc-style reports with the source underlined, on stderr.
    Human,
    /// A JSON array of {severity, code, message, file, line, column}, on stdout.
    Json,
}

pub fn run(args: CheckArgs) -> u8 {
    let sources = match Sources::load(&args.paths) {
        Ok(sources) => sources,
        Err(e) => return usage_error(e),
    };
    let diagnostics = match super::compile_with_big_stack(&sources) {
        Ok(mut program) => {
            let warnings = std::mem::take(&mut program.warnings);
            // The process ends right after reporting: freeing a large bot's syntax tree node
            // by node would cost a tenth of the whole check.
            std::mem::forget(program);
            warnings
        }
        Err(diagnostics) => diagnostics,
    };
    let summary = Summary::new(sources.files.len(), &diagnostics, args.deny_warnings);
    // A closed pipe is no reason to report the bot differently: write errors are ignored.
    match args.format {
        Format::Json => {
            let _ = std::io::stdout()
                .lock()
                .write_all(report::render_json(&sources, &diagnostics).as_bytes());
        }
        Format::Human => {
            let stderr = std::io::stderr();
            let text =
                report::render_check(&sources, &diagnostics, &summary, report::use_color(&stderr));
            let _ = stderr.lock().write_all(text.as_bytes());
        }
    }
    if summary.failed() {
        status::FAILED
    } else {
        status::OK
    }
}
