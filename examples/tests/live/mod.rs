//! Helpers of the live end-to-end test: a throwaway database, the three processes, and a
//! minimal HTTP/1.1 client (one request per connection) with SSE reading.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

#[path = "../binaries/mod.rs"]
mod binaries;

pub(crate) use binaries::{build_examples, example_binary};

use sqlx::{Connection, Executor, PgConnection};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

pub(crate) fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// A database of its own, dropped at the end.
pub(crate) struct Database {
    admin_url: String,
    name: String,
    pub(crate) url: String,
}

impl Database {
    pub(crate) async fn create(admin_url: &str) -> Database {
        let mut conn = PgConnection::connect(admin_url).await.unwrap_or_else(|err| {
            panic!("PostgreSQL is not reachable at {admin_url} ({err}); start it (scripts/test does)")
        });
        let name = format!("sb_e2e_{}", uuid::Uuid::new_v4().simple());
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(base, _)| base);
        Database {
            admin_url: admin_url.to_owned(),
            url: format!("{base}/{name}"),
            name,
        }
    }

    pub(crate) async fn drop(self) {
        let mut conn = PgConnection::connect(&self.admin_url).await.unwrap();
        conn.execute(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name).as_str())
            .await
            .unwrap();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn check_reachable(what: &str, addr: &str) {
    let host_port = addr.rsplit("://").next().unwrap_or(addr);
    let host_port = host_port.rsplit('@').next().unwrap_or(host_port);
    let host_port = host_port.split('/').next().unwrap_or(host_port);
    if std::net::TcpStream::connect_timeout(
        &host_port
            .parse()
            .unwrap_or_else(|_| panic!("cannot parse {what} address {addr}")),
        Duration::from_secs(2),
    )
    .is_err()
    {
        panic!("{what} is not reachable at {addr}; start it (scripts/test starts every service)");
    }
}

/// The gateway, notifier and processor, each its own process on the live backends.
pub(crate) struct Services {
    children: Vec<(&'static str, Child)>,
    pub(crate) gateway_port: u16,
    pub(crate) notifier_port: u16,
    pub(crate) processor_port: u16,
    logs: PathBuf,
}

impl Services {
    pub(crate) async fn start(database_url: &str) -> Services {
        Self::start_with(database_url, &[]).await
    }

    /// [`Services::start`] with `env` set in all three processes.
    pub(crate) async fn start_with(database_url: &str, env: &[(&str, &str)]) -> Services {
        let redis = env_or("REDIS_URL", "redis://127.0.0.1:6379");
        let nats = env_or("NATS_URL", "nats://127.0.0.1:4222");
        let kafka = env_or("KAFKA_BROKERS", "127.0.0.1:9092");
        check_reachable("Redis", &redis);
        check_reachable("NATS", &nats);
        check_reachable("the Kafka broker", kafka.split(',').next().unwrap());
        build_examples();
        let logs = std::env::temp_dir().join(format!("sb-e2e-{}", std::process::id()));
        std::fs::create_dir_all(&logs).unwrap();
        let (gateway_port, notifier_port, processor_port) = (free_port(), free_port(), free_port());
        // One group per start: tests of one binary run side by side, each with its processor.
        let group = format!("processor-e2e-{}", uuid::Uuid::new_v4().simple());
        let mut children = Vec::new();
        for (name, port) in [
            ("processor", processor_port),
            ("notifier", notifier_port),
            ("gateway", gateway_port),
        ] {
            let prefix = name.to_uppercase();
            let log = std::fs::File::create(logs.join(format!("{name}.log"))).unwrap();
            // The test's requests come from one address; the mutation limit is not under test.
            let unlimited: &[(&str, &str)] = match name {
                "gateway" => &[
                    ("GATEWAY_LIMITS_MUTATIONS_RATE", "1000000"),
                    ("GATEWAY_LIMITS_MUTATIONS_BURST", "1000000"),
                ],
                _ => &[],
            };
            let child = Command::new(example_binary(name))
                .envs(unlimited.iter().copied())
                .envs(env.iter().copied())
                .env(format!("{prefix}_SERVER_PORT"), port.to_string())
                .env(format!("{prefix}_POSTGRES_URL"), database_url)
                .env(format!("{prefix}_REDIS_URL"), &redis)
                .env(format!("{prefix}_NATS_URL"), &nats)
                .env(format!("{prefix}_KAFKA_BROKERS"), &kafka)
                // A group of its own: isolated from other runs on the same broker.
                .env(format!("{prefix}_KAFKA_GROUP"), &group)
                .env("RUST_LOG", "info")
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .stdin(Stdio::null())
                .spawn()
                .unwrap();
            children.push((name, child));
        }
        Services {
            children,
            gateway_port,
            notifier_port,
            processor_port,
            logs,
        }
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.logs.join(format!("{name}.log"))).unwrap_or_default()
    }

    fn assert_running(&mut self) {
        let mut exited = Vec::new();
        for (name, child) in &mut self.children {
            if let Ok(Some(status)) = child.try_wait() {
                exited.push((*name, status));
            }
        }
        if let Some((name, status)) = exited.first() {
            panic!("{name} exited early ({status}):\n{}", self.log(name));
        }
    }

    pub(crate) async fn wait_until_all_healthy(&mut self, gateway: &Http) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
        loop {
            self.assert_running();
            if let Ok(answer) = gateway.try_get("/health/services").await
                && answer.body.matches("tag ok").count() >= 3
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "services not healthy in time\ngateway:\n{}\nprocessor:\n{}",
                self.log("gateway"),
                self.log("processor")
            );
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// SIGTERMs every process and checks each exits 0 within 20 seconds.
    pub(crate) async fn stop_all(mut self) {
        for (_, child) in &self.children {
            let status = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            assert!(status.success());
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        for i in 0..self.children.len() {
            loop {
                let (name, child) = &mut self.children[i];
                if let Some(status) = child.try_wait().unwrap() {
                    let name = *name;
                    assert!(
                        status.success(),
                        "{name} exited with {status}:\n{}",
                        self.log(name)
                    );
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{name} ignored SIGTERM"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        self.children.clear();
    }
}

impl Drop for Services {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// One request per connection, enough for the gateway's routes.
pub(crate) struct Http {
    port: u16,
}

impl Http {
    pub(crate) fn new(port: u16) -> Http {
        Http { port }
    }

    async fn send(&self, request: String) -> std::io::Result<Answer> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await?;
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
            .await
            .map_err(std::io::Error::other)??;
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let chunked = head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked");
        let body = if chunked {
            dechunk(body)
        } else {
            body.to_owned()
        };
        Ok(Answer { status, body })
    }

    pub(crate) async fn try_get(&self, path: &str) -> std::io::Result<Answer> {
        self.send(format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        ))
        .await
    }

    pub(crate) async fn get(&self, path: &str) -> Answer {
        self.try_get(path).await.unwrap()
    }

    pub(crate) async fn post(&self, path: &str, csrf: &str, form: &str) -> Answer {
        self.try_post(path, csrf, form).await.unwrap()
    }

    pub(crate) async fn try_post(
        &self,
        path: &str,
        csrf: &str,
        form: &str,
    ) -> std::io::Result<Answer> {
        self.try_post_with(path, csrf, form, "").await
    }

    /// A POST with `headers` (whole `name: value\r\n` lines) added.
    pub(crate) async fn try_post_with(
        &self,
        path: &str,
        csrf: &str,
        form: &str,
        headers: &str,
    ) -> std::io::Result<Answer> {
        self.send(format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\
             x-csrf-token: {csrf}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             {headers}Content-Length: {}\r\n\r\n{form}",
            self.port,
            form.len()
        ))
        .await
    }

    /// The page's CSRF token, as htmx sends it from `hx-headers`.
    pub(crate) async fn csrf_token(&self) -> String {
        let page = self.get("/").await;
        let start = page
            .body
            .find("\"x-csrf-token\": \"")
            .expect("token in the page")
            + 17;
        page.body[start..]
            .chars()
            .take_while(|c| *c != '"')
            .collect()
    }

    pub(crate) async fn open_sse(&self, path: &str) -> TcpStream {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAccept: text/event-stream\r\n\r\n",
            self.port
        );
        stream.write_all(request.as_bytes()).await.unwrap();
        // The subscription is active once the headers came back.
        read_sse_until(
            &mut stream,
            "text/event-stream",
            tokio::time::Instant::now() + Duration::from_secs(10),
        )
        .await;
        stream
    }
}

fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// Reads from an SSE connection until `needle` shows up, returning what was read.
pub(crate) async fn read_sse_until(
    stream: &mut TcpStream,
    needle: &str,
    deadline: tokio::time::Instant,
) -> String {
    let mut seen = String::new();
    let mut buf = vec![0u8; 8192];
    loop {
        let read = tokio::time::timeout_at(deadline, stream.read(&mut buf)).await;
        match read {
            Ok(Ok(0)) => panic!("stream closed before `{needle}`: {seen}"),
            Ok(Ok(n)) => {
                seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                if seen.contains(needle) {
                    return seen;
                }
            }
            Ok(Err(err)) => panic!("stream failed: {err}"),
            Err(_) => panic!("no `{needle}` in time: {seen}"),
        }
    }
}
