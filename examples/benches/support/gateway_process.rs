//! The release `gateway` binary as a child process: started on a free port, ready once it logs
//! that it listens, measured through `/proc/<pid>/status`.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::Duration,
};

/// How long the gateway may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running gateway.
pub(crate) struct Gateway {
    child: Child,
    /// The gateway's own process: the child, or the child's child under a profiler.
    pid: u32,
    wrapped: bool,
    pub(crate) addr: SocketAddr,
}

impl Gateway {
    /// Starts the release gateway on a free port, with room for `streams` open connections
    /// and SSE streams from this one client address, and waits until it listens.
    ///
    /// `SB_GATEWAY_WRAP` runs it under a profiler instead (`heaptrack -o /tmp/gateway-{}`, say,
    /// where `{}` becomes `label`): for the profile only, since the resident memory read is then
    /// the profiler's.
    pub(crate) fn start(streams: usize, label: &str) -> Gateway {
        let binary = binary();
        let wrap = std::env::var("SB_GATEWAY_WRAP")
            .unwrap_or_default()
            .replace("{}", label);
        let mut words = wrap.split_whitespace();
        let mut command = match words.next() {
            Some(profiler) => {
                let mut command = Command::new(profiler);
                command.args(words).arg(&binary);
                command
            }
            None => Command::new(&binary),
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let limit = streams.to_string();
        let mut child = command
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .env("GATEWAY_SERVER_PORT", port.to_string())
            .env("GATEWAY_LIMITS_SSE_CLIENT", &limit)
            .env("GATEWAY_LIMITS_SSE_TOTAL", &limit)
            .env("GATEWAY_LIMITS_CONNECTIONS_CLIENT", &limit)
            .env("GATEWAY_LIMITS_CONNECTIONS_TOTAL", &limit)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", binary.display()));
        wait_listening(child.stdout.take().unwrap());
        let pid = gateway_pid(child.id(), &binary);
        Gateway {
            child,
            pid,
            wrapped: !wrap.is_empty(),
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }

    /// The gateway's resident set size (`VmRSS`), in bytes.
    pub(crate) fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status");
        kib * 1024
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if self.wrapped {
            // SIGTERM to the gateway alone: it drains and exits, and the profiler writes out.
            let _ = Command::new("kill")
                .args(["-TERM", &self.pid.to_string()])
                .status();
        } else {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// `child` if it is the gateway, else its child that is (a profiler's script runs it so).
fn gateway_pid(child: u32, binary: &std::path::Path) -> u32 {
    let is_gateway =
        |pid: &str| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe == binary);
    if is_gateway(&child.to_string()) {
        return child;
    }
    let children =
        std::fs::read_to_string(format!("/proc/{child}/task/{child}/children")).unwrap_or_default();
    children
        .split_whitespace()
        .find(|pid| is_gateway(pid))
        .and_then(|pid| pid.parse().ok())
        .unwrap_or_else(|| panic!("no {} under process {child}", binary.display()))
}

fn binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let release = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = release.join("examples").join("gateway");
    assert!(
        binary.exists(),
        "{} is missing: run `cargo build --release --example gateway` first",
        binary.display()
    );
    binary
}

/// Reads the gateway's log until its `listening` line, then keeps draining it in the
/// background so the pipe never fills.
fn wait_listening(stdout: std::process::ChildStdout) {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref().map_while(Result::ok) {
            if line.contains("listening") {
                let _ = tx.send(());
                break;
            }
        }
        lines.for_each(drop);
    });
    rx.recv_timeout(START_TIMEOUT)
        .expect("the gateway did not log `listening` (see its stderr above)");
}
