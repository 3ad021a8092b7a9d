//! Hardening through the real binary (issue 12): secrets never reach the disk or the output,
//! state files are saved safely and never mixed up, bad paths and bad input end in clear
//! errors, and text output keeps the bot's order with terminal controls escaped.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn scenarist(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scenarist"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input);
    }
    child.wait_with_output().expect("the binary finishes")
}

/// `scenarist run` with stdout and stderr into one file, as on a terminal.
fn run_merged(args: &[&str], input: &str, dir: &Path) -> String {
    let log = dir.join("merged.log");
    let file = std::fs::File::create(&log).expect("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_scenarist"))
        .arg("run")
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::from(file.try_clone().expect("clone")))
        .stderr(Stdio::from(file))
        .spawn()
        .expect("the binary starts");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    child.wait().expect("finishes");
    std::fs::read_to_string(&log).expect("log")
}

fn dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("scenarist-hardening-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn bot(dir: &Path, text: &str) -> String {
    let path = dir.join("bot.scn");
    std::fs::write(&path, text).expect("write bot");
    path.display().to_string()
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const SECRET: &str = "sk_live_ABCDEFGHIJKLMNOPQRSTUVWXYZ";

const COPIES_THE_SECRET: &str = r#"user %auth% = ""
on start goto a
block a {
  set %auth% = "Bearer %token%"
  set %copy% = %token%
  say "Ready"
  wait
  say "Again"
}
"#;

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).expect("meta").permissions().mode() & 0o777
}

#[test]
fn secrets_and_presets_never_reach_the_state_file() {
    let d = dir("secret-state");
    let b = bot(&d, COPIES_THE_SECRET);
    let state = d.join("state.json");
    let s = state.display().to_string();
    let secret = format!("token={SECRET}");
    let o = scenarist(
        &[
            "run",
            &b,
            "--state",
            &s,
            "--secret",
            &secret,
            "--var",
            "plain=visible-preset",
        ],
        b"hi\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let saved = std::fs::read_to_string(&state).expect("saved");
    assert!(!saved.contains("ABCDEFGH"), "{saved}");
    assert!(
        !saved.contains("visible-preset"),
        "presets are never saved: {saved}"
    );
    assert!(saved.contains("Bearer ***"), "{saved}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(mode(&state), 0o600, "created readable by its owner only");
        // A mode the operator chose is kept.
        std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        let o = scenarist(&["run", &b, "--state", &s, "--secret", &secret], b"more\n");
        assert_eq!(o.status.code(), Some(0), "{}", err(&o));
        assert_eq!(mode(&state), 0o640);
    }
    // The next invocation gets the preset again (it was not saved, it is configuration).
    let o = scenarist(
        &["run", &b, "--state", &s, "--var", "plain=again", "--json"],
        b"x\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
}

#[test]
fn the_state_is_saved_after_every_turn() {
    let d = dir("every-turn");
    let b = bot(
        &d,
        "user %n% = 0\non start goto a\nblock a {\n  set %n% += 1\n  say \"n=%n%\"\n  wait\n  goto a\n}\n",
    );
    let state = d.join("s.json");
    let s = state.display().to_string();
    // A turn that fails to write its output still saved the turns before it: prove the save
    // happens per turn by reading the file while the run waits for input.
    let mut child = Command::new(env!("CARGO_BIN_EXE_scenarist"))
        .args(["run", &b, "--state", &s])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"hi\n").expect("write");
    stdin.flush().expect("flush");
    let started = std::time::Instant::now();
    loop {
        let text = std::fs::read_to_string(&state).unwrap_or_default();
        if text.contains("\"n\": 1") {
            break;
        }
        assert!(
            started.elapsed().as_secs() < 20,
            "not saved after the first turn: {text}"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Meanwhile another run on the same state file is refused, clearly.
    let o = scenarist(&["run", &b, "--state", &s], b"x\n");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("another `scenarist run` is using this state file"),
        "{}",
        err(&o)
    );
    drop(stdin);
    assert!(child.wait().expect("ends").success());
    // No temporary files are left behind.
    let left: Vec<String> = std::fs::read_dir(&d)
        .expect("dir")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[cfg(unix)]
#[test]
fn concurrent_runs_on_one_state_file_never_lose_a_turn() {
    let d = dir("concurrent");
    let b = bot(
        &d,
        "user %n% = 0\non start goto a\non message \"go\" goto a\nblock a {\n  set %n% += 1\n  say \"n=%n%\"\n}\n",
    );
    let state = d.join("s.json");
    let s = state.display().to_string();
    // A symlink where the old fixed temporary name was is never followed.
    let victim = d.join("victim");
    std::fs::write(&victim, "keep").expect("victim");
    std::os::unix::fs::symlink(&victim, d.join("s.tmp")).expect("symlink");
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (b, s) = (b.clone(), s.clone());
            std::thread::spawn(move || {
                let mut done = 0;
                for _ in 0..10 {
                    // Retry while another run holds the lock, as a script would.
                    loop {
                        let o = scenarist(&["run", &b, "--state", &s], b"go\n");
                        match o.status.code() {
                            Some(0) => break,
                            Some(2) if err(&o).contains("another `scenarist run`") => {
                                std::thread::sleep(std::time::Duration::from_millis(5))
                            }
                            other => panic!("{other:?}: {}", err(&o)),
                        }
                    }
                    done += 1;
                }
                done
            })
        })
        .collect();
    let total: i32 = threads.into_iter().map(|t| t.join().expect("thread")).sum();
    assert_eq!(total, 80);
    let saved = std::fs::read_to_string(&state).expect("state");
    assert!(saved.contains("\"n\": 80"), "every turn counted: {saved}");
    assert_eq!(std::fs::read_to_string(&victim).expect("victim"), "keep");
}

#[test]
fn a_state_of_another_user_or_an_unwritable_place_is_a_usage_error() {
    let d = dir("other-user");
    let b = bot(&d, COPIES_THE_SECRET);
    let s = d.join("alice.json").display().to_string();
    let o = scenarist(&["run", &b, "--state", &s, "--user-id", "alice"], b"hi\n");
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let o = scenarist(&["run", &b, "--state", &s, "--user-id", "bob"], b"hi\n");
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("holds the conversation of user `alice`, not `bob`"),
        "{}",
        err(&o)
    );
    assert_eq!(out(&o), "", "no turn ran");
    // A missing directory is found before the first turn, not after the conversation.
    let missing = d.join("nowhere/state.json").display().to_string();
    let o = scenarist(&["run", &b, "--state", &missing], b"hi\n");
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("does not exist"), "{}", err(&o));
    assert_eq!(out(&o), "", "no turn ran");
}

#[test]
fn a_saved_position_the_bot_no_longer_has_is_a_warning() {
    let d = dir("position");
    let b = bot(&d, COPIES_THE_SECRET);
    let state = d.join("s.json");
    let s = state.display().to_string();
    let o = scenarist(&["run", &b, "--state", &s, "--var", "token=t"], b"hi\n");
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let text = std::fs::read_to_string(&state).expect("state");
    let text = text.replace("\"pc\": 3", "\"pc\": 999");
    assert!(text.contains("999"), "{text}");
    std::fs::write(&state, text).expect("write");
    let o = scenarist(&["run", &b, "--state", &s, "--var", "token=t"], b"hi\n");
    assert!(
        err(&o).contains("which this bot does not have"),
        "{}",
        err(&o)
    );
}

#[test]
fn presetting_a_special_variable_is_a_usage_error() {
    let d = dir("special");
    let b = bot(&d, COPIES_THE_SECRET);
    for flag in ["--var", "--secret"] {
        let o = scenarist(&["run", &b, flag, "user_name=Bob"], b"hi\n");
        assert_eq!(o.status.code(), Some(2), "{flag}");
        assert!(
            err(&o).contains("`%user_name%` is set by the runtime"),
            "{}",
            err(&o)
        );
    }
    let t = d.join("special.test");
    std::fs::write(&t, "bot bot.scn\nvar message = hi\n\n> hi\n< Ready\n").expect("test");
    let o = scenarist(&["test", &t.display().to_string()], b"");
    assert_eq!(o.status.code(), Some(1));
    let all = out(&o) + &err(&o);
    assert!(all.contains("`%message%` is set by the runtime"), "{all}");
}

#[test]
fn text_output_keeps_the_bots_order() {
    let d = dir("order");
    let b = bot(
        &d,
        "on start goto a\nblock a {\n  log \"first\"\n  say \"second\"\n  notify \"third\"\n  say \"fourth\"\n}\n",
    );
    let merged = run_merged(&[&b], "hi\n", &d);
    assert_eq!(
        merged, "> hi\nlog: first\nsecond\nnotify: third\nfourth\n",
        "{merged}"
    );
}

#[test]
fn terminal_controls_are_escaped_in_text_output_only() {
    let d = dir("controls");
    let b = bot(
        &d,
        "on start goto a\nblock a {\n  say \"you said: %message%\"\n  log \"{{ '\\u{1b}]0;title\\u{7}' }}\"\n}\n",
    );
    let evil = "\u{1b}]52;c;ZXZpbA==\u{7}\rx";
    let o = scenarist(&["run", &b], format!("{evil}\n").as_bytes());
    let all = out(&o) + &err(&o);
    assert!(
        !all.contains('\u{1b}') && !all.contains('\u{7}') && !all.contains('\r'),
        "{all:?}"
    );
    assert!(
        out(&o).contains(r"you said: \u{1b}]52;c;ZXZpbA==\u{7}\rx"),
        "{all}"
    );
    // JSON output carries the text exactly (JSON escapes it).
    let o = scenarist(&["run", &b, "--json"], format!("{evil}\n").as_bytes());
    assert!(
        out(&o).contains(r#""text":"you said: \u001b]52;c;ZXZpbA==\u0007\rx""#),
        "{}",
        out(&o)
    );
}

#[test]
fn control_characters_in_check_snippets_are_escaped() {
    let d = dir("check-controls");
    let b = bot(
        &d,
        "on start goto a\nblock a {\n  say \"\u{1b}]0;pwned\u{7}\"\n  goto nowhere\n}\n",
    );
    let o = scenarist(&["check", &b], b"");
    assert_eq!(o.status.code(), Some(1));
    let all = out(&o) + &err(&o);
    assert!(
        !all.contains('\u{7}') && !all.contains("\u{1b}]"),
        "{all:?}"
    );
}

#[test]
fn a_line_that_is_not_utf8_is_a_warning_and_the_conversation_goes_on() {
    let d = dir("utf8");
    let b = bot(&d, "on start goto a\nblock a {\n  wait\n  say \"got %message%\"\n  wait\n  say \"then %message%\"\n}\n");
    let o = scenarist(&["run", &b, "--json"], b"hi\n\xff\xfeok\nlast\n");
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let text = out(&o);
    assert!(
        text.contains(r#"{"type":"warning","message":"line 2 of the input is not valid UTF-8"#),
        "{text}"
    );
    assert!(
        text.contains("then last"),
        "the rest of the input is not dropped: {text}"
    );
}

#[test]
fn a_message_over_64_kib_is_refused_with_a_warning() {
    let d = dir("long");
    let b = bot(
        &d,
        "on start goto a\nblock a {\n  wait\n  say \"got it\"\n}\n",
    );
    let long = "x".repeat(65 * 1024);
    let o = scenarist(
        &["run", &b, "--json"],
        format!("hi\n{long}\nshort\n").as_bytes(),
    );
    let text = out(&o);
    assert!(
        text.contains("over the limit of 65536 (64 KiB)"),
        "{}",
        &text[text.len().saturating_sub(500)..]
    );
    assert!(text.contains("got it"), "the next message is processed");
}

#[cfg(unix)]
#[test]
fn devices_fifos_and_huge_files_are_refused() {
    let d = dir("devices");
    let b = bot(&d, COPIES_THE_SECRET);
    let o = scenarist(&["check", "/dev/zero"], b"");
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("not a regular file"), "{}", err(&o));
    let o = scenarist(&["run", &b, "--state", "/dev/zero"], b"hi\n");
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("not a regular file"), "{}", err(&o));
    let fifo = d.join("pipe.scn");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let o = scenarist(&["check", &fifo.display().to_string()], b"");
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("not a regular file"), "{}", err(&o));
    let huge = d.join("huge.scn");
    let f = std::fs::File::create(&huge).expect("huge");
    f.set_len(65 << 20).expect("sparse file");
    let o = scenarist(&["check", &huge.display().to_string()], b"");
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("larger than 64 MiB"), "{}", err(&o));
}

#[test]
fn a_test_file_cannot_show_a_file_that_is_not_a_bot() {
    let d = dir("shadow");
    let secret_file = d.join("passwords.txt");
    std::fs::write(&secret_file, "root:$6$very-secret-hash:19000\n").expect("write");
    let t = d.join("steal.test");
    std::fs::write(&t, "bot passwords.txt\n\n> hi\n< hello\n").expect("test");
    let o = scenarist(&["test", &t.display().to_string()], b"");
    assert_eq!(o.status.code(), Some(1));
    let all = out(&o) + &err(&o);
    assert!(!all.contains("very-secret-hash"), "{all}");
    assert!(
        all.contains("a bot is a .scn file or a directory of them"),
        "{all}"
    );
}

#[test]
fn secrets_given_as_json_are_hidden_in_every_form() {
    let d = dir("json-secrets");
    let b = bot(
        &d,
        r#"on start goto a
block a {
  say "q=%q% n=%n% d=%d% j={{ json(%d%) }}"
  set %x% = int(%q%)
}
"#,
    );
    let o = scenarist(
        &[
            "run",
            &b,
            "--json",
            "--secret",
            r#"q="quoted-secret-text-that-is-long""#,
            "--secret",
            "n=1.50",
            "--secret",
            r#"d={"k":"hidden-value"}"#,
        ],
        b"hi\n",
    );
    let text = out(&o);
    for leak in ["quoted-secret", "1.50", "hidden-value"] {
        assert!(!text.contains(leak), "{leak}: {text}");
    }
    // The error quotes the value only after redaction: not even a prefix shows.
    assert!(
        text.contains(r#"cannot read \"***\" as a number"#),
        "{text}"
    );
}

#[test]
fn test_stubs_obey_the_response_size_cap() {
    let d = dir("stub-cap");
    bot(
        &d,
        "on start goto a\nblock a {\n  http GET \"https://api.example.com/big\" { on error goto failed }\n  say \"got it\"\n}\nblock failed {\n  say \"failed: %error%\"\n}\n",
    );
    let t = d.join("big.test");
    let body = "x".repeat(2000);
    std::fs::write(
        &t,
        format!("bot bot.scn\n\n> hi\nhttp GET https://api.example.com/big\n→ 200\n  | {body}\n< failed: the response body is larger than 1000 bytes (--max-response-bytes)\n"),
    )
    .expect("test");
    let shown = t.display().to_string();
    let o = scenarist(&["test", &shown, "--max-response-bytes", "1000"], b"");
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    // With the default cap (10 MiB) the same stub is served.
    let o = scenarist(&["test", &shown], b"");
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
}

#[test]
fn check_keeps_1000_diagnostics_and_counts_the_rest() {
    let d = dir("many-errors");
    let mut text = String::from("on start goto b0\n");
    for i in 0..1500 {
        text.push_str(&format!("block b{i} {{\n  goto nowhere_{i}\n}}\n"));
    }
    let b = bot(&d, &text);
    let o = scenarist(&["check", &b, "--format", "json"], b"");
    assert_eq!(o.status.code(), Some(1));
    let list: serde_json::Value = serde_json::from_slice(&o.stdout).expect("JSON");
    let list = list.as_array().expect("array");
    assert_eq!(list.len(), 1001);
    let last = &list[1000];
    assert_eq!(last["code"], "scn::more-diagnostics");
    assert_eq!(last["omitted_errors"], 500);
    let o = scenarist(&["check", &b], b"");
    let all = out(&o) + &err(&o);
    assert!(
        all.contains("… and 500 more diagnostics, not listed"),
        "{}",
        &all[all.len() - 300..]
    );
    assert!(all.contains("1500 errors"), "{}", &all[all.len() - 300..]);
}

#[test]
fn a_block_over_1_mib_is_refused_before_parsing() {
    let d = dir("huge-block");
    let chain = vec!["1"; 600_000].join(" + ");
    let b = bot(&d, &format!("on start goto a\nblock a {{\n  set %x% = {chain}\n}}\nblock b {{\n  goto nowhere\n}}\n"));
    let o = scenarist(&["check", &b, "--format", "json"], b"");
    assert_eq!(o.status.code(), Some(1));
    let text = out(&o);
    assert!(
        text.contains("scn::too-large"),
        "{}",
        &text[..text.len().min(500)]
    );
    // The rest of the file is still checked.
    assert!(
        text.contains("scn::unknown-block"),
        "{}",
        &text[..text.len().min(800)]
    );
}

#[test]
fn golden_tests_compare_json_by_value_and_see_every_header_on_the_wire() {
    let d = dir("golden-fidelity");
    bot(
        &d,
        r#"on start goto a
block a {
  http POST "https://api.example.com/orders" {
    header X-Api-Key: "k"
    json {"price": 13.90, "qty": 2, "name": "Ann"}
    on error goto failed
  }
  say "ok %status%"
}
block failed {
  say "failed: %error%"
}
"#,
    );
    let t = d.join("wire.test");
    std::fs::write(
        &t,
        format!(
            "bot bot.scn\n\n> hi\nhttp POST https://api.example.com/orders\n  Host: api.example.com\n  X-Api-Key: k\n  Content-Type: application/json\n  User-Agent: scenarist/{}\n  Accept: */*\n  Content-Length: 35\n  {{\"name\": \"Ann\", \"qty\": 2.0, \"price\": 13.9}}\n→ 200\n< ok 200\n",
            env!("CARGO_PKG_VERSION")
        ),
    )
    .expect("test");
    let o = scenarist(&["test", &t.display().to_string()], b"");
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
    // A real difference shows as itself, not as every key that moved.
    std::fs::write(
        &t,
        "bot bot.scn\n\n> hi\nhttp POST https://api.example.com/orders\n  {\"name\": \"Bob\", \"qty\": 2.0, \"price\": 13.9}\n→ 200\n< ok 200\n",
    )
    .expect("test");
    let o = scenarist(&["test", &t.display().to_string()], b"");
    assert_eq!(o.status.code(), Some(1));
    let report = out(&o) + &err(&o);
    let changed: Vec<&str> = report
        .lines()
        .filter(|l| l.starts_with('-') || l.starts_with('+'))
        .collect();
    assert!(changed.iter().all(|l| l.contains("name")), "{report}");
}

#[test]
fn a_windows_1251_api_is_tested_both_ways() {
    let d = dir("cp1251");
    bot(
        &d,
        r#"on start goto a
block a {
  http POST "https://legacy.example.com/lead" {
    header Content-Type: "application/x-www-form-urlencoded; charset=windows-1251"
    form {"name": "Анна"}
    on error goto failed
  }
  say "answer: %body%"
}
block failed {
  say "failed: %error%"
}
"#,
    );
    let t = d.join("legacy.test");
    std::fs::write(
        &t,
        "bot bot.scn\n\n> hi\nhttp POST https://legacy.example.com/lead\n  & name=Анна\n→ 200\n  Content-Type: text/plain; charset=windows-1251\n  | Принято\n< answer: Принято\n",
    )
    .expect("test");
    let o = scenarist(&["test", &t.display().to_string()], b"");
    assert_eq!(o.status.code(), Some(0), "{}{}", out(&o), err(&o));
}
