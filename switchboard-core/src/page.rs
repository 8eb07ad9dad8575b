//! The page namespace: the only subjects and channels that input from an anonymous web page
//! may name.
//!
//! A [`PageSubject`] or [`PagePattern`] is a [`Subject`] or [`Pattern`] under [`PAGE_PREFIX`],
//! and its constructor is the only way to make one. Internal names (a hub bridge, presence,
//! heartbeats, processed results, the firehose) live outside that prefix and are built from
//! constants, so no page input can spell them. The same names serve as NATS subjects and as Redis
//! channels: one namespace for both.
//!
//! ```
//! use switchboard_core::{PagePattern, PageSubject};
//! assert!(PageSubject::new("switchboard.page.demo").is_ok());
//! assert!(PagePattern::new("switchboard.page.>").is_ok());
//! let err = PageSubject::new("switchboard.chat.chat").unwrap_err();
//! assert!(err.to_string().contains("switchboard.page."));
//! assert!(PagePattern::new("switchboard.>").is_err()); // would reach internal subjects
//! assert!(PagePattern::new("*.page.demo").is_err());
//! ```

use std::fmt;

use crate::{InvalidInput, Pattern, Subject};

/// The prefix of every page subject and channel, dot included.
pub const PAGE_PREFIX: &str = "switchboard.page.";

/// Whether `name` lies strictly under [`PAGE_PREFIX`] (validated as a subject or pattern first,
/// so the remainder is whole tokens and a wildcard cannot stand for the prefix).
fn check(what: &'static str, name: &str) -> Result<(), InvalidInput> {
    if name
        .strip_prefix(PAGE_PREFIX)
        .is_some_and(|rest| !rest.is_empty())
    {
        return Ok(());
    }
    Err(InvalidInput::OutsideNamespace {
        what,
        value: name.escape_debug().take(120).collect(),
        namespace: PAGE_PREFIX,
    })
}

/// A concrete subject (or Redis channel) in the page namespace.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PageSubject(Subject);

impl PageSubject {
    /// Validates `name` as a [`Subject`] under [`PAGE_PREFIX`].
    pub fn new(name: impl AsRef<str>) -> Result<Self, InvalidInput> {
        let subject = Subject::new(name.as_ref())?;
        check("subject", subject.as_str())?;
        Ok(PageSubject(subject))
    }

    /// The subject, for a transport.
    pub fn subject(&self) -> &Subject {
        &self.0
    }

    /// The validated text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

/// A subscription pattern in the page namespace: wildcards may follow [`PAGE_PREFIX`], never
/// replace it.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PagePattern(Pattern);

impl PagePattern {
    /// Validates `name` as a [`Pattern`] under [`PAGE_PREFIX`].
    pub fn new(name: impl AsRef<str>) -> Result<Self, InvalidInput> {
        let pattern = Pattern::new(name.as_ref())?;
        check("pattern", pattern.as_str())?;
        Ok(PagePattern(pattern))
    }

    /// The pattern, for a transport.
    pub fn pattern(&self) -> &Pattern {
        &self.0
    }

    /// The validated text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl From<PageSubject> for Subject {
    fn from(page: PageSubject) -> Subject {
        page.0
    }
}

impl From<PagePattern> for Pattern {
    fn from(page: PagePattern) -> Pattern {
        page.0
    }
}

macro_rules! display {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0.as_str())
            }
        }
    )*};
}

display!(PageSubject, PagePattern);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FIREHOSE_SUBJECT;

    #[test]
    fn internal_names_are_unspellable() {
        for internal in [
            FIREHOSE_SUBJECT,
            "switchboard.processed",
            "switchboard.chat.chat",
            "switchboard.chat.presence",
            "switchboard.health.gateway",
            "switchboard.page",
            "switchboard.pagex.a",
            "other.app.channel",
            "demo",
        ] {
            assert!(PageSubject::new(internal).is_err(), "{internal}");
            assert!(PagePattern::new(internal).is_err(), "{internal}");
        }
        for escape in [
            "switchboard.>",
            "switchboard.*.chat",
            "*.page.a",
            ">",
            "switchboard.page.>.x",
        ] {
            assert!(PagePattern::new(escape).is_err(), "{escape}");
        }
    }

    #[test]
    fn wildcards_stay_inside() {
        let all = PagePattern::new("switchboard.page.>").unwrap();
        assert!(
            all.pattern()
                .matches(PageSubject::new("switchboard.page.a.b").unwrap().subject())
        );
        assert!(
            !all.pattern()
                .matches(&Subject::new("switchboard.chat.chat").unwrap())
        );
        assert!(PagePattern::new("switchboard.page.*.created").is_ok());
        assert!(PageSubject::new("switchboard.page.*").is_err());
    }

    #[test]
    fn the_error_names_the_namespace() {
        let err = PageSubject::new("switchboard.chat.chat")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("page namespace") && err.contains(PAGE_PREFIX),
            "{err}"
        );
    }
}
