//! Created events on their way out: the outbox relay (with Postgres) forwards each
//! announcement to the bus, and a tap shows what arrives there on the firehose.

use futures::StreamExt;
use serde_json::json;
use switchboard_core::{
    Event, Firehose, Pattern, Subscriber, forward::Publish, pubsub::BoxMessageStream, report,
};
use switchboard_flows::Flow;
use switchboard_postgres::outbox::OutboxRelay;

use crate::{
    common::{backends::Backends, shutdown::Shutdown},
    routes::events::CREATED_SUBJECT,
};

/// Subscribes the firehose tap, then runs it and (with Postgres) an outbox relay until
/// shutdown. Gateways on several nodes each run a relay; they share the rows.
pub(crate) async fn start(
    backends: &Backends,
    firehose: Firehose,
    shutdown: Shutdown,
) -> switchboard_core::Result<()> {
    let created = backends
        .bus
        .subscriber
        .subscribe(&Pattern::new(CREATED_SUBJECT)?)
        .await?;
    let closing = shutdown.clone();
    tokio::spawn(async move {
        tokio::select! {
            () = tap(created, firehose) => {}
            () = closing.wait() => {}
        }
    });
    if let Some(postgres) = &backends.store.postgres {
        let relay = OutboxRelay::new(
            postgres.pool().clone(),
            Publish(backends.bus.publisher.clone()),
        );
        tokio::spawn(async move {
            if let Err(err) = relay.run(shutdown.wait()).await {
                tracing::error!(error = %report(&err), "outbox relay stopped");
            }
        });
    }
    Ok(())
}

/// One firehose event per announcement that reached the bus.
async fn tap(mut created: BoxMessageStream, firehose: Firehose) {
    while let Some(item) = created.next().await {
        match item.and_then(|msg| msg.decode_json::<Event>()) {
            Ok(event) => {
                firehose.emit(
                    Flow::Postgres,
                    "created",
                    json!({ "id": event.id, "source": event.source, "topic": event.topic,
                            "subject": CREATED_SUBJECT }),
                );
            }
            Err(err) => tracing::debug!(error = %report(&err), "unreadable announcement"),
        }
    }
}
