//! Child processes a bench runs: servers of its own and the release example binaries, on free
//! loopback ports, their output in a log file, killed when dropped.

use std::{
    fs::File,
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

#[allow(dead_code)] // the tests' helper, shared: the benches use what they need of it
#[path = "../../examples/tests/binaries/mod.rs"]
mod binaries;
#[path = "../../examples/tests/programs/mod.rs"]
mod programs;

/// How long a process may take to become ready.
const READY_WITHIN: Duration = Duration::from_secs(120);

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free loopback port")
        .port()
}

/// Builds the gateway, notifier and processor in release, with the workspace's features (those
/// `scripts/bench` builds the benches with, so that one build of the dependencies serves both),
/// and returns the path of the example binary `name`.
pub fn release_example(name: &str) -> PathBuf {
    static BUILT: std::sync::Once = std::sync::Once::new();
    BUILT.call_once(|| binaries::build_examples_with(&["--workspace", "--all-features"]));
    binaries::example_binary(name)
}

pub(crate) use programs::program;

/// One child process.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Process {
    /// Starts `command` with its output in `<target>/bench-logs/<name>-<bench pid>.log`.
    pub fn spawn(name: &str, mut command: Command) -> Process {
        let dir = log_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join(format!("{name}-{}.log", std::process::id()));
        let file = File::create(&log).unwrap();
        let child = command
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {name} ({command:?}): {err}"));
        Process {
            name: name.to_owned(),
            child: Some(child),
            log,
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Waits until `port` accepts connections.
    pub fn wait_port(&mut self, port: u16) {
        self.wait_for(&format!("port {port}"), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
    }

    /// Waits until the process has logged a line containing `needle`.
    pub fn wait_log(&mut self, needle: &str) {
        let log = self.log.clone();
        self.wait_for(&format!("`{needle}` in its log"), || {
            std::fs::read_to_string(&log).is_ok_and(|text| text.contains(needle))
        });
    }

    fn wait_for(&mut self, what: &str, mut ready: impl FnMut() -> bool) {
        let started = Instant::now();
        while !ready() {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!(
                    "{} exited ({status}) before {what}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            assert!(
                started.elapsed() < READY_WITHIN,
                "{} not ready ({what}) within {READY_WITHIN:?}:\n{}",
                self.name,
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last 40 lines of its output.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Sends SIGTERM and waits for the process to exit (a profiler under it writes its output).
    pub fn terminate(mut self) -> ExitStatus {
        let mut child = self.child.take().expect("running");
        let sent = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success(), "cannot signal {}", self.name);
        child.wait().unwrap()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `<target>/bench-logs`, next to the profile directory the bench runs from.
fn log_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .nth(3)
        .map_or_else(std::env::temp_dir, Path::to_owned)
        .join("bench-logs")
}

/// A nats-server of its own (`-a 127.0.0.1 -p <free port>`, no JetStream): its URL and the
/// process.
pub fn nats_server() -> (String, Process) {
    let port = free_port();
    let mut command = Command::new(program("nats-server", &["/usr/sbin/nats-server".into()]));
    command.args(["-a", "127.0.0.1", "-p", &port.to_string()]);
    let mut process = Process::spawn("nats-server", command);
    process.wait_port(port);
    (format!("nats://127.0.0.1:{port}"), process)
}

/// A tansu broker of its own in memory mode (`SB_TANSU`, else `~/.cargo/bin/tansu`, else the
/// `PATH`): its bootstrap address and the process.
pub fn tansu() -> (String, Process) {
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let mut command = Command::new(programs::tansu_program());
    command.args([
        "broker",
        "--listener-url",
        &url,
        "--advertised-listener-url",
        &url,
        "--storage-engine",
        "memory://tansu/",
    ]);
    let mut process = Process::spawn("tansu", command);
    process.wait_port(port);
    (format!("127.0.0.1:{port}"), process)
}
