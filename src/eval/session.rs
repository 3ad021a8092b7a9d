//! One user's conversation as plain data: where it waits, its call stack, its variables and
//! the buttons of its latest message. It serializes to JSON and back without loss, so a
//! conversation can stop between two messages and continue in another process.

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
        if self.presets != self.configured {
            self.presets.clone_from(&self.configured);
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
        }
        copy
    }
}

/// The bot's `global` variables, shared by all its users.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Globals {
    pub vars: Vars,
}
