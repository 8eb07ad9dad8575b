//! `Params<T>`: form fields from the query string (GET, and DELETE as htmx 2 sends it) or from
//! a urlencoded body; any problem is a 400 that names the field, a field that is not valid
//! UTF-8 included.

use axum::{
    extract::{FromRequest, Request},
    http::{Method, StatusCode, header},
};
use bytes::Bytes;
use serde::de::DeserializeOwned;

use crate::{error::AppError, utf8_fields};

/// Form or query parameters, rejected with 400 and the reason.
pub(crate) struct Params<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Params<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        let from_query = matches!(*req.method(), Method::GET | Method::HEAD)
            || !req.headers().contains_key(header::CONTENT_TYPE);
        if from_query {
            let query = req.uri().query().unwrap_or_default().to_owned();
            return parse(query.as_bytes());
        }
        let form = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !form {
            return Err(AppError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "expected an `application/x-www-form-urlencoded` body",
            ));
        }
        let body = Bytes::from_request(req, state).await.map_err(|err| {
            if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
                AppError::new(err.status(), "request body is over the limit")
            } else {
                AppError::bad_request(err.body_text())
            }
        })?;
        parse(&body)
    }
}

fn parse<T: DeserializeOwned>(raw: &[u8]) -> Result<Params<T>, AppError> {
    utf8_fields::check(raw).map_err(|bad| {
        AppError::bad_request(format!("field `{}` is not valid UTF-8", bad.field))
    })?;
    serde_urlencoded::from_bytes(raw)
        .map(Params)
        .map_err(|err| AppError::bad_request(format!("invalid form: {err}")))
}
