//! `scenarist test` through the real binary: every example bot's golden tests pass (this is how
//! `cargo test` replays them), and the runner itself — diffs with file and line, stub problems
//! named, `--bless` (idempotent), `--junit`, `--coverage`, malformed files, broken and
//! looping bots, exit statuses. Plus a property test: mutated test files never crash the runner
//! and blessing them twice changes nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn scenarist(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_scenarist"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR")
        .output()
        .expect("cannot run scenarist")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn status(o: &Output) -> i32 {
    o.status.code().expect("scenarist was killed by a signal")
}

fn last_line(o: &Output) -> String {
    stdout(o).lines().last().unwrap_or_default().to_string()
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scenarist-golden-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("tests")).expect("temp dir");
    dir
}

fn write(path: &Path, text: &str) -> String {
    std::fs::write(path, text).expect("write");
    path.display().to_string()
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).expect("read")
}

/// A bot with a message, buttons, a request with `on error`, a notify and a log.
const BOT: &str = r#"user %token% = ""
on start goto hello
block hello {
  say "Hello, %user_name%!" {
    button "Price"
    button "Stop" goto stop
    link "Site" "https://example.com/?a=1"
  }
  wait
  http POST "https://api.example.com/prices?item=%message%" {
    header Authorization: "Bearer %token%"
    header X-Trace: "t-1"
    json {"item": %message%, "qty": 2}
    on error goto down
  }
  log "status %status%"
  say "It costs %body.price% <EUR> & more."
  notify "asked: %message%"
}
block down {
  say "Prices are down: %error%"
}
block stop {
  say "Bye."
}
"#;

const GOOD: &str = r#"# A price question.
user-name Ann
secret token = tk_123

> hi
< Hello, Ann!
  [Price] [Stop -> stop] [Site ↗ https://example.com/?a=1]
> Price
http POST https://api.example.com/prices?item=Price
  Authorization: Bearer ***
  {"qty": 2, "item": "Price"}
→ 200
  {"price": 12}
log: status 200
< It costs 12 <EUR> & more.
notify: asked: Price
"#;

fn bot_dir(name: &str, test: &str) -> (PathBuf, String) {
    let dir = scratch(name);
    write(&dir.join("bot.scn"), BOT);
    let test = write(&dir.join("tests").join("price.test"), test);
    (dir, test)
}

#[test]
fn every_example_bot_passes_its_golden_tests() {
    let o = scenarist(&["test", "scenarios"]);
    let files = walk("scenarios").len();
    assert!(files >= 5, "every example bot has tests");
    assert_eq!(status(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(last_line(&o), format!("{files} passed, 0 failed"));
    for bot in ["booking", "crm_lead", "quiz", "shop_orders", "support"] {
        let tests = Path::new("scenarios").join(bot).join("tests");
        assert!(
            std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(&tests)).is_ok(),
            "{bot} has golden tests"
        );
    }
}

fn walk(dir: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x == "test") {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn the_example_bots_cover_every_block_and_take_an_http_failure_path() {
    let o = scenarist(&["test", "--coverage", "scenarios"]);
    assert_eq!(status(&o), 0, "{}", stdout(&o));
    let out = stdout(&o);
    assert_eq!(out.matches("blocks reached").count(), 6, "{out}");
    assert!(!out.contains("not reached"), "{out}");
    for bot in ["booking", "crm_lead", "shop_orders", "support"] {
        let failure = walk(&format!("scenarios/{bot}"))
            .iter()
            .any(|p| read(&p.display().to_string()).contains("→ error:"));
        assert!(failure, "{bot} has a test of a failing request");
    }
}

#[test]
fn a_passing_file_passes_and_is_not_touched_by_bless() {
    let (_dir, test) = bot_dir("pass", GOOD);
    let o = scenarist(&["test", &test]);
    assert_eq!(status(&o), 0, "{}", stdout(&o));
    assert_eq!(stdout(&o), "1 passed, 0 failed\n");
    let o = scenarist(&["test", "--bless", &test]);
    assert_eq!(status(&o), 0);
    assert_eq!(read(&test), GOOD);
}

#[test]
fn a_failing_test_shows_a_diff_with_file_and_line() {
    let (_dir, test) = bot_dir("diff", &GOOD.replace("It costs 12", "It costs 13"));
    let o = scenarist(&["test", &test]);
    assert_eq!(status(&o), 1);
    let out = stdout(&o);
    assert!(out.starts_with(&format!("FAIL {test}\n")), "{out}");
    assert!(out.contains(&format!("--> {test}:15\n")), "{out}");
    assert!(
        out.contains("  15 - < It costs 13 <EUR> & more.\n"),
        "{out}"
    );
    assert!(
        out.contains("     + < It costs 12 <EUR> & more.\n"),
        "{out}"
    );
    assert!(
        out.contains("  14   log: status 200\n"),
        "context lines: {out}"
    );
    assert!(!out.contains('\u{1b}'), "no colour when not on a terminal");
    assert_eq!(last_line(&o), "0 passed, 1 failed");
}

#[test]
fn a_request_unlike_the_expected_one_is_named() {
    let changed = GOOD.replace(
        "  {\"qty\": 2, \"item\": \"Price\"}\n",
        "  {\"qty\": 3, \"item\": \"Price\"}\n",
    );
    let (_dir, test) = bot_dir("mismatch", &changed);
    let o = scenarist(&["test", &test]);
    assert_eq!(status(&o), 1);
    let out = stdout(&o);
    assert!(
        out.contains(&format!("{test}:9: the request does not match the one expected here (body): it was POST https://api.example.com/prices?item=Price")),
        "{out}"
    );
    assert!(out.contains("-     \"qty\": 3"), "{out}");
    assert!(out.contains("+     \"qty\": 2"), "{out}");
}

#[test]
fn unlisted_headers_are_not_compared_listed_ones_are() {
    let without = GOOD.replace("  Authorization: Bearer ***\n", "");
    let (_dir, test) = bot_dir("headers", &without);
    assert_eq!(status(&scenarist(&["test", &test])), 0);
    let wrong = GOOD.replace("Bearer ***", "Bearer tk_123");
    let (_dir, test) = bot_dir("headers-secret", &wrong);
    let o = scenarist(&["test", &test]);
    assert_eq!(status(&o), 1, "secrets are *** in the transcript");
    assert!(
        stdout(&o).contains("(header Authorization)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn an_unexpected_request_is_named_and_gets_a_failure() {
    let (_dir, test) = bot_dir("unexpected", "user-name Ann\n> hi\n> Price\n");
    let o = scenarist(&["test", &test]);
    assert_eq!(status(&o), 1);
    let out = stdout(&o);
    assert!(
        out.contains(&format!("{test}:3: unexpected request POST https://api.example.com/prices?item=Price: the test has no stub for it")),
        "{out}"
    );
    assert!(
        out.contains("+ → error: no stub in the test for this request"),
        "{out}"
    );
    assert!(
        out.contains("+ < Prices are down: no stub in the test for this request"),
        "{out}"
    );
}

#[test]
fn an_unused_stub_is_named() {
    let extra = format!("{GOOD}> again\nhttp GET https://api.example.com/other\n→ 200\n");
    let (_dir, test) = bot_dir("unused", &extra);
    let o = scenarist(&["test", &test]);
    assert_eq!(status(&o), 1);
    let out = stdout(&o);
    assert!(
        out.contains(&format!("{test}:18: stub not used: the bot made no request GET https://api.example.com/other here")),
        "{out}"
    );
}

#[test]
fn a_stubbed_transport_failure_takes_on_error() {
    let text = "> hi\n> Price\nhttp POST https://api.example.com/prices?item=Price\n→ error: connection refused\n< Prices are down: connection refused\n";
    let (_dir, test) = bot_dir("failure", text);
    let o = scenarist(&["test", &test]);
    assert_eq!(status(&o), 1, "the greeting is missing");
    let out = stdout(&o);
    assert!(out.contains("+ < Hello, User!"), "{out}");
    assert!(
        !out.contains("Prices are down: connection refused\n     +"),
        "{out}"
    );
    let o = scenarist(&["test", "--bless", &test]);
    assert_eq!(status(&o), 0, "{}", stdout(&o));
    assert_eq!(
        read(&test),
        "> hi\n< Hello, User!\n  [Price] [Stop -> stop] [Site ↗ https://example.com/?a=1]\n> Price\nhttp POST https://api.example.com/prices?item=Price\n→ error: connection refused\n< Prices are down: connection refused\n"
    );
}

#[test]
fn bless_rewrites_only_expected_parts_and_is_idempotent() {
    let stale = r#"# A price question.
user-name Ann
secret token = tk_123

# the greeting
> hi
< Hi, Ann!
# pressing the text button
> Price
http GET https://api.example.com/old
  Authorization: whatever
  X-Trace: t-1
→ 200
  # the price list answers with JSON
  {"price": 12}
< It costs 12 <EUR> & more.
# trailing comment
"#;
    let (_dir, test) = bot_dir("bless", stale);
    let o = scenarist(&["test", "--bless", &test]);
    assert_eq!(status(&o), 0, "{}", stdout(&o));
    assert!(
        stdout(&o).contains(&format!("blessed {test}\n")),
        "{}",
        stdout(&o)
    );
    let blessed = read(&test);
    assert_eq!(
        blessed,
        r#"# A price question.
user-name Ann
secret token = tk_123

# the greeting
> hi
< Hello, Ann!
  [Price] [Stop -> stop] [Site ↗ https://example.com/?a=1]
# pressing the text button
> Price
http POST https://api.example.com/prices?item=Price
  Authorization: Bearer ***
  X-Trace: t-1
→ 200
  # the price list answers with JSON
  {"price": 12}
log: status 200
< It costs 12 <EUR> & more.
notify: asked: Price
# trailing comment
"#
    );
    let o = scenarist(&["test", "--bless", &test]);
    assert_eq!(status(&o), 0);
    assert_eq!(read(&test), blessed, "blessing twice changes nothing");
    let o = scenarist(&["test", &test]);
    assert_eq!(stdout(&o), "1 passed, 0 failed\n");
}

#[test]
fn bless_leaves_a_file_whose_stubs_do_not_pair_up() {
    let text = "> hi\n> Price\n";
    let (_dir, test) = bot_dir("bless-refused", text);
    let o = scenarist(&["test", "--bless", &test]);
    assert_eq!(status(&o), 1);
    assert!(stdout(&o).contains("not blessed: the requests and the stubs do not pair up"));
    assert_eq!(read(&test), text);
}

#[test]
fn junit_report_is_well_formed_and_escaped() {
    let dir = scratch("junit");
    write(&dir.join("bot.scn"), BOT);
    write(&dir.join("tests").join("good.test"), GOOD);
    write(
        &dir.join("tests").join("bad.test"),
        &GOOD.replace("It costs 12 <EUR> & more.", "It costs \"12\" <EUR> & more."),
    );
    write(
        &dir.join("tests").join("broken.test"),
        "> hi\nnonsense <&>\n",
    );
    let report = dir.join("report.xml").display().to_string();
    let o = scenarist(&["test", "--junit", &report, &dir.display().to_string()]);
    assert_eq!(status(&o), 1);
    assert_eq!(last_line(&o), "1 passed, 2 failed");
    let xml = read(&report);
    assert!(
        xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites"),
        "{xml}"
    );
    assert!(xml.contains("tests=\"3\" failures=\"2\""), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 3, "{xml}");
    assert_eq!(xml.matches("<failure ").count(), 2, "{xml}");
    assert!(
        xml.contains("It costs &quot;12&quot; &lt;EUR&gt; &amp; more."),
        "{xml}"
    );
    assert!(xml.contains("nonsense &lt;&amp;&gt;"), "{xml}");
    well_formed(&xml);
}

/// A small XML well-formedness check: balanced tags, quoted attributes, only the five
/// entities, no raw `<` or `&` in text, no control characters.
fn well_formed(xml: &str) {
    let body = xml
        .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
        .expect("XML declaration");
    let mut stack: Vec<String> = Vec::new();
    let mut rest = body;
    while let Some(open) = rest.find(['<', '&']) {
        check_text(&rest[..open]);
        rest = &rest[open..];
        if let Some(entity) = rest.strip_prefix('&') {
            let end = entity.find(';').expect("entity ends with ;");
            assert!(
                ["amp", "lt", "gt", "quot", "apos"].contains(&&entity[..end]),
                "unknown entity {}",
                &entity[..end]
            );
            rest = &entity[end + 1..];
            continue;
        }
        let end = rest.find('>').expect("tag closes");
        let tag = &rest[1..end];
        rest = &rest[end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(stack.pop().as_deref(), Some(name), "balanced tags");
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name = tag.split_whitespace().next().expect("tag name").to_string();
        let attributes = &tag[name.len()..];
        assert_eq!(
            attributes.matches('"').count() % 2,
            0,
            "quoted attributes: {tag}"
        );
        assert!(!attributes.contains('<'), "no < in attributes: {tag}");
        if !self_closing {
            stack.push(name);
        }
    }
    check_text(rest);
    assert!(stack.is_empty(), "unclosed tags: {stack:?}");
}

fn check_text(text: &str) {
    assert!(
        !text
            .chars()
            .any(|c| (c as u32) < 0x20 && !matches!(c, '\n' | '\r' | '\t')),
        "control characters in XML text"
    );
}

#[test]
fn a_malformed_test_file_gets_diagnostics_with_lines() {
    let text = "> hi\nhttp POST\n→ abc\n  {\"ok\": tru\nbogus line\n  [x]\n< after\n";
    let (_dir, test) = bot_dir("malformed", text);
    let o = scenarist(&["test", &test]);
    assert_eq!(status(&o), 1);
    let err = stderr(&o);
    for (line, what) in [
        (2, "a request is written `http METHOD URL`"),
        (3, "expected a status from 100 to 599"),
        (4, "this JSON body does not parse"),
        (5, "cannot read this line"),
        (6, "buttons (`[Label]`) belong right under a bot message"),
    ] {
        assert!(
            err.contains(&format!("error: {test}:{line}: {what}")),
            "{line}: {err}"
        );
    }
    assert!(err.contains("5 | bogus line"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(stdout(&o).contains(&format!("FAIL {test}: not a valid test file (5 problems)")));
}

#[test]
fn invalid_utf8_and_binary_files_are_diagnosed() {
    let dir = scratch("binary");
    write(&dir.join("bot.scn"), BOT);
    let test = dir.join("tests").join("bin.test");
    std::fs::write(&test, b"> hi\n\xff\xfe\x00\x01").expect("write");
    let o = scenarist(&["test", &test.display().to_string()]);
    assert_eq!(status(&o), 1);
    assert!(
        stderr(&o).contains("bin.test:2: the file is not valid UTF-8"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn a_bot_that_does_not_compile_reports_its_diagnostics() {
    let dir = scratch("broken");
    write(
        &dir.join("bot.scn"),
        "on start goto hello\nblock hello {\n  goto nowhere\n}\n",
    );
    let a = write(&dir.join("tests").join("a.test"), "> hi\n");
    write(&dir.join("tests").join("b.test"), "> hi\n");
    let o = scenarist(&["test", &dir.display().to_string()]);
    assert_eq!(status(&o), 1);
    let err = stderr(&o);
    assert_eq!(
        err.matches("unknown block `nowhere`").count(),
        1,
        "once per bot: {err}"
    );
    assert!(err.contains("scn::unknown-block"), "{err}");
    let out = stdout(&o);
    assert!(out.contains(&format!("FAIL {a}: the bot ")), "{out}");
    assert!(out.contains("does not compile"), "{out}");
    assert_eq!(last_line(&o), "0 passed, 2 failed");
}

#[test]
fn a_looping_or_failing_bot_fails_with_the_error_shown() {
    let dir = scratch("loop");
    write(
        &dir.join("bot.scn"),
        "on message \"spin\" goto spin\non message \"div\" goto div\nblock spin {\n  goto spin\n}\nblock div {\n  say \"{{ 1 / 0 }}\"\n}\n",
    );
    let test = write(
        &dir.join("tests").join("loop.test"),
        "> spin\n< hello\n> div\n",
    );
    let o = scenarist(&["test", &test]);
    assert_eq!(status(&o), 1);
    let out = stdout(&o);
    assert!(out.contains("+ error: bot.scn:4: the turn ran 10000 statements without waiting for the user (in block `spin`)"), "{out}");
    assert!(
        out.contains("+ error: bot.scn:7: division by zero"),
        "{out}"
    );
    // `max-steps` lowers the limit for a file.
    let test = write(
        &dir.join("tests").join("steps.test"),
        "max-steps 50\n> spin\nerror: bot.scn:4: the turn ran 50 statements without waiting for the user (in block `spin`); raise the limit with --max-steps if this is intended\n",
    );
    assert_eq!(status(&scenarist(&["test", &test])), 0);
}

#[test]
fn coverage_lists_the_blocks_no_test_reached() {
    let (dir, test) = bot_dir("coverage", GOOD);
    let o = scenarist(&["test", "--coverage", &test]);
    assert_eq!(status(&o), 0);
    let out = stdout(&o);
    let bot = dir.display().to_string();
    assert!(
        out.contains(&format!(
            "coverage of {bot}: 1 of 3 blocks reached; not reached:\n"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("  bot::down  {bot}/bot.scn:20\n")),
        "{out}"
    );
    assert!(
        out.contains(&format!("  bot::stop  {bot}/bot.scn:23\n")),
        "{out}"
    );
    assert_eq!(last_line(&o), "1 passed, 0 failed");
}

#[test]
fn settings_conversations_and_presses() {
    let text = r#"var greeting = {"word": "Hi"}
now 2026-03-01T10:00:00Z

=== first
user-name Ann
> hi
< Hello, Ann!
  [Price] [Stop -> stop] [Site ↗ https://example.com/?a=1]
> [Stop]
< Bye.

=== second, pressing a button that is not there
> hi
< Hello, User!
  [Price] [Stop -> stop] [Site ↗ https://example.com/?a=1]
> [Site]
"#;
    let (_dir, test) = bot_dir("settings", text);
    let o = scenarist(&["test", &test]);
    assert_eq!(status(&o), 1);
    let out = stdout(&o);
    assert!(
        out.contains(&format!("{test}:16: there is no button [Site] to press: the latest buttons are [Price] [Stop -> stop] [Site ↗ https://example.com/?a=1]")),
        "{out}"
    );
    assert!(
        !out.contains("conversation at line 4"),
        "the first conversation passes: {out}"
    );
}

#[test]
fn the_clock_and_the_random_numbers_are_fixed() {
    let dir = scratch("clock");
    write(
        &dir.join("bot.scn"),
        "on message \"t\" goto t\nblock t {\n  say \"{{ today() }} {{ rand(1, 1000000) }}\"\n}\n",
    );
    let test = write(
        &dir.join("tests").join("clock.test"),
        "> t\n=== another seed\nseed 7\n> t\n",
    );
    let o = scenarist(&["test", "--bless", &test]);
    assert_eq!(status(&o), 0, "{}", stdout(&o));
    let blessed = read(&test);
    let lines: Vec<&str> = blessed.lines().filter(|l| l.starts_with('<')).collect();
    assert_eq!(lines.len(), 2, "{blessed}");
    assert!(
        lines[0].starts_with("< 2026-01-15 "),
        "the default clock: {blessed}"
    );
    assert_ne!(lines[0], lines[1], "`seed` changes the random numbers");
    // The same numbers as `scenarist run` for the same user.
    let run = Command::new(env!("CARGO_BIN_EXE_scenarist"))
        .args(["run", &dir.join("bot.scn").display().to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().map(|mut i| i.write_all(b"t\n"));
            child.wait_with_output()
        })
        .expect("scenarist run");
    let number = lines[0].rsplit(' ').next().unwrap_or_default();
    assert!(
        stdout(&run).contains(&format!(" {number}\n")),
        "{}",
        stdout(&run)
    );
    for _ in 0..3 {
        assert_eq!(status(&scenarist(&["test", &test])), 0, "repeatable");
    }
}

#[test]
fn usage_errors_exit_2() {
    let o = scenarist(&["test", "no/such/dir"]);
    assert_eq!(status(&o), 2);
    assert!(stderr(&o).contains("no/such/dir: no such file or directory"));
    let dir = scratch("empty");
    let o = scenarist(&["test", &dir.display().to_string()]);
    assert_eq!(status(&o), 2);
    assert!(stderr(&o).contains("no .test files found"));
    assert_eq!(status(&scenarist(&["test", "--jobs", "0", "scenarios"])), 2);
    assert_eq!(status(&scenarist(&["test", "--frobnicate"])), 2);
}

#[test]
fn jobs_do_not_change_the_output() {
    let one = scenarist(&["test", "--jobs", "1", "--coverage", "scenarios"]);
    let many = scenarist(&["test", "--jobs", "8", "--coverage", "scenarios"]);
    assert_eq!(stdout(&one), stdout(&many));
    assert_eq!(status(&one), 0);
}

mod mutations {
    //! Mutated copies of the example test files: parsing, running and blessing never panic,
    //! and blessing twice changes nothing.

    use std::path::PathBuf;

    use proptest::prelude::*;
    use scenarist::testing::{self, Config, Outcome};

    fn examples() -> Vec<(PathBuf, String)> {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        super::walk("scenarios")
            .into_iter()
            .map(|p| {
                let text = std::fs::read_to_string(&p).unwrap_or_default();
                let bot = p
                    .parent()
                    .and_then(|tests| tests.parent())
                    .map(|b| b.to_path_buf())
                    .unwrap_or_else(|| root.clone());
                (bot, text)
            })
            .collect()
    }

    #[derive(Clone, Debug)]
    enum Mutation {
        DeleteLine(usize),
        DuplicateLine(usize),
        SwapLines(usize, usize),
        InsertText(usize, String),
        Truncate(usize),
        ReplaceChar(usize, char),
    }

    fn mutation() -> impl Strategy<Value = Mutation> {
        let nasty = prop_oneof![
            Just(String::from("> [")),
            Just(String::from("→ 200")),
            Just(String::from("-> error:")),
            Just(String::from("http GET x")),
            Just(String::from("  {\"a\": [")),
            Just(String::from("|")),
            Just(String::from("  [a -> b] [c ↗ d] [\\")),
            Just(String::from("=== t")),
            Just(String::from("var x = {")),
            Just(String::from("  & a=b")),
            Just(String::from("  X: y")),
            Just(String::from("bot /nonexistent")),
            Just(String::from("now 9999-99-99")),
            "[ -~]{0,12}",
            "\\PC{0,6}",
        ];
        prop_oneof![
            any::<usize>().prop_map(Mutation::DeleteLine),
            any::<usize>().prop_map(Mutation::DuplicateLine),
            (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Mutation::SwapLines(a, b)),
            (any::<usize>(), nasty).prop_map(|(a, t)| Mutation::InsertText(a, t)),
            any::<usize>().prop_map(Mutation::Truncate),
            (any::<usize>(), any::<char>()).prop_map(|(a, c)| Mutation::ReplaceChar(a, c)),
        ]
    }

    fn apply(text: &str, mutations: &[Mutation]) -> String {
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        for m in mutations {
            let n = lines.len().max(1);
            match m {
                Mutation::DeleteLine(i) if !lines.is_empty() => {
                    lines.remove(i % n);
                }
                Mutation::DuplicateLine(i) if !lines.is_empty() => {
                    let l = lines[i % n].clone();
                    lines.insert(i % n, l);
                }
                Mutation::SwapLines(a, b) if !lines.is_empty() => lines.swap(a % n, b % n),
                Mutation::InsertText(i, t) => lines.insert(i % (lines.len() + 1), t.clone()),
                Mutation::Truncate(i) => lines.truncate(i % (lines.len() + 1)),
                Mutation::ReplaceChar(i, c) if !lines.is_empty() => {
                    let line = &mut lines[i % n];
                    let chars: Vec<char> = line.chars().collect();
                    if !chars.is_empty() {
                        let k = i % chars.len();
                        *line = chars[..k]
                            .iter()
                            .chain(Some(c))
                            .chain(&chars[k + 1..])
                            .collect();
                    }
                }
                _ => {}
            }
        }
        lines.join("\n") + "\n"
    }

    fn run(path: &std::path::Path, bless: bool) -> Vec<Outcome> {
        let config = Config {
            files: vec![path.to_path_buf()],
            jobs: 1,
            bless,
            coverage: true,
            max_response_bytes: scenarist::http::DEFAULT_MAX_RESPONSE_BYTES,
            record: None,
        };
        let run = testing::run(&config, &|s| scenarist::compile(s));
        run.files.into_iter().map(|f| f.outcome).collect()
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        #[test]
        fn mutated_test_files_never_crash_and_bless_is_idempotent(
            which in any::<usize>(),
            mutations in proptest::collection::vec(mutation(), 1..6),
        ) {
            let examples = examples();
            let (bot, text) = &examples[which % examples.len()];
            let mutated = apply(text, &mutations);
            let dir = std::env::temp_dir()
                .join(format!("scenarist-golden-mutations-{}", std::process::id()));
            std::fs::create_dir_all(&dir).ok();
            let path = dir.join("mutated.test");
            let with_bot = format!("bot {}\n{mutated}", bot.display());
            std::fs::write(&path, &with_bot).ok();
            for outcome in run(&path, false) {
                if let Outcome::Error(e) = &outcome {
                    prop_assert!(!e.contains("crashed"), "{e}");
                }
            }
            run(&path, true);
            let once = std::fs::read_to_string(&path).unwrap_or_default();
            run(&path, true);
            let twice = std::fs::read_to_string(&path).unwrap_or_default();
            prop_assert_eq!(once, twice);
        }
    }
}
