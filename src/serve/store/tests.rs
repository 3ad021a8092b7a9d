//! One suite, every backend: each test runs against `memory:`, a fresh SQLite file and a fresh
//! schema of the PostgreSQL database `SCENARIST_TEST_POSTGRES` names (skipped, loudly, without).

use super::*;

fn sqlite() -> (Sqlite, std::path::PathBuf) {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "scenarist-store-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join("store.db");
    (Sqlite::open(&path).expect("the store opens"), path)
}

/// A schema of its own in the test database, dropped when done (also after a failure).
struct PgSchema {
    /// `SCENARIST_TEST_POSTGRES`.
    base: String,
    name: String,
    /// `base` with the schema as its `search_path` and as the connections' application name.
    url: String,
}

/// A fresh schema, or `None` (said on stderr) without `SCENARIST_TEST_POSTGRES`.
async fn postgres() -> Option<PgSchema> {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    static SWEPT: AtomicBool = AtomicBool::new(false);
    let Ok(base) = std::env::var("SCENARIST_TEST_POSTGRES") else {
        // Straight to stderr, past the test harness's capture: a skip must not look like a pass.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: SCENARIST_TEST_POSTGRES is not set; the PostgreSQL store was NOT tested"
        );
        return None;
    };
    if !SWEPT.swap(true, Ordering::Relaxed) {
        sweep_schemas(&base).await;
    }
    let name = format!(
        "scn_test_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    pg_admin(
        &base,
        &format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"),
    )
    .await;
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-csearch_path%3D{name}&application_name={name}");
    Some(PgSchema { base, name, url })
}

/// Drops the schemas of test runs whose process is gone (killed before it dropped them).
async fn sweep_schemas(base: &str) {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let client = pg_connect(base).await;
    let rows = client
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'scn\\_test\\_%'",
            &[],
        )
        .await
        .expect("the test schemas");
    for row in rows {
        let name: String = row.get(0);
        let pid = name.split('_').nth(2).unwrap_or_default();
        if !pid.is_empty() && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = client
                .batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
                .await;
        }
    }
}

async fn pg_connect(url: &str) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .expect("PostgreSQL at SCENARIST_TEST_POSTGRES answers");
    tokio::spawn(connection);
    client
}

/// Runs SQL on a connection of its own.
async fn pg_admin(url: &str, sql: &str) {
    pg_connect(url)
        .await
        .batch_execute(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e:?}"));
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        // On a runtime of its own: this runs at the end of a test, or while it unwinds.
        let base = self.base.clone();
        let sql = format!(
            "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {} CASCADE",
            self.name
        );
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map(|rt| rt.block_on(pg_admin(&base, &sql)))
        })
        .join();
    }
}

/// Runs `check` against each backend.
macro_rules! each_store {
    ($name:ident, $check:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn memory() {
                let store = Memory::default();
                $check(&store as &dyn Store).await;
            }

            #[tokio::test]
            async fn sqlite() {
                let (store, _path) = super::sqlite();
                $check(&store as &dyn Store).await;
            }

            #[tokio::test]
            async fn postgres() {
                let Some(schema) = super::postgres().await else {
                    return;
                };
                let store = Postgres::connect(&schema.url)
                    .await
                    .unwrap_or_else(|e| panic!("the store opens: {e}"));
                $check(&store as &dyn Store).await;
            }
        }
    };
}

fn commit(user: &str, session: &str) -> Commit {
    Commit {
        user_id: user.into(),
        session: session.into(),
        now_ms: 1_000,
        ..Commit::default()
    }
}

async fn sessions_round_trip(store: &dyn Store) {
    assert_eq!(store.load("a").await.expect("load"), None);
    store
        .commit(commit("a", "{\"v\":1}"))
        .await
        .expect("commit");
    store
        .commit(commit("a", "{\"v\":2}"))
        .await
        .expect("commit");
    assert_eq!(
        store.load("a").await.expect("load").as_deref(),
        Some("{\"v\":2}")
    );
    assert_eq!(store.load("b").await.expect("load"), None);
    assert_eq!(store.stats().await.expect("stats").sessions, 1);
    assert!(store.delete_user("a").await.expect("delete"));
    assert!(!store.delete_user("a").await.expect("delete"));
    assert_eq!(store.load("a").await.expect("load"), None);
}
each_store!(sessions, sessions_round_trip);

async fn processed_ids_are_kept_once(store: &dyn Store) {
    let mut c = commit("a", "{}");
    c.processed = Some(("m:1".into(), "first".into()));
    store.commit(c.clone()).await.expect("commit");
    assert_eq!(
        store.processed("a", "m:1").await.expect("read").as_deref(),
        Some("first")
    );
    // Per user: another user's id 1 is another message.
    assert_eq!(store.processed("b", "m:1").await.expect("read"), None);
    // A second commit with the same id fails whole: the session is not changed by it.
    c.session = "{\"changed\":true}".into();
    assert!(matches!(store.commit(c).await, Err(StoreError::Fatal(_))));
    assert_eq!(store.load("a").await.expect("load").as_deref(), Some("{}"));
}
each_store!(processed, processed_ids_are_kept_once);

async fn globals_are_one_value(store: &dyn Store) {
    assert_eq!(store.globals().await.expect("globals"), None);
    let mut c = commit("a", "{}");
    c.globals = Some("{\"vars\":{\"n\":1}}".into());
    store.commit(c).await.expect("commit");
    // A commit without globals leaves them.
    store.commit(commit("b", "{}")).await.expect("commit");
    assert_eq!(
        store.globals().await.expect("globals").as_deref(),
        Some("{\"vars\":{\"n\":1}}")
    );
}
each_store!(globals, globals_are_one_value);

async fn due_timers_come_in_order(store: &dyn Store) {
    let timer = |due_ms| TimerRow {
        due_ms,
        seq: 1,
        name: None,
        scenario: "bot".into(),
        block: "later".into(),
    };
    for (user, due) in [("late", 3_000), ("early", 1_000), ("mid", 2_000)] {
        let mut c = commit(user, "{}");
        c.next_due = Some(due);
        c.timers = Some(vec![timer(due)]);
        store.commit(c).await.expect("commit");
    }
    store.commit(commit("none", "{}")).await.expect("commit");
    assert_eq!(store.next_due().await.expect("next"), Some(1_000));
    assert_eq!(store.due(2_000, 10).await.expect("due"), ["early", "mid"]);
    assert_eq!(store.due(5_000, 1).await.expect("due"), ["early"]);
    assert_eq!(store.stats().await.expect("stats").timers, 3);
    // Fired: the session is saved without the timer.
    let mut c = commit("early", "{}");
    c.timers = Some(Vec::new());
    store.commit(c).await.expect("commit");
    assert_eq!(store.due(2_000, 10).await.expect("due"), ["mid"]);
    assert_eq!(store.stats().await.expect("stats").timers, 2);
    assert!(store.delete_user("mid").await.expect("delete"));
    assert_eq!(store.due(10_000, 10).await.expect("due"), ["late"]);
}
each_store!(timers, due_timers_come_in_order);

async fn the_outbox_numbers_and_delivers_in_order(store: &dyn Store) {
    for (user, events) in [("a", "[1]"), ("b", "[2]"), ("a", "[3]")] {
        let mut c = commit(user, "{}");
        c.outbox = Some(events.into());
        store.commit(c).await.expect("commit");
    }
    let a = store.outbox_after("a", 0, 10).await.expect("outbox");
    assert_eq!(
        a.iter()
            .map(|e| (e.seq, e.events.as_str()))
            .collect::<Vec<_>>(),
        [(1, "[1]"), (2, "[3]")]
    );
    assert_eq!(
        store.outbox_after("a", 1, 10).await.expect("outbox").len(),
        1
    );
    // The oldest undelivered entry of each user.
    let pending = store.undelivered(10).await.expect("undelivered");
    let mut heads: Vec<_> = pending
        .iter()
        .map(|e| (e.user_id.as_str(), e.seq))
        .collect();
    heads.sort();
    assert_eq!(heads, [("a", 1), ("b", 1)]);
    assert_eq!(store.stats().await.expect("stats").backlog, 3);
    store.delivered("a", 1, 2_000).await.expect("delivered");
    let pending = store.undelivered(10).await.expect("undelivered");
    assert!(pending.iter().any(|e| e.user_id == "a" && e.seq == 2));
    assert_eq!(store.stats().await.expect("stats").backlog, 2);
    // Pruning takes delivered entries only (unless nothing delivers): seqs are never reused.
    assert_eq!(store.prune(1_001, false).await.expect("prune"), 1);
    let mut c = commit("a", "{}");
    c.outbox = Some("[4]".into());
    assert_eq!(store.commit(c).await.expect("commit"), Some(3));
    assert!(store.prune(1_001, true).await.expect("prune") >= 2);
    assert_eq!(
        store.outbox_after("b", 0, 10).await.expect("outbox").len(),
        0
    );
}
each_store!(outbox, the_outbox_numbers_and_delivers_in_order);

async fn deleting_a_user_forgets_everything(store: &dyn Store) {
    let mut c = commit("a", "{}");
    c.processed = Some(("m:1".into(), "r".into()));
    c.outbox = Some("[1]".into());
    c.next_due = Some(5);
    store.commit(c).await.expect("commit");
    assert!(store.delete_user("a").await.expect("delete"));
    assert_eq!(store.processed("a", "m:1").await.expect("read"), None);
    assert!(store
        .outbox_after("a", 0, 10)
        .await
        .expect("outbox")
        .is_empty());
    assert!(store.due(10, 10).await.expect("due").is_empty());
    assert!(store.undelivered(10).await.expect("undelivered").is_empty());
}
each_store!(delete, deleting_a_user_forgets_everything);

async fn many_concurrent_commits_all_land(store: &dyn Store) {
    let commits = (0..200).map(|i| {
        let mut c = commit(&format!("u{i}"), "{}");
        c.outbox = Some("[]".into());
        c.processed = Some((format!("m:{i}"), "r".into()));
        store.commit(c)
    });
    for result in futures_util::future::join_all(commits).await {
        assert_eq!(result.expect("commit"), Some(1));
    }
    assert_eq!(store.stats().await.expect("stats").sessions, 200);
}
each_store!(concurrent, many_concurrent_commits_all_land);

async fn texts_come_back_byte_for_byte(store: &dyn Store) {
    // Not normalised as JSON: spacing, key order, escapes, numbers and non-ASCII text kept.
    let session = "{ \"b\" : 1.50e0,\n\t\"a\":\"\\u00e9 é \\u0000 😀\" }";
    let response = "{\"events\":[ ],  \"state\":\"idle\",\"x\":\"\\\"\\n\"}";
    let globals = "{\"vars\":{\"n\":1.000,\"z\":null,\"a\":[]}}";
    let events = "[ {\"type\":\"say\",\"text\":\"ü\"} ]";
    let mut c = commit("ü😀 user", session);
    c.processed = Some(("mé:1".into(), response.into()));
    c.globals = Some(globals.into());
    c.outbox = Some(events.into());
    store.commit(c).await.expect("commit");
    assert_eq!(
        store.load("ü😀 user").await.expect("load").as_deref(),
        Some(session)
    );
    assert_eq!(
        store
            .processed("ü😀 user", "mé:1")
            .await
            .expect("read")
            .as_deref(),
        Some(response)
    );
    assert_eq!(
        store.globals().await.expect("globals").as_deref(),
        Some(globals)
    );
    let outbox = store.outbox_after("ü😀 user", 0, 10).await.expect("outbox");
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].events, events);
    assert_eq!(outbox[0].user_id, "ü😀 user");
}
each_store!(texts, texts_come_back_byte_for_byte);

async fn ties_are_ordered_by_user_byte_by_byte(store: &dyn Store) {
    // Upper case before lower case, ASCII before the rest: as the bytes, not a locale, sort.
    for user in ["b", "é", "B", "a", "Z"] {
        let mut c = commit(user, "{}");
        c.outbox = Some("[]".into());
        c.next_due = Some(7);
        store.commit(c).await.expect("commit");
    }
    let pending = store.undelivered(10).await.expect("undelivered");
    let users: Vec<_> = pending.iter().map(|e| e.user_id.as_str()).collect();
    assert_eq!(users, ["B", "Z", "a", "b", "é"]);
    assert_eq!(
        store.due(7, 10).await.expect("due"),
        ["B", "Z", "a", "b", "é"]
    );
}
each_store!(ties, ties_are_ordered_by_user_byte_by_byte);

async fn a_turn_begins_with_the_answer_or_the_session(store: &dyn Store) {
    let mut answered = commit("a", "{\"s\":1}");
    answered.processed = Some(("m:1".into(), "the first answer".into()));
    store.commit(answered).await.expect("commit");
    let claim = store.shared().then_some(("me", 1_000, 11_000));
    let repeat = store
        .begin_turn("a", Some("m:1"), claim)
        .await
        .expect("begin");
    assert_eq!(
        repeat,
        Begin {
            claimed: true,
            processed: Some("the first answer".into()),
            session: None,
        }
    );
    let release = |key: &str| ClaimToken {
        key: key.into(),
        owner: "me".into(),
        release: true,
    };
    if store.shared() {
        let mut done = commit("a", "{\"s\":1}");
        done.claims = vec![release("a")];
        store.commit(done).await.expect("gives the claim up");
    }
    let claim = store.shared().then_some(("me", 1_000, 11_000));
    let fresh = store
        .begin_turn("a", Some("m:2"), claim)
        .await
        .expect("begin");
    assert_eq!(fresh.processed, None);
    assert_eq!(fresh.session.as_deref(), Some("{\"s\":1}"));
    let new = store.begin_turn("nobody", None, None).await.expect("begin");
    assert_eq!(
        new,
        Begin {
            claimed: true,
            processed: None,
            session: None
        }
    );
}
each_store!(begin, a_turn_begins_with_the_answer_or_the_session);

/// Claims in a shared store: held by one owner at a time, checked by the commit, given up
/// by it; a commit under a claim that is not its owner's changes nothing.
#[tokio::test]
async fn postgres_commits_check_and_give_up_their_claims() {
    let Some(schema) = postgres().await else {
        return;
    };
    let store = Postgres::connect(&schema.url)
        .await
        .expect("the store opens");
    let token = |owner: &str, release: bool| ClaimToken {
        key: "u".into(),
        owner: owner.into(),
        release,
    };
    let mine = store
        .begin_turn("u", None, Some(("A", 1_000, 11_000)))
        .await
        .expect("begin");
    assert!(mine.claimed);
    let theirs = store
        .begin_turn("u", None, Some(("B", 2_000, 12_000)))
        .await
        .expect("begin");
    assert_eq!(theirs, Begin::default(), "B waits while A holds the user");

    let mut stolen = commit("u", "{\"by\":\"B\"}");
    stolen.claims = vec![token("B", true)];
    match store.commit(stolen).await {
        Err(StoreError::Unavailable(m)) => assert!(m.contains("claim"), "{m}"),
        other => panic!("a commit under another owner's claim: {other:?}"),
    }
    assert_eq!(
        store.load("u").await.expect("load"),
        None,
        "nothing committed"
    );

    let mut kept = commit("u", "{\"by\":\"A\"}");
    kept.claims = vec![token("A", false)];
    store
        .commit(kept)
        .await
        .expect("A commits and keeps the claim");
    let still = store
        .begin_turn("u", None, Some(("B", 3_000, 13_000)))
        .await
        .expect("begin");
    assert!(!still.claimed, "A still holds the user");

    let mut last = commit("u", "{\"by\":\"A2\"}");
    last.claims = vec![token("A", true)];
    store
        .commit(last)
        .await
        .expect("A commits and gives the claim up");
    let next = store
        .begin_turn("u", None, Some(("B", 4_000, 14_000)))
        .await
        .expect("begin");
    assert!(next.claimed, "B takes the user once A gave it up");
    assert_eq!(next.session.as_deref(), Some("{\"by\":\"A2\"}"));

    // An expired claim is anybody's: C takes it after B's lease ran out, and B's commit fails.
    let late = store
        .begin_turn("u", None, Some(("C", 20_000, 30_000)))
        .await
        .expect("begin");
    assert!(late.claimed);
    let mut expired = commit("u", "{\"by\":\"B\"}");
    expired.claims = vec![token("B", true)];
    assert!(matches!(
        store.commit(expired).await,
        Err(StoreError::Unavailable(_))
    ));
    assert_eq!(
        store.load("u").await.expect("load").as_deref(),
        Some("{\"by\":\"A2\"}")
    );
}

#[tokio::test]
async fn sqlite_survives_reopening_and_is_one_process_at_a_time() {
    let (store, path) = sqlite();
    store
        .commit(commit("a", "{\"kept\":1}"))
        .await
        .expect("commit");
    let mut answered = commit("b", "{}");
    answered.processed = Some(("m:1".into(), "the answer".into()));
    store.commit(answered).await.expect("commit");
    let second = Sqlite::open(&path);
    assert!(
        matches!(&second, Err(StoreError::Fatal(m)) if m.contains("in use")),
        "a second open of the file is refused"
    );
    drop(store);
    let store = Sqlite::open(&path).expect("reopens");
    assert_eq!(
        store.load("a").await.expect("load").as_deref(),
        Some("{\"kept\":1}")
    );
    // The users the file holds are known again: their reads are not skipped.
    assert_eq!(
        store
            .processed("b", "m:1")
            .await
            .expect("processed")
            .as_deref(),
        Some("the answer")
    );
    assert_eq!(store.load("c").await.expect("load"), None);
}

#[tokio::test]
async fn sqlite_refuses_a_newer_schema() {
    let (store, path) = sqlite();
    drop(store);
    let conn = rusqlite::Connection::open(&path).expect("open");
    conn.execute("UPDATE scenarist_schema SET version = 99", [])
        .expect("update");
    drop(conn);
    match Sqlite::open(&path) {
        Err(StoreError::Fatal(m)) => assert!(m.contains("newer scenarist"), "{m}"),
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

#[tokio::test]
async fn postgres_survives_reopening() {
    let Some(schema) = postgres().await else {
        return;
    };
    let store = Postgres::connect(&schema.url).await.expect("opens");
    store
        .commit(commit("a", "{\"kept\":1}"))
        .await
        .expect("commit");
    drop(store);
    let store = Postgres::connect(&schema.url).await.expect("reopens");
    assert_eq!(
        store.load("a").await.expect("load").as_deref(),
        Some("{\"kept\":1}")
    );
}

#[tokio::test]
async fn postgres_refuses_a_newer_schema() {
    let Some(schema) = postgres().await else {
        return;
    };
    drop(Postgres::connect(&schema.url).await.expect("opens"));
    pg_admin(
        &schema.base,
        &format!("UPDATE {}.scenarist_schema SET version = 99", schema.name),
    )
    .await;
    match Postgres::connect(&schema.url).await {
        Err(StoreError::Fatal(m)) => assert!(m.contains("newer scenarist"), "{m}"),
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("a newer schema was accepted"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_instances_starting_at_once_migrate_once() {
    let Some(schema) = postgres().await else {
        return;
    };
    let opens = (0..4).map(|_| Postgres::connect(&schema.url));
    let stores: Vec<Postgres> = futures_util::future::join_all(opens)
        .await
        .into_iter()
        .map(|s| s.unwrap_or_else(|e| panic!("every instance opens: {e}")))
        .collect();
    for (i, store) in stores.iter().enumerate() {
        let mut c = commit(&format!("u{i}"), "{}");
        c.outbox = Some("[]".into());
        store.commit(c).await.expect("commit");
    }
    for store in &stores {
        assert_eq!(store.stats().await.expect("stats").sessions, 4);
    }
    let client = pg_connect(&schema.base).await;
    let version: i32 = client
        .query_one(
            &format!("SELECT version FROM {}.scenarist_schema", schema.name),
            &[],
        )
        .await
        .expect("the version")
        .get(0);
    assert_eq!(version as usize, super::postgres::MIGRATIONS.len());
}

#[tokio::test]
async fn postgres_reconnects_after_losing_its_connections() {
    let Some(schema) = postgres().await else {
        return;
    };
    let store = Postgres::connect(&schema.url).await.expect("opens");
    store.commit(commit("a", "{}")).await.expect("commit");
    // As a restart of the server does: every connection of the store is cut.
    pg_admin(
        &schema.base,
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = '{}'",
            schema.name
        ),
    )
    .await;
    let mut tries = 0;
    loop {
        match store.load("a").await {
            Ok(session) => {
                assert_eq!(session.as_deref(), Some("{}"));
                break;
            }
            Err(StoreError::Unavailable(_)) if tries < 50 => {
                tries += 1;
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the store did not come back: {e}"),
        }
    }
    let mut c = commit("a", "{\"after\":1}");
    c.outbox = Some("[]".into());
    assert_eq!(store.commit(c).await.expect("commit"), Some(1));
}

/// A TCP relay to the test server that can go down and come back on the same port: a
/// PostgreSQL that stops and restarts, as the store sees it.
struct Relay {
    port: u16,
    upstream: std::net::SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Relay {
    async fn start(upstream: std::net::SocketAddr) -> Relay {
        let mut relay = Relay {
            port: 0,
            upstream,
            task: None,
        };
        relay.up().await;
        relay
    }

    async fn up(&mut self) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the relay listens");
        self.port = listener.local_addr().expect("its address").port();
        let upstream = self.upstream;
        self.task = Some(tokio::spawn(async move {
            // Dropped with the task: every relayed connection is cut when the relay goes down.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut client, _)) = listener.accept().await {
                connections.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        }));
    }

    async fn down(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

#[tokio::test]
async fn postgres_is_unavailable_while_the_server_is_gone_and_recovers() {
    let Some(schema) = postgres().await else {
        return;
    };
    let config: tokio_postgres::Config = schema.base.parse().expect("the test URL");
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".into(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let upstream = tokio::net::lookup_host((host.as_str(), port))
        .await
        .expect("the test server's address")
        .next()
        .expect("an address");
    let mut relay = Relay::start(upstream).await;
    let mut url = format!(
        "host=127.0.0.1 port={} dbname={} options='-csearch_path={}' connect_timeout=2",
        relay.port,
        config.get_dbname().unwrap_or("postgres"),
        schema.name
    );
    if let Some(user) = config.get_user() {
        url.push_str(&format!(" user={user}"));
    }
    if let Some(password) = config.get_password() {
        url.push_str(&format!(
            " password='{}'",
            String::from_utf8_lossy(password)
        ));
    }
    let store = Postgres::connect(&url).await.expect("opens");
    store.commit(commit("a", "{}")).await.expect("commit");

    relay.down().await;
    assert!(matches!(
        store.load("a").await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.commit(commit("b", "{}")).await,
        Err(StoreError::Unavailable(_))
    ));
    assert!(matches!(
        store.ping().await,
        Err(StoreError::Unavailable(_))
    ));

    relay.up().await;
    let mut tries = 0;
    while let Err(e) = store.ping().await {
        assert!(matches!(e, StoreError::Unavailable(_)), "{e}");
        tries += 1;
        assert!(tries < 50, "the store did not come back: {e}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(store.load("a").await.expect("load").as_deref(), Some("{}"));
    assert_eq!(store.load("b").await.expect("load"), None);
    store.commit(commit("b", "{}")).await.expect("commit");
    assert_eq!(store.stats().await.expect("stats").sessions, 2);
}

#[tokio::test]
async fn postgres_refuses_nul_characters_it_cannot_store() {
    let Some(schema) = postgres().await else {
        return;
    };
    let store = Postgres::connect(&schema.url).await.expect("opens");
    assert!(matches!(
        store.commit(commit("a\0b", "{}")).await,
        Err(StoreError::Fatal(_))
    ));
    let mut c = commit("a", "{}");
    c.processed = Some(("m\0".into(), "r".into()));
    assert!(matches!(store.commit(c).await, Err(StoreError::Fatal(_))));
    assert_eq!(store.load("a").await.expect("load"), None);
    assert_eq!(store.load("a\0b").await.expect("load"), None);
    assert_eq!(store.processed("a", "m\0").await.expect("read"), None);
    assert!(!store.delete_user("a\0b").await.expect("delete"));
}

#[tokio::test]
async fn postgres_urls() {
    assert!(open("postgres://x").is_err(), "only inside the runtime");
    assert!(
        open_async("postgres://user@127.0.0.1:1/db?connect_timeout=1")
            .await
            .is_err()
    );
    assert!(open_async("postgresql://[bad").await.is_err());
    assert_eq!(
        open_async("memory:").await.map(|s| s.kind()).ok(),
        Some("memory")
    );
    if let Some(schema) = postgres().await {
        let store = open_async(&schema.url).await.expect("opens");
        assert_eq!(store.kind(), "postgres");
        store.ping().await.expect("ping");
    }
}

#[test]
fn store_urls() {
    assert_eq!(open("memory:").map(|s| s.kind()).ok(), Some("memory"));
    assert!(open("redis://x").is_err());
    assert!(open("sqlite:").is_err());
}

/// Turns without a claim: committed only from the version the store holds, never while a
/// claim of the user is held, a processed id answered with its stored response; several at
/// once in one batch; a turn under a claim makes a new version too.
#[tokio::test]
async fn postgres_commits_without_a_claim_check_the_version() {
    let Some(schema) = postgres().await else {
        return;
    };
    let store = Postgres::connect(&schema.url)
        .await
        .expect("the store opens");
    let with_id = |user: &str, session: &str, id: &str| Commit {
        processed: Some((id.into(), format!("answer {id}"))),
        outbox: Some("[]".into()),
        ..commit(user, session)
    };
    // A new user: from no session.
    assert_eq!(store.snapshot("u"), None, "nothing seen yet");
    let first = store
        .commit_unclaimed(with_id("u", "{\"n\":1}", "m1"), None)
        .await
        .expect("commit");
    assert_eq!(first, Unclaimed::Committed(Some(1)));
    let seen = store
        .snapshot("u")
        .expect("the version just made is remembered");
    assert_eq!(seen.session.as_deref(), Some("{\"n\":1}"));
    // From no session again (another instance that did not see it): stale, with the session.
    match store
        .commit_unclaimed(with_id("u", "{\"n\":9}", "m2"), None)
        .await
        .expect("commit")
    {
        Unclaimed::Stale(now) => assert_eq!(now, seen),
        other => panic!("a commit from an old version: {other:?}"),
    }
    // The same id again, from any version: the stored answer, nothing written.
    for from in [None, seen.version] {
        assert_eq!(
            store
                .commit_unclaimed(with_id("u", "{\"n\":9}", "m1"), from)
                .await
                .expect("commit"),
            Unclaimed::Replayed("answer m1".into())
        );
    }
    assert_eq!(
        store.load("u").await.expect("load").as_deref(),
        Some("{\"n\":1}")
    );
    // A claim held: no commit without one.
    assert!(store.claim("u", "A", 1_000, 11_000).await.expect("claim"));
    assert_eq!(
        store
            .commit_unclaimed(with_id("u", "{\"n\":2}", "m2"), seen.version)
            .await
            .expect("commit"),
        Unclaimed::Claimed
    );
    // The turn under the claim makes a new version: a commit from the old one is stale.
    let mut claimed = commit("u", "{\"n\":2}");
    claimed.claims = vec![ClaimToken {
        key: "u".into(),
        owner: "A".into(),
        release: true,
    }];
    store.commit(claimed).await.expect("commit under the claim");
    match store
        .commit_unclaimed(with_id("u", "{\"n\":3}", "m3"), seen.version)
        .await
        .expect("commit")
    {
        Unclaimed::Stale(now) => {
            assert_eq!(now.session.as_deref(), Some("{\"n\":2}"));
            assert_ne!(now.version, seen.version);
            let third = store
                .commit_unclaimed(with_id("u", "{\"n\":3}", "m3"), now.version)
                .await
                .expect("commit");
            assert_eq!(third, Unclaimed::Committed(Some(2)), "the outbox goes on");
        }
        other => panic!("a commit from before a claimed turn: {other:?}"),
    }
    // Many users at once: each committed once, timers and all.
    let turns = (0..200).map(|i| {
        let store = &store;
        async move {
            let mut c = with_id(&format!("b{i}"), "{}", "m");
            c.next_due = Some(5_000);
            c.timers = Some(vec![TimerRow {
                due_ms: 5_000,
                seq: 1,
                name: Some(format!("t{i}")),
                scenario: "bot".into(),
                block: "later".into(),
            }]);
            store.commit_unclaimed(c, None).await
        }
    });
    for result in futures_util::future::join_all(turns).await {
        assert_eq!(result.expect("commit"), Unclaimed::Committed(Some(1)));
    }
    assert_eq!(store.stats().await.expect("stats").timers, 200);
    assert_eq!(store.due(5_000, 1000).await.expect("due").len(), 200);
    // Two turns of one new user at once (a process runs a user's turns one at a time, a
    // store called directly need not): one commits, the other finds the session it made.
    let (a, b) = tokio::join!(
        store.commit_unclaimed(with_id("twin", "{\"a\":1}", "m1"), None),
        store.commit_unclaimed(with_id("twin", "{\"b\":1}", "m2"), None),
    );
    let results = [a.expect("commit"), b.expect("commit")];
    let committed = |r: &&Unclaimed| matches!(r, Unclaimed::Committed(Some(1)));
    let stale = |r: &&Unclaimed| matches!(r, Unclaimed::Stale(s) if s.version == Some(1));
    assert_eq!(results.iter().filter(committed).count(), 1, "{results:?}");
    assert_eq!(results.iter().filter(stale).count(), 1, "{results:?}");
}
