//! One scenario's servers: its own tansu, redis-server and nats-server(s), and a fresh
//! database on the shared PostgreSQL or on a cluster of its own.

use crate::{
    fleet::Backends,
    live::Database,
    servers::{self, Daemon, NatsCluster},
    shared_postgres,
};

/// Which servers a scenario faults, and so must own.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Own {
    pub(crate) postgres: bool,
    pub(crate) nats_cluster: bool,
}

pub(crate) struct Stack {
    pub(crate) backends: Backends,
    /// Kept running until the scenario ends.
    _kafka: Daemon,
    pub(crate) redis: Daemon,
    /// The single server, unless the scenario runs a cluster.
    pub(crate) nats: Option<Daemon>,
    pub(crate) cluster: Option<NatsCluster>,
    /// The scenario's own PostgreSQL cluster, if it faults it.
    pub(crate) postgres: Option<Daemon>,
    database: Option<Database>,
}

impl Stack {
    pub(crate) async fn start(scenario: &str, own: Own) -> Stack {
        let tansu = servers::tansu().await;
        let redis = servers::redis().await;
        let (nats, cluster, nats_url) = if own.nats_cluster {
            let cluster = NatsCluster::start().await;
            let urls = cluster.urls();
            (None, Some(cluster), urls)
        } else {
            let nats = servers::nats().await;
            let url = format!("nats://127.0.0.1:{}", nats.port);
            (Some(nats), None, url)
        };
        let postgres = if own.postgres {
            Some(servers::postgres().await)
        } else {
            None
        };
        let admin_url = match &postgres {
            Some(pg) => format!("postgres://postgres@127.0.0.1:{}/postgres", pg.port),
            None => shared_postgres(),
        };
        let database = Database::create(&admin_url).await;
        let backends = Backends {
            postgres: database.url.clone(),
            redis: format!("redis://127.0.0.1:{}", redis.port),
            nats: nats_url,
            kafka: format!("127.0.0.1:{}", tansu.port),
            group: format!("faults-{scenario}-{}", uuid::Uuid::new_v4().simple()),
        };
        Stack {
            backends,
            _kafka: tansu,
            redis,
            nats,
            cluster,
            postgres,
            database: Some(database),
        }
    }

    /// Drops the scenario's database when it lives on the shared server.
    pub(crate) async fn finish(mut self) {
        if let Some(database) = self.database.take()
            && self.postgres.is_none()
        {
            database.drop().await;
        }
    }
}
