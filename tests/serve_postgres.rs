//! Several `scenarist serve` instances on one PostgreSQL: the guarantees hold across them
//! (per-user order, exactly once, globals, timers fired once). The database comes from
//! `SCENARIST_TEST_POSTGRES` (`.ci/run` sets it); each test makes a schema of its own and drops
//! it. Without the variable the tests say loudly that they did not run.

mod common;

use std::time::{Duration, Instant};

use common::serve::{post, said, Server, SlowPeer, TempDir};

/// A schema of the test database for one test, dropped at the end.
struct Schema {
    base: String,
    name: String,
}

impl Schema {
    fn new(test: &str) -> Option<Schema> {
        let Ok(base) = std::env::var("SCENARIST_TEST_POSTGRES") else {
            eprintln!(
                "SKIPPED: SCENARIST_TEST_POSTGRES is not set; {test} (several instances on \
                 PostgreSQL) was NOT tested"
            );
            return None;
        };
        let name = format!("scn_multi_{test}_{}", std::process::id());
        sql(
            &base,
            &format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"),
        );
        Some(Schema { base, name })
    }

    /// The store URL of the schema.
    fn url(&self) -> String {
        let sep = if self.base.contains('?') { '&' } else { '?' };
        format!("{}{sep}options=-csearch_path%3D{}", self.base, self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        sql(
            &self.base,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
    }
}

fn sql(url: &str, statements: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("the test database answers");
        let driver = tokio::spawn(connection);
        client
            .batch_execute(statements)
            .await
            .expect("the statements run");
        drop(client);
        let _ = driver.await;
    });
}

/// Three instances of the bot on the schema.
fn instances(dir: &TempDir, bot: &std::path::Path, schema: &Schema, args: &[&str]) -> Vec<Server> {
    (0..3)
        .map(|_| Server::start_with(dir, bot, &schema.url(), &[], args))
        .collect()
}

fn message(user: &str, text: &str, id: Option<&str>) -> String {
    let mut body = serde_json::json!({ "user_id": user, "text": text });
    if let Some(id) = id {
        body["message_id"] = id.into();
    }
    body.to_string()
}

/// `n` messages at once, the `i`th to instance `i % 3`: the answers.
fn spread(servers: &[Server], n: usize, body: impl Fn(usize) -> String) -> Vec<(u16, String)> {
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let (addr, body) = (servers[i % servers.len()].addr(), body(i));
            std::thread::spawn(move || post(&addr, "/v1/messages", &body))
        })
        .collect();
    threads
        .into_iter()
        .map(|t| t.join().expect("a client"))
        .collect()
}

fn counter_bot(dir: &TempDir, peer: &SlowPeer, scope: &str) -> std::path::PathBuf {
    dir.write(
        "bot.scn",
        &format!(
            "{scope} %count% = 0\non message goto count\nblock count {{\n  set %before% = %count%\n  \
             http GET \"http://{}/slow/10\" {{ on error goto failed }}\n  \
             set %count% = %before% + 1\n  say \"%count%\"\n}}\n\
             block failed {{\n  say \"failed: %error%\"\n}}\n",
            peer.addr()
        ),
    )
}

#[test]
fn one_users_turns_on_three_instances_run_one_at_a_time() {
    let Some(schema) = Schema::new("order") else {
        return;
    };
    let dir = TempDir::new("pg-order");
    let peer = SlowPeer::start();
    let bot = counter_bot(&dir, &peer, "user");
    let servers = instances(
        &dir,
        &bot,
        &schema,
        &["--user-rate", "0", "--allow-host", &peer.addr()],
    );
    let answers = spread(&servers, 50, |i| message("u", &format!("m{i}"), None));
    let mut counts: Vec<u32> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            let v: serde_json::Value = serde_json::from_str(body).expect("JSON");
            said(&v["events"])
                .first()
                .and_then(|t| t.parse().ok())
                .unwrap_or_else(|| panic!("a count in {body}"))
        })
        .collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        (1..=50).collect::<Vec<_>>(),
        "no turn interleaved or was lost"
    );
}

#[test]
fn a_message_id_repeated_on_another_instance_gets_the_stored_response() {
    let Some(schema) = Schema::new("once") else {
        return;
    };
    let dir = TempDir::new("pg-once");
    let peer = SlowPeer::start();
    let bot = counter_bot(&dir, &peer, "user");
    let servers = instances(&dir, &bot, &schema, &["--allow-host", &peer.addr()]);
    let first = post(
        &servers[0].addr(),
        "/v1/messages",
        &message("u", "a", Some("x")),
    );
    assert_eq!(first.0, 200);
    for s in &servers[1..] {
        assert_eq!(
            post(&s.addr(), "/v1/messages", &message("u", "b", Some("x"))),
            first
        );
    }
    assert_eq!(peer.requests(), 1, "the turn ran once");
}

#[test]
fn a_global_counted_on_three_instances_loses_no_update() {
    let Some(schema) = Schema::new("globals") else {
        return;
    };
    let dir = TempDir::new("pg-globals");
    let peer = SlowPeer::start();
    let bot = counter_bot(&dir, &peer, "global");
    let servers = instances(&dir, &bot, &schema, &["--allow-host", &peer.addr()]);
    for (status, body) in spread(&servers, 100, |i| message(&format!("u{i}"), "add", None)) {
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(servers[2].get("/v1/globals").body, r#"{"count":100}"#);
}

#[test]
fn timers_due_together_on_three_instances_fire_once_each() {
    let Some(schema) = Schema::new("timers") else {
        return;
    };
    let dir = TempDir::new("pg-timers");
    let bot = dir.write(
        "bot.scn",
        "user %fired% = 0\non message goto set\nblock set {\n  schedule 1s goto later\n}\n\
         block later {\n  set %fired% += 1\n  say \"fired %fired%\"\n}\n",
    );
    let servers = instances(&dir, &bot, &schema, &[]);
    let users = 60;
    for (status, body) in spread(&servers, users, |i| message(&format!("t{i}"), "go", None)) {
        assert_eq!(status, 200, "{body}");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut pending: Vec<usize> = (0..users).collect();
    while !pending.is_empty() && Instant::now() < deadline {
        pending.retain(|i| {
            let entries = servers[i % 3].get(&format!("/v1/users/t{i}/events")).json();
            entries["entries"].as_array().is_none_or(Vec::is_empty)
        });
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(pending.is_empty(), "timers of {pending:?} did not fire");
    // Time for a second firing, were there to be one.
    std::thread::sleep(Duration::from_millis(1500));
    for i in 0..users {
        let entries = servers[0].get(&format!("/v1/users/t{i}/events")).json();
        let entries = entries["entries"].as_array().cloned().unwrap_or_default();
        assert_eq!(entries.len(), 1, "user t{i}: {entries:?}");
        let session = servers[1].get(&format!("/v1/sessions/t{i}")).json();
        assert_eq!(session["user"]["fired"], 1, "user t{i}");
    }
}
