//! The configuration's keys, read off its defaults: environment variables map onto them
//! (`GATEWAY_SERVER_BODY_LIMIT` → `server.body_limit`), and a key outside them is an error
//! rather than a setting silently ignored.

use std::sync::Arc;

use figment::value::{Dict, Value};

/// Every key of a configuration, dotted (`server.body_limit`).
#[derive(Clone, Debug)]
pub(crate) struct Keys(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// Keys holding a value (scalars and lists).
    leaves: Vec<String>,
    /// Keys holding a map whose entries are free (an empty table in the defaults).
    open: Vec<String>,
}

impl Keys {
    /// The keys of `defaults`, a configuration serialized with every field present. A field that
    /// does not serialize (`skip_serializing`, `skip_serializing_if`) is missing here and so reads
    /// as an unknown key: give secrets a masked name (`…_key`, `…password`) instead of skipping.
    pub(crate) fn of(defaults: &Dict) -> Keys {
        let mut inner = Inner {
            leaves: Vec::new(),
            open: Vec::new(),
        };
        collect(defaults, "", &mut inner);
        Keys(Arc::new(inner))
    }

    /// The key an environment variable names, prefix stripped and lowercased:
    /// `server_body_limit` → `server.body_limit`. A variable that names no key gets `_` read as
    /// `.`, so that [`Keys::unknown`] reports it under its own name.
    pub(crate) fn env_key(&self, var: &str) -> String {
        // figment hands the variable over before lowercasing it.
        let var = var.to_ascii_lowercase();
        let var = var.as_str();
        let all = self.0.leaves.iter().chain(&self.0.open);
        if let Some(key) = all.clone().find(|key| key.replace('.', "_") == var) {
            return key.clone();
        }
        // An entry of an open map: `limits_per_ip_x` → `limits.per_ip.x` (the entry keeps its `_`).
        for open in &self.0.open {
            let flat = format!("{}_", open.replace('.', "_"));
            if let Some(entry) = var.strip_prefix(&flat) {
                return format!("{open}.{entry}");
            }
        }
        var.replace('_', ".")
    }

    /// The first key set in `data` that is not a configuration key.
    pub(crate) fn unknown(&self, data: &Dict) -> Option<String> {
        self.first_unknown(data, "")
    }

    /// Every key holding a value, sorted.
    pub(crate) fn leaves(&self) -> &[String] {
        &self.0.leaves
    }

    fn first_unknown(&self, data: &Dict, prefix: &str) -> Option<String> {
        for (name, value) in data {
            let key = format!("{prefix}{name}");
            if self.0.leaves.contains(&key) || self.0.open.contains(&key) {
                continue;
            }
            let inner = format!("{key}.");
            let is_table = self.0.leaves.iter().any(|k| k.starts_with(&inner));
            if !is_table {
                return Some(key);
            }
            // A scalar where a table belongs is left to the extraction, which names the type.
            if let Value::Dict(_, dict) = value
                && let Some(unknown) = self.first_unknown(dict, &inner)
            {
                return Some(unknown);
            }
        }
        None
    }
}

fn collect(dict: &Dict, prefix: &str, into: &mut Inner) {
    for (name, value) in dict {
        let key = format!("{prefix}{name}");
        match value {
            Value::Dict(_, inner) if inner.is_empty() => into.open.push(key),
            Value::Dict(_, inner) => collect(inner, &format!("{key}."), into),
            _ => into.leaves.push(key),
        }
    }
}

#[cfg(test)]
mod tests {
    use figment::{
        Figment,
        providers::{Format, Serialized, Yaml},
    };
    use serde::Serialize;

    use super::*;

    #[derive(Serialize)]
    struct Example {
        env: &'static str,
        server: Server,
        url: Option<String>,
        labels: std::collections::BTreeMap<String, String>,
    }

    #[derive(Serialize)]
    struct Server {
        body_limit: u32,
        hosts: Vec<String>,
    }

    fn keys() -> Keys {
        let example = Example {
            env: "dev",
            server: Server {
                body_limit: 1,
                hosts: vec![],
            },
            url: None,
            labels: Default::default(),
        };
        Keys::of(
            &Figment::from(Serialized::defaults(example))
                .extract()
                .unwrap(),
        )
    }

    #[test]
    fn every_field_is_a_key() {
        assert_eq!(
            keys().leaves(),
            ["env", "server.body_limit", "server.hosts", "url"]
        );
    }

    #[test]
    fn variables_map_onto_keys_with_underscores() {
        let keys = keys();
        assert_eq!(keys.env_key("server_body_limit"), "server.body_limit");
        assert_eq!(keys.env_key("url"), "url");
        assert_eq!(keys.env_key("labels_team_name"), "labels.team_name");
        assert_eq!(keys.env_key("server_prot"), "server.prot");
        assert_eq!(keys.env_key("SERVER_BODY_LIMIT"), "server.body_limit");
    }

    #[test]
    fn keys_outside_the_defaults_are_reported() {
        let keys = keys();
        let set = |yaml: &str| -> Dict { Figment::from(Yaml::string(yaml)).extract().unwrap() };
        let known = set("env: prod\nserver: {body_limit: 2, hosts: [a]}\nlabels: {x: y}\n");
        assert_eq!(keys.unknown(&known), None);
        assert_eq!(
            keys.unknown(&set("server: {prot: 1}\n")).as_deref(),
            Some("server.prot")
        );
        assert_eq!(keys.unknown(&set("sever: 1\n")).as_deref(), Some("sever"));
        // A wrong type is a type error for the extraction, not an unknown key.
        assert_eq!(keys.unknown(&set("url: {a: 1}\nserver: 5\n")), None);
    }
}
