//! `--features nats` builds async-nats and nothing of rdkafka or sqlx: checked on cargo's own
//! resolution of the facade's dependency graph.

use std::process::Command;

fn normal_deps(features: &str) -> String {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let output = Command::new(cargo)
        .args([
            "tree",
            "-p",
            "switchboard",
            "--no-default-features",
            "-e",
            "normal",
        ])
        .args(["--prefix", "none", "--format", "{p}", "--offline"])
        .args(["--features", features])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree --features {features:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

fn has(tree: &str, krate: &str) -> bool {
    tree.lines()
        .any(|line| line.split(' ').next() == Some(krate))
}

#[test]
fn nats_feature_pulls_async_nats_only() {
    let tree = normal_deps("nats");
    assert!(has(&tree, "async-nats"), "async-nats missing:\n{tree}");
    for absent in [
        "rdkafka",
        "rdkafka-sys",
        "sqlx",
        "sqlx-core",
        "redis",
        "axum",
    ] {
        assert!(!has(&tree, absent), "{absent} in the nats build:\n{tree}");
    }
}

#[test]
fn default_build_is_core_only() {
    let tree = normal_deps("");
    assert!(has(&tree, "switchboard-core"), "{tree}");
    for absent in [
        "async-nats",
        "rdkafka",
        "sqlx",
        "redis",
        "axum",
        "switchboard-flows",
    ] {
        assert!(
            !has(&tree, absent),
            "{absent} in the default build:\n{tree}"
        );
    }
}

#[test]
fn each_feature_pulls_its_client() {
    for (feature, client) in [
        ("postgres", "sqlx"),
        ("redis", "redis"),
        ("kafka", "rdkafka"),
        ("ws", "axum"),
        ("flows", "switchboard-flows"),
    ] {
        let tree = normal_deps(feature);
        assert!(has(&tree, client), "{feature} without {client}:\n{tree}");
    }
}
