//! e. The gateway SIGTERMed while produce and event-insert requests are in flight: every
//! request answered 2xx is stored, and requests that arrive after the signal are refused
//! cleanly (connection refused or 503) and write nothing.

use std::time::Duration;

use tokio::time::Instant;

use crate::{
    fleet::start_all,
    load::{Load, Mix, Outcome, Rows},
    report, serial,
    stack::{Own, Stack},
};

/// More than the clients can send before the signal: the load ends when the gateway is gone.
const RECORDS: u64 = 50_000;
/// Answered requests before the signal.
const BEFORE_SIGNAL: u64 = 1_500;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e_gateway_drained_on_sigterm() {
    let _serial = serial().await;
    let started = Instant::now();
    let stack = Stack::start("e", Own::default()).await;
    let backends = &stack.backends;
    let (processor, notifier, mut gateway) = start_all(backends).await;

    let csrf = gateway.http().csrf_token().await;
    let load = Load::start_mix(gateway.port, &csrf, RECORDS, Mix::ProduceAndInsert);
    let mut rows = Rows::connect(&backends.postgres, &load.run).await;
    // Inserts land at once, produced records once the processor got them.
    rows.wait_for(BEFORE_SIGNAL / 2, Duration::from_secs(120))
        .await;
    gateway.terminate();
    let signalled = Instant::now();
    let status = gateway.wait_exit(Duration::from_secs(30)).await;
    let drained = signalled.elapsed();
    assert!(
        status.success(),
        "the gateway exited with {status}\n{}",
        gateway.log_tail()
    );
    let sent = load.finish(Duration::from_secs(60)).await;
    let tally = rows.settle(&sent.ok, Duration::from_secs(180)).await;

    let after_signal = |outcome: &dyn Fn(&Outcome) -> bool| {
        sent.refused
            .iter()
            .filter(|(seq, o)| sent.timing[seq].0 > signalled && outcome(o))
            .count()
    };
    let refused = after_signal(&|o| *o == Outcome::Refused);
    let unavailable = after_signal(&|o| *o == Outcome::Answered(503));
    let unanswered = after_signal(&|o| *o == Outcome::NoAnswer);
    let other: Vec<_> = sent
        .refused
        .iter()
        .filter(|(_, o)| {
            !matches!(
                o,
                Outcome::Refused | Outcome::Answered(503) | Outcome::NoAnswer
            )
        })
        .collect();
    let answered_after = sent
        .ok
        .iter()
        .filter(|seq| sent.timing[seq].0 > signalled)
        .count();
    // Sent before the signal, answered after it: what the drain let finish.
    let drained_ok = sent
        .ok
        .iter()
        .filter(|seq| sent.timing[seq].0 < signalled && sent.timing[seq].1 > signalled)
        .count();
    report(
        "e: gateway drained",
        &[
            format!(
                "SIGTERM after {} requests; {drained_ok} in flight then were answered 2xx during the drain; the gateway exited 0 {:.2} s later",
                sent.timing
                    .values()
                    .filter(|(at, _)| *at < signalled)
                    .count(),
                drained.as_secs_f64()
            ),
            format!(
                "sent after the signal: {answered_after} answered 2xx (accepted before the listener closed), {refused} connection refused, {unavailable} answered 503, {unanswered} closed unanswered"
            ),
            tally.summary(&sent),
            format!("took {:.1} s", started.elapsed().as_secs_f64()),
        ],
    );
    tally.assert_exactly_once("e");
    assert!(
        tally.unexpected.is_empty(),
        "refused requests were written: {:?}",
        &tally.unexpected[..tally.unexpected.len().min(10)]
    );
    assert!(other.is_empty(), "unexpected answers: {other:?}");
    assert!(
        refused > 0,
        "no request reached the gateway after it stopped"
    );
    drop((processor, notifier));
    stack.finish().await;
}
