//! `Params<T>`: form fields from the query string (GET, and DELETE as htmx 2 sends it) or from
//! a urlencoded body; any problem is a 400 that names the field.

use axum::{
    Form,
    extract::{FromRequest, Query, Request},
    http::Method,
};
use serde::de::DeserializeOwned;

use crate::error::AppError;

/// Form or query parameters, rejected with 400 and the reason.
pub(crate) struct Params<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Params<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let from_query = matches!(*req.method(), Method::GET | Method::HEAD)
            || !req.headers().contains_key(axum::http::header::CONTENT_TYPE);
        if from_query {
            return Query::<T>::try_from_uri(req.uri())
                .map(|Query(v)| Params(v))
                .map_err(|err| AppError::bad_request(err.body_text()));
        }
        Form::<T>::from_request(req, state)
            .await
            .map(|Form(v)| Params(v))
            .map_err(|err| {
                let status = err.status();
                if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::new(status, "request body is over the limit")
                } else {
                    AppError::bad_request(err.body_text())
                }
            })
    }
}
