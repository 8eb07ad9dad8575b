//! Tower layers every flow can stack: [`TimeoutLayer`], [`RetryLayer`] (with its [`Backoff`])
//! and [`TraceLayer`].
//!
//! ```
//! use std::time::Duration;
//! use switchboard_core::layer::{RetryLayer, TimeoutLayer, TraceLayer};
//! use switchboard_core::{Envelope, Error, Subject};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Error> {
//! let svc = ServiceBuilder::new()
//!     .layer(TraceLayer::new("demo"))
//!     .layer(RetryLayer::new(3, Duration::from_millis(10)))
//!     .layer(TimeoutLayer::new(Duration::from_secs(1)))
//!     .service(service_fn(|msg: Envelope| async move { Ok::<_, Error>(msg.payload().len()) }));
//! let len = svc.oneshot(Envelope::new(Subject::new("a.b")?, "four")).await?;
//! assert_eq!(len, 4);
//! # Ok(()) }
//! ```

mod backoff;
mod retry;
mod timeout;
mod trace;

pub use backoff::Backoff;
pub use retry::{Retry, RetryLayer};
pub use timeout::{Timeout, TimeoutLayer};
pub use trace::{Trace, TraceFields, TraceLayer};
