//! The conformance kit against the in-memory transports, plain and type-erased.

use switchboard_core::{
    DynEventStore, DynKeyValue, DynLogConsumer, DynLogProducer, DynPublisher, DynRequester,
    DynResponder, DynSubscriber, Namespace, Topic, TopicAdmin,
    mem::{MemBus, MemEventStore, MemKeyValue, MemKv, MemLog},
    testkit::{EventStoreFixture, KeyValueFixture, LogFixture, PubSubFixture, RequestReplyFixture},
};

struct Mem {
    bus: MemBus,
    log: MemLog,
    kv: MemKv,
    store: MemEventStore,
}

async fn setup() -> Mem {
    Mem {
        bus: MemBus::new(),
        log: MemLog::new(),
        kv: MemKv::new(),
        store: MemEventStore::new(),
    }
}

impl PubSubFixture for Mem {
    type Publisher = MemBus;
    type Subscriber = MemBus;
    fn publisher(&self) -> MemBus {
        self.bus.clone()
    }
    fn subscriber(&self) -> MemBus {
        self.bus.clone()
    }
}

impl RequestReplyFixture for Mem {
    type Requester = MemBus;
    type Responder = MemBus;
    fn requester(&self) -> MemBus {
        self.bus.clone()
    }
    fn responder(&self) -> MemBus {
        self.bus.clone()
    }
}

impl LogFixture for Mem {
    type Producer = MemLog;
    type Consumer = MemLog;
    fn producer(&self) -> MemLog {
        self.log.clone()
    }
    fn consumer(&self) -> MemLog {
        self.log.clone()
    }
    async fn create_topic(&self, topic: &Topic, partitions: u32) {
        self.log
            .create_topic(topic, partitions)
            .await
            .expect("create topic");
    }
}

impl KeyValueFixture for Mem {
    type KeyValue = MemKeyValue;
    fn namespace(&self, namespace: Namespace) -> MemKeyValue {
        self.kv.namespace(namespace)
    }
}

impl EventStoreFixture for Mem {
    type Store = MemEventStore;
    fn store(&self) -> MemEventStore {
        self.store.clone()
    }
}

switchboard_core::pubsub_conformance!(setup);
switchboard_core::request_reply_conformance!(setup);
switchboard_core::log_conformance!(setup);
switchboard_core::router_conformance!(setup);
switchboard_core::key_value_conformance!(setup);
switchboard_core::event_store_conformance!(setup);

/// The same kit through the boxed `Dyn…` handles an application picks at run time.
mod erased {
    use super::*;

    struct Erased {
        bus: (DynPublisher, DynSubscriber, DynRequester, DynResponder),
        log: MemLog,
        kv: MemKv,
        store: DynEventStore,
    }

    async fn setup() -> Erased {
        let bus = MemBus::new();
        Erased {
            bus: (
                DynPublisher::new(bus.clone()),
                DynSubscriber::new(bus.clone()),
                DynRequester::new(bus.clone()),
                DynResponder::new(bus),
            ),
            log: MemLog::new(),
            kv: MemKv::new(),
            store: DynEventStore::new(MemEventStore::new()),
        }
    }

    impl PubSubFixture for Erased {
        type Publisher = DynPublisher;
        type Subscriber = DynSubscriber;
        fn publisher(&self) -> DynPublisher {
            self.bus.0.clone()
        }
        fn subscriber(&self) -> DynSubscriber {
            self.bus.1.clone()
        }
    }

    impl RequestReplyFixture for Erased {
        type Requester = DynRequester;
        type Responder = DynResponder;
        fn requester(&self) -> DynRequester {
            self.bus.2.clone()
        }
        fn responder(&self) -> DynResponder {
            self.bus.3.clone()
        }
    }

    impl LogFixture for Erased {
        type Producer = DynLogProducer;
        type Consumer = DynLogConsumer;
        fn producer(&self) -> DynLogProducer {
            DynLogProducer::new(self.log.clone())
        }
        fn consumer(&self) -> DynLogConsumer {
            DynLogConsumer::new(self.log.clone())
        }
        async fn create_topic(&self, topic: &Topic, partitions: u32) {
            self.log
                .create_topic(topic, partitions)
                .await
                .expect("create topic");
        }
    }

    impl KeyValueFixture for Erased {
        type KeyValue = DynKeyValue;
        fn namespace(&self, namespace: Namespace) -> DynKeyValue {
            DynKeyValue::new(self.kv.namespace(namespace))
        }
    }

    impl EventStoreFixture for Erased {
        type Store = DynEventStore;
        fn store(&self) -> DynEventStore {
            self.store.clone()
        }
    }

    switchboard_core::pubsub_conformance!(setup);
    switchboard_core::request_reply_conformance!(setup);
    switchboard_core::log_conformance!(setup);
    switchboard_core::key_value_conformance!(setup);
    switchboard_core::event_store_conformance!(setup);
}
