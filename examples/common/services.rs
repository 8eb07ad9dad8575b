//! Starting the notifier and processor flows, as their own binaries or inside the gateway.

use serde_json::json;
use switchboard_core::{Firehose, Group, Namespace, Result, Serving, Subject};
use switchboard_flows::{
    self as flows, CACHE_NAMESPACE, EVENTS_TOPIC, Flow, Processor, ProcessorConfig,
};
use tokio::task::JoinHandle;

use super::{backends::Backends, config::ProcessorSettings, shutdown::Shutdown};

/// Serves the echo service on `switchboard.page.request`.
pub(crate) async fn start_notifier(backends: &Backends) -> Result<Serving> {
    let firehose = Firehose::spawn(
        backends.bus.publisher.clone(),
        "notifier",
        Firehose::DEFAULT_CAPACITY,
    );
    let serving = flows::serve_echo(&backends.bus.responder, firehose.clone(), "notifier").await?;
    firehose.emit(
        Flow::System,
        "start",
        json!({ "subject": flows::REQUEST_SUBJECT }),
    );
    Ok(serving)
}

/// Runs the processor pipeline until shutdown; the task ends once the record in hand is
/// settled and the consumer has left its group.
pub(crate) fn spawn_processor(
    backends: &Backends,
    group: &str,
    settings: &ProcessorSettings,
    shutdown: Shutdown,
) -> JoinHandle<Result<()>> {
    let firehose = Firehose::spawn(
        backends.bus.publisher.clone(),
        "processor",
        Firehose::DEFAULT_CAPACITY,
    );
    let processor = Processor::new(
        backends
            .kv
            .namespace(Namespace::new(CACHE_NAMESPACE).expect("valid namespace")),
        backends.store.store.clone(),
        backends.bus.publisher.clone(),
        firehose.clone(),
    )
    .with_config(settings.apply(ProcessorConfig {
        system: backends.log.backend,
        ..ProcessorConfig::default()
    }));
    let consumer = backends.log.consumer.clone();
    let group = group.to_owned();
    tokio::spawn(async move {
        let group = Group::new(group)?;
        let topic = Subject::new(EVENTS_TOPIC)?;
        firehose.emit(
            Flow::System,
            "start",
            json!({ "topic": EVENTS_TOPIC, "group": group.as_str() }),
        );
        let result = processor
            .run(
                &consumer,
                &group,
                &[topic],
                async move { shutdown.wait().await },
            )
            .await
            .map(drop); // the router logs its figures when it stops
        if let Err(err) = &result {
            tracing::error!(error = %err, "processor stopped with an error");
        }
        result
    })
}
