//! Where `serve` keeps what must survive a restart: a session per user, the bot's globals, the
//! pending timers, the ids of processed messages with their responses, and the outbox. One
//! trait, [`Store`], with an implementation per backend: `memory:` (nothing survives), `sqlite:`
//! (embedded, one process), `postgres://` (shared by several processes). Every turn is written
//! by one [`Store::commit`]: all of it or none.
//!
//! The store holds data, not locks: the order of one user's turns is kept by the server
//! (`serve::Users`); a backend shared by several processes adds its own claim on top.

mod known;
mod memory;
mod postgres;
mod sqlite;

use std::future::Future;
use std::pin::Pin;

pub use memory::Memory;
pub use postgres::Postgres;
pub use sqlite::Sqlite;

/// What a store call gives back, later.
pub type Fut<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The store does not answer (a lost connection, a locked file): the request may be
    /// retried (`503`).
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// The store cannot be used at all (a database of a newer scenarist, a corrupt file).
    #[error("{0}")]
    Fatal(String),
}

/// A pending timer as a row: which user's session it wakes, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimerRow {
    pub due_ms: i64,
    pub seq: u64,
    pub name: Option<String>,
    pub scenario: String,
    pub block: String,
}

/// Everything one turn changes, committed at once.
#[derive(Clone, Debug, Default)]
pub struct Commit {
    pub user_id: String,
    /// The session after the turn, as JSON (secrets already redacted).
    pub session: String,
    /// When its next timer comes due, if it has one.
    pub next_due: Option<i64>,
    /// The user's pending timers, when the turn changed them (replacing the rows).
    pub timers: Option<Vec<TimerRow>>,
    /// The bot's globals as JSON, when the turn changed them.
    pub globals: Option<String>,
    /// The id of the message or webhook event, with the response to give a repeat of it.
    pub processed: Option<(String, String)>,
    /// Events for the outbox (a JSON array), for a turn nobody waits on the answer of.
    pub outbox: Option<String>,
    /// The turn's wall clock (for pruning).
    pub now_ms: i64,
    /// The claims the turn runs under, in a store shared by several processes: each must
    /// still be its owner's, or nothing is committed ([`StoreError::Unavailable`]: the claim
    /// expired and another instance may have taken over). Those marked so are given up by
    /// the same transaction.
    pub claims: Vec<ClaimToken>,
}

/// A claim a commit checks (and may give up).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimToken {
    pub key: String,
    pub owner: String,
    /// Given up by the commit.
    pub release: bool,
}

/// The start of a turn: whether the user's claim was taken, and what the store holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Begin {
    /// False: another owner holds the user; nothing was read.
    pub claimed: bool,
    /// The stored response, when the message id was processed already.
    pub processed: Option<String>,
    /// The user's saved session (not read when `processed` is there).
    pub session: Option<String>,
}

/// What a turn without a claim starts from: a version of the user's session as the store
/// last had it (see [`Store::commit_unclaimed`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// The session's version; `None`: no session is stored.
    pub version: Option<i64>,
    pub session: Option<String>,
}

/// How a [`Store::commit_unclaimed`] went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unclaimed {
    /// Committed; the outbox sequence number of its events, if it had any.
    Committed(Option<i64>),
    /// The message id was processed already: its stored response. Nothing was written.
    Replayed(String),
    /// The session is no longer the version the turn started from: what it is now. Nothing
    /// was written; the turn may run again from this.
    Stale(Snapshot),
    /// Another turn holds a claim of the user, or the store cannot commit without one:
    /// nothing was written; the turn must be run under a claim.
    Claimed,
}

/// A claim to try: owner, now, until (see [`Store::claim`]).
pub type ClaimTry<'a> = (&'a str, i64, i64);

/// One entry of a user's outbox: the events of one turn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxEntry {
    pub user_id: String,
    /// Per user, from 1, without gaps.
    pub seq: i64,
    /// A JSON array of events, as `run --json` prints them.
    pub events: String,
    pub created_ms: i64,
}

/// Counts for `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub sessions: u64,
    pub timers: u64,
    /// Outbox entries not yet delivered (only counted when a delivery is configured).
    pub backlog: u64,
}

/// A backend. Every call is one round trip; [`Store::commit`] is one transaction.
pub trait Store: Send + Sync {
    /// `memory`, `sqlite`, `postgres`: for logs and metrics.
    fn kind(&self) -> &'static str;

    /// Whether the store answers (`/readyz`).
    fn ping(&self) -> Fut<'_, ()>;

    /// The saved session of a user (JSON), if any.
    fn load<'a>(&'a self, user_id: &'a str) -> Fut<'a, Option<String>>;

    /// The stored response of a message or event id already processed for this user.
    fn processed<'a>(&'a self, user_id: &'a str, message_id: &'a str) -> Fut<'a, Option<String>>;

    /// A turn's first call: claims the user (when `claim` is given), then reads the stored
    /// response of `message_id` and, when there is none, the session. What the reads see
    /// is what was committed before the claim was taken.
    fn begin_turn<'a>(
        &'a self,
        user_id: &'a str,
        message_id: Option<&'a str>,
        claim: Option<ClaimTry<'a>>,
    ) -> Fut<'a, Begin> {
        Box::pin(async move {
            if let Some((owner, now_ms, until_ms)) = claim {
                if !self.claim(user_id, owner, now_ms, until_ms).await? {
                    return Ok(Begin::default());
                }
            }
            read_begin(self, user_id, message_id).await
        })
    }

    /// The bot's globals (JSON), if any were saved.
    fn globals(&self) -> Fut<'_, Option<String>>;

    /// Commits one turn; gives the outbox sequence number of its events, if it had any.
    /// A `processed` id already there fails the whole commit with [`StoreError::Fatal`]
    /// (the caller checked first; only a race between processes gets here).
    fn commit(&self, commit: Commit) -> Fut<'_, Option<i64>>;

    /// What the store remembers of a user's session without asking anyone (a cache of the
    /// versions it committed and read): what a turn without a claim may start from. `None`:
    /// nothing remembered; the turn may start from a new session.
    fn snapshot(&self, user_id: &str) -> Option<Snapshot> {
        let _ = user_id;
        None
    }

    /// Commits a turn that ran without a claim (its `claims` are empty), if the user's
    /// session is still at `version` (`None`: no session), no claim of the user is held and
    /// the message id was not processed; see [`Unclaimed`]. A store shared by several
    /// processes commits the turns it runs without a claim only this way; the others always
    /// answer [`Unclaimed::Claimed`] (their turns are held by the process's own locks).
    fn commit_unclaimed(&self, commit: Commit, version: Option<i64>) -> Fut<'_, Unclaimed> {
        let _ = (commit, version);
        Box::pin(std::future::ready(Ok(Unclaimed::Claimed)))
    }

    /// Forgets a user: session, timers, processed ids, outbox. Whether there was a session.
    fn delete_user<'a>(&'a self, user_id: &'a str) -> Fut<'a, bool>;

    /// Users with a timer due at `now_ms` or before, the earliest first, at most `limit`.
    fn due(&self, now_ms: i64, limit: usize) -> Fut<'_, Vec<String>>;

    /// When the earliest pending timer of any user comes due.
    fn next_due(&self) -> Fut<'_, Option<i64>>;

    /// A user's outbox entries with `seq > after`, in order, at most `limit`.
    fn outbox_after<'a>(
        &'a self,
        user_id: &'a str,
        after: i64,
        limit: usize,
    ) -> Fut<'a, Vec<OutboxEntry>>;

    /// The oldest undelivered entry of each user that has one, at most `limit` users, the
    /// users whose entry waits longest first.
    fn undelivered(&self, limit: usize) -> Fut<'_, Vec<OutboxEntry>>;

    /// A user's oldest undelivered entry, if any.
    fn first_undelivered<'a>(&'a self, user_id: &'a str) -> Fut<'a, Option<OutboxEntry>>;

    /// Marks a user's entries up to `seq` delivered.
    fn delivered<'a>(&'a self, user_id: &'a str, seq: i64, now_ms: i64) -> Fut<'a, ()>;

    /// Drops delivered outbox entries and processed ids older than `before_ms` (and, when
    /// `undelivered_too`, every outbox entry that old: nobody delivers them). How many went.
    fn prune(&self, before_ms: i64, undelivered_too: bool) -> Fut<'_, u64>;

    fn stats(&self) -> Fut<'_, Stats>;

    /// Whether several processes may share this store: then a turn claims its user (and a
    /// turn that may touch a global, the globals) in the store too, with [`Store::claim`], on
    /// top of the process's own locks.
    fn shared(&self) -> bool {
        false
    }

    /// Claims `key` (a user id, or [`GLOBALS_KEY`]) for `owner` until `until_ms`, unless
    /// another owner holds a claim that has not expired; whether it is now `owner`'s. Claiming
    /// again as the same owner extends the claim. A store of one process has nothing to
    /// claim: it says yes.
    fn claim<'a>(
        &'a self,
        key: &'a str,
        owner: &'a str,
        now_ms: i64,
        until_ms: i64,
    ) -> Fut<'a, bool> {
        let _ = (key, owner, now_ms, until_ms);
        Box::pin(std::future::ready(Ok(true)))
    }

    /// Gives up `owner`'s claim of `key`, if it still holds it.
    fn release<'a>(&'a self, key: &'a str, owner: &'a str) -> Fut<'a, ()> {
        let _ = (key, owner);
        Box::pin(std::future::ready(Ok(())))
    }
}

/// [`Store::begin_turn`] once the user is held: the stored response of `message_id`, or else
/// the session, each read on its own.
pub(super) async fn read_begin<S: Store + ?Sized>(
    store: &S,
    user_id: &str,
    message_id: Option<&str>,
) -> Result<Begin, StoreError> {
    let processed = match message_id {
        Some(id) => store.processed(user_id, id).await?,
        None => None,
    };
    let session = match processed {
        Some(_) => None,
        None => store.load(user_id).await?,
    };
    Ok(Begin {
        claimed: true,
        processed,
        session,
    })
}

/// The claim key of the bot's globals: not a user id (those have no control characters).
pub const GLOBALS_KEY: &str = "\u{1}globals";

/// Whether `--store` names a PostgreSQL database.
fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Opens the store `--store` names: `memory:`, `sqlite:FILE`, `postgres://…`. Inside the
/// tokio runtime the store will run on (a PostgreSQL pool's connections live there).
pub async fn open_async(url: &str) -> Result<Box<dyn Store>, String> {
    if is_postgres(url) {
        return Postgres::connect(url)
            .await
            .map(|s| Box::new(s) as Box<dyn Store>)
            .map_err(|e| e.to_string());
    }
    open(url)
}

/// Opens the store `--store` names, outside a runtime: `memory:`, `sqlite:FILE` (PostgreSQL
/// connects asynchronously: [`open_async`]).
pub fn open(url: &str) -> Result<Box<dyn Store>, String> {
    if url == "memory:" || url == "memory" {
        return Ok(Box::new(Memory::default()));
    }
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.strip_prefix("//").unwrap_or(path);
        if path.is_empty() {
            return Err("`--store sqlite:` needs a file name, as in `sqlite:scenarist.db`".into());
        }
        return Sqlite::open(std::path::Path::new(path))
            .map(|s| Box::new(s) as Box<dyn Store>)
            .map_err(|e| e.to_string());
    }
    if is_postgres(url) {
        return Err("a PostgreSQL store is opened inside the runtime (`store::open_async`)".into());
    }
    Err(format!(
        "unknown store {url:?}: use `sqlite:FILE` (the default, `sqlite:scenarist.db`), \
         `postgres://USER@HOST/DATABASE` or `memory:`"
    ))
}

#[cfg(test)]
mod tests;
