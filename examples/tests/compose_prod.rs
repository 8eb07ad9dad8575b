//! The compose files, checked without a Docker engine: Debian's `docker-compose config` (v1)
//! validates and resolves them, then every variable compose.prod.yml gives the gateway, notifier
//! and processor goes through `<service> --check-config`, which rejects a key that is not one of
//! the service's settings.
//!
//! Needs `docker-compose` (`apt-get install docker-compose`; `scripts/test` installs it) and the
//! example binaries (built here).

mod binaries;

use std::{
    collections::BTreeMap,
    path::Path,
    process::{Command, Output},
};

use figment::{
    Figment,
    providers::{Format, Yaml},
};
use serde::Deserialize;

const SERVICES: [&str; 3] = ["gateway", "notifier", "processor"];
/// Stand-ins for the secrets compose.prod.yml requires; none may show in `--check-config`.
const SECRETS: [(&str, &str); 3] = [
    ("POSTGRES_PASSWORD", "pg-secret-4f2a"),
    ("REDIS_PASSWORD", "redis-secret-9c1e"),
    ("SWITCHBOARD_CLUSTER_KEY", "cluster-secret-7d3b9e1a5c"),
];

#[derive(Debug, Deserialize)]
struct Compose {
    services: BTreeMap<String, Service>,
}

#[derive(Debug, Deserialize)]
struct Service {
    #[serde(default)]
    environment: BTreeMap<String, Option<Scalar>>,
    #[serde(default)]
    depends_on: BTreeMap<String, Dependency>,
    healthcheck: Option<Healthcheck>,
    build: Option<Build>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Scalar {
    Text(String),
    Int(i64),
    Bool(bool),
}

impl Scalar {
    fn text(&self) -> String {
        match self {
            Scalar::Text(s) => s.clone(),
            Scalar::Int(i) => i.to_string(),
            Scalar::Bool(b) => b.to_string(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct Dependency {
    condition: String,
}

#[derive(Debug, Deserialize)]
struct Healthcheck {
    test: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct Build {
    target: Option<String>,
}

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn docker_compose(args: &[&str]) -> Output {
    let output = Command::new("docker-compose")
        .args(args)
        .current_dir(repo())
        .envs(SECRETS)
        .output()
        .unwrap_or_else(|err| {
            panic!(
                "docker-compose cannot run ({err}): install Debian's docker-compose \
                 (apt-get install -y docker-compose; scripts/test installs it)"
            )
        });
    assert!(
        output.status.success(),
        "docker-compose {args:?} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// compose.prod.yml as docker-compose resolves it, variables substituted.
fn prod() -> Compose {
    let resolved = docker_compose(&["-f", "compose.prod.yml", "config"]);
    Figment::from(Yaml::string(&String::from_utf8_lossy(&resolved.stdout)))
        .extract()
        .expect("docker-compose prints compose.prod.yml as YAML")
}

fn check_config(service: &str, env: &BTreeMap<String, String>) -> Output {
    Command::new(binaries::example_binary(service))
        .arg("--check-config")
        .env_clear()
        .envs(env)
        .current_dir(repo())
        .output()
        .expect("run --check-config")
}

#[test]
fn both_compose_files_pass_docker_compose_config() {
    for file in ["compose.yml", "compose.prod.yml"] {
        docker_compose(&["-f", file, "config", "-q"]);
    }
}

#[test]
fn every_service_variable_is_a_setting_of_that_service() {
    binaries::build_examples();
    let compose = prod();
    for service in SERVICES {
        let prefix = format!("{}_", service.to_uppercase());
        let env: BTreeMap<String, String> = compose.services[service]
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), v.as_ref().map(Scalar::text).unwrap_or_default()))
            .collect();
        for var in env.keys() {
            assert!(
                var.starts_with(&prefix),
                "{service} is configured by {var}, not a {prefix}… variable"
            );
        }
        let output = check_config(service, &env);
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{service} --check-config refused compose.prod.yml's variables:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            stdout.contains(&format!("env = \"prod\"  # {prefix}ENV")),
            "{service} must log JSON (env: prod):\n{stdout}"
        );
        for (_, secret) in SECRETS {
            assert!(
                !stdout.contains(secret),
                "{service} printed a secret:\n{stdout}"
            );
        }
    }
}

#[test]
fn check_config_names_a_bad_key_and_fails() {
    binaries::build_examples();
    let cases = [
        ("GATEWAY_SERVER_PROT", "8080", "unknown key `server.prot`"),
        ("GATEWAY_SERVER_PORT", "lots", "`server.port`"),
    ];
    for (var, value, expected) in cases {
        let env = BTreeMap::from([(var.to_owned(), value.to_owned())]);
        let output = check_config("gateway", &env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{var}={value}: {stderr}");
        assert!(
            stderr.contains(expected) && stderr.contains(var),
            "{var}={value}: {stderr}"
        );
    }
}

#[test]
fn prod_services_wait_for_healthy_dependencies_and_the_migration() {
    let compose = prod();
    let services = &compose.services;
    for infra in ["postgres", "redis", "nats", "kafka"] {
        assert!(
            services.get(infra).is_some_and(|s| s.healthcheck.is_some()),
            "{infra} needs a health check"
        );
    }
    let kafka = &services["kafka"].environment;
    let roles = kafka["KAFKA_PROCESS_ROLES"].as_ref().map(Scalar::text);
    assert_eq!(
        roles.as_deref(),
        Some("broker,controller"),
        "single-node KRaft"
    );
    assert!(!services.contains_key("zookeeper"));

    let migrate = &services["migrate"];
    assert_eq!(migrate.depends_on["postgres"].condition, "service_healthy");
    for service in SERVICES {
        let s = &services[service];
        let health = s.healthcheck.as_ref().map(|h| h.test.join(" "));
        assert!(
            health.as_deref().is_some_and(|t| t.contains("/health")),
            "{service}'s health check must ask /health: {health:?}"
        );
        assert_eq!(
            s.build.as_ref().and_then(|b| b.target.as_deref()),
            Some(service)
        );
        assert!(!s.depends_on.is_empty(), "{service} waits for nothing");
        for (on, dependency) in &s.depends_on {
            let expected = match on.as_str() {
                "migrate" => "service_completed_successfully",
                _ => "service_healthy",
            };
            assert_eq!(dependency.condition, expected, "{service} → {on}");
        }
        let uses_postgres = s.environment.keys().any(|k| k.ends_with("_POSTGRES_URL"));
        assert_eq!(
            s.depends_on.contains_key("migrate"),
            uses_postgres,
            "{service}: whoever uses PostgreSQL starts after the migration"
        );
        if uses_postgres {
            let migrate_var = format!("{}_POSTGRES_MIGRATE", service.to_uppercase());
            let value = s.environment.get(&migrate_var).and_then(|v| v.as_ref());
            assert_eq!(
                value.map(Scalar::text).as_deref(),
                Some("false"),
                "{service}: the migrate service applies migrations once, not every replica"
            );
        }
    }
}
