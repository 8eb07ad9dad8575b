//! The notifier's echo service: request/reply over any [`Responder`].

use std::{
    sync::Arc,
    task::{Context, Poll},
};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower::Service;

use switchboard_core::{Envelope, Error, Firehose, Group, Responder, Result, Serving, Subject};

use crate::Flow;

/// The subject the notifier answers on.
pub const REQUEST_SUBJECT: &str = "switchboard.page.request";
/// The queue group notifiers share, so each request is answered once.
pub const NOTIFIER_GROUP: &str = "notifier";

/// The notifier's answer to a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EchoReply {
    /// The service that answered.
    pub service: String,
    /// `echo: <text>`.
    pub message: String,
    /// When the reply was made.
    pub processed_at: DateTime<Utc>,
}

/// A `tower::Service` answering each request with an [`EchoReply`] as JSON.
///
/// The request text is the payload as UTF-8 or, when the payload is a JSON object with a
/// string `message`, that string. Each reply emits a firehose event (`nats` / `reply`).
#[derive(Clone, Debug)]
pub struct EchoService {
    service: Arc<str>,
    firehose: Firehose,
}

impl EchoService {
    /// Answers as `service`, emitting to `firehose`.
    pub fn new(service: &str, firehose: Firehose) -> Self {
        EchoService {
            service: Arc::from(service),
            firehose,
        }
    }

    /// Builds the reply for one request.
    pub fn reply_to(&self, request: &Envelope) -> EchoReply {
        EchoReply {
            service: self.service.to_string(),
            message: format!("echo: {}", request_text(request.payload())),
            processed_at: Utc::now(),
        }
    }
}

fn request_text(payload: &[u8]) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice(payload)
        && let Some(serde_json::Value::String(message)) = map.get("message")
    {
        return message.clone();
    }
    String::from_utf8_lossy(payload).into_owned()
}

impl Service<Envelope> for EchoService {
    type Response = Bytes;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Bytes>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Envelope) -> Self::Future {
        let reply = self.reply_to(&request);
        let firehose = self.firehose.clone();
        Box::pin(async move {
            let body =
                serde_json::to_vec(&reply).map_err(switchboard_core::InvalidInput::NotJson)?;
            tracing::debug!(subject = %request.subject(), message_id = %request.id(), "echo reply");
            firehose.emit(
                Flow::Nats,
                "reply",
                json!({ "subject": request.subject().as_str(), "message": reply.message }),
            );
            Ok(Bytes::from(body))
        })
    }
}

/// Serves an [`EchoService`] named `service` on [`REQUEST_SUBJECT`] in queue group
/// [`NOTIFIER_GROUP`]; serving stops when the returned [`Serving`] is dropped.
pub async fn serve_echo<R: Responder>(
    responder: &R,
    firehose: Firehose,
    service: &str,
) -> Result<Serving> {
    let subject = Subject::new(REQUEST_SUBJECT)?;
    let group = Group::new(NOTIFIER_GROUP)?;
    responder
        .serve(&subject, Some(&group), EchoService::new(service, firehose))
        .await
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;
    use tower::ServiceExt;

    use super::*;
    use switchboard_core::{
        FIREHOSE_SUBJECT, FirehoseEvent, Pattern, RequestService, Subscriber, mem::MemBus,
    };

    #[tokio::test]
    async fn echoes_text_and_emits_a_firehose_event() {
        let bus = MemBus::new();
        let mut firehose_events = bus
            .subscribe(&Pattern::new(FIREHOSE_SUBJECT).unwrap())
            .await
            .unwrap();
        let firehose = Firehose::spawn(bus.clone(), "notifier", 16);
        let _serving = serve_echo(&bus, firehose, "notifier").await.unwrap();
        let reply = RequestService::new(bus.clone())
            .with_timeout(Duration::from_secs(2))
            .oneshot(Envelope::new(
                Subject::new(REQUEST_SUBJECT).unwrap(),
                "hello <b>",
            ))
            .await
            .unwrap();
        let echo: EchoReply = reply.decode_json().unwrap();
        assert_eq!(echo.service, "notifier");
        assert_eq!(echo.message, "echo: hello <b>");
        let event: FirehoseEvent = firehose_events
            .next()
            .await
            .unwrap()
            .unwrap()
            .decode_json()
            .unwrap();
        assert_eq!(
            (event.kind.as_str(), event.action.as_str()),
            (Flow::Nats.as_str(), "reply")
        );
        assert_eq!(event.payload["message"], "echo: hello <b>");
    }

    #[test]
    fn json_message_field_is_the_text() {
        assert_eq!(request_text(br#"{"message":"hi"}"#), "hi");
        assert_eq!(request_text(br#"{"other":1}"#), r#"{"other":1}"#);
        assert_eq!(request_text(b"plain"), "plain");
    }
}
