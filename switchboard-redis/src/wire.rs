//! Which wire form a publisher writes on a channel: the Switchboard frame or the bare payload.

use std::sync::Arc;

use switchboard_core::{InvalidInput, Subject};

/// How [`RedisPublisher`](crate::RedisPublisher) writes a message on a Redis channel.
///
/// Subscribers accept both forms on every channel, so this only decides what plain Redis
/// clients see on the channels they read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WireForm {
    /// The Switchboard frame (`SBF1`, header length, JSON header, payload): the id, timestamp,
    /// key and headers travel with the payload and a Switchboard subscriber gets the message
    /// back whole. The default.
    #[default]
    Framed,
    /// The payload alone, as plain Redis clients publish and expect it. Id, key, timestamp and
    /// headers are not sent: a Switchboard subscriber gets a fresh id and the time of arrival.
    Bare,
}

/// The wire form of each subject: the longest matching prefix rule, else the default.
#[derive(Clone, Debug, Default)]
pub(crate) struct WireForms {
    default: WireForm,
    /// `(prefix, form)`, longest prefix first.
    rules: Arc<[(String, WireForm)]>,
}

impl WireForms {
    /// The rules of a configuration; a prefix that is not a subject without wildcards is bad
    /// input.
    pub(crate) fn new(
        default: WireForm,
        rules: &[(String, WireForm)],
    ) -> Result<Self, InvalidInput> {
        for (prefix, _) in rules {
            Subject::new(prefix).map_err(|_| InvalidInput::InvalidName {
                what: "wire form prefix",
                value: prefix.escape_debug().take(120).collect(),
                reason: "use a subject without wildcards, such as `metrics` or `orders.eu`",
            })?;
        }
        let mut rules = rules.to_vec();
        rules.sort_by_key(|(prefix, _)| std::cmp::Reverse(prefix.len()));
        Ok(WireForms {
            default,
            rules: rules.into(),
        })
    }

    /// The form for `subject`: a prefix covers the subject equal to it and every subject
    /// below it (`metrics` covers `metrics` and `metrics.cpu`, not `metricsx`).
    pub(crate) fn form(&self, subject: &Subject) -> WireForm {
        let subject = subject.as_str();
        self.rules
            .iter()
            .find(|(prefix, _)| {
                subject
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with('.'))
            })
            .map_or(self.default, |(_, form)| *form)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(subject: &str) -> Subject {
        Subject::new(subject).unwrap()
    }

    #[test]
    fn longest_prefix_wins_on_token_boundaries() {
        let forms = WireForms::new(
            WireForm::Framed,
            &[
                ("metrics".to_owned(), WireForm::Bare),
                ("metrics.internal".to_owned(), WireForm::Framed),
            ],
        )
        .unwrap();
        assert_eq!(forms.form(&s("metrics")), WireForm::Bare);
        assert_eq!(forms.form(&s("metrics.cpu")), WireForm::Bare);
        assert_eq!(forms.form(&s("metrics.internal.x")), WireForm::Framed);
        assert_eq!(forms.form(&s("metricsx")), WireForm::Framed);
        assert_eq!(forms.form(&s("orders")), WireForm::Framed);
        let bare = WireForms::new(WireForm::Bare, &[]).unwrap();
        assert_eq!(bare.form(&s("orders")), WireForm::Bare);
    }

    #[test]
    fn prefixes_must_be_subjects() {
        for bad in ["a.*", "", "a..b", "a.>"] {
            let err =
                WireForms::new(WireForm::Framed, &[(bad.to_owned(), WireForm::Bare)]).unwrap_err();
            assert!(err.to_string().contains("wire form prefix"), "{err}");
        }
    }
}
