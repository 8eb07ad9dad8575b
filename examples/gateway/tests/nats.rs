use axum::http::StatusCode;
use switchboard_core::{Envelope, Publisher, Subject};

use super::{TestApp, assert_rejected, read_until};

#[tokio::test]
async fn request_shows_the_reply_and_latency() {
    let app = TestApp::new().await;
    let answer = app
        .post(
            "/nats/request",
            "subject=switchboard.page.request&message=%3Cping%3E",
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(
        answer.body.contains("echo: &#60;ping&#62;"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("notifier"));
    assert!(answer.body.contains("latency") && answer.body.contains(" ms"));
}

#[tokio::test]
async fn request_rejects_bad_input() {
    let app = TestApp::new().await;
    for (form, reason) in [
        ("subject=orders.new&message=m", "page namespace"),
        ("subject=switchboard&message=m", "page namespace"),
        (
            "subject=switchboard.chat.chat&message=m",
            "switchboard.page.",
        ),
        ("subject=switchboard.page.*&message=m", "wildcards"),
        ("message=m", "missing field `subject`"),
        (
            "subject=switchboard.page.request",
            "missing field `message`",
        ),
    ] {
        assert_rejected(
            &app.post("/nats/request", form).await,
            StatusCode::BAD_REQUEST,
            reason,
        );
    }
}

#[tokio::test]
async fn request_without_a_notifier_is_503() {
    let app = TestApp::alone().await;
    let answer = app
        .post(
            "/nats/request",
            "subject=switchboard.page.request&message=m",
        )
        .await;
    assert_rejected(&answer, StatusCode::SERVICE_UNAVAILABLE, "no responders");
}

#[tokio::test]
async fn subscribe_streams_messages_of_the_page_namespace() {
    let app = TestApp::new().await;
    let mut stream = app
        .sse("/nats/subscribe?subject=switchboard.page.demo.%3E")
        .await;
    app.backends
        .bus
        .publisher
        .publish(Envelope::new(
            Subject::new("switchboard.page.demo.x").unwrap(),
            "<hello>",
        ))
        .await
        .unwrap();
    let seen = read_until(&mut stream, "&#60;hello&#62;").await;
    assert!(seen.contains("switchboard.page.demo.x"));
    assert_rejected(
        &app.get("/nats/subscribe?subject=switchboard.%3E").await,
        StatusCode::BAD_REQUEST,
        "page namespace",
    );
    assert_rejected(
        &app.get("/nats/subscribe").await,
        StatusCode::BAD_REQUEST,
        "missing field `subject`",
    );
    assert_rejected(
        &app.get("/nats/listen?subject=%3E").await,
        StatusCode::BAD_REQUEST,
        "page namespace",
    );
    let listen = app.get("/nats/listen?subject=switchboard.page.%3E").await;
    assert!(
        listen
            .body
            .contains("sse-connect=\"/nats/subscribe?subject=switchboard.page.%3E\""),
        "{}",
        listen.body
    );
}
