//! Firing many timers of one session (issue 14; run by `scripts/bench_timers.py`).
//!
//! `cargo run --release --example bench_timers -- N` compiles a bot whose first turn schedules
//! N timers (one a second, in a `for` loop), then fires them all, each in a turn of its own at
//! its due time, as `run --clock` and tests do, and checks they came in order. As the reference
//! side by side it runs N plain message turns of the same bot (a turn that sends one message).
//! Prints one JSON line: the time to schedule, to fire all N, and to run N message turns.

use std::time::Instant;

use scenarist::eval::{Event, Input, Options, Runtime};
use scenarist::http::Offline;
use scenarist::value::Value;
use scenarist::{compile, Sources};

const BOT: &str = r#"
on start goto plan
on message "ping" goto ping
block plan {
  for %i% in %seconds% {
    schedule at time_add(now(), %i%) goto fire
  }
}
block fire {
  say "{{ now() }}"
}
block ping {
  say "pong"
}
"#;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let sources = Sources::from_texts([("bench.scn", BOT)]);
    let program = compile(&sources).unwrap_or_else(|d| panic!("{d:?}"));
    let start_ms = 1_772_359_200_000i64;
    let options = Options {
        max_timers: n,
        max_steps: 10 * n as u64 + 100,
        now_ms: Some(start_ms),
        ..Options::default()
    };
    let rt = Runtime::new(program, sources, options);
    let mut session = rt.new_session("bench", "Bench");
    let mut globals = rt.new_globals();
    let seconds: Vec<Value> = (1..=n).map(Value::from).collect();
    session.user.insert("seconds".into(), Value::from(seconds));
    let tokio = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let offline = Offline("no network".into());
    let mut turn = |session: &mut scenarist::eval::Session, input: &Input, now: i64| {
        tokio.block_on(rt.input(session, &mut globals, input, Some(now), &offline, None))
    };

    let t = Instant::now();
    let events = turn(&mut session, &Input::Message("hi".into()), start_ms);
    let schedule_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert!(
        !events.iter().any(|e| matches!(e, Event::Error { .. })),
        "{events:?}"
    );
    assert_eq!(session.timers.len(), n);
    // The list of seconds is not part of what is measured next (every turn measures the
    // session's variables against the size limit).
    session.user.shift_remove("seconds");

    let t = Instant::now();
    let mut fired = 0usize;
    let mut last = String::new();
    while let Some(due) = session.next_due() {
        let events = turn(&mut session, &Input::Timer, due);
        for e in events {
            if let Event::Message { text, .. } = e {
                assert!(text > last, "out of order: {text} after {last}");
                last = text;
                fired += 1;
            }
        }
    }
    let fire_ms = t.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(fired, n);

    let t = Instant::now();
    for _ in 0..n {
        turn(&mut session, &Input::Message("ping".into()), start_ms);
    }
    let messages_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "{{\"timers\":{n},\"schedule_ms\":{schedule_ms:.1},\"fire_ms\":{fire_ms:.1},\"message_turns_ms\":{messages_ms:.1}}}"
    );
}
