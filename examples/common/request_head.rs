//! Each request head of a connection, parsed before hyper sees it, to tell a request for an
//! event stream (served past hyper's per-connection buffers, see `event_stream.rs`) from a plain
//! request (hyper answers it alone, then the connection is ours again) and from anything else
//! (hyper serves the rest of the connection). Self-contained, so the fuzz target
//! `request_head` compiles this very file.
//!
//! Only heads that parse cleanly are taken; a head that is malformed, too large, or frames its
//! body in a way this file does not follow is [`Head::Other`], and hyper answers it as it
//! answers any request (400, 431, ...).

use axum::http::{HeaderName, HeaderValue, Method, Request, Uri, Version};

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
    /// A whole HTTP/1.1 head whose request ends after `length` bytes (the head and its
    /// `Content-Length`), with no upgrade, no `Expect` and no `Connection` other than
    /// keep-alive: hyper can answer it alone and hand the connection back for the next one.
    Single {
        /// Bytes from the start of the head to the end of the body.
        length: u64,
    },
    /// Anything else, valid or not.
    Other,
}

/// Parses the start of a request's bytes.
pub(crate) fn parse(bytes: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut headers);
    match parsed.parse(bytes) {
        Ok(httparse::Status::Partial) => Head::Partial,
        Ok(httparse::Status::Complete(head_length)) => classify(&parsed, head_length),
        Err(_) => Head::Other,
    }
}

fn classify(parsed: &httparse::Request<'_, '_>, head_length: usize) -> Head {
    if parsed.version != Some(1) {
        return Head::Other;
    }
    let framing = Framing::of(parsed.headers);
    if let Some(request) = event_stream(parsed, &framing) {
        return Head::EventStream(Box::new(request));
    }
    match (framing.content_length, parsed.method) {
        (Some(body), Some(method))
            if !framing.other_protocol && !framing.closes && method != "CONNECT" =>
        {
            Head::Single {
                length: head_length as u64 + body,
            }
        }
        _ => Head::Other,
    }
}

/// What a head's headers say about where its request ends and what the connection does next.
struct Framing {
    /// The body's length: `Content-Length` (0 when absent), `None` when the head has a
    /// `Transfer-Encoding`, several lengths or one that is not a plain number.
    content_length: Option<u64>,
    /// An `Upgrade` or an `Expect`.
    other_protocol: bool,
    /// A `Connection` that is not only keep-alive (`close`, `upgrade`, ...).
    closes: bool,
    accepts_event_stream: bool,
}

impl Framing {
    fn of(headers: &[httparse::Header<'_>]) -> Framing {
        let mut framing = Framing {
            content_length: Some(0),
            other_protocol: false,
            closes: false,
            accepts_event_stream: false,
        };
        let mut lengths = 0;
        for field in headers {
            let name = field.name;
            if name.eq_ignore_ascii_case("content-length") {
                lengths += 1;
                framing.content_length = framing
                    .content_length
                    .and_then(|_| (lengths == 1).then(|| number(field.value)).flatten());
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                framing.content_length = None;
            } else if name.eq_ignore_ascii_case("upgrade") || name.eq_ignore_ascii_case("expect") {
                framing.other_protocol = true;
            } else if name.eq_ignore_ascii_case("connection") {
                framing.closes |=
                    !tokens(field.value).all(|t| t.eq_ignore_ascii_case("keep-alive"));
            } else if name.eq_ignore_ascii_case("accept") {
                framing.accepts_event_stream |= tokens(field.value)
                    .filter_map(|range| range.split(';').next())
                    .any(|media| media.trim().eq_ignore_ascii_case("text/event-stream"));
            }
        }
        framing
    }
}

/// A `Content-Length` value: ASCII digits only, as hyper reads it.
fn number(value: &[u8]) -> Option<u64> {
    let digits = std::str::from_utf8(value).ok()?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The comma-separated elements of a header value, trimmed (none when it is not text).
fn tokens(value: &[u8]) -> impl Iterator<Item = &str> {
    std::str::from_utf8(value)
        .ok()
        .into_iter()
        .flat_map(|text| text.split(','))
        .map(str::trim)
}

fn event_stream(parsed: &httparse::Request<'_, '_>, framing: &Framing) -> Option<Request<()>> {
    let path = parsed.path?;
    if parsed.method? != "GET"
        || !path.starts_with('/')
        || framing.content_length != Some(0)
        || framing.other_protocol
        || !framing.accepts_event_stream
    {
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
    Some(request)
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
    fn an_event_stream_on_a_keep_alive_connection_is_taken() {
        let text = "GET /firehose/stream HTTP/1.1\r\nconnection: keep-alive\r\n\
                    accept: text/event-stream\r\ncontent-length: 0\r\n\r\n";
        assert!(matches!(head(text), Head::EventStream(_)));
    }

    #[test]
    fn a_plain_request_is_answered_alone_up_to_the_end_of_its_body() {
        let get = "GET /events HTTP/1.1\r\nhost: t\r\nconnection: Keep-Alive\r\n\r\n";
        assert!(matches!(head(get), Head::Single { length } if length == get.len() as u64));
        let post = "POST /nats/request HTTP/1.1\r\ncontent-length: 12\r\n\r\n";
        assert!(matches!(
            head(&format!("{post}message=hi&x")),
            Head::Single { length } if length == post.len() as u64 + 12
        ));
        // What follows the head is the body's, or the next request's: it changes nothing.
        assert!(matches!(
            head(&format!("{get}GET / HTTP/1.1\r\n")),
            Head::Single { .. }
        ));
    }

    #[test]
    fn everything_else_is_left_to_hyper() {
        let sse = "accept: text/event-stream\r\n";
        for other in [
            format!("GET / HTTP/1.0\r\n{sse}\r\n"),
            "GET / HTTP/1.1\r\nconnection: close\r\n\r\n".to_owned(),
            "GET / HTTP/1.1\r\nconnection: keep-alive, upgrade\r\nupgrade: h2c\r\n\r\n".to_owned(),
            format!("GET / HTTP/1.1\r\n{sse}transfer-encoding: chunked\r\n\r\n"),
            "POST / HTTP/1.1\r\ncontent-length: 3\r\ncontent-length: 3\r\n\r\n".to_owned(),
            "POST / HTTP/1.1\r\ncontent-length: +3\r\n\r\n".to_owned(),
            "POST / HTTP/1.1\r\ncontent-length: \r\n\r\n".to_owned(),
            format!("GET / HTTP/1.1\r\n{sse}upgrade: websocket\r\n\r\n"),
            format!("GET / HTTP/1.1\r\n{sse}expect: 100-continue\r\n\r\n"),
            "CONNECT t:443 HTTP/1.1\r\nhost: t:443\r\n\r\n".to_owned(),
            format!("GET / HTTP/1.1\r\n{sse}bad header\r\n\r\n"),
            format!("GET /\x7f HTTP/1.1\r\n{sse}\r\n"),
            format!("GET / HTTP/1.1\r\n{}\r\n", sse.repeat(MAX_HEADERS + 1)),
        ] {
            assert!(matches!(head(&other), Head::Other), "{other:?}");
        }
    }

    #[test]
    fn only_bodiless_origin_form_gets_are_event_streams() {
        let sse = "accept: text/event-stream\r\n";
        for single in [
            format!("POST /events HTTP/1.1\r\n{sse}content-length: 1\r\n\r\nx"),
            format!("GET / HTTP/1.1\r\n{sse}content-length: 3\r\n\r\n"),
            format!("GET http://t/ HTTP/1.1\r\n{sse}\r\n"),
            "GET / HTTP/1.1\r\nhost: t\r\n\r\n".to_owned(),
        ] {
            assert!(matches!(head(&single), Head::Single { .. }), "{single:?}");
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
