//! Flow 2, Redis: keys with TTL in the `web` namespace; pub/sub on page channels
//! ([`PageSubject`], [`PagePattern`]) streamed over SSE.

use std::time::Duration;

use axum::{
    extract::State,
    response::{Html, Response},
};
use bytes::Bytes;
use chrono::Utc;
use serde::Deserialize;
use serde_json::json;
use switchboard_core::{Envelope, Key, KeyValue, PagePattern, PageSubject, Publisher, Subscriber};
use switchboard_flows::Flow;

use super::{encode, pages::fragment};
use crate::{
    error::AppError,
    limits::ClientIp,
    params::Params,
    sse,
    state::AppState,
    views::{Line, Listener, ResultView, render},
};

/// The longest TTL accepted: 30 days.
const MAX_TTL_SECS: u64 = 30 * 24 * 3600;

#[derive(Deserialize)]
pub(crate) struct SetForm {
    key: Option<String>,
    value: Option<String>,
    ttl: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct KeyForm {
    key: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct PublishForm {
    channel: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct ChannelQuery {
    channel: Option<String>,
}

fn key(field: &Option<String>) -> Result<Key, AppError> {
    Ok(Key::new(AppError::required(field, "key")?)?)
}

fn ttl(field: &Option<String>) -> Result<Option<Duration>, AppError> {
    match field.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None | Some("0") => Ok(None),
        Some(t) => t
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= MAX_TTL_SECS)
            .map(|n| Some(Duration::from_secs(n)))
            .ok_or_else(|| {
                AppError::bad_request(format!(
                    "ttl must be a whole number of seconds up to {MAX_TTL_SECS} (empty or 0: no expiry)"
                ))
            }),
    }
}

fn describe_ttl(ttl: Option<Duration>) -> String {
    match ttl {
        None => "no expiry".to_owned(),
        Some(t) => format!("{} s", t.as_secs()),
    }
}

/// `POST /redis/set` (key, value, ttl in seconds).
pub(crate) async fn set(
    State(s): State<AppState>,
    Params(form): Params<SetForm>,
) -> Result<Html<String>, AppError> {
    let key = key(&form.key)?;
    let value = AppError::required(&form.value, "value")?.to_owned();
    let ttl = ttl(&form.ttl)?;
    s.kv.set(&key, Bytes::from(value.clone()), ttl).await?;
    s.firehose.emit(
        Flow::Redis,
        "set",
        json!({ "key": key.as_str(), "ttl_secs": ttl.map(|t| t.as_secs()) }),
    );
    fragment(
        &ResultView::new("stored")
            .item("key", &key)
            .item("value", value)
            .item("ttl", describe_ttl(ttl)),
    )
}

/// `GET /redis/get?key=`: the value and the TTL left; 404 when the key does not exist.
pub(crate) async fn get(
    State(s): State<AppState>,
    Params(form): Params<KeyForm>,
) -> Result<Html<String>, AppError> {
    let key = key(&form.key)?;
    let Some(value) = s.kv.get(&key).await? else {
        return Err(AppError::not_found(format!("no key `{key}`")));
    };
    let left = s.kv.ttl(&key).await?.flatten();
    s.firehose
        .emit(Flow::Redis, "get", json!({ "key": key.as_str() }));
    fragment(
        &ResultView::new("found")
            .item("key", &key)
            .item("value", String::from_utf8_lossy(&value))
            .item("ttl left", describe_ttl(left)),
    )
}

/// `DELETE /redis/del` (key): 404 when the key does not exist.
pub(crate) async fn del(
    State(s): State<AppState>,
    Params(form): Params<KeyForm>,
) -> Result<Html<String>, AppError> {
    let key = key(&form.key)?;
    if !s.kv.del(&key).await? {
        return Err(AppError::not_found(format!("no key `{key}`")));
    }
    s.firehose
        .emit(Flow::Redis, "del", json!({ "key": key.as_str() }));
    fragment(&ResultView::new("deleted").item("key", &key))
}

/// `POST /redis/publish` (channel, message).
pub(crate) async fn publish(
    State(s): State<AppState>,
    Params(form): Params<PublishForm>,
) -> Result<Html<String>, AppError> {
    let channel = PageSubject::new(AppError::required(&form.channel, "channel")?)?;
    let message = AppError::required(&form.message, "message")?.to_owned();
    s.redis_publisher
        .publish(Envelope::new(channel.subject().clone(), message.clone()))
        .await?;
    s.firehose.emit(
        Flow::Redis,
        "publish",
        json!({ "channel": channel.as_str() }),
    );
    fragment(
        &ResultView::new("published")
            .item("channel", &channel)
            .item("message", message),
    )
}

fn channel(q: &ChannelQuery) -> Result<PagePattern, AppError> {
    Ok(PagePattern::new(AppError::required(
        &q.channel, "channel",
    )?)?)
}

/// `GET /redis/subscribe?channel=`: SSE of the channel's messages.
pub(crate) async fn subscribe(
    State(s): State<AppState>,
    Params(q): Params<ChannelQuery>,
) -> Result<Response, AppError> {
    let pattern = channel(&q)?;
    let messages = s.redis_subscriber.subscribe(pattern.pattern()).await?;
    let lines = sse::render_subscription(messages, "message", |msg| {
        render(&Line::new(
            Utc::now(),
            "redis",
            msg.subject().as_str(),
            String::from_utf8_lossy(msg.payload()),
        ))
    });
    Ok(sse::respond(lines, &s.shutdown))
}

/// `GET /redis/listen?channel=`: the element that opens that SSE stream.
/// Refused like the stream would be, so the page shows why.
pub(crate) async fn listen(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    Params(q): Params<ChannelQuery>,
) -> Result<Html<String>, AppError> {
    let pattern = channel(&q)?;
    if let Some(refused) = s.open_streams.refusal(ip) {
        return Err(refused);
    }
    fragment(&Listener {
        id: "redis-listener",
        url: format!("/redis/subscribe?channel={}", encode(pattern.as_str())),
        event: "message",
        label: pattern.to_string(),
    })
}
