//! The process-level fault suite: the gateway, notifier and processor binaries as separate
//! processes on real servers, with a fault caused for real in each scenario — SIGKILL, a
//! stopped database, restarted brokers, a SIGTERM under load, a lost cluster node. Each
//! scenario counts what went in and what came out and prints its figures
//! (`cargo test -p switchboard-examples --test faults -- --nocapture`); docs/reliability.md
//! describes them.
//!
//! Every scenario runs on servers of its own on free loopback ports (tansu, redis-server,
//! nats-server; PostgreSQL too where it is faulted), so it never disturbs shared servers.
//! Scenarios a, b and e use a fresh database on `DATABASE_URL`. Needs `tansu` (scripts/test
//! installs it), `redis-server`, `nats-server` and PostgreSQL's `initdb`; a missing one fails
//! the scenario, saying which. The scenarios run one at a time.

#[allow(dead_code)] // shared with live_e2e, which uses other parts
#[path = "../live/mod.rs"]
mod live;

mod fleet;
mod load;
mod probes;
mod servers;
mod stack;

mod a_processor_killed;
mod b_takeover;
mod c_postgres_outage;
mod d_nats_redis_restart;
mod e_gateway_drain;
mod f_nats_node_loss;

use std::{path::PathBuf, sync::OnceLock, time::Duration};

use tokio::{
    sync::{Mutex, MutexGuard},
    time::Instant,
};

pub(crate) use live::free_port;

/// Scenarios run one at a time: each loads the machine, and their timings are figures. The
/// first to run builds the binaries.
pub(crate) async fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::const_new(());
    static BUILT: OnceLock<()> = OnceLock::new();
    let guard = LOCK.lock().await;
    BUILT.get_or_init(live::build_examples);
    guard
}

/// This run's directory for logs and server data.
pub(crate) fn scratch_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sb-faults-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        eprintln!("fault suite logs: {}", dir.display());
        dir
    })
    .clone()
}

/// Whether something accepts connections on the loopback port before the deadline.
pub(crate) async fn wait_for_port(port: u16, deadline: Instant) -> bool {
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Polls `check` every 100 ms until it yields a value; fails with `what` after `within`.
pub(crate) async fn eventually<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Prints one scenario's figures to stderr, past the test harness's capture, so every run
/// (and the CI log) shows them.
pub(crate) fn report(scenario: &str, lines: &[String]) {
    use std::io::Write as _;
    let mut text = format!("\n== fault scenario {scenario}\n");
    for line in lines {
        text.push_str("   ");
        text.push_str(line);
        text.push('\n');
    }
    let _ = std::io::stderr().write_all(text.as_bytes());
}

/// The shared PostgreSQL of `DATABASE_URL`.
pub(crate) fn shared_postgres() -> String {
    live::env_or("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test")
}
