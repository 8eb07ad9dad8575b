//! The router as hyper's service on one connection: each request gets the peer address
//! (`ConnectInfo`), and the connection learns when a response has left the router, the moment
//! hyper writes its head.

use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU8, Ordering},
    },
};

use axum::{
    Router,
    body::Body,
    extract::ConnectInfo,
    http::{Request, Response, header},
};
use hyper::body::Incoming;
use tower::ServiceExt;

/// What became of the request a [`Routed`] service was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Answer {
    /// No response yet.
    Pending,
    /// Answered; the connection may carry another request.
    KeepAlive,
    /// Answered with `connection: close`.
    Close,
}

/// Where a [`Routed`] service records its [`Answer`]; shared with the connection's driver.
#[derive(Debug, Default)]
pub(crate) struct Answered(AtomicU8);

impl Answered {
    pub(crate) fn get(&self) -> Answer {
        match self.0.load(Ordering::Acquire) {
            0 => Answer::Pending,
            1 => Answer::KeepAlive,
            _ => Answer::Close,
        }
    }

    fn set(&self, answer: Answer) {
        self.0.store(answer as u8, Ordering::Release);
    }

    pub(crate) fn reset(&self) {
        self.set(Answer::Pending);
    }
}

#[derive(Clone)]
pub(crate) struct Routed {
    pub(crate) router: Router,
    pub(crate) peer: SocketAddr,
    pub(crate) answered: Arc<Answered>,
}

impl hyper::service::Service<Request<Incoming>> for Routed {
    type Response = Response<Body>;
    type Error = Infallible;
    // Boxed, so that the connection is `Unpin` and can be handed back by hyper.
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let responding = self.router.clone().oneshot(request.map(Body::new));
        let answered = self.answered.clone();
        Box::pin(async move {
            let response = responding.await?;
            let closes = response
                .headers()
                .get_all(header::CONNECTION)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .flat_map(|value| value.split(','))
                .any(|token| token.trim().eq_ignore_ascii_case("close"));
            answered.set(if closes {
                Answer::Close
            } else {
                Answer::KeepAlive
            });
            Ok(response)
        })
    }
}
