//! `GET /api/v1/channels/{login}/stream`: the HUD's live feed as Server-Sent Events — a
//! `context` summary every two seconds, each new coaching `hint` the moment it is emitted,
//! and `agent` when the controls change. Overlays and dashboards read it with `fetch` (so the
//! token travels in the Authorization header, never in a URL) and reconnect by themselves.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use byte_actors::agent::HudEvent;
use byte_actors::model::ChannelLogin;
use byte_actors::router::RouterMessage;
use chrono::Utc;
use futures::Stream;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use super::AppState;
use super::access::{ChannelAccess, Hud};
use super::channels::route;
use super::error::{ApiError, ErrorBody};

/// How often the `context` summary is sent.
const CONTEXT_EVERY: Duration = Duration::from_secs(2);

/// `GET /api/v1/channels/{login}/stream`
#[utoipa::path(get, path = "/api/v1/channels/{login}/stream", tag = "hud", summary = "Live HUD feed (Server-Sent Events: context, hint, agent)", params(("login" = String, Path, description = "Twitch login of the channel")), responses((status = 200, description = "text/event-stream", content_type = "text/event-stream", body = String), (status = 401, description = "No valid token", body = ErrorBody), (status = 429, description = "Too many failed attempts from this address", body = ErrorBody), (status = 404, description = "Not joined, or not the caller's channel", body = ErrorBody), (status = 403, description = "The token's role does not allow this", body = ErrorBody)), security(("bearer" = [])))]
pub async fn stream(
    State(state): State<AppState>,
    access: ChannelAccess<Hud>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let login = access.login;
    // Fail now, with a proper status, if the channel is not joined.
    let l = login.clone();
    route(&state, |r| RouterMessage::Status(l, r)).await?;
    let (tx, rx) = mpsc::channel::<Event>(64);
    let hud = state.hud.subscribe();
    tokio::spawn(feed(state, login, hud, tx));
    let events =
        futures::stream::unfold(
            rx,
            |mut rx| async move { rx.recv().await.map(|e| (Ok(e), rx)) },
        );
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Forwards this channel's events until the client goes away (the send fails).
async fn feed(
    state: AppState,
    login: ChannelLogin,
    mut hud: tokio::sync::broadcast::Receiver<HudEvent>,
    tx: mpsc::Sender<Event>,
) {
    let mut tick = tokio::time::interval(CONTEXT_EVERY);
    loop {
        let event = tokio::select! {
            _ = tick.tick() => context_event(&state, &login).await,
            got = hud.recv() => match got {
                Ok(e) if e.channel() == &login => hud_event(&e),
                Ok(_) => continue,
                // A slow client skips what it missed: a HUD shows the present.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return,
            },
            () = tx.closed() => return,
        };
        if let Some(event) = event
            && tx.send(event).await.is_err()
        {
            return;
        }
    }
}

fn hud_event(e: &HudEvent) -> Option<Event> {
    match e {
        HudEvent::Hint { hint, .. } => Event::default().event("hint").json_data(hint).ok(),
        HudEvent::Agent { settings, .. } => {
            Event::default().event("agent").json_data(settings).ok()
        }
        HudEvent::Reply {
            viewer,
            parts,
            outcome,
            source,
            ..
        } => Event::default()
            .event("reply")
            .json_data(serde_json::json!({
                "viewer": viewer, "parts": parts, "outcome": outcome, "source": source,
            }))
            .ok(),
        HudEvent::SessionEnded { session, .. } => Event::default()
            .event("session_ended")
            .json_data(session)
            .ok(),
    }
}

async fn context_event(state: &AppState, login: &ChannelLogin) -> Option<Event> {
    let l = login.clone();
    let status = route(state, |r| RouterMessage::Status(l, r)).await.ok()?;
    let l = login.clone();
    let summary = route(state, |r| RouterMessage::Summary(l, r)).await.ok();
    let body = json!({
        "login": login,
        "at": Utc::now(),
        "status": status.status,
        "health": summary.as_ref().and_then(|s| s.health).map(|score| json!({
            "score": score,
            "label": health_label(score),
        })),
        "churn": summary.as_ref().and_then(|s| s.churn_risk.zip(s.churn_level)).map(|(risk, level)| json!({
            "risk": risk,
            "level": level,
        })),
        "chat_rate_per_min": summary.as_ref().map_or(0.0, |s| s.chat_rate_per_min),
        "sentiment": summary.as_ref().and_then(|s| s.sentiment),
        "agent_paused": status.agent.paused || state.suspend.is_suspended(),
    });
    Event::default().event("context").json_data(body).ok()
}

/// Words for a score, so a glance at the overlay is enough.
fn health_label(score: f64) -> &'static str {
    match score {
        s if s >= 75.0 => "thriving",
        s if s >= 55.0 => "healthy",
        s if s >= 35.0 => "slowing",
        _ => "struggling",
    }
}
