//! Flow 1, Postgres CRUD: list pages by keyset cursor, insert, delete.

use axum::{
    extract::{Path, State},
    response::Html,
};
use serde::Deserialize;
use serde_json::json;
use switchboard_core::{
    Cursor, EventId, EventStore, NewEvent, Subject, announce::AnnounceInsert, store::MAX_PAGE_SIZE,
};
use switchboard_flows::Flow;

use super::pages::fragment;
use crate::{
    error::AppError,
    params::Params,
    state::AppState,
    views::{EventRows, RowView},
};

const DEFAULT_LIMIT: u16 = 20;

/// Where each created event is announced, in the transaction that stores it.
pub(crate) const CREATED_SUBJECT: &str = "switchboard.events.created";

#[derive(Deserialize)]
pub(crate) struct ListQuery {
    limit: Option<String>,
    before: Option<String>,
}

/// `GET /events?limit=N&before=<cursor>`: rows, newest first; the last row loads the next page.
pub(crate) async fn list(
    State(s): State<AppState>,
    Params(q): Params<ListQuery>,
) -> Result<Html<String>, AppError> {
    let limit = match q.limit.as_deref().map(str::trim).filter(|l| !l.is_empty()) {
        None => DEFAULT_LIMIT,
        Some(l) => l
            .parse::<u16>()
            .ok()
            .filter(|n| (1..=MAX_PAGE_SIZE).contains(n))
            .ok_or_else(|| {
                AppError::bad_request(format!("limit must be between 1 and {MAX_PAGE_SIZE}"))
            })?,
    };
    let before = match q.before.as_deref().map(str::trim).filter(|b| !b.is_empty()) {
        None => None,
        Some(b) => Some(b.parse::<Cursor>()?),
    };
    let page = s.store.page(before, limit).await?;
    fragment(&EventRows {
        rows: page.events.iter().map(RowView::from).collect(),
        next: page.next.map(|c| c.to_string()),
        limit,
        first_page: before.is_none(),
    })
}

#[derive(Deserialize)]
pub(crate) struct NewEventForm {
    source: Option<String>,
    topic: Option<String>,
    payload: Option<String>,
}

/// `POST /events` (source, topic, payload as JSON): the new row, for `hx-swap="afterbegin"`.
/// The row and its announcement on [`CREATED_SUBJECT`] are stored together.
pub(crate) async fn create(
    State(s): State<AppState>,
    Params(form): Params<NewEventForm>,
) -> Result<Html<String>, AppError> {
    let source = AppError::required(&form.source, "source")?;
    let topic = AppError::required(&form.topic, "topic")?;
    let payload = AppError::required(&form.payload, "payload")?;
    let event = NewEvent::from_json_text(source, topic, payload)?;
    let row = s
        .announcer
        .insert_announced(event, &Subject::new(CREATED_SUBJECT)?)
        .await?;
    s.firehose.emit(
        Flow::Postgres,
        "insert",
        json!({ "id": row.id, "source": row.source, "topic": row.topic }),
    );
    fragment(&EventRows {
        rows: vec![RowView::from(&row)],
        next: None,
        limit: DEFAULT_LIMIT,
        first_page: false,
    })
}

/// `DELETE /events/{id}`: 200 with an empty body (the row disappears), 404 if there is none.
pub(crate) async fn remove(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Result<Html<String>, AppError> {
    let id: EventId = id.parse()?;
    if !s.store.delete(id).await? {
        return Err(AppError::not_found(format!("no event with id {id}")));
    }
    s.firehose
        .emit(Flow::Postgres, "delete", json!({ "id": id }));
    Ok(Html(String::new()))
}
