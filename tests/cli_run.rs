//! `scenarist run` through the real binary: input from stdin, events out, flags, state files
//! and exit statuses (CLI.md).

mod http_server;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str], input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_scenarist"))
        .arg("run")
        .args(args)
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .expect("stdin accepts input");
    }
    child.wait_with_output().expect("the binary finishes")
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("scenarist-cli-run-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(format!("{name}.scn"));
    std::fs::write(&path, text).expect("write bot");
    path
}

fn out(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const GREETER: &str = r#"user %visits% = 0
on start goto hello
on message "again" goto hello
block hello {
  set %visits% += 1
  say "Hi %user_name%, visit %visits%. Token %token%." {
    button "More"
    button "Stop" goto stop
    link "Site" "https://example.com"
  }
  wait -> %answer%
  say "You said %answer%."
}
block stop { say "Stopped." }
"#;

#[test]
fn conversation_from_stdin_reads_like_a_chat() {
    let bot = scratch("greeter", GREETER);
    let o = run(
        &[
            bot.to_str().unwrap_or_default(),
            "--user-name",
            "Ann",
            "--var",
            "token=abc",
        ],
        "hi\nMore\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert_eq!(
        out(&o),
        "> hi\nHi Ann, visit 1. Token abc.\n[More] [Stop] [Site ↗]\n> More\nYou said More.\n"
    );
}

#[test]
fn json_lines_follow_the_event_schema() {
    let bot = scratch("json", GREETER);
    let o = run(
        &[
            bot.to_str().unwrap_or_default(),
            "--json",
            "--var",
            "token=1",
        ],
        "hi\nStop\n",
    );
    assert_eq!(o.status.code(), Some(0));
    let lines: Vec<serde_json::Value> = out(&o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let types: Vec<&str> = lines.iter().filter_map(|v| v["type"].as_str()).collect();
    assert_eq!(
        types,
        ["input", "message", "wait", "input", "message", "end"]
    );
    assert_eq!(
        lines[1]["buttons"][1],
        serde_json::json!({"kind": "goto", "label": "Stop", "target": "stop"})
    );
    assert_eq!(lines[1]["buttons"][2]["url"], "https://example.com");
    assert_eq!(lines[4]["text"], "Stopped.");
}

#[test]
fn secrets_never_show() {
    let bot = scratch("secret", GREETER);
    let o = run(
        &[
            bot.to_str().unwrap_or_default(),
            "--json",
            "--secret",
            "token=hunter2",
        ],
        "hi\n",
    );
    assert!(!out(&o).contains("hunter2"), "{}", out(&o));
    assert!(out(&o).contains("Token ***."), "{}", out(&o));
}

#[test]
fn a_secret_in_a_webhook_payload_never_shows() {
    let bot = scratch(
        "secret-webhook",
        "on webhook \"paid\" goto paid\nblock paid { say \"paid %webhook.ref%\" }\n",
    );
    let o = run(
        &[
            bot.to_str().unwrap_or_default(),
            "--json",
            "--input",
            "jsonl",
            "--secret",
            "token=hunter2",
        ],
        "{\"type\":\"webhook\",\"name\":\"paid\",\"payload\":{\"ref\":\"x-hunter2\",\"hunter2\":[\"hunter2\"]}}\n",
    );
    assert!(!out(&o).contains("hunter2"), "{}", out(&o));
    assert!(out(&o).contains("paid x-***"), "{}", out(&o));
    assert!(
        out(&o).contains(r#"{"ref":"x-***","***":["***"]}"#),
        "{}",
        out(&o)
    );
}

#[test]
fn state_continues_the_conversation_across_invocations() {
    let bot = scratch("state", GREETER);
    let state = bot.with_extension("state.json");
    let _ = std::fs::remove_file(&state);
    let args = [
        bot.to_str().unwrap_or_default(),
        "--state",
        state.to_str().unwrap_or_default(),
        "--var",
        "token=t",
    ];
    let first = run(&args, "hi\n");
    assert_eq!(first.status.code(), Some(0), "{}", err(&first));
    let second = run(&args, "fine\nagain\n");
    assert_eq!(second.status.code(), Some(0), "{}", err(&second));
    assert!(
        out(&second).starts_with("> fine\nYou said fine.\n> again\nHi User, visit 2."),
        "{}",
        out(&second)
    );
}

#[test]
fn a_foreign_state_file_is_a_clear_error() {
    let bot = scratch("foreign", GREETER);
    let state = bot.with_extension("json");
    std::fs::write(&state, "{\"not\": \"ours\"}").expect("write");
    let o = run(
        &[
            bot.to_str().unwrap_or_default(),
            "--state",
            state.to_str().unwrap_or_default(),
        ],
        "hi\n",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        err(&o).contains("is not a scenarist state file"),
        "{}",
        err(&o)
    );
    assert_eq!(
        std::fs::read_to_string(&state).unwrap_or_default(),
        "{\"not\": \"ours\"}",
        "left untouched"
    );
    std::fs::write(&state, "garbage").expect("write");
    let o = run(
        &[
            bot.to_str().unwrap_or_default(),
            "--state",
            state.to_str().unwrap_or_default(),
        ],
        "hi\n",
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn runtime_errors_exit_3_and_name_the_place() {
    let bot = scratch(
        "div",
        "on start goto a\nblock a {\n  wait\n  set %x% = 10 / %message%\n  say \"%x%\"\n}\n",
    );
    let o = run(&[bot.to_str().unwrap_or_default()], "hi\n0\n");
    assert_eq!(o.status.code(), Some(3), "{}", err(&o));
    assert!(
        err(&o).contains("div.scn:4:13: division by zero"),
        "{}",
        err(&o)
    );
    let ok = run(&[bot.to_str().unwrap_or_default()], "hi\n4\n");
    assert_eq!(ok.status.code(), Some(0));
    assert!(out(&ok).contains("2.5"), "{}", out(&ok));
}

#[test]
fn bots_with_errors_exit_1_and_usage_errors_exit_2() {
    let bad = scratch("bad", "on start goto nowhere\n");
    let o = run(&[bad.to_str().unwrap_or_default()], "");
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("scn::unknown-block"), "{}", err(&o));
    let o = run(&["/no/such/bot.scn"], "");
    assert_eq!(o.status.code(), Some(2));
    let ok = scratch("okvar", GREETER);
    let o = run(
        &[ok.to_str().unwrap_or_default(), "--var", "no-equals-sign"],
        "",
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_quiz_example_plays_through() {
    let quiz = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/quiz");
    let o = run(&[quiz], "hi\nLet's go!\nMercury\n");
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(out(&o).contains("Correct!"), "{}", out(&o));
    assert!(out(&o).contains("Question 2 of 5"), "{}", out(&o));
}

#[test]
fn an_unreachable_shop_takes_the_on_error_path() {
    // There is no network here: the name does not resolve, which is a transport failure.
    let shop = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/shop_orders");
    let o = run(&[shop, "--json"], "hi\nTrack an order\n104233\n");
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let text = out(&o);
    assert!(
        text.contains(r#"{"type":"http","method":"GET","url":"https://shop.example.com/api/v1/orders/104233","status":null,"error":"cannot resolve shop.example.com"#),
        "{text}"
    );
    assert!(text.contains("the shop is not answering"), "{text}");
}

#[test]
fn run_calls_a_local_server_within_allow_host() {
    let server = http_server::Server::start(|r| {
        http_server::json(
            200,
            &format!(r#"{{"path":"{}","n":12345678901234567890}}"#, r.target),
        )
    });
    let bot = scratch(
        "httpbot",
        "scenario \"H\"\non start goto a\nblock a {\n  http GET \"%base%/hello/%message%\" { on error goto down }\n  say \"%status% %body.path% %body.n%\"\n}\nblock down {\n  say \"down: %error%\"\n}\n",
    );
    let base = format!("--var=base={}", server.base());
    let allow = format!("--allow-host={}", server.host());
    let o = run(
        &[bot.to_str().unwrap_or_default(), "--json", &base, &allow],
        "a b\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let text = out(&o);
    let http = text
        .lines()
        .find(|l| l.contains(r#""type":"http""#))
        .unwrap_or_default();
    let prefix = format!(
        r#"{{"type":"http","method":"GET","url":"{}/hello/a%20b","status":200,"duration_ms":"#,
        server.base()
    );
    assert!(http.starts_with(&prefix), "{text}");
    assert!(
        text.contains(r#""text":"200 /hello/a%20b 12345678901234567890""#),
        "{text}"
    );
    // Without --allow-host, the loopback server is refused.
    let o = run(&[bot.to_str().unwrap_or_default(), "--json", &base], "x\n");
    assert!(
        out(&o).contains("down: refused by the host policy: 127.0.0.1 is a loopback address"),
        "{}",
        out(&o)
    );
    let o = run(
        &[
            bot.to_str().unwrap_or_default(),
            "--allow-host",
            "http://x.com/",
        ],
        "",
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(err(&o).contains("give a host, not a URL"), "{}", err(&o));
}

const FOLLOW_UP: &str = r#"user %paid% = false
on start goto cart
on webhook "paid" goto paid
block cart {
  say "Cart saved at {{ now() }}."
  schedule 1d goto remind as "cart"
  schedule 2d goto second
}
block remind { say "Reminder at {{ now() }}: your cart is waiting." }
block second { say "Second reminder at {{ now() }}." }
block paid {
  cancel "cart"
  set %paid% = true
  say "Paid %webhook.amount%, thanks!"
}
"#;

#[test]
fn jsonl_input_with_a_virtual_clock_fires_timers_exactly() {
    let bot = scratch("jsonl", FOLLOW_UP);
    let input = concat!(
        "{\"type\":\"message\",\"text\":\"hi\"}\n",
        "\n",
        "{\"type\":\"sleep\",\"duration\":\"25h\"}\n",
        "{\"type\":\"webhook\",\"name\":\"paid\",\"payload\":{\"amount\":5}}\n",
        "{\"type\":\"sleep\",\"duration\":86400000}\n",
    );
    let o = run(
        &[
            bot.to_str().expect("utf-8 path"),
            "--input",
            "jsonl",
            "--clock",
            "2026-03-01T10:00:00Z",
            "--json",
        ],
        input,
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let text = out(&o);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{"type":"input","text":"hi"}"#,
            r#"{"type":"message","text":"Cart saved at 2026-03-01T10:00:00Z.","buttons":[]}"#,
            r#"{"type":"end"}"#,
            r#"{"type":"timer","name":"cart","block":"remind","kind":"schedule"}"#,
            r#"{"type":"message","text":"Reminder at 2026-03-02T10:00:00Z: your cart is waiting.","buttons":[]}"#,
            r#"{"type":"end"}"#,
            r#"{"type":"webhook","name":"paid","payload":{"amount":5}}"#,
            r#"{"type":"message","text":"Paid 5, thanks!","buttons":[]}"#,
            r#"{"type":"end"}"#,
            r#"{"type":"timer","name":null,"block":"second","kind":"schedule"}"#,
            r#"{"type":"message","text":"Second reminder at 2026-03-03T10:00:00Z.","buttons":[]}"#,
            r#"{"type":"end"}"#,
        ]
    );
}

#[test]
fn pending_timers_survive_the_state_file_and_fire_before_the_next_input() {
    let bot = scratch("timer-state", FOLLOW_UP);
    let state = bot.with_extension("state.json");
    let _ = std::fs::remove_file(&state);
    let args = |clock: &'static str| {
        vec![
            bot.to_str().expect("utf-8 path").to_string(),
            "--state".to_string(),
            state.to_str().expect("utf-8 path").to_string(),
            "--input".to_string(),
            "jsonl".to_string(),
            "--clock".to_string(),
            clock.to_string(),
        ]
    };
    let first = args("2026-03-01T10:00:00Z");
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    let o = run(&first, "{\"type\":\"message\",\"text\":\"hi\"}\n");
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let saved = std::fs::read_to_string(&state).expect("state");
    assert!(saved.contains("\"timers\""), "{saved}");
    // Three days later: both timers came due meanwhile; they fire, in order, first.
    let later = args("2026-03-04T10:00:00Z");
    let later: Vec<&str> = later.iter().map(String::as_str).collect();
    let o = run(
        &later,
        "{\"type\":\"webhook\",\"name\":\"paid\",\"payload\":{\"amount\":1}}\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    let text = out(&o);
    let remind = text.find("Reminder at 2026-03-02T10:00:00Z").expect(&text);
    let second = text
        .find("Second reminder at 2026-03-03T10:00:00Z")
        .expect(&text);
    let paid = text.find("Paid 1, thanks!").expect(&text);
    assert!(remind < second && second < paid, "{text}");
    let saved = std::fs::read_to_string(&state).expect("state");
    assert!(!saved.contains("\"timers\""), "every timer fired: {saved}");
}

#[test]
fn a_bad_jsonl_line_stops_the_run_with_exit_2_after_saving_the_turns_before() {
    let bot = scratch("bad-jsonl", GREETER);
    let state = bot.with_extension("state.json");
    for (line, why) in [
        ("{\"type\":\"message\"", "not valid JSON"),
        ("[1, 2]", "not a JSON object"),
        (
            "{\"type\":\"shout\",\"text\":\"x\"}",
            "unknown \"type\": \"shout\"",
        ),
        (
            "{\"type\":\"sleep\",\"duration\":\"soon\"}",
            "a sleep needs \"duration\"",
        ),
        ("{\"type\":\"webhook\"}", "a webhook needs \"name\""),
        ("{\"text\":\"hi\"}", "the object has no \"type\""),
    ] {
        let _ = std::fs::remove_file(&state);
        let input = format!("{{\"type\":\"message\",\"text\":\"hi\"}}\n{line}\n{{\"type\":\"message\",\"text\":\"never\"}}\n");
        let o = run(
            &[
                bot.to_str().expect("utf-8 path"),
                "--input",
                "jsonl",
                "--state",
                state.to_str().expect("utf-8 path"),
            ],
            &input,
        );
        assert_eq!(o.status.code(), Some(2), "{line}: {}", err(&o));
        assert!(
            err(&o).contains(&format!("error: line 2 of the input: {why}")),
            "{line}: {}",
            err(&o)
        );
        assert!(!out(&o).contains("never"), "{}", out(&o));
        let saved = std::fs::read_to_string(&state).expect("the turn before was saved");
        assert!(
            saved.contains("\"visits\": 1") || saved.contains("\"visits\":1"),
            "{saved}"
        );
    }
}

#[test]
fn an_unknown_webhook_warns_and_the_conversation_goes_on() {
    let bot = scratch("unknown-webhook", GREETER);
    let o = run(
        &[bot.to_str().expect("utf-8 path"), "--input", "jsonl"],
        "{\"type\":\"message\",\"text\":\"hi\"}\n{\"type\":\"webhook\",\"name\":\"nope\"}\n{\"type\":\"message\",\"text\":\"fine\"}\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(
        err(&o).contains("warning: no trigger `on webhook \"nope\"` in the bot"),
        "{}",
        err(&o)
    );
    assert!(out(&o).contains("You said fine."), "{}", out(&o));
}

#[test]
fn with_the_real_clock_a_due_timer_fires_while_run_waits_for_input() {
    let bot = scratch(
        "real-clock",
        "on start goto a\nblock a {\n  say \"Waiting.\"\n  wait -> %x% timeout 1s goto late\n}\nblock late { say \"Too late!\" }\n",
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_scenarist"))
        .args(["run", bot.to_str().expect("utf-8 path")])
        .env("NO_COLOR", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin.write_all(b"hi\n").expect("write");
    stdin.flush().expect("flush");
    // Nothing more is typed for a while: the reminder comes by itself.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    drop(stdin);
    let o = child.wait_with_output().expect("the binary finishes");
    let text = out(&o);
    assert!(text.contains("Waiting.\nToo late!"), "{text}\n{}", err(&o));
    assert!(err(&o).contains("timer: timeout → late"), "{}", err(&o));
}

#[test]
fn sleep_with_the_real_clock_really_waits() {
    let bot = scratch(
        "real-sleep",
        "on start goto a\nblock a {\n  schedule 1s goto b\n}\nblock b { say \"One second later.\" }\n",
    );
    let started = std::time::Instant::now();
    let o = run(
        &[bot.to_str().expect("utf-8 path"), "--input", "jsonl"],
        "{\"type\":\"message\",\"text\":\"hi\"}\n{\"type\":\"sleep\",\"duration\":\"1500ms\"}\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", err(&o));
    assert!(started.elapsed() >= std::time::Duration::from_millis(1400));
    assert!(out(&o).contains("One second later."), "{}", out(&o));
}
