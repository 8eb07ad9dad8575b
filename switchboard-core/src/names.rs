//! Validated names: parse once at the edge, so bad input cannot travel further.
//!
//! | type | rule | example |
//! |---|---|---|
//! | [`Subject`] | dot-separated tokens of `A-Z a-z 0-9 _ -`, at most 249 bytes | `switchboard.events` |
//! | [`Pattern`] | a subject whose tokens may be `*` (one token) or a final `>` (the rest) | `switchboard.*.created` |
//! | [`Topic`] | a subject used as a durable log's topic or stream | `switchboard.events` |
//! | [`Group`] | a consumer group or queue group: one token | `processor` |
//! | [`Namespace`] | a key namespace: one token | `cache` |
//! | [`Key`] | any printable text up to 1,024 bytes, no control characters | `last:orders` |

use std::{fmt, str::FromStr, sync::Arc};

use crate::error::InvalidInput;

/// The longest subject, topic or pattern accepted (Kafka's topic limit).
pub const MAX_SUBJECT_LEN: usize = 249;
/// The longest key accepted.
pub const MAX_KEY_LEN: usize = 1024;

fn token_ok(token: &str) -> bool {
    !token.is_empty()
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn check_subject_like(what: &'static str, s: &str, wildcards: bool) -> Result<(), InvalidInput> {
    if s.is_empty() {
        return Err(InvalidInput::Empty { what });
    }
    if s.len() > MAX_SUBJECT_LEN {
        return Err(InvalidInput::name(what, s, "longer than 249 bytes"));
    }
    let mut tokens = s.split('.').peekable();
    while let Some(token) = tokens.next() {
        if token.is_empty() {
            return Err(InvalidInput::name(
                what,
                s,
                "has an empty token (leading, trailing or double dot)",
            ));
        }
        match token {
            "*" | ">" if !wildcards => {
                return Err(InvalidInput::name(
                    what,
                    s,
                    "wildcards `*` and `>` are only allowed in patterns",
                ));
            }
            "*" => {}
            ">" if tokens.peek().is_some() => {
                return Err(InvalidInput::name(what, s, "`>` must be the last token"));
            }
            ">" => {}
            t if t.contains(['*', '>']) => {
                return Err(InvalidInput::name(
                    what,
                    s,
                    "a wildcard must be a whole token, as in `a.*.c` or `a.>`",
                ));
            }
            t if !token_ok(t) => {
                return Err(InvalidInput::name(
                    what,
                    s,
                    "tokens may hold only A-Z, a-z, 0-9, `_` and `-`",
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

macro_rules! string_newtype {
    ($(#[$meta:meta])* $name:ident, $what:literal, $check:expr) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates and wraps `value`.
            pub fn new(value: impl AsRef<str>) -> Result<Self, InvalidInput> {
                let value = value.as_ref();
                let check: fn(&str) -> Result<(), InvalidInput> = $check;
                check(value)?;
                Ok(Self(Arc::from(value)))
            }

            /// The validated text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = InvalidInput;
            fn from_str(s: &str) -> Result<Self, InvalidInput> {
                Self::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = InvalidInput;
            fn try_from(s: &str) -> Result<Self, InvalidInput> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidInput;
            fn try_from(s: String) -> Result<Self, InvalidInput> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), &*self.0)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::new(&*s).map_err(serde::de::Error::custom)
            }
        }
    };
}

string_newtype!(
    /// A concrete subject to publish to: dot-separated tokens, no wildcards.
    ///
    /// ```
    /// use switchboard_core::Subject;
    /// assert!(Subject::new("switchboard.events").is_ok());
    /// assert!(Subject::new("switchboard.*").is_err());
    /// assert!(Subject::new("a..b").is_err());
    /// ```
    Subject, "subject", |s| check_subject_like("subject", s, false)
);

string_newtype!(
    /// A subscription pattern: a subject whose tokens may be `*` (exactly one token) or a final
    /// `>` (one or more remaining tokens), as in NATS.
    ///
    /// ```
    /// use switchboard_core::{Pattern, Subject};
    /// let p = Pattern::new("orders.*.created").unwrap();
    /// assert!(p.matches(&Subject::new("orders.eu.created").unwrap()));
    /// assert!(!p.matches(&Subject::new("orders.eu.west.created").unwrap()));
    /// assert!(Pattern::new("orders.>").unwrap().matches(&Subject::new("orders.eu.west").unwrap()));
    /// assert!(Pattern::new("orders.>.x").is_err());
    /// ```
    Pattern, "pattern", |s| check_subject_like("pattern", s, true)
);

string_newtype!(
    /// A consumer-group or queue-group name: one token of `A-Z a-z 0-9 _ -`.
    Group, "group", |s| {
        if s.is_empty() {
            Err(InvalidInput::Empty { what: "group" })
        } else if s.len() > 128 || !token_ok(s) {
            Err(InvalidInput::name("group", s, "use at most 128 of A-Z, a-z, 0-9, `_` and `-`"))
        } else {
            Ok(())
        }
    }
);

string_newtype!(
    /// A key namespace: one token of `A-Z a-z 0-9 _ -`. It never contains the separator `:`, so
    /// no key of one namespace can spell a key of another.
    Namespace, "namespace", |s| {
        if s.is_empty() {
            Err(InvalidInput::Empty { what: "namespace" })
        } else if s.len() > 128 || !token_ok(s) {
            Err(InvalidInput::name("namespace", s, "use at most 128 of A-Z, a-z, 0-9, `_` and `-`"))
        } else {
            Ok(())
        }
    }
);

string_newtype!(
    /// A user-chosen key inside a [`Namespace`]: printable text of at most 1,024 bytes.
    ///
    /// Control characters (newlines included) are rejected. Separators and glob characters are
    /// allowed: backends store `namespace:key` and only ever address keys exactly, so a key can
    /// never reach outside its namespace.
    Key, "key", |s| {
        if s.is_empty() {
            Err(InvalidInput::Empty { what: "key" })
        } else if s.len() > MAX_KEY_LEN {
            Err(InvalidInput::name("key", s, "longer than 1024 bytes"))
        } else if s.chars().any(char::is_control) {
            Err(InvalidInput::name("key", s, "control characters such as newlines are not allowed"))
        } else {
            Ok(())
        }
    }
);

/// A durable log's topic (a Kafka topic, a JetStream subject). Same rules as [`Subject`].
pub type Topic = Subject;

impl Subject {
    /// The dot-separated tokens.
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.0.split('.')
    }

    /// Whether `self` starts with the tokens of `prefix` (`a.b` is under `a`, `ab` is not).
    pub fn is_under(&self, prefix: &str) -> bool {
        self.0
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
    }
}

impl Pattern {
    /// Whether `subject` matches this pattern.
    pub fn matches(&self, subject: &Subject) -> bool {
        // Token by token with a byte search: `str::split` costs several hundred instructions
        // per match here, and every publish matches every subscription.
        let (mut pattern, mut subject) = (Some(&*self.0), Some(&*subject.0));
        while let Some(rest) = pattern {
            let (token, after) = first_token(rest);
            if token == ">" {
                return subject.is_some();
            }
            let Some(remaining) = subject else {
                return false;
            };
            let (subject_token, subject_after) = first_token(remaining);
            if token != "*" && token != subject_token {
                return false;
            }
            (pattern, subject) = (after, subject_after);
        }
        subject.is_none()
    }

    /// Whether the pattern holds any wildcard.
    pub fn has_wildcards(&self) -> bool {
        self.0.split('.').any(|t| t == "*" || t == ">")
    }
}

/// The first token of `s` and what follows its dot, if anything does.
fn first_token(s: &str) -> (&str, Option<&str>) {
    match s.bytes().position(|b| b == b'.') {
        Some(dot) => (&s[..dot], Some(&s[dot + 1..])),
        None => (s, None),
    }
}

impl From<Subject> for Pattern {
    fn from(subject: Subject) -> Self {
        Pattern(subject.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> Subject {
        Subject::new(v).unwrap()
    }

    #[test]
    fn subjects_are_validated() {
        for bad in ["", ".a", "a.", "a..b", "a b", "a.*", "a.>", "ä", "a\nb"] {
            assert!(Subject::new(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(Subject::new("x".repeat(250)).is_err());
        assert!(Subject::new("switchboard.events-1_a").is_ok());
    }

    #[test]
    fn patterns_match_like_nats() {
        let p = |v: &str| Pattern::new(v).unwrap();
        assert!(p("a.*").matches(&s("a.b")));
        assert!(!p("a.*").matches(&s("a")));
        assert!(!p("a.*").matches(&s("a.b.c")));
        assert!(p("a.>").matches(&s("a.b.c")));
        assert!(!p("a.>").matches(&s("a")));
        assert!(p(">").matches(&s("a")));
        assert!(p("*.b.*").matches(&s("x.b.y")));
        assert!(p("a.b").matches(&s("a.b")));
        assert!(!p("a.b").matches(&s("a.bc")));
        assert!(!p("a.b").matches(&s("a.b.c")));
        assert!(!p("a.b.c").matches(&s("a.b")));
        assert!(!p("a.*.c").matches(&s("a.b.d")));
        for bad in ["a.>.b", "a*", "a.b*", "*>", ""] {
            assert!(Pattern::new(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn keys_reject_control_characters() {
        assert!(Key::new("a:b*c?[d]").is_ok());
        assert!(Key::new("a\nb").is_err());
        assert!(Key::new("").is_err());
        assert!(Key::new("k".repeat(1025)).is_err());
        assert!(Namespace::new("a:b").is_err());
        assert!(Namespace::new("cache").is_ok());
    }

    #[test]
    fn prefix_is_token_aligned() {
        assert!(s("switchboard.a").is_under("switchboard"));
        assert!(!s("switchboardx.a").is_under("switchboard"));
    }

    #[test]
    fn error_message_escapes_control_characters() {
        let err = Key::new("a\nb").unwrap_err().to_string();
        assert!(err.contains("a\\nb"), "{err}");
    }
}
