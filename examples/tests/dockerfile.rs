//! The Dockerfile, checked without a Docker engine: the toolchain it pins is this one, what it
//! copies exists and is not ignored, it builds every example, and each service image runs as a
//! non-root user with a health check on `/health` of the port it exposes.

use std::{collections::BTreeMap, path::Path, process::Command};

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn read(file: &str) -> String {
    std::fs::read_to_string(repo().join(file)).unwrap_or_else(|err| panic!("{file}: {err}"))
}

/// The Dockerfile's instructions (continuation lines joined, comments dropped), by stage name.
fn stages() -> BTreeMap<String, Vec<String>> {
    let text = read("Dockerfile").replace("\\\n", " ");
    let mut stages = BTreeMap::new();
    let mut current = String::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(from) = line.strip_prefix("FROM ") {
            let name = from.rsplit(" AS ").next().unwrap_or(from).trim();
            current = name.to_owned();
        }
        stages
            .entry(current.clone())
            .or_insert_with(Vec::new)
            .push(line.to_owned());
    }
    stages
}

fn instruction<'a>(stage: &'a [String], name: &str) -> Vec<&'a str> {
    let prefix = format!("{name} ");
    stage
        .iter()
        .filter_map(|line| line.strip_prefix(&prefix))
        .collect()
}

#[test]
fn the_build_stage_pins_this_toolchain() {
    let version = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("--version")
        .output()
        .expect("rustc runs");
    let version = String::from_utf8_lossy(&version.stdout);
    // "rustc 1.95.0 (…)" → "1.95"
    let release = version.split_whitespace().nth(1).expect("a version");
    let minor: String = release.split('.').take(2).collect::<Vec<_>>().join(".");
    let stages = stages();
    let from = instruction(&stages["build"], "FROM")[0];
    assert!(
        from.starts_with(&format!("rust:{minor}-")),
        "the build stage must use rust {minor} (this toolchain), not `{from}`"
    );
}

#[test]
fn copied_sources_exist_and_are_not_ignored() {
    let ignored: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.trim_end_matches('/').trim_start_matches("**/").to_owned())
        .collect();
    assert!(
        ignored.iter().any(|p| p == "target"),
        ".dockerignore keeps target/ out"
    );
    for (stage, lines) in stages() {
        for copy in instruction(&lines, "COPY") {
            if copy.starts_with("--from=") {
                continue;
            }
            let parts: Vec<&str> = copy.split_whitespace().collect();
            for source in &parts[..parts.len() - 1] {
                assert!(
                    repo().join(source).exists(),
                    "{stage}: COPY {source}: missing"
                );
            }
        }
    }
    // What the build reads from the context: the workspace, its members and the migrations.
    let mut needed = vec![
        "Cargo.toml".to_owned(),
        "Cargo.lock".to_owned(),
        "migrations".into(),
    ];
    let manifest = read("Cargo.toml");
    let members = manifest
        .split("members = [")
        .nth(1)
        .and_then(|m| m.split(']').next());
    for member in members.expect("workspace members").split(',') {
        let member = member.trim().trim_matches('"');
        if !member.is_empty() {
            needed.push(member.to_owned());
        }
    }
    for path in needed {
        assert!(repo().join(&path).exists(), "{path} is missing");
        let first = path.split('/').next().unwrap();
        assert!(
            !ignored.iter().any(|p| p == first || p == &path),
            "{path} is in .dockerignore but the build needs it"
        );
    }
}

#[test]
fn every_example_and_the_migrator_are_built_and_shipped() {
    let stages = stages();
    let build = stages["build"].join("\n");
    let examples = read("examples/Cargo.toml");
    let names: Vec<&str> = examples
        .split("[[example]]")
        .skip(1)
        .filter_map(|s| s.split("name = \"").nth(1)?.split('"').next())
        .collect();
    assert_eq!(names, ["gateway", "notifier", "processor"]);
    for name in &names {
        assert!(
            build.contains(&format!("--example {name}")),
            "{name} is not built"
        );
    }
    assert!(build.contains("--bin sb-migrate") && build.contains("--locked"));
    for (stage, binary) in names
        .iter()
        .map(|n| (*n, *n))
        .chain([("migrate", "sb-migrate")])
    {
        let copies = instruction(&stages[stage], "COPY").join(" ");
        assert!(
            copies.contains(&format!("--from=build /out/{binary} ")),
            "the {stage} image lacks {binary}"
        );
        assert!(build.contains(binary), "{binary} is not copied to /out");
    }
}

#[test]
fn service_images_run_unprivileged_with_a_health_check() {
    let stages = stages();
    let runtime = &stages["runtime"];
    let user = instruction(runtime, "USER");
    assert!(
        user.iter()
            .any(|u| !u.starts_with("root") && !u.starts_with('0')),
        "the runtime runs as root: {user:?}"
    );
    for (service, port) in [("gateway", 8080), ("notifier", 8081), ("processor", 8082)] {
        let stage = &stages[service];
        assert_eq!(
            instruction(stage, "FROM"),
            ["runtime AS ".to_owned() + service]
        );
        assert!(
            instruction(stage, "USER").is_empty(),
            "{service} must not switch user"
        );
        assert_eq!(instruction(stage, "EXPOSE"), [port.to_string()]);
        let health = instruction(stage, "HEALTHCHECK").join(" ");
        assert!(
            health.contains(&format!("http://127.0.0.1:{port}/health")),
            "{service}: {health}"
        );
        let env = instruction(stage, "ENV").join(" ");
        let prefix = service.to_uppercase();
        for setting in [
            format!("{prefix}_ENV=prod"),
            format!("{prefix}_SERVER_HOST=0.0.0.0"),
            format!("{prefix}_SERVER_PORT={port}"),
        ] {
            assert!(env.contains(&setting), "{service} image lacks {setting}");
        }
    }
}
