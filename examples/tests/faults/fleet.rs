//! The example binaries as processes the suite can start, SIGKILL, SIGTERM and restart.

use std::{
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

use tokio::time::Instant;

use super::{free_port, scratch_dir};
use crate::live::{self, Http};

/// Where the services find their backends.
#[derive(Clone, Debug)]
pub(crate) struct Backends {
    pub(crate) postgres: String,
    pub(crate) redis: String,
    /// One URL or a comma-separated cluster list.
    pub(crate) nats: String,
    pub(crate) kafka: String,
    /// The processors' consumer group: one per scenario.
    pub(crate) group: String,
}

/// The session timeout every processor of the suite runs with.
pub(crate) const SESSION_TIMEOUT: Duration = Duration::from_secs(10);

/// The three services, started in order and healthy: processor `processor-0`, notifier,
/// gateway.
pub(crate) async fn start_all(backends: &Backends) -> (Service, Service, Service) {
    let mut processor = Service::new("processor", "processor-0", backends);
    let mut notifier = Service::new("notifier", "notifier", backends);
    let mut gateway = Service::new("gateway", "gateway", backends);
    processor.start().await;
    notifier.start().await;
    gateway.start().await;
    (processor, notifier, gateway)
}

/// One service process; `start` again after `kill` runs it anew with the same settings.
pub(crate) struct Service {
    pub(crate) name: String,
    pub(crate) port: u16,
    binary: PathBuf,
    env: Vec<(String, String)>,
    log: PathBuf,
    child: Option<Child>,
}

impl Service {
    /// `binary` (gateway, notifier or processor) on a free port; `instance` names it in logs
    /// and, for processors, is its static group member id.
    pub(crate) fn new(binary: &str, instance: &str, backends: &Backends) -> Service {
        let port = free_port();
        let prefix = binary.to_uppercase();
        let mut env: Vec<(String, String)> = [
            ("SERVER_PORT", port.to_string()),
            ("POSTGRES_URL", backends.postgres.clone()),
            ("REDIS_URL", backends.redis.clone()),
            ("NATS_URL", backends.nats.clone()),
            ("KAFKA_BROKERS", backends.kafka.clone()),
            ("KAFKA_GROUP", backends.group.clone()),
            (
                "KAFKA_SESSION_TIMEOUT_MS",
                SESSION_TIMEOUT.as_millis().to_string(),
            ),
            // tansu cannot resume inside a batch (docs/backends.md).
            ("KAFKA_BATCH_RECORDS", "1".to_owned()),
        ]
        .into_iter()
        .map(|(key, value)| (format!("{prefix}_{key}"), value))
        .collect();
        if binary == "processor" {
            env.push((format!("{prefix}_KAFKA_INSTANCE_ID"), instance.to_owned()));
        }
        if binary == "gateway" {
            // The load comes from one address; the per-address limits are not under test.
            for key in [
                "LIMITS_MUTATIONS_RATE",
                "LIMITS_MUTATIONS_BURST",
                "LIMITS_CONNECTIONS_CLIENT",
            ] {
                env.push((format!("{prefix}_{key}"), "1000000".to_owned()));
            }
        }
        env.push(("RUST_LOG".into(), "info".into()));
        Service {
            name: instance.to_owned(),
            port,
            binary: live::example_binary(binary),
            env,
            log: scratch_dir().join(format!("{instance}.log")),
            child: None,
        }
    }

    pub(crate) fn http(&self) -> Http {
        Http::new(self.port)
    }

    /// Starts the process (its log goes on in the same file) and waits for `GET /health`.
    pub(crate) async fn start(&mut self) {
        self.spawn();
        self.wait_healthy(Duration::from_secs(60)).await;
    }

    /// Starts the process without waiting for it.
    pub(crate) fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let child = Command::new(&self.binary)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// Polls `GET /health` until it answers 200 (every dependency up).
    pub(crate) async fn wait_healthy(&mut self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            self.assert_running();
            if self.health().await.is_some_and(|(status, _)| status == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} not healthy within {within:?}; last answer {:?}\n{}",
                self.name,
                self.health().await,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `GET /health`: the status code and the JSON report, if the service answers.
    pub(crate) async fn health(&self) -> Option<(u16, serde_json::Value)> {
        let answer = self.http().try_get("/health").await.ok()?;
        Some((answer.status, serde_json::from_str(&answer.body).ok()?))
    }

    fn assert_running(&mut self) {
        if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
            panic!(
                "{} exited early ({status}):\n{}",
                self.name,
                self.log_tail()
            );
        }
    }

    /// SIGKILL: no cleanup of any kind.
    pub(crate) fn kill(&mut self) {
        let mut child = self.child.take().expect("running");
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// Sends SIGTERM and returns at once; [`Service::wait_exit`] reaps it.
    pub(crate) fn terminate(&mut self) {
        let child = self.child.as_ref().expect("running");
        let status = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Waits for the process to exit by itself.
    pub(crate) async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        let child = self.child.as_mut().expect("running");
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not exit within {within:?}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything the service logged, over all its runs.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub(crate) fn log_tail(&self) -> String {
        let text = self.log();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(60)..].join("\n")
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
