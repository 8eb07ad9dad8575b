use axum::http::{StatusCode, header};

use super::TestApp;

#[tokio::test]
async fn every_page_renders_with_vendored_htmx_and_the_csrf_header() {
    let app = TestApp::new().await;
    for (path, marker) in [
        ("/", "Architecture"),
        ("/postgres", "hx-swap=\"afterbegin\""),
        ("/redis", "/redis/set"),
        ("/nats", "/nats/request"),
        ("/ws", "/ws/room"),
        ("/kafka", "sse-connect=\"/kafka/results\""),
        ("/firehose", "sse-connect=\"/firehose/stream\""),
    ] {
        let page = app.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(page.body.contains(marker), "{path} lacks {marker}");
        for script in [
            "/static/htmx.min.js",
            "/static/htmx-ext-sse.min.js",
            "/static/htmx-ext-ws.min.js",
        ] {
            assert!(page.body.contains(script), "{path} lacks {script}");
        }
        assert!(
            !page.body.contains("https://"),
            "{path} loads something from the network"
        );
        let token = format!("\"x-csrf-token\": \"{}\"", app.state.csrf_token);
        assert!(page.body.contains(&token), "{path} lacks hx-headers");
    }
}

#[tokio::test]
async fn static_files_are_embedded() {
    let app = TestApp::new().await;
    for (file, content_type, marker) in [
        ("htmx.min.js", "text/javascript; charset=utf-8", "htmx"),
        (
            "htmx-ext-sse.min.js",
            "text/javascript; charset=utf-8",
            "defineExtension(\"sse\"",
        ),
        (
            "htmx-ext-ws.min.js",
            "text/javascript; charset=utf-8",
            "defineExtension(\"ws\"",
        ),
        ("app.css", "text/css; charset=utf-8", "#1e1e2e"),
        (
            "app.js",
            "text/javascript; charset=utf-8",
            "htmx:afterRequest",
        ),
    ] {
        let answer = app.get(&format!("/static/{file}")).await;
        assert_eq!(answer.status, StatusCode::OK, "{file}");
        assert_eq!(answer.headers[header::CONTENT_TYPE], content_type);
        assert!(answer.body.contains(marker), "{file}");
    }
    assert_eq!(
        app.get("/static/nope.js").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn health_is_json_and_the_home_page_sees_all_three_services() {
    let app = TestApp::new().await;
    let health = app.get("/health").await;
    assert_eq!(health.status, StatusCode::OK);
    let report: serde_json::Value = serde_json::from_str(&health.body).unwrap();
    assert_eq!(report["service"], "gateway");
    assert_eq!(report["status"], "ok");
    assert_eq!(report["dependencies"]["postgres"]["backend"], "memory");
    assert_eq!(report["dependencies"]["postgres"]["state"], "up");

    let services = app.get("/health/services").await;
    assert_eq!(services.status, StatusCode::OK);
    for name in ["gateway", "notifier", "processor"] {
        assert!(services.body.contains(name), "{name}");
    }
}

#[tokio::test]
async fn sse_streams_end_with_a_final_event_on_shutdown() {
    let app = TestApp::new().await;
    let mut firehose = app.sse("/firehose/stream").await;
    let mut results = app.sse("/kafka/results").await;
    app.shutdown.trigger();
    for body in [&mut firehose, &mut results] {
        super::read_until(body, "event: end").await;
        use http_body_util::BodyExt;
        let rest = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
            .await
            .expect("the stream ends after its end event");
        assert!(rest.is_none());
    }
}
