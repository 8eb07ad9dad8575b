//! The example binaries for tests that run them as processes (the bench crate includes this
//! file too: its benches run them in release).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// Builds the three example binaries (`cargo test` builds only their test harnesses).
pub(crate) fn build_examples() {
    build_examples_with(&["-p", "switchboard-examples"]);
}

/// Builds the example binaries with `args` added to `cargo build -q --examples`; a release
/// executable (a bench) builds them in release.
pub(crate) fn build_examples_with(args: &[&str]) {
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
    cargo.args(["build", "-q", "--examples"]).args(args);
    if profile_dir().ends_with("release") {
        cargo.arg("--release");
    }
    let status = cargo
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(status.success(), "building the examples failed");
}

/// target/<profile>, where the running test or bench (target/<profile>/deps/<name>-…) lives.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .expect("the executable lives in target/<profile>/deps")
        .to_owned()
}

pub(crate) fn example_binary(name: &str) -> PathBuf {
    let path = profile_dir().join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: build the examples first (cargo build -p switchboard-examples --examples)",
        path.display()
    );
    path
}
