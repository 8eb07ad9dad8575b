//! Request/reply over core NATS: [`Requester`] and [`Responder`] for [`NatsBus`].

use std::time::{Duration, Instant};

use async_nats::{HeaderMap, HeaderValue};
use switchboard_core::{
    BoxError, Envelope, Group, Headers, Reply, Requester, Responder, Result, Serving, Subject,
    request::{Answer, answer},
};
use tower::Service;

use crate::{
    NatsBus, codec, concurrent::for_each_concurrent, error, settle::settled, subject::to_client,
};

impl Requester for NatsBus {
    async fn request(&self, mut msg: Envelope, timeout: Duration) -> Result<Reply> {
        let limit = self.client.max_payload();
        msg.check_size(limit)?;
        let out = self.requests.start(&mut msg);
        let headers = codec::encode_headers(&msg, self.config.send_id_and_timestamp)?;
        let size = msg.payload().len();
        let mut request = async_nats::Request::new()
            .payload(msg.payload().clone())
            .timeout(Some(timeout));
        if let Some(headers) = headers {
            request = request.headers(headers);
        }
        let subject = msg.subject().clone();
        // Not kept across the send: every byte of this future is copied as it is built.
        drop(msg);
        out.run(async {
            let sent = Instant::now();
            let reply = self
                .client
                .send_request(to_client(&subject), request)
                .await
                .map_err(|err| error::request(err, &subject, timeout, size, limit))?;
            let headers = codec::decode_headers(reply.headers.as_ref(), &[]);
            Reply::received(reply.payload, headers, sent)
        })
        .await
    }
}

impl Responder for NatsBus {
    async fn serve<S>(&self, subject: &Subject, group: Option<&Group>, svc: S) -> Result<Serving>
    where
        S: Service<Envelope> + Clone + Send + 'static,
        S::Response: Into<Answer>,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        let requests = match group {
            Some(group) => {
                self.client
                    .queue_subscribe(subject.as_str().to_owned(), group.as_str().to_owned())
                    .await
            }
            None => self.client.subscribe(subject.as_str().to_owned()).await,
        }
        .map_err(error::unavailable)?;
        settled(&self.client).await?;
        tracing::debug!(subject = %subject, group = ?group, "nats responder serving");
        let (client, subject) = (self.client.clone(), subject.clone());
        let concurrency = self.config.responder_concurrency;
        let task = tokio::spawn(async move {
            let (client, subject) = (&client, &subject);
            for_each_concurrent(requests, concurrency, move |request| {
                respond(client, svc.clone(), subject.clone(), request)
            })
            .await;
        });
        Ok(Serving::new(task))
    }
}

/// Answers one request to `subject`, the subject served.
async fn respond<S>(
    client: &async_nats::Client,
    svc: S,
    subject: Subject,
    request: async_nats::Message,
) where
    S: Service<Envelope>,
    S::Response: Into<Answer>,
    S::Error: Into<BoxError>,
{
    let Some(reply_to) = request.reply else {
        tracing::debug!(subject = %request.subject, "ignoring a request without reply subject");
        return;
    };
    // A subject has no wildcards, so every request arrives on the served one: nothing to check.
    let envelope = codec::decode_for(subject, request.headers.as_ref(), request.payload, &[]);
    let (body, headers) = answer(codec::SYSTEM, svc, envelope).await;
    let sent = if headers.is_empty() {
        client.publish(reply_to, body).await
    } else {
        let headers = reply_headers(&headers);
        client.publish_with_headers(reply_to, headers, body).await
    };
    if let Err(err) = sent {
        tracing::warn!(subject = %request.subject, error = %err, "nats reply failed");
    }
}

/// Reply headers, made safe for NATS: line breaks in values become spaces.
fn reply_headers(headers: &Headers) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in headers.iter() {
        let value: String = value
            .chars()
            .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
            .collect();
        if let (Ok(name), Ok(value)) = (
            async_nats::HeaderName::try_from(name),
            value.parse::<HeaderValue>(),
        ) {
            map.insert(name, value);
        }
    }
    map
}
