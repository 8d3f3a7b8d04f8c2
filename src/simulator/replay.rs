//! Replaying captured IRC lines (e.g. the fixtures file) to the connections that joined their
//! channels.
//!
//! Lines that `twitch-irc` cannot parse are skipped and counted: one would make the client drop
//! its connection, which is a fault test (use `inject_raw` for that), not a replay.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use serde::Serialize;
use twitch_irc::message::IRCMessage;

use super::delivery::{Delivery, Tally, fan_out};
use super::error::SimulatorError;
use super::registry::{ChannelState, ConnEntry, normalize_channel};
use super::state::Shared;

/// Outcome of a replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReplayReport {
    /// Lines written to at least one socket.
    pub sent: usize,
    /// Valid lines for a channel nobody had joined (or no connection at all).
    pub no_listener: usize,
    /// Lines `twitch-irc` cannot parse, skipped.
    pub invalid: usize,
}

/// Where a line goes: the channel of a `#channel` first parameter, else everybody.
pub(crate) enum Audience {
    Channel(Option<Arc<ChannelState>>),
    Everyone,
}

pub(crate) fn audience_of(shared: &Shared, msg: &IRCMessage) -> Audience {
    match msg.params.first() {
        Some(p) if p.starts_with('#') => Audience::Channel(
            normalize_channel(p).and_then(|name| shared.registry.existing_channel(&name)),
        ),
        _ => Audience::Everyone,
    }
}

pub(crate) fn recipients(shared: &Shared, audience: &Audience) -> Vec<Arc<ConnEntry>> {
    match audience {
        Audience::Channel(Some(ch)) => ch.subscribers().to_vec(),
        Audience::Channel(None) => Vec::new(),
        Audience::Everyone => shared.registry.connections(),
    }
}

/// Upper bound of lines in flight before replay waits for the oldest to be written.
const WINDOW: usize = 4096;

pub(crate) async fn replay<I, S>(shared: &Arc<Shared>, lines: I) -> ReplayReport
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut report = ReplayReport::default();
    let mut pending = VecDeque::new();
    for raw in lines {
        let line = raw.as_ref().trim_end_matches(['\r', '\n']);
        if line.trim().is_empty() {
            continue;
        }
        let Ok(msg) = IRCMessage::parse(line) else {
            report.invalid += 1;
            continue;
        };
        let audience = audience_of(shared, &msg);
        let targets = recipients(shared, &audience);
        if targets.is_empty() {
            report.no_listener += 1;
            continue;
        }
        let channel = match audience {
            Audience::Channel(ch) => ch,
            Audience::Everyone => None,
        };
        let tally = Tally {
            raw: 1,
            ..Tally::default()
        };
        let (delivery, done) = Delivery::new(Arc::clone(shared), channel, tally, None, true);
        let bytes = Bytes::from(format!("{line}\r\n"));
        fan_out(shared, &targets, &bytes, Some(&delivery)).await;
        drop(delivery);
        pending.extend(done);
        while pending.len() > WINDOW {
            if let Some(rx) = pending.pop_front()
                && rx.await.unwrap_or(false)
            {
                report.sent += 1;
            }
        }
    }
    for rx in pending {
        if rx.await.unwrap_or(false) {
            report.sent += 1;
        }
    }
    report
}

pub(crate) async fn replay_file(
    shared: &Arc<Shared>,
    path: &Path,
) -> Result<ReplayReport, SimulatorError> {
    let text =
        tokio::fs::read_to_string(path)
            .await
            .map_err(|source| SimulatorError::ReplayFile {
                path: path.to_owned(),
                source,
            })?;
    Ok(replay(shared, text.lines()).await)
}
