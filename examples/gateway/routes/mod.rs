//! Every route of the gateway, one module per flow.

mod assets;
mod asyncapi;
pub(crate) mod events;
mod firehose;
mod health;
mod kafka;
mod nats;
mod pages;
mod redis;
mod ws;

use axum::{
    Router, middleware,
    routing::{MethodRouter, delete, get, post},
};

use switchboard_ws::{UpgradeConfig, ws_route};

use crate::{
    common::{http_trace, prometheus, server::with_body_limit},
    limits::{hold_for_socket, hold_for_stream},
    rate, security,
    state::AppState,
};

/// The whole application: routes, the CSRF guard and security headers, the rate limit on
/// mutations, the limits on open streams and sockets, and the body limit.
pub(crate) fn app(state: AppState, body_limit: usize) -> Router {
    let stream = |route: MethodRouter<AppState>| {
        route.layer(middleware::from_fn_with_state(
            state.open_streams.clone(),
            hold_for_stream,
        ))
    };
    let routes = Router::new()
        .route("/", get(pages::index))
        .route("/postgres", get(pages::postgres))
        .route("/redis", get(pages::redis))
        .route("/nats", get(pages::nats))
        .route("/ws", get(pages::ws))
        .route("/kafka", get(pages::kafka))
        .route("/firehose", get(pages::firehose))
        .route("/static/{file}", get(assets::serve))
        .route("/health", get(health::own))
        .route("/asyncapi.json", get(asyncapi::serve))
        .route("/health/services", get(health::services))
        .route("/rates", get(pages::rates))
        .route("/events", get(events::list).post(events::create))
        .route("/events/{id}", delete(events::remove))
        .route("/redis/set", post(redis::set))
        .route("/redis/get", get(redis::get))
        .route("/redis/del", delete(redis::del))
        .route("/redis/publish", post(redis::publish))
        .route("/redis/subscribe", stream(get(redis::subscribe)))
        .route("/redis/listen", get(redis::listen))
        .route("/nats/request", post(nats::request))
        .route("/nats/subscribe", stream(get(nats::subscribe)))
        .route("/nats/listen", get(nats::listen))
        .route(
            "/ws/connect",
            ws_route(state.hub.clone(), UpgradeConfig::default()).layer(
                middleware::from_fn_with_state(state.open_sockets.clone(), hold_for_socket),
            ),
        )
        .route("/ws/count", get(ws::count))
        .route("/ws/room", get(ws::room_panel))
        .route("/kafka/produce", post(kafka::produce))
        .route("/kafka/results", stream(get(kafka::results)))
        .route("/firehose/stream", stream(get(firehose::stream)))
        .layer(rate::layer(state.limits.mutations))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::guard,
        ))
        .with_state(state);
    with_body_limit(http_trace::layer(prometheus::route(routes)), body_limit)
}

/// Percent-encodes a query value.
pub(crate) fn encode(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
