//! The whole event-store conformance kit against live PostgreSQL, one schema per test.

mod common;

use common::TestSchema;
use switchboard_core::testkit::EventStoreFixture;
use switchboard_postgres::PgEventStore;

struct Postgres {
    store: PgEventStore,
    // Dropped after the store's last use: drops the schema.
    _schema: TestSchema,
}

async fn setup() -> Postgres {
    let schema = TestSchema::migrated().await;
    Postgres {
        store: PgEventStore::new(schema.pool.clone()),
        _schema: schema,
    }
}

impl EventStoreFixture for Postgres {
    type Store = PgEventStore;
    fn store(&self) -> PgEventStore {
        self.store.clone()
    }
}

switchboard_core::event_store_conformance!(setup);

/// The same kit through the type-erased handle.
mod erased {
    use super::*;
    use switchboard_core::DynEventStore;

    struct Erased {
        store: DynEventStore,
        _schema: TestSchema,
    }

    async fn setup() -> Erased {
        let schema = TestSchema::migrated().await;
        Erased {
            store: DynEventStore::new(PgEventStore::new(schema.pool.clone())),
            _schema: schema,
        }
    }

    impl EventStoreFixture for Erased {
        type Store = DynEventStore;
        fn store(&self) -> DynEventStore {
            self.store.clone()
        }
    }

    switchboard_core::event_store_conformance!(setup);
}
