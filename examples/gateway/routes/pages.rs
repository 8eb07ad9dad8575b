//! The seven pages.

use axum::{extract::State, response::Html};

use crate::{
    error::AppError,
    state::AppState,
    views::{
        FirehosePage, IndexPage, KafkaPage, Layout, NatsPage, PostgresPage, RedisPage, WsPage,
        render,
    },
};

type Page = Result<Html<String>, AppError>;

fn layout(state: &AppState, active: &'static str) -> Layout {
    Layout {
        active,
        csrf: state.csrf_token.clone(),
    }
}

fn page(html: Option<String>) -> Page {
    html.map(Html).ok_or_else(|| {
        AppError::new(
            axum::http::StatusCode::INTERNAL_SERVER_ERROR,
            "template failed",
        )
    })
}

pub(crate) async fn index(State(s): State<AppState>) -> Page {
    page(render(&IndexPage {
        layout: layout(&s, "home"),
    }))
}

pub(crate) async fn postgres(State(s): State<AppState>) -> Page {
    page(render(&PostgresPage {
        layout: layout(&s, "postgres"),
    }))
}

pub(crate) async fn redis(State(s): State<AppState>) -> Page {
    page(render(&RedisPage {
        layout: layout(&s, "redis"),
    }))
}

pub(crate) async fn nats(State(s): State<AppState>) -> Page {
    page(render(&NatsPage {
        layout: layout(&s, "nats"),
    }))
}

pub(crate) async fn ws(State(s): State<AppState>) -> Page {
    page(render(&WsPage {
        layout: layout(&s, "ws"),
    }))
}

pub(crate) async fn kafka(State(s): State<AppState>) -> Page {
    page(render(&KafkaPage {
        layout: layout(&s, "kafka"),
    }))
}

pub(crate) async fn firehose(State(s): State<AppState>) -> Page {
    page(render(&FirehosePage {
        layout: layout(&s, "firehose"),
    }))
}

/// `GET /rates`: the overview's live per-flow sparklines.
pub(crate) async fn rates(State(s): State<AppState>) -> Page {
    fragment(&crate::views::RatesView {
        rows: s.rates.rows(),
    })
}

/// Renders a fragment, or answers 500 if the template failed.
pub(crate) fn fragment(template: &impl askama::Template) -> Page {
    page(render(template))
}
