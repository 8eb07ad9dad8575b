//! Draining after the shutdown signal, over real sockets: a request in flight at the signal
//! finishes, `/health` (and any other request) on a new connection gets 503 with
//! `Retry-After` meanwhile, and the listener closes once the in-flight request is done.

use std::time::Duration;

use tokio::io::AsyncWriteExt;

use super::served::{Served, read_until, visitor};
use crate::common::gateway_config::LimitsConfig;

const BODY: &[u8] = b"channel=switchboard.page.drain&message=last";

#[tokio::test]
async fn health_answers_503_while_an_in_flight_request_drains() {
    let served = Served::start(&LimitsConfig::default()).await;
    let you = visitor(41);

    // A publish whose body is still on its way: hyper asks for it with `100 Continue` once
    // the route reads the body, so the request is in the handler when that arrives.
    let mut in_flight = served.connect(you).await;
    let head = format!(
        "POST /redis/publish HTTP/1.1\r\nhost: t\r\nx-csrf-token: {}\r\n\
         content-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\
         expect: 100-continue\r\n\r\n",
        served.app.state.csrf_token,
        BODY.len()
    );
    in_flight.write_all(head.as_bytes()).await.unwrap();
    read_until(&mut in_flight, "100 Continue").await;

    served.app.shutdown.trigger();
    let health = served.get(you, "/health").await;
    assert_eq!(health.status, 503, "{health:?}");
    assert_eq!(health.header("retry-after"), Some("5"));
    assert!(health.body.contains("shutting down"), "{}", health.body);
    let page = served.get(you, "/").await;
    assert_eq!(page.status, 503, "a new request is refused while draining");

    in_flight.write_all(BODY).await.unwrap();
    let answer = read_until(&mut in_flight, "published").await;
    assert!(answer.contains("HTTP/1.1 200"), "{answer}");
    tokio::time::timeout(Duration::from_secs(10), served.stopped())
        .await
        .expect("the server did not stop once its last request was done");
    assert!(
        tokio::net::TcpStream::connect(served.addr).await.is_err(),
        "the listener is closed after draining"
    );
}

/// The server stops by itself at once when nothing is in flight.
#[tokio::test]
async fn an_idle_server_stops_at_once() {
    let served = Served::start(&LimitsConfig::default()).await;
    served.app.shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(10), served.stopped())
        .await
        .expect("an idle server did not stop");
}
