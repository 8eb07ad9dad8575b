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
