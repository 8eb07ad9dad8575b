//! `GET /health` (this gateway, JSON) and `GET /health/services` (all three, for the page).

use axum::{
    extract::State,
    response::{Html, IntoResponse},
};

use super::pages::fragment;
use crate::{
    common::health::{self, HEARTBEAT_EVERY, HealthReport},
    error::AppError,
    state::AppState,
    views::{ServiceView, ServicesView},
};

pub(crate) async fn own(State(s): State<AppState>) -> impl IntoResponse {
    health::handler(s.health.clone()).await
}

fn view(name: &str, report: Option<&HealthReport>, seen: String, stale: bool) -> ServiceView {
    let status = match report {
        None => "down".to_owned(),
        Some(_) if stale => "stale".to_owned(),
        Some(r) => r.status.clone(),
    };
    ServiceView {
        name: name.to_owned(),
        status,
        seen,
        dependencies: report
            .map(|r| {
                r.dependencies
                    .iter()
                    .map(|(n, d)| (n.clone(), d.backend.clone(), d.state.clone()))
                    .collect()
            })
            .unwrap_or_default(),
    }
}

pub(crate) async fn services(State(s): State<AppState>) -> Result<Html<String>, AppError> {
    let own = s.health.report().await;
    let mut services = vec![view(
        "gateway",
        Some(&own),
        "this process".to_owned(),
        false,
    )];
    for name in ["notifier", "processor"] {
        services.push(match s.peers.last(name) {
            Some((report, age)) => view(
                name,
                Some(&report),
                format!("heartbeat {}s ago", age.as_secs()),
                age > HEARTBEAT_EVERY * 3,
            ),
            None => view(name, None, "no heartbeat yet".to_owned(), false),
        });
    }
    fragment(&ServicesView { services })
}
