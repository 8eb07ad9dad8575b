//! The processor: consumes `switchboard.events` in group `processor`, caches `last:<topic>`,
//! stores each record once (idempotent on topic/partition/offset), publishes the result to
//! `switchboard.processed`, emits a firehose event, and acks after the store write.
//! Serves `GET /health`.
//!
//! Run with `PROCESSOR_KAFKA_BROKERS=127.0.0.1:9092 PROCESSOR_POSTGRES_URL=… cargo run --example
//! processor`. Without backends it consumes only its own in-memory log, so the gateway runs it
//! in-process.

#[allow(dead_code)] // shared by three binaries, each using a subset
#[path = "../common/mod.rs"]
mod common;

use axum::{Router, routing::get};
use common::{
    backends::{self, BackendsExt, Needs},
    config::Config,
    health,
    health::Health,
    http_trace, prometheus, rate_samples, server, services,
    shutdown::Shutdown,
    telemetry,
};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    if let Some(code) = common::check_config::handle_args("processor", 8082) {
        return code;
    }
    common::exit_on_error(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load("processor", 8082)?;
    let telemetry = telemetry::init(config.env, &config.service);
    prometheus::handle();
    let backends = backends::connect(&config, Needs::ALL).await?;
    backends.log_flows(
        "processor",
        &["kafka", "postgres", "redis", "nats", "firehose"],
    );
    if config.kafka.brokers.is_none() {
        tracing::warn!(
            "kafka.brokers is not set: the processor consumes only its own in-memory log"
        );
    }
    let shutdown = Shutdown::new();
    shutdown.on_signals();

    let pipeline = services::spawn_processor(
        &backends,
        &config.kafka.group,
        &config.processor,
        shutdown.clone(),
    );
    let health = Health::new(
        "processor",
        ["kafka", "postgres", "redis", "nats"]
            .map(|name| backends.dependency(name))
            .into(),
    );
    health.spawn_heartbeat(backends.bus.publisher.clone(), shutdown.clone());
    rate_samples::spawn_sampler(
        "processor",
        backends.bus.publisher.clone(),
        shutdown.clone(),
    );
    let app = Router::new().route("/health", get(move || health::handler(health.clone())));

    let app = prometheus::route(app);
    let app = server::with_body_limit(http_trace::layer(app), config.server.body_limit);
    server::serve(&config, app, shutdown).await?;
    pipeline.await??;
    telemetry.shutdown().await;
    Ok(())
}
