//! Language 1.1 through the interpreter: timers (`wait … timeout`, `schedule`, `cancel`),
//! webhooks, `for`, buttons built from data with the values they carry, attachments, and the
//! buttons rule of LANGUAGE.md §4. A virtual clock moves only when the test says so; every
//! timer due fires in order, in a turn of its own at its due time.

use scenarist::eval::{Event, Globals, Input, Options, Runtime, Session};
use scenarist::value::Value;
use scenarist::{compile, Sources};

/// 2026-03-01T10:00:00Z.
const START: i64 = 1_772_359_200_000;
const MINUTE: i64 = 60_000;

struct Chat {
    rt: Runtime,
    session: Session,
    globals: Globals,
    now: i64,
}

fn bot_with(text: &str, options: Options) -> Chat {
    let sources = Sources::from_texts([("bot.scn", text)]);
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
        now: START,
    }
}

fn bot(text: &str) -> Chat {
    bot_with(text, Options::default())
}

fn line(e: &Event) -> String {
    match e {
        Event::Message {
            text,
            buttons,
            attachments,
        } => {
            let mut s = format!("say {text}");
            for b in buttons {
                s += &format!(" [{}]", b.label());
            }
            for a in attachments {
                s += &format!(" {}", serde_json::to_string(a).unwrap_or_default());
            }
            s
        }
        Event::Timer { name, block, kind } => format!("timer {kind:?} {name:?} {block}"),
        Event::Webhook { name, payload } => format!("webhook {name} {payload}"),
        Event::Warning { message, .. } => format!("warning {message}"),
        Event::Error { message, at } => {
            format!("error {message} @{}", at.as_ref().map_or(0, |l| l.line))
        }
        Event::Notify { text } => format!("notify {text}"),
        Event::Log { text } => format!("log {text}"),
        Event::Input { text } => format!("> {text}"),
        Event::Http { .. } => "http".into(),
        Event::Wait => "wait".into(),
        Event::End => "end".into(),
    }
}

impl Chat {
    fn turn(&mut self, input: Input, now: i64) -> Vec<String> {
        let tokio = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let offline = scenarist::http::Offline("no network in this test".into());
        let events = tokio.block_on(self.rt.input(
            &mut self.session,
            &mut self.globals,
            &input,
            Some(now),
            &offline,
            None,
        ));
        assert_eq!(
            events.iter().filter(|e| e.ends_turn()).count(),
            1,
            "a turn ends with exactly one wait or end: {events:?}"
        );
        events.iter().map(line).collect()
    }

    fn send(&mut self, text: &str) -> Vec<String> {
        let mut out = self.turn(Input::Message(text.into()), self.now);
        out.remove(0);
        out
    }

    fn webhook(&mut self, name: &str, payload: &str) -> Vec<String> {
        let payload = Value::parse_json(payload).expect("payload");
        let input = Input::Webhook {
            name: name.into(),
            payload,
        };
        self.turn(input, self.now)
    }

    /// Time passes: every timer due fires, in order, each at its due time.
    fn sleep(&mut self, ms: i64) -> Vec<String> {
        let until = self.now + ms;
        let mut out = Vec::new();
        while let Some(due) = self.session.next_due().filter(|&d| d <= until) {
            assert!(
                due >= self.now - 1,
                "a timer fired late: due {due}, now {}",
                self.now
            );
            out.extend(self.turn(Input::Timer, due));
        }
        self.now = until;
        out
    }

    /// The session saved and loaded back, as `run --state` and `serve` do between turns.
    fn reload(&mut self) {
        let json = serde_json::to_string(&self.session.redacted()).expect("save");
        self.session = serde_json::from_str(&json).expect("load");
    }
}

const REMINDER: &str = r#"
on start goto ask
block ask {
  set %order% = "A-17"
  say "Pay for %order%?"
  wait -> %answer% timeout 30m goto remind
  say "You said %answer% about %order%."
}
block remind {
  say "Still there? %order% is waiting (you said '%answer%')."
}
"#;

#[test]
fn a_wait_times_out_into_the_same_run() {
    let mut c = bot(REMINDER);
    assert_eq!(c.send("hi"), ["say Pay for A-17?", "wait"]);
    assert!(c.sleep(29 * MINUTE).is_empty());
    // The temporaries are kept, the `-> %answer%` is not assigned (a warning says so).
    assert_eq!(
        c.sleep(MINUTE),
        [
            "timer Timeout None remind",
            "warning `%answer%` is not set",
            "say Still there? A-17 is waiting (you said '').",
            "end"
        ]
    );
    assert!(c.sleep(10 * 24 * 60 * MINUTE).is_empty());
}

#[test]
fn a_message_in_time_cancels_the_timeout() {
    let mut c = bot(REMINDER);
    c.send("hi");
    c.sleep(10 * MINUTE);
    assert_eq!(c.send("yes"), ["say You said yes about A-17.", "end"]);
    assert_eq!(c.session.next_due(), None);
    assert!(c.sleep(60 * MINUTE).is_empty());
}

#[test]
fn a_timeout_racing_a_message_at_the_same_millisecond() {
    // The message is processed first (inputs come before timers due at the same time in
    // `run` and in tests only if they arrive before the clock reaches the due time): a
    // message sent when the timer is already due still wins if it is processed first, and
    // the timer is then gone.
    let mut c = bot(REMINDER);
    c.send("hi");
    c.now += 30 * MINUTE;
    assert_eq!(c.send("yes"), ["say You said yes about A-17.", "end"]);
    assert!(c.sleep(MINUTE).is_empty());
}

#[test]
fn an_anytime_trigger_and_a_webhook_cancel_the_timeout() {
    let text = format!(
        "{REMINDER}\non anytime message \"/stop\" goto stop\non webhook \"paid\" goto paid\nblock stop {{ say \"Stopped.\" }}\nblock paid {{ say \"Paid %webhook.amount%.\" }}\n"
    );
    let mut c = bot(&text);
    c.send("hi");
    assert_eq!(c.send("/stop"), ["say Stopped.", "end"]);
    assert!(c.sleep(60 * MINUTE).is_empty());
    c.send("hi again");
    assert_eq!(
        c.webhook("paid", r#"{"amount": 5}"#),
        ["webhook paid {\"amount\":5}", "say Paid 5.", "end"]
    );
    assert!(c.sleep(60 * MINUTE).is_empty());
}

const CART: &str = r#"
on start goto cart
on message "pay" goto pay
on message "again" goto cart
block cart {
  say "Saved your cart."
  schedule 1d goto remind as "cart"
}
block remind {
  say "Your cart is waiting (it is {{ now() }})."
}
block pay {
  cancel "cart"
  say "Paid, thanks!"
}
"#;

#[test]
fn a_schedule_fires_once_at_its_due_time_and_starts_a_run() {
    let mut c = bot(CART);
    assert_eq!(c.send("hi"), ["say Saved your cart.", "end"]);
    assert!(c.sleep(23 * 60 * MINUTE).is_empty());
    assert_eq!(
        c.sleep(2 * 60 * MINUTE),
        [
            "timer Schedule Some(\"cart\") remind",
            "say Your cart is waiting (it is 2026-03-02T10:00:00Z).",
            "end"
        ]
    );
    assert!(c.sleep(10 * 24 * 60 * MINUTE).is_empty());
}

#[test]
fn a_schedule_replaced_fires_once_at_the_later_time() {
    let mut c = bot(CART);
    c.send("hi");
    c.sleep(12 * 60 * MINUTE);
    c.send("again");
    assert_eq!(c.session.timers.len(), 1);
    assert!(c.sleep(23 * 60 * MINUTE).is_empty());
    let fired = c.sleep(60 * MINUTE);
    assert_eq!(
        fired[1],
        "say Your cart is waiting (it is 2026-03-02T22:00:00Z)."
    );
    assert!(c.sleep(10 * 24 * 60 * MINUTE).is_empty());
}

#[test]
fn a_cancel_before_and_after_it_fired() {
    let mut c = bot(CART);
    c.send("hi");
    assert_eq!(c.send("pay"), ["say Paid, thanks!", "end"]);
    assert!(c.sleep(2 * 24 * 60 * MINUTE).is_empty());
    // After it fired: nothing pending, the cancel does nothing and is no error.
    c.send("again");
    c.sleep(24 * 60 * MINUTE);
    assert_eq!(c.send("pay"), ["say Paid, thanks!", "end"]);
}

#[test]
fn timers_survive_saving_the_session() {
    let mut c = bot(CART);
    c.send("hi");
    c.reload();
    assert_eq!(c.session.timers.len(), 1);
    let fired = c.sleep(24 * 60 * MINUTE);
    assert_eq!(fired[0], "timer Schedule Some(\"cart\") remind");

    let mut c = bot(REMINDER);
    c.send("hi");
    c.reload();
    assert_eq!(c.sleep(30 * MINUTE)[0], "timer Timeout None remind");
}

#[test]
fn a_schedule_continues_a_waiting_run_with_its_temporaries() {
    let mut c = bot(r#"
on start goto a
block a {
  set %n% = 7
  schedule 1h goto b
  wait
  say "not reached"
}
block b {
  say "n is %n%"
}
"#);
    assert_eq!(c.send("hi"), ["wait"]);
    assert_eq!(
        c.sleep(60 * MINUTE),
        ["timer Schedule None b", "say n is 7", "end"]
    );
}

#[test]
fn schedule_at_takes_a_time_or_milliseconds_and_a_past_time_fires_at_once() {
    let mut c = bot(r#"
on start goto a
block a {
  schedule at time_add(now(), 90) goto b as "text"
  schedule at %ms% goto c
  schedule at "2020-01-01T00:00:00Z" goto d
}
block b { say "b at {{ now() }}" }
block c { say "c at {{ now() }}" }
block d { say "d at {{ now() }}" }
"#);
    c.session
        .user
        .insert("ms".into(), Value::from(START + 30 * MINUTE));
    c.send("hi");
    let fired = c.sleep(60 * MINUTE);
    let says: Vec<&String> = fired.iter().filter(|l| l.starts_with("say")).collect();
    assert_eq!(
        says,
        [
            "say d at 2026-03-01T10:00:00Z",
            "say b at 2026-03-01T10:01:30Z",
            "say c at 2026-03-01T10:30:00Z"
        ]
    );
}

#[test]
fn schedule_at_a_value_that_is_not_a_time_is_an_error_naming_the_line() {
    let mut c = bot("on start goto a\nblock a {\n  schedule at \"soon\" goto a\n}\n");
    let out = c.send("hi");
    assert!(
        out[0].starts_with("error `schedule at`: cannot read \"soon\" as a time")
            && out[0].ends_with("@3"),
        "{out:?}"
    );
}

#[test]
fn more_than_the_pending_limit_is_a_runtime_error_naming_the_statement() {
    let text =
        "on start goto a\nblock a {\n  for %i% in %list% {\n    schedule 1h goto a\n  }\n}\n";
    let mut c = bot(text);
    let list: Vec<Value> = (0..101).map(Value::from).collect();
    c.session.user.insert("list".into(), Value::from(list));
    let out = c.send("hi");
    assert!(
        out[0].contains("already has 100 timers pending") && out[0].ends_with("@4"),
        "{out:?}"
    );
    assert_eq!(c.session.timers.len(), 100);

    let mut c = bot_with(
        text,
        Options {
            max_timers: 1000,
            ..Options::default()
        },
    );
    c.session.user.insert(
        "list".into(),
        Value::from((0..101).map(Value::from).collect::<Vec<_>>()),
    );
    assert_eq!(c.send("hi"), ["end"]);
    assert_eq!(c.session.timers.len(), 101);
}

#[test]
fn timers_due_together_fire_in_the_order_they_were_set() {
    let mut c = bot(r#"
on start goto a
block a {
  for %x% in ["one", "two", "three"] {
    schedule 1h goto b
  }
  schedule 30m goto c
}
block b { say "b" }
block c { say "c" }
"#);
    c.send("hi");
    let fired: Vec<String> = c
        .sleep(2 * 60 * MINUTE)
        .into_iter()
        .filter(|l| l.starts_with("say"))
        .collect();
    assert_eq!(fired, ["say c", "say b", "say b", "say b"]);
}

#[test]
fn a_webhook_with_no_trigger_warns_and_changes_nothing() {
    let mut c = bot(REMINDER);
    c.send("hi");
    assert_eq!(
        c.webhook("nope", "null"),
        [
            "webhook nope null",
            "warning no trigger `on webhook \"nope\"` in the bot; the webhook was dropped",
            "wait"
        ]
    );
    // The run still waits, its timeout too.
    assert_eq!(c.sleep(30 * MINUTE)[0], "timer Timeout None remind");
}

#[test]
fn a_webhook_while_waiting_interrupts_the_run() {
    let mut c = bot(r#"
on start goto ask
on webhook "shipped" goto shipped
block ask {
  set %secret_word% = "x"
  say "Your name?"
  wait -> %name%
  say "Hi %name%"
}
block shipped {
  say "Order #%webhook.id% shipped ({{ type(%webhook%) }})"
}
"#);
    c.send("hi");
    assert_eq!(
        c.webhook("shipped", r#"{"id": 7}"#),
        [
            "webhook shipped {\"id\":7}",
            "say Order #7 shipped (dictionary)",
            "end"
        ]
    );
    // The waiting run is over: the next message starts afresh.
    assert!(!c.session.is_waiting());
    assert!(c.session.temps.is_empty());
}

#[test]
fn the_buttons_rule_keeps_the_runs_temporaries_for_its_transition_buttons() {
    // The example that failed: the run ended at the block's `}`, and pressing "Yes" found
    // `%order%` gone.
    let text = r#"
on start goto ask
on message "menu" goto menu
block ask {
  set %order% = "A-17"
  say "Confirm %order%?" { button "Yes" goto confirm }
}
block confirm { say "Confirmed %order%." }
block menu { say "Menu: {{ %order% or 'no order' }}" }
"#;
    let mut c = bot(text);
    assert_eq!(c.send("hi"), ["say Confirm A-17? [Yes]", "end"]);
    c.reload();
    assert_eq!(c.send("yes"), ["say Confirmed A-17.", "end"]);

    // Any other input discards them.
    let mut c = bot(text);
    c.send("hi");
    assert_eq!(
        c.send("menu"),
        ["warning `%order%` is not set", "say Menu: no order", "end"]
    );
    assert_eq!(
        c.send("yes"),
        ["warning `%order%` is not set", "say Confirmed .", "end"]
    );
}

#[test]
fn buttons_from_data_carry_their_values() {
    let mut c = bot(r##"
on start goto list
block list {
  set %orders% = [{"id": 1, "state": "paid"}, {"id": 2, "state": "shipped"}]
  say "Which order?" {
    for %o% in %orders% {
      button "#%o.id% — %o.state%" goto show set %picked% = %o%
    }
    button "None" goto none
    image "https://x.example/p.jpg"
    file "https://x.example/i.pdf" "Invoice.pdf"
  }
}
block show { say "Order %picked.id% is %picked.state%." }
block none { say "OK." }
"##);
    assert_eq!(
        c.send("hi"),
        [
            "say Which order? [#1 — paid] [#2 — shipped] [None] {\"kind\":\"image\",\"url\":\"https://x.example/p.jpg\"} {\"kind\":\"file\",\"url\":\"https://x.example/i.pdf\",\"name\":\"Invoice.pdf\"}",
            "end"
        ]
    );
    c.reload();
    assert_eq!(c.send("#2 — shipped"), ["say Order 2 is shipped.", "end"]);
}

#[test]
fn a_message_carries_at_most_100_buttons() {
    let mut c = bot(
        "on start goto a\nblock a {\n  say \"Pick\" {\n    for %i% in %list% {\n      button \"%i%\"\n    }\n  }\n}\n",
    );
    c.session.user.insert(
        "list".into(),
        Value::from((0..101).map(Value::from).collect::<Vec<_>>()),
    );
    let out = c.send("hi");
    assert!(out[0].contains("at most 100"), "{out:?}");
    c.session.user.insert(
        "list".into(),
        Value::from((0..100).map(Value::from).collect::<Vec<_>>()),
    );
    assert_eq!(c.send("again").len(), 2);
}

#[test]
fn for_goes_over_lists_keys_and_characters_and_waits_inside() {
    let mut c = bot(r#"
on start goto a
block a {
  for %k% in {"x": 1, "y": 2} { say "key %k%" }
  for %ch% in "héj" { say "char %ch%" }
  for %q% in ["Name?", "City?"] {
    say %q%
    wait -> %answer%
    say "got %answer%"
  }
  say "done"
}
"#);
    assert_eq!(
        c.send("hi"),
        [
            "say key x",
            "say key y",
            "say char h",
            "say char é",
            "say char j",
            "say Name?",
            "wait"
        ]
    );
    c.reload();
    assert_eq!(c.send("Ann"), ["say got Ann", "say City?", "wait"]);
    c.reload();
    assert_eq!(c.send("Oslo"), ["say got Oslo", "say done", "end"]);
}

#[test]
fn for_over_a_value_that_is_not_iterable_is_an_error() {
    let mut c =
        bot("on start goto a\nblock a {\n  set %n% = 5\n  for %i% in %n% { say \"%i%\" }\n}\n");
    let out = c.send("hi");
    assert!(
        out[0].starts_with(
            "error `for` goes over a List, a Dictionary or a String; this is a number"
        ) && out[0].ends_with("@4"),
        "{out:?}"
    );
}

#[test]
fn a_loop_without_a_wait_hits_the_step_limit() {
    let mut c = bot_with(
        "on start goto a\nblock a {\n  for %i% in %list% { set %x% = %i% }\n}\n",
        Options {
            max_steps: 50,
            ..Options::default()
        },
    );
    c.session.user.insert(
        "list".into(),
        Value::from((0..100).map(Value::from).collect::<Vec<_>>()),
    );
    let out = c.send("hi");
    assert!(out[0].contains("ran 50 statements"), "{out:?}");
}
