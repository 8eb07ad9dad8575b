//! Errors a route answers with: a status and an escaped HTML fragment that the page shows in
//! its error banner (`HX-Retarget: #flash`).

use askama::Template;
use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use switchboard_core::{Error, ErrorKind};

use crate::common::health::error_chain;

/// A failed request.
#[derive(Debug)]
pub(crate) struct AppError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    /// Seconds for the `Retry-After` header of a refusal that passes.
    pub(crate) retry_after: Option<u64>,
}

impl AppError {
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        AppError {
            status,
            message: message.into(),
            retry_after: None,
        }
    }

    /// Adds `Retry-After: <secs>`.
    pub(crate) fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    /// Requires a non-blank form field.
    pub(crate) fn required<'a>(
        value: &'a Option<String>,
        field: &str,
    ) -> Result<&'a str, AppError> {
        match value.as_deref().map(str::trim) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(AppError::bad_request(format!("missing field `{field}`"))),
        }
    }
}

impl From<Error> for AppError {
    fn from(err: Error) -> Self {
        let status = match err.kind() {
            ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorKind::NoResponders | ErrorKind::Unavailable | ErrorKind::CapacityExceeded => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
            ErrorKind::Remote => StatusCode::BAD_GATEWAY,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::warn!(error = %error_chain(&err), "request failed");
        }
        AppError::new(status, error_chain(&err))
    }
}

impl From<switchboard_core::InvalidInput> for AppError {
    fn from(err: switchboard_core::InvalidInput) -> Self {
        AppError::bad_request(err.to_string())
    }
}

#[derive(Template)]
#[template(path = "fragments/error.html")]
struct ErrorFragment<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let fragment = ErrorFragment {
            status: self.status.as_u16(),
            reason: self.status.canonical_reason().unwrap_or("error"),
            message: &self.message,
        }
        .render()
        .unwrap_or_else(|_| "error".to_owned());
        let mut response = (self.status, Html(fragment)).into_response();
        let headers = response.headers_mut();
        headers.insert("hx-retarget", HeaderValue::from_static("#flash"));
        headers.insert("hx-reswap", HeaderValue::from_static("innerHTML"));
        if let Some(secs) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}
