//! Request/reply cases.

use std::{
    collections::HashMap,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use bytes::Bytes;
use tower::{ServiceExt, service_fn};

use super::{Names, RequestReplyFixture};
use crate::{BoxError, Envelope, Error, RequestService, Requester, Responder};

const WAIT: Duration = Duration::from_secs(10);

fn echo_service() -> impl tower::Service<Envelope, Response = Bytes, Error = BoxError, Future: Send>
+ Clone
+ Send
+ 'static {
    service_fn(|msg: Envelope| async move {
        let mut body = b"echo: ".to_vec();
        body.extend_from_slice(msg.payload());
        Ok::<_, BoxError>(Bytes::from(body))
    })
}

/// A request is answered by the responder's service, with the round-trip time measured.
pub async fn echo<F: RequestReplyFixture>(f: &F) {
    let names = Names::unique();
    let subject = names.subject("echo");
    let _serving = f
        .responder()
        .serve(&subject, None, echo_service())
        .await
        .expect("serve");
    let svc = RequestService::new(f.requester()).with_timeout(WAIT);
    for i in 0..20 {
        let reply = svc
            .clone()
            .oneshot(Envelope::new(subject.clone(), format!("hi {i}")))
            .await
            .expect("request");
        assert_eq!(reply.payload.as_ref(), format!("echo: hi {i}").as_bytes());
        assert!(
            reply.rtt > Duration::ZERO && reply.rtt < WAIT,
            "implausible rtt {:?}",
            reply.rtt
        );
    }
}

/// A responder that never answers makes the request fail with a timeout.
pub async fn timeout_when_nobody_answers<F: RequestReplyFixture>(f: &F) {
    let names = Names::unique();
    let subject = names.subject("silent");
    let silent = service_fn(|_: Envelope| futures::future::pending::<Result<Bytes, BoxError>>());
    let _serving = f
        .responder()
        .serve(&subject, None, silent)
        .await
        .expect("serve");
    let timeout = Duration::from_millis(300);
    let err = f
        .requester()
        .request(Envelope::new(subject, "anyone?"), timeout)
        .await
        .expect_err("no reply expected");
    assert!(
        matches!(err, Error::Timeout { after } if after == timeout),
        "expected a timeout, got {err:?}"
    );
}

/// A request to a subject nobody serves fails fast with "no responders", not a timeout.
pub async fn no_responders_fails_fast<F: RequestReplyFixture>(f: &F) {
    let names = Names::unique();
    let started = std::time::Instant::now();
    let err = f
        .requester()
        .request(
            Envelope::new(names.subject("nobody"), "hello?"),
            Duration::from_secs(10),
        )
        .await
        .expect_err("no responder expected");
    assert!(
        matches!(err, Error::NoResponders { .. }),
        "expected NoResponders, got {err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no-responders took {:?}",
        started.elapsed()
    );
}

/// A failing service answers with its error, which the requester sees as a remote error.
pub async fn failing_service_is_a_remote_error<F: RequestReplyFixture>(f: &F) {
    let names = Names::unique();
    let subject = names.subject("failing");
    let failing =
        service_fn(|_: Envelope| async { Err::<Bytes, BoxError>("database is on fire".into()) });
    let _serving = f
        .responder()
        .serve(&subject, None, failing)
        .await
        .expect("serve");
    let err = f
        .requester()
        .request(Envelope::new(subject, "x"), WAIT)
        .await
        .expect_err("remote error expected");
    assert!(
        matches!(&err, Error::Remote { message } if message.contains("database is on fire")),
        "got {err:?}"
    );
}

/// Two responders in one queue group share the requests; each request is answered once.
pub async fn load_shared_across_two_responders<F: RequestReplyFixture>(f: &F) {
    let names = Names::unique();
    let subject = names.subject("shared");
    let group = names.group("workers");
    let calls = Arc::new(AtomicUsize::new(0));
    let named = |name: &'static str| {
        let calls = calls.clone();
        service_fn(move |_: Envelope| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { Ok::<_, BoxError>(Bytes::from_static(name.as_bytes())) }
        })
    };
    let _a = f
        .responder()
        .serve(&subject, Some(&group), named("a"))
        .await
        .expect("serve a");
    let _b = f
        .responder()
        .serve(&subject, Some(&group), named("b"))
        .await
        .expect("serve b");
    let requester = f.requester();
    let mut counts: HashMap<Bytes, usize> = HashMap::new();
    for i in 0..60 {
        let reply = requester
            .request(Envelope::new(subject.clone(), i.to_string()), WAIT)
            .await
            .expect("request");
        *counts.entry(reply.payload).or_default() += 1;
    }
    assert_eq!(counts.values().sum::<usize>(), 60);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let calls = calls.load(Ordering::SeqCst);
    assert_eq!(
        calls, 60,
        "each request must reach one member of the group, not all"
    );
    assert!(
        counts.get(&Bytes::from_static(b"a")).copied().unwrap_or(0) > 0,
        "responder a got nothing: {counts:?}"
    );
    assert!(
        counts.get(&Bytes::from_static(b"b")).copied().unwrap_or(0) > 0,
        "responder b got nothing: {counts:?}"
    );
}
