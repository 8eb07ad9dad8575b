//! The Kafka flow end to end on live servers, with the gateway, notifier and processor as three
//! separate processes: produce → result on `/kafka/results` → the row in `/events`. Also checks
//! request/reply across processes, an event announced through the Postgres outbox, and a
//! graceful SIGTERM of all three. A second test follows one trace from the produce request
//! through Kafka, the processor and NATS to the gateway's SSE, exported over OTLP to a
//! receiver in the test.
//!
//! Needs PostgreSQL, Redis, NATS and a Kafka broker (`DATABASE_URL`, `REDIS_URL`, `NATS_URL`,
//! `KAFKA_BROKERS`; `scripts/test` starts them) and the example binaries
//! (`cargo build -p switchboard-examples --examples`; `cargo test --workspace` builds them).

mod live;
mod otlp;

use std::time::Duration;

use live::{Http, Services, env_or, read_sse_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_flow_across_three_processes() {
    let database = live::Database::create(&env_or(
        "DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    ))
    .await;
    let mut services = Services::start(&database.url).await;
    let gateway = Http::new(services.gateway_port);

    // Every service reports itself healthy on the live backends.
    services.wait_until_all_healthy(&gateway).await;
    let health = gateway.get("/health").await;
    assert_eq!(health.status, 200, "{}", health.body);
    for backend in ["postgres", "redis", "nats", "kafka"] {
        assert!(
            health.body.contains(&format!("\"backend\":\"{backend}\"")),
            "{}",
            health.body
        );
    }

    // The notifier and processor serve their own `GET /health`.
    for (service, port, deps) in [
        ("notifier", services.notifier_port, &["nats"][..]),
        (
            "processor",
            services.processor_port,
            &["kafka", "postgres", "redis", "nats"][..],
        ),
    ] {
        let health = Http::new(port).get("/health").await;
        assert_eq!(health.status, 200, "{service}: {}", health.body);
        let report: serde_json::Value = serde_json::from_str(&health.body).unwrap();
        assert_eq!(report["service"], service);
        assert_eq!(report["status"], "ok");
        for dep in deps {
            assert_eq!(
                report["dependencies"][dep]["state"], "up",
                "{service} {dep}"
            );
            assert_eq!(
                report["dependencies"][dep]["backend"], *dep,
                "{service} {dep}"
            );
        }
    }

    // Request/reply reaches the notifier process over NATS.
    let token = gateway.csrf_token().await;
    let reply = gateway
        .post(
            "/nats/request",
            &token,
            "subject=switchboard.page.request&message=live-ping",
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("echo: live-ping") && reply.body.contains("notifier"));

    // produce → processor process → Postgres, Redis, NATS → the gateway's SSE → /events.
    let mut results = gateway.open_sse("/kafka/results").await;
    let marker = format!("e2e-{}", uuid::Uuid::new_v4().simple());
    let produced = gateway
        .post(
            "/kafka/produce",
            &token,
            &format!(
                "topic=switchboard.events&key={marker}&payload=%7B%22marker%22%3A%22{marker}%22%7D"
            ),
        )
        .await;
    assert_eq!(produced.status, 200, "{}", produced.body);
    assert!(produced.body.contains("partition") && produced.body.contains("offset"));

    // Other runs' records may come first; ours carries the marker in its row.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let row_id = loop {
        let seen = read_sse_until(&mut results, "stored", deadline).await;
        let ids: Vec<String> = seen
            .match_indices("event #")
            .map(|(i, _)| {
                seen[i + 7..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect()
            })
            .collect();
        let events = gateway.get("/events?limit=100").await;
        if let Some(id) = ids
            .iter()
            .find(|id| row_of(&events.body, id).is_some_and(|row| row.contains(&marker)))
        {
            break id.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no result for {marker}: {seen}"
        );
    };
    let events = gateway.get("/events?limit=100").await;
    let row = row_of(&events.body, &row_id).expect("the stored row");
    assert!(row.contains("kafka") && row.contains(&marker), "{row}");

    // Creating an event announces it through the Postgres outbox: the gateway's relay sends it
    // over NATS and the firehose shows it.
    let mut firehose = gateway.open_sse("/firehose/stream").await;
    let topic = format!("outbox-{}", uuid::Uuid::new_v4().simple());
    let created = gateway
        .post(
            "/events",
            &token,
            &format!("source=e2e&topic={topic}&payload=%7B%7D"),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let seen = read_sse_until(&mut firehose, &topic, deadline).await;
        if seen.contains("switchboard.events.created") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no outbox announcement of {topic} in the firehose: {seen}"
        );
    }

    // SIGTERM: every process exits cleanly and the open SSE stream ends with `event: end`.
    services.stop_all().await;
    let end = read_sse_until(
        &mut results,
        "event: end",
        tokio::time::Instant::now() + Duration::from_secs(10),
    )
    .await;
    assert!(end.contains("event: end"));
    database.drop().await;
}

/// Waits until the processor has consumed what `switchboard.events` held: lag 0 on every
/// partition it reports (librdkafka reports a partition once it has fetched from it; an empty
/// one never shows).
async fn wait_until_caught_up(processor: &Http) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(240);
    loop {
        let scraped = processor.get("/metrics").await;
        let lags: Vec<&str> = scraped
            .body
            .lines()
            .filter(|l| {
                l.starts_with("switchboard_consumer_lag{")
                    && l.contains(r#"backend="kafka""#)
                    && l.contains(r#"topic="switchboard.events""#)
            })
            .filter_map(|l| l.rsplit(' ').next())
            .collect();
        if !lags.is_empty() && lags.iter().all(|lag| *lag == "0") {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the processor did not catch up with switchboard.events; its lag: {lags:?}"
        );
        // librdkafka reports the lag once a second: poll at that pace.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The table row of event `id` in the `/events` page, up to its `</tr>`. The other live test
/// stores rows in the same table at the same time, so a check must look inside one row.
fn row_of<'a>(page: &'a str, id: &str) -> Option<&'a str> {
    let start = page.find(&format!("id=\"event-{id}\""))?;
    let row = &page[start..];
    Some(&row[..row.find("</tr>").unwrap_or(row.len())])
}

/// The span `id` and its ancestors among `spans`, nearest first.
fn ancestry<'a>(spans: &'a [otlp::Span], id: &str) -> Vec<&'a otlp::Span> {
    let mut chain = Vec::new();
    let mut next = Some(id.to_owned());
    while let Some(id) = next.take() {
        if let Some(span) = spans.iter().find(|s| s.span_id == id) {
            next = Some(span.parent_span_id.clone()).filter(|p| !p.is_empty());
            chain.push(span);
        }
    }
    chain
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_from_produce_to_the_gateways_sse() {
    let database = live::Database::create(&env_or(
        "DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    ))
    .await;
    let receiver = otlp::Receiver::start().await;
    let mut services = Services::start_with(
        &database.url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.as_str()),
            // Export each batch soon after its spans end.
            ("OTEL_BSP_SCHEDULE_DELAY", "200"),
        ],
    )
    .await;
    let gateway = Http::new(services.gateway_port);
    services.wait_until_all_healthy(&gateway).await;
    let token = gateway.csrf_token().await;
    let _results = gateway.open_sse("/kafka/results").await;
    // A new group starts at the topic's oldest record: let the processor catch up with other
    // runs' records first, as its `/metrics` shows (librdkafka reports the lag every second).
    wait_until_caught_up(&Http::new(services.processor_port)).await;

    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let caller = uuid::Uuid::new_v4().simple().to_string()[..16].to_owned();
    let produced = gateway
        .try_post_with(
            "/kafka/produce",
            &token,
            "topic=switchboard.events&payload=%7B%22traced%22%3Atrue%7D",
            &format!("traceparent: 00-{trace_id}-{caller}-01\r\n"),
        )
        .await
        .unwrap();
    assert_eq!(produced.status, 200, "{}", produced.body);

    // The produce request's span continues the caller's context.
    let limit = Duration::from_secs(90);
    let request = receiver
        .wait_for(limit, "gateway span of POST /kafka/produce", |spans| {
            spans
                .iter()
                .find(|s| s.trace_id == trace_id && s.name == "POST /kafka/produce")
                .cloned()
        })
        .await;
    assert_eq!(request.service, "gateway");
    assert_eq!(
        request.parent_span_id, caller,
        "the request span is not the caller's child"
    );

    // The processor's span and the gateway's SSE span descend from it, so the message on
    // `switchboard.processed` carried the trace from the processor back to the gateway.
    let (processor, sse) = receiver
        .wait_for(
            limit,
            "processor and gateway SSE spans of the trace",
            |spans| {
                let processor = spans.iter().find(|s| {
                    s.trace_id == trace_id
                        && s.service == "processor"
                        && s.name == "process switchboard.events"
                })?;
                // Other runs' processors may announce the same record in their own groups: take
                // the SSE span this run's processor led to.
                let sse = spans.iter().find(|s| {
                    s.trace_id == trace_id
                        && s.service == "gateway"
                        && s.name == "process switchboard.processed"
                        && ancestry(spans, &s.span_id)
                            .iter()
                            .any(|a| a.span_id == processor.span_id)
                })?;
                Some((processor.clone(), sse.clone()))
            },
        )
        .await;
    let spans = receiver
        .wait_for(limit, "the spans", |spans| Some(spans.to_vec()))
        .await;
    let processor_chain = ancestry(&spans, &processor.span_id);
    assert!(
        processor_chain.iter().any(|s| s.span_id == request.span_id),
        "the processor's span does not descend from the produce request: {processor_chain:#?}"
    );
    // The processor's span is the child of the gateway's producer span of the append.
    let append = processor_chain.get(1).expect("the processor span's parent");
    assert_eq!(
        (append.service.as_str(), append.name.as_str()),
        ("gateway", "append switchboard.events"),
        "the processor's span is not the child of the gateway's producer span: {processor_chain:#?}"
    );
    let sse_chain = ancestry(&spans, &sse.span_id);
    assert!(
        sse_chain.iter().any(|s| s.span_id == processor.span_id)
            && sse_chain.iter().any(|s| s.span_id == request.span_id),
        "the gateway's SSE span does not descend from the processor and the request: {sse_chain:#?}"
    );
    println!(
        "trace {trace_id}: request {} → processor {} → gateway SSE {} ({} spans in the trace)",
        request.span_id,
        processor.span_id,
        sse.span_id,
        spans.iter().filter(|s| s.trace_id == trace_id).count()
    );

    // The gateway's `/metrics` counts the record it appended.
    let gateway_metrics = gateway.get("/metrics").await;
    assert!(
        gateway_metrics
            .body
            .contains(r#"switchboard_messages_published_total{flow="log",backend="kafka"}"#),
        "{}",
        gateway_metrics.body
    );
    services.stop_all().await;
    database.drop().await;
}
