//! HTTP load at fixed concurrency with `wrk`: a Lua script sets the request and prints the
//! figures in one line, which this module reads back as a [`Sample`].

use std::{path::PathBuf, process::Command};

use crate::{Sample, process::program};

/// wrk's fixed load: threads, open connections, and how long.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    /// `-t`
    pub threads: usize,
    /// `-c`: requests in flight at any time.
    pub connections: usize,
    /// `-d`, in seconds.
    pub seconds: usize,
}

impl Load {
    /// `-t<threads> -c<connections>`, for `SB_BENCH_WRK_SECONDS` seconds (default 5).
    pub fn new(threads: usize, connections: usize) -> Load {
        Load {
            threads,
            connections,
            seconds: crate::number("SB_BENCH_WRK_SECONDS", 5).max(1),
        }
    }

    /// The same load for `seconds`.
    pub fn for_seconds(self, seconds: usize) -> Load {
        Load { seconds, ..self }
    }

    /// `-t2 -c16`, as a label for a path.
    pub fn label(&self) -> String {
        format!("-t{} -c{}", self.threads, self.connections)
    }
}

/// One request wrk repeats.
#[derive(Debug, Clone)]
pub struct Request {
    /// `GET`, `POST`…
    pub method: &'static str,
    /// The body, as sent (a form is already URL-encoded).
    pub body: String,
    /// Extra headers.
    pub headers: Vec<(&'static str, String)>,
}

impl Request {
    /// A `GET` without a body.
    pub fn get() -> Request {
        Request {
            method: "GET",
            body: String::new(),
            headers: Vec::new(),
        }
    }

    /// A `POST` of an URL-encoded form.
    pub fn post_form(body: &str) -> Request {
        Request {
            method: "POST",
            body: body.to_owned(),
            headers: vec![(
                "content-type",
                "application/x-www-form-urlencoded".to_owned(),
            )],
        }
    }

    /// The same request with the header `name: value`.
    pub fn header(mut self, name: &'static str, value: &str) -> Request {
        self.headers.push((name, value.to_owned()));
        self
    }

    fn script(&self) -> String {
        // Lua long brackets take the text as it is.
        let quote = |text: &str| format!("[==[{text}]==]");
        let mut script = format!(
            "wrk.method = {}\nwrk.body = {}\n",
            quote(self.method),
            quote(&self.body)
        );
        for (name, value) in &self.headers {
            // `[ [` apart: `[[` would open a long string.
            script.push_str(&format!(
                "wrk.headers[ {} ] = {}\n",
                quote(name),
                quote(value)
            ));
        }
        script.push_str(DONE);
        script
    }
}

/// Prints the figures once the run is over; latencies are in microseconds.
const DONE: &str = r#"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "SB_WRK requests=%d duration_us=%d p50_us=%d p99_us=%d connect=%d read=%d write=%d status=%d timeout=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"#;

/// Runs wrk against `url` and returns `req/s`, `p50 µs` and `p99 µs`. Any error (a socket
/// error, a timeout, an answer that is not 2xx or 3xx) stops the bench: a load that is
/// refused measures the refusal.
pub fn run(url: &str, load: Load, request: &Request) -> Sample {
    let script = script_path();
    std::fs::write(&script, request.script()).unwrap();
    let output = Command::new(program("wrk", &["/usr/bin/wrk".into()]))
        .args([
            &format!("-t{}", load.threads),
            &format!("-c{}", load.connections),
            &format!("-d{}s", load.seconds),
            "-s",
        ])
        .arg(&script)
        .arg(url)
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let _ = std::fs::remove_file(&script);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "wrk {url} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix("SB_WRK "))
        .unwrap_or_else(|| panic!("wrk printed no figures: {stdout}"));
    let field = |name: &str| -> f64 {
        line.split(' ')
            .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
            .and_then(|value| value.parse().ok())
            .unwrap_or_else(|| panic!("wrk's line has no {name}: {line}"))
    };
    let failed: f64 = ["connect", "read", "write", "status", "timeout"]
        .iter()
        .map(|name| field(name))
        .sum();
    assert!(
        failed == 0.0,
        "{} {url} under wrk {}: errors ({line})",
        request.method,
        load.label()
    );
    vec![
        ("req/s", field("requests") / (field("duration_us") / 1e6)),
        ("p50 µs", field("p50_us")),
        ("p99 µs", field("p99_us")),
    ]
}

fn script_path() -> PathBuf {
    std::env::temp_dir().join(format!(
        "sb-wrk-{}-{}.lua",
        std::process::id(),
        uuid::Uuid::new_v4().simple()
    ))
}
