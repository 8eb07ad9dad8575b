use axum::http::StatusCode;
use switchboard_core::{FIREHOSE_SUBJECT, PAGE_PREFIX};
use switchboard_flows::{EVENTS_TOPIC, PROCESSED_SUBJECT, REQUEST_SUBJECT};

use super::TestApp;
use crate::{
    chat::BRIDGE_PREFIX, common::health::HEARTBEAT_PREFIX, routes::events::CREATED_SUBJECT,
};

#[tokio::test]
async fn asyncapi_names_every_channel_the_services_use() {
    let app = TestApp::new().await;
    let answer = app.get("/asyncapi.json").await;
    assert_eq!(answer.status, StatusCode::OK);
    let doc: serde_json::Value = serde_json::from_str(&answer.body).expect("the document is JSON");
    assert_eq!(doc["asyncapi"], "3.0.0");
    let addresses: Vec<&str> = doc["channels"]
        .as_object()
        .expect("channels")
        .values()
        .map(|c| c["address"].as_str().expect("an address"))
        .collect();
    for used in [
        REQUEST_SUBJECT.to_owned(),
        EVENTS_TOPIC.to_owned(),
        PROCESSED_SUBJECT.to_owned(),
        FIREHOSE_SUBJECT.to_owned(),
        CREATED_SUBJECT.to_owned(),
        format!("{BRIDGE_PREFIX}.{{kind}}"),
        format!("{HEARTBEAT_PREFIX}.{{service}}"),
        format!("{PAGE_PREFIX}{{name}}"),
    ] {
        assert!(
            addresses.contains(&used.as_str()),
            "{used} missing from {addresses:?}"
        );
    }
    for (id, operation) in doc["operations"].as_object().expect("operations") {
        let channel = operation["channel"]["$ref"]
            .as_str()
            .expect("a channel ref");
        let target = channel
            .trim_start_matches("#/")
            .split('/')
            .fold(&doc, |node, segment| &node[segment]);
        assert!(
            target.is_object(),
            "operation {id}: {channel} does not resolve"
        );
    }
}
