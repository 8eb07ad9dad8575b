//! [`Topic`]: the subscriptions of one pattern, sharing one [`Feed`].

use super::feed::Feed;
use crate::{Pattern, Subject};

/// One pattern's feed: one allocation for the pattern, however many subscribe to it.
pub(super) struct Topic {
    pattern: Pattern,
    /// The pattern has no wildcard: it matches its own text only.
    exact: bool,
    pub(super) feed: Feed,
}

impl Topic {
    /// A topic for `pattern` whose subscriptions hold at most `capacity` messages each.
    pub(super) fn new(pattern: &Pattern, capacity: usize) -> Topic {
        Topic {
            exact: !pattern.has_wildcards(),
            pattern: pattern.clone(),
            feed: Feed::new(capacity),
        }
    }

    /// Whether this is `pattern`'s topic.
    pub(super) fn is_for(&self, pattern: &Pattern) -> bool {
        &self.pattern == pattern
    }

    /// Whether a message to `subject` goes to this topic.
    pub(super) fn matches(&self, subject: &Subject) -> bool {
        if self.exact {
            self.pattern.as_str() == subject.as_str()
        } else {
            self.pattern.matches(subject)
        }
    }
}
