//! Tracing: human-readable in `dev`, JSON in `prod`; `RUST_LOG` filters (default `info`).

use tracing_subscriber::EnvFilter;

use super::config::RunEnv;

/// Installs the global subscriber once.
pub(crate) fn init(env: RunEnv) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let installed = match env {
        RunEnv::Dev => builder.try_init(),
        RunEnv::Prod => builder.json().flatten_event(true).try_init(),
    };
    if let Err(err) = installed {
        eprintln!("tracing was already initialised: {err}");
    }
}
