//! Wiring shared by the three demo services: configuration, tracing, backends, health,
//! serving and shutdown. Each service uses a subset of it.

pub(crate) mod backends;
pub(crate) mod check_config;
pub(crate) mod config;
pub(crate) mod config_keys;
pub(crate) mod connection;
pub(crate) mod event_stream;
pub(crate) mod gateway_config;
pub(crate) mod health;
pub(crate) mod http_trace;
pub(crate) mod open_count;
pub(crate) mod prometheus;
pub(crate) mod rate_samples;
pub(crate) mod request_head;
pub(crate) mod rewind;
pub(crate) mod routed;
pub(crate) mod server;
pub(crate) mod services;
pub(crate) mod shutdown;
pub(crate) mod telemetry;

/// Runs a service's `run` function, printing a startup failure with its causes.
pub(crate) fn exit_on_error(
    result: Result<(), Box<dyn std::error::Error>>,
) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            let message = health::error_chain(err.as_ref());
            tracing::error!(error = %message, "startup failed");
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
