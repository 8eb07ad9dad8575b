//! The durable-log conformance kit against a live Kafka-protocol broker (`KAFKA_BROKERS`),
//! as the concrete types and through the boxed `Dyn…` handles, and the consumer router's
//! cases on the concrete types.

mod common;

use common::setup;

switchboard_core::log_conformance!(setup);
switchboard_core::router_conformance!(setup);

mod erased {
    use std::time::Duration;

    use switchboard_core::{DynLogConsumer, DynLogProducer, Topic, testkit::LogFixture};

    use super::common::{Kafka, setup as kafka};

    struct Erased(Kafka);

    async fn setup() -> Erased {
        Erased(kafka().await)
    }

    impl LogFixture for Erased {
        type Producer = DynLogProducer;
        type Consumer = DynLogConsumer;

        fn producer(&self) -> DynLogProducer {
            DynLogProducer::new(self.0.producer())
        }

        fn consumer(&self) -> DynLogConsumer {
            DynLogConsumer::new(self.0.consumer())
        }

        async fn create_topic(&self, topic: &Topic, partitions: u32) {
            self.0.create_topic(topic, partitions).await;
        }

        fn settle_time(&self) -> Duration {
            self.0.settle_time()
        }

        fn redelivery_timeout(&self) -> Duration {
            self.0.redelivery_timeout()
        }
    }

    switchboard_core::log_conformance!(setup);
}
