//! The command-line contract (CLI.md) of `scenarist check`, driving the real binary: exit
//! statuses, which stream gets what, the JSON form, colour.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const FIXTURES: &str = "tests/fixtures/check";

fn scenarist(args: &[&str]) -> Output {
    command(args).output().expect("cannot run scenarist")
}

fn command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_scenarist"));
    command
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("NO_COLOR");
    command
}

fn fixture(name: &str) -> String {
    format!("{FIXTURES}/{name}")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn status(output: &Output) -> i32 {
    output
        .status
        .code()
        .expect("scenarist was killed by a signal")
}

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("cli")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("cannot create a scratch directory");
    dir
}

#[test]
fn clean_bot_exits_0() {
    let output = scenarist(&["check", &fixture("ok_order_status.scn")]);
    assert_eq!(status(&output), 0, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("ok: 1 file checked"),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output), "");
}

#[test]
fn errors_exit_1_and_go_to_stderr() {
    let output = scenarist(&["check", &fixture("err_unknown_block.scn")]);
    assert_eq!(status(&output), 1, "{}", stderr(&output));
    let err = stderr(&output);
    assert!(err.contains("scn::unknown-block"), "{err}");
    assert!(err.contains("err_unknown_block.scn:6:"), "{err}");
    assert!(err.contains("error: could not compile the bot"), "{err}");
    assert_eq!(
        stdout(&output),
        "",
        "human diagnostics must not go to stdout"
    );
}

#[test]
fn warnings_pass_unless_denied() {
    let file = fixture("warn_unreachable_block.scn");
    let output = scenarist(&["check", &file]);
    assert_eq!(status(&output), 0, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("scn::unreachable-block"),
        "{}",
        stderr(&output)
    );

    let output = scenarist(&["check", "--deny-warnings", &file]);
    assert_eq!(status(&output), 1, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("warnings are denied"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn missing_file_is_a_usage_error() {
    let output = scenarist(&["check", "no/such/bot.scn"]);
    assert_eq!(status(&output), 2);
    assert!(
        stderr(&output).starts_with("error: "),
        "{}",
        stderr(&output)
    );
    assert!(
        stderr(&output).contains("no/such/bot.scn"),
        "{}",
        stderr(&output)
    );
    assert_eq!(stdout(&output), "");
}

#[test]
fn directory_without_scenarios_is_a_usage_error() {
    let dir = scratch("empty");
    let output = scenarist(&["check", &dir.display().to_string()]);
    assert_eq!(status(&output), 2);
    assert!(
        stderr(&output).contains("no .scn files"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        &["check", "--no-such-flag"][..],
        &["check", "--format", "xml"],
        &["no-such-command"],
        &[],
    ] {
        let output = scenarist(args);
        assert_eq!(status(&output), 2, "{args:?}: {}", stderr(&output));
        assert_eq!(stdout(&output), "", "{args:?}");
    }
}

#[test]
fn help_and_version_exit_0() {
    for args in [&["--help"][..], &["--version"], &["check", "--help"]] {
        let output = scenarist(args);
        assert_eq!(status(&output), 0, "{args:?}: {}", stderr(&output));
    }
    assert!(stdout(&scenarist(&["--version"])).starts_with("scenarist "));
    let help = stdout(&scenarist(&["check", "--help"]));
    assert!(
        help.contains("--format") && help.contains("--deny-warnings"),
        "{help}"
    );
}

#[test]
fn json_is_an_array_with_the_contract_keys_on_stdout() {
    let file = fixture("err_unknown_block.scn");
    let output = scenarist(&["check", "--format", "json", &file]);
    assert_eq!(status(&output), 1, "{}", stderr(&output));
    assert_eq!(stderr(&output), "", "the JSON form prints nothing else");
    let json: Value = serde_json::from_str(&stdout(&output)).expect("stdout is not JSON");
    let items = json.as_array().expect("not a JSON array");
    assert!(!items.is_empty());
    for item in items {
        for key in ["severity", "code", "message", "file", "line", "column"] {
            assert!(item.get(key).is_some(), "no {key:?} in {item}");
        }
        assert!(item["line"].as_u64().is_some_and(|n| n >= 1), "{item}");
        assert!(item["column"].as_u64().is_some_and(|n| n >= 1), "{item}");
        assert!(
            ["error", "warning"].contains(&item["severity"].as_str().unwrap_or("")),
            "{item}"
        );
    }
    // The typo `trak` sits on line 6; its column counts from 1.
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(&file))
        .expect("cannot read the fixture");
    let line = text.lines().nth(5).unwrap_or("");
    let column = line.find("trak").map(|c| c + 1);
    let unknown = items
        .iter()
        .find(|i| i["code"] == "scn::unknown-block")
        .expect("no scn::unknown-block");
    assert_eq!(unknown["file"], file.as_str());
    assert_eq!(unknown["line"], 6);
    assert_eq!(unknown["column"].as_u64(), column.map(|c| c as u64));
}

#[test]
fn json_of_a_clean_bot_is_an_empty_array() {
    let output = scenarist(&["check", "--format=json", &fixture("ok_order_status.scn")]);
    assert_eq!(status(&output), 0, "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "[]");
}

#[test]
fn no_colour_when_not_a_terminal_or_with_no_color() {
    let file = fixture("err_unknown_block.scn");
    let piped = scenarist(&["check", &file]);
    assert!(!stderr(&piped).contains('\u{1b}'), "{}", stderr(&piped));
    let no_color = command(&["check", &file])
        .env("NO_COLOR", "1")
        .output()
        .expect("cannot run");
    assert!(
        !stderr(&no_color).contains('\u{1b}'),
        "{}",
        stderr(&no_color)
    );
    assert_eq!(stderr(&piped), stderr(&no_color));
}

#[test]
fn all_paths_form_one_bot() {
    // `orders` jumps into `support` and back: alone, each file names a scenario it cannot see.
    let dir = fixture("ok_two_scenarios");
    let orders = format!("{dir}/orders.scn");
    let support = format!("{dir}/support.scn");
    let together = scenarist(&["check", &orders, &support]);
    assert_eq!(status(&together), 0, "{}", stderr(&together));
    assert!(
        stderr(&together).contains("ok: 2 files checked"),
        "{}",
        stderr(&together)
    );
    let alone = scenarist(&["check", &orders]);
    assert_eq!(status(&alone), 1, "{}", stderr(&alone));
    assert!(
        stderr(&alone).contains("scn::unknown-scenario"),
        "{}",
        stderr(&alone)
    );
}

#[test]
fn default_path_is_the_current_directory() {
    let dir = scratch("default_path");
    std::fs::write(
        dir.join("hello.scn"),
        "on start goto hi\n\nblock hi {\n  say \"Hi!\"\n}\n",
    )
    .expect("cannot write a scenario");
    let output = command(&["check"])
        .current_dir(&dir)
        .output()
        .expect("cannot run");
    assert_eq!(status(&output), 0, "{}", stderr(&output));
    assert!(
        stderr(&output).contains("ok: 1 file checked"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn adversarial_nesting_is_reported_not_crashed() {
    let dir = scratch("deep");
    let depth = 100_000;
    let text = format!(
        "block a {{\n  set %x% = {}1{}\n}}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    std::fs::write(dir.join("deep.scn"), text).expect("cannot write a scenario");
    let output = scenarist(&["check", "--format", "json", &dir.display().to_string()]);
    assert_eq!(status(&output), 1, "{}", stderr(&output));
    assert!(
        stdout(&output).contains("scn::too-deep"),
        "{}",
        stdout(&output)
    );
}
