use axum::http::StatusCode;
use switchboard_core::{Key, KeyValue, Namespace};

use super::{TestApp, assert_rejected, read_until};

#[tokio::test]
async fn set_get_del_with_ttl() {
    let app = TestApp::new().await;
    let set = app
        .post("/redis/set", "key=greeting&value=%3Chi%3E&ttl=60")
        .await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.body);
    assert!(set.body.contains("&#60;hi&#62;") && set.body.contains("60 s"));

    let got = app.get("/redis/get?key=greeting").await;
    assert_eq!(got.status, StatusCode::OK);
    assert!(got.body.contains("&#60;hi&#62;"), "{}", got.body);
    assert!(
        got.body.contains("ttl left") && (got.body.contains("60 s") || got.body.contains("59 s"))
    );

    app.post("/redis/set", "key=forever&value=v&ttl=").await;
    assert!(
        app.get("/redis/get?key=forever")
            .await
            .body
            .contains("no expiry")
    );

    // htmx 2 sends DELETE parameters in the query string; a form body works too.
    assert_eq!(
        app.delete("/redis/del?key=greeting").await.status,
        StatusCode::OK
    );
    let del = app
        .form(axum::http::Method::DELETE, "/redis/del", "key=forever")
        .await;
    assert_eq!(del.status, StatusCode::OK);
    assert_rejected(
        &app.get("/redis/get?key=greeting").await,
        StatusCode::NOT_FOUND,
        "no key `greeting`",
    );
    assert_rejected(
        &app.delete("/redis/del?key=greeting").await,
        StatusCode::NOT_FOUND,
        "no key `greeting`",
    );
}

#[tokio::test]
async fn keys_stay_in_the_web_namespace() {
    let app = TestApp::new().await;
    app.post("/redis/set", "key=last%3Aswitchboard.events&value=spoof")
        .await;
    let key = Key::new("last:switchboard.events").unwrap();
    let web = app.backends.kv.namespace(Namespace::new("web").unwrap());
    let cache = app.backends.kv.namespace(Namespace::new("cache").unwrap());
    assert_eq!(web.get(&key).await.unwrap().as_deref(), Some(&b"spoof"[..]));
    assert!(cache.get(&key).await.unwrap().is_none());
}

#[tokio::test]
async fn bad_input_is_rejected_and_nothing_is_written() {
    let app = TestApp::new().await;
    for (form, reason) in [
        ("value=v", "missing field `key`"),
        ("key=k", "missing field `value`"),
        ("key=k&value=v&ttl=soon", "ttl must be a whole number"),
        ("key=k&value=v&ttl=-1", "ttl must be a whole number"),
        ("key=a%0Ab&value=v", "control characters"),
    ] {
        assert_rejected(
            &app.post("/redis/set", form).await,
            StatusCode::BAD_REQUEST,
            reason,
        );
    }
    assert!(
        app.backends
            .kv
            .namespace(Namespace::new("web").unwrap())
            .get(&Key::new("k").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert_rejected(
        &app.get("/redis/get").await,
        StatusCode::BAD_REQUEST,
        "missing field `key`",
    );
    assert_rejected(
        &app.delete("/redis/del").await,
        StatusCode::BAD_REQUEST,
        "missing field `key`",
    );
    assert_rejected(
        &app.post("/redis/publish", "channel=switchboard.page.demo")
            .await,
        StatusCode::BAD_REQUEST,
        "missing field `message`",
    );
    assert_rejected(
        &app.post("/redis/publish", "message=m").await,
        StatusCode::BAD_REQUEST,
        "missing field `channel`",
    );
    assert_rejected(
        &app.post("/redis/publish", "channel=switchboard.page.a..b&message=m")
            .await,
        StatusCode::BAD_REQUEST,
        "empty token",
    );
    for outside in ["demo", "other.app.channel", "switchboard.chat.chat"] {
        assert_rejected(
            &app.post("/redis/publish", &format!("channel={outside}&message=m"))
                .await,
            StatusCode::BAD_REQUEST,
            "page namespace",
        );
    }
    assert_rejected(
        &app.get("/redis/subscribe?channel=switchboard.%3E").await,
        StatusCode::BAD_REQUEST,
        "page namespace",
    );
    assert_rejected(
        &app.get("/redis/subscribe").await,
        StatusCode::BAD_REQUEST,
        "missing field `channel`",
    );
    assert_rejected(
        &app.get("/redis/subscribe?channel=switchboard.page.a..b")
            .await,
        StatusCode::BAD_REQUEST,
        "invalid pattern",
    );
    assert_rejected(
        &app.get("/redis/listen?channel=").await,
        StatusCode::BAD_REQUEST,
        "missing field `channel`",
    );
}

#[tokio::test]
async fn publish_arrives_escaped_on_the_subscription() {
    let app = TestApp::new().await;
    let mut stream = app
        .sse("/redis/subscribe?channel=switchboard.page.demo")
        .await;
    let published = app
        .post(
            "/redis/publish",
            "channel=switchboard.page.demo&message=%3Cimg+src%3Dx%3E",
        )
        .await;
    assert_eq!(published.status, StatusCode::OK);
    let seen = read_until(&mut stream, "&#60;img src=x&#62;").await;
    assert!(seen.contains("event: message"));
    assert!(!seen.contains("<img"));
}

#[tokio::test]
async fn listen_renders_the_sse_element() {
    let app = TestApp::new().await;
    let answer = app
        .get("/redis/listen?channel=switchboard.page.demo.*")
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert!(
        answer
            .body
            .contains("sse-connect=\"/redis/subscribe?channel=switchboard.page.demo.*\""),
        "{}",
        answer.body
    );
    assert!(answer.body.contains("sse-close=\"end\""));
}
