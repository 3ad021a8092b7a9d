//! `scenarist test [PATH]...`: golden transcript tests. Test files in (files, or directories
//! searched for `*.test`), failures with diffs and a `N passed, M failed` line out; exit
//! status 0 (all passed), 1 (failures, or a bot that does not compile) or 2 (usage).

use std::io::Write;
use std::path::PathBuf;

use clap::Args;

use super::{status, usage_error};
use crate::report;
use crate::testing::{self, BotState, Outcome};

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Test files, or directories to search for `*.test` files (default: the current
    /// directory).
    #[arg(value_name = "PATH")]
    paths: Vec<PathBuf>,

    /// Rewrite the expected parts of failing files with what actually happened (inputs,
    /// stubs and comments are kept).
    #[arg(long)]
    bless: bool,

    /// Run the conversations against the real endpoints and write their responses into the
    /// files as stubs (secrets redacted), so a test of a real API is written by talking to it
    /// once.
    #[arg(long, conflicts_with = "bless")]
    record: bool,

    /// With --record: only these hosts may be called (repeatable; as `run --allow-host`).
    /// Without it, any public host may, and private and loopback addresses are refused.
    #[arg(long, value_name = "HOST[:PORT]", requires = "record")]
    allow_host: Vec<String>,

    /// Largest stubbed response body accepted, in bytes, as `run` does for real ones; a
    /// larger one is a transport failure.
    #[arg(long, value_name = "N", default_value_t = crate::http::DEFAULT_MAX_RESPONSE_BYTES)]
    max_response_bytes: u64,

    /// Test files run in parallel (default: the number of CPUs).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    jobs: Option<u32>,

    /// Also write a JUnit XML report to FILE.
    #[arg(long, value_name = "FILE")]
    junit: Option<PathBuf>,

    /// Report the blocks of each bot that no test reached.
    #[arg(long)]
    coverage: bool,

    /// List passing files too.
    #[arg(long, short)]
    verbose: bool,
}

pub fn run(args: TestArgs) -> u8 {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from(".")]
    } else {
        args.paths.clone()
    };
    let files = match testing::discover(&paths) {
        Ok(f) => f,
        Err(e) => return usage_error(e),
    };
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |n| n as usize,
    );
    let config = testing::Config {
        files,
        jobs,
        bless: args.bless,
        coverage: args.coverage,
        max_response_bytes: args.max_response_bytes,
        record: None,
    };
    let config = if args.record {
        let policy = match crate::http::Policy::allow(&args.allow_host) {
            Ok(p) => p,
            Err(e) => return usage_error(e),
        };
        let limits = crate::http::Limits {
            max_response_bytes: args.max_response_bytes,
        };
        testing::Config {
            record: Some(crate::http::Client::new(policy, limits)),
            ..config
        }
    } else {
        config
    };
    let run = testing::run(&config, &|sources| super::compile_with_big_stack(sources));

    let stderr = std::io::stderr();
    let stdout = std::io::stdout();
    let err_color = report::use_color(&stderr);
    let out_color = report::use_color(&stdout);
    let mut err = stderr.lock();
    let mut out = stdout.lock();

    // A bot that does not compile: its diagnostics, once, before the files that use it.
    let mut failed_bots = false;
    for (b, bot) in run.bots.iter().enumerate() {
        let used = run.files.iter().any(|f| {
            f.bot == Some(b) && matches!(&f.outcome, Outcome::Error(_) | Outcome::Failed { .. })
        });
        if let (BotState::Broken(broken), true) = (&bot.state, used) {
            let (sources, diagnostics) = &**broken;
            let summary = report::Summary::new(sources.files.len(), diagnostics, false);
            let text = report::render_check(sources, diagnostics, &summary, err_color);
            let _ = err.write_all(text.as_bytes());
            failed_bots = true;
        }
    }
    for f in &run.files {
        if let Outcome::Malformed(problems) = &f.outcome {
            let _ = err.flush();
            let text =
                testing::report::problems(&f.path.display().to_string(), problems, err_color);
            let _ = err.write_all(text.as_bytes());
            let _ = err.flush();
        }
        let text = testing::report::file_result(f, out_color, args.verbose);
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
    if args.coverage {
        let _ = out.write_all(testing::report::coverage(&run).as_bytes());
    }
    let blessed = run
        .files
        .iter()
        .filter(|f| matches!(f.outcome, Outcome::Blessed | Outcome::Recorded))
        .count();
    if blessed > 0 {
        let _ = writeln!(
            out,
            "{blessed} file{} {}: review the changes (git diff) before committing",
            if blessed == 1 { "" } else { "s" },
            if args.record { "recorded" } else { "blessed" }
        );
    }
    let _ = writeln!(out, "{}", testing::report::summary(&run));
    let _ = out.flush();
    if let Some(path) = &args.junit {
        if let Err(e) = std::fs::write(path, testing::report::junit(&run)) {
            return usage_error(format!("cannot write {}: {e}", path.display()));
        }
    }
    if failed_bots || run.files.iter().any(|f| !f.outcome.passed()) {
        status::FAILED
    } else {
        status::OK
    }
}
