//! The `http` statement's request side (LANGUAGE.md §8): URL templates in, request parts
//! out. The client, host policy and response handling come with issue 4.

pub mod body;
pub mod url;
