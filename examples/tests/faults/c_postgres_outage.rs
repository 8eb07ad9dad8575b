//! c. PostgreSQL stopped for 10 s mid-stream: the processor acks nothing it has not stored,
//! its `/health` says degraded, and once PostgreSQL is back every record is exactly one row.

use std::{
    collections::BTreeMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use sqlx::{Connection, PgConnection};
use switchboard_core::{Group, Topic};
use switchboard_flows::EVENTS_TOPIC;
use switchboard_kafka::{KafkaAdmin, KafkaConfig};
use tokio::time::Instant;

use crate::{
    eventually,
    fleet::start_all,
    load::{Load, Rows},
    report, serial,
    stack::{Own, Stack},
};

const RECORDS: u64 = 3_000;
const OUTAGE: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c_postgres_unavailable_for_10_s() {
    let _serial = serial().await;
    let started = Instant::now();
    let mut stack = Stack::start(
        "c",
        Own {
            postgres: true,
            ..Own::default()
        },
    )
    .await;
    let backends = stack.backends.clone();
    let (mut processor, notifier, gateway) = start_all(&backends).await;

    let csrf = gateway.http().csrf_token().await;
    let load = Load::start(gateway.port, &csrf, RECORDS);
    let mut rows = Rows::connect(&backends.postgres, &load.run).await;
    let at = rows.wait_for(RECORDS / 4, Duration::from_secs(120)).await;
    drop(rows);
    let postgres = stack.postgres.as_mut().expect("own cluster");
    postgres.stop();
    // Taken once the server has exited: no row can carry a later `created_at` until it is back.
    let outage_start = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let stopped = Instant::now();

    // The processor notices: its health turns degraded, naming postgres.
    let degraded = eventually("processor /health degraded", OUTAGE, || async {
        let (status, report) = processor.health().await?;
        (status == 503
            && report["status"] == "degraded"
            && report["dependencies"]["postgres"]["state"] == "down")
            .then(|| stopped.elapsed())
    })
    .await;
    // The fault lasts its full length; then what the group committed is read.
    tokio::time::sleep(OUTAGE.saturating_sub(stopped.elapsed())).await;
    let committed = committed_offsets(&backends.kafka, &backends.group).await;
    postgres.start().await;
    let outage = stopped.elapsed();
    let recovered = Instant::now();
    processor.wait_healthy(Duration::from_secs(30)).await;
    let healthy_after = recovered.elapsed();

    let mut rows = Rows::connect(&backends.postgres, &load.run).await;
    let sent = load.finish(Duration::from_secs(300)).await;
    let tally = rows.settle(&sent.ok, Duration::from_secs(180)).await;
    let acked_unstored = acked_but_not_stored(&backends.postgres, &committed, outage_start).await;
    report(
        "c: PostgreSQL unavailable",
        &[
            format!(
                "stopped at {at} rows for {:.1} s; /health degraded {:.1} s after the stop, ok again {:.1} s after the restart",
                outage.as_secs_f64(),
                degraded.as_secs_f64(),
                healthy_after.as_secs_f64()
            ),
            format!(
                "offsets committed during the outage: {committed:?}; acked but not stored before it: {}",
                acked_unstored.len()
            ),
            tally.summary(&sent),
            format!("took {:.1} s", started.elapsed().as_secs_f64()),
        ],
    );
    assert!(
        acked_unstored.is_empty(),
        "committed past records not stored before the outage: {acked_unstored:?}"
    );
    assert_eq!(sent.ok.len() as u64, RECORDS, "refused: {:?}", sent.refused);
    tally.assert_exactly_once("c");
    drop((processor, notifier, gateway));
    stack.finish().await;
}

async fn committed_offsets(brokers: &str, group: &str) -> BTreeMap<u32, u64> {
    let admin = KafkaAdmin::new(&KafkaConfig::new(brokers)).unwrap();
    let topic = Topic::new(EVENTS_TOPIC).unwrap();
    admin
        .committed_offsets(&Group::new(group).unwrap(), &topic)
        .await
        .unwrap()
        .into_iter()
        .map(|(partition, offset)| (partition, offset.unwrap_or(0)))
        .collect()
}

/// The positions below a committed offset whose row was not written before `outage_start`
/// (seconds since the Unix epoch).
async fn acked_but_not_stored(
    database_url: &str,
    committed: &BTreeMap<u32, u64>,
    outage_start: f64,
) -> Vec<(u32, u64)> {
    let mut conn = PgConnection::connect(database_url).await.unwrap();
    let stored: Vec<String> = sqlx::query_scalar(
        "SELECT idempotency_key FROM events WHERE source = 'kafka' AND created_at < to_timestamp($1)",
    )
    .bind(outage_start)
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let stored: std::collections::BTreeSet<(u32, u64)> = stored
        .iter()
        .filter_map(|key| {
            let mut parts = key.rsplitn(3, '/');
            let offset = parts.next()?.parse().ok()?;
            let partition = parts.next()?.parse().ok()?;
            Some((partition, offset))
        })
        .collect();
    committed
        .iter()
        .flat_map(|(partition, end)| (0..*end).map(move |offset| (*partition, offset)))
        .filter(|position| !stored.contains(position))
        .collect()
}
