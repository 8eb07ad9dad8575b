//! The gateway over HTTP at fixed concurrency, with `wrk`: the release `gateway` and `notifier`
//! binaries on free ports, on a nats-server and a tansu of the bench's own (the notifier's
//! subject and the gateway's topic are fixed names, so on the shared servers other runs would
//! answer or consume them), a fresh database on the shared PostgreSQL and the shared Redis.
//!
//! - `POST /nats/request` against the raw baseline: a minimal axum route (in this process, on
//!   a runtime of two workers like the gateway's) doing the same async-nats request to the same
//!   notifier. Held to p50 < 1 ms too.
//! - `GET /events` (a page of 20 rows from Postgres, rendered) and `POST /kafka/produce` (one
//!   record, acknowledged by the broker): the gateway alone.
//!
//! The gateway's per-address limits are lifted through its configuration
//! (`GATEWAY_LIMITS_MUTATIONS_RATE`, `_BURST`, `GATEWAY_LIMITS_CONNECTIONS_CLIENT`): the load
//! comes from one address. Any refused or failed request stops the bench.
//!
//! Run with `cargo bench -p switchboard-bench --bench gateway` (it builds the release examples
//! first; `SB_BENCH_ROUNDS`, default 3; `SB_BENCH_WRK_SECONDS` per wrk run, default 5;
//! `SB_BENCH_ROUTES`, default `nats,events,produce`; `SB_BENCH_GATEWAY_UNDER`, a profiler to
//! run the gateway under, see docs/benchmarks.md).

#[allow(dead_code)] // the SSE memory bench's HTTP helpers; this bench needs two of them
#[path = "../../examples/benches/support/raw_http.rs"]
mod raw_http;

use std::{collections::HashMap, net::SocketAddr, process::Command};

use axum::{Form, Router, extract::State, http::StatusCode, response::Html, routing::post};
use serde_json::json;
use switchboard_bench::{
    Better, Database, Goal, compare, measure, print_header,
    process::{Process, free_port, nats_server, release_example, tansu},
    rounds,
    wrk::{self, Load, Request},
};
use switchboard_core::{EventStore, NewEvent};
use switchboard_postgres::{PgConfig, PgEventStore};

const REQUEST_FORM: &str = "subject=switchboard.page.request&message=hello";
const PRODUCE_FORM: &str = "topic=switchboard.events&key=bench&payload=%7B%22n%22%3A1%7D";
const EVENTS: usize = 100;

/// The gateway and notifier, started from their release binaries.
struct Services {
    addr: SocketAddr,
    gateway: Process,
    notifier: Process,
}

impl Services {
    /// SIGTERM to both: they shut down as in production (and a profiler under the gateway
    /// writes its output).
    fn stop(self) {
        let status = self.gateway.terminate();
        assert!(status.success(), "the gateway exited with {status}");
        self.notifier.terminate();
    }
}

/// `SB_BENCH_GATEWAY_UNDER`: a command the gateway runs under, split on spaces (e.g.
/// `valgrind --tool=callgrind`), else the binary alone.
fn gateway_command() -> Command {
    let binary = release_example("gateway");
    let under = std::env::var("SB_BENCH_GATEWAY_UNDER").unwrap_or_default();
    let mut words = under.split_whitespace();
    match words.next() {
        None => Command::new(binary),
        Some(program) => {
            let mut command = Command::new(program);
            command.args(words).arg(binary);
            command
        }
    }
}

/// `kafka`: the brokers, if `POST /kafka/produce` is measured (else the log stays in memory).
fn start_services(nats: &str, kafka: Option<&str>, postgres: &str) -> Services {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let notifier_port = free_port();
    let mut notifier = Command::new(release_example("notifier"));
    notifier
        .current_dir(root)
        .env("NOTIFIER_SERVER_PORT", notifier_port.to_string())
        .env("NOTIFIER_NATS_URL", nats)
        .env("RUST_LOG", "info");
    let mut notifier = Process::spawn("notifier", notifier);
    notifier.wait_port(notifier_port);

    let port = free_port();
    let redis = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let mut gateway = gateway_command();
    gateway
        .current_dir(root)
        .env("GATEWAY_SERVER_PORT", port.to_string())
        .env("GATEWAY_POSTGRES_URL", postgres)
        .env("GATEWAY_REDIS_URL", redis)
        .env("GATEWAY_NATS_URL", nats)
        .env(
            "GATEWAY_KAFKA_GROUP",
            format!("bench-{}", uuid::Uuid::new_v4().simple()),
        )
        .env("GATEWAY_LIMITS_MUTATIONS_RATE", "1000000")
        .env("GATEWAY_LIMITS_MUTATIONS_BURST", "1000000")
        .env("GATEWAY_LIMITS_CONNECTIONS_CLIENT", "1000000")
        .env("RUST_LOG", "info");
    if let Some(brokers) = kafka {
        gateway.env("GATEWAY_KAFKA_BROKERS", brokers);
    }
    let mut gateway = Process::spawn("gateway", gateway);
    // Its port, not a `listening` line: the outbox relay logs one before the server binds.
    gateway.wait_port(port);
    Services {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        gateway,
        notifier,
    }
}

/// The raw baseline: `POST /nats/request` as a minimal axum route on async-nats.
async fn raw_request(
    State(client): State<async_nats::Client>,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Html<String>, StatusCode> {
    let (Some(subject), Some(message)) = (form.get("subject"), form.get("message")) else {
        return Err(StatusCode::BAD_REQUEST);
    };
    let reply = client
        .request(subject.clone(), message.clone().into())
        .await
        .map_err(|_| StatusCode::BAD_GATEWAY)?;
    Ok(Html(format!(
        "<p>{}</p>",
        String::from_utf8_lossy(&reply.payload)
    )))
}

/// Serves the raw route on a free port of `runtime`.
fn start_raw(runtime: &tokio::runtime::Runtime, nats: &str) -> SocketAddr {
    runtime.block_on(async {
        let client = async_nats::connect(nats).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/nats/request", post(raw_request))
            .with_state(client);
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        addr
    })
}

/// One answered request, so that a misconfiguration shows its answer rather than wrk's count.
fn check(runtime: &tokio::runtime::Runtime, addr: SocketAddr, request: &Request, path: &str) {
    let mut text = format!(
        "{} {path} HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n",
        request.method
    );
    for (name, value) in &request.headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str(&format!(
        "content-length: {}\r\n\r\n{}",
        request.body.len(),
        request.body
    ));
    let answer = runtime.block_on(raw_http::request(addr, text));
    assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer}");
}

fn main() {
    // Two workers, as the gateway has on this machine: the raw route gets the same.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let rounds = rounds();
    let routes = switchboard_bench::env("SB_BENCH_ROUTES", "nats,events,produce");
    let routes: Vec<&str> = routes.split(',').map(str::trim).collect();
    let (nats, _nats_server) = nats_server();
    let kafka = routes.contains(&"produce").then(tansu);
    let database = runtime.block_on(Database::create());
    runtime.block_on(async {
        let pool = PgConfig::new(&database.url).connect().await.unwrap();
        switchboard_postgres::migrate(&pool).await.unwrap();
        let events = (0..EVENTS)
            .map(|n| NewEvent::new("bench", "switchboard.events", json!({ "n": n })).unwrap())
            .collect();
        PgEventStore::new(pool.clone())
            .insert_many(events)
            .await
            .unwrap();
        pool.close().await;
    });
    let brokers = kafka.as_ref().map(|(brokers, _)| brokers.as_str());
    let services = start_services(&nats, brokers, &database.url);
    let gateway = services.addr;
    let raw = start_raw(&runtime, &nats);
    let token = runtime.block_on(raw_http::csrf_token(gateway));

    let nats_request = Request::post_form(REQUEST_FORM).header("x-csrf-token", &token);
    let events = Request::get();
    let produce = Request::post_form(PRODUCE_FORM).header("x-csrf-token", &token);
    check(&runtime, gateway, &nats_request, "/nats/request");
    check(&runtime, raw, &nats_request, "/nats/request");
    check(&runtime, gateway, &events, "/events");
    if kafka.is_some() {
        check(&runtime, gateway, &produce, "/kafka/produce");
    }
    let url = |addr: SocketAddr, path: &str| format!("http://{addr}{path}");
    let (gateway_request, raw_request) = (url(gateway, "/nats/request"), url(raw, "/nats/request"));

    print_header();
    let loads = if routes.contains(&"nats") {
        vec![Load::new(1, 1), Load::new(2, 16)]
    } else {
        Vec::new()
    };
    for load in loads {
        // Warm-up, not counted: connections, the notifier's and the broker's first requests.
        let warm = load.for_seconds(1);
        wrk::run(&raw_request, warm, &nats_request);
        wrk::run(&gateway_request, warm, &nats_request);
        let path = format!(
            "gateway POST /nats/request, wrk {} (raw: axum + async-nats)",
            load.label()
        );
        let figures = runtime.block_on(compare(
            &path,
            rounds,
            &[
                ("req/s", Better::Higher, 0.9),
                ("p50 µs", Better::Lower, 1.2),
                ("p99 µs", Better::Lower, 1.2),
            ],
            async || wrk::run(&raw_request, load, &nats_request),
            async || wrk::run(&gateway_request, load, &nats_request),
        ));
        switchboard_bench::Alone {
            path: format!("gateway POST /nats/request, wrk {}", load.label()),
            unit: "p50 µs",
            values: figures[1].sdk.clone(),
            goal: Goal::Below(1000.0),
        }
        .print();
    }

    let load = Load::new(2, 16);
    for (route, path, request) in [
        ("events", "/events", &events),
        ("produce", "/kafka/produce", &produce),
    ] {
        if !routes.contains(&route) {
            continue;
        }
        let target = url(gateway, path);
        wrk::run(&target, load.for_seconds(1), request);
        runtime.block_on(measure(
            &format!("gateway {} {path}, wrk {}", request.method, load.label()),
            rounds,
            &[
                ("req/s", Goal::Report),
                ("p50 µs", Goal::Report),
                ("p99 µs", Goal::Report),
            ],
            async || wrk::run(&target, load, request),
        ));
    }
    services.stop();
    runtime.block_on(database.drop());
}
