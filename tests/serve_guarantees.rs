//! The guarantees of `scenarist serve` (per-user order, exactly once, all-or-nothing turns,
//! globals without lost updates, timers), each against the real server over real HTTP, and
//! each with a bot that would show the failure if the guarantee did not hold: the turns wait on
//! a slow HTTP peer between reading a value and writing it back, so that turns running side by
//! side would read the same value.

mod common;

use std::time::{Duration, Instant};

use common::serve::{get, post, post_at_once, said, Server, SlowPeer, TempDir};

/// A block that reads `%VAR%`, waits `ms` on the slow peer, writes `%VAR% + 1` back and says
/// `say`: two turns running it side by side would both read the same value.
fn read_call_write(block: &str, var: &str, peer: &SlowPeer, ms: u64, say: &str) -> String {
    format!(
        "block {block} {{\n  set %before% = %{var}%\n  \
         http GET \"http://{}/slow/{ms}\" {{ on error goto failed }}\n  \
         set %{var}% = %before% + 1\n  say \"{say}\"\n}}\n",
        peer.addr()
    )
}

/// Where the peer's errors go.
const FAILED: &str = "block failed {\n  say \"failed: %error%\"\n}\n";

/// A user counter read before and written after a slow call: two turns of one user side by
/// side would both read the same count.
fn counter_bot(dir: &TempDir, peer: &SlowPeer, ms: u64) -> std::path::PathBuf {
    let count = read_call_write("count", "count", peer, ms, "%count% %message%");
    dir.write(
        "counter.scn",
        &format!("\nuser %count% = 0\non message goto count\n{count}{FAILED}"),
    )
}

fn message(user: &str, text: &str, id: Option<&str>) -> String {
    let mut body = serde_json::json!({ "user_id": user, "text": text });
    if let Some(id) = id {
        body["message_id"] = id.into();
    }
    body.to_string()
}

/// A message to this user.
fn send(server: &Server, user: &str, text: &str, id: Option<&str>) -> (u16, String) {
    post(&server.addr(), "/v1/messages", &message(user, text, id))
}

#[test]
fn turns_of_one_user_run_one_at_a_time() {
    let dir = TempDir::new("order");
    let peer = SlowPeer::start();
    let bot = counter_bot(&dir, &peer, 20);
    let server = Server::start(
        &dir,
        &bot,
        &["--user-rate", "0", "--allow-host", &peer.addr()],
    );
    let mut counts = Vec::new();
    for (status, body) in post_at_once(std::slice::from_ref(&server), 50, |i| {
        message("u", &format!("m{i}"), None)
    }) {
        assert_eq!(status, 200, "{body}");
        let response: serde_json::Value = serde_json::from_str(&body).expect("JSON");
        let text = said(&response["events"]).join(" ");
        let count: u32 = text
            .split(' ')
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("a count in {text:?}"));
        counts.push(count);
    }
    counts.sort_unstable();
    // Interleaved turns would have read the same count: duplicates and a lower total.
    assert_eq!(counts, (1..=50).collect::<Vec<_>>());
    let session = server.get("/v1/sessions/u").json();
    assert_eq!(session["user"]["count"], 50);
    assert_eq!(session["messages"], 50);
}

#[test]
fn other_users_are_not_held_up_by_a_slow_turn() {
    let dir = TempDir::new("parallel");
    let peer = SlowPeer::start();
    let bot = counter_bot(&dir, &peer, 3000);
    let server = Server::start(&dir, &bot, &["--allow-host", &peer.addr()]);
    let addr = server.addr();
    let slow = std::thread::spawn(move || post(&addr, "/v1/messages", &message("slow", "x", None)));
    peer.wait_for_requests(1);
    // A fast bot would answer these in milliseconds; they share the slow one's peer but not
    // its user: each waits 3 s on its own call, side by side, not one after another.
    let started = Instant::now();
    for (status, _) in post_at_once(std::slice::from_ref(&server), 20, |i| {
        message(&format!("o{i}"), "x", None)
    }) {
        assert_eq!(status, 200);
    }
    assert!(
        started.elapsed() < Duration::from_millis(5500),
        "20 users' 3-second turns took {:?}: they ran one after another",
        started.elapsed()
    );
    assert_eq!(slow.join().expect("the slow client").0, 200);
}

#[test]
fn a_message_id_is_processed_once_also_after_a_restart() {
    let dir = TempDir::new("once");
    let peer = SlowPeer::start();
    let bot = counter_bot(&dir, &peer, 0);
    let args = ["--allow-host", &peer.addr()];
    let mut server = Server::start(&dir, &bot, &args);
    let first = send(&server, "u", "hi", Some("id-1"));
    assert_eq!(first.0, 200);
    let again = send(&server, "u", "hello", Some("id-1"));
    assert_eq!(again, first, "a repeat gets the first response");
    // A number and a string are the same id as the client wrote it.
    let numeric = post(
        &server.addr(),
        "/v1/messages",
        r#"{"user_id":"u","text":"n","message_id":7}"#,
    );
    let numeric_again = post(
        &server.addr(),
        "/v1/messages",
        r#"{"user_id":"u","text":"m","message_id":7}"#,
    );
    assert_eq!(numeric, numeric_again);
    // The same id from another user is that user's own message.
    let other = send(&server, "v", "hi", Some("id-1"));
    assert!(other.1.contains("\"1 hi\""), "{}", other.1);
    server.restart(&args);
    let after_restart = send(&server, "u", "again", Some("id-1"));
    assert_eq!(
        after_restart, first,
        "the stored response survives a restart"
    );
    let session = server.get("/v1/sessions/u").json();
    assert_eq!(session["user"]["count"], 2, "id-1 and 7 ran once each");
    assert_eq!(peer.requests(), 3, "one call per turn that ran");
}

#[test]
fn a_turn_killed_in_the_middle_left_nothing_and_can_be_retried() {
    let dir = TempDir::new("atomic");
    let peer = SlowPeer::start();
    // A first turn commits count 1; the second waits 30 s on the peer and is killed there.
    let bot = counter_bot(&dir, &peer, 0);
    let args = ["--allow-host", &peer.addr()];
    let mut server = Server::start(&dir, &bot, &args);
    assert_eq!(send(&server, "u", "one", Some("a")).0, 200);
    let (_, before) = get(&server.addr(), "/v1/sessions/u");
    peer.set_delay(Duration::from_secs(30));
    let addr = server.addr();
    let killed =
        std::thread::spawn(move || post(&addr, "/v1/messages", &message("u", "two", Some("b"))));
    peer.wait_for_requests(2);
    server.kill_hard();
    let (status, _) = killed.join().expect("the client of the killed turn");
    assert_ne!(status, 200, "the killed turn did not answer");
    peer.set_delay(Duration::ZERO);
    server.restart(&args);
    let (_, after) = get(&server.addr(), "/v1/sessions/u");
    assert_eq!(after, before, "the session is as before the killed turn");
    let retried = send(&server, "u", "two", Some("b"));
    assert_eq!(retried.0, 200);
    assert!(retried.1.contains("\"2 two\""), "{}", retried.1);
}

#[test]
fn concurrent_turns_never_lose_an_update_of_a_global() {
    let dir = TempDir::new("globals");
    let peer = SlowPeer::start();
    let add = read_call_write("add", "n", &peer, 5, "added");
    let bot = dir.write(
        "bot.scn",
        &format!(
            "\nglobal %n% = 0\non message \"echo\" goto echo\non message goto add\n{add}\
             block echo {{\n  say \"echo\"\n}}\n{FAILED}"
        ),
    );
    let server = Server::start(&dir, &bot, &["--allow-host", &peer.addr()]);
    for (status, body) in post_at_once(std::slice::from_ref(&server), 100, |i| {
        message(&format!("u{i}"), "add", None)
    }) {
        assert_eq!(status, 200);
        assert!(body.contains("added"), "{body}");
    }
    let (_, globals) = get(&server.addr(), "/v1/globals");
    assert_eq!(globals, r#"{"n":100}"#);
}

#[test]
fn turns_that_touch_no_global_do_not_wait_for_those_that_do() {
    let dir = TempDir::new("global-free");
    let peer = SlowPeer::start();
    let bot = dir.write(
        "bot.scn",
        &r#"
global %n% = 0
on message "add" goto add
block add {
  http GET "http://PEER/slow/3000" { on error goto add }
  set %n% += 1
}
block echo {
  say "%message%"
}
"#
        .replace("PEER", &peer.addr()),
    );
    // `echo` is reachable only from a webhook, so a webhook turn there touches no global.
    std::fs::write(
        &bot,
        std::fs::read_to_string(&bot).expect("the bot") + "on webhook \"ping\" goto echo\n",
    )
    .expect("write the bot");
    let server = Server::start(&dir, &bot, &["--allow-host", &peer.addr()]);
    let addr = server.addr();
    let adding =
        std::thread::spawn(move || post(&addr, "/v1/messages", &message("a", "add", None)));
    peer.wait_for_requests(1);
    let started = Instant::now();
    let (status, body) = post(&server.addr(), "/v1/webhooks/ping", r#"{"user_id":"b"}"#);
    assert_eq!(status, 200, "{body}");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "a turn without globals waited {:?} for one holding them",
        started.elapsed()
    );
    assert_eq!(adding.join().expect("the adding client").0, 200);
    assert_eq!(get(&server.addr(), "/v1/globals").1, r#"{"n":1}"#);
}

const REMINDER: &str = r#"
user %fired% = 0
on message goto remind
block remind {
  schedule 1s goto later
  say "set"
}
block later {
  set %fired% += 1
  say "reminder %fired%"
}
"#;

/// Polls the user's outbox until `want` entries are there, or the deadline.
fn outbox(server: &Server, user: &str, want: usize, within: Duration) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + within;
    loop {
        let parsed = server.get(&format!("/v1/users/{user}/events")).json();
        let entries = parsed["entries"].as_array().cloned().unwrap_or_default();
        if entries.len() >= want || Instant::now() > deadline {
            return entries;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_timer_fires_within_a_second_of_its_time_and_once() {
    let dir = TempDir::new("timer");
    let bot = dir.write("bot.scn", REMINDER);
    let server = Server::start(&dir, &bot, &[]);
    let set_at = Instant::now();
    assert_eq!(send(&server, "u", "go", None).0, 200);
    let entries = outbox(&server, "u", 1, Duration::from_secs(5));
    let took = set_at.elapsed();
    assert_eq!(entries.len(), 1, "the reminder fired");
    assert!(
        took < Duration::from_millis(2000),
        "a 1 s timer fired after {took:?}"
    );
    assert_eq!(entries[0]["seq"], 1);
    let events = entries[0]["events"].to_string();
    assert!(events.contains("reminder 1"), "{events}");
    assert!(events.contains(r#""type":"timer""#), "{events}");
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        outbox(&server, "u", 2, Duration::ZERO).len(),
        1,
        "it fired once"
    );
}

#[test]
fn a_timer_that_came_due_while_the_server_was_down_fires_on_start() {
    let dir = TempDir::new("timer-down");
    let bot = dir.write("bot.scn", REMINDER);
    let mut server = Server::start(&dir, &bot, &[]);
    assert_eq!(send(&server, "u", "go", None).0, 200);
    server.stop();
    std::thread::sleep(Duration::from_millis(1500));
    let started = Instant::now();
    server.restart(&[]);
    let entries = outbox(&server, "u", 1, Duration::from_secs(5));
    assert_eq!(entries.len(), 1, "the timer fired after the restart");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "it fired {:?} after the start",
        started.elapsed()
    );
    std::thread::sleep(Duration::from_millis(700));
    let session = server.get("/v1/sessions/u").json();
    assert_eq!(session["user"]["fired"], 1);
}

#[test]
fn a_user_sending_faster_than_the_rate_gets_429_and_others_do_not() {
    let dir = TempDir::new("rate");
    let bot = dir.write(
        "bot.scn",
        "on message goto e\nblock e { say \"%message%\" }\n",
    );
    let server = Server::in_memory(&dir, &bot);
    let statuses: Vec<u16> = post_at_once(std::slice::from_ref(&server), 40, |i| {
        message("fast", &format!("{i}"), None)
    })
    .into_iter()
    .map(|(status, _)| status)
    .collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    let refused = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(ok + refused, 40, "{statuses:?}");
    // 20 at once, and the bucket refills by 20 a second while the others arrive.
    assert!(
        (20..=30).contains(&ok),
        "{ok} of 40 went through: {statuses:?}"
    );
    let (status, body) = send(&server, "other", "hi", None);
    assert_eq!(status, 200, "another user is not limited: {body}");
    let (status, body) = send(&server, "fast", "x", None);
    if status == 429 {
        assert!(body.contains("too_many_requests"), "{body}");
    }
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(send(&server, "fast", "later", None).0, 200);
    let session = server.get("/v1/sessions/fast").json();
    assert_eq!(
        session["messages"].as_u64(),
        Some(ok as u64 + u64::from(status == 200) + 1),
        "refused messages did not change the session"
    );
}

#[test]
fn a_secret_copied_into_a_global_is_never_stored() {
    let dir = TempDir::new("global-secret");
    let bot = dir.write(
        "bot.scn",
        "global %auth% = \"\"\non message goto e\nblock e {\n  set %auth% = \"Bearer %token%\"\n  say \"%auth%\"\n}\n",
    );
    let mut server = Server::start(&dir, &bot, &["--secret", "token=abc123"]);
    let (status, body) = send(&server, "u", "hi", Some("1"));
    assert_eq!(status, 200);
    assert!(
        body.contains("Bearer ***") && !body.contains("abc123"),
        "{body}"
    );
    assert_eq!(
        get(&server.addr(), "/v1/globals").1,
        r#"{"auth":"Bearer ***"}"#
    );
    server.stop();
    for entry in std::fs::read_dir(dir.path())
        .expect("the directory")
        .flatten()
    {
        let bytes = std::fs::read(entry.path()).expect("a file");
        assert!(
            !bytes.windows(6).any(|w| w == b"abc123"),
            "{} holds the secret",
            entry.path().display()
        );
    }
}

#[test]
fn a_slow_timer_turn_does_not_hold_up_other_users_timers() {
    let dir = TempDir::new("timer-slow");
    let peer = SlowPeer::start();
    let bot = dir.write(
        "bot.scn",
        &format!(
            "on message \"slow\" goto slow_set\non message \"fast\" goto fast_set\n\
             block slow_set {{\n  schedule 1s goto slow_timer\n}}\n\
             block slow_timer {{\n  http GET \"http://{}/slow/6000\" {{ on error goto failed }}\n  say \"slow\"\n}}\n\
             block fast_set {{\n  schedule 1s goto fast_timer\n}}\n\
             block fast_timer {{\n  say \"fast\"\n}}\n\
             block failed {{\n  say \"failed\"\n}}\n",
            peer.addr()
        ),
    );
    let server = Server::start(&dir, &bot, &["--allow-host", &peer.addr()]);
    assert_eq!(send(&server, "s", "slow", None).0, 200);
    // The slow user's timer is firing: its turn waits on the peer for 6 s.
    peer.wait_for_requests(1);
    let set_at = Instant::now();
    assert_eq!(send(&server, "f", "fast", None).0, 200);
    let entries = outbox(&server, "f", 1, Duration::from_secs(8));
    assert_eq!(entries.len(), 1, "the fast user's timer fired");
    assert!(
        set_at.elapsed() < Duration::from_millis(2500),
        "a 1 s timer fired after {:?}, behind another user's slow turn",
        set_at.elapsed()
    );
}
