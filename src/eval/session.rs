//! One user's conversation as plain data: where it waits, its call stack, its variables and
//! the buttons of its latest message. It serializes to JSON and back without loss, so a
//! conversation can stop between two messages and continue in another process.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::Redactor;
use crate::value::Value;

/// Variables by name. Fx hashing: names are short and chosen by the bot's author, and a
/// lookup happens for every variable read.
pub type Vars = IndexMap<String, Value, rustc_hash::FxBuildHasher>;

/// A place in the bot: a block (by scenario id and name, so saved sessions stay readable) and
/// an instruction index in its compiled code.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Frame {
    pub scenario: String,
    pub block: String,
    pub pc: usize,
}

/// A transition button of the latest message with buttons: pressing it (sending its label)
/// jumps to the block whatever the session is doing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedButton {
    pub label: String,
    pub scenario: String,
    pub block: String,
    /// `button … goto B set %v% = EXPR`: the variable and the value computed when the message
    /// was sent, assigned when the button is pressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<SavedSet>,
}

/// The `set` a transition button carries: `%var.path%` and its value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SavedSet {
    pub var: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<String>,
    pub value: Value,
}

/// A pending timer: where it jumps when it comes due.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timer {
    /// When it comes due, in Unix milliseconds.
    pub due_ms: i64,
    /// Order among timers due at the same millisecond: the one set first fires first.
    pub seq: u64,
    /// `schedule … as "name"`; `None` for an unnamed timer or a `wait … timeout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub scenario: String,
    pub block: String,
}

/// The pending `schedule` timers of a session, in the order they come due. Saved as a list;
/// kept as an ordered map, so that adding one and taking the next are cheap even with many.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "Vec<Timer>", into = "Vec<Timer>")]
pub struct Timers(BTreeMap<(i64, u64), Timer>);

impl From<Vec<Timer>> for Timers {
    fn from(list: Vec<Timer>) -> Timers {
        Timers(list.into_iter().map(|t| ((t.due_ms, t.seq), t)).collect())
    }
}

impl From<Timers> for Vec<Timer> {
    fn from(timers: Timers) -> Vec<Timer> {
        timers.0.into_values().collect()
    }
}

impl Timers {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The one that comes due first.
    pub fn first(&self) -> Option<&Timer> {
        self.0.values().next()
    }

    pub fn pop_first(&mut self) -> Option<Timer> {
        self.0.pop_first().map(|(_, t)| t)
    }

    pub fn insert(&mut self, timer: Timer) {
        self.0.insert((timer.due_ms, timer.seq), timer);
    }

    /// Removes the timer of that name; whether there was one.
    pub fn cancel(&mut self, name: &str) -> bool {
        let key = self
            .0
            .iter()
            .find(|(_, t)| t.name.as_deref() == Some(name))
            .map(|(k, _)| *k);
        key.and_then(|k| self.0.remove(&k)).is_some()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Timer> {
        self.0.values()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Session {
    pub user_id: String,
    pub user_name: String,
    /// Messages received so far (the first one fires `on start`).
    pub messages: u64,
    /// Where the running scenario waits; `None` when the session is idle.
    pub waiting: Option<Frame>,
    /// Return addresses of `call`s in progress.
    pub stack: Vec<Frame>,
    /// Temporary variables of the current run.
    pub temps: Vars,
    /// `user` variables: kept across runs and scenarios.
    pub user: Vars,
    /// Presets (`--var`, `--secret`, a test's `var`/`secret`) as the current run sees them:
    /// an assignment to one lasts until the run ends. Never saved (LANGUAGE.md §4).
    #[serde(skip)]
    pub presets: Vars,
    /// The presets as the operator gave them: every run starts from these. Never saved.
    #[serde(skip)]
    pub configured: Vars,
    /// Hides the secrets among the presets in every event. Never saved.
    #[serde(skip)]
    pub redactor: Redactor,
    /// Runtime-owned variables: `message`, `ref`, `match`, `error`.
    pub specials: Vars,
    pub buttons: Vec<SavedButton>,
    /// State of the random generator (`rand()`, `shuffle()`), so replays repeat.
    pub rng: u64,
    /// Pending `schedule` timers.
    #[serde(default, skip_serializing_if = "Timers::is_empty")]
    pub timers: Timers,
    /// The `wait … timeout` of the waiting run, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Timer>,
    /// Timers set so far: orders timers due at the same time.
    #[serde(default)]
    pub timer_seq: u64,
    /// The current run sent a message with buttons (so its end may keep its temporaries).
    #[serde(default, skip_serializing_if = "is_false")]
    pub buttons_in_run: bool,
    /// The run is over but its temporaries are kept: its last message's transition buttons
    /// can still be pressed, and pressing one continues it (LANGUAGE.md §4).
    #[serde(default, skip_serializing_if = "is_false")]
    pub parked: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Session {
    pub fn new(user_id: &str, user_name: &str) -> Session {
        Session {
            user_id: user_id.to_string(),
            user_name: user_name.to_string(),
            messages: 0,
            waiting: None,
            stack: Vec::new(),
            temps: Vars::default(),
            user: Vars::default(),
            presets: Vars::default(),
            configured: Vars::default(),
            redactor: Redactor::default(),
            specials: Vars::default(),
            buttons: Vec::new(),
            timers: Timers::default(),
            timeout: None,
            timer_seq: 0,
            buttons_in_run: false,
            parked: false,
            // Seeded from the user id: the same conversation gives the same "random" answers.
            rng: user_id.bytes().fold(0x9E37_79B9_7F4A_7C15, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3)
            }),
        }
    }

    /// Whether a scenario is running (waiting for the user).
    pub fn is_waiting(&self) -> bool {
        self.waiting.is_some()
    }

    /// Ends the current run: position, call stack and temporary variables go, presets go back
    /// to their configured values; user variables stay.
    pub fn end_run(&mut self) {
        self.waiting = None;
        self.stack.clear();
        self.temps.clear();
        self.timeout = None;
        self.buttons_in_run = false;
        self.parked = false;
        if self.presets != self.configured {
            self.presets.clone_from(&self.configured);
        }
    }

    /// Ends the run but keeps its temporaries for its transition buttons (LANGUAGE.md §4).
    pub fn park(&mut self) {
        self.waiting = None;
        self.stack.clear();
        self.timeout = None;
        self.buttons_in_run = false;
        self.parked = true;
    }

    /// When the next timer comes due (the waiting run's timeout or a `schedule`), if any.
    pub fn next_due(&self) -> Option<i64> {
        let timeout = self.timeout.as_ref().map(|t| t.due_ms);
        let scheduled = self.timers.first().map(|t| t.due_ms);
        match (timeout, scheduled) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A copy fit for the disk or a store: every secret in its values (a variable that copied
    /// one, `"Bearer %token%"`) replaced by `***`. Presets are not part of it at all.
    pub fn redacted(&self) -> Session {
        let mut copy = self.clone();
        if !self.redactor.is_empty() {
            for vars in [&mut copy.temps, &mut copy.user, &mut copy.specials] {
                for value in vars.values_mut() {
                    self.redactor.hide_value(value);
                }
            }
            for b in &mut copy.buttons {
                self.redactor.hide(&mut b.label);
                if let Some(set) = &mut b.set {
                    self.redactor.hide_value(&mut set.value);
                }
            }
        }
        copy
    }
}

/// The bot's `global` variables, shared by all its users.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Globals {
    pub vars: Vars,
}
