//! Servers of the suite's own, on free loopback ports: tansu, redis-server, nats-server (alone
//! or as a three-node JetStream cluster) and a PostgreSQL cluster. Each can be killed and
//! started again on the same port; dropping one kills it.

use std::{
    os::unix::{fs::MetadataExt, process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use sqlx::Connection as _;
use tokio::time::Instant;

use super::{free_port, scratch_dir, wait_for_port};

#[path = "../programs/mod.rs"]
mod programs;

use programs::{program, tansu_program};

/// One server process, restartable with the same command line.
pub(crate) struct Daemon {
    pub(crate) name: String,
    pub(crate) port: u16,
    program: PathBuf,
    args: Vec<String>,
    uid: Option<u32>,
    /// A PostgreSQL URL that must accept a session before the server counts as started.
    sql_ready: Option<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Daemon {
    fn new(name: &str, port: u16, program: PathBuf, args: Vec<String>) -> Daemon {
        let log = scratch_dir().join(format!("{name}.log"));
        Daemon {
            name: name.to_owned(),
            port,
            program,
            args,
            uid: None,
            sql_ready: None,
            log,
            child: None,
        }
    }

    /// Starts the server and waits until its port accepts connections.
    pub(crate) async fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(uid) = self.uid {
            command.uid(uid).gid(uid_group(uid));
        }
        let child = command.spawn().unwrap_or_else(|err| {
            panic!(
                "cannot start {} ({}): {err}",
                self.name,
                self.program.display()
            )
        });
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        if !wait_for_port(self.port, deadline).await {
            panic!(
                "{} did not listen on port {} within 60 s:\n{}",
                self.name,
                self.port,
                self.log_text()
            );
        }
        // The port opens before PostgreSQL accepts sessions ("the database system is starting up").
        while let Some(url) = &self.sql_ready {
            if sqlx::PgConnection::connect(url).await.is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{} accepts no session within 60 s:\n{}",
                self.name,
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILLs the server and reaps it.
    pub(crate) fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Asks the server to shut down (SIGINT: PostgreSQL's fast shutdown) and reaps it.
    pub(crate) fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let status = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success(), "cannot signal {}", self.name);
            let _ = child.wait();
        }
    }

    pub(crate) fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.kill();
    }
}

fn uid_group(uid: u32) -> u32 {
    let out = Command::new("id")
        .args(["-g", &uid.to_string()])
        .output()
        .expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

/// A tansu broker in memory mode: a fresh Kafka cluster of one.
pub(crate) async fn tansu() -> Daemon {
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let mut daemon = Daemon::new(
        "tansu",
        port,
        tansu_program(),
        vec![
            "broker".into(),
            "--listener-url".into(),
            url.clone(),
            "--advertised-listener-url".into(),
            url,
            "--storage-engine".into(),
            "memory://tansu/".into(),
        ],
    );
    daemon.start().await;
    daemon
}

/// A redis-server without persistence.
pub(crate) async fn redis() -> Daemon {
    let port = free_port();
    let mut daemon = Daemon::new(
        "redis",
        port,
        program("redis-server", &["/usr/bin/redis-server".into()]),
        [
            "--bind",
            "127.0.0.1",
            "--port",
            &port.to_string(),
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .map(str::to_owned)
        .into(),
    );
    daemon.start().await;
    daemon
}

/// A single nats-server with JetStream.
pub(crate) async fn nats() -> Daemon {
    let port = free_port();
    let store = scratch_dir().join(format!("nats-{port}"));
    let mut daemon = Daemon::new(
        "nats",
        port,
        program("nats-server", &["/usr/sbin/nats-server".into()]),
        vec![
            "-a".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
            "-js".into(),
            "-sd".into(),
            store.display().to_string(),
        ],
    );
    daemon.start().await;
    daemon
}

/// Three nats-servers routed into one cluster, each with JetStream and a monitoring port.
pub(crate) struct NatsCluster {
    pub(crate) nodes: Vec<Daemon>,
    pub(crate) monitor_ports: Vec<u16>,
}

impl NatsCluster {
    pub(crate) async fn start() -> NatsCluster {
        let ports: Vec<(u16, u16, u16)> = (0..3)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let routes = ports
            .iter()
            .map(|(_, route, _)| format!("nats://127.0.0.1:{route}"))
            .collect::<Vec<_>>()
            .join(",");
        let mut nodes = Vec::new();
        for (i, (client, route, monitor)) in ports.iter().enumerate() {
            let name = format!("nats-{}", i + 1);
            let store = scratch_dir().join(&name);
            nodes.push(Daemon::new(
                &name,
                *client,
                program("nats-server", &["/usr/sbin/nats-server".into()]),
                vec![
                    "-a".into(),
                    "127.0.0.1".into(),
                    "-p".into(),
                    client.to_string(),
                    "-m".into(),
                    monitor.to_string(),
                    "-n".into(),
                    name.clone(),
                    "-js".into(),
                    "-sd".into(),
                    store.display().to_string(),
                    "--cluster_name".into(),
                    "sb-faults".into(),
                    "--cluster".into(),
                    format!("nats://127.0.0.1:{route}"),
                    "--routes".into(),
                    routes.clone(),
                ],
            ));
        }
        for node in &mut nodes {
            node.start().await;
        }
        NatsCluster {
            monitor_ports: ports.iter().map(|(_, _, m)| *m).collect(),
            nodes,
        }
    }

    /// Every client URL, comma separated, as `nats.url` takes them.
    pub(crate) fn urls(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("nats://127.0.0.1:{}", n.port))
            .collect::<Vec<_>>()
            .join(",")
    }
}

/// A PostgreSQL cluster of its own (initdb into a scratch directory, trust auth), run as the
/// `postgres` user when the suite runs as root.
pub(crate) async fn postgres() -> Daemon {
    let port = free_port();
    let data = scratch_dir().join(format!("pg-{port}"));
    let sockets = scratch_dir().join(format!("pg-{port}-run"));
    std::fs::create_dir_all(&data).unwrap();
    std::fs::create_dir_all(&sockets).unwrap();
    let uid = running_as_root().then(|| {
        let uid = user_id("postgres");
        for dir in [&data, &sockets] {
            chown(dir, uid);
        }
        uid
    });
    let initdb = program("initdb", &["/usr/local/bin/initdb".into()]);
    let mut command = Command::new(&initdb);
    command.args([
        "-D",
        &data.display().to_string(),
        "-U",
        "postgres",
        "--auth=trust",
        "-N",
    ]);
    if let Some(uid) = uid {
        command.uid(uid).gid(uid_group(uid));
    }
    let out = command.output().expect("initdb runs");
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = initdb.with_file_name("postgres");
    let mut daemon = Daemon::new(
        "postgres",
        port,
        server,
        vec![
            "-D".into(),
            data.display().to_string(),
            "-p".into(),
            port.to_string(),
            "-k".into(),
            sockets.display().to_string(),
            "-c".into(),
            "listen_addresses=127.0.0.1".into(),
            "-c".into(),
            "fsync=off".into(),
        ],
    );
    daemon.uid = uid;
    daemon.sql_ready = Some(format!("postgres://postgres@127.0.0.1:{port}/postgres"));
    daemon.start().await;
    daemon
}

fn running_as_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn user_id(user: &str) -> u32 {
    let out = Command::new("id")
        .args(["-u", user])
        .output()
        .expect("id runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("no `{user}` user to run PostgreSQL as"))
}

fn chown(dir: &Path, uid: u32) {
    let status = Command::new("chown")
        .args(["-R", &uid.to_string(), &dir.display().to_string()])
        .status()
        .expect("chown runs");
    assert!(status.success());
}
