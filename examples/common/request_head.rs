//! The first request head of a connection, parsed before hyper sees it, to tell a request for an
//! event stream (served past hyper's per-connection buffers, see `event_stream.rs`) from
//! anything else (hyper's to answer, with the same bytes). Self-contained, so the fuzz target
//! `request_head` compiles this very file.
//!
//! Only heads that parse cleanly and ask for nothing but an event stream are taken; a head that
//! is malformed, too large, has a body or wants another protocol is [`Head::Other`], and hyper
//! answers it as it answers any request (400, 431, ...).

use axum::http::{HeaderName, HeaderValue, Method, Request, Uri, Version, header};

/// The most headers a head taken here may have (hyper's own limit is 100 too).
const MAX_HEADERS: usize = 100;

/// What the bytes read so far hold.
#[derive(Debug)]
pub(crate) enum Head {
    /// Not a whole head yet: read more.
    Partial,
    /// A whole head asking for an event stream: `GET` over HTTP/1.1 with `Accept:
    /// text/event-stream`, no body, no upgrade, no `Expect`.
    EventStream(Box<Request<()>>),
    /// Anything else, valid or not.
    Other,
}

/// Parses the start of a connection's bytes.
pub(crate) fn parse(bytes: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(bytes) {
        Ok(httparse::Status::Partial) => Head::Partial,
        Ok(httparse::Status::Complete(_)) => event_stream(&parsed)
            .map_or(Head::Other, |request| Head::EventStream(Box::new(request))),
        Err(_) => Head::Other,
    }
}

fn event_stream(parsed: &httparse::Request<'_, '_>) -> Option<Request<()>> {
    let path = parsed.path?;
    if parsed.method? != "GET" || parsed.version? != 1 || !path.starts_with('/') {
        return None;
    }
    let mut request = Request::new(());
    *request.method_mut() = Method::GET;
    *request.version_mut() = Version::HTTP_11;
    *request.uri_mut() = path.parse::<Uri>().ok()?;
    let headers = request.headers_mut();
    headers.reserve(parsed.headers.len());
    for field in parsed.headers.iter() {
        headers.append(
            HeaderName::from_bytes(field.name.as_bytes()).ok()?,
            HeaderValue::from_bytes(field.value).ok()?,
        );
    }
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get_all(header::CONTENT_LENGTH)
            .iter()
            .any(|length| length != "0");
    let other_protocol =
        headers.contains_key(header::UPGRADE) || headers.contains_key(header::EXPECT);
    (accepts_event_stream(headers) && !has_body && !other_protocol).then_some(request)
}

/// Whether an `Accept` header lists `text/event-stream` (as every `EventSource` sends).
fn accepts_event_stream(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|range| range.split(';').next())
        .any(|media| media.trim().eq_ignore_ascii_case("text/event-stream"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &str) -> Head {
        parse(text.as_bytes())
    }

    #[test]
    fn a_get_for_an_event_stream_is_taken_with_its_headers() {
        let Head::EventStream(request) = head(
            "GET /redis/subscribe?channel=a HTTP/1.1\r\nHost: t\r\n\
             Accept: text/html, Text/Event-Stream;q=0.9\r\nLast-Event-ID: 42\r\n\r\n",
        ) else {
            panic!("not taken");
        };
        assert_eq!(request.uri(), "/redis/subscribe?channel=a");
        assert_eq!(request.headers()["last-event-id"], "42");
        assert_eq!(request.headers()["host"], "t");
    }

    #[test]
    fn everything_else_is_left_to_hyper() {
        let sse = "accept: text/event-stream\r\n";
        for other in [
            "GET / HTTP/1.1\r\nhost: t\r\n\r\n".to_owned(),
            format!("POST /events HTTP/1.1\r\n{sse}content-length: 1\r\n\r\nx"),
            format!("GET / HTTP/1.0\r\n{sse}\r\n"),
            format!("GET / HTTP/1.1\r\n{sse}content-length: 3\r\n\r\n"),
            format!("GET / HTTP/1.1\r\n{sse}transfer-encoding: chunked\r\n\r\n"),
            format!("GET / HTTP/1.1\r\n{sse}upgrade: websocket\r\n\r\n"),
            format!("GET / HTTP/1.1\r\n{sse}expect: 100-continue\r\n\r\n"),
            format!("GET http://t/ HTTP/1.1\r\n{sse}\r\n"),
            format!("GET / HTTP/1.1\r\n{sse}bad header\r\n\r\n"),
            format!("GET /\x7f HTTP/1.1\r\n{sse}\r\n"),
            format!("GET / HTTP/1.1\r\n{}\r\n", sse.repeat(MAX_HEADERS + 1)),
        ] {
            assert!(matches!(head(&other), Head::Other), "{other:?}");
        }
    }

    #[test]
    fn an_unfinished_head_asks_for_more() {
        assert!(matches!(
            head("GET /firehose/stream HTTP/1.1\r\naccept: text/ev"),
            Head::Partial
        ));
    }
}
