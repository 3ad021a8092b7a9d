//! The interpreter end to end: bots from text, a conversation of messages, and the events each
//! turn produced, compared as compact lines.

use scenarist::eval::{ButtonEvent, Event, Globals, Options, Runtime, Session};
use scenarist::value::Value;
use scenarist::{compile, Sources};

struct Chat {
    rt: Runtime,
    session: Session,
    globals: Globals,
}

fn bot_with(files: &[(&str, &str)], options: Options) -> Chat {
    let sources = Sources::from_texts(files.iter().copied());
    let program = match compile(&sources) {
        Ok(p) => p,
        Err(d) => panic!("bot does not compile: {d:#?}"),
    };
    let rt = Runtime::new(program, sources, options);
    let session = rt.new_session("u1", "Ann");
    let globals = rt.new_globals();
    Chat {
        rt,
        session,
        globals,
    }
}

fn bot(text: &str) -> Chat {
    bot_with(
        &[("bot.scn", text)],
        Options {
            now_ms: Some(0),
            ..Options::default()
        },
    )
}

fn line(e: &Event) -> String {
    match e {
        Event::Input { text } => format!("> {text}"),
        Event::Message { text, buttons, .. } if buttons.is_empty() => format!("say {text}"),
        Event::Message { text, buttons, .. } => {
            let b: Vec<String> = buttons
                .iter()
                .map(|b| match b {
                    ButtonEvent::Text { label } => format!("[{label}]"),
                    ButtonEvent::Goto { label, target } => format!("[{label} -> {target}]"),
                    ButtonEvent::Link { label, url } => format!("[{label} {url}]"),
                })
                .collect();
            format!("say {text} {}", b.join(""))
        }
        Event::Http { method, url, .. } => format!("http {method} {url}"),
        Event::Notify { text } => format!("notify {text}"),
        Event::Log { text } => format!("log {text}"),
        Event::Warning { message, .. } => format!("warning {message}"),
        Event::Error { message, at } => {
            let at = at
                .as_ref()
                .map(|l| format!(" @{}:{}", l.line, l.column))
                .unwrap_or_default();
            format!("error {message}{at}")
        }
        Event::Webhook { name, payload } => format!("webhook {name} {payload}"),
        Event::Timer { name, block, .. } => format!("timer {name:?} -> {block}"),
        Event::Wait => "wait".into(),
        Event::End => "end".into(),
    }
}

impl Chat {
    fn send(&mut self, text: &str) -> Vec<String> {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let offline = scenarist::http::Offline("no network in this test".into());
        let events =
            tokio.block_on(
                self.rt
                    .turn(&mut self.session, &mut self.globals, text, &offline),
            );
        let ends = events.iter().filter(|e| e.ends_turn()).count();
        assert_eq!(
            ends, 1,
            "a turn ends with exactly one wait or end: {events:?}"
        );
        assert!(events.last().is_some_and(Event::ends_turn), "{events:?}");
        events.iter().skip(1).map(line).collect()
    }
}

#[test]
fn greets_waits_and_answers() {
    let mut c = bot(r#"
on start goto greet
block greet {
  say "Hello, %user_name%! What is your order number?"
  wait -> %order%
  say "Looking up order %order%…"
}
"#);
    assert_eq!(
        c.send("hi"),
        ["say Hello, Ann! What is your order number?", "wait"]
    );
    assert_eq!(c.send("12345"), ["say Looking up order 12345…", "end"]);
}

#[test]
fn triggers_follow_the_priority_order() {
    let text = r#"
on fallback goto fb
on message like "helo" goto like
on message contains "help" goto contains
on message matches /^order (?P<n>\d+)$/ goto matches
on message "help" goto exact
on start goto start
block start { say "start" }
block exact { say "exact" }
block matches { say "matches %match.n%" }
block contains { say "contains" }
block like { say "like" }
block fb { say "fallback" }
"#;
    let mut c = bot(text);
    assert_eq!(c.send("help"), ["say start", "end"]);
    assert_eq!(c.send("  HELP "), ["say exact", "end"]);
    assert_eq!(c.send("order 42"), ["say matches 42", "end"]);
    assert_eq!(c.send("I need help now"), ["say contains", "end"]);
    assert_eq!(c.send("Hello!"), ["say like", "end"]);
    assert_eq!(c.send("something else"), ["say fallback", "end"]);
}

#[test]
fn unmatched_messages_are_dropped_with_a_warning() {
    let mut c = bot("on message \"/a\" goto a\nblock a { say 'a' }\n");
    let out = c.send("hello");
    assert_eq!(out.len(), 2);
    assert!(out[0].starts_with("warning no trigger matches"), "{out:?}");
    assert_eq!(out[1], "end");
}

#[test]
fn buttons_jump_and_text_buttons_send_their_label() {
    let mut c = bot(r#"
on start goto menu
block menu {
  say "Pick a size" {
    button "S"
    button "Cancel" goto cancelled
    link "Size chart" "https://shop.example.com/sizes"
  }
  wait
  say "You picked %message%."
}
block cancelled { say "Cancelled." }
"#);
    assert_eq!(
        c.send("hi"),
        [
            "say Pick a size [S][Cancel -> cancelled][Size chart https://shop.example.com/sizes]",
            "wait"
        ]
    );
    assert_eq!(c.send("S"), ["say You picked S.", "end"]);
    assert_eq!(c.send(" cancel "), ["say Cancelled.", "end"]);
}

#[test]
fn anytime_triggers_interrupt_a_waiting_run() {
    let mut c = bot(r#"
on start goto ask
on anytime message "/stop" goto bye
block ask {
  set %x% = 1
  say "Question?"
  wait
  say "answered"
}
block bye { say "Bye, x is now '%x%'" }
"#);
    c.send("hi");
    let out = c.send("/stop");
    assert_eq!(out[0], "warning `%x%` is not set");
    assert_eq!(out[1..], ["say Bye, x is now ''", "end"]);
}

#[test]
fn if_elif_else_match_and_set_paths() {
    let mut c = bot(r#"
on start goto a
block a {
  set %cart% = {}
  set %cart%["tea"] = 2
  set %profile.name% = "Ann"
  set %n% = 0
  set %n% += 5
  set %n% *= 3
  if %n% > 20 { say "big" } elif %n% == 15 { say "fifteen" } else { say "small" }
  say "cart {{ %cart% }} profile %profile.name% tea %cart.tea%"
  match "yes please" {
    "no" => say "no"
    /^yes/ => say "yes arm"
    else => say "else"
  }
  match 42 { 41, 42 => say "number arm" }
  unset %cart.tea%
  say "cart now {{ %cart% }}"
}
"#);
    assert_eq!(
        c.send("go"),
        [
            "say fifteen",
            r#"say cart {"tea":2} profile Ann tea 2"#,
            "say yes arm",
            "say number arm",
            "say cart now {}",
            "end"
        ]
    );
}

#[test]
fn user_variables_persist_temporaries_do_not() {
    let mut c = bot(r#"
user %visits% = 0
on message "count" goto count
on message "show" goto show
block count {
  set %visits% += 1
  set %temp% = "t"
  say "visits %visits%"
}
block show { say "visits %visits% temp '%temp%'" }
"#);
    assert_eq!(c.send("count"), ["say visits 1", "end"]);
    assert_eq!(c.send("count"), ["say visits 2", "end"]);
    let out = c.send("show");
    assert_eq!(out[out.len() - 2..], ["say visits 2 temp ''", "end"]);
}

#[test]
fn calls_return_and_goto_across_scenarios() {
    let mut c = bot_with(
        &[
            ("main.scn", "on start goto a\nblock a {\n  call footer\n  say 'back'\n  goto other::b\n}\nblock footer {\n  say 'footer'\n  return\n}\n"),
            ("other.scn", "block b { say 'in %scenario%::%block%' }\n"),
        ],
        Options::default(),
    );
    assert_eq!(
        c.send("x"),
        ["say footer", "say back", "say in other::b", "end"]
    );
}

#[test]
fn extract_goes_to_else_on_failure() {
    let mut c = bot(r#"
on start goto ask
block ask {
  say "Your phone?"
  wait
  extract phone from %message% -> %phone% else goto again
  say "Got %phone%"
}
block again {
  say "That is not a phone number."
  goto ask
}
"#);
    c.send("hi");
    assert_eq!(
        c.send("nope"),
        ["say That is not a phone number.", "say Your phone?", "wait"]
    );
    assert_eq!(
        c.send("+7 (900) 123-45-67"),
        ["say Got +79001234567", "end"]
    );
}

#[test]
fn runtime_errors_end_the_turn_and_the_conversation_goes_on() {
    let mut c = bot(r#"
user %kept% = "yes"
on message "div" goto div
on message "ok" goto ok
block div {
  set %x% = 1 / 0
  say "unreachable"
}
block ok { say "kept %kept%" }
"#);
    let out = c.send("div");
    assert_eq!(out, ["error division by zero @6:13", "end"]);
    assert!(!c.session.is_waiting());
    assert_eq!(c.send("ok"), ["say kept yes", "end"]);
    let out = bot("on start goto a\nblock a { set %x% = 'abc' * 2 }\n").send("go");
    assert!(out[0].starts_with("error cannot"), "{out:?}");
}

#[test]
fn runaway_loops_are_stopped_by_the_step_limit() {
    let text = "on start goto a\nblock a {\n  set %i% += 1\n  goto a\n}\n";
    let mut c = bot_with(
        &[("bot.scn", text)],
        Options {
            max_steps: 500,
            ..Options::default()
        },
    );
    let out = c.send("go");
    assert!(
        out[0].starts_with("error the turn ran 500 statements"),
        "{out:?}"
    );
    assert!(out[0].contains("`a`"), "{out:?}");
    assert_eq!(out[1], "end");
}

#[test]
fn call_depth_is_limited() {
    let mut c = bot("on start goto a\nblock a {\n  call a\n}\n");
    let out = c.send("go");
    assert!(
        out[0].starts_with("error calls are nested more than 100 deep"),
        "{out:?}"
    );
}

#[test]
fn user_text_is_never_substituted_again() {
    let mut c = bot(r#"
user %token% = "s3cr3t"
on start goto a
block a {
  wait
  say "You said: %message% / {{ %message% }}"
}
"#);
    c.send("hi");
    assert_eq!(
        c.send("%token% {{ %token% }}"),
        [
            "say You said: %token% {{ %token% }} / %token% {{ %token% }}",
            "end"
        ]
    );
}

#[test]
fn secrets_are_redacted_everywhere() {
    let text = "on start goto a\nblock a {\n  say \"token %token%\"\n  notify \"op %token%\"\n  log \"log %token%\"\n}\n";
    let mut c = bot_with(&[("bot.scn", text)], Options::default());
    let (rt, session) = (&c.rt, &mut c.session);
    rt.preset(session, "token", Value::from("s3cr3t"), true)
        .expect("not special");
    assert_eq!(
        c.send("go"),
        ["say token ***", "notify op ***", "log log ***", "end"]
    );
}

#[test]
fn sessions_serialize_and_continue() {
    let text = "user %n% = 0\non start goto a\nblock a {\n  set %n% += 1\n  set %t% = 9007199254740993\n  wait -> %answer%\n  say '%answer% %t% %n%'\n}\n";
    let mut c = bot(text);
    c.send("hi");
    let saved = serde_json::to_string(&c.session).expect("serializes");
    let restored: Session = serde_json::from_str(&saved).expect("deserializes");
    assert_eq!(restored, c.session);
    c.session = restored;
    assert_eq!(c.send("yes"), ["say yes 9007199254740993 1", "end"]);
}

#[test]
fn deep_links_fill_ref() {
    let mut c = bot("on start goto a\nblock a { say \"ref=%ref%\" }\n");
    assert_eq!(c.send("/start promo42"), ["say ref=promo42", "end"]);
}

#[test]
fn missing_values_read_as_null_and_warn() {
    let mut c = bot("on start goto a\nblock a {\n  say \"[%nope%] [{{ %nope% }}]\"\n}\n");
    let out = c.send("go");
    assert_eq!(
        out.iter()
            .filter(|l| l.starts_with("warning `%nope%` is not set"))
            .count(),
        2,
        "{out:?}"
    );
    assert!(out.contains(&"say [] []".to_string()), "{out:?}");
}

#[test]
fn the_fast_path_agrees_with_the_general_rules() {
    let mut c = bot(r#"
on start goto a
block a {
  set %big% = 9223372036854775807
  set %big% = %big% + 1
  set %x% = 0.1
  set %x% = %x% + 0.2
  set %n% = "21"
  set %n% = %n% * 2
  set %lt% = "9" < 10
  set %eq% = 1 == "1"
  set %div% = 7 / 2
  set %floor% = -7 // 2
  set %i% = 0
  set %i% -= 3
  say "%big% %x% %n% %lt% %eq% %div% %floor% %i%"
  if %i% < 0 and %x% == 0.3 { say "ok" }
}
"#);
    assert_eq!(
        c.send("go"),
        [
            "say 9223372036854775808 0.3 42 true true 3.5 -4 -3",
            "say ok",
            "end"
        ]
    );
}

#[test]
fn runaway_nesting_is_an_error_not_a_crash() {
    let mut c = bot_with(
        &[(
            "bot.scn",
            "on start goto a\nblock a {\n  set %x% = [%x%]\n  goto a\n}\n",
        )],
        Options {
            max_steps: 1_000_000,
            ..Options::default()
        },
    );
    let out = c.send("go");
    assert!(
        out.iter().any(|l| l.starts_with("error too deeply nested")),
        "{out:?}"
    );
    assert_eq!(out.last().map(String::as_str), Some("end"));
}

#[test]
fn a_value_sharing_itself_is_checked_in_linear_time() {
    // `[%l%, %l%]` doubles the text of %l% at every step: 64 steps would be 2^64 elements.
    let mut c = bot_with(
        &[(
            "bot.scn",
            "user %keep% = 1\non start goto a\nblock a {\n  set %keep% = 2\n  set %l% = [1]\n  set %i% = 0\n  goto grow\n}\nblock grow {\n  set %l% = [%l%, %l%]\n  set %i% += 1\n  if %i% < 64 {\n    goto grow\n  }\n  say \"done {{ len(%l%) }}\"\n}\n",
        )],
        Options {
            max_steps: 1_000_000,
            ..Options::default()
        },
    );
    let started = std::time::Instant::now();
    let out = c.send("go");
    assert!(
        started.elapsed().as_secs() < 10,
        "took {:?}",
        started.elapsed()
    );
    assert!(
        out.iter()
            .any(|l| l.starts_with("error too large: a value may take at most 10 MiB as JSON")),
        "{out:?}"
    );
    assert_eq!(out.last().map(String::as_str), Some("end"));
}

#[test]
fn what_a_session_holds_is_bounded_and_the_turn_is_undone() {
    // Each value is within the bounds; together they pass 10 MiB.
    let mut c = bot_with(
        &[(
            "bot.scn",
            "user %a% = \"\"\nuser %b% = \"\"\nuser %n% = 0\non start goto a\non message \"grow\" goto grow\nblock a {\n  say \"hi\"\n}\nblock grow {\n  set %n% += 1\n  set %a% = \"xxxxxxxxxx\"\n  set %i% = 0\n  goto double\n}\nblock double {\n  set %a% = \"%a%%a%\"\n  set %i% += 1\n  if %i% < 19 {\n    goto double\n  }\n  set %b% = %a%\n  set %c% = %a%\n  say \"grown\"\n}\n",
        )],
        Options::default(),
    );
    c.send("hi");
    let out = c.send("grow");
    assert!(
        out.iter().any(|l| l.starts_with(
            "error the conversation's variables would take more than 10 MiB; the turn was undone"
        )),
        "{out:?}"
    );
    assert_eq!(
        c.session.user.get("n"),
        Some(&Value::from(0)),
        "as before the turn"
    );
    assert_eq!(c.session.user.get("a"), Some(&Value::from("")));
}

#[test]
fn values_nest_at_most_100_deep_and_what_is_kept_can_be_loaded() {
    let mut c = bot_with(
        &[(
            "bot.scn",
            "user %x% = 0\non start goto a\nblock a {\n  set %x% = [%x%]\n  set %depth% = 1\n  goto deeper\n}\nblock deeper {\n  set %x% = [%x%]\n  wait\n  goto deeper\n}\n",
        )],
        Options::default(),
    );
    let mut out = Vec::new();
    for _ in 0..105 {
        out = c.send("more");
        if out.iter().any(|l| l.starts_with("error")) {
            break;
        }
        // Whatever was kept saves and loads back.
        let saved = serde_json::to_string(&c.session).expect("saves");
        let _: Session = serde_json::from_str(&saved).expect("loads");
    }
    assert!(
        out.iter().any(|l| l.starts_with(
            "error too deeply nested: lists and dictionaries may nest at most 100 levels"
        )),
        "{out:?}"
    );
}

#[test]
fn a_turn_sends_at_most_100_messages() {
    let mut c = bot("on start goto a\nblock a {\n  say \"spam\"\n  goto a\n}\n");
    let out = c.send("go");
    let sent = out.iter().filter(|l| l.as_str() == "say spam").count();
    assert_eq!(sent, 100, "{:?}", &out[out.len() - 3..]);
    assert!(
        out.iter()
            .any(|l| l.starts_with("error the turn sent more than 100 messages")),
        "{:?}",
        &out[out.len() - 3..]
    );
}

#[test]
fn a_turn_sends_at_most_100_requests() {
    let mut c = bot("on start goto a\nblock a {\n  http GET \"https://api.example.com/x\" { on error goto a }\n}\n");
    let out = c.send("go");
    let sent = out.iter().filter(|l| l.starts_with("http ")).count();
    assert_eq!(sent, 100);
    assert!(
        out.iter()
            .any(|l| l.starts_with("error the turn sent more than 100 HTTP requests")),
        "{:?}",
        &out[out.len() - 3..]
    );
}

#[test]
fn a_turn_is_bounded_in_wall_time() {
    let mut c = bot_with(
        &[(
            "bot.scn",
            "on start goto a\nblock a {\n  set %i% = 0\n  goto spin\n}\nblock spin {\n  set %i% += 1\n  goto spin\n}\n",
        )],
        Options {
            max_steps: u64::MAX,
            max_turn_time: std::time::Duration::from_millis(300),
            ..Options::default()
        },
    );
    let started = std::time::Instant::now();
    let out = c.send("go");
    assert!(started.elapsed().as_secs() < 20);
    assert!(
        out.iter()
            .any(|l| l.starts_with("error the turn took longer than 300ms")),
        "{out:?}"
    );
}

#[test]
fn like_in_a_match_arm_applies_to_every_pattern() {
    let mut c = bot("on start goto a\nblock a {\n  wait\n  match %message% {\n    like \"cancel\", \"stop it\" => say \"cancelled\"\n    else => say \"kept\"\n  }\n  goto a\n}\n");
    c.send("hi");
    assert_eq!(c.send("Stop  it!")[0], "say cancelled");
    assert_eq!(c.send("stop itt")[0], "say cancelled");
    assert_eq!(c.send("Cancell")[0], "say cancelled");
    assert_eq!(c.send("go on")[0], "say kept");
}

#[test]
fn a_saved_position_inside_a_call_is_valid() {
    let mut c =
        bot("on start goto a\nblock a {\n  call b\n}\nblock b {\n  wait\n  say \"back\"\n}\n");
    c.send("hi");
    assert_eq!(c.session.stack.len(), 1);
    let mut session = c.session.clone();
    assert_eq!(c.rt.check_position(&mut session), None);
    session.stack[0].pc = 99;
    assert!(c.rt.check_position(&mut session).is_some());
    assert!(!session.is_waiting(), "the run ended");
}
