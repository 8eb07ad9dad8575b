//! The compiled askama templates. Every `{{ … }}` is HTML-escaped (the templates are `.html`),
//! so user text can never become markup.

use askama::Template;
use chrono::{DateTime, Utc};
use switchboard_core::Event;

/// What the layout needs: the active panel and the CSRF token for `hx-headers`.
pub(crate) struct Layout {
    pub(crate) active: &'static str,
    pub(crate) csrf: String,
}

macro_rules! page {
    ($name:ident, $path:literal) => {
        #[derive(Template)]
        #[template(path = $path)]
        pub(crate) struct $name {
            pub(crate) layout: Layout,
        }
    };
}

page!(IndexPage, "pages/index.html");
page!(PostgresPage, "pages/postgres.html");
page!(RedisPage, "pages/redis.html");
page!(NatsPage, "pages/nats.html");
page!(WsPage, "pages/ws.html");
page!(KafkaPage, "pages/kafka.html");
page!(FirehosePage, "pages/firehose.html");

/// The overview's per-flow sparklines.
#[derive(Template)]
#[template(path = "fragments/rates.html")]
pub(crate) struct RatesView {
    pub(crate) rows: Vec<crate::rates::RateRow>,
}

/// One row of the events table.
pub(crate) struct RowView {
    pub(crate) id: String,
    pub(crate) source: String,
    pub(crate) topic: String,
    pub(crate) payload: String,
    pub(crate) created: String,
}

impl From<&Event> for RowView {
    fn from(e: &Event) -> Self {
        RowView {
            id: e.id.to_string(),
            source: e.source.clone(),
            topic: e.topic.clone(),
            payload: e.payload.to_string(),
            created: e.created_at.format("%Y-%m-%d %H:%M:%S").to_string(),
        }
    }
}

/// Rows for the table; the last carries the `hx-get` of the next page when there is one.
#[derive(Template)]
#[template(path = "fragments/event_rows.html")]
pub(crate) struct EventRows {
    pub(crate) rows: Vec<RowView>,
    pub(crate) next: Option<String>,
    pub(crate) limit: u16,
    pub(crate) first_page: bool,
}

/// A titled list of label/value pairs: the answer to a form.
#[derive(Template)]
#[template(path = "fragments/result.html")]
pub(crate) struct ResultView {
    pub(crate) title: String,
    pub(crate) items: Vec<(String, String)>,
}

impl ResultView {
    pub(crate) fn new(title: impl Into<String>) -> Self {
        ResultView {
            title: title.into(),
            items: Vec::new(),
        }
    }

    pub(crate) fn item(mut self, label: &str, value: impl ToString) -> Self {
        self.items.push((label.to_owned(), value.to_string()));
        self
    }
}

/// An element that opens an SSE stream and prepends each `event` it receives.
#[derive(Template)]
#[template(path = "fragments/listener.html")]
pub(crate) struct Listener {
    pub(crate) id: &'static str,
    pub(crate) url: String,
    pub(crate) event: &'static str,
    pub(crate) label: String,
}

/// One line of a live stream.
#[derive(Template)]
#[template(path = "fragments/line.html")]
pub(crate) struct Line {
    pub(crate) time: String,
    pub(crate) kind: String,
    pub(crate) who: String,
    pub(crate) text: String,
}

impl Line {
    pub(crate) fn new(at: DateTime<Utc>, kind: &str, who: &str, text: impl Into<String>) -> Self {
        Line {
            time: at.format("%H:%M:%S").to_string(),
            kind: kind.to_owned(),
            who: who.to_owned(),
            text: text.into(),
        }
    }
}

/// The live health of the three services.
#[derive(Template)]
#[template(path = "fragments/services.html")]
pub(crate) struct ServicesView {
    pub(crate) services: Vec<ServiceView>,
}

/// One service's card.
pub(crate) struct ServiceView {
    pub(crate) name: String,
    pub(crate) status: String,
    pub(crate) seen: String,
    pub(crate) dependencies: Vec<(String, String, String)>,
}

/// The chat panel once a username is chosen.
#[derive(Template)]
#[template(path = "fragments/chat_room.html")]
pub(crate) struct ChatRoom {
    pub(crate) url: String,
    pub(crate) username: String,
    pub(crate) room: String,
}

/// A chat line and the presence counter, swapped out of band by the ws extension.
#[derive(Template)]
#[template(path = "fragments/chat_event.html")]
pub(crate) struct ChatEvent {
    pub(crate) line: Line,
    /// Members online after a join or leave; messages do not change it.
    pub(crate) online: Option<usize>,
}

/// Renders a template, logging (and hiding) a rendering failure.
pub(crate) fn render(template: &impl Template) -> Option<String> {
    template
        .render()
        .inspect_err(|err| tracing::error!(error = %err, "template failed"))
        .ok()
}

/// A system notice line.
pub(crate) fn notice(text: &str) -> Option<String> {
    render(&Line::new(Utc::now(), "system", "", text))
}
