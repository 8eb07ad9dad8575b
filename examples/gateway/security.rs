//! The CSRF guard and the security headers every response carries.
//!
//! A mutating request (anything but GET, HEAD, OPTIONS) must carry the page's `x-csrf-token`
//! header, which htmx sends from `hx-headers`: a cross-site form cannot set a custom header. A
//! browser's `Sec-Fetch-Site` header, when present, must also say same-origin.

use axum::{
    extract::{Request, State},
    http::{HeaderValue, Method, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

use crate::{error::AppError, state::AppState};

/// The header the page sends its token in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

pub(crate) async fn guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Err(err) = check(&state, &req) {
        return with_headers(err.into_response());
    }
    with_headers(next.run(req).await)
}

fn check(state: &AppState, req: &Request) -> Result<(), AppError> {
    let site = req
        .headers()
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok());
    if matches!(site, Some("cross-site" | "same-site")) && req.method() != Method::GET {
        return Err(AppError::forbidden("cross-site request refused"));
    }
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return Ok(());
    }
    let token = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    if token != Some(state.csrf_token.as_str()) {
        return Err(AppError::forbidden(format!(
            "missing or wrong `{CSRF_HEADER}` header: reload the page"
        )));
    }
    Ok(())
}

fn with_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}
