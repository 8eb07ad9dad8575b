//! Flow 4, WebSocket chat: `GET /ws/connect?username=&room=` upgrades, `GET /ws/count` tells
//! who is online, `GET /ws/room` renders the chat panel for a username.

use std::time::Duration;

use axum::{
    Json,
    extract::{
        State, WebSocketUpgrade,
        ws::{Message, WebSocket},
    },
    http::{HeaderMap, header},
    response::{Html, IntoResponse, Response},
};
use serde::Deserialize;
use switchboard_core::Group;
use tokio::sync::broadcast::error::RecvError;

use super::{encode, pages::fragment};
use crate::{error::AppError, params::Params, state::AppState, views::ChatRoom};

const MAX_USERNAME: usize = 32;
const MAX_MESSAGE: usize = 2000;

#[derive(Deserialize)]
pub(crate) struct JoinQuery {
    username: Option<String>,
    room: Option<String>,
}

/// Trims, strips control characters and caps a username; generates one when empty.
fn username(raw: Option<&str>) -> String {
    let name: String = raw
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_USERNAME)
        .collect::<String>()
        .trim()
        .to_owned();
    if name.is_empty() {
        format!("guest-{}", &uuid::Uuid::new_v4().simple().to_string()[..6])
    } else {
        name
    }
}

fn room(raw: Option<&str>) -> Result<String, AppError> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok("lobby".to_owned()),
        Some(r) => Ok(Group::new(r)?.to_string()),
    }
}

/// Refuses a cross-site upgrade: the `Origin` must name this host.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin.split_once("://").map(|(_, rest)| rest);
    host.is_some() && origin_host == host
}

/// `GET /ws/connect?username=&room=`: upgrades and joins the room.
pub(crate) async fn connect(
    State(s): State<AppState>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
    Params(q): Params<JoinQuery>,
) -> Result<Response, AppError> {
    if !same_origin(&headers) {
        return Err(AppError::forbidden("cross-site WebSocket refused"));
    }
    let user = username(q.username.as_deref());
    let room = room(q.room.as_deref())?;
    Ok(upgrade
        .max_message_size(MAX_MESSAGE * 4)
        .on_upgrade(move |socket| session(s, socket, room, user)))
}

#[derive(Deserialize)]
struct Outgoing {
    message: Option<String>,
}

async fn session(s: AppState, mut socket: WebSocket, room: String, user: String) {
    let mut member = s.chat.join(&room, &user);
    let mut ping = tokio::time::interval(Duration::from_secs(25));
    loop {
        tokio::select! {
            update = member.updates.recv() => match update {
                Ok(html) => {
                    if socket.send(Message::text(html.to_string())).await.is_err() { break; }
                }
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let message = serde_json::from_str::<Outgoing>(&text).ok().and_then(|o| o.message);
                    if let Some(message) = message.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
                        let message: String = message.chars().take(MAX_MESSAGE).collect();
                        member.send(&message);
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() { break; }
            }
            () = s.shutdown.wait() => {
                let _ = socket.send(Message::Close(None)).await;
                break;
            }
        }
    }
}

/// `GET /ws/count`: members online (JSON, or a fragment for htmx).
pub(crate) async fn count(State(s): State<AppState>, headers: HeaderMap) -> Response {
    let online = s.chat.online();
    if headers.contains_key("hx-request") {
        Html(format!("{online} online")).into_response()
    } else {
        Json(serde_json::json!({ "online": online })).into_response()
    }
}

/// `GET /ws/room?username=&room=`: the chat panel connected as that user.
pub(crate) async fn room_panel(Params(q): Params<JoinQuery>) -> Result<Html<String>, AppError> {
    let user = username(q.username.as_deref());
    let room = room(q.room.as_deref())?;
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
