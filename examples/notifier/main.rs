//! The notifier: answers `switchboard.page.request` with `{service, message: "echo: <text>",
//! processed_at}` and emits a firehose event per reply. Serves `GET /health`.
//!
//! Run with `NOTIFIER_NATS_URL=nats://127.0.0.1:4222 cargo run --example notifier`. Without
//! `nats.url` it answers only requests from its own process, so the gateway runs it in-process.

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
    if let Some(code) = common::check_config::handle_args("notifier", 8081) {
        return code;
    }
    common::exit_on_error(run().await)
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let config = Config::load("notifier", 8081)?;
    let telemetry = telemetry::init(config.env, &config.service);
    prometheus::handle();
    let backends = backends::connect(
        &config,
        Needs {
            nats: true,
            ..Needs::default()
        },
    )
    .await?;
    backends.log_flows("notifier", &["nats", "firehose"]);
    if config.nats.url.is_none() {
        tracing::warn!("nats.url is not set: only this process can reach the notifier");
    }
    let shutdown = Shutdown::new();
    shutdown.on_signals();

    let serving = services::start_notifier(&backends).await?;
    let health = Health::new("notifier", vec![backends.dependency("nats")]);
    health.spawn_heartbeat(backends.bus.publisher.clone(), shutdown.clone());
    rate_samples::spawn_sampler("notifier", backends.bus.publisher.clone(), shutdown.clone());
    let app = Router::new().route("/health", get(move || health::handler(health.clone())));

    let app = prometheus::route(app);
    let app = server::with_body_limit(http_trace::layer(app), config.server.body_limit);
    server::serve(&config, app, shutdown).await?;
    serving.stop().await;
    telemetry.shutdown().await;
    Ok(())
}
