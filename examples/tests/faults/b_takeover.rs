//! b. Two processors in one group, the group's leader SIGKILLed mid-stream: the survivor takes
//! over its partitions, and every record answered 200 is exactly one row.

use std::time::Duration;

use tokio::time::Instant;

use crate::{
    eventually,
    fleet::{SESSION_TIMEOUT, Service},
    load::{Load, Rows},
    report, serial,
    stack::{Own, Stack},
};

const RECORDS: u64 = 4_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn b_survivor_takes_over() {
    let _serial = serial().await;
    let started = Instant::now();
    let stack = Stack::start("b", Own::default()).await;
    let backends = &stack.backends;
    let mut victim = Service::new("processor", "processor-0", backends);
    let mut survivor = Service::new("processor", "processor-1", backends);
    let mut notifier = Service::new("notifier", "notifier", backends);
    let mut gateway = Service::new("gateway", "gateway", backends);
    // The first member of a group leads it, so processor-0 does: the one that dies is the
    // leader, whose loss tansu 0.6 cannot recover from by itself (docs/backends.md).
    victim.start().await;
    eventually(
        "processor-0 assigned partitions",
        Duration::from_secs(60),
        || async { (assigned(&victim) > 0).then_some(()) },
    )
    .await;
    survivor.start().await;
    notifier.start().await;
    gateway.start().await;
    eventually(
        "both processors assigned partitions",
        Duration::from_secs(60),
        || async { (assigned(&survivor) > 0 && assigned(&victim) > 0).then_some(()) },
    )
    .await;
    let survivor_before = assigned(&survivor);

    let csrf = gateway.http().csrf_token().await;
    let load = Load::start(gateway.port, &csrf, RECORDS);
    let mut rows = Rows::connect(&backends.postgres, &load.run).await;
    let at = rows.wait_for(RECORDS / 3, Duration::from_secs(120)).await;
    victim.kill();
    let killed = Instant::now();
    // The leader's session runs out; on tansu the survivor's rebalance then never completes
    // until its watchdog, after the stall timeout (half the session timeout), repairs the group,
    // and the survivor's next join and sync take about 3 s each.
    let bound = SESSION_TIMEOUT + SESSION_TIMEOUT / 2 + Duration::from_secs(15);
    let takeover = eventually("the survivor taking over", bound, || async {
        (assigned(&survivor) > survivor_before).then(|| killed.elapsed())
    })
    .await;
    let repairs = survivor.log().matches("stood in for it and left").count();
    let sent = load.finish(Duration::from_secs(300)).await;
    let tally = rows.settle(&sent.ok, Duration::from_secs(180)).await;
    report(
        "b: takeover",
        &[
            format!(
                "processor-0 (the group's leader) killed at {at} rows; processor-1 was assigned its partitions {:.1} s later (bound {:.0} s); the survivor's watchdog repaired the group {repairs} time(s)",
                takeover.as_secs_f64(),
                bound.as_secs_f64()
            ),
            tally.summary(&sent),
            format!("took {:.1} s", started.elapsed().as_secs_f64()),
        ],
    );
    assert_eq!(sent.ok.len() as u64, RECORDS, "refused: {:?}", sent.refused);
    tally.assert_exactly_once("b");
    drop((survivor, notifier, gateway));
    stack.finish().await;
}

/// How many times the member logged a partition assignment.
fn assigned(processor: &Service) -> usize {
    processor.log().matches("partition assigned").count()
}
