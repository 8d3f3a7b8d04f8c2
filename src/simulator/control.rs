//! Fault injection: dropping every connection, asking clients to reconnect, playing dead and
//! writing arbitrary raw lines.

use bytes::Bytes;
use twitch_irc::message::IRCMessage;

use super::delivery::Control;
use super::replay::{Audience, audience_of, recipients};
use super::state::Shared;

/// Resets every connection (RST, no goodbye). Returns how many were open.
pub(crate) fn drop_connections(shared: &Shared) -> usize {
    let conns = shared.registry.connections();
    for c in &conns {
        c.kill(true);
    }
    conns.len()
}

/// Sends `RECONNECT` to every connection, which then closes. Returns how many were open.
pub(crate) fn send_reconnect(shared: &Shared) -> usize {
    let conns = shared.registry.connections();
    for c in &conns {
        let _ = c.ctl_tx.send(Control::Reconnect);
    }
    conns.len()
}

/// Writes `line` verbatim (plus `\r\n` if missing) to the connections joined to its channel,
/// or to all connections when it has none or does not parse. Returns the number of connections.
pub(crate) fn inject_raw(shared: &Shared, line: &str) -> usize {
    let mut text = line.to_owned();
    if !text.ends_with('\n') {
        text.push_str("\r\n");
    }
    let audience = IRCMessage::parse(line.trim_end_matches(['\r', '\n']))
        .map(|msg| audience_of(shared, &msg))
        .unwrap_or(Audience::Everyone);
    let targets = recipients(shared, &audience);
    let bytes = Bytes::from(text);
    for c in &targets {
        let _ = c.ctl_tx.send(Control::Raw(bytes.clone()));
    }
    targets.len()
}
