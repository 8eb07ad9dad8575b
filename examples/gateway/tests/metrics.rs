//! `GET /metrics`: the libraries' metrics as Prometheus text, fed by real traffic.

use std::time::Duration;

use axum::http::StatusCode;
use switchboard_core::{Subscriber, metric};

use super::{TestApp, read_until};
#[tokio::test]
async fn metrics_show_the_traffic_of_the_flows() {
    let app = TestApp::new().await;
    let mut results = app.sse("/kafka/results").await;
    let produced = app
        .post("/kafka/produce", "topic=switchboard.events&payload=%7B%7D")
        .await;
    assert_eq!(produced.status, StatusCode::OK, "{}", produced.body);
    read_until(&mut results, "stored").await;
    let asked = app
        .post(
            "/nats/request",
            "subject=switchboard.page.request&message=hi",
        )
        .await;
    assert_eq!(asked.status, StatusCode::OK, "{}", asked.body);

    let scraped = app.get("/metrics").await;
    assert_eq!(scraped.status, StatusCode::OK);
    assert!(
        scraped.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain"),
        "{:?}",
        scraped.headers
    );
    for needle in [
        format!(r#"{}{{flow="log",backend="memory"}}"#, metric::PUBLISHED),
        format!(
            r#"{}{{flow="request",backend="memory"}}"#,
            metric::PUBLISHED
        ),
        format!(r#"{}{{flow="pubsub",backend="memory"}}"#, metric::DELIVERED),
        format!(r#"{}{{flow="log",backend="memory"}}"#, metric::DELIVERED),
        format!(r#"{}{{flow="log",backend="memory"}}"#, metric::ACKED),
        format!(
            r#"{}_bucket{{flow="request",backend="memory","#,
            metric::REQUEST_DURATION
        ),
        format!(r#"{}{{type="kafka"}}"#, metric::FIREHOSE_EVENTS),
        format!("# HELP {} ", metric::SSE_OPEN),
    ] {
        assert!(
            scraped.body.contains(&needle),
            "`{needle}` not in /metrics:\n{}",
            scraped.body
        );
    }
    // Other tests open and close streams meanwhile; this one's is still open.
    let open: f64 = scraped
        .body
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{} ", metric::SSE_OPEN)))
        .expect("the open-streams gauge")
        .parse()
        .unwrap();
    assert!(
        open >= 1.0,
        "the open /kafka/results stream is not counted: {open}"
    );
    drop(results);
}

/// The Kafka sparkline's count in the last 30 s, from `/rates`.
fn kafka_total(rates: &str) -> u32 {
    let at = rates
        .find(r#"data-total="kafka">"#)
        .expect("the kafka line")
        + 19;
    rates[at..]
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a count")
}

/// The rates come from the metrics: the produce's `switchboard_firehose_events_total`
/// increase reaches the Kafka line through the process's once-a-second sample.
#[tokio::test]
async fn rates_rise_with_the_flows_metrics() {
    let app = TestApp::new().await;
    let before = app.get("/rates").await;
    assert_eq!(before.status, StatusCode::OK);
    let before = kafka_total(&before.body);
    let scraped = app.get("/metrics").await.body;
    let counted_before = crate::common::rate_samples::totals(&scraped)
        .get("kafka")
        .copied()
        .unwrap_or(0);
    // The sampler's first sample is its baseline: wait for it before producing.
    let mut samples = app
        .backends
        .bus
        .subscriber
        .subscribe(&switchboard_core::Pattern::new("switchboard.rates.*").unwrap())
        .await
        .unwrap();
    switchboard_core::testkit::next_ok(&mut samples, Duration::from_secs(5), "a rate sample").await;
    let produced = app
        .post("/kafka/produce", "topic=switchboard.events&payload=%7B%7D")
        .await;
    assert_eq!(produced.status, StatusCode::OK, "{}", produced.body);
    let counted = crate::common::rate_samples::totals(&app.get("/metrics").await.body)["kafka"];
    assert!(counted > counted_before, "the produce is not in the metric");
    // Each sample is published once a second; wait for the one after the produce.
    let rates = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            switchboard_core::testkit::next_ok(
                &mut samples,
                Duration::from_secs(5),
                "a rate sample",
            )
            .await;
            let rates = app.get("/rates").await.body;
            if kafka_total(&rates) > before {
                return rates;
            }
        }
    })
    .await
    .expect("the produce's metric never reached the Kafka rate");
    assert!(rates.contains("<polyline"), "{rates}");
}
