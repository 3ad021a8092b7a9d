//! The bot as `serve` runs it: the compiled [`Runtime`] (shared by every session) and what the
//! server needs to know of it beforehand — which webhooks it has, and which turns may touch a
//! `global` variable (those take the globals lock; the others run without it).

use std::collections::{HashMap, HashSet};

use crate::check::BlockId;
use crate::eval::{Input, Runtime, Session};
use crate::graph::Origin;
use crate::syntax::ast::{Event as Trigger, Scope};
use crate::value::Value;

pub struct Bot {
    pub runtime: Runtime,
    /// `--var` and `--secret` presets, given to every session it loads.
    pub presets: Vec<(String, Value, bool)>,
    /// The names of the bot's `on webhook "…"` triggers.
    pub webhooks: HashSet<String>,
    /// Per block (indexed like `Program::blocks`): a turn there may read or write a global,
    /// in the block or in one it can go on to.
    reaches_globals: Vec<bool>,
    /// Whether some trigger (any / an `anytime` one / a webhook's) leads to such a block.
    trigger_reaches: bool,
    anytime_reaches: bool,
    webhook_reaches: HashMap<String, bool>,
}

impl Bot {
    pub fn new(runtime: Runtime, presets: Vec<(String, Value, bool)>) -> Bot {
        let program = runtime.program();
        let globals: Vec<&str> = program
            .declarations
            .iter()
            .filter(|(_, d)| d.scope == Scope::Global)
            .map(|(name, _)| name.as_str())
            .collect();
        // A block touches a global when its text names one: `%n%`, `%n.x%`, `%n[0]%`.
        // Textual, so a comment or a string that names it counts too: never too few.
        let sources = runtime.sources();
        let touches: Vec<bool> = program
            .blocks
            .iter()
            .map(|info| {
                let Some(block) = info
                    .index
                    .and_then(|i| program.files[info.scenario].blocks.get(i))
                else {
                    return false;
                };
                let file = program.scenarios[info.scenario].file;
                let text = sources
                    .files
                    .get(file)
                    .and_then(|f| f.text.get(block.span.start..block.span.end))
                    .unwrap_or("");
                !globals.is_empty() && names_any(text, &globals)
            })
            .collect();
        let graph = crate::graph::build(program, sources);
        let mut next: Vec<Vec<BlockId>> = vec![Vec::new(); program.blocks.len()];
        for edge in &graph.edges {
            if let Origin::Block(from) = edge.from {
                next[from.index()].push(edge.to);
            }
        }
        // Backwards closure: a block reaches globals if it touches one or goes on to one that
        // does.
        let mut reaches = touches;
        loop {
            let mut changed = false;
            for b in 0..reaches.len() {
                if !reaches[b] && next[b].iter().any(|to| reaches[to.index()]) {
                    reaches[b] = true;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        let mut webhooks = HashSet::new();
        let mut webhook_reaches: HashMap<String, bool> = HashMap::new();
        let (mut trigger_reaches, mut anytime_reaches) = (false, false);
        for (scenario, file) in program.files.iter().enumerate() {
            for t in &file.triggers {
                let target = program.resolve(scenario, &t.target);
                let hit = target.is_some_and(|id| reaches[id.index()]);
                if let Trigger::Webhook(name) = &t.event {
                    webhooks.insert(name.clone());
                    *webhook_reaches.entry(name.clone()).or_default() |= hit;
                    continue;
                }
                trigger_reaches |= hit;
                anytime_reaches |= hit && t.anytime;
            }
        }
        Bot {
            runtime,
            presets,
            webhooks,
            reaches_globals: reaches,
            trigger_reaches,
            anytime_reaches,
            webhook_reaches,
        }
    }

    /// Whether this turn may read or write a global variable: where the session stands, the
    /// buttons it can press, its timers and the triggers the input can start, any of them
    /// leading to a block that names one.
    pub fn may_touch_globals(&self, session: &Session, input: &Input) -> bool {
        let program = self.runtime.program();
        let reaches = |scenario: &str, block: &str| {
            program
                .scenario_index(scenario)
                .and_then(|s| program.scenarios[s].blocks.get(block))
                .is_none_or(|id| self.reaches_globals[id.index()])
        };
        let position = session
            .waiting
            .iter()
            .chain(&session.stack)
            .any(|f| reaches(&f.scenario, &f.block));
        if position {
            return true;
        }
        match input {
            Input::Message(_) => {
                session
                    .buttons
                    .iter()
                    .any(|b| reaches(&b.scenario, &b.block))
                    || if session.is_waiting() {
                        self.anytime_reaches
                    } else {
                        self.trigger_reaches
                    }
            }
            Input::Webhook { name, .. } => self.webhook_reaches.get(name).copied().unwrap_or(false),
            Input::Timer => session
                .timeout
                .iter()
                .chain(session.timers.iter())
                .any(|t| reaches(&t.scenario, &t.block)),
        }
    }

    /// A saved session, made ready for a turn: the bot's new `user` variables added, its
    /// position checked (a warning when it no longer exists), the presets given.
    pub fn prepare(&self, session: &mut Session) -> Option<String> {
        let mut unused = crate::eval::Globals::default();
        self.runtime.refresh(session, &mut unused);
        let warning = self.runtime.check_position(session);
        for (name, value, secret) in &self.presets {
            // Checked when the server started: a special variable is refused there.
            let _ = self.runtime.preset(session, name, value.clone(), *secret);
        }
        warning
    }
}

/// Whether `text` names one of `names` as a variable.
fn names_any(text: &str, names: &[&str]) -> bool {
    let bytes = text.as_bytes();
    memchr::memchr_iter(b'%', bytes).any(|at| {
        let rest = &text[at + 1..];
        names.iter().any(|name| {
            rest.strip_prefix(name)
                .and_then(|after| after.bytes().next())
                .is_some_and(|c| matches!(c, b'%' | b'.' | b'['))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::Options;
    use crate::Sources;

    fn bot(text: &str) -> Bot {
        let sources = Sources::from_texts([("bot.scn", text)]);
        let program = crate::compile(&sources).unwrap_or_else(|d| panic!("{d:?}"));
        Bot::new(
            Runtime::new(program, sources, Options::default()),
            Vec::new(),
        )
    }

    #[test]
    fn only_turns_that_can_reach_a_global_take_the_lock() {
        let bot = bot("global %n% = 0\n\
             on message \"count\" goto count\n\
             on message \"echo\" goto echo\n\
             on webhook \"ping\" goto echo\n\
             on webhook \"bump\" goto bump\n\
             block count { say \"one\"; goto add }\n\
             block add { set %n% += 1 }\n\
             block echo { say \"%message%\" }\n\
             block bump { goto add }\n");
        let runtime = &bot.runtime;
        let idle = runtime.new_session("u", "U");
        // Idle: a message may start the trigger to `count`, which goes on to `add`.
        assert!(bot.may_touch_globals(&idle, &Input::Message("echo".into())));
        let ping = Input::Webhook {
            name: "ping".into(),
            payload: Value::Null,
        };
        let bump = Input::Webhook {
            name: "bump".into(),
            payload: Value::Null,
        };
        assert!(!bot.may_touch_globals(&idle, &ping));
        assert!(bot.may_touch_globals(&idle, &bump));
        assert!(!bot.may_touch_globals(&idle, &Input::Timer));
        assert!(names_any("say \"%n.x%\"", &["n"]));
        assert!(!names_any("say \"%nn%\" 100%", &["n"]));
    }

    #[test]
    fn a_bot_without_globals_never_takes_the_lock() {
        let bot = bot("on message goto e\nblock e { say \"%message%\" }\n");
        let idle = bot.runtime.new_session("u", "U");
        assert!(!bot.may_touch_globals(&idle, &Input::Message("hi".into())));
    }
}
