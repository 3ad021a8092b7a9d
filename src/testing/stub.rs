//! The transport of a test conversation: requests in, the file's stubs out, in order. Every
//! request is logged as the interpreter rendered it, so the runner can compare it with the one
//! the file expects. No network, ever.

use std::sync::Mutex;

use super::format::{Conversation, Item, Stub};
use crate::http::{Failure, Request, Sent, Transport};

/// What the bot gets when it makes more requests than the file has stubs.
pub const NO_STUB: &str = "no stub in the test for this request";

pub struct Stubs<'a> {
    stubs: Vec<&'a Stub>,
    /// `--max-response-bytes`: a larger stub body fails as a real one would.
    max_response_bytes: u64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    next: usize,
    log: Vec<Request>,
}

impl<'a> Stubs<'a> {
    /// The stubs of a conversation's exchanges, in order.
    pub fn new(c: &'a Conversation, max_response_bytes: u64) -> Stubs<'a> {
        let stubs = c
            .turns
            .iter()
            .flat_map(|t| &t.outputs)
            .filter_map(|e| match &e.item {
                Item::Exchange(x) => Some(&x.stub),
                Item::Output(_) => None,
            })
            .collect();
        Stubs {
            stubs,
            max_response_bytes,
            state: Mutex::new(State::default()),
        }
    }

    /// The requests made so far, from the `from`-th on.
    pub fn requests_since(&self, from: usize) -> Vec<Request> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state
            .log
            .get(from..)
            .map(<[Request]>::to_vec)
            .unwrap_or_default()
    }
}

impl Transport for Stubs<'_> {
    fn send<'r>(&'r self, request: &'r Request) -> Sent<'r> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.log.push(request.clone());
        let answer = match self.stubs.get(state.next) {
            Some(Stub::Response(r)) if r.body.len() as u64 > self.max_response_bytes => {
                Err(Failure(crate::http::too_large(self.max_response_bytes)))
            }
            Some(Stub::Response(r)) => Ok(r.clone()),
            Some(Stub::Failure(reason)) => Err(Failure(reason.clone())),
            None => Err(Failure(NO_STUB.into())),
        };
        state.next += 1;
        Box::pin(std::future::ready(answer))
    }
}
