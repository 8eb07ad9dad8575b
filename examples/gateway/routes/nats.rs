//! Flow 3, NATS: request/reply to the notifier with the latency shown; subscriptions over SSE.
//! Subjects are page names ([`PageSubject`], [`PagePattern`]): the services' own subjects are
//! out of reach.

use std::time::Duration;

use axum::{
    extract::State,
    response::{Html, Response},
};
use chrono::Utc;
use serde::Deserialize;
use switchboard_core::{
    Envelope, FirehoseLayer, PagePattern, PageSubject, RequestService, Subscriber,
};
use switchboard_flows::{EchoReply, Flow};
use tower::{ServiceBuilder, ServiceExt};

use super::{encode, pages::fragment};
use crate::{
    error::AppError,
    limits::ClientIp,
    params::Params,
    sse,
    state::AppState,
    views::{Line, Listener, ResultView, render},
};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Deserialize)]
pub(crate) struct RequestForm {
    subject: Option<String>,
    message: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct SubjectQuery {
    subject: Option<String>,
}

/// `POST /nats/request` (message, subject): the reply and the measured latency.
pub(crate) async fn request(
    State(s): State<AppState>,
    Params(form): Params<RequestForm>,
) -> Result<Html<String>, AppError> {
    let subject = PageSubject::new(AppError::required(&form.subject, "subject")?)?;
    let message = AppError::required(&form.message, "message")?.to_owned();
    let reply = ServiceBuilder::new()
        .layer(FirehoseLayer::new(
            s.firehose.clone(),
            Flow::Nats,
            "request",
        ))
        .service(RequestService::new(s.requester.clone()).with_timeout(REQUEST_TIMEOUT))
        .oneshot(Envelope::new(subject.subject().clone(), message))
        .await?;
    let latency = format!("{:.3} ms", reply.rtt.as_secs_f64() * 1000.0);
    let view = match reply.decode_json::<EchoReply>() {
        Ok(echo) => ResultView::new("reply")
            .item("message", echo.message)
            .item("from", echo.service)
            .item("processed at", echo.processed_at.to_rfc3339()),
        Err(_) => ResultView::new("reply").item("message", String::from_utf8_lossy(&reply.payload)),
    };
    fragment(&view.item("subject", &subject).item("latency", latency))
}

fn pattern(q: &SubjectQuery) -> Result<PagePattern, AppError> {
    Ok(PagePattern::new(AppError::required(
        &q.subject, "subject",
    )?)?)
}

/// `GET /nats/subscribe?subject=`: SSE of the messages on a subject pattern.
pub(crate) async fn subscribe(
    State(s): State<AppState>,
    Params(q): Params<SubjectQuery>,
) -> Result<Response, AppError> {
    let pattern = pattern(&q)?;
    let messages = s.bus_subscriber.subscribe(pattern.pattern()).await?;
    let lines = sse::render_subscription(messages, "message", |msg| {
        render(&Line::new(
            Utc::now(),
            "nats",
            msg.subject().as_str(),
            String::from_utf8_lossy(msg.payload()),
        ))
    });
    Ok(sse::respond(lines, &s.shutdown))
}

/// `GET /nats/listen?subject=`: the element that opens that SSE stream.
/// Refused like the stream would be, so the page shows why.
pub(crate) async fn listen(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    Params(q): Params<SubjectQuery>,
) -> Result<Html<String>, AppError> {
    let pattern = pattern(&q)?;
    if let Some(refused) = s.open_streams.refusal(ip) {
        return Err(refused);
    }
    fragment(&Listener {
        id: "nats-listener",
        url: format!("/nats/subscribe?subject={}", encode(pattern.as_str())),
        event: "message",
        label: pattern.to_string(),
    })
}
