//! d. NATS, then Redis, restarted mid-stream with no service restarted: request/reply answers
//! again within 5 s, processed results and the firehose resume on streams opened before the
//! restart, key/value works again, and an SSE stream on `/redis/subscribe` opened before the
//! Redis restart receives messages published after it.

use std::time::Duration;

use tokio::{net::TcpStream, time::Instant};

use crate::{
    eventually,
    fleet::start_all,
    live::{Http, read_sse_until},
    load::{Load, Rows},
    probes::{request_answers, results_resume, try_read_until},
    report, serial,
    stack::{Own, Stack},
};

const RECORDS: u64 = 2_000;
const CHANNEL: &str = "switchboard.page.faults.d";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn d_nats_and_redis_restarted() {
    let _serial = serial().await;
    let started = Instant::now();
    let mut stack = Stack::start(
        "d",
        Own {
            postgres: true,
            ..Own::default()
        },
    )
    .await;
    let backends = stack.backends.clone();
    let (processor, notifier, gateway) = start_all(&backends).await;
    let http = gateway.http();
    let csrf = http.csrf_token().await;
    let mut results = http.open_sse("/kafka/results").await;
    let mut firehose = http.open_sse("/firehose/stream").await;
    let mut channel = http
        .open_sse(&format!("/redis/subscribe?channel={CHANNEL}"))
        .await;

    let load = Load::start(gateway.port, &csrf, RECORDS);
    let mut rows = Rows::connect(&backends.postgres, &load.run).await;
    rows.wait_for(RECORDS / 4, Duration::from_secs(120)).await;

    // NATS goes away and comes back on the same port.
    let nats = stack.nats.as_mut().expect("single server");
    nats.kill();
    nats.start().await;
    let restarted = Instant::now();
    let request_back = request_answers(&http, &csrf, restarted, Duration::from_secs(5)).await;
    let marker = format!("d{}", uuid::Uuid::new_v4().simple());
    let results_back = results_resume(
        &http,
        &csrf,
        &mut results,
        &backends.postgres,
        &marker,
        restarted,
    )
    .await;
    read_sse_until(
        &mut firehose,
        &marker,
        Instant::now() + Duration::from_secs(20),
    )
    .await;
    let firehose_back = restarted.elapsed();

    // Redis goes away and comes back on the same port.
    stack.redis.kill();
    stack.redis.start().await;
    let restarted = Instant::now();
    let kv_back = eventually(
        "key/value after the Redis restart",
        Duration::from_secs(15),
        || {
            let (http, csrf) = (&http, &csrf);
            async move {
                let set = http
                    .try_post("/redis/set", csrf, "key=faults-d&value=back")
                    .await
                    .ok()?;
                let got = http.try_get("/redis/get?key=faults-d").await.ok()?;
                (set.status == 200 && got.status == 200 && got.body.contains("back"))
                    .then(|| restarted.elapsed())
            }
        },
    )
    .await;
    let pubsub_back = published_after_restart(&http, &csrf, &mut channel, restarted).await;

    let sent = load.finish(Duration::from_secs(300)).await;
    let tally = rows.settle(&sent.ok, Duration::from_secs(180)).await;
    report(
        "d: NATS and Redis restarted",
        &[
            format!(
                "after the NATS restart: request/reply {:.1} s (bound 5 s), processed results {:.1} s, firehose {:.1} s",
                request_back.as_secs_f64(),
                results_back.as_secs_f64(),
                firehose_back.as_secs_f64()
            ),
            format!(
                "after the Redis restart: key/value {:.1} s, pub/sub on the open SSE stream {:.1} s",
                kv_back.as_secs_f64(),
                pubsub_back.as_secs_f64()
            ),
            tally.summary(&sent),
            format!("took {:.1} s", started.elapsed().as_secs_f64()),
        ],
    );
    assert_eq!(sent.ok.len() as u64, RECORDS, "refused: {:?}", sent.refused);
    tally.assert_exactly_once("d");
    drop((processor, notifier, gateway));
    stack.finish().await;
}

/// Publishes a fresh message every 300 ms until the open stream shows one.
async fn published_after_restart(
    http: &Http,
    csrf: &str,
    channel: &mut TcpStream,
    since: Instant,
) -> Duration {
    let marker = format!("m{}", uuid::Uuid::new_v4().simple());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let _ = http
            .try_post(
                "/redis/publish",
                csrf,
                &format!("channel={CHANNEL}&message={marker}"),
            )
            .await;
        let wait = (Instant::now() + Duration::from_millis(300)).min(deadline);
        if try_read_until(channel, &marker, wait).await {
            return since.elapsed();
        }
        assert!(
            Instant::now() < deadline,
            "no message on the open /redis/subscribe stream within 15 s of the Redis restart"
        );
    }
}
