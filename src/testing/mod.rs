//! Golden transcript tests (`scenarist test`): test files in, one result per file out (and,
//! with `--bless`, rewritten files). [`format`] reads the files, `runner` replays them through
//! stub HTTP, [`report`] renders the results. Each bot is compiled once per run and its
//! [`Runtime`] is shared by every worker thread.

pub mod format;
mod json_diff;
pub mod render;
pub mod report;
mod runner;
mod stub;

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

pub use format::{Problem, TestFile};
pub use runner::{ConversationReport, DEFAULT_NOW_MS, DEFAULT_USER_ID, DEFAULT_USER_NAME};

use crate::eval::{Options, Runtime};
use crate::{Diagnostics, Program, Sources};

/// A runtime is shared by every job: it must stay `Send + Sync`.
const _: fn() = || {
    fn shared<T: Send + Sync>() {}
    shared::<Runtime>();
};

/// How to compile a bot (the CLI compiles on a thread with a large stack).
pub type Compile<'a> = &'a (dyn Fn(&Sources) -> Result<Program, Diagnostics> + Sync);

/// What to run and how.
#[derive(Clone, Debug)]
pub struct Config {
    /// Files to run: see [`discover`].
    pub files: Vec<PathBuf>,
    pub jobs: usize,
    pub bless: bool,
    pub coverage: bool,
    /// `--max-response-bytes`: stubs obey the same cap as real responses.
    pub max_response_bytes: u64,
    /// `--record`: talk to the real endpoints with this client (the operator's host policy)
    /// and write their responses into the files as stubs.
    pub record: Option<crate::http::Client>,
}

/// A bot the tests talk to.
pub struct Bot {
    /// Its path, as shown to the user.
    pub shown: String,
    pub state: BotState,
    /// With `--coverage`: which blocks some test entered, indexed like `blocks`.
    pub reached: Vec<bool>,
}

pub enum BotState {
    Ready {
        /// Every block, `scenario::block`, with its place (`path/file.scn:LINE`).
        blocks: Vec<(String, String)>,
    },
    /// It does not compile: its diagnostics.
    Broken(Box<(Sources, Diagnostics)>),
    /// It cannot be read (no such directory, no `.scn` files…).
    Missing(String),
}

/// The result of one test file.
#[derive(Debug)]
pub struct FileResult {
    pub path: PathBuf,
    /// Index into the run's bots, once the file named one.
    pub bot: Option<usize>,
    pub outcome: Outcome,
    pub duration: Duration,
}

#[derive(Debug)]
pub enum Outcome {
    Passed,
    /// `--bless` rewrote the file, and it passes now.
    Blessed,
    /// `--record` wrote the real responses into the file, and it passes offline now.
    Recorded,
    /// The transcript differs, or stubs and requests do not pair up. `note` says why
    /// `--bless` left the file alone, when it did.
    Failed {
        conversations: Vec<ConversationReport>,
        note: Option<String>,
    },
    /// The file is not a valid test file.
    Malformed(Vec<Problem>),
    /// The file cannot be read, or its bot cannot be compiled (`message` says which).
    Error(String),
}

impl Outcome {
    pub fn passed(&self) -> bool {
        matches!(self, Outcome::Passed | Outcome::Blessed | Outcome::Recorded)
    }
}

/// The whole run.
pub struct Run {
    pub files: Vec<FileResult>,
    pub bots: Vec<Bot>,
}

/// The test files named by PATHs: files as they are, directories searched for `*.test`
/// (hidden directories and `target` skipped), sorted, without duplicates.
pub fn discover(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("{}: {}", path.display(), io_reason(&e)))?;
        if !meta.is_dir() {
            found.push(path.clone());
            continue;
        }
        let before = found.len();
        let walk = walkdir::WalkDir::new(path)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| {
                e.depth() == 0
                    || !e.file_type().is_dir()
                    || !(e.file_name().to_string_lossy().starts_with('.')
                        || e.file_name() == "target")
            });
        for entry in walk {
            let entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
            if entry.file_type().is_file() && entry.path().extension().is_some_and(|x| x == "test")
            {
                found.push(entry.into_path());
            }
        }
        if found.len() == before {
            return Err(format!("{}: no .test files found", path.display()));
        }
    }
    found.sort();
    found.dedup();
    Ok(found)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        _ => e.to_string(),
    }
}

/// The bot a test file talks to: `bot PATH` relative to the file's directory; by default the
/// file's directory, or its parent when that directory is called `tests`.
pub fn bot_path(test: &Path, setting: Option<&str>) -> PathBuf {
    let dir = match test.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    // `.` and `..` have no name of their own: ask the file system for it.
    let name = match dir.file_name() {
        Some(n) => Some(n.to_os_string()),
        None => std::fs::canonicalize(&dir)
            .ok()
            .and_then(|d| d.file_name().map(|n| n.to_os_string())),
    };
    let path = match setting {
        Some(b) => dir.join(b),
        None if name.is_some_and(|n| n == "tests") => dir.join(".."),
        None => dir,
    };
    tidy(&path)
}

/// `a/b/../c/.` → `a/c`, without touching the file system.
fn tidy(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                let last = out.components().next_back();
                if matches!(last, Some(Component::Normal(_))) {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        out
    }
}

/// Runs `f` over `items` on `jobs` threads; results in the items' order. Each thread gets its
/// own state from `init`.
fn parallel<T: Sync, S, R: Send>(
    items: &[T],
    jobs: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, usize, &T) -> R + Sync,
) -> Vec<R> {
    let jobs = jobs.clamp(1, items.len().max(1));
    let next = AtomicUsize::new(0);
    let work = || {
        let mut state = init();
        let mut mine = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(i) else { break mine };
            mine.push((i, f(&mut state, i, item)));
        }
    };
    let mut all: Vec<(usize, R)> = if jobs == 1 {
        work()
    } else {
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..jobs).map(|_| scope.spawn(work)).collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    all.sort_by_key(|(i, _)| *i);
    all.into_iter().map(|(_, r)| r).collect()
}

/// A test file read and parsed, with the bot it names.
struct Loaded {
    file: Result<TestFile, Outcome>,
    bot: PathBuf,
}

fn load(path: &Path) -> Loaded {
    let file = match crate::source::read_file(path) {
        Ok(bytes) => format::parse(&bytes).map_err(Outcome::Malformed),
        Err(e) => Err(Outcome::Error(format!(
            "cannot read the file: {}",
            io_reason(&e)
        ))),
    };
    let setting = file.as_ref().ok().and_then(|f| f.settings.bot.clone());
    Loaded {
        bot: bot_path(path, setting.as_deref()),
        file,
    }
}

/// What selects a runtime: the bot and the options a test file may set.
type RuntimeKey = (usize, i64, u64);

/// Runs every test file. Results come in the files' order.
pub fn run(config: &Config, compile: Compile<'_>) -> Run {
    let loaded = parallel(&config.files, config.jobs, || (), |_, _, p| load(p));

    // Each bot once, and one runtime per (bot, clock, step limit) the files ask for.
    let mut bots: Vec<Bot> = Vec::new();
    let mut bot_paths: Vec<PathBuf> = Vec::new();
    let mut bot_index: HashMap<PathBuf, usize> = HashMap::new();
    let mut file_bot = Vec::with_capacity(loaded.len());
    for l in &loaded {
        let key = std::fs::canonicalize(&l.bot).unwrap_or_else(|_| l.bot.clone());
        let index = *bot_index.entry(key).or_insert_with(|| {
            bot_paths.push(l.bot.clone());
            bots.push(Bot {
                shown: l.bot.display().to_string(),
                state: BotState::Missing(String::new()),
                reached: Vec::new(),
            });
            bots.len() - 1
        });
        file_bot.push(index);
    }
    let mut wanted: Vec<RuntimeKey> = loaded
        .iter()
        .zip(&file_bot)
        .filter_map(|(l, &b)| l.file.as_ref().ok().map(|f| key_of(b, f)))
        .collect();
    wanted.sort_unstable();
    wanted.dedup();
    // One compilation per bot; a second clock or step limit for the same bot (rare) compiles
    // it again, since a runtime owns its program.
    let built = parallel(
        &bot_paths,
        config.jobs,
        || (),
        |_, b, path| {
            let keys: Vec<RuntimeKey> = wanted.iter().filter(|k| k.0 == b).copied().collect();
            if keys.is_empty() {
                return (BotState::Missing(String::new()), Vec::new());
            }
            let (state, compiled) = compile_bot(path, compile);
            let mut compiled = compiled;
            let mut runtimes = Vec::new();
            for key in keys {
                let program = match compiled.take() {
                    Some(p) => Some(p),
                    None => load_and_compile(path, compile),
                };
                if let Some((program, sources)) = program {
                    runtimes.push((key, runtime(path, program, sources, key)));
                }
            }
            (state, runtimes)
        },
    );
    let mut runtimes: HashMap<RuntimeKey, Runtime> = HashMap::new();
    for (bot, (state, built)) in bots.iter_mut().zip(built) {
        if let BotState::Ready { blocks } = &state {
            bot.reached = vec![false; blocks.len()];
        }
        bot.state = state;
        runtimes.extend(built);
    }

    let jobs: Vec<usize> = (0..loaded.len()).collect();
    let results = parallel(
        &jobs,
        config.jobs,
        || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()
        },
        |tokio, _, &i| {
            let started = Instant::now();
            let l = &loaded[i];
            let b = file_bot[i];
            let (outcome, visited) = match (&l.file, tokio.as_ref()) {
                (Err(Outcome::Malformed(p)), _) => (Outcome::Malformed(p.clone()), None),
                (Err(Outcome::Error(e)), _) => (Outcome::Error(e.clone()), None),
                (Err(_), _) => (Outcome::Error("cannot read the file".into()), None),
                (Ok(_), None) => (
                    Outcome::Error("cannot start the async runtime".into()),
                    None,
                ),
                (Ok(file), Some(tokio)) => match runtimes.get(&key_of(b, file)) {
                    None => (Outcome::Error(bot_failure(&bots[b])), None),
                    Some(rt) => test_file(&config.files[i], file, rt, tokio, config),
                },
            };
            let result = FileResult {
                path: config.files[i].clone(),
                bot: Some(b),
                outcome,
                duration: started.elapsed(),
            };
            (result, visited)
        },
    );
    let mut files = Vec::with_capacity(results.len());
    for (result, visited) in results {
        if let (Some(b), Some(visited)) = (result.bot, visited) {
            for (seen, v) in bots[b].reached.iter_mut().zip(visited) {
                *seen |= v;
            }
        }
        files.push(result);
    }
    Run { files, bots }
}

fn key_of(bot: usize, file: &TestFile) -> RuntimeKey {
    (
        bot,
        file.settings.now_ms.unwrap_or(DEFAULT_NOW_MS),
        file.settings
            .max_steps
            .unwrap_or(Options::default().max_steps),
    )
}

fn bot_failure(bot: &Bot) -> String {
    match &bot.state {
        BotState::Missing(reason) => format!("cannot load the bot: {reason}"),
        _ => format!(
            "the bot {} does not compile (see its diagnostics)",
            bot.shown
        ),
    }
}

fn load_and_compile(path: &Path, compile: Compile<'_>) -> Option<(Program, Sources)> {
    let sources = Sources::load(&[path.to_path_buf()]).ok()?;
    compile(&sources).ok().map(|p| (p, sources))
}

/// Compiles a bot: its state (with its blocks and the places users see, or its diagnostics),
/// and the program when it compiles.
fn compile_bot(path: &Path, compile: Compile<'_>) -> (BotState, Option<(Program, Sources)>) {
    // `bot /etc/shadow` must not print that file's lines in diagnostics.
    if !path.is_dir() && path.extension().is_none_or(|x| x != "scn") {
        return (
            BotState::Missing(format!(
                "{}: a bot is a .scn file or a directory of them; not read",
                path.display()
            )),
            None,
        );
    }
    let sources = match Sources::load(&[path.to_path_buf()]) {
        Ok(s) => s,
        Err(e) => return (BotState::Missing(e.to_string()), None),
    };
    match compile(&sources) {
        Ok(program) => {
            let blocks = program
                .blocks
                .iter()
                .map(|b| {
                    let scenario = &program.scenarios[b.scenario];
                    let file = sources.get(scenario.file);
                    let (line, _) = file.line_col(b.span.start);
                    (
                        format!("{}::{}", scenario.id, b.name),
                        format!("{}:{line}", file.name),
                    )
                })
                .collect();
            (BotState::Ready { blocks }, Some((program, sources)))
        }
        Err(d) => (BotState::Broken(Box::new((sources, d))), None),
    }
}

/// The runtime of a compiled bot. Its files are named relative to the bot, so the places in
/// transcripts (`orders.scn:12`) do not depend on where the tests are run from.
fn runtime(path: &Path, program: Program, mut sources: Sources, key: RuntimeKey) -> Runtime {
    let (_, now_ms, max_steps) = key;
    for f in &mut sources.files {
        let full = PathBuf::from(&f.name);
        let short = if path.is_dir() {
            full.strip_prefix(path).ok().map(Path::to_path_buf)
        } else {
            full.file_name().map(PathBuf::from)
        };
        if let Some(short) = short {
            f.name = short.to_string_lossy().replace('\\', "/");
        }
    }
    let options = Options {
        max_steps,
        now_ms: Some(now_ms),
        ..Options::default()
    };
    Runtime::new(program, sources, options)
}

/// Runs one parsed file; with `--bless`, rewrites it and runs it again.
fn test_file(
    path: &Path,
    file: &TestFile,
    rt: &Runtime,
    tokio: &tokio::runtime::Runtime,
    config: &Config,
) -> (Outcome, Option<Vec<bool>>) {
    let mut visited = config
        .coverage
        .then(|| vec![false; rt.program().blocks.len()]);
    if let Some(client) = &config.record {
        let text = match std::panic::catch_unwind(AssertUnwindSafe(|| {
            runner::record_file(file, rt, tokio, client)
        })) {
            Ok(text) => text,
            Err(_) => {
                let message = "the test runner crashed on this file (a bug in scenarist; the \
                               panic message is above)";
                return (Outcome::Error(message.into()), visited);
            }
        };
        if let Err(e) = write_atomically(path, &text) {
            return (
                Outcome::Error(format!("not recorded: cannot write the file: {e}")),
                visited,
            );
        }
        // What was written must pass offline, from its own stubs.
        return match format::parse(text.as_bytes()) {
            Ok(f) => {
                let run = runner::run_file(
                    &f,
                    rt,
                    tokio,
                    visited.as_deref_mut(),
                    false,
                    config.max_response_bytes,
                );
                if run.passed() {
                    (Outcome::Recorded, visited)
                } else {
                    let note = "recorded, but the replay from the recorded stubs differs (a \
                                random or time-dependent answer?)";
                    (failed(run.conversations, Some(note.into())), visited)
                }
            }
            Err(problems) => (Outcome::Malformed(problems), visited),
        };
    }
    let ran = std::panic::catch_unwind(AssertUnwindSafe(|| {
        runner::run_file(
            file,
            rt,
            tokio,
            visited.as_deref_mut(),
            config.bless,
            config.max_response_bytes,
        )
    }));
    let run = match ran {
        Ok(run) => run,
        Err(_) => {
            let message = "the test runner crashed on this file (a bug in scenarist; the panic \
                           message is above)";
            return (Outcome::Error(message.into()), visited);
        }
    };
    if run.passed() {
        return (Outcome::Passed, visited);
    }
    if !config.bless {
        return (failed(run.conversations, None), visited);
    }
    let Some(text) = run.blessed else {
        let note = if run.conversations.iter().any(|c| c.stubs_mismatch) {
            "not blessed: the requests and the stubs do not pair up (add or remove stubs first)"
        } else {
            "not blessed: the differences are in the inputs, not in the expected parts"
        };
        return (failed(run.conversations, Some(note.into())), visited);
    };
    if let Err(e) = write_atomically(path, &text) {
        let note = format!("not blessed: cannot write the file: {e}");
        return (failed(run.conversations, Some(note)), visited);
    }
    // Check what was written: it must parse and pass (a press of a missing button, say,
    // still fails).
    let again = format::parse(text.as_bytes()).map(|f| {
        let mut seen = config
            .coverage
            .then(|| vec![false; rt.program().blocks.len()]);
        let run = runner::run_file(
            &f,
            rt,
            tokio,
            seen.as_deref_mut(),
            false,
            config.max_response_bytes,
        );
        (run, seen)
    });
    match again {
        Ok((run, _)) if run.passed() => (Outcome::Blessed, visited),
        Ok((run, _)) => (
            failed(
                run.conversations,
                Some("blessed, but still failing: fix the inputs".into()),
            ),
            visited,
        ),
        Err(problems) => (Outcome::Malformed(problems), visited),
    }
}

fn failed(conversations: Vec<ConversationReport>, note: Option<String>) -> Outcome {
    Outcome::Failed {
        conversations,
        note,
    }
}

fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".bless-tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bot_of_a_test_file() {
        let p = |s: &str| PathBuf::from(s);
        assert_eq!(
            bot_path(&p("scenarios/quiz/tests/a.test"), None),
            p("scenarios/quiz")
        );
        assert_eq!(
            bot_path(&p("scenarios/quiz/a.test"), None),
            p("scenarios/quiz")
        );
        assert_eq!(bot_path(&p("a.test"), None), p("."));
        assert_eq!(bot_path(&p("tests/a.test"), None), p("."));
        assert_eq!(
            bot_path(&p("x/tests/a.test"), Some("../../y/bot.scn")),
            p("y/bot.scn")
        );
        assert_eq!(bot_path(&p("../t/a.test"), Some("../../b")), p("../../b"));
    }
}
