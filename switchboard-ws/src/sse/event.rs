//! [`SseEvent`].

/// The name of the event sent when a stream ends (server shutdown or source exhausted).
pub const END_EVENT: &str = "end";
/// The name of the event that says "you may have missed events: reload your state".
pub const RESET_EVENT: &str = "reset";

/// One server-sent event. Line breaks in `event` and `id` are removed when sent (they cannot
/// be transmitted); line breaks in `data` become several `data:` lines, as the spec says.
///
/// ```
/// use switchboard_ws::SseEvent;
/// let e = SseEvent::new("hello").named("greeting").with_id("7");
/// assert_eq!(e.event.as_deref(), Some("greeting"));
/// assert_eq!(e.id.as_deref(), Some("7"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The event name (`event:`); `None` fires the browser's `message` event.
    pub event: Option<String>,
    /// The id (`id:`) a reconnecting browser sends back as `Last-Event-ID`.
    pub id: Option<String>,
    /// The payload (`data:`).
    pub data: String,
}

impl SseEvent {
    /// An unnamed event carrying `data`.
    pub fn new(data: impl Into<String>) -> Self {
        SseEvent {
            event: None,
            id: None,
            data: data.into(),
        }
    }

    /// Sets the event name.
    pub fn named(mut self, event: impl Into<String>) -> Self {
        self.event = Some(event.into());
        self
    }

    /// Sets the id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// An `end` event: the stream is over and the browser should not reconnect.
    pub fn end(reason: impl Into<String>) -> Self {
        SseEvent::new(reason).named(END_EVENT)
    }

    /// A `reset` event: events may have been missed, so the browser should reload its state.
    pub fn reset(reason: impl Into<String>) -> Self {
        SseEvent::new(reason).named(RESET_EVENT)
    }

    pub(crate) fn into_axum(self) -> axum::response::sse::Event {
        fn single_line(s: &str) -> String {
            s.chars()
                .filter(|c| !matches!(c, '\r' | '\n' | '\0'))
                .collect()
        }
        let mut event = axum::response::sse::Event::default();
        if let Some(name) = &self.event {
            event = event.event(single_line(name));
        }
        if let Some(id) = &self.id {
            event = event.id(single_line(id));
        }
        event.data(self.data.replace("\r\n", "\n").replace('\r', "\n"))
    }
}
