//! [`RedisConfig`]: where the server is and how the transports behave.

use std::time::Duration;

use switchboard_core::{InvalidInput, Namespace, Subject};

use crate::wire::{WireForm, WireForms};

/// The default key prefix: keys are stored as `switchboard:<namespace>:<key>`.
pub const DEFAULT_KEY_PREFIX: &str = "switchboard";

/// How to reach Redis and how the transports behave. Start from [`RedisConfig::new`] and
/// change what you need:
///
/// ```
/// use std::time::Duration;
/// use switchboard_redis::{RedisConfig, WireForm};
/// let config = RedisConfig::new("redis://127.0.0.1:6379")
///     .with_key_prefix("myapp")
///     .with_channel_prefix("myapp")
///     .with_subscriber_capacity(4096)
///     // plain `SUBSCRIBE` clients read `metrics.*`: publish the payload alone there
///     .with_wire_form_for("metrics", WireForm::Bare);
/// assert_eq!(config.heartbeat, Duration::from_secs(5));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct RedisConfig {
    /// The server, as a `redis://` or `rediss://` URL (default `redis://127.0.0.1:6379`).
    pub url: String,
    /// First part of every stored key, `<prefix>:<namespace>:<key>` (default `switchboard`).
    /// One token of `A-Z a-z 0-9 _ -`, so it never holds the separator `:`.
    pub key_prefix: String,
    /// A subject prefix for channel names: with `Some("app")` the subject `orders.created`
    /// travels on the channel `app.orders.created`. `None` (the default) uses the subject as
    /// the channel name.
    pub channel_prefix: Option<String>,
    /// How publishers write messages on channels that no entry of
    /// [`wire_forms`](Self::wire_forms) covers (default [`WireForm::Framed`], which keeps the
    /// id, key and headers). Subscribers accept both forms on every channel.
    pub wire_form: WireForm,
    /// Wire forms per subject prefix, such as `("metrics", WireForm::Bare)` for channels that
    /// plain Redis clients read. A prefix covers the subject equal to it and every subject
    /// below it (`metrics` covers `metrics.cpu`, not `metricsx`); the longest matching prefix
    /// wins. Prefixes are subjects, before [`channel_prefix`](Self::channel_prefix) is added.
    pub wire_forms: Vec<(String, WireForm)>,
    /// Messages queued per subscription before it starts missing them (default 16,384).
    pub subscriber_capacity: usize,
    /// Largest payload a publisher accepts (default 1 MiB).
    pub max_payload: usize,
    /// How long one connection attempt may take (default 5 s).
    pub connect_timeout: Duration,
    /// How long a command may wait for its reply (default 5 s).
    pub response_timeout: Duration,
    /// Connection attempts after a failed one, with exponential backoff, before a command
    /// fails with [`Error::Unavailable`](switchboard_core::Error::Unavailable) (default 6).
    pub reconnect_attempts: usize,
    /// The longest pause between two connection attempts (default 2 s).
    pub max_reconnect_delay: Duration,
    /// How often a subscriber pings its connection, which detects a dead connection and starts
    /// a new round of reconnection attempts after an earlier round gave up (default 5 s; at
    /// least 1 ms).
    pub heartbeat: Duration,
    /// Partitions of a log topic that is appended to or joined before
    /// [`create_topic`](switchboard_core::TopicAdmin::create_topic) (default 1).
    pub log_default_partitions: u32,
    /// How long a log delivery may stay unacked by a member that vanished without leaving
    /// (a crashed process) before another member of its group claims it, and before a
    /// crashed member with nothing pending is removed from the group (default 30 s; more
    /// than [`log_block`](Self::log_block)). Give every member of a group the same value.
    pub log_claim_idle: Duration,
    /// How long one log read waits for new entries; also how quickly a member notices nacks
    /// that fell due and entries left by other members (default 200 ms; at least 1 ms).
    pub log_block: Duration,
    /// Entries read or claimed per log command (default 64).
    pub log_batch: usize,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: "redis://127.0.0.1:6379".to_owned(),
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            channel_prefix: None,
            wire_form: WireForm::Framed,
            wire_forms: Vec::new(),
            subscriber_capacity: 16 * 1024,
            max_payload: 1024 * 1024,
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(5),
            reconnect_attempts: 6,
            max_reconnect_delay: Duration::from_secs(2),
            heartbeat: Duration::from_secs(5),
            log_default_partitions: 1,
            log_claim_idle: Duration::from_secs(30),
            log_block: Duration::from_millis(200),
            log_batch: 64,
        }
    }
}

impl RedisConfig {
    /// The defaults, for the server at `url`.
    pub fn new(url: impl Into<String>) -> Self {
        RedisConfig {
            url: url.into(),
            ..Self::default()
        }
    }

    /// Sets [`key_prefix`](Self::key_prefix).
    pub fn with_key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Sets [`channel_prefix`](Self::channel_prefix).
    pub fn with_channel_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.channel_prefix = Some(prefix.into());
        self
    }

    /// Sets [`wire_form`](Self::wire_form), the form of channels no prefix rule covers.
    pub fn with_wire_form(mut self, form: WireForm) -> Self {
        self.wire_form = form;
        self
    }

    /// Adds a rule to [`wire_forms`](Self::wire_forms): subjects under `prefix` are
    /// published in `form`.
    pub fn with_wire_form_for(mut self, prefix: impl Into<String>, form: WireForm) -> Self {
        self.wire_forms.push((prefix.into(), form));
        self
    }

    /// The wire form rules, checked.
    pub(crate) fn forms(&self) -> Result<WireForms, InvalidInput> {
        WireForms::new(self.wire_form, &self.wire_forms)
    }

    /// Sets [`subscriber_capacity`](Self::subscriber_capacity).
    pub fn with_subscriber_capacity(mut self, capacity: usize) -> Self {
        self.subscriber_capacity = capacity;
        self
    }

    /// Sets [`reconnect_attempts`](Self::reconnect_attempts).
    pub fn with_reconnect_attempts(mut self, attempts: usize) -> Self {
        self.reconnect_attempts = attempts;
        self
    }

    /// Sets [`connect_timeout`](Self::connect_timeout).
    pub fn with_connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Checks the prefixes and bounds, so a bad configuration fails at start-up.
    pub(crate) fn validate(&self) -> Result<(), InvalidInput> {
        Namespace::new(&self.key_prefix).map_err(|_| InvalidInput::InvalidName {
            what: "key prefix",
            value: self.key_prefix.escape_debug().take(120).collect(),
            reason: "use one token of at most 128 of A-Z, a-z, 0-9, `_` and `-` (no `:`)",
        })?;
        if let Some(prefix) = &self.channel_prefix {
            Subject::new(prefix).map_err(|_| InvalidInput::InvalidName {
                what: "channel prefix",
                value: prefix.escape_debug().take(120).collect(),
                reason: "use a subject without wildcards, such as `myapp` or `myapp.prod`",
            })?;
        }
        self.forms()?;
        if self.subscriber_capacity == 0 {
            return Err(InvalidInput::OutOfRange {
                what: "subscriber_capacity",
                min: 1,
                max: u64::MAX,
                got: 0,
            });
        }
        if self.log_batch == 0 || self.log_default_partitions == 0 {
            return Err(InvalidInput::OutOfRange {
                what: "log_batch and log_default_partitions",
                min: 1,
                max: u64::MAX,
                got: 0,
            });
        }
        at_least("heartbeat (ms)", self.heartbeat, 1)?;
        at_least("log_block (ms)", self.log_block, 1)?;
        // A member that waits longer for new entries than others wait before claiming its
        // pending ones would have them stolen while it is still alive.
        at_least(
            "log_claim_idle (ms; more than log_block)",
            self.log_claim_idle,
            millis(self.log_block).saturating_add(1),
        )
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// `duration` in whole milliseconds must be at least `min`.
fn at_least(what: &'static str, duration: Duration, min: u64) -> Result<(), InvalidInput> {
    let got = millis(duration);
    if got < min {
        return Err(InvalidInput::OutOfRange {
            what,
            min,
            max: u64::MAX,
            got,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_are_validated() {
        assert!(RedisConfig::default().validate().is_ok());
        let err = RedisConfig::default()
            .with_key_prefix("a:b")
            .validate()
            .unwrap_err();
        assert!(err.to_string().contains("key prefix"), "{err}");
        assert!(
            RedisConfig::default()
                .with_channel_prefix("a.*")
                .validate()
                .is_err()
        );
        assert!(
            RedisConfig::default()
                .with_subscriber_capacity(0)
                .validate()
                .is_err()
        );
    }

    fn out_of_range(config: &RedisConfig) -> (&'static str, u64, u64) {
        match config.validate() {
            Err(InvalidInput::OutOfRange { what, min, got, .. }) => (what, min, got),
            other => panic!("expected OutOfRange, got {other:?}"),
        }
    }

    #[test]
    fn zero_durations_are_rejected() {
        let zero = Duration::ZERO;
        let config = RedisConfig {
            heartbeat: zero,
            ..RedisConfig::default()
        };
        assert_eq!(out_of_range(&config), ("heartbeat (ms)", 1, 0));

        let config = RedisConfig {
            log_block: Duration::from_micros(500),
            ..RedisConfig::default()
        };
        assert_eq!(out_of_range(&config), ("log_block (ms)", 1, 0));

        let config = RedisConfig {
            log_claim_idle: zero,
            ..RedisConfig::default()
        };
        let (what, min, got) = out_of_range(&config);
        assert!(what.starts_with("log_claim_idle"), "{what}");
        assert_eq!((min, got), (201, 0));
    }

    #[test]
    fn claim_idle_must_exceed_block() {
        let mut config = RedisConfig {
            log_block: Duration::from_secs(2),
            log_claim_idle: Duration::from_secs(2),
            ..RedisConfig::default()
        };
        let (what, min, got) = out_of_range(&config);
        assert!(what.contains("more than log_block"), "{what}");
        assert_eq!((min, got), (2001, 2000));
        config.log_claim_idle = Duration::from_millis(2001);
        assert!(config.validate().is_ok());
    }
}
