//! a. The processor SIGKILLed three times while 10,000 keyed records flow through the gateway
//! from 16 clients: every record answered 200 is exactly one row, and processing resumes
//! within the session timeout + 5 s of each restart.

use std::time::Duration;

use tokio::time::Instant;

use crate::{
    fleet::{SESSION_TIMEOUT, start_all},
    load::{Load, Rows},
    report, serial,
    stack::{Own, Stack},
};

const RECORDS: u64 = 10_000;
const KILLS: u64 = 3;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_processor_killed_three_times() {
    let _serial = serial().await;
    let started = Instant::now();
    let stack = Stack::start("a", Own::default()).await;
    let backends = &stack.backends;
    let (mut processor, notifier, gateway) = start_all(backends).await;

    let csrf = gateway.http().csrf_token().await;
    let load = Load::start(gateway.port, &csrf, RECORDS);
    let mut rows = Rows::connect(&backends.postgres, &load.run).await;
    let bound = SESSION_TIMEOUT + Duration::from_secs(5);
    let mut figures = Vec::new();
    for kill in 1..=KILLS {
        // Kill once a quarter, a half, three quarters of the records are rows.
        let at = rows
            .wait_for(RECORDS * kill / (KILLS + 1), Duration::from_secs(180))
            .await;
        processor.kill();
        let before = rows.count().await;
        processor.spawn();
        let restarted = Instant::now();
        let resumed = loop {
            // The killed process may have had one insert in flight: one more is the new one's.
            let now = rows.count().await;
            if now > before + 1 {
                break restarted.elapsed();
            }
            assert!(
                restarted.elapsed() < bound,
                "kill {kill}: no new row within {bound:?} of the restart ({now} rows)\n{}",
                processor.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        figures.push(format!(
            "kill {kill}: at {at} rows (sent {}); processing resumed {:.1} s after the restart (bound {:.0} s)",
            load.started(),
            resumed.as_secs_f64(),
            bound.as_secs_f64()
        ));
    }
    let sent = load.finish(Duration::from_secs(300)).await;
    let tally = rows.settle(&sent.ok, Duration::from_secs(180)).await;
    figures.push(tally.summary(&sent));
    figures.push(format!("took {:.1} s", started.elapsed().as_secs_f64()));
    report("a: processor killed 3 times", &figures);
    assert_eq!(sent.ok.len() as u64, RECORDS, "refused: {:?}", sent.refused);
    tally.assert_exactly_once("a");
    drop((processor, notifier, gateway));
    stack.finish().await;
}
