//! The gateway: the live HTMX page and every flow's routes.
//!
//! Run with `cargo run --example gateway`, then open <http://127.0.0.1:8080>. With no
//! configuration and no servers it serves all six flows in one process on the in-memory
//! transports, the notifier and processor running in-process. Set `postgres.url`, `redis.url`,
//! `nats.url` and `kafka.brokers` (in `configs/gateway.yaml` or as `GATEWAY_…` variables) to use
//! real backends, with the notifier and processor as their own processes.

#[allow(dead_code)] // shared by three binaries, each using a subset
#[path = "../common/mod.rs"]
mod common;

mod announcements;
mod chat;
mod error;
mod limits;
mod params;
mod peers;
mod rate;
mod rates;
mod routes;
mod security;
mod sse;
mod state;
mod utf8_fields;
mod views;

#[cfg(test)]
mod tests;

use common::{
    backends::{self, BackendsExt, Needs},
    config::Config,
    health::Health,
    rate_samples, server, services,
    shutdown::Shutdown,
    telemetry,
};
use state::AppState;
use switchboard_core::Subject;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if let Some(code) = common::check_config::handle_args("gateway", 8080) {
        return code;
    }
    common::exit_on_error(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load("gateway", 8080)?;
    let telemetry = telemetry::init(config.env, &config.service);
    common::prometheus::handle();
    let backends = backends::connect(&config, Needs::ALL).await?;
    backends.log_flows(
        "gateway",
        &[
            "postgres",
            "redis",
            "redis-pubsub",
            "nats",
            "websocket",
            "kafka",
            "firehose",
        ],
    );
    let shutdown = Shutdown::new();
    shutdown.on_signals();

    // Without NATS or Kafka the other two services cannot be reached, so they run in-process.
    let notifier = match config.nats.url {
        None => {
            tracing::info!("notifier runs in-process");
            Some(services::start_notifier(&backends).await?)
        }
        Some(_) => None,
    };
    if config.kafka.brokers.is_some() && config.nats.url.is_none() {
        tracing::warn!(
            "kafka.brokers is set without nats.url: a separate processor cannot send its results \
             to this gateway; set nats.url too"
        );
    }
    let processor = match config.kafka.brokers {
        None => {
            tracing::info!("processor runs in-process");
            Some(services::spawn_processor(
                &backends,
                &config.kafka.group,
                &config.processor,
                shutdown.clone(),
            ))
        }
        Some(_) => None,
    };
    if notifier.is_some() {
        Health::new("notifier", vec![backends.dependency("nats")])
            .spawn_heartbeat(backends.bus.publisher.clone(), shutdown.clone());
    }
    if processor.is_some() {
        let deps = ["kafka", "postgres", "redis", "nats"].map(|d| backends.dependency(d));
        Health::new("processor", deps.into())
            .spawn_heartbeat(backends.bus.publisher.clone(), shutdown.clone());
    }

    let deps = ["postgres", "redis", "nats", "kafka"].map(|d| backends.dependency(d));
    let health = Health::new("gateway", deps.into());
    health.spawn_heartbeat(backends.bus.publisher.clone(), shutdown.clone());
    // One sampler per process: the in-process notifier and processor record into this
    // process's recorder too.
    rate_samples::spawn_sampler("gateway", backends.bus.publisher.clone(), shutdown.clone());
    let state = AppState::new(&backends, health, shutdown.clone(), &config.limits);
    announcements::start(&backends, state.firehose.clone(), shutdown.clone()).await?;
    rates::start(&backends, state.rates.clone(), shutdown.clone()).await?;
    // With NATS, gateways on several nodes share chat rooms and presence.
    let _bridge = match config.nats.url {
        Some(_) => Some(
            state
                .hub
                .bridge(
                    backends.bus.pubsub(),
                    &Subject::new(chat::BRIDGE_PREFIX)?,
                    &chat::bridge_key(&config.cluster)?,
                )
                .await?,
        ),
        None => None,
    };
    let hub = state.hub.clone();
    let closing = shutdown.clone();
    tokio::spawn(async move {
        closing.wait().await;
        hub.close(); // every socket gets a close frame (1001) so the server can drain
    });

    let app = routes::app(state, config.server.body_limit);
    server::serve(&config, app, shutdown).await?;
    if let Some(notifier) = notifier {
        notifier.stop().await;
    }
    if let Some(processor) = processor {
        processor.await??;
    }
    telemetry.shutdown().await;
    Ok(())
}
