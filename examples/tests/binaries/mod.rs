//! The example binaries for tests that run them as processes.

use std::{path::PathBuf, process::Command};

/// Builds the three example binaries (`cargo test` builds only their test harnesses).
pub(crate) fn build_examples() {
    // The variables cargo sets for this test would make build scripts rerun: drop them.
    let per_crate = |name: &str| {
        [
            "CARGO_PKG_",
            "CARGO_MANIFEST_",
            "CARGO_CRATE_",
            "CARGO_PRIMARY_",
            "CARGO_BIN_",
        ]
        .iter()
        .any(|prefix| name.starts_with(prefix))
            || name == "CARGO_TARGET_TMPDIR"
            || name == "OUT_DIR"
    };
    let mut cargo = Command::new(env!("CARGO"));
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(per_crate) {
            cargo.env_remove(name);
        }
    }
    let status = cargo
        .args(["build", "-q", "-p", "switchboard-examples", "--examples"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the examples failed");
}

pub(crate) fn example_binary(name: &str) -> PathBuf {
    // target/<profile>/deps/<test>-… → target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build the examples first (cargo build -p switchboard-examples --examples)",
        path.display()
    );
    path
}
