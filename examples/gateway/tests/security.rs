use axum::{
    body::Body,
    http::{Method, StatusCode, header},
};
use switchboard_core::EventStore;

use super::{LIMIT, TestApp, assert_rejected};

/// Every route of the gateway.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/"),
    ("GET", "/postgres"),
    ("GET", "/redis"),
    ("GET", "/nats"),
    ("GET", "/ws"),
    ("GET", "/kafka"),
    ("GET", "/firehose"),
    ("GET", "/static/app.css"),
    ("GET", "/health"),
    ("GET", "/health/services"),
    ("GET", "/events"),
    ("POST", "/events"),
    ("DELETE", "/events/1"),
    ("POST", "/redis/set"),
    ("GET", "/redis/get"),
    ("DELETE", "/redis/del"),
    ("POST", "/redis/publish"),
    ("GET", "/redis/subscribe"),
    ("GET", "/redis/listen"),
    ("POST", "/nats/request"),
    ("GET", "/nats/subscribe"),
    ("GET", "/nats/listen"),
    ("GET", "/ws/connect"),
    ("GET", "/ws/count"),
    ("GET", "/ws/room"),
    ("POST", "/kafka/produce"),
    ("GET", "/kafka/results"),
    ("GET", "/firehose/stream"),
];

#[tokio::test]
async fn a_body_over_the_limit_is_413_on_every_route() {
    let app = TestApp::new().await;
    let big = format!("payload={}", "x".repeat(LIMIT));
    for (method, path) in ROUTES {
        let req = app
            .request(method.parse().unwrap(), path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::CONTENT_LENGTH, big.len())
            .body(Body::from(big.clone()))
            .unwrap();
        let answer = app.send(req).await;
        assert_eq!(
            answer.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{method} {path}"
        );
    }
    // A streamed body without a length is cut at the limit too.
    let chunks = futures::stream::iter(
        (0..LIMIT / 64 + 2).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'a'; 64]))),
    );
    let req = app
        .request(Method::POST, "/events")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from_stream(chunks))
        .unwrap();
    assert_eq!(app.send(req).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        app.backends
            .store
            .store
            .page(None, 10)
            .await
            .unwrap()
            .events
            .is_empty()
    );
}

#[tokio::test]
async fn mutations_need_the_csrf_header() {
    let app = TestApp::new().await;
    let form = "source=web&topic=t&payload=1";
    for token in [None, Some("wrong")] {
        let mut req = axum::http::Request::post("/events")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
        if let Some(token) = token {
            req = req.header("x-csrf-token", token);
        }
        let answer = app.send(req.body(Body::from(form)).unwrap()).await;
        assert_rejected(&answer, StatusCode::FORBIDDEN, "x-csrf-token");
    }
    let cross_site = app
        .request(Method::POST, "/events")
        .header("sec-fetch-site", "cross-site")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    assert_rejected(
        &app.send(cross_site).await,
        StatusCode::FORBIDDEN,
        "cross-site",
    );
    let delete = axum::http::Request::delete("/redis/del?key=k")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(delete).await.status, StatusCode::FORBIDDEN);
    assert!(
        app.backends
            .store
            .store
            .page(None, 10)
            .await
            .unwrap()
            .events
            .is_empty()
    );
    // With the header it goes through.
    assert_eq!(app.post("/events", form).await.status, StatusCode::OK);
}

#[tokio::test]
async fn responses_carry_security_headers() {
    let app = TestApp::new().await;
    let page = app.get("/").await;
    let csp = page.headers[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap();
    assert!(csp.contains("script-src 'self'"));
    assert_eq!(page.headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
}
