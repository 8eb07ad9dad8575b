//! `GET /metrics`: the libraries' metrics as Prometheus text, fed by real traffic.

use axum::http::StatusCode;
use switchboard_core::metric;

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
        format!(r#"{}{{flow="log"}}"#, metric::ACKED),
        format!("{}_bucket", metric::REQUEST_DURATION),
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

/// The Kafka sparkline's count of firehose events in the last 30 s, from `/rates`.
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

#[tokio::test]
async fn rates_count_each_flows_firehose_events() {
    let app = TestApp::new().await;
    let before = app.get("/rates").await;
    assert_eq!(before.status, StatusCode::OK);
    assert_eq!(kafka_total(&before.body), 0, "{}", before.body);
    let produced = app
        .post("/kafka/produce", "topic=switchboard.events&payload=%7B%7D")
        .await;
    assert_eq!(produced.status, StatusCode::OK, "{}", produced.body);
    // The produce's firehose event goes through the bus before the rates see it.
    let counted = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            let rates = app.get("/rates").await;
            if kafka_total(&rates.body) > 0 {
                return rates.body;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the produce's firehose event never reached the Kafka rate");
    assert!(counted.contains("<polyline"), "{counted}");
}
