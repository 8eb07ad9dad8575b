//! `GET /health` and the heartbeat every service publishes on `switchboard.health.<service>`.

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use axum::{Json, http::StatusCode, response::IntoResponse};
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use switchboard_core::{DynPublisher, Envelope, Publisher, Subject};

use super::{backends::PROBE_TIMEOUT, shutdown::Shutdown};

/// Heartbeats go to `switchboard.health.<service>`.
pub(crate) const HEARTBEAT_PREFIX: &str = "switchboard.health";
/// How often a service announces its health.
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_secs(3);

type ProbeFn = Arc<dyn Fn() -> BoxFuture<'static, switchboard_core::Result<()>> + Send + Sync>;

/// One thing a service depends on, and how to check it.
#[derive(Clone)]
pub(crate) struct Dependency {
    name: &'static str,
    backend: &'static str,
    probe: Option<ProbeFn>,
}

impl Dependency {
    pub(crate) fn probed(
        name: &'static str,
        backend: &'static str,
        probe: impl Fn() -> BoxFuture<'static, switchboard_core::Result<()>> + Send + Sync + 'static,
    ) -> Self {
        Dependency {
            name,
            backend,
            probe: Some(Arc::new(probe)),
        }
    }

    pub(crate) fn unprobed(name: &'static str, backend: &'static str) -> Self {
        Dependency {
            name,
            backend,
            probe: None,
        }
    }
}

/// The state of one dependency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DependencyState {
    pub(crate) backend: String,
    /// `up`, `down` or `unchecked`.
    pub(crate) state: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

/// What `GET /health` answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct HealthReport {
    pub(crate) service: String,
    /// `ok` when every dependency is up, else `degraded`.
    pub(crate) status: String,
    pub(crate) uptime_secs: u64,
    pub(crate) at: DateTime<Utc>,
    pub(crate) dependencies: BTreeMap<String, DependencyState>,
}

impl HealthReport {
    pub(crate) fn ok(&self) -> bool {
        self.status == "ok"
    }
}

/// A service's health: its dependencies and when it started.
#[derive(Clone)]
pub(crate) struct Health {
    service: Arc<str>,
    started: std::time::Instant,
    dependencies: Arc<Vec<Dependency>>,
}

impl Health {
    pub(crate) fn new(service: &str, dependencies: Vec<Dependency>) -> Self {
        Health {
            service: Arc::from(service),
            started: std::time::Instant::now(),
            dependencies: Arc::new(dependencies),
        }
    }

    /// Probes every dependency (each bounded by a timeout) and reports.
    pub(crate) async fn report(&self) -> HealthReport {
        let checks = self.dependencies.iter().map(|dep| async move {
            let state = match &dep.probe {
                None => ("unchecked", None),
                Some(probe) => match tokio::time::timeout(PROBE_TIMEOUT, probe()).await {
                    Ok(Ok(())) => ("up", None),
                    Ok(Err(err)) => ("down", Some(error_chain(&err))),
                    Err(_) => ("down", Some(format!("no answer within {PROBE_TIMEOUT:?}"))),
                },
            };
            let state = DependencyState {
                backend: dep.backend.to_owned(),
                state: state.0.to_owned(),
                error: state.1,
            };
            (dep.name.to_owned(), state)
        });
        let dependencies: BTreeMap<_, _> = futures::future::join_all(checks)
            .await
            .into_iter()
            .collect();
        let ok = dependencies.values().all(|d| d.state != "down");
        HealthReport {
            service: self.service.to_string(),
            status: if ok { "ok" } else { "degraded" }.to_owned(),
            uptime_secs: self.started.elapsed().as_secs(),
            at: Utc::now(),
            dependencies,
        }
    }

    /// Publishes the report every [`HEARTBEAT_EVERY`] until shutdown.
    pub(crate) fn spawn_heartbeat(&self, publisher: DynPublisher, shutdown: Shutdown) {
        let health = self.clone();
        tokio::spawn(async move {
            let subject = Subject::new(format!("{HEARTBEAT_PREFIX}.{}", health.service))
                .expect("service names are subject tokens");
            let mut tick = tokio::time::interval(HEARTBEAT_EVERY);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    () = shutdown.wait() => break,
                }
                let report = health.report().await;
                if let Ok(msg) = Envelope::json(subject.clone(), &report)
                    && let Err(err) = publisher.publish(msg).await
                {
                    tracing::debug!(error = %err, "heartbeat not published");
                }
            }
        });
    }
}

/// The `GET /health` handler: 200 when every dependency is up, 503 otherwise.
pub(crate) async fn handler(health: Health) -> impl IntoResponse {
    let report = health.report().await;
    let status = if report.ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(report))
}

/// The error and its causes, joined.
pub(crate) fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::*;

    #[tokio::test]
    async fn a_down_dependency_degrades_the_report_and_answers_503() {
        let health = Health::new(
            "processor",
            vec![
                Dependency::probed("postgres", "postgres", || {
                    Box::pin(async {
                        Err(switchboard_core::Error::unavailable(std::io::Error::other(
                            "connection refused",
                        )))
                    })
                }),
                Dependency::probed("redis", "memory", || Box::pin(async { Ok(()) })),
                Dependency::unprobed("kafka", "kafka"),
            ],
        );
        let report = health.report().await;
        assert_eq!(report.status, "degraded");
        let postgres = &report.dependencies["postgres"];
        assert_eq!(postgres.state, "down");
        assert_eq!(
            postgres.error.as_deref(),
            Some("backend unavailable: connection refused")
        );
        assert_eq!(report.dependencies["redis"].state, "up");
        assert_eq!(report.dependencies["kafka"].state, "unchecked");
        let response = handler(health).await.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_probe_times_out() {
        let health = Health::new(
            "gateway",
            vec![Dependency::probed("nats", "nats", || {
                Box::pin(futures::future::pending())
            })],
        );
        let report = health.report().await;
        assert_eq!(report.dependencies["nats"].state, "down");
        assert!(
            report.dependencies["nats"]
                .error
                .as_deref()
                .unwrap()
                .contains("no answer")
        );
    }
}
