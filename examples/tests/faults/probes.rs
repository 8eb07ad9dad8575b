//! Observations shared by the scenarios: the newest stored event, a result announced on an
//! open SSE stream, a needle read before a deadline.

use std::time::Duration;

use sqlx::{Connection, PgConnection};
use tokio::{net::TcpStream, time::Instant};

use crate::{
    eventually,
    live::{Http, read_sse_until},
};

async fn newest_event(database_url: &str) -> i64 {
    let mut conn = PgConnection::connect(database_url).await.unwrap();
    sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM events")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

/// Reads the results stream until it announces an event newer than `newest`.
async fn result_after(results: &mut TcpStream, newest: i64, since: Instant) -> Duration {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let seen = read_sse_until(results, "event #", deadline).await;
        let newer = seen.match_indices("event #").any(|(i, _)| {
            let id: String = seen[i + 7..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            id.parse::<i64>().is_ok_and(|id| id > newest)
        });
        if newer {
            return since.elapsed();
        }
    }
}

/// Like `read_sse_until`, but a timeout is `false` instead of a failure.
pub(crate) async fn try_read_until(
    stream: &mut TcpStream,
    needle: &str,
    deadline: Instant,
) -> bool {
    use tokio::io::AsyncReadExt as _;
    let mut seen = String::new();
    let mut buf = vec![0u8; 8192];
    while let Ok(read) = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
        let n = read.expect("the stream stays open");
        assert!(n > 0, "the stream closed");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        if seen.contains(needle) {
            return true;
        }
    }
    false
}

/// Polls `POST /nats/request` through the gateway until the notifier answers; the time since
/// `since`.
pub(crate) async fn request_answers(
    http: &Http,
    csrf: &str,
    since: Instant,
    within: Duration,
) -> Duration {
    eventually(
        "a request/reply through the gateway",
        within,
        || async move {
            let answer = http
                .try_post(
                    "/nats/request",
                    csrf,
                    "subject=switchboard.page.request&message=after-fault",
                )
                .await
                .ok()?;
            (answer.status == 200 && answer.body.contains("echo: after-fault"))
                .then(|| since.elapsed())
        },
    )
    .await
}

/// Produces one record tagged `marker` and waits until the open results stream announces an
/// event newer than any stored before; the time since `since`.
pub(crate) async fn results_resume(
    http: &Http,
    csrf: &str,
    results: &mut TcpStream,
    database_url: &str,
    marker: &str,
    since: Instant,
) -> Duration {
    let newest = newest_event(database_url).await;
    let produced = http
        .post(
            "/kafka/produce",
            csrf,
            &format!("topic=switchboard.events&key={marker}&payload=%7B%7D"),
        )
        .await;
    assert_eq!(produced.status, 200, "{}", produced.body);
    result_after(results, newest, since).await
}
