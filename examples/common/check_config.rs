//! The services' command line: no argument runs the service; `--check-config` loads the
//! configuration exactly as at startup, prints the effective settings with secrets masked and
//! exits, non-zero with the bad key named when the configuration cannot be used.

use std::process::ExitCode;

use serde_json::Value;

use super::config::{Config, config_file, env_var};

/// `None`: run the service. `Some(code)`: the command line was handled; exit with `code`.
pub(crate) fn handle_args(service: &str, default_port: u16) -> Option<ExitCode> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => None,
        [flag] if flag == "--check-config" => Some(check(service, default_port)),
        [flag] if flag == "--help" || flag == "-h" => {
            println!("{}", usage(service));
            Some(ExitCode::SUCCESS)
        }
        _ => {
            eprintln!("error: unexpected arguments {args:?}\n{}", usage(service));
            Some(ExitCode::from(2))
        }
    }
}

fn usage(service: &str) -> String {
    let prefix = service.to_uppercase();
    format!(
        "usage: {service} [--check-config]\n  \
         (no argument)   run the {service}\n  \
         --check-config  load configs/{service}.yaml and the {prefix}_… variables as at startup, \
         print the effective configuration (secrets masked), exit non-zero on a bad key or value"
    )
}

fn check(service: &str, default_port: u16) -> ExitCode {
    match Config::load(service, default_port) {
        Ok(config) => {
            let file = config_file(service);
            let file = match file.exists() {
                true => file.display().to_string(),
                false => format!("none ({} does not exist)", file.display()),
            };
            println!("{service}: the configuration is valid");
            println!(
                "# file: {file}; then the {}_… variables",
                service.to_uppercase()
            );
            for line in effective(&config, &format!("{}_", service.to_uppercase())) {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {service}: {err}");
            ExitCode::FAILURE
        }
    }
}

/// One line per key: `server.port = 8080  # GATEWAY_SERVER_PORT`, secrets masked.
fn effective(config: &Config, prefix: &str) -> Vec<String> {
    let tree = serde_json::to_value(config).expect("a configuration serializes");
    let mut lines = Vec::new();
    flatten(&tree, "", &mut |key, value| {
        let value = mask(key, value.clone());
        lines.push(format!("{key} = {value}  # {}", env_var(prefix, key)));
    });
    lines
}

fn flatten(value: &Value, prefix: &str, each: &mut dyn FnMut(&str, &Value)) {
    match value {
        Value::Object(map) if !map.is_empty() => {
            for (name, inner) in map {
                flatten(inner, &format!("{prefix}{name}."), each);
            }
        }
        _ => each(prefix.trim_end_matches('.'), value),
    }
}

const MASK: &str = "****";

/// Hides secrets: the whole value of a key named like one (`…password`, `…_key`, `…token`,
/// `…secret`), and the credentials inside URLs anywhere.
fn mask(key: &str, value: Value) -> Value {
    let name = key.rsplit('.').next().unwrap_or(key);
    let secret_name = name
        .split('_')
        .any(|word| ["password", "secret", "token", "key", "credentials"].contains(&word));
    match value {
        Value::String(s) if secret_name && !s.is_empty() => Value::String(MASK.to_owned()),
        Value::String(s) => Value::String(mask_urls(&s)),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| mask(key, v)).collect()),
        other => other,
    }
}

/// Masks the password of each URL in a comma-separated list (the user of a NATS URL without a
/// password is a token, so it goes too), and `password=`/`token=` query parameters.
fn mask_urls(list: &str) -> String {
    list.split(',').map(mask_url).collect::<Vec<_>>().join(",")
}

fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((user_info, host)) => {
            let user_info = match user_info.split_once(':') {
                Some((user, _)) => format!("{user}:{MASK}"),
                None if ["nats", "tls", "ws", "wss"].contains(&scheme) => MASK.to_owned(),
                None => user_info.to_owned(),
            };
            format!("{user_info}@{host}")
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.contains("password") || name.contains("token") => {
                        format!("{name}={MASK}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_credentials_are_masked() {
        let cases = [
            (
                "postgres://sb:s3cret@db:5432/switchboard",
                "postgres://sb:****@db:5432/switchboard",
            ),
            (
                "postgres://postgres@127.0.0.1/test",
                "postgres://postgres@127.0.0.1/test",
            ),
            ("redis://:pw@redis:6379", "redis://:****@redis:6379"),
            ("nats://tok3n@nats:4222", "nats://****@nats:4222"),
            (
                "nats://a:b@n1:4222,nats://a:b@n2:4222",
                "nats://a:****@n1:4222,nats://a:****@n2:4222",
            ),
            (
                "postgres://db/x?sslmode=require&password=p",
                "postgres://db/x?sslmode=require&password=****",
            ),
            ("kafka:9092", "kafka:9092"),
        ];
        for (url, masked) in cases {
            assert_eq!(mask_urls(url), masked);
        }
    }

    #[test]
    fn secret_keys_are_masked_whole() {
        let s = |v: &str| Value::String(v.to_owned());
        assert_eq!(mask("bridge.hmac_key", s("abc")), s(MASK));
        assert_eq!(mask("auth.token", s("abc")), s(MASK));
        assert_eq!(mask("bridge.hmac_key", s("")), s(""), "unset stays visible");
        assert_eq!(mask("server.host", s("0.0.0.0")), s("0.0.0.0"));
        assert_eq!(
            mask("nats.url", Value::Array(vec![s("nats://u:p@h:1")])),
            Value::Array(vec![s("nats://u:****@h:1")])
        );
    }

    #[test]
    fn every_key_is_printed_with_its_variable() {
        let mut config = Config::defaults("gateway", 8080);
        config.postgres.url = Some("postgres://sb:pw@db/sb".to_owned());
        config.kafka.brokers = Some(vec!["k:9092".to_owned()]);
        let lines = effective(&config, "GATEWAY_");
        assert_eq!(lines.len(), Config::keys().leaves().len(), "{lines:#?}");
        for line in [
            r#"env = "dev"  # GATEWAY_ENV"#,
            r#"postgres.url = "postgres://sb:****@db/sb"  # GATEWAY_POSTGRES_URL"#,
            "redis.url = null  # GATEWAY_REDIS_URL",
            r#"kafka.brokers = ["k:9092"]  # GATEWAY_KAFKA_BROKERS"#,
            "server.body_limit = 65536  # GATEWAY_SERVER_BODY_LIMIT",
        ] {
            assert!(lines.contains(&line.to_owned()), "{line} in {lines:#?}");
        }
    }
}
