//! Several `scenarist serve` instances on one PostgreSQL: the guarantees hold across them
//! (per-user order, exactly once, globals, timers fired once). The database comes from
//! `SCENARIST_TEST_POSTGRES` (`.ci/run` sets it); each test makes a schema of its own and drops
//! it. Without the variable the tests say loudly that they did not run.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::serve::{
    assert_error, post, post_at_once, said, try_http, Receiver, Relay, Response, Server, SlowPeer,
    TempDir,
};

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

    /// The `HOST:PORT` of the database (the port 5432 when the URL has none).
    fn upstream(&self) -> String {
        let host = host_port(&self.base).1;
        if host.ends_with(']') || !host.contains(':') {
            format!("{host}:5432")
        } else {
            host.to_string()
        }
    }

    /// The store URL of the schema with `HOST:PORT` in place of the database's.
    fn url_through(&self, addr: &str) -> String {
        let url = self.url();
        let (start, host) = host_port(&url);
        format!("{}{addr}{}", &url[..start], &url[start + host.len()..])
    }
}

/// Where the `HOST[:PORT]` of a `postgres://[USER[:PASSWORD]@]HOST[:PORT]/…` URL starts, and
/// it.
fn host_port(url: &str) -> (usize, &str) {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let rest = &url[after_scheme..];
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    let host_at = authority.rfind('@').map_or(0, |i| i + 1);
    (after_scheme + host_at, &authority[host_at..])
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

/// One number a query of the schema gives (`SELECT count(*) …`).
fn count(schema: &Schema, query: &str) -> i64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(&schema.url(), tokio_postgres::NoTls)
            .await
            .expect("the test database answers");
        let driver = tokio::spawn(connection);
        let n: i64 = client
            .query_one(query, &[])
            .await
            .unwrap_or_else(|e| panic!("{query}: {e}"))
            .get(0);
        drop(client);
        let _ = driver.await;
        n
    })
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
    let answers = post_at_once(&servers, 50, |i| message("u", &format!("m{i}"), None));
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
    for (status, body) in post_at_once(&servers, 100, |i| message(&format!("u{i}"), "add", None)) {
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(servers[2].get("/v1/globals").body, r#"{"count":100}"#);
}

#[test]
fn turns_waiting_on_http_hold_no_connection_and_other_users_run_meanwhile() {
    let Some(schema) = Schema::new("parallel") else {
        return;
    };
    let dir = TempDir::new("pg-parallel");
    let peer = SlowPeer::start();
    let bot = dir.write(
        "bot.scn",
        &format!(
            "on message goto route\nblock route {{\n  if %message% == \"slow\" {{\n    \
             http GET \"http://{}/slow/5000\" {{ on error goto failed }}\n    \
             say \"slow done\"\n  }} else {{\n    say \"fast %message%\"\n  }}\n}}\n\
             block failed {{\n  say \"failed: %error%\"\n}}\n",
            peer.addr()
        ),
    );
    let servers = instances(
        &dir,
        &bot,
        &schema,
        &["--user-rate", "0", "--allow-host", &peer.addr()],
    );
    // More turns wait on the slow peer in each instance than it keeps connections to the
    // database (16): were a waiting turn to hold one, nobody else could get one.
    let slow = 3 * 20;
    let started = Instant::now();
    let waiting: Vec<_> = (0..slow)
        .map(|i| {
            let addr = servers[i % 3].addr();
            std::thread::spawn(move || {
                post(
                    &addr,
                    "/v1/messages",
                    &message(&format!("slow{i}"), "slow", None),
                )
            })
        })
        .collect();
    peer.wait_for_requests(slow);
    let others = Instant::now();
    for (status, body) in post_at_once(&servers, 200, |i| {
        message(&format!("o{i}"), &format!("m{i}"), None)
    }) {
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("fast m"), "{body}");
    }
    let took = others.elapsed();
    let meanwhile = started.elapsed();
    assert!(
        meanwhile < Duration::from_millis(4500),
        "200 users' turns took {took:?} (done {meanwhile:?} after the slow ones began): they \
         waited for turns that wait on HTTP"
    );
    for t in waiting {
        let (status, body) = t.join().expect("a slow client");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("slow done"), "{body}");
    }
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "the slow calls did wait"
    );
}

#[test]
fn a_thousand_timers_due_together_on_three_instances_fire_once_each() {
    let Some(schema) = Schema::new("timers") else {
        return;
    };
    let dir = TempDir::new("pg-timers");
    let bot = dir.write(
        "bot.scn",
        "user %fired% = 0\non message goto set\nblock set {\n  schedule 2s goto later\n}\n\
         block later {\n  set %fired% += 1\n  say \"fired %fired%\"\n}\n",
    );
    let servers = instances(&dir, &bot, &schema, &[]);
    let users = 1000;
    let started = Instant::now();
    // 1,000 users at once, 100 at a time per burst, each setting a timer 2 s ahead: they come
    // due within the same second or so.
    for burst in 0..10 {
        for (status, body) in post_at_once(&servers, 100, |i| {
            message(&format!("t{}", burst * 100 + i), "go", None)
        }) {
            assert_eq!(status, 200, "{body}");
        }
    }
    let sent = started.elapsed();
    assert!(
        sent < Duration::from_secs(2),
        "the messages took {sent:?}: not due together"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut fired = 0;
    while Instant::now() < deadline {
        fired = count(&schema, "SELECT count(*) FROM outbox");
        if fired >= users {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = started.elapsed();
    assert_eq!(fired, users, "timers fired after {took:?}");
    // Time for a second firing, were there to be one.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count(&schema, "SELECT count(*) FROM outbox"), users);
    assert_eq!(
        count(&schema, "SELECT count(*) FROM timers"),
        0,
        "every timer is gone"
    );
    assert_eq!(
        count(
            &schema,
            "SELECT count(*) FROM sessions WHERE session LIKE '%\"fired\":1%'"
        ),
        users,
        "each user's timer fired once"
    );
    assert_eq!(
        count(
            &schema,
            "SELECT count(*) FROM (SELECT user_id FROM outbox GROUP BY user_id \
             HAVING count(*) <> 1 OR max(seq) <> 1) AS wrong"
        ),
        0,
        "one entry per user, seq 1"
    );
    // A sample read through the API on another instance than the one that was asked.
    for i in (0..users as usize).step_by(97) {
        let entries = servers[(i + 1) % 3]
            .get(&format!("/v1/users/t{i}/events"))
            .json();
        let entries = entries["entries"].as_array().cloned().unwrap_or_default();
        assert_eq!(entries.len(), 1, "user t{i}: {entries:?}");
        assert!(entries[0].to_string().contains("fired 1"), "{entries:?}");
    }
    // Fired within a second or so of coming due (2 s after each message).
    assert!(
        took < Duration::from_secs(8),
        "1,000 timers took {took:?} to fire"
    );
}

// ---------------------------------------------------------------------------------------------
// kill -9 under load.
// ---------------------------------------------------------------------------------------------

/// Counts a user's messages; each message also sets a timer whose turn goes to the outbox.
const COUNT_AND_REMIND: &str = "user %count% = 0\non message goto c\nblock c {\n  \
    set %count% += 1\n  say \"%count%\"\n  schedule 1s goto later\n}\n\
    block later {\n  say \"later %count%\"\n}\n";

/// What one client did: its user's messages answered (in order), when each was answered, the
/// failed attempts, and anything unexpected.
struct Client {
    user: String,
    answered: usize,
    answered_at: Vec<Instant>,
    retries: usize,
    slowest: Duration,
    problems: Vec<String>,
}

/// Sends the body until an instance answers `200` (the same body, so the same `message_id`,
/// each time; the next instance after a failure): the answer, or why not.
fn send_until_answered(
    addrs: &[String],
    first: usize,
    body: &str,
    retries: &mut usize,
) -> Result<Response, String> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut attempt = first;
    loop {
        let addr = &addrs[attempt % addrs.len()];
        match try_http(addr, "POST", "/v1/messages", &[], body.as_bytes()) {
            Ok(r) if r.status == 200 => return Ok(r),
            Ok(r) if r.status >= 500 => std::thread::sleep(Duration::from_millis(50)),
            Ok(r) => return Err(format!("{body} on {addr}: {r:?}")),
            // Refused (the instance is down), reset or closed (it died while answering).
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
        if Instant::now() > deadline {
            return Err(format!("{body}: no instance answered 200 within 60 s"));
        }
        *retries += 1;
        attempt += 1;
    }
}

/// Sends the user's messages one at a time, numbered from 1, each until answered, while `stop`
/// is not set (the message in flight when it is set is answered first).
fn run_client(user: String, addrs: Vec<String>, first: usize, stop: Arc<AtomicBool>) -> Client {
    let mut client = Client {
        user,
        answered: 0,
        answered_at: Vec::new(),
        retries: 0,
        slowest: Duration::ZERO,
        problems: Vec::new(),
    };
    while !stop.load(Ordering::SeqCst) {
        let n = client.answered + 1;
        let id = format!("{}-{n}", client.user);
        let body = message(&client.user, &format!("m{n}"), Some(&id));
        let sent = Instant::now();
        let first = first + client.answered;
        let answer = match send_until_answered(&addrs, first, &body, &mut client.retries) {
            Ok(r) => r,
            Err(e) => {
                client.problems.push(e);
                return client;
            }
        };
        client.slowest = client.slowest.max(sent.elapsed());
        client.answered = n;
        client.answered_at.push(Instant::now());
        let count = serde_json::from_str::<serde_json::Value>(&answer.body)
            .ok()
            .and_then(|v| said(&v["events"]).first().cloned());
        if count.as_deref() != Some(n.to_string().as_str()) {
            client.problems.push(format!(
                "message {n} of {} was answered {:?}, not {n}",
                client.user, answer.body
            ));
        }
    }
    client
}

/// The outbox seqs of a user, from `GET /v1/users/{id}/events`; `None` if it did not answer.
fn outbox_seqs(addr: &str, user: &str) -> Option<Vec<i64>> {
    let mut seqs = Vec::new();
    loop {
        let after = seqs.last().copied().unwrap_or(0);
        let path = format!("/v1/users/{user}/events?after={after}");
        let r = try_http(addr, "GET", &path, &[], b"").ok()?;
        if r.status != 200 {
            return None;
        }
        let page: Vec<i64> = r.json()["entries"]
            .as_array()?
            .iter()
            .filter_map(|e| e["seq"].as_i64())
            .collect();
        if page.is_empty() {
            return Some(seqs);
        }
        seqs.extend(page);
    }
}

/// The `%count%` of a user's session; `None` if it did not answer.
fn session_count(addr: &str, user: &str) -> Option<i64> {
    let r = try_http(addr, "GET", &format!("/v1/sessions/{user}"), &[], b"").ok()?;
    (r.status == 200).then(|| r.json()["user"]["count"].as_i64())?
}

#[test]
fn kill_minus_9_under_load_loses_and_duplicates_nothing() {
    let Some(schema) = Schema::new("chaos") else {
        return;
    };
    let dir = TempDir::new("pg-chaos");
    let bot = dir.write("bot.scn", COUNT_AND_REMIND);
    let receiver = Receiver::start();
    let args = [
        "--user-rate".to_string(),
        "0".into(),
        "--deliver-url".into(),
        receiver.url(),
    ];
    let arg_refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let servers = instances(&dir, &bot, &schema, &arg_refs);
    let addrs: Vec<String> = servers.iter().map(Server::addr).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();

    // From 2 s on, every 3 s, one instance (each in turn) is killed with SIGKILL and started
    // again on its port.
    let killer = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut servers = servers;
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let mut kills = 0;
            let mut next = Instant::now() + Duration::from_secs(2);
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
                if Instant::now() < next {
                    continue;
                }
                let server = &mut servers[kills % 3];
                server.kill_hard();
                kills += 1;
                server.restart_on_its_port(&args, Duration::from_secs(20));
                next = Instant::now() + Duration::from_secs(3);
            }
            (servers, kills)
        })
    };

    let users = 40;
    let clients: Vec<_> = (0..users)
        .map(|i| {
            let (addrs, stop) = (addrs.clone(), stop.clone());
            std::thread::spawn(move || run_client(format!("chaos{i}"), addrs, i, stop))
        })
        .collect();
    std::thread::sleep(Duration::from_secs(13));
    stop.store(true, Ordering::SeqCst);
    let (servers, kills) = killer.join().expect("the killer");
    let clients: Vec<Client> = clients
        .into_iter()
        .map(|c| c.join().expect("a client"))
        .collect();
    let load_ended = started.elapsed();

    // The timers of the last messages fire, and the outbox drains (a user claimed by an
    // instance killed in its turn waits up to 10 s first).
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut state: Vec<(Option<i64>, Option<Vec<i64>>)>;
    loop {
        let received: HashSet<(String, i64)> = receiver
            .received()
            .into_iter()
            .map(|d| (d.user_id, d.seq))
            .collect();
        state = clients
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let addr = &servers[i % 3].addr();
                (session_count(addr, &c.user), outbox_seqs(addr, &c.user))
            })
            .collect();
        let done = clients.iter().zip(&state).all(|(c, (count, seqs))| {
            let n = c.answered as i64;
            *count == Some(n)
                && seqs.as_ref().is_some_and(|s| s.len() as i64 == n)
                && (1..=n).all(|seq| received.contains(&(c.user.clone(), seq)))
        });
        if done || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    let drained = started.elapsed();

    let received = receiver.received();
    let mut by_user: HashMap<&str, Vec<&common::serve::Delivery>> = HashMap::new();
    for d in &received {
        by_user.entry(d.user_id.as_str()).or_default().push(d);
    }
    let mut failures = Vec::new();
    let (mut lost, mut duplicated, mut duplicates_delivered, mut max_lag) =
        (0i64, 0i64, 0usize, Duration::ZERO);
    for (c, (count, seqs)) in clients.iter().zip(&state) {
        failures.extend(c.problems.iter().cloned());
        let n = c.answered as i64;
        match count {
            Some(count) if *count == n => {}
            Some(count) => {
                lost += (n - count).max(0);
                duplicated += (count - n).max(0);
                failures.push(format!(
                    "{}: %count% is {count}, but {n} messages were answered",
                    c.user
                ));
            }
            None => failures.push(format!("{}: the session cannot be read", c.user)),
        }
        let want: Vec<i64> = (1..=n).collect();
        if seqs.as_ref() != Some(&want) {
            failures.push(format!(
                "{}: the outbox has seqs {seqs:?}, not 1..={n} (one timer per message, each \
                 fired once)",
                c.user
            ));
        }
        // First arrivals in seq order, each seq once; later arrivals are repeats.
        let mut highest = 0;
        for d in by_user.get(c.user.as_str()).into_iter().flatten() {
            if d.seq <= highest {
                duplicates_delivered += 1;
            } else if d.seq == highest + 1 {
                highest = d.seq;
                if let Some(at) = c.answered_at.get(d.seq as usize - 1) {
                    let lag =
                        d.at.saturating_duration_since(*at)
                            .saturating_sub(Duration::from_secs(1));
                    max_lag = max_lag.max(lag);
                }
            } else {
                failures.push(format!(
                    "{}: seq {} was delivered first after seq {highest}",
                    c.user, d.seq
                ));
                highest = highest.max(d.seq);
            }
        }
        if highest < n {
            failures.push(format!("{}: delivered up to seq {highest} of {n}", c.user));
        }
    }
    // The longest time no timer's entry arrived for the first time, while the load ran.
    let mut firsts: Vec<Instant> = {
        let mut seen = HashSet::new();
        received
            .iter()
            .filter(|d| seen.insert((d.user_id.as_str(), d.seq)))
            .map(|d| d.at)
            .filter(|at| *at < started + Duration::from_secs(13))
            .collect()
    };
    firsts.sort_unstable();
    let longest_pause = firsts
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    let messages: usize = clients.iter().map(|c| c.answered).sum();
    let retries: usize = clients.iter().map(|c| c.retries).sum();
    let slowest = clients.iter().map(|c| c.slowest).max().unwrap_or_default();
    eprintln!(
        "chaos: {users} users, {messages} messages answered, {kills} kills, {retries} retries, \
         {} deliveries, {duplicates_delivered} duplicates delivered; turns lost {lost}, \
         duplicated {duplicated}; slowest message {slowest:.1?}; latest timer entry {max_lag:.1?} \
         late, longest pause in timer entries {longest_pause:.1?}; load ended at \
         {load_ended:.1?}, drained at {drained:.1?}",
        received.len()
    );
    assert!(messages > 0, "no message was answered");
    assert!(kills >= 3, "only {kills} kills");
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures
            .iter()
            .take(30)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL down.
// ---------------------------------------------------------------------------------------------

/// The first thing the bot said in an answer.
fn first_said(r: &Response) -> String {
    said(&r.json()["events"])
        .first()
        .cloned()
        .unwrap_or_else(|| panic!("a message in {r:?}"))
}

#[test]
fn the_server_answers_503_while_postgres_is_down_and_recovers() {
    let Some(schema) = Schema::new("outage") else {
        return;
    };
    let dir = TempDir::new("pg-outage");
    let bot = dir.write(
        "bot.scn",
        "user %count% = 0\non message goto c\nblock c {\n  set %count% += 1\n  say \"%count%\"\n}\n",
    );
    let relay = Relay::start(&schema.upstream());
    let mut server = Server::start_with(
        &dir,
        &bot,
        &schema.url_through(&relay.addr()),
        &[],
        &["--user-rate", "0"],
    );
    let r = server.post("/v1/messages", &message("u", "one", Some("m1")));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(first_said(&r), "1");
    assert!(relay.connections() > 0, "the server goes through the relay");

    relay.cut();
    let cut_at = Instant::now();
    let mut slowest = Duration::ZERO;
    for (user, id) in [
        ("u", Some("m2")),
        ("u", Some("m2")),
        ("v", None),
        ("u", Some("m2")),
    ] {
        let sent = Instant::now();
        let r = server.post("/v1/messages", &message(user, "two", id));
        slowest = slowest.max(sent.elapsed());
        assert_eq!(r.status, 503, "{r:?}");
        let code = r.json()["error"]["code"].clone();
        assert!(code == "store_unavailable" || code == "busy", "{r:?}");
        assert!(r.header("retry-after").is_some(), "{r:?}");
    }
    assert_error(&server.get("/readyz"), 503, "store_unavailable");
    assert_eq!(server.get("/healthz").status, 200);
    std::thread::sleep(Duration::from_secs(1));
    assert!(server.running(), "the server exited:\n{}", server.log());
    assert_error(&server.get("/readyz"), 503, "store_unavailable");
    let outage = cut_at.elapsed();

    relay.restore();
    let restored_at = Instant::now();
    // Sends until answered 200 within `within` of the restore, each refusal a 503.
    let until_answered = |user: &str, id: &str, within: Duration| loop {
        let r = server.post("/v1/messages", &message(user, "two", Some(id)));
        if r.status == 200 {
            break r;
        }
        assert_eq!(r.status, 503, "{r:?}");
        assert!(
            restored_at.elapsed() < within,
            "still {r:?} {within:?} after PostgreSQL came back:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    // The server reconnects by itself: a user of its own is answered at once.
    let r = until_answered("w", "w1", Duration::from_secs(5));
    assert_eq!(first_said(&r), "1");
    let reconnected = restored_at.elapsed();
    // The claim of u's turn just before the cut may not have been given up (its release
    // went to a database that was gone): then u waits for its lease to end, 10 s at most.
    let r = until_answered("u", "m2", Duration::from_secs(15));
    let recovery = restored_at.elapsed();
    assert_eq!(first_said(&r), "2", "the turn before the cut is kept");
    let again = server.post("/v1/messages", &message("u", "two again", Some("m2")));
    assert_eq!((again.status, &again.body), (200, &r.body), "m2 ran once");
    let r = server.post("/v1/messages", &message("u", "three", Some("m3")));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(first_said(&r), "3");
    assert_eq!(server.get("/v1/sessions/u").json()["user"]["count"], 3);
    assert_eq!(server.get("/readyz").status, 200);
    assert!(server.running());
    eprintln!(
        "outage: 503s within {slowest:.1?} each during {outage:.1?} down; after PostgreSQL came \
         back, 200 for a new user in {reconnected:.1?}, for the user of the last turn before the \
         cut in {recovery:.1?}"
    );
}
