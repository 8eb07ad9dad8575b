//! b. Two processors in one group, the group's leader SIGKILLed mid-stream: the survivor takes
//! over its partitions, and every record answered 200 is exactly one row.

use std::time::Duration;

use switchboard_core::Group;
use switchboard_kafka::{KafkaAdmin, KafkaConfig};
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
    let mut first = Service::new("processor", "processor-0", backends);
    let mut second = Service::new("processor", "processor-1", backends);
    let mut notifier = Service::new("notifier", "notifier", backends);
    let mut gateway = Service::new("gateway", "gateway", backends);
    // Both join the group's first generation: on tansu a static member added to a stable
    // cooperative group later may wait for partitions (docs/backends.md).
    first.start().await;
    second.start().await;
    notifier.start().await;
    gateway.start().await;
    eventually(
        "both processors assigned partitions",
        Duration::from_secs(60),
        || async { (assigned(&first) > 0 && assigned(&second) > 0).then_some(()) },
    )
    .await;
    // The one that dies is the group's leader, whose loss tansu 0.6 does not recover from by
    // itself (docs/backends.md); tansu names it, and a static member's id starts with its
    // instance id.
    let admin = KafkaAdmin::new(&KafkaConfig::new(&backends.kafka)).unwrap();
    let group = Group::new(&backends.group).unwrap();
    let leader = admin
        .group_leader(&group)
        .await
        .unwrap()
        .expect("tansu names the group's leader");
    let (mut victim, survivor) = if leader.starts_with("processor-1-") {
        (second, first)
    } else {
        assert!(leader.starts_with("processor-0-"), "leader {leader}");
        (first, second)
    };
    let survivor_before = assigned(&survivor);

    let csrf = gateway.http().csrf_token().await;
    let load = Load::start(gateway.port, &csrf, RECORDS);
    let mut rows = Rows::connect(&backends.postgres, &load.run).await;
    let at = rows.wait_for(RECORDS / 3, Duration::from_secs(120)).await;
    victim.kill();
    let killed = Instant::now();
    // The leader's session runs out; the survivor's rebalance then does not complete until its
    // watchdog, after the stall timeout (half the session timeout), repairs the group, and the
    // survivor's next join and sync take about 3 s each on tansu.
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
                "{} (the group's leader) killed at {at} rows; {} was assigned its partitions {:.1} s later (bound {:.0} s), after {repairs} repair(s) of the group by its watchdog",
                victim.name,
                survivor.name,
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
