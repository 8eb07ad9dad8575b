//! Subjects and patterns as Redis channel names and `PSUBSCRIBE` globs.

use std::sync::Arc;

use switchboard_core::{Pattern, Subject};

/// What one subscription asks the server for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    /// `SUBSCRIBE <channel>`: a pattern without wildcards.
    Channel(String),
    /// `PSUBSCRIBE <glob>`: a pattern with wildcards; the glob over-matches and every message
    /// is checked against the pattern before delivery.
    Glob(String),
}

/// Maps subjects to channel names under an optional prefix, and back.
#[derive(Clone, Debug, Default)]
pub(crate) struct Channels {
    /// `"<prefix>."`, or empty.
    prefix: Arc<str>,
}

impl Channels {
    pub(crate) fn new(prefix: Option<&str>) -> Self {
        Channels {
            prefix: prefix.map_or_else(|| Arc::from(""), |p| Arc::from(format!("{p}."))),
        }
    }

    /// The channel that carries `subject`.
    pub(crate) fn channel(&self, subject: &Subject) -> String {
        format!("{}{subject}", self.prefix)
    }

    /// The subject a message on `channel` was published to, if it is one of ours.
    pub(crate) fn subject(&self, channel: &[u8]) -> Option<Subject> {
        let channel = std::str::from_utf8(channel).ok()?;
        Subject::new(channel.strip_prefix(&*self.prefix)?).ok()
    }

    /// What to subscribe to for `pattern`.
    ///
    /// Subjects hold only `A-Z a-z 0-9 _ -` and dots, none of them special in a Redis glob, so
    /// literal tokens stay literal. Both `*` (one token) and `>` (the rest) become the glob `*`,
    /// which also matches dots: the glob over-matches and the caller filters with
    /// [`Pattern::matches`].
    pub(crate) fn target(&self, pattern: &Pattern) -> Target {
        if !pattern.has_wildcards() {
            return Target::Channel(format!("{}{pattern}", self.prefix));
        }
        let glob: Vec<&str> = pattern
            .as_str()
            .split('.')
            .map(|token| if token == ">" { "*" } else { token })
            .collect();
        Target::Glob(format!("{}{}", self.prefix, glob.join(".")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Pattern {
        Pattern::new(s).unwrap()
    }

    #[test]
    fn patterns_become_channels_or_globs() {
        let plain = Channels::new(None);
        assert_eq!(plain.target(&p("a.b")), Target::Channel("a.b".into()));
        assert_eq!(plain.target(&p("a.*.c")), Target::Glob("a.*.c".into()));
        assert_eq!(plain.target(&p("a.>")), Target::Glob("a.*".into()));
        assert_eq!(plain.target(&p(">")), Target::Glob("*".into()));
        let prefixed = Channels::new(Some("app"));
        assert_eq!(prefixed.target(&p("a.>")), Target::Glob("app.a.*".into()));
        assert_eq!(prefixed.target(&p("a")), Target::Channel("app.a".into()));
    }

    #[test]
    fn channels_round_trip_and_foreign_ones_are_refused() {
        let prefixed = Channels::new(Some("app"));
        let subject = Subject::new("orders.created").unwrap();
        let channel = prefixed.channel(&subject);
        assert_eq!(channel, "app.orders.created");
        assert_eq!(prefixed.subject(channel.as_bytes()), Some(subject));
        assert_eq!(prefixed.subject(b"other.orders"), None);
        assert_eq!(prefixed.subject(b"app.bad..subject"), None);
        assert_eq!(prefixed.subject(b"app.\xff"), None);
    }
}
