//! HTTP-level tests of every route, through `tower::ServiceExt::oneshot` on the in-memory
//! transports, including each route's error cases.

mod asyncapi;
mod events;
mod kafka;
mod metrics;
mod nats;
mod pages;
mod redis;
mod security;
mod served;
mod served_bridge;
mod served_drain;
mod served_keep_alive;
mod served_limits;
mod served_names;
mod served_streams;
mod trace;
mod ws;

use std::time::Duration;

use axum::{
    Router,
    body::Body,
    http::{HeaderMap, Method, Request, StatusCode, header},
};
use http_body_util::BodyExt;
use switchboard_core::Serving;
use tower::ServiceExt;

use crate::{
    common::{
        backends::{Backends, BackendsExt},
        gateway_config::LimitsConfig,
        health::Health,
        services,
        shutdown::Shutdown,
    },
    routes,
    state::AppState,
};

/// The body limit of the test app.
pub(crate) const LIMIT: usize = 4096;

pub(crate) struct TestApp {
    pub(crate) app: Router,
    pub(crate) state: AppState,
    pub(crate) backends: Backends,
    pub(crate) shutdown: Shutdown,
    _notifier: Option<Serving>,
}

pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: String,
}

impl TestApp {
    /// The gateway with the notifier and processor in-process, all in memory.
    pub(crate) async fn new() -> TestApp {
        Self::build(true, &LimitsConfig::default()).await
    }

    /// The gateway alone: nobody answers requests and nothing is processed.
    pub(crate) async fn alone() -> TestApp {
        Self::build(false, &LimitsConfig::default()).await
    }

    /// The gateway with the services, under `limits`.
    pub(crate) async fn with_limits(limits: &LimitsConfig) -> TestApp {
        Self::build(true, limits).await
    }

    async fn build(with_services: bool, limits: &LimitsConfig) -> TestApp {
        // As at a service's startup: every stream of every test is counted from its start.
        crate::common::prometheus::handle();
        let backends = Backends::embedded();
        let shutdown = Shutdown::new();
        let notifier = if with_services {
            services::spawn_processor(
                &backends,
                "processor",
                &Default::default(),
                shutdown.clone(),
            );
            Some(services::start_notifier(&backends).await.unwrap())
        } else {
            None
        };
        let health = Health::new("gateway", vec![backends.dependency("postgres")]);
        let state = AppState::new(&backends, health, shutdown.clone(), limits);
        crate::announcements::start(&backends, state.firehose.clone(), shutdown.clone())
            .await
            .unwrap();
        crate::rates::start(&backends, state.rates.clone(), shutdown.clone())
            .await
            .unwrap();
        crate::common::rate_samples::spawn_sampler(
            "gateway",
            backends.bus.publisher.clone(),
            shutdown.clone(),
        );
        TestApp {
            app: routes::app(state.clone(), LIMIT),
            state,
            backends,
            shutdown,
            _notifier: notifier,
        }
    }

    pub(crate) fn request(&self, method: Method, uri: &str) -> axum::http::request::Builder {
        Request::builder()
            .method(method)
            .uri(uri)
            .header("x-csrf-token", self.state.csrf_token.clone())
    }

    pub(crate) async fn send(&self, req: Request<Body>) -> Answer {
        let response = self.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub(crate) async fn get(&self, uri: &str) -> Answer {
        self.send(self.request(Method::GET, uri).body(Body::empty()).unwrap())
            .await
    }

    pub(crate) async fn form(&self, method: Method, uri: &str, form: &str) -> Answer {
        let req = self
            .request(method, uri)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(form.to_owned()))
            .unwrap();
        self.send(req).await
    }

    pub(crate) async fn post(&self, uri: &str, form: &str) -> Answer {
        self.form(Method::POST, uri, form).await
    }

    pub(crate) async fn delete(&self, uri: &str) -> Answer {
        self.send(
            self.request(Method::DELETE, uri)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    /// Opens an SSE stream and returns its body once the handler subscribed.
    pub(crate) async fn sse(&self, uri: &str) -> Body {
        let response = self
            .app
            .clone()
            .oneshot(self.request(Method::GET, uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/event-stream",
            "{uri}"
        );
        response.into_body()
    }
}

/// Reads an SSE body until it holds `needle`; fails after 5 seconds.
pub(crate) async fn read_until(body: &mut Body, needle: &str) -> String {
    let mut seen = String::new();
    let read = async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame.unwrap().into_data() {
                seen.push_str(&String::from_utf8_lossy(&data));
                if seen.contains(needle) {
                    return;
                }
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .is_err()
    {
        panic!("no `{needle}` in the stream; got: {seen}");
    }
    seen
}

/// Asserts a rejected request: its status, and the reason in the error fragment.
pub(crate) fn assert_rejected(answer: &Answer, status: StatusCode, reason: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert!(
        answer.body.contains(reason),
        "reason `{reason}` not in: {}",
        answer.body
    );
    assert_eq!(answer.headers["hx-retarget"], "#flash");
}
