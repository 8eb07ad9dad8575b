//! The first request head of a connection, read before hyper (the very file the gateway
//! compiles): never a panic, and a head it takes for an event stream is a bodiless HTTP/1.1
//! `GET` of an origin-form path that accepts `text/event-stream`; anything it takes stays taken
//! whatever follows the head.
#![no_main]

#[allow(dead_code, unreachable_pub)]
#[path = "../../examples/common/request_head.rs"]
mod request_head;

use axum::http::{Method, Version, header};
use libfuzzer_sys::fuzz_target;
use request_head::{Head, parse};

fuzz_target!(|data: &[u8]| {
    if let Head::EventStream(request) = parse(data) {
        assert_eq!(request.method(), Method::GET);
        assert_eq!(request.version(), Version::HTTP_11);
        assert!(request.uri().path().starts_with('/'), "{:?}", request.uri());
        assert!(request.uri().scheme().is_none());
        let headers = request.headers();
        assert!(!headers.contains_key(header::TRANSFER_ENCODING));
        assert!(!headers.contains_key(header::UPGRADE));
        assert!(headers.contains_key(header::ACCEPT));
        let mut more = data.to_vec();
        more.extend_from_slice(b"GET / HTTP/1.1\r\n");
        assert!(matches!(parse(&more), Head::EventStream(_)));
    }
});
