//! Flow 4, WebSocket chat: `GET /ws/connect?username=&room=` is `switchboard_ws::ws_route`
//! (origin check, sanitised usernames, limits); `GET /ws/count?room=` tells who is online;
//! `GET /ws/room?username=&room=` renders the chat panel for a username. `/ws/count` also
//! reports the bridge messages dropped as forged or malformed (`bridge_rejected`) and the open
//! sockets and SSE streams the limits count.

use axum::{
    Json,
    extract::State,
    http::HeaderMap,
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;
use switchboard_core::Group;
use switchboard_ws::{MAX_USERNAME_CHARS, username_or_guest};

use super::{encode, pages::fragment};
use crate::{error::AppError, limits::ClientIp, params::Params, state::AppState, views::ChatRoom};

/// The room joined when none is named.
pub(crate) const DEFAULT_ROOM: &str = "lobby";

#[derive(Deserialize)]
pub(crate) struct JoinQuery {
    username: Option<String>,
    room: Option<String>,
}

#[derive(Deserialize)]
pub(crate) struct RoomQuery {
    room: Option<String>,
}

fn room(raw: Option<&str>) -> Result<String, AppError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(DEFAULT_ROOM.to_owned()),
        Some(r) => Ok(Group::new(r)?.to_string()),
    }
}

/// `GET /ws/count?room=`: members online in the room (JSON, or a fragment for htmx).
pub(crate) async fn count(
    State(s): State<AppState>,
    headers: HeaderMap,
    Params(q): Params<RoomQuery>,
) -> Result<Response, AppError> {
    let room = room(q.room.as_deref())?;
    let presence = s.hub.presence(&room);
    Ok(if headers.contains_key("hx-request") {
        Html(format!("{} online in {room}", presence.online)).into_response()
    } else {
        Json(serde_json::json!({
            "room": room,
            "online": presence.online,
            "members": presence.members,
            "bridge_rejected": s.hub.stats().bridge_rejected,
            "open_sockets": s.open_sockets.open(),
            "open_streams": s.open_streams.open(),
        }))
        .into_response()
    })
}

/// `GET /ws/room?username=&room=`: the chat panel connected as that user.
/// Refused like the socket would be, so the page shows why.
pub(crate) async fn room_panel(
    State(s): State<AppState>,
    ClientIp(ip): ClientIp,
    Params(q): Params<JoinQuery>,
) -> Result<Html<String>, AppError> {
    let user = username_or_guest(q.username.as_deref(), MAX_USERNAME_CHARS);
    let room = room(q.room.as_deref())?;
    if let Some(refused) = s.open_sockets.refusal(ip) {
        return Err(refused);
    }
    fragment(&ChatRoom {
        url: format!(
            "/ws/connect?username={}&room={}",
            encode(&user),
            encode(&room)
        ),
        username: user,
        room,
    })
}
