//! One suite, every backend: each test runs against `memory:` and a fresh SQLite file.

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

#[tokio::test]
async fn sqlite_survives_reopening_and_is_one_process_at_a_time() {
    let (store, path) = sqlite();
    store
        .commit(commit("a", "{\"kept\":1}"))
        .await
        .expect("commit");
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

#[test]
fn store_urls() {
    assert_eq!(open("memory:").map(|s| s.kind()).ok(), Some("memory"));
    assert!(open("redis://x").is_err());
    assert!(open("sqlite:").is_err());
}
