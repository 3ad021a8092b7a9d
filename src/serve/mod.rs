//! `scenarist serve`: the bot live for real users over HTTP (SERVER.md). The same turn function
//! as `run` and `test` ([`Runtime::input`]); what this module adds is around it: a session per
//! user in a [`store::Store`], one turn of a user at a time, exactly-once processing of message
//! ids, the globals kept without lost updates, timers fired in the background, and an outbox
//! delivered to a URL and to SSE subscribers.

mod api;
mod background;
pub mod bot;
pub mod log;
mod metrics;
pub mod store;
pub mod telegram;
mod users;
mod webchat;

use std::sync::{Arc, RwLock};
use std::time::Instant;

pub use api::router;
pub use background::{deliver_loop, prune_loop, timer_loop};
pub use bot::Bot;
pub use metrics::Metrics;

use crate::eval::{Event, Globals, Input, Session};
use store::{Begin, ClaimToken, Commit, Store, StoreError, TimerRow, Unclaimed};

/// The longest message text the API takes, in characters (SERVER.md §2: `422` beyond).
pub const MAX_TEXT_CHARS: usize = 4096;
/// The largest request body, in bytes (`413` beyond).
pub const MAX_BODY_BYTES: usize = 64 << 10;
/// How long delivered outbox entries and processed message ids are kept.
pub const KEEP_MS: i64 = 7 * 24 * 3600 * 1000;

/// Recompiles the bot: the new bot and its warnings, or the errors (as text).
pub type Reload = Box<dyn Fn() -> Result<(Bot, Vec<String>), Vec<String>> + Send + Sync>;

/// The server's shared state: one per process.
pub struct App {
    bot: RwLock<Arc<Bot>>,
    pub store: Arc<dyn Store>,
    /// Where the bot was loaded from, and how, for a reload.
    pub reload: Reload,
    pub(crate) users: users::Users,
    /// Held by the turns that may touch a global, from reading the globals to committing them.
    globals: tokio::sync::Mutex<()>,
    pub client: crate::http::Client,
    /// The API token (`--token-env`); `None` on a loopback address without one.
    pub token: Option<String>,
    pub metrics: Metrics,
    /// A committed outbox entry: (user, seq). SSE subscribers and the delivery listen.
    pub outbox: tokio::sync::broadcast::Sender<(String, i64)>,
    /// Wakes the timer loop when a turn sets a timer.
    pub timers_changed: tokio::sync::Notify,
    /// Per-user messages a second (`--user-rate`; 0: no limit).
    rate: users::RateLimit,
    /// `--log-content`: message texts may appear in the log.
    pub log_content: bool,
    /// Whether outbox entries are delivered somewhere (`--deliver-url`).
    pub delivering: bool,
    /// `--web-chat`: the chat page, the embed script and the page's own API are served.
    pub web_chat: bool,
    /// `--telegram`: the Bot API of the bot; `tg:` users' outbox entries are delivered there.
    pub telegram: Option<Arc<telegram::Telegram>>,
    /// This process among the instances sharing a store: claims are made in its name.
    owner: String,
    /// Claims made so far (each claim has an owner token of its own).
    claims: std::sync::atomic::AtomicU64,
    /// Set on shutdown: the background loops and SSE streams end.
    pub stopping: tokio::sync::watch::Sender<bool>,
}

/// A turn run, not yet committed.
struct Ran {
    commit: Commit,
    events: Vec<Event>,
    body: String,
    sets_timer: bool,
}

/// How a turn was asked for.
pub struct TurnRequest {
    pub user_id: String,
    pub user_name: Option<String>,
    pub input: Input,
    /// The message id or webhook event id (namespaced by the caller), for exactly-once.
    pub id: Option<String>,
    /// The events also go to the outbox (a webhook: the user did not ask, but should hear).
    pub to_outbox: bool,
}

/// A turn's answer: the response body, as given to the first request and to every repeat.
pub struct TurnReply {
    pub body: String,
    /// A repeat: no turn ran.
    pub replayed: bool,
}

#[derive(Debug)]
pub enum TurnError {
    /// The store does not answer: `503`, the request may be retried.
    Store(StoreError),
    /// The user sends faster than `--user-rate`: `429` with this many seconds to wait.
    TooFast(u64),
    /// Another instance has held the user's turn (or the globals) too long: `503`, retry.
    Busy,
    /// A saved session that cannot be read: `500`.
    Corrupt(String),
}

impl From<StoreError> for TurnError {
    fn from(e: StoreError) -> TurnError {
        TurnError::Store(e)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The timers of a session as rows, the `wait … timeout` first.
fn timer_rows(session: &Session) -> Vec<TimerRow> {
    session
        .timeout
        .iter()
        .chain(session.timers.iter())
        .map(|t| TimerRow {
            due_ms: t.due_ms,
            seq: t.seq,
            name: t.name.clone(),
            scenario: t.scenario.clone(),
            block: t.block.clone(),
        })
        .collect()
}

impl App {
    pub fn new(
        bot: Bot,
        store: Arc<dyn Store>,
        reload: Reload,
        client: crate::http::Client,
        token: Option<String>,
        user_rate: u32,
    ) -> App {
        App {
            bot: RwLock::new(Arc::new(bot)),
            store,
            reload,
            users: users::Users::default(),
            globals: tokio::sync::Mutex::new(()),
            client,
            token,
            metrics: Metrics::default(),
            outbox: tokio::sync::broadcast::channel(4096).0,
            timers_changed: tokio::sync::Notify::new(),
            rate: users::RateLimit::new(user_rate),
            log_content: false,
            delivering: false,
            web_chat: false,
            telegram: None,
            stopping: tokio::sync::watch::channel(false).0,
            owner: format!(
                "{}:{}:{:x}",
                hostname(),
                std::process::id(),
                now_ms() ^ (std::process::id() as i64) << 20
            ),
            claims: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// The running bot.
    pub fn bot(&self) -> Arc<Bot> {
        match self.bot.read() {
            Ok(b) => b.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Recompiles the bot; on errors the running one stays. The new bot's warnings, or the
    /// errors.
    pub fn reload(&self) -> Result<Vec<String>, Vec<String>> {
        let (bot, warnings) = (self.reload)()?;
        match self.bot.write() {
            Ok(mut b) => *b = Arc::new(bot),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(bot),
        }
        Ok(warnings)
    }

    /// Refuses a message beyond the user's rate.
    pub fn check_rate(&self, user_id: &str) -> Result<(), TurnError> {
        self.rate.take(user_id).map_err(TurnError::TooFast)
    }

    /// Runs one turn of a user: after the user's earlier turns, at most once per id, committed
    /// completely or not at all.
    pub async fn turn(&self, request: TurnRequest) -> Result<TurnReply, TurnError> {
        let started = Instant::now();
        let _turn = self.users.lock(&request.user_id).await;
        let mut logged = false;
        if self.store.shared() {
            if let Some(reply) = self.unclaimed_turn(&request, started, &mut logged).await? {
                return Ok(reply);
            }
        }
        let (mut claim, begin) = self.begin(&request.user_id, request.id.as_deref()).await?;
        if let Some(body) = begin.processed {
            return Ok(self.replayed(&request.user_id, started, body));
        }
        let bot = self.bot();
        let (mut session, warning) = self.session_from(&bot, &request.user_id, begin.session)?;
        self.prepare_turn(&mut session, &request, &mut logged);
        let body = self
            .run(
                &bot,
                &mut session,
                &request.input,
                warning,
                request.id.as_deref(),
                request.to_outbox,
                started,
                (&mut claim, true),
            )
            .await?;
        Ok(TurnReply {
            body,
            replayed: false,
        })
    }

    /// A turn without a claim, in a store shared by several instances: run from the version
    /// of the session this process last saw (a new session when it saw none) and committed
    /// in one round trip if that is still the version. When it is not, the turn runs again
    /// from the version the store answered with, once; `None` when it must run under a claim
    /// instead (it may call `http` or touch a global, another instance holds the user, or
    /// the second try was too late as well). Nothing a turn without a claim does outside is
    /// done twice: it calls no `http`, and its events are only given once committed.
    async fn unclaimed_turn(
        &self,
        request: &TurnRequest,
        started: Instant,
        logged: &mut bool,
    ) -> Result<Option<TurnReply>, TurnError> {
        let bot = self.bot();
        let mut from = self.store.snapshot(&request.user_id).unwrap_or_default();
        for _ in 0..2 {
            let (mut session, warning) =
                self.session_from(&bot, &request.user_id, from.session.take())?;
            if bot.may_call_http(&session, &request.input)
                || bot.may_touch_globals(&session, &request.input)
            {
                return Ok(None);
            }
            self.prepare_turn(&mut session, request, logged);
            let id = request.id.as_deref();
            let mut globals = Globals::default();
            let ran = self
                .step(
                    &bot,
                    &mut session,
                    &mut globals,
                    &request.input,
                    warning,
                    id,
                    request.to_outbox,
                    false,
                )
                .await;
            let store_started = Instant::now();
            let committed = self.store.commit_unclaimed(ran.commit, from.version).await;
            self.metrics.store(store_started.elapsed());
            match committed {
                Ok(Unclaimed::Committed(seq)) => {
                    let body = self.committed(
                        &request.user_id,
                        started,
                        ran.events,
                        ran.body,
                        ran.sets_timer,
                        seq,
                    );
                    return Ok(Some(TurnReply {
                        body,
                        replayed: false,
                    }));
                }
                Ok(Unclaimed::Replayed(body)) => {
                    return Ok(Some(self.replayed(&request.user_id, started, body)));
                }
                Ok(Unclaimed::Stale(now)) => from = now,
                Ok(Unclaimed::Claimed) => return Ok(None),
                Err(e) => return Err(self.store_failed(&request.user_id, started, e)),
            }
        }
        Ok(None)
    }

    /// A repeated message or event id: the stored response, counted and logged.
    fn replayed(&self, user_id: &str, started: Instant, body: String) -> TurnReply {
        self.metrics.turn("replayed", started.elapsed());
        self.log_turn(user_id, started, "replayed");
        TurnReply {
            body,
            replayed: true,
        }
    }

    /// Before a turn runs: the message logged (`--log-content`, once a turn, secrets
    /// hidden), the name the channel gave taken.
    fn prepare_turn(&self, session: &mut Session, request: &TurnRequest, logged: &mut bool) {
        if self.log_content && !*logged {
            if let Input::Message(text) = &request.input {
                let text = session.redactor.apply(text);
                tracing::info!(user = %request.user_id, text = %text, "message");
            }
            *logged = true;
        }
        if let Some(name) = &request.user_name {
            if !name.is_empty() && session.user_name != *name {
                session.user_name.clone_from(name);
            }
        }
    }

    /// Claims the user (in a store shared by several instances, waiting while another holds
    /// it) and reads what the turn starts from: one call to the store.
    async fn begin(&self, user_id: &str, id: Option<&str>) -> Result<(Claim, Begin), TurnError> {
        if !self.store.shared() {
            let begin = self.store.begin_turn(user_id, id, None).await?;
            return Ok((Claim { held: None }, begin));
        }
        let owner = self.new_owner();
        let deadline = Instant::now() + CLAIM_WAIT;
        let mut pause = std::time::Duration::from_millis(2);
        loop {
            let now = now_ms();
            let begin = self
                .store
                .begin_turn(user_id, id, Some((&owner, now, now + LEASE_MS)))
                .await?;
            if begin.claimed {
                return Ok((self.hold(user_id, owner), begin));
            }
            if Instant::now() >= deadline {
                return Err(TurnError::Busy);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(50));
        }
    }

    /// Loads (or starts) a user's session, ready for a turn.
    async fn session(
        &self,
        bot: &Bot,
        user_id: &str,
    ) -> Result<(Session, Option<String>), TurnError> {
        let saved = self.store.load(user_id).await?;
        self.session_from(bot, user_id, saved)
    }

    /// A user's session from what was saved (or a new one), ready for a turn.
    fn session_from(
        &self,
        bot: &Bot,
        user_id: &str,
        saved: Option<String>,
    ) -> Result<(Session, Option<String>), TurnError> {
        let mut session = match saved {
            Some(json) => serde_json::from_str::<Session>(&json).map_err(|e| {
                tracing::error!(user = %user_id, error = %e, "a saved session cannot be read");
                TurnError::Corrupt(format!(
                    "the saved session of this user cannot be read: {e}"
                ))
            })?,
            None => bot.runtime.new_session(user_id, ""),
        };
        let warning = bot.prepare(&mut session);
        Ok((session, warning))
    }

    /// Runs the turn itself, with the globals when it may touch them, and commits it (the
    /// globals lock, when taken, is held until the commit is done); the response body. The
    /// commit checks the user's claim and, when told to, gives it up.
    #[allow(clippy::too_many_arguments)]
    async fn run(
        &self,
        bot: &Bot,
        session: &mut Session,
        input: &Input,
        warning: Option<String>,
        id: Option<&str>,
        to_outbox: bool,
        started: Instant,
        (claim, release): (&mut Claim, bool),
    ) -> Result<String, TurnError> {
        let mut lock = if bot.may_touch_globals(session, input) {
            let local = self.globals.lock().await;
            Some((local, self.claim(store::GLOBALS_KEY).await?))
        } else {
            None
        };
        let mut globals = match &lock {
            Some(_) => match self.store.globals().await? {
                Some(json) => serde_json::from_str::<Globals>(&json).map_err(|e| {
                    TurnError::Corrupt(format!("the saved globals cannot be read: {e}"))
                })?,
                None => bot.runtime.new_globals(),
            },
            None => Globals::default(),
        };
        if lock.is_some() {
            bot.runtime.refresh(session, &mut globals);
        }
        let ran = self
            .step(
                bot,
                session,
                &mut globals,
                input,
                warning,
                id,
                to_outbox,
                lock.is_some(),
            )
            .await;
        let mut commit = ran.commit;
        commit.claims = claim
            .token(release)
            .into_iter()
            .chain(lock.as_ref().and_then(|(_, globals)| globals.token(true)))
            .collect();
        let store_started = Instant::now();
        let committed = self.store.commit(commit).await;
        if committed.is_ok() {
            if release {
                claim.given_up();
            }
            if let Some((_, globals)) = &mut lock {
                globals.given_up();
            }
        }
        drop(lock);
        self.metrics.store(store_started.elapsed());
        let seq = match committed {
            Ok(seq) => seq,
            Err(e) => return Err(self.store_failed(&session.user_id, started, e)),
        };
        Ok(self.committed(
            &session.user_id,
            started,
            ran.events,
            ran.body,
            ran.sets_timer,
            seq,
        ))
    }

    /// Runs a turn (its globals read already, when `with_globals`): what to commit, without
    /// claims.
    #[allow(clippy::too_many_arguments)]
    async fn step(
        &self,
        bot: &Bot,
        session: &mut Session,
        globals: &mut Globals,
        input: &Input,
        warning: Option<String>,
        id: Option<&str>,
        to_outbox: bool,
        with_globals: bool,
    ) -> Ran {
        let timers_before = timer_rows(session);
        let before = globals.clone();
        let mut events = bot
            .runtime
            .input(session, globals, input, None, &self.client, None)
            .await;
        if let Some(message) = warning {
            events.insert(0, Event::Warning { message, at: None });
        }
        if !with_globals && !globals.vars.is_empty() {
            // Bot::may_touch_globals is conservative; were a turn to get here anyway, its
            // globals would not be saved (they were not read either).
            tracing::error!(user = %session.user_id, "a turn touched globals without the lock");
        }
        let changed_globals = with_globals && *globals != before;
        let body = response_body(&events, session.is_waiting());
        let timers_after = timer_rows(session);
        let sets_timer = timers_after != timers_before;
        let commit = Commit {
            user_id: session.user_id.clone(),
            session: serde_json::to_string(&session.redacted()).unwrap_or_default(),
            next_due: session.next_due(),
            timers: sets_timer.then_some(timers_after),
            globals: changed_globals.then(|| {
                // A global that copied a secret is saved as `***`, as a session's variables.
                let mut saved = globals.clone();
                for value in saved.vars.values_mut() {
                    session.redactor.hide_value(value);
                }
                serde_json::to_string(&saved).unwrap_or_default()
            }),
            processed: id.map(|id| (id.to_string(), body.clone())),
            outbox: to_outbox.then(|| events_json(&events)),
            now_ms: now_ms(),
            claims: Vec::new(),
        };
        Ran {
            commit,
            events,
            body,
            sets_timer,
        }
    }

    /// A turn's commit failed: counted, logged, the error to answer with.
    fn store_failed(&self, user_id: &str, started: Instant, e: StoreError) -> TurnError {
        self.metrics.turn("store_error", started.elapsed());
        self.log_turn(user_id, started, "store_error");
        TurnError::Store(e)
    }

    /// A turn committed: the timer loop and the outbox's listeners told, the turn counted
    /// and logged; its response body.
    fn committed(
        &self,
        user_id: &str,
        started: Instant,
        events: Vec<Event>,
        body: String,
        sets_timer: bool,
        seq: Option<i64>,
    ) -> String {
        if sets_timer {
            self.timers_changed.notify_one();
        }
        if let Some(seq) = seq {
            let _ = self.outbox.send((user_id.to_string(), seq));
        }
        let outcome = if events.iter().any(|e| matches!(e, Event::Error { .. })) {
            "error"
        } else {
            "ok"
        };
        self.metrics.events(&events);
        self.metrics.turn(outcome, started.elapsed());
        self.log_turn(user_id, started, outcome);
        body
    }

    /// Claims `key` in a store shared by several instances (nothing to do in one of one
    /// process): waits while another instance holds it, keeps it extended while held, and
    /// gives it up when dropped.
    pub(crate) async fn claim(&self, key: &str) -> Result<Claim, TurnError> {
        self.claim_within(key, CLAIM_WAIT)
            .await?
            .ok_or(TurnError::Busy)
    }

    /// [`App::claim`], waiting at most `wait` (zero: one try); `None` when another instance
    /// still holds it.
    pub(crate) async fn claim_within(
        &self,
        key: &str,
        wait: std::time::Duration,
    ) -> Result<Option<Claim>, TurnError> {
        if !self.store.shared() {
            return Ok(Some(Claim { held: None }));
        }
        let owner = self.new_owner();
        let deadline = Instant::now() + wait;
        let mut pause = std::time::Duration::from_millis(2);
        loop {
            let now = now_ms();
            if self.store.claim(key, &owner, now, now + LEASE_MS).await? {
                break;
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(std::time::Duration::from_millis(50));
        }
        Ok(Some(self.hold(key, owner)))
    }

    /// An owner token for a new claim: this process, and the claim's number in it.
    fn new_owner(&self) -> Arc<str> {
        let n = self
            .claims
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Arc::from(format!("{}:{n}", self.owner))
    }

    /// A claim just taken: kept extended until it is dropped (or given up by a commit).
    fn hold(&self, key: &str, owner: Arc<str>) -> Claim {
        let store = self.store.clone();
        let (k, o) = (key.to_string(), owner.clone());
        let renew = tokio::spawn(async move {
            let mut every =
                tokio::time::interval(std::time::Duration::from_millis(LEASE_MS as u64 / 3));
            every.tick().await;
            loop {
                every.tick().await;
                let now = now_ms();
                match store.claim(&k, &o, now, now + LEASE_MS).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::error!(key = %k, "a claim expired while its turn ran");
                    }
                    Err(e) => tracing::warn!(error = %e, "a claim could not be extended"),
                }
            }
        });
        Claim {
            held: Some(Held {
                store: self.store.clone(),
                key: key.to_string(),
                owner,
                renew,
            }),
        }
    }

    fn log_turn(&self, user_id: &str, started: Instant, outcome: &str) {
        tracing::info!(
            user = %user_id,
            duration_ms = started.elapsed().as_secs_f64() * 1000.0,
            outcome,
            "turn"
        );
    }

    /// Fires the due timers of one user, each its own turn, their events into the outbox.
    /// How many fired (none when another instance holds the user).
    pub async fn fire_due(&self, user_id: &str, now: i64) -> Result<usize, TurnError> {
        let _turn = self.users.lock(user_id).await;
        let Some(mut claim) = self
            .claim_within(user_id, std::time::Duration::ZERO)
            .await?
        else {
            // Another instance holds the user: it fires these timers, or runs a turn of the
            // user, after which they are listed again (a claimed user is not listed as due).
            return Ok(0);
        };
        let bot = self.bot();
        let mut fired = 0;
        // Each timer is committed before the next fires; one pass takes at most this many.
        for _ in 0..crate::eval::MAX_TIMER_TURNS.min(1000) {
            let started = Instant::now();
            let (mut session, warning) = self.session(&bot, user_id).await?;
            if session.next_due().is_none_or(|due| due > now) {
                if fired == 0 {
                    // The store said a timer was due, the session says otherwise (a reload
                    // ended its run and its timeout): the store is told, or it would say so
                    // again.
                    let commit = Commit {
                        user_id: user_id.to_string(),
                        session: serde_json::to_string(&session.redacted()).unwrap_or_default(),
                        next_due: session.next_due(),
                        timers: Some(timer_rows(&session)),
                        now_ms: now_ms(),
                        claims: claim.token(false).into_iter().collect(),
                        ..Commit::default()
                    };
                    self.store.commit(commit).await?;
                }
                break;
            }
            self.run(
                &bot,
                &mut session,
                &Input::Timer,
                warning,
                None,
                true,
                started,
                (&mut claim, false),
            )
            .await?;
            self.metrics.timer_fired();
            fired += 1;
        }
        Ok(fired)
    }
}

/// How long a claim lasts without being extended: an instance that dies holding one holds up
/// that user (or the globals) at most this long.
const LEASE_MS: i64 = 10_000;
/// How long a turn waits for a claim another instance holds.
const CLAIM_WAIT: std::time::Duration = std::time::Duration::from_secs(90);

/// A claim of a user's turn (or of the globals) in a shared store; given up when dropped.
pub(crate) struct Claim {
    held: Option<Held>,
}

/// A claim held: the store, the key, the claim's owner token, the task extending it.
struct Held {
    store: Arc<dyn Store>,
    key: String,
    owner: Arc<str>,
    renew: tokio::task::JoinHandle<()>,
}

impl Claim {
    /// The claim for a commit to check (and give up, with `release`); none in a store of
    /// one process.
    fn token(&self, release: bool) -> Option<ClaimToken> {
        self.held.as_ref().map(|held| ClaimToken {
            key: held.key.clone(),
            owner: held.owner.to_string(),
            release,
        })
    }

    /// A commit gave the claim up: it is no longer extended, nor given up again.
    fn given_up(&mut self) {
        if let Some(held) = self.held.take() {
            held.renew.abort();
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(Held {
            store,
            key,
            owner,
            renew,
        }) = self.held.take()
        {
            renew.abort();
            tokio::spawn(async move {
                if let Err(e) = store.release(&key, &owner).await {
                    tracing::warn!(error = %e, "a claim could not be given up; it expires");
                }
            });
        }
    }
}

/// This machine's name, for the owner of claims (logs and the claims table show it).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| "host".into())
}

/// Bytes in lower-case hex (signatures, secrets, ids derived from digests).
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// The events as a JSON array, each as `run --json` prints it.
pub fn events_json(events: &[Event]) -> String {
    serde_json::to_string(events).unwrap_or_else(|_| "[]".into())
}

/// `{"events":[…],"state":"waiting"|"idle"}`.
fn response_body(events: &[Event], waiting: bool) -> String {
    format!(
        "{{\"events\":{},\"state\":\"{}\"}}",
        events_json(events),
        if waiting { "waiting" } else { "idle" }
    )
}
