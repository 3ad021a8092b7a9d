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

#[derive(Default)]
struct Data {
    users: HashMap<String, User>,
    globals: Option<String>,
    /// (due, user) of every session with a timer.
    due: BTreeSet<(i64, String)>,
}

#[derive(Default)]
pub struct Memory {
    data: Mutex<Data>,
}

impl Memory {
    fn with<T>(&self, f: impl FnOnce(&mut Data) -> T) -> Result<T, StoreError> {
        let mut data = self
            .data
            .lock()
            .map_err(|_| StoreError::Fatal("the memory store was poisoned".into()))?;
        Ok(f(&mut data))
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
        ready(self.with(|_| ()))
    }

    fn load<'a>(&'a self, user_id: &'a str) -> Fut<'a, Option<String>> {
        ready(self.with(|d| d.users.get(user_id).and_then(|u| u.session.clone())))
    }

    fn processed<'a>(&'a self, user_id: &'a str, message_id: &'a str) -> Fut<'a, Option<String>> {
        ready(self.with(|d| {
            d.users
                .get(user_id)
                .and_then(|u| u.processed.get(message_id))
                .map(|(r, _)| r.clone())
        }))
    }

    fn globals(&self) -> Fut<'_, Option<String>> {
        ready(self.with(|d| d.globals.clone()))
    }

    fn commit(&self, c: Commit) -> Fut<'_, Option<i64>> {
        ready(
            self.with(|d| {
                let user = d.users.entry(c.user_id.clone()).or_default();
                if let Some((id, _)) = &c.processed {
                    if user.processed.contains_key(id) {
                        return Err(StoreError::Fatal(format!(
                            "message id {id:?} was processed already"
                        )));
                    }
                }
                let old_due = user.next_due;
                user.session = Some(c.session);
                user.next_due = c.next_due;
                if let Some(timers) = c.timers {
                    user.timers = timers;
                }
                if let Some((id, response)) = c.processed {
                    user.processed.insert(id, (response, c.now_ms));
                }
                let seq = c.outbox.map(|events| {
                    user.last_seq += 1;
                    let seq = user.last_seq;
                    user.outbox.insert(seq, (events, c.now_ms, None));
                    seq
                });
                if old_due != c.next_due {
                    if let Some(due) = old_due {
                        d.due.remove(&(due, c.user_id.clone()));
                    }
                    if let Some(due) = c.next_due {
                        d.due.insert((due, c.user_id.clone()));
                    }
                }
                if let Some(globals) = c.globals {
                    d.globals = Some(globals);
                }
                Ok(seq)
            })
            .and_then(|r| r),
        )
    }

    fn delete_user<'a>(&'a self, user_id: &'a str) -> Fut<'a, bool> {
        ready(self.with(|d| match d.users.remove(user_id) {
            Some(user) => {
                if let Some(due) = user.next_due {
                    d.due.remove(&(due, user_id.to_string()));
                }
                user.session.is_some()
            }
            None => false,
        }))
    }

    fn due(&self, now_ms: i64, limit: usize) -> Fut<'_, Vec<String>> {
        ready(self.with(|d| {
            d.due
                .iter()
                .take_while(|(due, _)| *due <= now_ms)
                .take(limit)
                .map(|(_, u)| u.clone())
                .collect()
        }))
    }

    fn next_due(&self) -> Fut<'_, Option<i64>> {
        ready(self.with(|d| d.due.first().map(|(due, _)| *due)))
    }

    fn outbox_after<'a>(
        &'a self,
        user_id: &'a str,
        after: i64,
        limit: usize,
    ) -> Fut<'a, Vec<OutboxEntry>> {
        ready(self.with(|d| {
            let Some(user) = d.users.get(user_id) else {
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
        ready(self.with(|d| {
            let mut out: Vec<OutboxEntry> = d
                .users
                .iter()
                .filter_map(|(id, u)| {
                    let (seq, (events, created, _)) = u
                        .outbox
                        .iter()
                        .find(|(_, (_, _, delivered))| delivered.is_none())?;
                    Some(OutboxEntry {
                        user_id: id.clone(),
                        seq: *seq,
                        events: events.clone(),
                        created_ms: *created,
                    })
                })
                .collect();
            out.sort_by(|a, b| (a.created_ms, &a.user_id).cmp(&(b.created_ms, &b.user_id)));
            out.truncate(limit);
            out
        }))
    }

    fn first_undelivered<'a>(&'a self, user_id: &'a str) -> Fut<'a, Option<OutboxEntry>> {
        ready(self.with(|d| {
            let user = d.users.get(user_id)?;
            let (seq, (events, created, _)) = user
                .outbox
                .iter()
                .find(|(_, (_, _, delivered))| delivered.is_none())?;
            Some(OutboxEntry {
                user_id: user_id.to_string(),
                seq: *seq,
                events: events.clone(),
                created_ms: *created,
            })
        }))
    }

    fn delivered<'a>(&'a self, user_id: &'a str, seq: i64, now_ms: i64) -> Fut<'a, ()> {
        ready(self.with(|d| {
            if let Some(user) = d.users.get_mut(user_id) {
                for (_, entry) in user.outbox.range_mut(..=seq) {
                    entry.2.get_or_insert(now_ms);
                }
            }
        }))
    }

    fn prune(&self, before_ms: i64, undelivered_too: bool) -> Fut<'_, u64> {
        ready(self.with(|d| {
            let mut gone = 0u64;
            for user in d.users.values_mut() {
                let before = user.outbox.len() + user.processed.len();
                user.outbox.retain(|_, (_, created, delivered)| {
                    *created >= before_ms || (delivered.is_none() && !undelivered_too)
                });
                user.processed.retain(|_, (_, at)| *at >= before_ms);
                gone += (before - user.outbox.len() - user.processed.len()) as u64;
            }
            gone
        }))
    }

    fn stats(&self) -> Fut<'_, Stats> {
        ready(self.with(|d| {
            Stats {
                sessions: d.users.values().filter(|u| u.session.is_some()).count() as u64,
                timers: d.users.values().map(|u| u.timers.len() as u64).sum(),
                backlog: d
                    .users
                    .values()
                    .map(|u| u.outbox.values().filter(|e| e.2.is_none()).count() as u64)
                    .sum(),
            }
        }))
    }
}
