//! `--store sqlite:FILE`: embedded, bundled SQLite (nothing to install) in WAL mode.
//!
//! One writer connection on a thread of its own takes every write; what queues up while a
//! transaction commits goes into the next one together (group commit), each in a savepoint of
//! its own, so one failing write does not take others with it. Every write is durable before
//! its caller hears of it: WAL with `synchronous=NORMAL` survives a killed process (not a
//! power cut; `synchronous=FULL` would, at a cost per commit). Reads go through a small pool
//! of read-only connections, on tokio's blocking threads. The file is locked for one process:
//! the order of a user's turns is kept in that process, and the process knows every user the
//! file holds ([`Known`], filled on open): a new user's first turn reads nothing.

use std::path::Path;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

use super::known::Known;
use super::{Commit, Fut, OutboxEntry, Stats, Store, StoreError, TimerRow};

/// The schema, one migration per version; a database is brought from its version to the last
/// on open, in one transaction. Never edit a released migration: add one.
const MIGRATIONS: &[&str] = &[
    // 1: the first schema.
    "CREATE TABLE sessions (
        user_id TEXT PRIMARY KEY,
        session TEXT NOT NULL,
        next_due INTEGER,
        last_seq INTEGER NOT NULL DEFAULT 0,
        updated_ms INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX sessions_due ON sessions (next_due) WHERE next_due IS NOT NULL;
    CREATE TABLE timers (
        user_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        due_ms INTEGER NOT NULL,
        name TEXT,
        scenario TEXT NOT NULL,
        block TEXT NOT NULL,
        PRIMARY KEY (user_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE globals (id INTEGER PRIMARY KEY CHECK (id = 1), vars TEXT NOT NULL);
    CREATE TABLE processed (
        user_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        response TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        PRIMARY KEY (user_id, message_id)
    ) WITHOUT ROWID;
    CREATE INDEX processed_at ON processed (at_ms);
    CREATE TABLE outbox (
        user_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        events TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        delivered_ms INTEGER,
        PRIMARY KEY (user_id, seq)
    ) WITHOUT ROWID;
    CREATE INDEX outbox_pending ON outbox (created_ms) WHERE delivered_ms IS NULL;",
];

/// Writes queued while a transaction commits that go into the next one.
const MAX_BATCH: usize = 512;

/// A write, run inside its own savepoint: whether it succeeded, and what to tell its caller
/// once the transaction's fate is known.
/// Without a connection (the transaction could not start), the write is not run and its
/// caller hears why.
type Job = Box<dyn FnOnce(Result<&Connection, StoreError>) -> (bool, Done) + Send>;
type Done = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

pub struct Sqlite {
    writer: Mutex<mpsc::Sender<Job>>,
    readers: Arc<Mutex<Vec<Connection>>>,
    path: std::path::PathBuf,
    /// The users the file may hold: each is added before its first write.
    known: Mutex<Known>,
    /// Held while the store is open: one process per file.
    _lock: std::fs::File,
}

fn unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

impl Sqlite {
    /// Opens (creating) the database, locks it for this process and migrates it.
    pub fn open(path: &Path) -> Result<Sqlite, StoreError> {
        let fatal = |e: rusqlite::Error| {
            StoreError::Fatal(format!("cannot open the store {}: {e}", path.display()))
        };
        let conn = Connection::open(path).map_err(fatal)?;
        let lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| StoreError::Fatal(format!("cannot open {}: {e}", path.display())))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Fatal(format!(
                    "{} is in use by another scenarist process; one SQLite store serves one \
                     process (use PostgreSQL for several)",
                    path.display()
                )))
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StoreError::Fatal(format!(
                    "cannot lock {}: {e}",
                    path.display()
                )))
            }
        }
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(fatal)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            .map_err(fatal)?;
        migrate(&conn, path)?;
        let known = known_users(&conn).map_err(fatal)?;
        let (tx, rx) = mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || write_loop(conn, rx))
            .map_err(|e| StoreError::Fatal(format!("cannot start the store's writer: {e}")))?;
        Ok(Sqlite {
            writer: Mutex::new(tx),
            readers: Arc::new(Mutex::new(Vec::new())),
            path: path.to_path_buf(),
            known: Mutex::new(known),
            _lock: lock,
        })
    }

    /// Runs a write on the writer thread; its result once committed.
    fn write<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Fut<'_, T> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = conn.and_then(work);
            let ok = result.is_ok();
            let done: Done = Box::new(move |committed| {
                let _ = tx.send(committed.and(result));
            });
            (ok, done)
        });
        let sent = self
            .writer
            .lock()
            .map_err(|_| StoreError::Fatal("the store's writer was poisoned".into()))
            .and_then(|w| {
                w.send(job)
                    .map_err(|_| StoreError::Fatal("the store's writer stopped".into()))
            });
        Box::pin(async move {
            sent?;
            rx.await
                .map_err(|_| StoreError::Fatal("the store's writer stopped".into()))?
        })
    }

    /// Runs a read on a pooled read-only connection, on a blocking thread.
    fn read<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Connection) -> Result<T, rusqlite::Error> + Send + 'static,
    ) -> Fut<'_, T> {
        let readers = self.readers.clone();
        let path = self.path.clone();
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let pooled = readers.lock().ok().and_then(|mut r| r.pop());
                let conn = match pooled {
                    Some(c) => c,
                    None => {
                        let c = Connection::open_with_flags(
                            &path,
                            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                        )
                        .map_err(unavailable)?;
                        c.busy_timeout(std::time::Duration::from_secs(5))
                            .map_err(unavailable)?;
                        c
                    }
                };
                let result = work(&conn).map_err(unavailable);
                if let Ok(mut pool) = readers.lock() {
                    if pool.len() < 8 {
                        pool.push(conn);
                    }
                }
                result
            })
            .await
            .map_err(|e| StoreError::Unavailable(format!("a store read failed: {e}")))?
        })
    }
}

/// Every user the file holds a session or a processed message of.
fn known_users(conn: &Connection) -> Result<Known, rusqlite::Error> {
    let count: i64 = conn.query_row("SELECT count(*) FROM sessions", [], |r| r.get(0))?;
    let mut known = Known::with_room_for(usize::try_from(count).unwrap_or(0));
    for sql in [
        "SELECT user_id FROM sessions",
        "SELECT DISTINCT user_id FROM processed",
    ] {
        let mut statement = conn.prepare(sql)?;
        let mut rows = statement.query([])?;
        while let Some(row) = rows.next()? {
            known.add(row.get_ref(0)?.as_str().unwrap_or_default());
        }
    }
    Ok(known)
}

impl Sqlite {
    /// False when the file surely holds nothing of `user_id`.
    fn may_hold(&self, user_id: &str) -> bool {
        self.known.lock().map_or(true, |k| k.may_hold(user_id))
    }
}

fn migrate(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let fatal = |e: rusqlite::Error| {
        StoreError::Fatal(format!("cannot migrate the store {}: {e}", path.display()))
    };
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS scenarist_schema (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            version INTEGER NOT NULL
        )",
    )
    .map_err(fatal)?;
    let version: i64 = conn
        .query_row("SELECT version FROM scenarist_schema", [], |r| r.get(0))
        .optional()
        .map_err(fatal)?
        .unwrap_or(0);
    let known = MIGRATIONS.len() as i64;
    if version > known {
        return Err(StoreError::Fatal(format!(
            "{} was written by a newer scenarist (schema version {version}; this one knows up \
             to {known}); upgrade scenarist, or use another file",
            path.display()
        )));
    }
    if version == known {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE").map_err(fatal)?;
    let applied = (|| {
        for sql in &MIGRATIONS[version as usize..] {
            conn.execute_batch(sql)?;
        }
        conn.execute(
            "INSERT INTO scenarist_schema (id, version) VALUES (1, ?1)
             ON CONFLICT (id) DO UPDATE SET version = excluded.version",
            [known],
        )?;
        conn.execute_batch("COMMIT")
    })();
    if let Err(e) = applied {
        let _ = conn.execute_batch("ROLLBACK");
        return Err(fatal(e));
    }
    Ok(())
}

fn write_loop(conn: Connection, jobs: mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
            let e = unavailable(e);
            for job in batch {
                let (_, finish) = job(Err(e.clone()));
                finish(Err(e.clone()));
            }
            continue;
        }
        let mut done = Vec::with_capacity(batch.len());
        for job in batch {
            if let Err(e) = conn.execute_batch("SAVEPOINT job") {
                let (_, finish) = job(Err(unavailable(e)));
                done.push(finish);
                continue;
            }
            let (ok, finish) = job(Ok(&conn));
            let end = if ok {
                "RELEASE job"
            } else {
                "ROLLBACK TO job; RELEASE job"
            };
            let _ = conn.execute_batch(end);
            done.push(finish);
        }
        let committed = conn.execute_batch("COMMIT").map_err(unavailable);
        if committed.is_err() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        for finish in done {
            finish(committed.clone());
        }
    }
}

impl Store for Sqlite {
    fn kind(&self) -> &'static str {
        "sqlite"
    }

    fn ping(&self) -> Fut<'_, ()> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())))
    }

    fn load<'a>(&'a self, user_id: &'a str) -> Fut<'a, Option<String>> {
        if !self.may_hold(user_id) {
            return Box::pin(std::future::ready(Ok(None)));
        }
        let user = user_id.to_string();
        self.read(move |c| {
            c.prepare_cached("SELECT session FROM sessions WHERE user_id = ?1")?
                .query_row([user], |r| r.get(0))
                .optional()
        })
    }

    fn processed<'a>(&'a self, user_id: &'a str, message_id: &'a str) -> Fut<'a, Option<String>> {
        if !self.may_hold(user_id) {
            return Box::pin(std::future::ready(Ok(None)));
        }
        let (user, id) = (user_id.to_string(), message_id.to_string());
        self.read(move |c| {
            c.prepare_cached(
                "SELECT response FROM processed WHERE user_id = ?1 AND message_id = ?2",
            )?
            .query_row([user, id], |r| r.get(0))
            .optional()
        })
    }

    fn begin_turn<'a>(
        &'a self,
        user_id: &'a str,
        message_id: Option<&'a str>,
        claim: Option<super::ClaimTry<'a>>,
    ) -> Fut<'a, super::Begin> {
        // One process: nothing to claim. A user the file surely does not hold has neither a
        // processed id nor a session: one look at the filter instead of one for each read.
        let _ = claim;
        if !self.may_hold(user_id) {
            return Box::pin(std::future::ready(Ok(super::Begin {
                claimed: true,
                ..super::Begin::default()
            })));
        }
        Box::pin(super::read_begin(self, user_id, message_id))
    }

    fn globals(&self) -> Fut<'_, Option<String>> {
        self.read(|c| {
            c.query_row("SELECT vars FROM globals WHERE id = 1", [], |r| r.get(0))
                .optional()
        })
    }

    fn commit(&self, c: Commit) -> Fut<'_, Option<i64>> {
        // Known before it is written: from here on, reads of this user go to the file.
        if let Ok(mut known) = self.known.lock() {
            known.add(&c.user_id);
        }
        self.write(move |conn| commit(conn, c))
    }

    fn delete_user<'a>(&'a self, user_id: &'a str) -> Fut<'a, bool> {
        let user = user_id.to_string();
        self.write(move |c| {
            let run = || -> Result<bool, rusqlite::Error> {
                let had = c.execute("DELETE FROM sessions WHERE user_id = ?1", [&user])? > 0;
                for table in ["timers", "processed", "outbox"] {
                    c.execute(&format!("DELETE FROM {table} WHERE user_id = ?1"), [&user])?;
                }
                Ok(had)
            };
            run().map_err(unavailable)
        })
    }

    fn due(&self, now_ms: i64, limit: usize) -> Fut<'_, Vec<String>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT user_id FROM sessions WHERE next_due IS NOT NULL AND next_due <= ?1
                 ORDER BY next_due LIMIT ?2",
            )?
            .query_map(params![now_ms, limit as i64], |r| r.get(0))?
            .collect()
        })
    }

    fn next_due(&self) -> Fut<'_, Option<i64>> {
        self.read(|c| {
            c.query_row(
                "SELECT min(next_due) FROM sessions WHERE next_due IS NOT NULL",
                [],
                |r| r.get(0),
            )
        })
    }

    fn outbox_after<'a>(
        &'a self,
        user_id: &'a str,
        after: i64,
        limit: usize,
    ) -> Fut<'a, Vec<OutboxEntry>> {
        let user = user_id.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT user_id, seq, events, created_ms FROM outbox
                 WHERE user_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?
            .query_map(params![user, after, limit as i64], entry)?
            .collect()
        })
    }

    fn undelivered(&self, limit: usize) -> Fut<'_, Vec<OutboxEntry>> {
        self.read(move |c| {
            c.prepare_cached(
                "SELECT o.user_id, o.seq, o.events, o.created_ms FROM outbox o
                 JOIN (SELECT user_id, min(seq) AS seq FROM outbox
                       WHERE delivered_ms IS NULL GROUP BY user_id) f
                   ON o.user_id = f.user_id AND o.seq = f.seq
                 ORDER BY o.created_ms, o.user_id LIMIT ?1",
            )?
            .query_map([limit as i64], entry)?
            .collect()
        })
    }

    fn first_undelivered<'a>(&'a self, user_id: &'a str) -> Fut<'a, Option<OutboxEntry>> {
        let user = user_id.to_string();
        self.read(move |c| {
            c.prepare_cached(
                "SELECT user_id, seq, events, created_ms FROM outbox
                 WHERE user_id = ?1 AND delivered_ms IS NULL ORDER BY seq LIMIT 1",
            )?
            .query_row([user], entry)
            .optional()
        })
    }

    fn delivered<'a>(&'a self, user_id: &'a str, seq: i64, now_ms: i64) -> Fut<'a, ()> {
        let user = user_id.to_string();
        self.write(move |c| {
            c.prepare_cached(
                "UPDATE outbox SET delivered_ms = ?3
                 WHERE user_id = ?1 AND seq <= ?2 AND delivered_ms IS NULL",
            )
            .and_then(|mut s| s.execute(params![user, seq, now_ms]))
            .map(|_| ())
            .map_err(unavailable)
        })
    }

    fn prune(&self, before_ms: i64, undelivered_too: bool) -> Fut<'_, u64> {
        self.write(move |c| {
            let run = || -> Result<u64, rusqlite::Error> {
                let outbox = if undelivered_too {
                    c.execute("DELETE FROM outbox WHERE created_ms < ?1", [before_ms])?
                } else {
                    c.execute(
                        "DELETE FROM outbox WHERE created_ms < ?1 AND delivered_ms IS NOT NULL",
                        [before_ms],
                    )?
                };
                let processed = c.execute("DELETE FROM processed WHERE at_ms < ?1", [before_ms])?;
                Ok((outbox + processed) as u64)
            };
            run().map_err(unavailable)
        })
    }

    fn stats(&self) -> Fut<'_, Stats> {
        self.read(|c| {
            let count = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0));
            Ok(Stats {
                sessions: count("SELECT count(*) FROM sessions")? as u64,
                timers: count("SELECT count(*) FROM timers")? as u64,
                backlog: count("SELECT count(*) FROM outbox WHERE delivered_ms IS NULL")? as u64,
            })
        })
    }
}

fn entry(r: &rusqlite::Row<'_>) -> Result<OutboxEntry, rusqlite::Error> {
    Ok(OutboxEntry {
        user_id: r.get(0)?,
        seq: r.get(1)?,
        events: r.get(2)?,
        created_ms: r.get(3)?,
    })
}

fn commit(conn: &Connection, c: Commit) -> Result<Option<i64>, StoreError> {
    let run = || -> Result<Result<Option<i64>, StoreError>, rusqlite::Error> {
        if let Some((id, response)) = &c.processed {
            let inserted = conn
                .prepare_cached(
                    "INSERT INTO processed (user_id, message_id, response, at_ms)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
                )?
                .execute(params![c.user_id, id, response, c.now_ms])?;
            if inserted == 0 {
                return Ok(Err(StoreError::Fatal(format!(
                    "message id {id:?} was processed already"
                ))));
            }
        }
        conn.prepare_cached(
            "INSERT INTO sessions (user_id, session, next_due, updated_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (user_id) DO UPDATE SET session = excluded.session,
               next_due = excluded.next_due, updated_ms = excluded.updated_ms",
        )?
        .execute(params![c.user_id, c.session, c.next_due, c.now_ms])?;
        if let Some(timers) = &c.timers {
            conn.prepare_cached("DELETE FROM timers WHERE user_id = ?1")?
                .execute([&c.user_id])?;
            let mut insert = conn.prepare_cached(
                "INSERT INTO timers (user_id, seq, due_ms, name, scenario, block)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for TimerRow {
                due_ms,
                seq,
                name,
                scenario,
                block,
            } in timers
            {
                insert.execute(params![
                    c.user_id,
                    *seq as i64,
                    due_ms,
                    name,
                    scenario,
                    block
                ])?;
            }
        }
        if let Some(globals) = &c.globals {
            conn.prepare_cached(
                "INSERT INTO globals (id, vars) VALUES (1, ?1)
                 ON CONFLICT (id) DO UPDATE SET vars = excluded.vars",
            )?
            .execute([globals])?;
        }
        let mut seq = None;
        if let Some(events) = &c.outbox {
            let next: i64 = conn
                .prepare_cached(
                    "UPDATE sessions SET last_seq = last_seq + 1 WHERE user_id = ?1
                     RETURNING last_seq",
                )?
                .query_row([&c.user_id], |r| r.get(0))?;
            conn.prepare_cached(
                "INSERT INTO outbox (user_id, seq, events, created_ms) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![c.user_id, next, events, c.now_ms])?;
            seq = Some(next);
        }
        Ok(Ok(seq))
    };
    run().map_err(unavailable)?
}
