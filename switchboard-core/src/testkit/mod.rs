//! The conformance kit: one generic async test per behaviour, which every backend runs.
//!
//! A backend crate writes one `setup` function per capability that returns a fixture handing
//! out its transports, then invokes the matching macro in a test file:
//!
//! ```ignore
//! async fn setup() -> MyFixture { MyFixture::connect().await }
//! switchboard_core::pubsub_conformance!(setup);
//! ```
//!
//! Each case takes unique names from [`Names`], so cases run in parallel against one server and
//! leave nothing behind that another run could see. Every wait is bounded: a case that hangs
//! fails with a message saying what it was waiting for. The list of cases and the backends that
//! pass them is in `docs/conformance.md`.

pub mod assigned;
pub mod interop;
pub mod kv;
pub mod log;
pub mod pubsub;
pub mod request;
pub mod router;
pub mod store;
pub mod traced;

mod fixtures;
mod macros;
mod plain;

use std::{future::Future, time::Duration};

use futures::{Stream, StreamExt};

pub use fixtures::{
    EventStoreFixture, KeyValueFixture, LogFixture, PubSubFixture, RequestReplyFixture,
};
pub use plain::{
    PlainLogFixture, PlainMessage, PlainPubSubFixture, PlainRequestFixture, PlainStream,
};

use crate::{Group, Namespace, Pattern, Result, Subject};

/// Unique names for one test case, under `sbtest.<id>`.
#[derive(Clone, Debug)]
pub struct Names {
    id: String,
}

impl Names {
    /// Fresh names, unique across processes and runs.
    pub fn unique() -> Self {
        let uuid = uuid::Uuid::now_v7().simple().to_string();
        // The random tail of a UUIDv7 is unique enough and keeps names short.
        Names {
            id: format!("t{}", &uuid[uuid.len() - 16..]),
        }
    }

    /// The unique id, usable as a token.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `sbtest.<id>.<suffix>`.
    pub fn subject(&self, suffix: &str) -> Subject {
        Subject::new(format!("sbtest.{}.{suffix}", self.id)).expect("valid test subject")
    }

    /// `sbtest.<id>.<suffix>` as a pattern; `suffix` may hold wildcards.
    pub fn pattern(&self, suffix: &str) -> Pattern {
        Pattern::new(format!("sbtest.{}.{suffix}", self.id)).expect("valid test pattern")
    }

    /// `<id>-<name>` as a group.
    pub fn group(&self, name: &str) -> Group {
        Group::new(format!("{}-{name}", self.id)).expect("valid test group")
    }

    /// `<id>-<name>` as a namespace.
    pub fn namespace(&self, name: &str) -> Namespace {
        Namespace::new(format!("{}-{name}", self.id)).expect("valid test namespace")
    }
}

/// Awaits `fut`, failing the test with `what` if it takes longer than `limit`.
pub async fn within<T>(limit: Duration, what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {limit:?} waiting for {what}"),
    }
}

/// The next item of `stream`, failing the test on timeout, end of stream or error.
pub async fn next_ok<T, S>(stream: &mut S, limit: Duration, what: &str) -> T
where
    S: Stream<Item = Result<T>> + Unpin,
{
    match within(limit, what, stream.next()).await {
        Some(Ok(item)) => item,
        Some(Err(err)) => panic!("error while waiting for {what}: {err} ({err:?})"),
        None => panic!("stream ended while waiting for {what}"),
    }
}

/// Asserts that `stream` yields nothing for `quiet`.
pub async fn assert_quiet<T: std::fmt::Debug, S>(stream: &mut S, quiet: Duration, what: &str)
where
    S: Stream<Item = Result<T>> + Unpin,
{
    match tokio::time::timeout(quiet, stream.next()).await {
        Err(_) => {}
        Ok(Some(item)) => panic!("expected nothing on {what}, got {item:?}"),
        Ok(None) => panic!("{what} ended while it should stay open"),
    }
}
