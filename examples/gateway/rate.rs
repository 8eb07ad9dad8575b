//! The rate limit on mutating requests (POST, PUT, PATCH, DELETE): a token bucket per client
//! address (`tower_governor`); beyond it, 429 with `Retry-After`.

use std::{net::IpAddr, sync::Arc, time::Duration};

use axum::{
    body::Body,
    http::{Method, Request, Response},
    response::IntoResponse,
};
use governor::{clock::QuantaInstant, middleware::NoOpMiddleware};
use tower_governor::{
    GovernorError, GovernorLayer, governor::GovernorConfigBuilder, key_extractor::KeyExtractor,
};

use crate::{common::gateway_config::RateLimit, error::AppError, limits::client_ip};

/// How often buckets of quiet addresses are forgotten, so the table stays bounded.
const FORGET_EVERY: Duration = Duration::from_secs(60);

/// The peer address of the connection; forwarded-for headers are not trusted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PeerAddress;

impl KeyExtractor for PeerAddress {
    type Key = IpAddr;

    fn extract<T>(&self, req: &Request<T>) -> Result<IpAddr, GovernorError> {
        Ok(client_ip(req))
    }
}

/// The layer, and a task that forgets buckets of addresses gone quiet.
pub(crate) fn layer(
    limit: RateLimit,
) -> GovernorLayer<PeerAddress, NoOpMiddleware<QuantaInstant>, Body> {
    let config = GovernorConfigBuilder::default()
        .period(Duration::from_secs(1) / limit.rate)
        .burst_size(limit.burst)
        .methods(vec![
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .key_extractor(PeerAddress)
        .finish()
        .expect("rate and burst are validated to be at least 1");
    let config = Arc::new(config);
    let limiter = config.limiter().clone();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(FORGET_EVERY);
        loop {
            every.tick().await;
            limiter.retain_recent();
        }
    });
    GovernorLayer::new(config).error_handler(refused)
}

fn refused(err: GovernorError) -> Response<Body> {
    match err {
        GovernorError::TooManyRequests { wait_time, .. } => {
            let secs = wait_time.max(1);
            AppError::new(
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                format!("too many requests from your address: retry in {secs} s"),
            )
            .retry_after(secs)
            .into_response()
        }
        other => AppError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            other.to_string(),
        )
        .into_response(),
    }
}
