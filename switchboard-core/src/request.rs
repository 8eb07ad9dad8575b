//! Request/reply: a requester that is a `tower::Service`, and responders that serve any
//! `tower::Service` on a subject.
//!
//! # Semantics
//!
//! - A request reaches one responder of each queue group serving its subject (load sharing), and
//!   every responder serving it without a group. The first reply wins.
//! - Nobody serving the subject is a fast [`Error::NoResponders`], not a timeout.
//! - No reply within the timeout is [`Error::Timeout`].
//! - A responder whose service fails answers with the error's message, which the requester sees
//!   as [`Error::Remote`].
//! - Requests are not stored: a responder that is down misses them (at-most-once).

use std::{
    future::Future,
    sync::Arc,
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures::{FutureExt, future::BoxFuture};
use tower::{Service, ServiceExt, util::BoxCloneService};

use tracing::Instrument;

use crate::{BoxError, Envelope, Error, Group, Headers, Result, Subject, erased::dyn_twin, trace};

/// Header a responder sets when its service failed; the value is the error message.
pub const ERROR_HEADER: &str = "switchboard-error";

/// The answer to a request, with the measured round-trip time.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The reply body.
    pub payload: Bytes,
    /// The reply headers.
    pub headers: Headers,
    /// Time from sending the request to receiving this reply.
    pub rtt: Duration,
}

impl Reply {
    /// Builds a reply from what came back, measuring from `sent`; a reply carrying
    /// [`ERROR_HEADER`] becomes [`Error::Remote`].
    pub fn received(payload: Bytes, headers: Headers, sent: Instant) -> Result<Reply> {
        if let Some(message) = headers.get(ERROR_HEADER) {
            return Err(Error::Remote {
                message: message.to_owned(),
            });
        }
        Ok(Reply {
            payload,
            headers,
            rtt: sent.elapsed(),
        })
    }

    /// Decodes the payload as JSON.
    pub fn decode_json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        Ok(serde_json::from_slice(&self.payload).map_err(crate::InvalidInput::NotJson)?)
    }
}

/// What a responder's service returns: the reply body and the headers to send with it.
///
/// A service may return plain [`Bytes`] (a body without headers) or an `Answer`.
///
/// ```
/// use switchboard_core::request::Answer;
/// let answer = Answer::new("pong").with_header("x-served-by", "notifier-1");
/// assert_eq!(answer.headers.get("x-served-by"), Some("notifier-1"));
/// ```
#[derive(Clone, Debug, Default)]
pub struct Answer {
    /// The reply body.
    pub payload: Bytes,
    /// The reply headers.
    pub headers: Headers,
}

impl Answer {
    /// A reply body without headers.
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Answer {
            payload: payload.into(),
            headers: Headers::new(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name, value);
        self
    }
}

impl From<Bytes> for Answer {
    fn from(payload: Bytes) -> Self {
        Answer::new(payload)
    }
}

/// Sends requests and waits for the first reply.
pub trait Requester: Send + Sync {
    /// Sends `msg` to its subject and waits at most `timeout` for a reply.
    fn request(
        &self,
        msg: Envelope,
        timeout: Duration,
    ) -> impl Future<Output = Result<Reply>> + Send;
}

/// Serves a `tower::Service` on a subject.
pub trait Responder: Send + Sync {
    /// Answers every request on `subject` with `svc`. Responders sharing a `group` share the
    /// load: each request goes to one of them. When this returns, the responder is active.
    /// Serving stops when the returned [`Serving`] is dropped.
    fn serve<S>(
        &self,
        subject: &Subject,
        group: Option<&Group>,
        svc: S,
    ) -> impl Future<Output = Result<Serving>> + Send
    where
        S: Service<Envelope> + Clone + Send + 'static,
        S::Response: Into<Answer>,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static;
}

/// Runs `svc` on one request inside a consumer span that continues the request's trace (see
/// [`trace::consumer_span`]), turning a failure into the reply body and error header a
/// responder sends back. Backends use it so every responder traces and reports the same way;
/// `system` is their `messaging.system`.
pub async fn answer<S>(system: &'static str, svc: S, request: Envelope) -> (Bytes, Headers)
where
    S: Service<Envelope>,
    S::Response: Into<Answer>,
    S::Error: Into<BoxError>,
{
    let span = trace::consumer_span(system, "process", &request);
    let answered = if span.is_none() {
        svc.oneshot(request).await
    } else {
        svc.oneshot(request).instrument(span).await
    };
    match answered {
        Ok(answer) => {
            let Answer { payload, headers } = answer.into();
            (payload, headers)
        }
        Err(err) => {
            let err: BoxError = err.into();
            // A header value is one line.
            let message = crate::report(&*err).replace(['\r', '\n'], " ");
            tracing::debug!(error = %message, "responder service failed");
            let headers = [(ERROR_HEADER, message)].into_iter().collect();
            (Bytes::new(), headers)
        }
    }
}

/// A running responder. Dropping it, or calling [`Serving::stop`], stops serving.
#[derive(Debug)]
pub struct Serving {
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Serving {
    /// Wraps the task that serves requests; the task is aborted when this is dropped.
    pub fn new(task: tokio::task::JoinHandle<()>) -> Self {
        Serving { task: Some(task) }
    }

    /// Stops serving and waits until the serving task has ended.
    pub async fn stop(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Whether the serving task has ended (for example, its connection was closed for good).
    pub fn is_finished(&self) -> bool {
        self.task.as_ref().is_none_or(|t| t.is_finished())
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A `tower::Service` that sends each request through a [`Requester`] with a timeout.
///
/// Stack it with [`tower::ServiceBuilder`] and the layers in [`crate::layer`].
#[derive(Debug)]
pub struct RequestService<R> {
    requester: Arc<R>,
    timeout: Duration,
}

impl<R> Clone for RequestService<R> {
    fn clone(&self) -> Self {
        RequestService {
            requester: self.requester.clone(),
            timeout: self.timeout,
        }
    }
}

impl<R: Requester + 'static> RequestService<R> {
    /// The default time to wait for a reply.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// Wraps `requester` with the default timeout.
    pub fn new(requester: R) -> Self {
        Self::from_arc(Arc::new(requester))
    }

    /// Wraps a shared requester.
    pub fn from_arc(requester: Arc<R>) -> Self {
        RequestService {
            requester,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// Sets how long to wait for a reply.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

impl<R: Requester + 'static> Service<Envelope> for RequestService<R> {
    type Response = Reply;
    type Error = Error;
    type Future = BoxFuture<'static, Result<Reply>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, msg: Envelope) -> Self::Future {
        let requester = self.requester.clone();
        let timeout = self.timeout;
        async move { requester.request(msg, timeout).await }.boxed()
    }
}

/// A boxed service a [`DynResponder`] serves.
pub type BoxResponderService = BoxCloneService<Envelope, Answer, BoxError>;

dyn_twin! {
    /// A type-erased [`Requester`].
    pub struct DynRequester: Requester via ErasedRequester {
        fn request(&self, msg: Envelope, timeout: Duration) -> Result<Reply>;
    }
}

dyn_twin! {
    /// A type-erased [`Responder`]; it boxes the service it serves.
    pub struct DynResponder: Responder via ErasedResponder, impl by_hand {
        fn serve<'s, 'g>(
            &self,
            subject: &'s Subject,
            group: Option<&'g Group>,
            svc: BoxResponderService
        ) -> Result<Serving>;
    }
}

impl Responder for DynResponder {
    fn serve<S>(
        &self,
        subject: &Subject,
        group: Option<&Group>,
        svc: S,
    ) -> impl Future<Output = Result<Serving>> + Send
    where
        S: Service<Envelope> + Clone + Send + 'static,
        S::Response: Into<Answer>,
        S::Error: Into<BoxError>,
        S::Future: Send + 'static,
    {
        let svc = BoxCloneService::new(svc.map_response(Into::into).map_err(Into::into));
        async move { self.0.serve(subject, group, svc).await }
    }
}
