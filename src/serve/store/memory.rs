//! `--store memory:`: everything in the process, gone when it stops. For trying a bot out,
//! and the measure of what the server costs without a database.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use super::{Commit, Fut, OutboxEntry, Stats, Store, StoreError, TimerRow};

#[derive(Default)]
struct User {
    session: Option<String>,
    next_due: Option<i64>,
    timers: Vec<TimerRow>,
    processed: HashMap<String, (String, i64)>,
    /// The last outbox seq given (kept when entries are pruned: a seq is never reused).
    last_seq: i64,
    /// seq → (events, created, delivered)
    outbox: BTreeMap<i64, (String, i64, Option<i64>)>,
}

/// How many parts the users are split into, each under a lock of its own: turns of different
/// users rarely wait for each other, and a part's table grows (and is copied when it does)
/// without stopping the others.
const SHARDS: usize = 64;

/// What belongs to no user: the globals and the timer index.
#[derive(Default)]
struct Common {
    globals: Option<String>,
    /// (due, user) of every session with a timer.
    due: BTreeSet<(i64, String)>,
}

pub struct Memory {
    shards: Vec<Mutex<HashMap<String, User>>>,
    common: Mutex<Common>,
}

impl Default for Memory {
    fn default() -> Memory {
        Memory {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            common: Mutex::default(),
        }
    }
}

fn poisoned<T>(_: T) -> StoreError {
    StoreError::Fatal("the memory store was poisoned".into())
}

impl Memory {
    fn shard(&self, user_id: &str) -> &Mutex<HashMap<String, User>> {
        use std::hash::Hasher;
        // Keyed the same in every process: a user always lands in the same part.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        h.write(user_id.as_bytes());
        &self.shards[(h.finish() as usize) % SHARDS]
    }

    /// `f` on the part holding `user_id`.
    fn with_user<T>(
        &self,
        user_id: &str,
        f: impl FnOnce(&mut HashMap<String, User>) -> T,
    ) -> Result<T, StoreError> {
        Ok(f(&mut *self.shard(user_id).lock().map_err(poisoned)?))
    }

    fn with_common<T>(&self, f: impl FnOnce(&mut Common) -> T) -> Result<T, StoreError> {
        Ok(f(&mut *self.common.lock().map_err(poisoned)?))
    }

    /// `f` on every part in turn.
    fn each_shard(&self, mut f: impl FnMut(&mut HashMap<String, User>)) -> Result<(), StoreError> {
        for shard in &self.shards {
            f(&mut *shard.lock().map_err(poisoned)?);
        }
        Ok(())
    }
}

impl User {
    /// The user's first entry not delivered yet.
    fn first_undelivered(&self, user_id: &str) -> Option<OutboxEntry> {
        let (seq, (events, created, _)) = self
            .outbox
            .iter()
            .find(|(_, (_, _, delivered))| delivered.is_none())?;
        Some(OutboxEntry {
            user_id: user_id.to_string(),
            seq: *seq,
            events: events.clone(),
            created_ms: *created,
        })
    }
}

fn ready<'a, T: Send + 'a>(value: Result<T, StoreError>) -> Fut<'a, T> {
    Box::pin(std::future::ready(value))
}

impl Store for Memory {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn ping(&self) -> Fut<'_, ()> {
        ready(self.with_common(|_| ()))
    }

    fn load<'a>(&'a self, user_id: &'a str) -> Fut<'a, Option<String>> {
        ready(self.with_user(user_id, |users| {
            users.get(user_id).and_then(|u| u.session.clone())
        }))
    }

    fn processed<'a>(&'a self, user_id: &'a str, message_id: &'a str) -> Fut<'a, Option<String>> {
        ready(self.with_user(user_id, |users| {
            users
                .get(user_id)
                .and_then(|u| u.processed.get(message_id))
                .map(|(r, _)| r.clone())
        }))
    }

    fn globals(&self) -> Fut<'_, Option<String>> {
        ready(self.with_common(|c| c.globals.clone()))
    }

    fn commit(&self, c: Commit) -> Fut<'_, Option<i64>> {
        let committed = self.with_user(&c.user_id, |users| {
            let user = users.entry(c.user_id.clone()).or_default();
            if let Some((id, _)) = &c.processed {
                if user.processed.contains_key(id) {
                    return Err(StoreError::Fatal(format!(
                        "message id {id:?} was processed already"
                    )));
                }
            }
            let old_due = user.next_due;
            // The part stays locked while the globals and the timer index change too: the
            // turn is seen whole or not at all.
            self.with_common(|common| {
                if old_due != c.next_due {
                    if let Some(due) = old_due {
                        common.due.remove(&(due, c.user_id.clone()));
                    }
                    if let Some(due) = c.next_due {
                        common.due.insert((due, c.user_id.clone()));
                    }
                }
                if let Some(globals) = c.globals {
                    common.globals = Some(globals);
                }
            })?;
            user.session = Some(c.session);
            user.next_due = c.next_due;
            if let Some(timers) = c.timers {
                user.timers = timers;
            }
            if let Some((id, response)) = c.processed {
                user.processed.insert(id, (response, c.now_ms));
            }
            Ok(c.outbox.map(|events| {
                user.last_seq += 1;
                let seq = user.last_seq;
                user.outbox.insert(seq, (events, c.now_ms, None));
                seq
            }))
        });
        ready(committed.and_then(|r| r))
    }

    fn delete_user<'a>(&'a self, user_id: &'a str) -> Fut<'a, bool> {
        let deleted = self.with_user(user_id, |users| match users.remove(user_id) {
            Some(user) => {
                if let Some(due) = user.next_due {
                    self.with_common(|c| c.due.remove(&(due, user_id.to_string())))?;
                }
                Ok(user.session.is_some())
            }
            None => Ok(false),
        });
        ready(deleted.and_then(|r| r))
    }

    fn due(&self, now_ms: i64, limit: usize) -> Fut<'_, Vec<String>> {
        ready(self.with_common(|c| {
            c.due
                .iter()
                .take_while(|(due, _)| *due <= now_ms)
                .take(limit)
                .map(|(_, u)| u.clone())
                .collect()
        }))
    }

    fn next_due(&self) -> Fut<'_, Option<i64>> {
        ready(self.with_common(|c| c.due.first().map(|(due, _)| *due)))
    }

    fn outbox_after<'a>(
        &'a self,
        user_id: &'a str,
        after: i64,
        limit: usize,
    ) -> Fut<'a, Vec<OutboxEntry>> {
        ready(self.with_user(user_id, |users| {
            let Some(user) = users.get(user_id) else {
                return Vec::new();
            };
            user.outbox
                .range(after.saturating_add(1)..)
                .take(limit)
                .map(|(seq, (events, created, _))| OutboxEntry {
                    user_id: user_id.to_string(),
                    seq: *seq,
                    events: events.clone(),
                    created_ms: *created,
                })
                .collect()
        }))
    }

    fn undelivered(&self, limit: usize) -> Fut<'_, Vec<OutboxEntry>> {
        let mut out = Vec::new();
        let listed = self.each_shard(|users| {
            out.extend(
                users
                    .iter()
                    .filter_map(|(id, user)| user.first_undelivered(id)),
            )
        });
        out.sort_by(|a, b| (a.created_ms, &a.user_id).cmp(&(b.created_ms, &b.user_id)));
        out.truncate(limit);
        ready(listed.map(|()| out))
    }

    fn first_undelivered<'a>(&'a self, user_id: &'a str) -> Fut<'a, Option<OutboxEntry>> {
        ready(self.with_user(user_id, |users| {
            users.get(user_id)?.first_undelivered(user_id)
        }))
    }

    fn delivered<'a>(&'a self, user_id: &'a str, seq: i64, now_ms: i64) -> Fut<'a, ()> {
        ready(self.with_user(user_id, |users| {
            if let Some(user) = users.get_mut(user_id) {
                for (_, entry) in user.outbox.range_mut(..=seq) {
                    entry.2.get_or_insert(now_ms);
                }
            }
        }))
    }

    fn prune(&self, before_ms: i64, undelivered_too: bool) -> Fut<'_, u64> {
        let mut gone = 0u64;
        let pruned = self.each_shard(|users| {
            for user in users.values_mut() {
                let before = user.outbox.len() + user.processed.len();
                user.outbox.retain(|_, (_, created, delivered)| {
                    *created >= before_ms || (delivered.is_none() && !undelivered_too)
                });
                user.processed.retain(|_, (_, at)| *at >= before_ms);
                gone += (before - user.outbox.len() - user.processed.len()) as u64;
            }
        });
        ready(pruned.map(|()| gone))
    }

    fn stats(&self) -> Fut<'_, Stats> {
        let mut stats = Stats::default();
        let counted = self.each_shard(|users| {
            for user in users.values() {
                stats.sessions += u64::from(user.session.is_some());
                stats.timers += user.timers.len() as u64;
                stats.backlog += user.outbox.values().filter(|e| e.2.is_none()).count() as u64;
            }
        });
        ready(counted.map(|()| stats))
    }
}
