//! Request/reply over core NATS: [`Requester`] and [`Responder`] for [`NatsBus`].

use std::time::{Duration, Instant};

use async_nats::{HeaderMap, HeaderValue};
use bytes::Bytes;
use futures::StreamExt;
use switchboard_core::{
    BoxError, Envelope, Group, Headers, Reply, Requester, Responder, Result, Serving, Subject,
    request::{Answer, ERROR_HEADER, answer},
};
use tower::Service;

use crate::{NatsBus, codec, error, settle::settled};

impl Requester for NatsBus {
    async fn request(&self, mut msg: Envelope, timeout: Duration) -> Result<Reply> {
        let limit = self.client.max_payload();
        msg.check_size(limit)?;
        let out = self.requests.start(&mut msg);
        let headers = codec::encode_headers(&msg, self.config.send_id_and_timestamp)?;
        let size = msg.payload().len();
        let request = async_nats::Request::new()
            .payload(msg.payload().clone())
            .headers(headers)
            .timeout(Some(timeout));
        out.run(async {
            let sent = Instant::now();
            let reply = self
                .client
                .send_request(msg.subject().as_str().to_owned(), request)
                .await
                .map_err(|err| error::request(err, msg.subject(), timeout, size, limit))?;
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
        let client = self.client.clone();
        let concurrency = self.config.responder_concurrency.max(1);
        let task = tokio::spawn(requests.for_each_concurrent(concurrency, move |request| {
            let svc = svc.clone();
            let client = client.clone();
            async move { respond(client, svc, request).await }
        }));
        Ok(Serving::new(task))
    }
}

async fn respond<S>(client: async_nats::Client, svc: S, request: async_nats::Message)
where
    S: Service<Envelope>,
    S::Response: Into<Answer>,
    S::Error: Into<BoxError>,
{
    let Some(reply_to) = request.reply else {
        tracing::debug!(subject = %request.subject, "ignoring a request without reply subject");
        return;
    };
    let (body, headers) = match codec::decode(
        request.subject.as_str(),
        request.headers.as_ref(),
        request.payload,
        &[],
    ) {
        Ok(envelope) => answer(codec::SYSTEM, svc, envelope).await,
        Err(err) => {
            let headers = [(ERROR_HEADER, err.to_string())].into_iter().collect();
            (Bytes::new(), headers)
        }
    };
    if let Err(err) = client
        .publish_with_headers(reply_to, reply_headers(&headers), body)
        .await
    {
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
