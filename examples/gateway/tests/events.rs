use axum::http::StatusCode;
use switchboard_core::EventStore;

use super::{TestApp, assert_rejected, read_until};

async fn count_rows(app: &TestApp) -> usize {
    app.backends
        .store
        .store
        .page(None, 100)
        .await
        .unwrap()
        .events
        .len()
}

#[tokio::test]
async fn create_returns_the_escaped_row() {
    let app = TestApp::new().await;
    let answer = app
        .post(
            "/events",
            "source=web&topic=%3Cb%3Et%3C%2Fb%3E&payload=%7B%22x%22%3A%22%3Cscript%3Ealert(1)%3C%2Fscript%3E%22%7D",
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    assert!(
        answer.body.starts_with("<tr id=\"event-1\""),
        "{}",
        answer.body
    );
    assert!(!answer.body.contains("<script>"), "{}", answer.body);
    assert!(answer.body.contains("&#60;script&#62;"), "{}", answer.body);
    assert!(
        answer.body.contains("&#60;b&#62;t&#60;/b&#62;"),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("hx-delete=\"/events/1\""));
    assert_eq!(count_rows(&app).await, 1);
}

#[tokio::test]
async fn create_announces_the_row_and_the_firehose_shows_it() {
    let app = TestApp::new().await;
    let mut firehose = app.sse("/firehose/stream").await;
    let answer = app
        .post(
            "/events",
            "source=web&topic=orders&payload=%7B%22n%22%3A1%7D",
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
    // The announcement reached the bus on switchboard.events.created and was tapped.
    let seen = read_until(&mut firehose, "switchboard.events.created").await;
    assert!(seen.contains("created"), "{seen}");
    assert!(seen.contains("orders"), "{seen}");
}

#[tokio::test]
async fn create_rejects_missing_fields_and_non_json_and_writes_nothing() {
    let app = TestApp::new().await;
    for (form, reason) in [
        ("topic=t&payload=%7B%7D", "missing field `source`"),
        ("source=web&payload=%7B%7D", "missing field `topic`"),
        ("source=web&topic=t", "missing field `payload`"),
        ("source=web&topic=t&payload=+", "missing field `payload`"),
        (
            "source=web&topic=t&payload=not+json",
            "payload is not valid JSON",
        ),
        ("source=a%0Ab&topic=t&payload=1", "control characters"),
    ] {
        let answer = app.post("/events", form).await;
        assert_rejected(&answer, StatusCode::BAD_REQUEST, reason);
    }
    assert_eq!(count_rows(&app).await, 0);
}

#[tokio::test]
async fn list_pages_with_a_cursor_on_the_last_row() {
    let app = TestApp::new().await;
    for n in 0..5 {
        let answer = app
            .post("/events", &format!("source=web&topic=t&payload={n}"))
            .await;
        assert_eq!(answer.status, StatusCode::OK);
    }
    let first = app.get("/events?limit=2").await;
    assert_eq!(first.status, StatusCode::OK);
    assert!(first.body.contains("event-5") && first.body.contains("event-4"));
    assert!(!first.body.contains("event-3"));
    assert_eq!(first.body.matches("hx-get=").count(), 1, "{}", first.body);
    let next = "hx-get=\"/events?limit=2&amp;before=4\"";
    assert!(first.body.contains(next), "{}", first.body);
    // The cursor sits on the last row, right after its id.
    let last_row = first.body.rfind("<tr").unwrap();
    assert!(first.body[last_row..].contains(next));

    let second = app.get("/events?limit=2&before=4").await;
    assert!(second.body.contains("event-3") && second.body.contains("event-2"));
    let third = app.get("/events?limit=2&before=2").await;
    assert!(third.body.contains("event-1"));
    assert!(
        !third.body.contains("hx-get="),
        "last page has no next: {}",
        third.body
    );
    let empty = TestApp::new().await.get("/events").await;
    assert!(empty.body.contains("No events yet"));
}

#[tokio::test]
async fn list_rejects_bad_limit_and_cursor() {
    let app = TestApp::new().await;
    for uri in ["/events?limit=0", "/events?limit=101", "/events?limit=x"] {
        assert_rejected(
            &app.get(uri).await,
            StatusCode::BAD_REQUEST,
            "limit must be between 1 and 100",
        );
    }
    assert_rejected(
        &app.get("/events?before=abc").await,
        StatusCode::BAD_REQUEST,
        "invalid cursor",
    );
}

#[tokio::test]
async fn delete_answers_200_then_404() {
    let app = TestApp::new().await;
    app.post("/events", "source=web&topic=t&payload=1").await;
    let deleted = app.delete("/events/1").await;
    assert_eq!(deleted.status, StatusCode::OK);
    assert!(deleted.body.is_empty());
    assert_eq!(count_rows(&app).await, 0);
    assert_rejected(
        &app.delete("/events/1").await,
        StatusCode::NOT_FOUND,
        "no event with id 1",
    );
    assert_rejected(
        &app.delete("/events/abc").await,
        StatusCode::BAD_REQUEST,
        "must be a positive integer",
    );
}
