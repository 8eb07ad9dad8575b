//! Each request head of a connection, read before hyper (the very file the gateway compiles):
//! never a panic; a head it takes for an event stream is a bodiless HTTP/1.1 `GET` of an
//! origin-form path that accepts `text/event-stream`; a request it hands hyper alone ends no
//! sooner than its head; and what it takes stays taken, at the same length, whatever follows.
#![no_main]

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/common/request_head.rs"]
mod request_head;

use axum::http::{Method, Version, header};
use libfuzzer_sys::fuzz_target;
use request_head::{Head, parse};

fuzz_target!(|data: &[u8]| {
    let mut more = data.to_vec();
    more.extend_from_slice(b"GET / HTTP/1.1\r\n");
    match parse(data) {
        Head::EventStream(request) => {
            assert_eq!(request.method(), Method::GET);
            assert_eq!(request.version(), Version::HTTP_11);
            assert!(request.uri().path().starts_with('/'), "{:?}", request.uri());
            assert!(request.uri().scheme().is_none());
            let headers = request.headers();
            assert!(!headers.contains_key(header::TRANSFER_ENCODING));
            assert!(!headers.contains_key(header::UPGRADE));
            assert!(headers.contains_key(header::ACCEPT));
            assert!(matches!(parse(&more), Head::EventStream(_)));
        }
        Head::Single { length } => {
            // The head lies within the request: cut there, it still parses whole.
            let cut = usize::try_from(length).map_or(data.len(), |n| n.min(data.len()));
            assert!(matches!(parse(&data[..cut]), Head::Single { length: again } if again == length));
            assert!(matches!(parse(&more), Head::Single { length: again } if again == length));
        }
        Head::Partial | Head::Other => {}
    }
});
